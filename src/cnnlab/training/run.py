"""A run directory: the one thing every command after training takes.

``Run.load(path)`` gives the config, normalizer, class names, history, metrics and the model, so no
downstream command needs to be told the dataset, the model or the normalization again. The writer methods
are the only code that writes into a run, and every write is atomic (temporary file, then rename).

Layout::

    config.json  manifest.json  normalizer.json  history.csv  metrics.json  model.keras
    checkpoints/ (epoch-NNNN.keras + latest.json, best.keras + best.json)  logs/  report/
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from cnnlab.config import TrainConfig
from cnnlab.data.catalog import DatasetSpec, get_dataset_spec
from cnnlab.data.prep import Normalizer
from cnnlab.errors import CnnlabError, RunError
from cnnlab.fileio import atomic_write_text, read_checked_csv

HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds",
                   "images_per_second"]


class Run:
    """Read (and, for the trainer and evaluator, write) one run directory."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    # ---------------------------------------------------------------- reading

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Run":
        """Open an existing run; RunError if ``path`` is not a run directory.

        Example:
            >>> run = Run.load("runs/mnist-digitcnn")  # doctest: +SKIP
            >>> run.config.model, run.class_names[:3]
            ('digitcnn', ('0', '1', '2'))
        """
        path = Path(path)
        if not path.is_dir():
            raise RunError(f"{path} is not a directory; pass a run directory written by 'cnnlab train'")
        if not (path / "config.json").is_file():
            raise RunError(f"{path} is not a run directory (no config.json); pass one written by 'cnnlab train'")
        run = cls(path)
        run.config  # parse now so a broken config fails here, with its name
        return run

    @property
    def config(self) -> TrainConfig:
        values = self._read_json("config.json")
        try:
            return TrainConfig.from_dict(values)
        except CnnlabError as err:
            raise RunError(f"{self.path / 'config.json'}: {err}") from None

    @property
    def manifest(self) -> dict[str, Any]:
        return self._read_json("manifest.json") if (self.path / "manifest.json").exists() else {}

    @property
    def normalizer(self) -> Normalizer:
        values = self._read_json("normalizer.json")  # its errors name the file already
        try:
            return Normalizer.from_dict(values)
        except CnnlabError as err:
            raise RunError(f"{self.path / 'normalizer.json'}: {err}") from None

    @property
    def spec(self) -> DatasetSpec:
        return get_dataset_spec(self.config.dataset)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.spec.class_names

    @property
    def history(self) -> pd.DataFrame:
        path = self.path / "history.csv"
        if not path.exists():
            return pd.DataFrame(columns=HISTORY_COLUMNS)
        return read_checked_csv(path, HISTORY_COLUMNS, {"epoch": int},
                                "restore it, or train the run again with --overwrite")

    @property
    def metrics(self) -> dict[str, Any] | None:
        return self._read_json("metrics.json") if (self.path / "metrics.json").exists() else None

    @property
    def model_path(self) -> Path:
        return self.path / "model.keras"

    def load_model(self, which: str = "final"):
        """The trained Keras model: ``final`` (model.keras), ``best`` or ``latest`` checkpoint."""
        from cnnlab.runtime import import_tensorflow_quietly

        import_tensorflow_quietly()  # reading a run needs no TensorFlow; loading its model is the first use
        import keras

        path = {"final": self.model_path, "best": self.path / "checkpoints" / "best.keras"}.get(which)
        if which == "latest":
            path = self.latest_checkpoint()
        if path is None or not path.exists():
            raise RunError(f"{self.path} has no {which} model yet; finish training with 'cnnlab train --resume'")
        try:
            return keras.models.load_model(path, compile=False)
        except Exception as err:  # a damaged archive can fail in many ways inside Keras
            raise RunError(f"{path}: cannot load the model ({type(err).__name__}); "
                           "retrain or restore the file") from None

    def latest_state(self) -> dict[str, Any] | None:
        """The last completed epoch's checkpoint record, or None before the first epoch ended."""
        path = self.path / "checkpoints" / "latest.json"
        return json.loads(path.read_text()) if path.exists() else None

    def latest_checkpoint(self) -> Path | None:
        state = self.latest_state()
        return self.path / "checkpoints" / state["file"] if state else None

    def summary(self) -> dict[str, Any]:
        """A short description for reports, the model API and ``--json`` output."""
        config, manifest, history = self.config, self.manifest, self.history
        metrics = self.metrics or {}
        return {
            "run_dir": str(self.path),
            "dataset": config.dataset,
            "model": config.model,
            "recipe": config.recipe,
            "seed": config.seed,
            "epochs": int(len(history)),
            "params": manifest.get("params"),
            "class_names": list(self.class_names),
            "normalization": config.normalization,
            "wall_seconds": manifest.get("wall_seconds"),
            "images_per_second": _last(history, "images_per_second"),
            "val_accuracy": _last(history, "val_accuracy"),
            "test_accuracy": metrics.get("accuracy") if metrics.get("split") == "test" else None,
        }

    def _read_json(self, name: str) -> dict[str, Any]:
        path = self.path / name
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise RunError(f"{path} is missing; the run directory is incomplete") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise RunError(f"{path} is not valid JSON ({err}); the run directory is damaged") from None

    # ---------------------------------------------------------------- writing

    def write_json(self, name: str, values: dict[str, Any]) -> Path:
        return atomic_write_text(self.path / name, json.dumps(values, indent=2, default=_json_default) + "\n")

    def write_history(self, rows: list[dict[str, Any]]) -> Path:
        frame = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
        return atomic_write_text(self.path / "history.csv", frame.to_csv(index=False))

    def write_metrics(self, metrics: dict[str, Any]) -> Path:
        return self.write_json("metrics.json", metrics)


def prepare_run_dir(path: Path, resume: bool, overwrite: bool) -> Run:
    """Check what is at ``path`` against the flags and return the Run to write into.

    Refuses to touch a non-empty directory that is not a run, even with ``overwrite``.
    """
    exists = path.exists() and any(path.iterdir()) if path.is_dir() else path.exists()
    is_run = (path / "config.json").is_file()
    if resume:
        if not is_run:
            raise RunError(f"nothing to resume: {path} is not a run directory; drop --resume to start a new run")
        return Run(path)
    if exists and not is_run:
        raise RunError(f"{path} exists and is not a run directory; choose another --run-dir")
    if is_run and not overwrite:
        raise RunError(f"{path} already holds a run; pass --resume to continue it or --overwrite to replace it")
    if is_run and overwrite:
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return Run(path)


def _last(history: pd.DataFrame, column: str) -> float | None:
    if column not in history or history[column].dropna().empty:
        return None
    return float(history[column].dropna().iloc[-1])


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")
