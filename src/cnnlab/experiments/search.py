"""Grid search with stratified k-fold cross-validation on the training images (the test set is never used).

A search directory is written like a run, one file at a time and atomically::

    search.json   the base config, the grid, the number of folds, the subset and the seed
    results.csv   one row per combination x fold, appended as each fold finishes (a killed search resumes
                  from it, skipping finished folds)
    summary.csv   one row per combination: mean +- std of validation accuracy over the folds, time per fold
    summary.png   the same as a bar chart
    logs/         TensorBoard HParams: one session a combination (logs/c00 ...), its grid values and CV figures
    folds/c00-f0/ the run of combination 0 on fold 0 (its held-out fold is its validation set and the
                  only images it is evaluated on; its checkpoints are removed once the fold is finished)
    refit/        with ``refit``: the best combination trained on all the (subset's) training images and
                  evaluated on the test set

Every combination sees the same folds (``StratifiedKFold(shuffle=True, random_state=seed)``) and the same
training seed, so the differences between combinations come from the hyperparameters alone.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from cnnlab.config import TrainConfig
from cnnlab.data.sources import load_dataset
from cnnlab.data.splits import fold_indices
from cnnlab.errors import ConfigError, RunError
from cnnlab.evaluation import Predictor, metrics_from_logits
from cnnlab.experiments.stats import paired_test
from cnnlab.fileio import atomic_write_text, jsonable, read_checked_csv, write_json
from cnnlab.run import CHECKPOINTS, METRICS, Run, continue_or_clear, prepare_output_dir
from cnnlab.training.tracking import write_group_hparams
from cnnlab.training.train import Splits, check_network, train

SEARCH_VERSION = 1
SEARCH_FILE = "search.json"
RESULT_COLUMNS = ["combination", "fold", "val_accuracy", "val_loss", "epochs", "seconds", "run_dir"]


# -------------------------------------------------------------------- the grid


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """``["learning_rate=1e-3,3e-3", "dropout=0,0.5"]`` -> ``{"learning_rate": [0.001, 0.003], ...}``.

    Values are read as JSON where they can be (numbers, ``null``, ``true``), else kept as text. Dashes in
    keys become underscores, so ``learning-rate=...`` works too.

    Example:
        >>> parse_grid(["learning-rate=1e-3,3e-3", "dropout=0,0.5"])
        {'learning_rate': [0.001, 0.003], 'dropout': [0, 0.5]}
    """
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        values = [_value(v.strip()) for v in text.split(",") if v.strip()]
        if not sep or not key or not values:
            raise ConfigError(f"--grid {item!r} is not KEY=V1,V2,..., e.g. --grid learning_rate=1e-3,3e-3")
        if key in grid:
            raise ConfigError(f"--grid {key} is given twice; list all its values in one --grid")
        if len(set(map(repr, values))) != len(values):
            raise ConfigError(f"--grid {key} repeats a value ({text}); list each value once")
        grid[key] = values
    if not grid:
        raise ConfigError("a search needs at least one --grid KEY=V1,V2,...")
    return grid


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


@dataclass(frozen=True)
class SearchSpec:
    """What a search does: every combination of ``grid`` on top of ``base``, ``folds``-fold cross-validated.

    ``grid`` keys are config fields (``learning_rate``, ``dropout``, ...) or options of the model
    (``dense_units``, ...). ``subset`` takes the first N training images (None = all of them).
    """

    base: TrainConfig
    grid: dict[str, list[Any]]
    folds: int = 3
    subset: int | None = None

    def validate(self) -> "SearchSpec":
        if not isinstance(self.folds, int) or self.folds < 2:
            raise ConfigError(f"folds {self.folds!r} is out of range: use a whole number >= 2")
        if self.subset is not None and self.subset < 10 * self.folds:
            raise ConfigError(f"limit {self.subset} is too small for {self.folds} folds; use at least "
                              f"{10 * self.folds} images")
        if self.base.distribute == "multiworker":
            raise ConfigError("a search trains many models in one process; use --distribute none or mirrored")
        built = set()
        for combination in self.combinations():  # refuse a bad value before anything is trained
            config = self.config_for(combination)
            network = (config.model, repr(sorted(config.model_options.items())))
            if network not in built:  # e.g. a kernel larger than the image: only building the network tells
                built.add(network)
                _check_buildable(config, combination)
        return self

    def combinations(self) -> list[dict[str, Any]]:
        keys = list(self.grid)
        return [dict(zip(keys, values)) for values in itertools.product(*(self.grid[k] for k in keys))]

    def config_for(self, combination: dict[str, Any]) -> TrainConfig:
        """The training config of one combination (trained on a fold: no split of its own, no limit)."""
        fields = {f.name for f in dataclasses.fields(TrainConfig)}
        options = dict(self.base.model_options)
        changes: dict[str, Any] = {"limit": None, "val_split": 0}
        for key, value in combination.items():
            if key in fields:
                if key in ("limit", "val_split", "val_mode", "seed", "dataset", "model_options", "distribute"):
                    raise ConfigError(f"--grid {key} cannot be searched; the search sets it itself")
                changes[key] = value
            else:
                options[key] = value
        if options != self.base.model_options:
            changes["model_options"] = options
        try:
            return self.base.replace(**changes)
        except ConfigError as err:
            raise ConfigError(f"grid combination {label(combination)}: {err}") from None

    def to_dict(self) -> dict[str, Any]:
        return {"cnnlab_search": SEARCH_VERSION, "base": self.base.to_dict(), "grid": self.grid,
                "folds": self.folds, "subset": self.subset, "seed": self.base.seed}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "SearchSpec":
        return cls(TrainConfig.from_dict(values["base"]), values["grid"], values["folds"], values["subset"])


def _check_buildable(config: TrainConfig, combination: dict[str, Any]) -> None:
    try:
        check_network(config)
    except ConfigError as err:
        raise ConfigError(f"grid combination {label(combination)}: {err}") from None


def label(combination: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in combination.items())


# -------------------------------------------------------------------- running


@dataclass
class SearchResult:
    path: Path
    spec: SearchSpec
    results: pd.DataFrame  # one row per combination x fold
    summary: pd.DataFrame  # one row per combination, best first
    refit: dict[str, Any] | None = None

    def best(self) -> dict[str, Any]:
        return self.summary.iloc[0].to_dict()

    def to_dict(self) -> dict[str, Any]:
        return {"search_dir": str(self.path), "grid": self.spec.grid, "folds": self.spec.folds,
                "subset": self.spec.subset, "seed": self.spec.base.seed,
                "summary": _records(self.summary), "best": _records(self.summary.head(1))[0],
                "margin": margin(self.summary, self.results), "refit": self.refit}


def run_search(
    spec: SearchSpec,
    out_dir: str | os.PathLike,
    *,
    resume: bool = False,
    overwrite: bool = False,
    refit: bool = False,
    data_dir: str | os.PathLike | None = None,
    dataset=None,
    on_start: Callable[[], None] | None = None,
    on_fold: Callable[[dict[str, Any]], None] | None = None,
) -> SearchResult:
    """Run (or resume) a search into ``out_dir``, calling ``on_start`` and ``on_fold`` as it goes.

    ``on_start()`` is called once the directory and the data are accepted, ``on_fold(row)`` after every
    finished fold.

    Example:
        >>> spec = SearchSpec(TrainConfig.from_recipe("default", epochs=1), {"dropout": [0.0, 0.5]}, 3, 6000)
        >>> result = run_search(spec, "runs/search-demo")  # doctest: +SKIP
        >>> result.best()["combination"]  # doctest: +SKIP
    """
    spec.validate()
    data = dataset if dataset is not None else load_dataset(spec.base.dataset, data_dir)  # may refuse: first
    path = _prepare(Path(out_dir), spec, resume, overwrite)
    x, y = data.x_train, data.y_train
    if spec.subset is not None:
        x, y = x[:spec.subset], y[:spec.subset]
    if on_start is not None:
        on_start()
    results = read_results(path)
    finished = {(int(r.combination), int(r.fold)) for r in results.itertuples()}
    rows = results.to_dict("records")
    for fold, (train_index, held_out) in enumerate(fold_indices(y, spec.folds, spec.base.seed)):
        splits = Splits(x[train_index], y[train_index], x[held_out], y[held_out])  # the test set stays out
        for index, combination in enumerate(spec.combinations()):
            if (index, fold) in finished:
                continue
            row = _run_fold(path, spec, index, combination, fold, data, splits)
            rows.append(row)
            atomic_write_text(path / "results.csv", pd.DataFrame(rows, columns=_columns(spec)).to_csv(index=False))
            if on_fold is not None:
                on_fold({**row, "label": label(combination), "finished": len(rows),
                         "total": len(spec.combinations()) * spec.folds})
    results = read_results(path)
    summary = summarize(results, spec)
    atomic_write_text(path / "summary.csv", summary.to_csv(index=False))
    summary_figure(summary).savefig(path / "summary.png")
    _write_hparams(path, spec, summary)
    refit_result = _refit(path, spec, summary, data) if refit else None
    return SearchResult(path, spec, results, summary, refit_result)


def read_results(path: Path) -> pd.DataFrame:
    """The finished folds in ``results.csv``; a file edited or damaged by hand is a one-line error."""
    file = path / "results.csv"
    if not file.exists() or file.stat().st_size == 0:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    return read_checked_csv(file, RESULT_COLUMNS, {"combination": int, "fold": int, "val_accuracy": float},
                            "start again with --overwrite")


def _prepare(path: Path, spec: SearchSpec, resume: bool, overwrite: bool) -> Path:
    # a search is recognised by its search.json, so --overwrite replaces even one whose search.json is damaged
    if prepare_output_dir(path, SEARCH_FILE, "search", "--out", resume, overwrite):
        if _read_spec(path).to_dict() != spec.to_dict():
            raise RunError(f"{path} holds a different search; resume it with the same options or choose another --out")
        return path
    write_json(path / SEARCH_FILE, spec.to_dict())
    return path


def _read_spec(path: Path) -> SearchSpec | None:
    file = path / SEARCH_FILE
    if not file.is_file():
        return None
    try:
        return SearchSpec.from_dict(json.loads(file.read_text()))
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise RunError(f"{file} is damaged ({type(err).__name__}); start again with --overwrite") from None


def _columns(spec: SearchSpec) -> list[str]:
    return [*RESULT_COLUMNS[:2], *spec.grid, *RESULT_COLUMNS[2:]]


def _run_fold(path: Path, spec: SearchSpec, index: int, combination: dict[str, Any], fold: int, data,
              splits: Splits) -> dict[str, Any]:
    """Train one combination on one fold (resuming its run if a killed search left one) and score it on the
    fold's held-out images: its validation set, and the only images it is evaluated on."""
    run_dir = path / "folds" / f"c{index:02d}-f{fold}"
    config = spec.config_for(combination)
    start = time.perf_counter()
    run = train(config, run_dir, resume=continue_or_clear(run_dir), dataset=data, splits=splits,
                evaluate_test=False)
    seconds = time.perf_counter() - start
    logits = Predictor(run.load_model()).logits(splits.x_val)
    metrics = metrics_from_logits(logits, splits.y_val, data.class_names, f"cv-fold {fold + 1} of {spec.folds}")
    run.write_metrics(metrics)
    shutil.rmtree(run.path / CHECKPOINTS, ignore_errors=True)  # finished: model.keras is kept
    return {"combination": index, "fold": fold, **combination, "val_accuracy": metrics["accuracy"],
            "val_loss": metrics["loss"], "epochs": int(len(Run(run_dir).history)), "seconds": round(seconds, 2),
            "run_dir": str(run_dir.relative_to(path))}


