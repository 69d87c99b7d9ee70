"""TensorBoard records beyond Keras's own: epoch numbers as steps, HParams, and the test result.

A run's ``logs/`` is one TensorBoard session: ``logs/`` holds its HParams (every config setting), ``logs/train`` and
``logs/validation`` the per-epoch scalars Keras writes, ``logs/test`` the test accuracy and loss at the last epoch.
Pointing TensorBoard at a folder of runs lists them all in the HParams tab, with their final validation and test
figures. Search and repeat groups write one session per combination or seed into their own ``logs/``
(:func:`write_group_hparams`).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any, Iterable, Mapping

import keras

from cnnlab.config import TrainConfig

TEST = "test"  # the logs/ sub-folder of the test result, beside Keras's train/ and validation/


class EpochTensorBoard(keras.callbacks.TensorBoard):
    """Keras's TensorBoard callback with the epoch number as the step: epoch 1 is step 1 (Keras counts from 0),
    so the charts, ``history.csv`` and MLflow agree on which epoch a point is."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        super().on_epoch_end(epoch + 1, logs)


def hparam_values(config: TrainConfig) -> dict[str, bool | int | float | str]:
    """The config as HParams: scalars as they are, model options as ``option.NAME``, an unset value as "default".

    Example:
        >>> hparam_values(TrainConfig())["model"]
        'digitcnn'
    """
    values: dict[str, Any] = {}
    for key, value in config.to_dict().items():
        if key == "model_options":
            values.update({f"option.{name}": option for name, option in sorted(value.items())})
        else:
            values[key] = value
    return {key: _hparam(value) for key, value in values.items()}


def write_run_hparams(config: TrainConfig, logs_dir: Path) -> None:
    """Write the run's HParams session (its config) into ``logs_dir``.

    No ``hparams_config`` is written, here or for groups: TensorBoard uses the first one it finds for every
    session under its logdir, so one run's column list would hide a group's figures (and the other way round).
    Without one, TensorBoard lists every hparam and every scalar of every session under the folder it is shown.
    """
    from tensorboard.plugins.hparams import api as hp

    with _writer(logs_dir) as writer, writer.as_default():
        hp.hparams(hparam_values(config))


def log_test_metrics(logs_dir: Path, metrics: Mapping[str, Any], epoch: int) -> None:
    """The test accuracy and loss as ``logs/test`` scalars at ``epoch`` (the last one): one more line beside
    training and validation on TensorBoard's accuracy and loss charts."""
    import tensorflow as tf

    with _writer(logs_dir / TEST) as writer, writer.as_default():
        for name in ("accuracy", "loss"):
            if metrics.get(name) is not None:
                tf.summary.scalar(f"epoch_{name}", float(metrics[name]), step=epoch)


def write_group_hparams(logs_dir: Path,
                        sessions: Iterable[tuple[str, Mapping[str, Any], Mapping[str, float | None]]]) -> None:
    """Write a group's HParams (a search's combinations, a repeat's seeds) into ``logs_dir``, replacing what an
    earlier call wrote: one session folder a member, from ``(name, hparams, {metric: final value})``.
    """
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    shutil.rmtree(logs_dir, ignore_errors=True)  # written from the group's records: always whole, never appended
    for name, hparams, figures in sessions:
        with _writer(logs_dir / name) as writer, writer.as_default():
            hp.hparams({key: _hparam(value) for key, value in hparams.items()}, trial_id=name)
            for tag, value in figures.items():
                if value is not None and math.isfinite(value):  # e.g. no std over a single fold
                    tf.summary.scalar(tag, float(value), step=1)


class _writer:
    """A summary file writer for ``folder`` that is closed (flushed) on leaving the ``with``."""

    def __init__(self, folder: Path) -> None:
        import tensorflow as tf

        self.writer = tf.summary.create_file_writer(str(folder))

    def __enter__(self):
        return self.writer

    def __exit__(self, *exc) -> None:
        self.writer.close()


def _hparam(value: Any) -> bool | int | float | str:
    """HParams hold bool, int, float or str; other values (None, lists) are shown as text."""
    if value is None:
        return "default"
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
