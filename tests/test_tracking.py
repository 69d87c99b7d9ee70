"""Tracking: TensorBoard steps are epochs, the test result and HParams are logged (checked through a real
TensorBoard server's HParams API), and ``--mlflow`` logs a run that MLflow's own client finds."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from cnnlab.training.tracking import write_group_hparams


def _scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value)] of the summaries in one logs/ folder (other records: value None)."""
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    def value(event) -> float | None:
        array = tf.make_ndarray(event.tensor_proto)
        return float(array) if array.ndim == 0 and array.dtype.kind == "f" else None

    return {tag: [(event.step, value(event)) for event in events.Tensors(tag)] for tag in events.Tags()["tensors"]}


def test_a_run_logs_epochs_as_steps_and_its_test_result(tiny_run):
    logs = tiny_run.logs_dir
    history, metrics = tiny_run.history, tiny_run.metrics
    train = _scalars(logs / "train")
    assert [step for step, _ in train["epoch_accuracy"]] == list(history["epoch"]) == [1]  # epoch 1 is step 1
    assert train["epoch_accuracy"][0][1] == pytest.approx(history["accuracy"].iloc[0], abs=1e-6)
    assert _scalars(logs / "validation")["epoch_accuracy"][0][1] == pytest.approx(history["val_accuracy"].iloc[0],
                                                                                  abs=1e-6)
    test = _scalars(logs / "test")
    assert test["epoch_accuracy"] == [(1, pytest.approx(metrics["accuracy"], abs=1e-6))]
    assert test["epoch_loss"] == [(1, pytest.approx(metrics["loss"], abs=1e-5))]
    assert "_hparams_/session_start_info" in _scalars(logs)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _session_groups(logdir: Path, expected: int) -> list[dict]:
    """The HParams tab's rows, from a real TensorBoard server on 127.0.0.1 (waits until ``expected`` are in)."""
    tensorboard = Path(sys.executable).with_name("tensorboard")
    port = _free_port()
    process = subprocess.Popen([str(tensorboard), "--logdir", str(logdir), "--host", "127.0.0.1",
                                "--port", str(port), "--reload_interval", "1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    query = {"experimentName": "", "startIndex": 0, "sliceSize": 100, "colParams": [],
             "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]}
    groups: list[dict] = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and len(groups) < expected:
            assert process.poll() is None, "tensorboard exited"
            try:
                groups = _post(f"http://127.0.0.1:{port}/data/plugin/hparams/session_groups", query)
                groups = groups.get("sessionGroups", [])
            except OSError:
                pass
            time.sleep(1)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return groups


@pytest.mark.slow
def test_tensorboard_hparams_tab_lists_runs_and_group_members(tiny_run, tmp_path):
    shutil.copytree(tiny_run.path / "logs", tmp_path / "runs" / "tiny" / "logs")
    write_group_hparams(tmp_path / "group" / "logs",
                        [("seed-0", {"seed": 0, "dropout": 0.5}, {"test_accuracy": 0.91}),
                         ("seed-1", {"seed": 1, "dropout": 0.5}, {"test_accuracy": 0.93})])
    groups = _session_groups(tmp_path, expected=3)
    by_session = {group["sessions"][0]["name"]: group for group in groups}
    assert set(by_session) == {"runs/tiny/logs", "group/logs/seed-0", "group/logs/seed-1"}
    run = by_session["runs/tiny/logs"]
    assert run["hparams"]["model"] == tiny_run.config.model and run["hparams"]["limit"] == 3000
    figures = {(m["name"]["group"], m["name"]["tag"]): (m["value"], m["trainingStep"]) for m in run["metricValues"]}
    assert figures[("test", "epoch_accuracy")] == (pytest.approx(tiny_run.metrics["accuracy"], abs=1e-6), 1)
    assert figures[("validation", "epoch_loss")][1] == 1
    seed = by_session["group/logs/seed-1"]
    assert seed["hparams"] == {"seed": 1, "dropout": 0.5}
    seed_figures = {m["name"]["tag"]: m["value"] for m in seed["metricValues"]}
    assert seed_figures == {"test_accuracy": pytest.approx(0.93)}  # the run's own figures are no columns here


def test_group_hparams_are_rewritten_whole(tmp_path):
    logs = tmp_path / "logs"
    write_group_hparams(logs, [("c00", {"dropout": 0.0}, {"cv_accuracy": 0.5})])
    write_group_hparams(logs, [("c00", {"dropout": 0.0}, {"cv_accuracy": 0.6}),
                               ("c01", {"dropout": 0.5}, {"cv_accuracy": float("nan")})])
    assert sorted(p.name for p in logs.iterdir() if p.is_dir()) == ["c00", "c01"]
    assert [value for _, value in _scalars(logs / "c00")["cv_accuracy"]] == [pytest.approx(0.6)]
    assert "cv_accuracy" not in _scalars(logs / "c01")  # an undefined figure is left out, not logged as NaN


# -------------------------------------------------------------------- MLflow

@pytest.mark.slow
def test_train_with_mlflow_folder_is_found_by_mlflows_own_client(tmp_path, cli, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 reads a folder store only when told
    store, run_dir = tmp_path / "mlruns", tmp_path / "run"
    code, out, err = cli("train", "--recipe", "fast", "--epochs", "2", "--limit", "1500", "--val-split", "300",
                         "--run-dir", str(run_dir), "--quiet", "--json", "--mlflow", str(store))
    assert code == 0, err
    mlflow_run_id = json.loads(out)["mlflow_run_id"]
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(store.as_uri())
    found = mlflow.search_runs(experiment_names=["cnnlab"])
    assert list(found["run_id"]) == [mlflow_run_id]
    row = found.iloc[0]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert row["status"] == "FINISHED" and row["params.model"] == "fastcnn" and row["params.limit"] == "1500"
    assert row["metrics.test_accuracy"] == pytest.approx(metrics["accuracy"])
    client = MlflowClient(store.as_uri())
    history = [(m.step, m.value) for m in client.get_metric_history(mlflow_run_id, "val_accuracy")]
    recorded = zip(_column(run_dir, "epoch"), _column(run_dir, "val_accuracy"))
    assert history == [(int(epoch), pytest.approx(value)) for epoch, value in recorded]
    assert [step for step, _ in history] == [1, 2]
    artifacts = {a.path for a in client.list_artifacts(mlflow_run_id)}
    assert {"model.keras", "config.json", "manifest.json", "history.csv", "metrics.json", "MODEL_CARD.md"} <= artifacts


def _column(run_dir: Path, name: str) -> list[float]:
    import pandas as pd

    return [float(x) for x in pd.read_csv(run_dir / "history.csv")[name]]


def test_mlflow_is_refused_before_training_without_the_tracking_extra(tmp_path):
    script = ("import sys\nsys.modules['mlflow'] = None\nfrom cnnlab.cli import main\n"
              f"sys.exit(main(['train', '--epochs', '1', '--limit', '500', '--run-dir', {str(tmp_path / 'r')!r}, "
              f"'--mlflow', {str(tmp_path / 'm')!r}]))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip() == "cnnlab: error: --mlflow needs the tracking extra: pip install 'cnnlab[tracking]'"
    assert not (tmp_path / "r").exists()  # refused before anything was trained or written


@pytest.mark.slow
def test_repeat_with_mlflow_logs_every_seed_tagged_with_its_group(tmp_path, cli, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    store, group = tmp_path / "mlruns", tmp_path / "group"
    code, out, err = cli("repeat", "--model", "fastcnn", "--epochs", "1", "--limit", "400", "--val-split", "100",
                         "--seeds", "2", "--quiet", "--json", "--out", str(group), "--mlflow", str(store),
                         "--mlflow-experiment", "seeds")
    assert code == 0, err
    shown = json.loads(out)
    import mlflow

    mlflow.set_tracking_uri(store.as_uri())
    found = mlflow.search_runs(experiment_names=["seeds"]).sort_values("params.seed")
    assert sorted(found["run_id"]) == sorted(shown["mlflow_run_ids"])
    assert list(found["params.seed"]) == ["0", "1"]
    assert set(found["tags.cnnlab.group"]) == {str(group.resolve())}
    assert list(found["metrics.test_accuracy"]) == [pytest.approx(r["test_accuracy"]) for r in shown["runs"]]
