"""Keras callbacks that keep a run directory current (history, checkpoints, resume state) and steer the epochs."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import keras

from cnnlab.fileio import commit, temporary_path
from cnnlab.run import BEST, BEST_RECORD, CHECKPOINTS, LATEST, Run


class EpochCounter:
    """The epoch the training data pipeline serves next, as a TF variable the pipeline reads when an epoch's
    iteration starts; its callback sets it at each epoch's beginning.

    Keras's ``fit`` then re-iterates a one-epoch dataset every epoch, and its compiled calls of several steps
    stop at the epoch's end even when the batches of an epoch are no multiple of the steps per call (with one
    endless dataset and ``steps_per_epoch`` they would run on into the next epoch's batches).
    """

    def __init__(self, first_epoch: int) -> None:
        import tensorflow as tf

        self.variable = tf.Variable(first_epoch, dtype=tf.int64, trainable=False, name="data_epoch")

    def callback(self) -> keras.callbacks.Callback:
        variable = self.variable
        return keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs=None: variable.assign(epoch))


def current_learning_rate(optimizer) -> float:
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


class StopOnInvalidLoss(keras.callbacks.Callback):
    """Stop at the first NaN or infinite loss, as Keras's ``TerminateOnNaN`` does, without its print to stdout: the
    training's own one-line error says what happened and what to do."""

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True


class RunRecorder(keras.callbacks.Callback):
    """After every epoch: append a history row, write ``checkpoints/epoch-NNNN.keras`` (model and optimizer
    state), then point ``checkpoints/latest.json`` at it — the rename of that small file is the commit point,
    so a run killed at any moment resumes from a complete epoch with a history that has no gap or duplicate.
    The best epoch by validation accuracy (training accuracy when there is no validation set) is kept as
    ``checkpoints/best.keras``.
    """

    def __init__(self, run: Run, num_train_images: int, history: list[dict[str, Any]],
                 best: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.run = run
        self.num_train_images = num_train_images
        self.rows = list(history)
        self.best = best or {}
        self.checkpoints = run.checkpoints_dir
        self.checkpoints.mkdir(exist_ok=True)
        self._epoch_start = self._train_end = 0.0

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._epoch_start = time.perf_counter()
        self._train_end = 0.0

    def on_test_begin(self, logs=None) -> None:
        # Validation runs inside the epoch: stop the training clock here for images_per_second.
        self._train_end = self._train_end or time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = logs or {}
        end = time.perf_counter()
        train_seconds = (self._train_end or end) - self._epoch_start
        row = {
            "epoch": epoch + 1,
            "loss": _float(logs.get("loss")),
            "accuracy": _float(logs.get("accuracy")),
            "val_loss": _float(logs.get("val_loss")),
            "val_accuracy": _float(logs.get("val_accuracy")),
            "learning_rate": current_learning_rate(self.model.optimizer),
            "seconds": round(end - self._epoch_start, 3),
            "images_per_second": round(self.num_train_images / max(train_seconds, 1e-9), 1),
        }
        self.rows.append(row)
        self._save_checkpoint(epoch + 1, row)

    def _save_checkpoint(self, epoch: int, row: dict[str, Any]) -> None:
        name = f"epoch-{epoch:04d}.keras"
        save_model_atomically(self.model, self.checkpoints / name)
        score = row["val_accuracy"] if row["val_accuracy"] is not None else row["accuracy"]
        if score is not None and score > self.best.get("score", -math.inf):
            save_model_atomically(self.model, self.checkpoints / BEST)
            self.best = {"epoch": epoch, "score": score,
                         "metric": "val_accuracy" if row["val_accuracy"] is not None else "accuracy"}
            self.run.write_json(f"{CHECKPOINTS}/{BEST_RECORD}", self.best)
        self.run.write_history(self.rows)
        self.run.write_json(f"{CHECKPOINTS}/{LATEST}", {"epoch": epoch, "file": name, "best": self.best,
                                                        "seed_generators": seed_generator_states(self.model)})
        for old in self.checkpoints.glob("epoch-*.keras"):
            if old.name != name:
                old.unlink(missing_ok=True)


def write_graph_summary(model, logdir: Path) -> None:
    """Write the model's op-level forward graph for TensorBoard's Graphs tab (Keras writes only the
    conceptual one)."""
    import tensorflow as tf

    forward = tf.function(lambda images: model(images, training=False), autograph=False)
    concrete = forward.get_concrete_function(tf.TensorSpec((None, *model.input_shape[1:]), tf.float32))
    writer = tf.summary.create_file_writer(str(logdir))
    with writer.as_default():
        tf.summary.graph(concrete.graph)
    writer.close()


def seed_generator_states(model) -> list[list[int]]:
    """Dropout's random stream lives in seed-generator variables, which ``model.save`` leaves out."""
    return [[int(x) for x in keras.ops.convert_to_numpy(v)] for v in _seed_generator_variables(model)]


def restore_seed_generator_states(model, states: list[list[int]]) -> None:
    for variable, state in zip(_seed_generator_variables(model), states):
        variable.assign(state)


def _seed_generator_variables(model) -> list:
    return [v for v in model.non_trainable_variables if "seed_generator" in v.path]


def save_model_atomically(model, path: Path) -> None:
    """Save a Keras model so no reader ever sees a half-written file, and a crash or power cut leaves the old
    file or the new one (fsync of the file before its rename, of the folder after it)."""
    temporary = temporary_path(path)  # keeps the .keras suffix Keras insists on
    try:
        model.save(temporary)
        commit(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)  # an interrupted save would otherwise stay behind, unloadable
        raise


def _float(value) -> float | None:
    return None if value is None else float(value)
