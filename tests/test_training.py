"""Training into a run directory: its contents, reproducibility, exact resume, refusals, evaluation."""

from __future__ import annotations

import json

import keras
import numpy as np
import pandas as pd
import pytest

from cnnlab.config import TrainConfig
from cnnlab.errors import RunError
from cnnlab.data.splits import split_validation
from cnnlab.data.normalize import Normalizer
from cnnlab.evaluation import Predictor, evaluate, metrics_from_logits
from cnnlab.run import config_for_resume
from cnnlab.training.train import train
from cnnlab.run import HISTORY_COLUMNS, Run

# Small enough to train in seconds, big enough to learn: 1,200 images, a narrow digitcnn.
# 1,000 training images in batches of 64 = 16 batches an epoch, run 4 per compiled call (6 does not divide 16).
SMALL = dict(model="digitcnn", limit=1200, val_split=200, epochs=3, batch_size=64, steps_per_execution=6,
             model_options={"conv_1_channels": 8, "conv_2_channels": 16, "dense_units": 64})
COMPARED = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"]


def test_a_run_directory_holds_everything_that_rebuilds_and_traces_the_run(tiny_run):
    path = tiny_run.path
    for name in ("config.json", "manifest.json", "normalizer.json", "history.csv", "metrics.json",
                 "model.keras", "checkpoints/best.keras", "checkpoints/latest.json"):
        assert (path / name).is_file(), name
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(path / "logs" / "train"))
    events.Reload()
    assert events.Tags()["graph"], "TensorBoard op graph"
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= set(events.Tags()["tensors"])
    manifest = tiny_run.manifest
    assert manifest["data"]["sha256"]["train-images-idx3-ubyte"].startswith("ba891046")
    assert {"python", "tensorflow", "keras", "numpy"} <= set(manifest["versions"])
    assert manifest["seed"] == 1 and manifest["wall_seconds"] > 0 and manifest["machine"]["cpu_count"] >= 1
    history = tiny_run.history
    assert list(history.columns) == HISTORY_COLUMNS and history["epoch"].tolist() == [1]
    assert history["images_per_second"].iloc[0] > 0


def test_run_load_gives_back_what_downstream_commands_need(tiny_run, mnist):
    run = Run.load(tiny_run.path)
    assert run.config.dataset == "mnist" and run.class_names[3] == "3"
    assert run.normalizer.kind == run.config.normalization
    model = run.load_model()
    logits = model.predict(mnist.x_test[:300].reshape(-1, 28, 28), verbose=0)  # raw pixels: it normalizes them
    # one epoch on 2,700 heavily augmented images learns digits (chance: 10 %)
    assert (logits.argmax(1) == mnist.y_test[:300]).mean() > 0.6
    assert run.summary()["test_accuracy"] == run.metrics["accuracy"]


def test_evaluate_matches_scikit_learn_and_the_stored_metrics(tiny_run, mnist):
    from sklearn.metrics import accuracy_score, confusion_matrix

    metrics, stored = evaluate(tiny_run), tiny_run.metrics
    assert metrics["accuracy"] == stored["accuracy"] and metrics["loss"] == pytest.approx(stored["loss"])
    assert metrics["confusion_matrix"] == stored["confusion_matrix"]
    logits = tiny_run.load_model().predict(mnist.x_test.reshape(-1, 28, 28), verbose=0)
    predicted = logits.argmax(1)
    assert metrics["confusion_matrix"] == confusion_matrix(mnist.y_test, predicted).tolist()
    assert metrics["accuracy"] == pytest.approx(accuracy_score(mnist.y_test, predicted))
    assert sum(c["support"] for c in metrics["per_class"]) == 10000


def test_several_steps_per_call_train_exactly_the_epochs_of_one_step_per_call(tmp_path, mnist):
    # 1,000 images in batches of 64 are 16 batches an epoch: calls of 6, 6 and 4 steps, never into the next epoch
    config = TrainConfig.from_recipe("default", **SMALL)
    several = train(config, tmp_path / "six", dataset=mnist).history
    single = train(config.replace(steps_per_execution=1), tmp_path / "one", dataset=mnist).history
    assert several["epoch"].tolist() == [1, 2, 3]
    pd.testing.assert_frame_equal(several[COMPARED], single[COMPARED], rtol=1e-5)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])  # integer labels, and one-hot ones
