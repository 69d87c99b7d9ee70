"""Training configuration: one typed, frozen dataclass, the named recipes, and validation.

A config is built in three layers: the dataclass defaults, then a recipe (which may depend on the model),
then the options the user gave explicitly. ``TrainConfig.validate`` refuses anything out of range with a
message naming the option, the value given and what is allowed.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from cnnlab.errors import ConfigError

LR_SCHEDULES = ("constant", "onecycle", "cosine")
NORMALIZATIONS = ("standardize", "scale")
VAL_MODES = ("last", "random")
PRECISIONS = ("auto", "float32", "mixed_bfloat16")
DISTRIBUTE = ("none", "mirrored", "multiworker")


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run. Units are in the comments."""

    dataset: str = "mnist"
    model: str = "digitcnn"
    model_options: dict[str, Any] = field(default_factory=dict)  # keyword arguments of the model function
    recipe: str = "default"
    epochs: int = 10  # full passes over the training images
    batch_size: int = 128  # images per optimizer step
    learning_rate: float = 1e-3  # Adam step size; the peak for the onecycle/cosine schedules
    lr_schedule: str = "constant"  # constant | onecycle (linear warm-up, cosine down) | cosine
    warmup_fraction: float = 0.2  # share of all steps spent warming up (onecycle only)
    weight_decay: float = 0.0  # decoupled (AdamW) weight decay; 0 = plain Adam
    label_smoothing: float = 0.0  # 0 = plain cross-entropy
    augment_shift: int = 0  # pixels: random translation of training images, 0 = no augmentation
    augment_rotate: float = 0.0  # degrees: random rotation either way, 0 = none
    augment_flip: bool = False  # mirror half of the training images left-right (clothes, not digits)
    dropout: float | None = None  # probability of dropping a unit; None = the model's own default
    normalization: str = "standardize"  # standardize (per-pixel mean, one global std) | scale ([0, 1])
    val_split: int = 5000  # images held out of training for validation; 0 = train on everything
    val_mode: str = "random"  # last (the tutorial's last N images) | random (seeded)
    limit: int | None = None  # train on the first N training images only (quick checks)
    seed: int = 0
    steps_per_execution: int = 50  # optimizer steps per compiled call (fewer Python round-trips)
    precision: str = "auto"  # auto (bfloat16 where the CPU computes it natively) | float32 | mixed_bfloat16
    distribute: str = "none"  # none | mirrored (local GPUs or the CPU) | multiworker (from TF_CONFIG)

    # ---------------------------------------------------------------- construction

    @classmethod
    def from_recipe(cls, recipe: str = "default", model: str | None = None, **overrides: Any) -> "TrainConfig":
        """Build a config from a named recipe plus explicit overrides (``None`` values are ignored).

        Example:
            >>> TrainConfig.from_recipe("seed", model="digitcnn", epochs=2).batch_size
            100
        """
        if recipe not in RECIPES:
            raise ConfigError(f"unknown recipe {recipe!r}; choose one of: {', '.join(sorted(RECIPES))}")
        explicit = {k: v for k, v in overrides.items() if v is not None}
        _check_known_fields(explicit)
        model = model or explicit.pop("model", None)
        explicit.pop("model", None)
        settings = RECIPES[recipe](model, explicit.get("dataset", cls.dataset))
        values = {"recipe": recipe, **settings, **explicit, "model": model or settings.get("model", cls.model)}
        limit, val_split = values.get("limit"), values.get("val_split", cls.val_split)
        if limit is not None and "val_split" not in explicit and val_split > limit // 5:
            values["val_split"] = limit // 10  # a quick --limit run keeps 90 % of its images for training
        return cls(**values).validate()

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Rebuild a config saved with ``to_dict`` (refusing unknown keys)."""
        _check_known_fields(values)
        return cls(**values).validate()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def replace(self, **changes: Any) -> "TrainConfig":
        _check_known_fields(changes)
        return dataclasses.replace(self, **changes).validate()

    def differences(self, other: "TrainConfig") -> list[str]:
        """Human-readable list of the settings where ``other`` differs from this config."""
        mine, theirs = self.to_dict(), other.to_dict()
        return [f"{k}: {mine[k]!r} -> {theirs[k]!r}" for k in mine if mine[k] != theirs[k]]

    # ---------------------------------------------------------------- validation

    def validate(self) -> "TrainConfig":
        """Return self if every value is allowed; raise ConfigError naming the first bad one."""
        _require_type("epochs", self.epochs, int)
        _require_type("batch_size", self.batch_size, int)
        _require_type("val_split", self.val_split, int)
        _require_type("seed", self.seed, int)
        _require_type("augment_shift", self.augment_shift, int)
        _require_type("steps_per_execution", self.steps_per_execution, int)
        for name in ("learning_rate", "warmup_fraction", "weight_decay", "label_smoothing", "augment_rotate"):
            _require_number(name, getattr(self, name))
        _require(self.epochs >= 1, "epochs", self.epochs, "a whole number >= 1")
        _require(self.batch_size >= 1, "batch_size", self.batch_size, "a whole number >= 1")
        _require(self.learning_rate > 0, "learning_rate", self.learning_rate, "a number > 0")
        _require(0 <= self.warmup_fraction < 1, "warmup_fraction", self.warmup_fraction, "a number in [0, 1)")
        _require(self.weight_decay >= 0, "weight_decay", self.weight_decay, "a number >= 0")
        _require(0 <= self.label_smoothing < 1, "label_smoothing", self.label_smoothing, "a number in [0, 1)")
        _require(0 <= self.augment_shift <= 8, "augment_shift", self.augment_shift, "0 to 8 pixels")
        _require(0 <= self.augment_rotate <= 45, "augment_rotate", self.augment_rotate, "0 to 45 degrees")
        _require(isinstance(self.augment_flip, bool), "augment_flip", self.augment_flip, "true or false")
        if self.dropout is not None:
            _require_number("dropout", self.dropout)
            _require(0 <= self.dropout < 1, "dropout", self.dropout, "a probability in [0, 1)")
        if self.limit is not None:  # before val_split: a --limit run derives its split from the limit
            _require_type("limit", self.limit, int)
            _require(self.limit >= 1, "limit", self.limit, "a number of images >= 1")
        _require(self.val_split >= 0, "val_split", self.val_split, "a number of images >= 0")
        _require(self.seed >= 0, "seed", self.seed, "a whole number >= 0")
        _require(self.steps_per_execution >= 1, "steps_per_execution", self.steps_per_execution, ">= 1")
        _require_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _require_choice("normalization", self.normalization, NORMALIZATIONS)
        _require_choice("val_mode", self.val_mode, VAL_MODES)
        _require_choice("precision", self.precision, PRECISIONS)
        _require_choice("distribute", self.distribute, DISTRIBUTE)
        if not isinstance(self.model_options, dict):
            raise ConfigError(f"model_options must be a mapping of option names to values, got {self.model_options!r}")
        _check_dataset_and_model(self)
        return self


def _check_dataset_and_model(config: "TrainConfig") -> None:
    from cnnlab.data.catalog import get_dataset_spec
    from cnnlab.models.registry import check_model_options

    get_dataset_spec(config.dataset)
    check_model_options(config.model, config.model_options)


def _require(ok: bool, name: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{name.replace('_', '-')} {value!r} is out of range: use {allowed}")


def _require_type(name: str, value: Any, kind: type) -> None:
    if not isinstance(value, kind) or isinstance(value, bool):
        noun = "whole number" if kind is int else kind.__name__
        raise ConfigError(f"{name.replace('_', '-')} must be a {noun}, got {value!r}")


def _require_number(name: str, value: Any) -> None:
    """Ints count as numbers (a grid's ``dropout=0`` is JSON's 0); text, booleans, NaN and infinities do not."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ConfigError(f"{name.replace('_', '-')} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{name.replace('_', '-')} must be a finite number, got {value!r}")