# -------------------------------------------------------------------- summaries


def summarize(results: pd.DataFrame, spec: SearchSpec) -> pd.DataFrame:
    """One row per combination: mean +- std of validation accuracy and loss over folds, seconds per fold.

    Rows are sorted best first; ``margin`` is how far each mean is below the best one.
    """
    rows = []
    for index, combination in enumerate(spec.combinations()):
        folds = results[results["combination"] == index]
        accuracy = folds["val_accuracy"].astype(float)
        rows.append({
            "combination": index, "label": label(combination), **combination, "folds": int(len(folds)),
            "mean_val_accuracy": float(accuracy.mean()) if len(folds) else math.nan,
            "std_val_accuracy": float(accuracy.std(ddof=1)) if len(folds) > 1 else math.nan,
            "mean_val_loss": float(folds["val_loss"].astype(float).mean()) if len(folds) else math.nan,
            "seconds_per_fold": float(folds["seconds"].astype(float).mean()) if len(folds) else math.nan,
        })
    summary = pd.DataFrame(rows).sort_values("mean_val_accuracy", ascending=False, kind="stable")
    summary["rank"] = np.arange(1, len(summary) + 1)
    summary["margin"] = summary["mean_val_accuracy"].iloc[0] - summary["mean_val_accuracy"]
    return summary.reset_index(drop=True)