def test_the_training_step_is_traced_once_because_fit_creates_no_variables(label_smoothing):
    import tensorflow as tf

    from cnnlab.training.train import compile_model

    config = TrainConfig.from_recipe("default", model="fastcnn", epochs=1, limit=256, label_smoothing=label_smoothing)
    model = compile_model(config, 2, Normalizer("scale"))
    traces, created = [], []
    step = model.train_step
    model.train_step = lambda data: traces.append(1) or step(data)

    def record(next_creator, **kwargs):
        created.append(kwargs.get("name"))
        return next_creator(**kwargs)

    labels = np.arange(128) % 10
    with tf.variable_creator_scope(record):
        history = model.fit(np.zeros((128, 28, 28, 1), np.float32),
                            keras.utils.to_categorical(labels, 10) if label_smoothing else labels,
                            batch_size=64, epochs=1, verbose=0)
    assert created == [] and len(traces) == 1
    assert 0 <= history.history["accuracy"][0] <= 1


def test_metrics_loss_is_the_mean_cross_entropy():
    logits = np.array([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]], dtype=np.float32)
    labels = np.array([0, 0, 1])
    expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    metrics = metrics_from_logits(logits, labels, ["a", "b"])
    assert metrics["loss"] == pytest.approx(float(expected), rel=1e-5)
    assert metrics["accuracy"] == pytest.approx(1 / 3)


def test_validation_split_evaluation_uses_the_runs_own_split(tiny_run, mnist):
    metrics = evaluate(tiny_run, "val")
    assert metrics["num_images"] == 500
    config = tiny_run.config  # its 500 held-out images, chosen here from the config alone
    *_, x_val, y_val = split_validation(mnist.x_train[:config.limit], mnist.y_train[:config.limit],
                                        config.val_split, config.val_mode, config.seed)
    logits = Predictor(tiny_run.load_model()).logits(x_val)
    assert metrics["accuracy"] == pytest.approx(float((logits.argmax(axis=1) == y_val).mean()))
    # fit's own last validation ran in the training precision (bfloat16 on such CPUs), model.keras is float32
    assert metrics["accuracy"] == pytest.approx(tiny_run.history["val_accuracy"].iloc[-1], abs=2 / 500)


class _KillMidEpoch(keras.callbacks.Callback):
    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.kill_epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == self.kill_epoch and batch >= 5:
            raise KeyboardInterrupt


def test_same_seed_same_history_and_resume_after_a_kill_continues_exactly(tmp_path, mnist):
    config = TrainConfig.from_recipe("default", **SMALL)
    first = train(config, tmp_path / "a", dataset=mnist).history
    second = train(config, tmp_path / "b", dataset=mnist).history
    assert first[COMPARED].equals(second[COMPARED])

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "c", dataset=mnist, callbacks=[_KillMidEpoch(epoch=2)])
    interrupted = Run.load(tmp_path / "c")
    assert interrupted.history["epoch"].tolist() == [1, 2] and not (tmp_path / "c" / "model.keras").exists()
    leftover = tmp_path / "c" / "checkpoints" / ".tmp-99999-epoch-0003.keras"  # what a kill mid-save leaves
    leftover.write_bytes(b"PK half a zip")

    resumed = train(config_for_resume(tmp_path / "c"), tmp_path / "c", resume=True, dataset=mnist).history
    assert not leftover.exists()  # removed at the start, never taken for a checkpoint
    assert resumed["epoch"].tolist() == [1, 2, 3]  # no gap, no duplicate
    assert resumed[COMPARED].equals(first[COMPARED])  # and exactly where it stopped
    manifest = Run.load(tmp_path / "c").manifest
    assert len(manifest["sessions"]) == 2


def test_existing_run_needs_resume_or_overwrite_and_changed_config_is_refused(tiny_run, tmp_path, mnist):
    config = tiny_run.config
    # a finished run: --overwrite would throw its model away, so only a new directory is suggested
    with pytest.raises(RunError, match="already holds a finished run .*another --run-dir") as caught:
        train(config, tiny_run.path, dataset=mnist)
    assert "--overwrite" not in str(caught.value)
    with pytest.raises(RunError, match="changed config .*epochs: 1 -> 2"):
        config_for_resume(tiny_run.path, epochs=2)
    with pytest.raises(RunError, match="nothing to resume"):
        train(config, tmp_path / "empty", resume=True, dataset=mnist)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    with pytest.raises(RunError, match="not a run directory; choose another"):
        train(config, precious, overwrite=True, dataset=mnist)
    assert (precious / "thesis.tex").exists()


