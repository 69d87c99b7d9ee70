"""The flags shared by ``train``, ``repeat`` and ``search``: the training config's, and those of the directory
they write (resume, overwrite, data, output). One definition each."""

from __future__ import annotations

import json
from typing import Any, Iterable

from cnnlab.errors import ConfigError

def yes_no(text: str) -> bool:
    """argparse type for a boolean option: yes/no, true/false, 1/0."""
    value = text.strip().lower()
    if value in ("yes", "true", "1", "on"):
        return True
    if value in ("no", "false", "0", "off"):
        return False
    raise ValueError(text)


yes_no.__name__ = "yes/no"  # argparse names the type in its one-line error


# CLI flag -> TrainConfig field, for the options that map one to one (all default to None = not given).
CONFIG_FLAGS: dict[str, type] = {
    "dataset": str, "model": str, "epochs": int, "batch_size": int, "learning_rate": float,
    "dropout": float, "val_split": int, "val_mode": str, "limit": int, "seed": int,
    "lr_schedule": str, "label_smoothing": float, "weight_decay": float, "augment_shift": int,
    "augment_rotate": float, "augment_flip": yes_no,
    "normalization": str, "precision": str, "steps_per_execution": int, "distribute": str,
}
HELP = {
    "dataset": "mnist (default) or fashion-mnist",
    "model": "a registered network (see 'cnnlab models'); default digitcnn",
    "epochs": "passes over the training images",
    "batch_size": "images per optimizer step (per replica with --distribute)",
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
    "augment_rotate": "random rotation of training images, in degrees either way",
    "augment_flip": "yes: mirror half the training images left-right (for clothes, not digits)",
    "normalization": "standardize (per-pixel mean, global std) or scale ([0, 1])",
    "precision": "auto (bfloat16 where the CPU has it natively), float32 or mixed_bfloat16",
    "steps_per_execution": "optimizer steps per compiled call",
    "distribute": "none, mirrored (all local GPUs, or the CPU) or multiworker (from TF_CONFIG); "
                  "batch size and learning rate scale with the replicas",
}


def add_config_arguments(parser, skip: Iterable[str] = (), notes: dict[str, str] | None = None) -> list[str]:
    """Add ``--recipe``, one flag per config field (except ``skip``) and ``--option``; returns the fields."""
    notes = notes or {}
    parser.add_argument("--recipe", default=None, help="default (accurate in minutes), fast (seconds), "
                        "best (highest accuracy, ~10-15 min) or seed (the tutorial's own)")
    fields = [f for f in CONFIG_FLAGS if f not in set(skip)]
    for field in fields:
        kind = CONFIG_FLAGS[field]
        parser.add_argument("--" + field.replace("_", "-"), type=kind, default=None,
                            metavar="YES/NO" if kind is yes_no else kind.__name__.upper(),
                            help=HELP[field] + notes.get(field, ""))
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a model option, e.g. dense_units=512 (repeatable; see 'cnnlab models --json')")
    return fields


def add_output_arguments(parser, dir_flag: str, thing: str, default_dir: str, resume_help: str,
                         quiet_help: str = "no progress display") -> None:
    """Add the directory flag (``--run-dir`` or ``--out``) for the ``thing`` written (a run, a group, a search),
    ``--resume``, ``--overwrite``, ``--data-dir``, ``--quiet`` and ``--json``."""
    parser.add_argument(dir_flag, metavar="DIR", help=f"where to write the {thing} (default {default_dir})")
    parser.add_argument("--resume", action="store_true", help=resume_help)
    parser.add_argument("--overwrite", action="store_true", help=f"replace the {thing} in {dir_flag}")
    parser.add_argument("--data-dir", metavar="DIR", help="a folder with the four IDX files")
    parser.add_argument("--quiet", action="store_true", help=quiet_help)
    parser.add_argument("--json", action="store_true", help="print one JSON object with the results")


def explicit_overrides(args, fields: Iterable[str]) -> dict[str, Any]:
    """The config values the user gave (None = not given), with ``--option`` pairs as ``model_options``."""
    explicit = {field: getattr(args, field) for field in fields}
    if args.option:
        explicit["model_options"] = parse_options(args.option)
    return explicit


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """``["dense_units=512", "dropout=0.3"]`` -> ``{"dense_units": 512, "dropout": 0.3}`` (JSON values)."""
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