def margin(summary: pd.DataFrame, results: pd.DataFrame) -> dict[str, Any] | None:
    """How far the best combination is ahead of the runner-up, with a paired t-test over their folds."""
    if len(summary) < 2:
        return None
    best, second = summary.iloc[0], summary.iloc[1]
    a = results[results["combination"] == best["combination"]].sort_values("fold")
    b = results[results["combination"] == second["combination"]].sort_values("fold")
    common = sorted(set(a["fold"]) & set(b["fold"]))
    a, b = a[a["fold"].isin(common)], b[b["fold"].isin(common)]
    test = paired_test(b["val_accuracy"].to_numpy(), a["val_accuracy"].to_numpy())
    return {"best": best["label"], "runner_up": second["label"],
            "difference": float(best["mean_val_accuracy"] - second["mean_val_accuracy"]),
            "paired_folds": len(common), "p_value": test["p_value"]}


def summary_figure(summary: pd.DataFrame):
    """Mean validation accuracy per combination with +-1 std error bars, the best one highlighted."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 1.2 + 0.45 * len(summary)), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    order = summary.iloc[::-1]  # best at the top
    colors = ["#d62728" if rank == 1 else "#1f77b4" for rank in order["rank"]]
    ax.barh(order["label"], 100 * order["mean_val_accuracy"], xerr=100 * order["std_val_accuracy"].fillna(0),
            color=colors, capsize=3)
    low = 100 * (order["mean_val_accuracy"] - order["std_val_accuracy"].fillna(0)).min()
    ax.set_xlim(max(0.0, low - 1.0), 100.0)
    ax.set_xlabel("cross-validated accuracy (%), mean +- std over folds")
    ax.set_title(f"grid search, {int(summary['folds'].max())}-fold cross-validation (best in red)")
    return fig


def _write_hparams(path: Path, spec: SearchSpec, summary: pd.DataFrame) -> None:
    """``logs/``: one TensorBoard HParams session a combination (``logs/c00`` ...) with its grid values and its
    cross-validated accuracy and loss, so TensorBoard's HParams tab lists and sorts the combinations."""
    combinations = spec.combinations()
    sessions = [(f"c{int(row['combination']):02d}", combinations[int(row["combination"])],
                 {"cv_accuracy": row["mean_val_accuracy"], "cv_accuracy_std": row["std_val_accuracy"],
                  "cv_loss": row["mean_val_loss"]})
                for row in summary.to_dict("records")]
    write_group_hparams(path / "logs", sessions)


def _refit(path: Path, spec: SearchSpec, summary: pd.DataFrame, data) -> dict[str, Any]:
    """Train the best combination on all (subset) training images and evaluate it on the test set."""
    combination = spec.combinations()[int(summary.iloc[0]["combination"])]
    config = spec.config_for(combination).replace(limit=spec.subset, val_split=0)
    run_dir = path / "refit"
    if not (run_dir / METRICS).exists():
        train(config, run_dir, resume=continue_or_clear(run_dir), dataset=data)
    return _refit_summary(run_dir)


def _refit_summary(run_dir: Path) -> dict[str, Any]:
    run = Run.load(run_dir)
    metrics = run.metrics or {}
    return {"run_dir": str(run_dir), "test_accuracy": metrics.get("accuracy"), "test_loss": metrics.get("loss")}


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return jsonable(frame.to_dict("records"))
