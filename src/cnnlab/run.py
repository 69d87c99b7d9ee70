"""A run directory: the one thing every command after training takes.

``Run.load(path)`` gives the config, normalizer, class names, history, metrics and the model, so no
downstream command needs to be told the dataset, the model or the normalization again. The writer methods
are the only code that writes into a run, and every write is atomic (temporary file, flush, rename).

Layout (the file names are the constants below)::

    config.json  manifest.json  normalizer.json  history.csv  metrics.json  model.keras
    checkpoints/ (epoch-NNNN.keras + latest.json, best.keras + best.json)  logs/  report/

The saved model takes raw pixels (0..255): its first layer is the run's normalization, so ``model.keras``
and the checkpoints load and predict in plain Keras. ``normalizer.json`` is the record of that layer.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from cnnlab.config import CONFIG_FILE, TrainConfig
from cnnlab.data.catalog import DatasetSpec, get_dataset_spec
from cnnlab.data.normalize import Normalizer
from cnnlab.errors import CnnlabError, RunError
from cnnlab.fileio import atomic_write_text, read_checked_csv, write_json

CONFIG = CONFIG_FILE
MANIFEST = "manifest.json"
NORMALIZER = "normalizer.json"
HISTORY = "history.csv"
METRICS = "metrics.json"
MODEL = "model.keras"
CHECKPOINTS = "checkpoints"
LATEST = "latest.json"  # in checkpoints/: the commit point of the last completed epoch
BEST = "best.keras"
LOGS = "logs"
RUN_FORMAT = 2  # manifest "cnnlab_run": 2 = the model takes raw pixels (1 = it expected normalized ones)

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
        if not (path / CONFIG).is_file():
            raise RunError(f"{path} is not a run directory (no {CONFIG}); pass one written by 'cnnlab train'")
        run = cls(path)
        run.config  # parse now so a broken config fails here, with its name
        return run

    @property
    def config(self) -> TrainConfig:
        values = self._read_json(CONFIG)
        try:
            return TrainConfig.from_dict(values)
        except CnnlabError as err:
            raise RunError(f"{self.path / CONFIG}: {err}") from None

    @property
    def manifest(self) -> dict[str, Any]:
        return self._read_json(MANIFEST) if (self.path / MANIFEST).exists() else {}

    @property
    def normalizer(self) -> Normalizer:
        values = self._read_json(NORMALIZER)  # its errors name the file already
        try:
            return Normalizer.from_dict(values)
        except CnnlabError as err:
            raise RunError(f"{self.path / NORMALIZER}: {err}") from None

    @property
    def spec(self) -> DatasetSpec:
        return get_dataset_spec(self.config.dataset)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.spec.class_names

    @property
    def history(self) -> pd.DataFrame:
        path = self.path / HISTORY
        if not path.exists():
            return pd.DataFrame(columns=HISTORY_COLUMNS)
        return read_checked_csv(path, HISTORY_COLUMNS, {"epoch": int},
                                "restore it, or train the run again with --overwrite")

    @property
    def metrics(self) -> dict[str, Any] | None:
        return self._read_json(METRICS) if (self.path / METRICS).exists() else None

    @property
    def model_path(self) -> Path:
        return self.path / MODEL

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def logs_dir(self) -> Path:
        return self.path / LOGS

    def load_model(self, which: str = "final", compile: bool = False):
        """The trained Keras model (raw pixels in, logits out): ``final`` (model.keras), ``best`` or ``latest``
        checkpoint. ``compile=True`` restores the optimizer too (for resuming)."""
        from cnnlab.runtime import import_tensorflow_quietly

        import_tensorflow_quietly()  # reading a run needs no TensorFlow; loading its model is the first use
        import keras

        self._refuse_old_format()
        path = {"final": self.model_path, "best": self.checkpoints_dir / BEST}.get(which)
        if which == "latest":
            path = self.latest_checkpoint()
        if path is None or not path.exists():
            raise RunError(f"{self.path} has no {which} model yet; finish training with 'cnnlab train --resume'")
        try:
            return keras.models.load_model(path, compile=compile)
        except Exception as err:  # a damaged archive can fail in many ways inside Keras
            raise RunError(f"{path}: cannot load the model ({type(err).__name__}); "
                           "retrain or restore the file") from None

    def latest_state(self) -> dict[str, Any] | None:
        """The last completed epoch's checkpoint record, or None before the first epoch ended."""
        path = self.checkpoints_dir / LATEST
        return json.loads(path.read_text()) if path.exists() else None

    def latest_checkpoint(self) -> Path | None:
        state = self.latest_state()
        return self.checkpoints_dir / state["file"] if state else None

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

    def _refuse_old_format(self) -> None:
        """Runs of format 1 saved a model that expected normalized pixels (and cnnlab's own layer classes)."""
        version = self.manifest.get("cnnlab_run", RUN_FORMAT)
        if version != RUN_FORMAT:
            raise RunError(f"{self.path} was written by an older cnnlab (run format {version}; its model expects "
                           f"normalized pixels); train it again with 'cnnlab train --config {self.path / CONFIG} "
                           "--run-dir NEW_DIR'")

    def _read_json(self, name: str) -> dict[str, Any]:
        path = self.path / name
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise RunError(f"{path} is missing; the run directory is incomplete") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise RunError(f"{path} is not valid JSON ({err}); the run directory is damaged") from None

    # ---------------------------------------------------------------- writing

    def write_json(self, name: str, values: Any) -> Path:
        return write_json(self.path / name, values)

    def write_config(self, config: TrainConfig) -> Path:
        return self.write_json(CONFIG, config.to_dict())

    def write_normalizer(self, normalizer: Normalizer) -> Path:
        return self.write_json(NORMALIZER, normalizer.to_dict())

    def write_manifest(self, manifest: dict[str, Any]) -> Path:
        return self.write_json(MANIFEST, manifest)

    def write_history(self, rows: list[dict[str, Any]]) -> Path:
        frame = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
        return atomic_write_text(self.path / HISTORY, frame.to_csv(index=False))

    def write_metrics(self, metrics: dict[str, Any], name: str = METRICS) -> Path:
        return self.write_json(name, metrics)


