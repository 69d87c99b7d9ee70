"""What each file of a run directory must hold: one small check per file, all of them here.

A run is read back by every command after training, so a file that was cut short, edited by hand, or replaced by
something else must end as one line naming it, never as a KeyError deep inside a command or as a wrong answer.
Each ``check_*`` function takes the parsed content (JSON values, or the history table) and returns it unchanged
when it is valid; otherwise it raises :class:`Invalid` with what is wrong. ``Run`` adds the file's path and what
to do.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

# the name RunRecorder gives an epoch's checkpoint; anything else in latest.json was not written by cnnlab
CHECKPOINT_NAME = re.compile(r"epoch-(\d{4,})\.keras")
BEST_METRICS = ("val_accuracy", "accuracy")


class Invalid(ValueError):
    """A run file's content is not what cnnlab writes; the message says what is wrong (without the path)."""


# -------------------------------------------------------------------- value checks


def _object(values: Any, what: str = "the file") -> dict[str, Any]:
    if not isinstance(values, dict):
        raise Invalid(f"{what} holds {_kind(values)}, not a JSON object")
    return values


def _need(values: dict[str, Any], key: str) -> Any:
    if key not in values:
        raise Invalid(f"no {key!r}")
    return values[key]


def _whole(value: Any, key: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"{key!r} is {_kind(value)}, not a whole number")
    if value < low:
        raise Invalid(f"{key!r} is {value}, below {low}")
    return value


