"""``cnnlab train``: fit a model into a run directory, evaluate it on the test set, print the result."""

from __future__ import annotations

import json

from cnnlab.commands._output import note, percent, print_json, print_table
from cnnlab.errors import ConfigError

# CLI flag -> TrainConfig field, for the options that map one to one (all default to None = not given).
_CONFIG_FLAGS = {
    "dataset": str, "model": str, "epochs": int, "batch_size": int, "learning_rate": float,
    "dropout": float, "val_split": int, "val_mode": str, "limit": int, "seed": int,
    "lr_schedule": str, "label_smoothing": float, "weight_decay": float, "augment_shift": int,
    "normalization": str, "precision": str, "steps_per_execution": int, "distribute": str,
}
_HELP = {
    "dataset": "mnist (default) or fashion-mnist",
    "model": "a registered network (see 'cnnlab models'); default digitcnn",
    "epochs": "passes over the training images",
    "batch_size": "images per optimizer step",
    "learning_rate": "Adam step size (peak of the schedule)",
    "dropout": "probability of dropping a hidden unit, in [0, 1)",
    "val_split": "images held out for validation; 0 trains on everything",
    "val_mode": "last (the tutorial's last N) or random (seeded)",
    "limit": "train on the first N training images (quick checks)",
    "seed": "random seed; the same seed gives the same history",
    "lr_schedule": "constant, onecycle or cosine",
    "label_smoothing": "cross-entropy label smoothing in [0, 1)",
    "weight_decay": "AdamW weight decay (0 = Adam)",
    "augment_shift": "random translation of training images, in pixels",
    "normalization": "standardize (per-pixel mean, global std) or scale ([0, 1])",
    "precision": "float32 or mixed_bfloat16",
    "steps_per_execution": "optimizer steps per compiled call",
    "distribute": "none, mirrored (all local GPUs or the CPU) or multiworker (TF_CONFIG); see docs/SCALING.md",
}


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train a model into a run directory",
                                   description="Train a model into a run directory and evaluate it on the test set.")
    parser.add_argument("--recipe", default=None, help="default (fast, accurate) or seed (the tutorial's own)")
    for field, kind in _CONFIG_FLAGS.items():
        parser.add_argument("--" + field.replace("_", "-"), type=kind, default=None, metavar=kind.__name__.upper(),
                            help=_HELP[field])
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a model option, e.g. dense_units=512 (repeatable; see 'cnnlab models --json')")
    parser.add_argument("--run-dir", metavar="DIR", help="where to write the run (default runs/<name>-<time>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --run-dir where it stopped")
    parser.add_argument("--overwrite", action="store_true", help="replace the run in --run-dir")
    parser.add_argument("--data-dir", metavar="DIR", help="a folder with the four IDX files")
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the results")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from cnnlab.config import TrainConfig
    from cnnlab.data.prep import steps_per_epoch
    from cnnlab.training.fit import config_for_resume, default_run_dir, train

    explicit = {field: getattr(args, field) for field in _CONFIG_FLAGS}
    if args.option:
        explicit["model_options"] = _parse_options(args.option)
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

        train_images = _train_image_count(config)
        callbacks.append(TrainingProgress(config.epochs, steps_per_epoch(train_images, config.batch_size)))
        note(f"training {config.model} on {config.dataset} ({config.recipe} recipe, {config.epochs} epochs) "
             f"into {run_dir}")
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


def _parse_options(pairs: list[str]) -> dict:
    options = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--option {pair!r} is not KEY=VALUE, e.g. --option dense_units=512")
        try:
            options[key] = json.loads(text)
        except json.JSONDecodeError:
            options[key] = text
    return options


def _train_image_count(config) -> int:
    full = 60000 if config.limit is None else min(config.limit, 60000)
    return max(full - config.val_split, 1)