def test_run_load_refuses_what_is_not_a_run(tmp_path):
    with pytest.raises(RunError, match="is not a directory"):
        Run.load(tmp_path / "missing")
    with pytest.raises(RunError, match="not a run directory"):
        Run.load(tmp_path)
    (tmp_path / "config.json").write_text("{broken")
    with pytest.raises(RunError, match="not valid JSON"):
        Run.load(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"epochs": -3}))
    with pytest.raises(RunError, match="epochs -3 is out of range"):
        Run.load(tmp_path)


def test_auto_precision_is_recorded_and_the_final_model_is_float32(tiny_run):
    from cnnlab.runtime import cpu_has_native_bfloat16, resolve_precision

    assert tiny_run.config.precision == "auto"
    expected = "mixed_bfloat16" if cpu_has_native_bfloat16() else "float32"
    assert resolve_precision("auto") == expected == tiny_run.manifest["precision"]
    assert resolve_precision("float32") == "float32"
    model = tiny_run.load_model()
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}  # for export and other programs


def test_a_run_of_the_old_format_is_refused_with_how_to_train_it_again(tiny_run, tmp_path, cli):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(tiny_run.path, old)
    manifest = json.loads((old / "manifest.json").read_text())
    (old / "manifest.json").write_text(json.dumps({**manifest, "cnnlab_run": 1}))
    with pytest.raises(RunError, match="older cnnlab .*expects normalized pixels.*--config"):
        Run.load(old).load_model()
    code, out, err = cli("evaluate", str(old))
    assert code == RunError.exit_code and out == "" and len(err.strip().splitlines()) == 1, err
    assert "cnnlab train --config" in err


def test_a_run_killed_in_its_first_epoch_is_resumed_or_run_again_without_overwrite(tmp_path, mnist):
    config = TrainConfig.from_recipe("default", **{**SMALL, "epochs": 1})
    path = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(config, path, dataset=mnist, callbacks=[_KillMidEpoch(epoch=0)])
    assert Run.load(path).never_trained()
    resumed = train(config_for_resume(path), path, resume=True, dataset=mnist)  # starts again: nothing to keep
    assert resumed.history["epoch"].tolist() == [1] and resumed.finished

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "again", dataset=mnist, callbacks=[_KillMidEpoch(epoch=0)])
    (tmp_path / "again" / "normalizer.json").unlink()  # as if killed before it was written
    (tmp_path / "again" / ".tmp-99999-normalizer.json").write_text('{"kind": "stan')
    again = train(config, tmp_path / "again", dataset=mnist)  # no --resume, no --overwrite needed
    assert again.history["epoch"].tolist() == [1] and again.normalizer.kind == config.normalization
    assert not (tmp_path / "again" / ".tmp-99999-normalizer.json").exists()


def test_resume_after_the_commit_point_was_lost_refuses_instead_of_starting_over(tmp_path, mnist):
    config = TrainConfig.from_recipe("default", **{**SMALL, "epochs": 2})
    path = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(config, path, dataset=mnist, callbacks=[_KillMidEpoch(epoch=1)])
    history = (path / "history.csv").read_text()
    (path / "checkpoints" / "latest.json").unlink()
    with pytest.raises(RunError, match="latest.json, the commit point, is missing although the run holds .*"
                                       "1 epoch.s. of history.csv; restore it"):
        train(config_for_resume(path), path, resume=True, dataset=mnist)
    assert (path / "history.csv").read_text() == history  # nothing was replaced


def test_auto_precision_picks_mixed_float16_on_a_gpu(monkeypatch):
    import tensorflow as tf

    from cnnlab.runtime import resolve_precision

    real = tf.config.list_physical_devices
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: ["/physical_device:GPU:0"] if kind == "GPU" else real(kind))
    assert resolve_precision("auto") == "mixed_float16"
    assert resolve_precision("float32") == "float32"


@pytest.mark.slow
def test_mixed_float16_trains_and_saves_a_float32_model(tmp_path, mnist):
    """The GPU's precision, run here on the CPU (slowly, but the same graph): Keras scales the loss, and the run's
    model.keras is float32 like every other."""
    from cnnlab.config import TrainConfig
    from cnnlab.training.train import train

    config = TrainConfig.from_recipe("fast", epochs=1, limit=600, precision="mixed_float16", seed=2)
    run = train(config, tmp_path / "fp16", dataset=mnist)
    assert run.manifest["precision"] == "mixed_float16"
    assert np.isfinite(run.history["loss"]).all() and run.metrics["accuracy"] > 0.3
    assert {layer.dtype_policy.name for layer in run.load_model().layers} == {"float32"}