def _number(value: Any, key: str, low: float | None = None, high: float | None = None) -> float:
    """A finite JSON number (NaN and infinities are not JSON; cnnlab writes them as null)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Invalid(f"{key!r} is {_kind(value)}, not a number")
    if not math.isfinite(value):
        raise Invalid(f"{key!r} is {value}, not a finite number")
    if (low is not None and value < low) or (high is not None and value > high):
        raise Invalid(f"{key!r} is {value}, outside {low if low is not None else '-inf'}.."
                      f"{high if high is not None else 'inf'}")
    return float(value)


def _text(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise Invalid(f"{key!r} is {_kind(value)}, not text")
    return value


def _optional(values: dict[str, Any], key: str, check, *args: Any) -> None:
    if values.get(key) is not None:
        check(values[key], key, *args)


def _kind(value: Any) -> str:
    """How a JSON value is described in a message: its type, and the value itself when it is short."""
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null",
             int: "a number", float: "a number"}
    shown = repr(value)
    return f"{names.get(type(value), type(value).__name__)} {shown}" if len(shown) <= 24 else names.get(
        type(value), type(value).__name__)


# -------------------------------------------------------------------- the files


def check_manifest(values: Any) -> dict[str, Any]:
    """manifest.json: the keys cnnlab reads back have their types (the rest is a record for people)."""
    values = _object(values)
    _optional(values, "cnnlab_run", _whole, 1)
    _optional(values, "seed", _whole)
    _optional(values, "params", _whole)
    _optional(values, "wall_seconds", _number, 0)
    _optional(values, "train_seconds", _number, 0)
    _optional(values, "created", _text)
    _optional(values, "precision", _text)
    for key in ("versions", "machine", "data", "distribute"):
        if values.get(key) is not None:
            _object(values[key], repr(key))
    sessions = values.get("sessions", [])
    if not isinstance(sessions, list):
        raise Invalid(f"'sessions' is {_kind(sessions)}, not a list")
    for session in sessions:
        session = _object(session, "a session")
        _optional(session, "wall_seconds", _number, 0)
        _text(_need(session, "start"), "start")
    return values


def check_metrics(values: Any, num_classes: int) -> dict[str, Any]:
    """metrics.json: the numbers agree with each other (accuracy is the confusion matrix's diagonal)."""
    values = _object(values)
    split = _text(_need(values, "split"), "split")
    if split not in ("test", "val"):
        raise Invalid(f"'split' is {split!r}, not 'test' or 'val'")
    images = _whole(_need(values, "num_images"), "num_images", 1)
    accuracy = _number(_need(values, "accuracy"), "accuracy", 0, 1)
    if values.get("loss") is not None:  # null: the loss was not finite
        _number(values["loss"], "loss", 0)
    elif "loss" not in values:
        raise Invalid("no 'loss'")
    matrix = _need(values, "confusion_matrix")
    if not (isinstance(matrix, list) and len(matrix) == num_classes
            and all(isinstance(row, list) and len(row) == num_classes for row in matrix)):
        raise Invalid(f"'confusion_matrix' is not {num_classes} rows of {num_classes} counts")
    counts = [_whole(count, "confusion_matrix") for row in matrix for count in row]
    if sum(counts) != images:
        raise Invalid(f"the confusion matrix counts {sum(counts):,} images, 'num_images' says {images:,}")
    correct = sum(matrix[c][c] for c in range(num_classes))
    if abs(correct / images - accuracy) > 1e-6:
        raise Invalid(f"'accuracy' {accuracy} is not the confusion matrix's {correct / images}")
    per_class = _need(values, "per_class")
    if not isinstance(per_class, list) or len(per_class) != num_classes:
        raise Invalid(f"'per_class' is not a list of {num_classes} classes")
    for entry in per_class:
        entry = _object(entry, "a 'per_class' entry")
        _text(_need(entry, "name"), "name")
        _whole(_need(entry, "support"), "support")
        for key in ("precision", "recall", "f1"):
            _number(_need(entry, key), key, 0, 1)
    return values


def check_best(values: Any) -> dict[str, Any]:
    """best.json (and latest.json's ``best``): the epoch of best.keras and its score; ``{}`` before one."""
    values = _object(values, "'best'")
    if not values:
        return values
    _whole(_need(values, "epoch"), "epoch", 1)
    _number(_need(values, "score"), "score", 0, 1)
    if _need(values, "metric") not in BEST_METRICS:
        raise Invalid(f"'metric' is {_kind(values['metric'])}, not one of {', '.join(BEST_METRICS)}")
    return values


def check_latest(values: Any, epochs: int) -> dict[str, Any]:
    """checkpoints/latest.json, the commit point: the last completed epoch and its checkpoint's file name.

    The name must be a plain ``epoch-NNNN.keras`` of that epoch: no folder, no ``..``, never a temporary file.
    """
    values = _object(values)
    epoch = _whole(_need(values, "epoch"), "epoch", 1)
    if epoch > epochs:
        raise Invalid(f"'epoch' is {epoch}, beyond the config's {epochs} epoch(s)")
    name = _text(_need(values, "file"), "file")
    match = CHECKPOINT_NAME.fullmatch(name)
    if match is None or int(match.group(1)) != epoch:
        raise Invalid(f"'file' is {name[:60]!r}, not the checkpoint epoch-{epoch:04d}.keras in checkpoints/")
    check_best(values.get("best") or {})
    states = values.get("seed_generators", [])
    if not (isinstance(states, list) and all(
            isinstance(state, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in state)
            for state in states)):
        raise Invalid("'seed_generators' is not a list of lists of whole numbers")
    return values


HISTORY_NUMBERS = {  # column -> (lowest, highest) a value can be; empty cells are allowed (no value that epoch)
    "loss": (0, None), "accuracy": (0, 1), "val_loss": (0, None), "val_accuracy": (0, 1),
    "learning_rate": (0, None), "seconds": (0, None), "images_per_second": (0, None),
}


def check_history(table: "pd.DataFrame") -> "pd.DataFrame":
    """history.csv, already read row by row: epochs are 1..N in order and every value is in its range."""
    epochs = table["epoch"].tolist()
    if epochs != list(range(1, len(epochs) + 1)):
        raise Invalid(f"its epochs are {_short(epochs)}, not 1..{len(epochs)} in order")
    for column, (low, high) in HISTORY_NUMBERS.items():
        values = table[column].dropna()
        bad = values[(values < low) | (values > (high if high is not None else math.inf))]
        if len(bad):
            row = int(bad.index[0])
            raise Invalid(f"{column} {bad.iloc[0]} at epoch {epochs[row]} is outside "
                          f"{low}..{high if high is not None else 'inf'}")
    return table


def _short(values: list) -> str:
    return ", ".join(str(v) for v in values[:6]) + (", ..." if len(values) > 6 else "")
