"""``cnnlab train``: fit a model into a run directory, evaluate it on the test set, print the result."""

from __future__ import annotations

from cnnlab.commands._config_args import (CONFIG_FLAGS, add_config_arguments, add_output_arguments,
                                          explicit_overrides)
from cnnlab.commands._output import note, percent, print_json, print_table
from cnnlab.errors import ConfigError

def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train a model into a run directory",
                                   description="Train a model into a run directory and evaluate it on the test set.")
    add_config_arguments(parser)
    add_output_arguments(parser, "--run-dir", "run", "runs/<name>-<time>",
                         "continue the run in --run-dir where it stopped")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from cnnlab.config import TrainConfig
    from cnnlab.training.fit import config_for_resume, default_run_dir, train

    explicit = explicit_overrides(args, CONFIG_FLAGS)
    if args.resume:
        if not args.run_dir:
            raise ConfigError("--resume needs --run-dir: the run to continue")
        if args.recipe is not None:
            explicit["recipe"] = args.recipe
        config = config_for_resume(args.run_dir, **explicit)
    else:
        config = TrainConfig.from_recipe(args.recipe or "default", **explicit)
    run_dir = args.run_dir or default_run_dir(config)
    callbacks = []
    if not args.quiet:
        from cnnlab.progress import TrainingProgress

        epochs = f"{config.epochs} epoch" + ("" if config.epochs == 1 else "s")
        callbacks.append(TrainingProgress(header=f"training {config.model} on {config.dataset} ({config.recipe} "
                                                 f"recipe, {epochs}) into {run_dir}"))
    try:
        result = train(config, run_dir, resume=args.resume, overwrite=args.overwrite, data_dir=args.data_dir,
                       callbacks=callbacks)
    except KeyboardInterrupt:
        note(f"interrupted; continue with: cnnlab train --run-dir {run_dir} --resume")
        return 130
    summary = result.summary()
    metrics = result.metrics or {}
    summary.pop("class_names")
    output = {**summary, "test_loss": metrics.get("loss"), "train_seconds": result.manifest.get("train_seconds")}
    if args.json:
        print_json(output)
    else:
        print_table([(output["run_dir"], output["epochs"], percent(output["val_accuracy"]),
                      percent(output["test_accuracy"]), f"{output['wall_seconds']:.0f} s",
                      f"{output['images_per_second'] or 0:,.0f}")],
                    ["run", "epochs", "val acc", "test acc", "wall", "images/s"])
    return 0
