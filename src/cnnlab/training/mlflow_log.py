"""Copy a finished run into MLflow (``--mlflow URI``): its config as params, its history as per-epoch metrics
(step = epoch), its test result, and its files as artifacts.

The run directory stays the record; MLflow gets a copy made from it once training has ended, so what MLflow shows
is exactly what the run holds (a resumed run is logged whole). MLflow is imported only here, and only when
``--mlflow`` is given: it comes with the tracking extra (``pip install 'cnnlab[tracking]'``).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

from cnnlab.errors import ConfigError
from cnnlab.run import CONFIG, HISTORY, MANIFEST, METRICS, MODEL, MODEL_CARD, NORMALIZER, Run

EXPERIMENT = "cnnlab"  # the MLflow experiment runs go to unless told otherwise
ARTIFACTS = (MODEL, CONFIG, MANIFEST, HISTORY, METRICS, MODEL_CARD, NORMALIZER)
REPORT = "report"
ALLOW_FILE_STORE = "MLFLOW_ALLOW_FILE_STORE"  # readers of a folder store set it too (see docs/REPORTS.md)
_PARAM_LIMIT = 500  # characters: the smallest limit of the MLflow versions in use


def check_mlflow(uri: str, flag: str = "--mlflow") -> str:
    """Refuse ``--mlflow URI`` before any training when the tracking extra is missing or the URI is unusable;
    returns the tracking URI MLflow is given (a plain folder becomes a ``file:`` URI of its absolute path)."""
    from cnnlab.extras import require_extra

    require_extra("tracking", flag)
    if not uri.strip():
        raise ConfigError(f"{flag} needs a folder or a tracking server URL, e.g. {flag} mlruns")
    if "://" in uri or uri.startswith(("file:", "sqlite:", "databricks")):
        return uri
    folder = Path(uri).expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{flag} {uri} is a file; give a folder for MLflow's records or a server URL")
    # MLflow 3 keeps its folder store working but refuses it unless told (it steers to a database instead)
    os.environ.setdefault(ALLOW_FILE_STORE, "true")
    return folder.as_uri()


def log_run(run: Run, tracking_uri: str, experiment: str = EXPERIMENT, tags: dict[str, str] | None = None) -> str:
    """Log ``run`` (finished) to the MLflow tracking store at ``tracking_uri``; returns the MLflow run id.

    Example:
        >>> run_id = log_run(Run.load("runs/demo"), check_mlflow("mlruns"))  # doctest: +SKIP
        >>> mlflow.set_tracking_uri("mlruns"); mlflow.search_runs(experiment_names=["cnnlab"])  # doctest: +SKIP
    """
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found is not None else client.create_experiment(experiment)
    config = run.config
    all_tags = {"cnnlab.run_dir": str(run.path.resolve()), "cnnlab.dataset": config.dataset,
                "cnnlab.model": config.model, **(tags or {})}
    mlflow_run = client.create_run(experiment_id, run_name=run.path.name, tags=all_tags)
    run_id = mlflow_run.info.run_id
    try:
        params = [Param(key, value) for key, value in params_of(run).items()]
        now = int(time.time() * 1000)
        metrics = [Metric(key, value, now, step) for key, value, step in metrics_of(run)]
        for start in range(0, len(metrics), 900):  # MLflow takes at most 1,000 metrics a batch
            client.log_batch(run_id, metrics=metrics[start:start + 900], params=params if start == 0 else [])
        if not metrics:
            client.log_batch(run_id, params=params)
        for name in ARTIFACTS:
            if (run.path / name).is_file():
                client.log_artifact(run_id, str(run.path / name))
        if (run.path / REPORT).is_dir():
            client.log_artifacts(run_id, str(run.path / REPORT), artifact_path=REPORT)
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED")
    return run_id


def params_of(run: Run) -> dict[str, str]:
    """The run's config (model options as ``option.NAME``) and its data's origin, as MLflow params (text)."""
    from cnnlab.training.tracking import hparam_values

    params = {key: str(value) for key, value in hparam_values(run.config).items()}
    data = run.manifest.get("data", {})
    params["data_source"] = str(data.get("source", ""))
    params["precision_used"] = str(run.manifest.get("precision", ""))
    return {key: value[:_PARAM_LIMIT] for key, value in params.items()}


def metrics_of(run: Run) -> list[tuple[str, float, int]]:
    """``(name, value, step)``: every history column at step = epoch, then the test accuracy and loss at the last
    epoch (as ``test_accuracy``, ``test_loss``)."""
    history = run.history
    figures = []
    for row in history.to_dict("records"):
        for column, value in row.items():
            if column != "epoch" and _finite(value):
                figures.append((column, float(value), int(row["epoch"])))
    metrics = run.metrics or {}
    last = int(history["epoch"].max()) if len(history) else 0
    for name in ("accuracy", "loss"):
        if metrics.get("split") == "test" and _finite(metrics.get(name)):
            figures.append((f"test_{name}", float(metrics[name]), last))
    return figures


def _finite(value: Any) -> bool:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)