def default_run_dir(config: TrainConfig, root: str | os.PathLike = "runs") -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{config.dataset}-{config.model}-{config.recipe}-{stamp}"


def config_for_resume(run_dir: str | os.PathLike, **explicit: Any) -> TrainConfig:
    """The stored config of a run to resume; options given again must equal the stored ones."""
    stored = Run.load(run_dir).config
    explicit = {k: v for k, v in explicit.items() if v is not None}
    changed = stored.differences(stored.replace(**explicit)) if explicit else []
    if changed:
        raise RunError(f"--resume with a changed config ({'; '.join(changed)}); resume with the same options "
                       "or start a new run with --run-dir")
    return stored


def prepare_output_dir(path: Path, marker: str, thing: str, dir_flag: str, resume: bool, overwrite: bool) -> bool:
    """Check what is at ``path`` against ``--resume``/``--overwrite`` for an output folder recognised by its
    ``marker`` file (a run's config.json, a repeat group's group.json, a search's search.json).

    Returns True when an existing one is to be continued. With ``overwrite`` an existing one is removed; a
    non-empty folder that is not one is never touched. ``thing`` and ``dir_flag`` word the refusals.
    """
    exists = path.exists() and (not path.is_dir() or any(path.iterdir()))
    is_one = (path / marker).is_file()
    if resume:
        if not is_one:
            raise RunError(f"nothing to resume: {path} is not a {thing} directory; drop --resume to start one")
        return True
    if exists and not is_one:
        raise RunError(f"{path} exists and is not a {thing} directory; choose another {dir_flag}")
    if is_one and not overwrite:
        raise RunError(f"{path} already holds a {thing}; pass --resume to continue it or --overwrite to replace it")
    if is_one:
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return False


def prepare_run_dir(path: Path, resume: bool, overwrite: bool) -> Run:
    """Check what is at ``path`` against the flags and return the Run to write into."""
    prepare_output_dir(path, CONFIG, "run", "--run-dir", resume, overwrite)
    return Run(path)


def continue_or_clear(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a run to resume; a folder left by a run killed before its first file is removed
    (nothing in it is worth keeping). For the callers that train many runs (repeat, search)."""
    if (run_dir / CONFIG).is_file():
        return True
    if run_dir.exists():
        shutil.rmtree(run_dir)
    return False


def _last(history: pd.DataFrame, column: str) -> float | None:
    if column not in history or history[column].dropna().empty:
        return None
    return float(history[column].dropna().iloc[-1])
