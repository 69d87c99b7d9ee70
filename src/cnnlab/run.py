"""A run directory: the one thing every command after training takes.

``Run.load(path)`` gives the config, normalizer, class names, history, metrics and the model, so no
downstream command needs to be told the dataset, the model or the normalization again. Opening a run checks
every record in it (the checks are in ``run_files``), so a damaged one is refused in one line naming it. The writer
methods are the only code that writes into a run, and every write is atomic (temporary file, fsync, rename).

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
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from cnnlab.config import CONFIG_FILE, TrainConfig
from cnnlab.data.catalog import DatasetSpec, get_dataset_spec
from cnnlab.data.normalize import Normalizer
from cnnlab.errors import CnnlabError, RunError, first_line
from cnnlab.fileio import (atomic_write_text, is_temporary, read_checked_bytes, read_checked_csv, remove_temporaries,
                           what_is_at, write_json)
from cnnlab.run_files import Invalid, check_best, check_history, check_latest, check_manifest, check_metrics

CONFIG = CONFIG_FILE
MANIFEST = "manifest.json"
NORMALIZER = "normalizer.json"
HISTORY = "history.csv"
METRICS = "metrics.json"
MODEL = "model.keras"
MODEL_CARD = "MODEL_CARD.md"  # written by cnnlab.model_card once the run is evaluated
CHECKPOINTS = "checkpoints"
LATEST = "latest.json"  # in checkpoints/: the commit point of the last completed epoch
BEST = "best.keras"
BEST_RECORD = "best.json"  # in checkpoints/: the epoch and score of best.keras
LOGS = "logs"
RUN_FORMAT = 2  # manifest "cnnlab_run": 2 = the model takes raw pixels (1 = it expected normalized ones)

_BEFORE_FIRST_EPOCH = {CONFIG, NORMALIZER, MANIFEST, HISTORY, CHECKPOINTS, LOGS}  # what a new run writes first
HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds",
                   "images_per_second"]
JSON_LIMIT = 16 << 20  # bytes: far above any record cnnlab writes (the normalizer's 784 means are ~17 kB)

class Run:
    """Read (and, for the trainer and evaluator, write) one run directory."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    # ---------------------------------------------------------------- reading

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Run":
        """Open an existing run, every record in it checked; RunError if ``path`` is not a run directory or one
        of its files is damaged (the message names the file and says what to do).

        Example:
            >>> run = Run.load("runs/mnist-digitcnn")  # doctest: +SKIP
            >>> run.config.model, run.class_names[:3]
            ('digitcnn', ('0', '1', '2'))
        """
        path = Path(path)
        if not path.is_dir():
            raise RunError(f"{path} is not a directory; pass a run directory written by 'cnnlab train'")
        if what_is_at(path / CONFIG) == "missing":
            raise RunError(f"{path} is not a run directory (no {CONFIG}); pass one written by 'cnnlab train'")
        run = cls(path)
        run.check()
        return run

    def check(self) -> None:
        """Read and check every record the run holds (the models are checked when loaded), so a damaged one is
        refused when the run is opened, before any command trusts it."""
        self.config
        self.manifest
        if self._present(NORMALIZER):  # a run killed before writing it can still be resumed
            self.normalizer
        self.metrics
        self.best_record()
        state, history = self.latest_state(), self.history
        done = state["epoch"] if state else 0
        if state and not self._present(HISTORY):
            raise RunError(f"{self.path / HISTORY} is missing but {self.checkpoints_dir / LATEST} records "
                           f"{done} completed epoch(s); {self._advice(HISTORY)}")
        # The recorder writes history.csv just before latest.json, so it may hold one epoch more, never fewer.
        if state and not done <= len(history) <= done + 1:
            raise RunError(f"{self.path / HISTORY} has {len(history)} epoch(s) but {self.checkpoints_dir / LATEST} "
                           f"records {done}; {self._advice(HISTORY)}")

    @property
    def config(self) -> TrainConfig:
        values = self._read_json(CONFIG)
        try:
            if not isinstance(values, dict):
                raise Invalid(f"the file holds a {type(values).__name__}, not a JSON object")
            return TrainConfig.from_dict(values)
        except (CnnlabError, Invalid) as err:
            raise RunError(f"{self.path / CONFIG}: {err}; {self._advice(CONFIG)}") from None

    @property
    def manifest(self) -> dict[str, Any]:
        return self._read_record(MANIFEST, check_manifest) or {}

    @property
    def normalizer(self) -> Normalizer:
        values = self._read_json(NORMALIZER)
        try:
            return Normalizer.from_dict(values)
        except CnnlabError as err:
            raise RunError(f"{self.path / NORMALIZER}: {err}; {self._advice(NORMALIZER)}") from None

    @property
    def spec(self) -> DatasetSpec:
        return get_dataset_spec(self.config.dataset)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.spec.class_names

    @property
    def history(self) -> pd.DataFrame:
        path = self.path / HISTORY
        if not self._present(HISTORY):
            return pd.DataFrame(columns=HISTORY_COLUMNS)
        table = read_checked_csv(path, HISTORY_COLUMNS, {"epoch": int, **{c: float for c in HISTORY_COLUMNS[1:]}},
                                 self._advice(HISTORY))
        try:
            return check_history(table)
        except Invalid as err:
            raise RunError(f"{path} is damaged ({err}); {self._advice(HISTORY)}") from None

    @property
    def metrics(self) -> dict[str, Any] | None:
        return self._read_record(METRICS, lambda values: check_metrics(values, len(self.class_names)))

    @property
    def model_path(self) -> Path:
        return self.path / MODEL

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def logs_dir(self) -> Path:
        return self.path / LOGS

    @property
    def finished(self) -> bool:
        """Whether training wrote the final model (it does so after the last epoch)."""
        return what_is_at(self.model_path) is None

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
        if path is None or what_is_at(path) == "missing":
            raise RunError(f"{self.path} has no {which} model yet; finish training with 'cnnlab train --resume'")
        what = what_is_at(path)
        if what is not None:  # e.g. a pipe: Keras would wait on it forever
            raise RunError(f"{path} is {what}; restore the model file, or train the run again into a new --run-dir")
        if not zipfile.is_zipfile(path):  # Keras would say "file not found" of a file that is cut short
            raise RunError(f"{path} is not a complete .keras archive (cut short or damaged); restore the model "
                           "file, or train the run again into a new --run-dir")
        try:
            return keras.models.load_model(path, compile=compile)
        except Exception as err:  # a damaged archive can fail in many ways inside Keras
            if "safe_mode" in str(err):  # Keras refuses to run code stored in the file (a Lambda layer)
                raise RunError(f"{path}: refused as unsafe, it holds a layer with Python code (a Lambda); cnnlab "
                               "loads only models made of standard layers") from None
            raise RunError(f"{path}: cannot load the model ({type(err).__name__}: {first_line(err, 120)}); restore the "
                           "file, or train the run again into a new --run-dir") from None

    def latest_state(self) -> dict[str, Any] | None:
        """The last completed epoch's checkpoint record (checked), or None before the first epoch ended."""
        return self._read_record(f"{CHECKPOINTS}/{LATEST}", lambda values: check_latest(values, self.config.epochs))

    def best_record(self) -> dict[str, Any] | None:
        """checkpoints/best.json (checked): the epoch and score of best.keras, or None before one."""
        return self._read_record(f"{CHECKPOINTS}/{BEST_RECORD}", check_best)

    def latest_checkpoint(self) -> Path | None:
        """The committed checkpoint file, checked to be there, or None before the first epoch ended."""
        state = self.latest_state()
        if state is None:
            return None
        path = self.checkpoints_dir / state["file"]  # a plain name: check_latest allows no folder or '..'
        what = what_is_at(path)
        if what is not None:
            raise RunError(f"{self.checkpoints_dir / LATEST} names {state['file']}, which is {what}; restore it, "
                           "or train the run again into a new --run-dir")
        return path

    def commit_point(self) -> dict[str, Any] | None:
        """The checked record of the last completed epoch to resume from, its checkpoint there; None when no
        epoch was ever completed. RunError when training left epochs behind (checkpoints, history rows) without
        the commit point that says which of them is complete: starting over would silently replace them."""
        state = self.latest_state()
        if state is not None:
            self.latest_checkpoint()
            return state
        traces = sorted(p.name for p in self.checkpoints_dir.glob("*.keras") if not is_temporary(p))
        traces = [MODEL] * self.finished + traces
        rows = len(self.history)
        traces += [f"{rows} epoch(s) of {HISTORY}"] if rows else []
        if traces:
            advice = ("its model.keras is complete: use the run as it is, or train a new one with --run-dir NEW_DIR"
                      if self.finished else "restore it from a copy, or start the run again with --overwrite")
            raise RunError(f"cannot resume: {self.checkpoints_dir / LATEST}, the commit point, is "
                           f"{what_is_at(self.checkpoints_dir / LATEST)} although the run holds "
                           f"{', '.join(traces)}; {advice}")
        return None

    def never_trained(self) -> bool:
        """Whether the run was stopped before its first epoch ended: a config (perhaps a normalizer and a
        manifest) but no commit point, checkpoint, history row or model, so nothing in it is worth keeping."""
        if what_is_at(self.path / CONFIG) is not None:
            return False
        # only what training writes before its first epoch ends; a folder with anything else is not ours to clear
        if any(p.name not in _BEFORE_FIRST_EPOCH and not is_temporary(p) for p in self.path.iterdir()):
            return False
        if self.checkpoints_dir.is_dir() and any(not is_temporary(p) for p in self.checkpoints_dir.iterdir()):
            return False
        history = self.path / HISTORY
        if what_is_at(history) == "missing":
            return True
        try:
            return len(read_checked_bytes(history, 1 << 20, "").splitlines()) <= 1  # a header, no row
        except RunError:
            return False  # something unreadable is there: not ours to throw away

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

    def _present(self, name: str) -> bool:
        """Whether something is at ``name``; a folder or pipe where the file should be is present (and refused
        when read), only nothing at all is absent."""
        return what_is_at(self.path / name) != "missing"

    def _advice(self, name: str) -> str:
        """What to do about a damaged ``name``. A record only training writes cannot be rebuilt, so the run is
        trained again into a new directory (the damaged one stays for inspection); evaluate rewrites metrics.json."""
        if name == CONFIG:
            return "restore it from a copy; without it the run cannot be used or trained again"
        if name == METRICS:
            return f"delete it and run 'cnnlab evaluate {self.path}' to write it again"
        if not self.finished:  # nothing finished to lose: the same directory can be trained again
            return "restore it from a copy, or train the run again with --overwrite"
        return (f"restore it from a copy, or train the run again with 'cnnlab train --config {self.path / CONFIG} "
                "--run-dir NEW_DIR'")

    def _read_json(self, name: str) -> Any:
        path = self.path / name
        advice = self._advice(name)
        data = read_checked_bytes(path, JSON_LIMIT, advice)
        try:
            return json.loads(data.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise RunError(f"{path} is not valid JSON ({first_line(err, 120)}); the run directory is damaged: "
                           f"{advice}") from None

    def _read_record(self, name: str, check) -> Any:
        """An optional JSON record, checked by ``check`` (from run_files); None when absent."""
        if not self._present(name):
            return None
        values = self._read_json(name)
        try:
            return check(values)
        except Invalid as err:
            raise RunError(f"{self.path / name} is damaged ({err}); {self._advice(name)}") from None

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
    # a writer killed before its rename leaves only a temporary file: the folder holds nothing yet
    exists = path.exists() and (not path.is_dir() or any(not is_temporary(p) for p in path.iterdir()))
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
    """Check what is at ``path`` against the flags and return the Run to write into, without the temporary
    files of a writer that was killed (they are never a commit point).

    A run stopped before its first epoch ended holds nothing worth keeping: it is started again, with or without
    ``--resume`` or ``--overwrite``. A finished run is never replaced without ``--overwrite``, and the refusal
    suggests a new directory rather than ``--overwrite``, which would throw its model away.
    """
    run = Run(path)
    if path.is_dir() and run.never_trained():
        resume, overwrite = False, True
    elif not resume and not overwrite and what_is_at(path / CONFIG) is None:
        if run.finished:
            raise RunError(f"{path} already holds a finished run (its model.keras); train the new one into another "
                           "--run-dir")
        raise RunError(f"{path} already holds a run stopped before its last epoch; pass --resume to continue it "
                       "or --overwrite to replace it")
    prepare_output_dir(path, CONFIG, "run", "--run-dir", resume, overwrite)
    remove_temporaries(path)
    remove_temporaries(run.checkpoints_dir)
    return run


def resumable(path: Path) -> bool:
    """Whether ``--resume`` at ``path`` continues trained epochs (False: the run never completed one, so it is
    started again); not-a-run folders answer True so that preparing the folder refuses them."""
    return not (path.is_dir() and Run(path).never_trained())


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
