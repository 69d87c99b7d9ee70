"""Training configuration: one typed, frozen dataclass, the named recipes, and validation.

Each setting is declared once, as a field of ``TrainConfig``: its type in the annotation, and its default, help
text (with the unit), range or choices in ``option(...)``. The validation, the command-line flags and their help
are generated from that declaration. A config is checked once, when it is constructed (``from_recipe``,
``from_dict``, ``from_file`` and ``replace`` all construct one), so a ``TrainConfig`` that exists is valid; the
check needs no TensorFlow. A refusal is one line naming the option, the value given and what is allowed.

A config is built in three layers: the dataclass defaults, then a recipe (which may depend on the model) or a
saved config file, then the options the user gave explicitly.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from cnnlab.errors import ConfigError, first_line

CONFIG_FILE = "config.json"  # a run directory's saved config (cnnlab.run names it too)
LR_SCHEDULES = ("constant", "onecycle", "cosine")
NORMALIZATIONS = ("standardize", "scale", "per_image")
VAL_MODES = ("last", "random")
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
DISTRIBUTE = ("none", "mirrored", "multiworker")


# -------------------------------------------------------------------- declaring an option


@dataclass(frozen=True)
class Option:
    """What a config field allows beyond its type, and how it is explained (the metadata of ``option``)."""

    help: str
    low: float | None = None  # allowed: value >= low
    above: float | None = None  # allowed: value > above
    high: float | None = None  # allowed: value <= high
    below: float | None = None  # allowed: value < below
    choices: tuple[str, ...] = ()
    noun: str | None = None  # how a message names an allowed value, e.g. "a probability"; else from the type
    unset: str | None = None  # what None means, for a field that may be None
    flag: bool = True  # False: set through a flag of its own (--option, --recipe), not a generated one


def option(default: Any, help: str, *, low: float | None = None, above: float | None = None,
           high: float | None = None, below: float | None = None, choices: tuple[str, ...] = (),
           noun: str | None = None, unset: str | None = None, flag: bool = True) -> Any:
    """Declare a ``TrainConfig`` field: its default and everything it allows, in one place.

    ``low``/``high`` are closed ends of the range, ``above``/``below`` open ones.

    Example:
        >>> option(None, "probability of dropping a hidden unit", low=0, below=1).metadata["option"].below
        1
    """
    if (low is not None and above is not None) or (high is not None and below is not None):
        raise ValueError("give at most one lower end (low or above) and one upper end (high or below)")
    spec = Option(help, low, above, high, below, tuple(choices), noun, unset, flag)
    if isinstance(default, dict):  # a mutable default: each config gets its own copy
        return field(default_factory=lambda: dict(default), metadata={"option": spec})
    return field(default=default, metadata={"option": spec})


@dataclass(frozen=True)
class ConfigField:
    """One setting of ``TrainConfig`` as the validation and the command line see it."""

    name: str
    kind: type  # int, float, bool, str or dict
    optional: bool  # None is allowed (and means ``option.unset``)
    default: Any
    option: Option

    @property
    def label(self) -> str:
        """The name as on the command line, without the dashes in front: ``learning-rate``."""
        return self.name.replace("_", "-")

    def check(self, value: Any) -> None:
        """Raise ConfigError naming this option, ``value`` and what is allowed, unless ``value`` is allowed."""
        if value is None and self.optional:
            return
        wanted = _type_problem(self.kind, value)
        if wanted:
            raise ConfigError(f"{self.label} must be {wanted}, got {value!r}")
        if self.option.choices and value not in self.option.choices:
            raise ConfigError(f"{self.label} {value!r} is not one of: {', '.join(self.option.choices)}")
        if not self._in_range(value):
            raise ConfigError(f"{self.label} {value!r} is out of range: use {self.allowed()}")

    def allowed(self) -> str:
        """What a value must be, e.g. ``a probability in [0, 1)`` or ``one of: last, random``."""
        if self.option.choices:
            return "one of: " + ", ".join(self.option.choices)
        noun = self.option.noun or _NOUNS.get(self.kind, "a value")
        return f"{noun} {self.range_text()}".strip()

    def range_text(self) -> str:
        """The range alone: ``in [0, 1)``, ``>= 1``, ``> 0``; empty when there is none."""
        o = self.option
        low, high = _first(o.low, o.above), _first(o.high, o.below)
        if low is not None and high is not None:
            return f"in {'(' if o.above is not None else '['}{low:g}, {high:g}{')' if o.below is not None else ']'}"
        if low is not None:
            return f"{'>' if o.above is not None else '>='} {low:g}"
        if high is not None:
            return f"{'<' if o.below is not None else '<='} {high:g}"
        return ""

    def _in_range(self, value: Any) -> bool:
        o = self.option
        return ((o.low is None or value >= o.low) and (o.above is None or value > o.above)
                and (o.high is None or value <= o.high) and (o.below is None or value < o.below))


_NOUNS = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}


def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


def _type_problem(kind: type, value: Any) -> str | None:
    """What ``value`` should be instead, or None when it has the right type. A bool is no number here (True
    passes isinstance(int)); an int is a float's value (a grid's ``dropout=0`` is JSON's 0); NaN and infinities
    are refused (``--learning-rate inf`` would train to a NaN loss)."""
    if kind is bool:
        return None if isinstance(value, bool) else "true or false"
    if kind is dict:
        return None if isinstance(value, dict) else "a mapping of option names to values"
    if kind is str:
        return None if isinstance(value, str) else "text"
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else kind):
        return _NOUNS[kind]
    return None if math.isfinite(value) else "a finite number"


# -------------------------------------------------------------------- the config


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run, each declared once with its unit, default and allowed values."""

    dataset: str = option("mnist", "the images: a dataset cnnlab knows, as listed by 'cnnlab data list'")
    model: str = option("digitcnn", "a registered network, as listed by 'cnnlab models'")
    model_options: dict[str, Any] = option({}, "keyword arguments of the model function", flag=False)
    recipe: str = option("default", "the named recipe the settings started from", flag=False)
    epochs: int = option(10, "full passes over the training images", low=1)
    batch_size: int = option(128, "images per optimizer step, per replica with --distribute", low=1,
                             noun="a number of images")
    learning_rate: float = option(1e-3, "Adam step size; the peak of the onecycle and cosine schedules", above=0)
    lr_schedule: str = option("constant", "constant, onecycle (linear warm-up, cosine down) or cosine",
                              choices=LR_SCHEDULES)
    warmup_fraction: float = option(0.2, "share of all steps spent warming up, onecycle schedule only", low=0, below=1)
    weight_decay: float = option(0.0, "decoupled (AdamW) weight decay; 0 = plain Adam", low=0)
    label_smoothing: float = option(0.0, "cross-entropy label smoothing; 0 = none", low=0, below=1)
    augment_shift: int = option(0, "random translation of training images, in pixels; 0 = none", low=0, high=8,
                                noun="a number of pixels")
    augment_rotate: float = option(0.0, "random rotation of training images either way, in degrees; 0 = none",
                                   low=0, high=45, noun="a number of degrees")
    augment_flip: bool = option(False, "mirror half the training images left-right: for clothes, not digits")
    augment_scale: float = option(0.0, "random size change of training images either way, relative; 0 = none",
                                  low=0, high=0.5, noun="a fraction")
    augment_elastic: float = option(0.0, "elastic distortion of half the training images, largest displacement in "
                                    "pixels; 0 = none", low=0, high=6, noun="a number of pixels")
    augment_corrupt: float = option(0.0, "share of training images given one real-world corruption (stroke width, "
                                    "blur, noise, light, stray lines, a covered patch, outlines); 0 = none",
                                    low=0, high=1, noun="a share")
    dropout: float | None = option(None, "probability of dropping a hidden unit", low=0, below=1,
                                   noun="a probability", unset="the model's own")
    normalization: str = option("standardize", "standardize (per-pixel mean, one global std), scale to [0, 1], or "
                                "per_image (each image to mean 0, std 1: a brightness or contrast change leaves it as "
                                "it was)",
                                choices=NORMALIZATIONS)
    val_split: int = option(5000, "images held out of training for validation; 0 = train on everything", low=0,
                            noun="a number of images")
    val_mode: str = option("random", "last: the tutorial's last N images; random: drawn with the seed",
                           choices=VAL_MODES)
    limit: int | None = option(None, "train on the first N training images only, for quick checks", low=1,
                               noun="a number of images", unset="all of them")
    seed: int = option(0, "random seed: the same seed gives the same history", low=0)
    steps_per_execution: int = option(50, "optimizer steps per compiled call; more means fewer Python round-trips",
                                      low=1)
    precision: str = option("auto", "auto (float16 on a GPU, bfloat16 where the CPU computes it natively, else "
                            "float32), float32, mixed_bfloat16 or mixed_float16",
                            choices=PRECISIONS)
    distribute: str = option("none", "none, mirrored (local GPUs or the CPU) or multiworker (from TF_CONFIG); the "
                             "batch size and learning rate scale with the replicas", choices=DISTRIBUTE)

    def __post_init__(self) -> None:
        # The one validation: every construction passes here (dataclasses.replace and from_dict included).
        for spec in config_fields():
            spec.check(getattr(self, spec.name))
        _check_dataset_and_model(self)

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
        explicit = _given(overrides)
        _check_known_fields(explicit)
        model = model or explicit.pop("model", None)
        explicit.pop("model", None)
        settings = RECIPES[recipe](model, explicit.get("dataset", cls.dataset))
        values = {"recipe": recipe, **settings, **explicit, "model": model or settings.get("model", cls.model)}
        _fit_split_to_limit(values, explicit)
        return cls(**values)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Rebuild a config saved with ``to_dict`` (refusing unknown keys; missing ones take their defaults)."""
        _check_known_fields(values)
        return cls(**values)

    @classmethod
    def from_file(cls, path: str | os.PathLike, **overrides: Any) -> "TrainConfig":
        """A config saved as JSON (a run's ``config.json``, or the run directory itself), with explicit
        overrides on top (``None`` values are ignored). Model options given are added to the saved ones, which
        are dropped when another model is given: they belong to the saved network.

        Example:
            >>> TrainConfig.from_file("runs/quick/config.json", epochs=1).epochs  # doctest: +SKIP
            1
        """
        path = Path(path)
        path = path / CONFIG_FILE if path.is_dir() else path
        values = _read_json_object(path)
        try:
            saved = cls.from_dict(values)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None
        explicit = _given(overrides)
        if not explicit:
            return saved
        _check_known_fields(explicit)
        values = {**saved.to_dict(), **explicit, "model_options": _merged_options(saved, explicit)}
        if "limit" in explicit:
            _fit_split_to_limit(values, explicit)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with ``changes`` (validated like any new config)."""
        _check_known_fields(changes)
        return dataclasses.replace(self, **changes)

    def differences(self, other: "TrainConfig") -> list[str]:
        """Human-readable list of the settings where ``other`` differs from this config."""
        return config_differences(self.to_dict(), other.to_dict())


@functools.cache
def config_fields() -> tuple[ConfigField, ...]:
    """Every field of ``TrainConfig`` with its type, default and ``option`` metadata, in declaration order."""
    hints = typing.get_type_hints(TrainConfig)
    return tuple(_config_field(f, hints[f.name]) for f in dataclasses.fields(TrainConfig))


def _config_field(f: dataclasses.Field, hint: Any) -> ConfigField:
    optional = typing.get_origin(hint) is types.UnionType and type(None) in typing.get_args(hint)
    kind = next(m for m in typing.get_args(hint) if m is not type(None)) if optional else hint
    default = f.default_factory() if f.default is dataclasses.MISSING else f.default
    return ConfigField(f.name, typing.get_origin(kind) or kind, optional, default, f.metadata["option"])


def config_differences(*configs: dict[str, Any], separator: str = " -> ",
                       show: Callable[[Any], str] = repr) -> list[str]:
    """The settings whose values differ between two or more configs given as plain dicts (``to_dict()``, a
    group's or a run's saved config), one ``"key: a -> b"`` each, in the order the keys first appear; a key
    one config lacks counts as None there.

    Example:
        >>> config_differences({"epochs": 10, "seed": 0}, {"epochs": 3, "seed": 0})
        ['epochs: 10 -> 3']
        >>> config_differences({"dropout": 0.0}, {"dropout": 0.5}, {"dropout": 0.5}, separator=" / ", show=str)
        ['dropout: 0.0 / 0.5 / 0.5']
    """
    keys = dict.fromkeys(key for config in configs for key in config)
    first = configs[0] if configs else {}
    return [f"{key}: " + separator.join(show(config.get(key)) for config in configs) for key in keys
            if any(config.get(key) != first.get(key) for config in configs[1:])]


def recipe_defaults(recipe: str = "default") -> dict[str, Any]:
    """The settings a recipe gives when nothing else is given (not validated: what ``--help`` shows).

    Example:
        >>> recipe_defaults()["lr_schedule"]
        'onecycle'
    """
    defaults = {spec.name: spec.default for spec in config_fields()}
    return {**defaults, **RECIPES[recipe](None, defaults["dataset"])}


def _given(overrides: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in overrides.items() if value is not None}


def _fit_split_to_limit(values: dict[str, Any], explicit: dict[str, Any]) -> None:
    """A quick --limit run keeps 90 % of its images for training, unless --val-split is given too."""
    limit = values.get("limit")
    if "val_split" in explicit or not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        return  # a bad limit is refused by the validation, in its own name
    if values.get("val_split", TrainConfig.val_split) > limit // 5:
        values["val_split"] = limit // 10


def _merged_options(saved: TrainConfig, explicit: dict[str, Any]) -> Any:
    given = explicit.get("model_options", {})
    if not isinstance(given, dict):
        return given  # refused by the validation
    kept = saved.model_options if explicit.get("model", saved.model) == saved.model else {}
    return {**kept, **given}


def _read_json_object(path: Path) -> dict[str, Any]:
    """A config file's JSON object; anything else is one line naming the file and what is wrong with it."""
    advice = "pass a config.json written by 'cnnlab train' (RUN/config.json)"
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist; {advice}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path} is not valid JSON ({first_line(err, 120)}); {advice}") from None
    except OSError as err:
        raise ConfigError(f"{path} cannot be read ({err.strerror or type(err).__name__}); {advice}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path} holds no config (a JSON object of settings, e.g. {{\"epochs\": 10}}); {advice}")
    return values


