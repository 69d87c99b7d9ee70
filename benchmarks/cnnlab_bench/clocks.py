"""Keras callbacks that time cnnlab's own training from inside ``train(..., callbacks=[...])``."""

from __future__ import annotations

import time

import keras
import numpy as np


class FitClock(keras.callbacks.Callback):
    """Wall seconds from the start of ``fit`` to its end: the epochs *with* the per-epoch checkpoint writes,
    which ``history.csv``'s ``seconds`` leave out."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds = 0.0
        self._start = 0.0

    def on_train_begin(self, logs=None) -> None:
        self._start = time.perf_counter()

    def on_train_end(self, logs=None) -> None:
        self.seconds = time.perf_counter() - self._start


class TestAccuracyClock(keras.callbacks.Callback):
    """At each epoch end: the test accuracy of the model as it is, on a clock that leaves this evaluation out.

    ``start`` is a ``time.perf_counter()`` taken by the caller just before ``train()`` — so the clock holds
    everything a user waits for (model building, tracing, the epochs, each epoch's checkpoint) except the test
    evaluations this callback adds. It runs after the run's own recorder (``train`` appends extra callbacks
    last), so an epoch's checkpoint is inside its time. ``points`` holds (epoch, training seconds, accuracy).
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, start: float) -> None:
        super().__init__()
        self.images, self.labels = images, np.asarray(labels)
        self.start = start
        self.evaluation_seconds = 0.0
        self.points: list[dict[str, float]] = []
        self._predictor = None

    def on_train_begin(self, logs=None) -> None:
        from cnnlab.evaluation import Predictor

        self._predictor = Predictor(self.model)  # cnnlab's one prediction path: the model takes raw pixels

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        now = time.perf_counter()
        training_seconds = now - self.start - self.evaluation_seconds
        logits = self._predictor.logits(self.images)
        accuracy = float((logits.argmax(axis=1) == self.labels).mean())
        self.evaluation_seconds += time.perf_counter() - now
        self.points.append({"epoch": epoch + 1, "seconds": round(training_seconds, 3), "accuracy": accuracy})