def _require_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name.replace('_', '-')} {value!r} is not one of: {', '.join(choices)}")


def _check_known_fields(values: dict[str, Any]) -> None:
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown config option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")


# -------------------------------------------------------------------- recipes
# A recipe maps (model or None, dataset) to the settings it changes; it may name its own model for when the
# user gives none. "seed" is each tutorial's own recipe; "fast" and "best" are measured in docs/PERFORMANCE.md.


def _default_recipe(model: str | None, dataset: str) -> dict[str, Any]:
    # Faster than the tutorials: larger batches, a one-cycle learning rate at 10x the tutorial's Adam
    # step and a light translation augmentation; measured in README.md.
    return {
        "epochs": 10,
        "batch_size": 128,
        "learning_rate": 2e-3,
        "lr_schedule": "onecycle",
        "warmup_fraction": 0.2,
        "augment_shift": 2,
        "normalization": "standardize",
        "val_split": 5000,
        "val_mode": "random",
    }


_SEED_RECIPES: dict[str, dict[str, Any]] = {
    # Tutorial 002: batch 100, Adam 1e-4, 30 epochs, dropout 0.5, standardization, last 10,000 for validation.
    "digitcnn": {
        "epochs": 30, "batch_size": 100, "learning_rate": 1e-4, "dropout": 0.5,
        "normalization": "standardize", "val_split": 10000, "val_mode": "last",
    },
    # Tutorial 003: Adam 1e-3, batch 128, pixels in [0, 1]. It ran 200 epochs and validated on the test
    # set; we stop at 20 (it overfits long before) and validate on held-out training images instead.
    "fashioncnn": {
        "epochs": 20, "batch_size": 128, "learning_rate": 1e-3, "dropout": 0.0,
        "normalization": "scale", "val_split": 5000, "val_mode": "random",
    },
    # Tutorial 004: Adam 1e-4, batch 64, 10,000 iterations over 55,000 images (~12 epochs), [0, 1] pixels.
    "layerscnn": {
        "epochs": 12, "batch_size": 64, "learning_rate": 1e-4,
        "normalization": "scale", "val_split": 5000, "val_mode": "random",
    },
}