def _check_dataset_and_model(config: TrainConfig) -> None:
    from cnnlab.data.catalog import get_dataset_spec
    from cnnlab.models import check_model_options  # the package: importing it registers the built-in networks

    get_dataset_spec(config.dataset)
    check_model_options(config.model, config.model_options)


def _check_known_fields(values: dict[str, Any]) -> None:
    known = [f.name for f in dataclasses.fields(TrainConfig)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown config option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")


# -------------------------------------------------------------------- recipes
# A recipe maps (model or None, dataset) to the settings it changes; it may name its own model for when the
# user gives none. "seed" is each tutorial's own recipe; "fast" and "best" are measured in docs/PERFORMANCE.md.


def _default_recipe(model: str | None, dataset: str) -> dict[str, Any]:
    # What `make demo` trains: the compact fastcnn, quick on a laptop CPU, taught what real inputs look like —
    # other hands (elastic distortion, rotation, size, shifts) and what photos and drawing apps do to a digit
    # (one real-world corruption for half the images) — with each image standardized on its own, so that light
    # and ink strength cannot move it. Clothes get mirrored and shifted instead. Measured in README.md.
    common = {"model": "fastcnn", "epochs": 10, "batch_size": 128, "learning_rate": 4e-3, "lr_schedule": "onecycle",
              "warmup_fraction": 0.2, "label_smoothing": 0.1, "val_split": 5000, "val_mode": "random"}
    if dataset.startswith("fashion"):
        return {**common, "augment_shift": 2, "augment_flip": True, "normalization": "standardize"}
    return {**common, "augment_shift": 3, "augment_rotate": 10.0, "augment_scale": 0.1, "augment_elastic": 2.0,
            "augment_corrupt": 0.5, "normalization": "per_image"}


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
        "model": "fastcnn", "epochs": 3, "batch_size": 96, "learning_rate": 4e-3, "lr_schedule": "onecycle",
        "warmup_fraction": 0.2, "label_smoothing": 0.1, "augment_shift": 1, "normalization": "standardize",
        "val_split": 0,
    }


_BEST_RECIPES: dict[str, dict[str, Any]] = {
    # A wider fastcnn with (fused) batch norm and dropout, rotations and shifts, 30 epochs (minutes on a laptop CPU;
    # figures in docs/PERFORMANCE.md).
    "mnist": {
        "model": "fastcnn", "epochs": 30, "batch_size": 128, "learning_rate": 4e-3, "dropout": 0.3,
        "augment_shift": 2, "augment_rotate": 10.0,
        "model_options": {"conv_1_channels": 32, "conv_2_channels": 64, "conv_3_channels": 128, "batch_norm": True},
    },
    # A VGG-style network with batch norm, mirrored and shifted clothes.
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
