"""``cnnlab train``: fit a model into a run directory, evaluate it on the test set, print the result."""

from __future__ import annotations

from cnnlab.commands._config_args import (add_config_arguments, add_output_arguments, config_from_args,
                                          explicit_overrides)
from cnnlab.commands._output import note, percent, print_json, print_table
from cnnlab.commands._tensorflow import load_tensorflow
from cnnlab.commands._tracking import add_mlflow_arguments, checked_mlflow_uri, log_to_mlflow
from cnnlab.errors import ConfigError
from cnnlab.run import config_for_resume, default_run_dir


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train a model into a run directory",
                                   description="Train a model into a run directory and evaluate it on the test set. "
                                               "Re-run a saved config with --config RUN/config.json.")
    add_config_arguments(parser)
    add_output_arguments(parser, "--run-dir", "run", "runs/<name>-<time>",
                         "continue the run in --run-dir where it stopped")
    add_mlflow_arguments(parser)
    parser.set_defaults(handler=run)


def run(args) -> int:
    # a bad value is refused before TensorFlow loads
    if args.resume:  # the stored config; options given again must equal it
        _check_resume_flags(args)
        config = config_for_resume(args.run_dir, **explicit_overrides(args), recipe=args.recipe)
    else:
        config = config_from_args(args)
    run_dir = args.run_dir or default_run_dir(config)
    mlflow_uri = checked_mlflow_uri(args)
    load_tensorflow(args.debug)
    from cnnlab.training.train import train

    callbacks = []
    if not args.quiet:
        from cnnlab.training.progress import TrainingProgress

        epochs = f"{config.epochs} epoch" + ("" if config.epochs == 1 else "s")
        callbacks.append(TrainingProgress(header=f"training {config.model} on {config.dataset} ({config.recipe} "
                                                 f"recipe, {epochs}) into {run_dir}"))
    try:
        result = train(config, run_dir, resume=args.resume, overwrite=args.overwrite, data_dir=args.data_dir,
                       callbacks=callbacks)
    except KeyboardInterrupt:
        note(f"interrupted; continue with: cnnlab train --run-dir {run_dir} --resume")
        return 130
    mlflow_run_id = log_to_mlflow(result, mlflow_uri, args)
    summary = result.summary()
    metrics = result.metrics or {}
    summary.pop("class_names")
    output = {**summary, "test_loss": metrics.get("loss"), "train_seconds": result.manifest.get("train_seconds")}
    if mlflow_run_id is not None:
        output["mlflow_run_id"] = mlflow_run_id
    if args.json:
        print_json(output)
    else:
        print_table([(output["run_dir"], output["epochs"], percent(output["val_accuracy"]),
                      percent(output["test_accuracy"]), f"{output['wall_seconds']:.0f} s",
                      f"{output['images_per_second'] or 0:,.0f}")],
                    ["run", "epochs", "val acc", "test acc", "wall", "images/s"])
    return 0



def _check_resume_flags(args) -> None:
    if not args.run_dir:
        raise ConfigError("--resume needs --run-dir: the run to continue")
    if args.config is not None:
        raise ConfigError("--resume continues with the run's own config.json; leave out --config")