def _seed_recipe(model: str | None, dataset: str) -> dict[str, Any]:
    model = model or "digitcnn"
    if model not in _SEED_RECIPES:
        raise ConfigError(
            f"the seed recipe exists only for the tutorial models ({', '.join(_SEED_RECIPES)}), not {model!r}; "
            "use --recipe default"
        )
    base = {"lr_schedule": "constant", "augment_shift": 0, "label_smoothing": 0.0, "weight_decay": 0.0}
    return {**base, **_SEED_RECIPES[model]}


def _fast_recipe(model: str | None, dataset: str) -> dict[str, Any]:
    # Seconds, not minutes: the compact fastcnn (1.3 M multiply-adds an image, no batch norm), a short one-cycle
    # schedule at a high peak, label smoothing, 1-pixel shifts, every training image (no validation pass).
    return {
        "model": "fastcnn", "epochs": 5, "batch_size": 96, "learning_rate": 4e-3, "lr_schedule": "onecycle",
        "warmup_fraction": 0.2, "label_smoothing": 0.1, "augment_shift": 1, "normalization": "standardize",
        "val_split": 0,
    }


_BEST_RECIPES: dict[str, dict[str, Any]] = {
    # About 10 minutes of a 2-core CPU: a wider fastcnn with (fused) batch norm and dropout, rotations and
    # shifts, 30 epochs.
    "mnist": {
        "model": "fastcnn", "epochs": 30, "batch_size": 128, "learning_rate": 4e-3, "dropout": 0.3,
        "augment_shift": 2, "augment_rotate": 10.0,
        "model_options": {"conv_1_channels": 32, "conv_2_channels": 64, "conv_3_channels": 128, "batch_norm": True},
    },
    # About 15 minutes: a VGG-style network with batch norm, mirrored and shifted clothes.
    "fashion-mnist": {
        "model": "widecnn", "epochs": 20, "batch_size": 128, "learning_rate": 3e-3, "dropout": 0.3,
        "augment_shift": 2, "augment_flip": True,
    },
}


def _best_recipe(model: str | None, dataset: str) -> dict[str, Any]:
    # The highest test accuracy within minutes; final epoch reported, never the best epoch on the test set.
    # Every training image is used: there is no validation split to pick from.
    chosen = dict(_BEST_RECIPES.get(dataset, _BEST_RECIPES["mnist"]))
    if model is not None and model != chosen["model"]:
        chosen.pop("model_options", None)  # the options belong to the recipe's own network
    return {"lr_schedule": "onecycle", "warmup_fraction": 0.2, "label_smoothing": 0.1,
            "normalization": "standardize", "val_split": 0, **chosen}


RECIPES: dict[str, Callable[[str | None, str], dict[str, Any]]] = {
    "default": _default_recipe,
    "seed": _seed_recipe,
    "fast": _fast_recipe,
    "best": _best_recipe,
}


def list_recipes() -> list[str]:
    return sorted(RECIPES)
