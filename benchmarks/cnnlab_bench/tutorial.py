"""Part ``tutorial``: DigitCNN under the tutorial's recipe — the TF1 graph baseline, plain Keras ``fit`` on
numpy arrays, and cnnlab's ``train`` — alternating in one process, each from a fresh model.

Each contender trains ``epochs`` epochs on the same images (batch 100, Adam 1e-4, dropout 0.5, standardized)
and is scored on the 10,000 test images. Training seconds cover the optimizer steps, first-call costs included
(Session graph optimization, tf.function tracing) and exclude building the model and the evaluation:

* TF1: the ``Session.run`` loop of each epoch;
* Keras on numpy: each epoch's ``model.fit`` call;
* cnnlab: the sum of ``history.csv``'s ``seconds`` — each epoch from its start to its end, before the run's
  checkpoint write. That is the same scope as the two baselines, which write no checkpoints; the wall time of
  ``fit`` with the checkpoints (``FitClock``) is reported beside it.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab_bench.context import BenchContext
from cnnlab_bench.settings import TutorialSettings

CONTENDERS = ("tf1_graph", "keras_fit_numpy", "cnnlab")
GOAL_SPEEDUP = 2.0  # cnnlab / TF1 images per second
GOAL_ACCURACY_POINTS = 0.3  # |cnnlab - TF1| test accuracy after the same epochs, in points


def run_tutorial(settings: TutorialSettings, context: BenchContext) -> dict[str, Any]:
    """Alternate the three contenders for ``settings.rounds`` rounds; returns every round, each contender's
    fastest round (which the ratios compare) and the medians (the accuracies)."""
    from cnnlab.config import TrainConfig
    from cnnlab.data.normalize import Normalizer
    from cnnlab.runtime import seed_everything

    data = context.dataset("mnist")
    x, y = data.x_train[:settings.images], data.y_train[:settings.images]
    normalizer = Normalizer.fit("standardize", x)
    inputs = _Inputs(normalizer.apply(x), y, normalizer, data)
    config = TrainConfig.from_recipe("seed", model="digitcnn", val_split=0, epochs=settings.epochs,
                                     limit=settings.images)
    seed_everything(0)  # the process settings cnnlab trains with, for every contender and round
    rounds = []
    for index in range(settings.rounds):
        row = {"round": index + 1}
        for name in CONTENDERS:
            context.say("tutorial", f"round {index + 1}/{settings.rounds}: {name}, {settings.epochs} epoch(s) "
                                    f"on {len(x):,} images")
            row[name] = _ROUND[name](inputs, settings.epochs, index, config, context.scratch)
        rounds.append(row)
    return _summary(rounds, len(x), settings.epochs, config)


class _Inputs:
    def __init__(self, x_float: np.ndarray, y: np.ndarray, normalizer, data) -> None:
        self.x_float, self.y, self.normalizer, self.data = x_float, y, normalizer, data


def _tf1_round(inputs: _Inputs, epochs: int, index: int, config, scratch: Path) -> dict[str, float]:
    from cnnlab_bench.baselines import Tf1GraphDigitCNN

    model = Tf1GraphDigitCNN(seed=index)
    seconds = sum(model.train_epoch(inputs.x_float, inputs.y, seed=1000 * index + epoch) for epoch in range(epochs))
    accuracy = model.accuracy(inputs.normalizer.apply(inputs.data.x_test), inputs.data.y_test)
    model.close()
    return _row(len(inputs.y) * epochs, seconds, accuracy)


def _keras_round(inputs: _Inputs, epochs: int, index: int, config, scratch: Path) -> dict[str, float]:
    from cnnlab_bench.baselines import keras_accuracy, keras_fit_on_numpy

    model, seconds = keras_fit_on_numpy(inputs.x_float, inputs.y, epochs=epochs, seed=index)
    accuracy = keras_accuracy(model, inputs.normalizer.apply(inputs.data.x_test), inputs.data.y_test)
    return _row(len(inputs.y) * epochs, sum(seconds), accuracy)


def _cnnlab_round(inputs: _Inputs, epochs: int, index: int, config, scratch: Path) -> dict[str, float]:
    from cnnlab.training.train import train
    from cnnlab_bench.clocks import FitClock

    clock = FitClock()
    run = train(config.replace(seed=index), scratch / f"tutorial-cnnlab-{index}-{time.time_ns()}",
                dataset=inputs.data, callbacks=[clock])
    row = _row(len(inputs.y) * epochs, float(run.history["seconds"].sum()), float(run.metrics["accuracy"]))
    row["fit_seconds_with_checkpoints"] = round(clock.seconds, 3)
    row["precision"] = run.manifest["precision"]  # "auto" resolved: what a reader of the figures needs
    return row


_ROUND = {"tf1_graph": _tf1_round, "keras_fit_numpy": _keras_round, "cnnlab": _cnnlab_round}


def _row(images: int, seconds: float, accuracy: float) -> dict[str, float]:
    return {"seconds": round(seconds, 3), "images_per_second": round(images / seconds, 1), "test_accuracy": accuracy}


def _summary(rounds: list[dict], images: int, epochs: int, config) -> dict[str, Any]:
    """Speeds from each contender's fastest round: a disturbance from outside (another tenant of the host) can
    only slow a round, never speed one up, so the fastest is the least disturbed. Accuracies are medians."""
    median = {name: {key: statistics.median(r[name][key] for r in rounds)
                     for key in ("images_per_second", "test_accuracy")} for name in CONTENDERS}
    speed = {name: max(r[name]["images_per_second"] for r in rounds) for name in CONTENDERS}
    speedup = speed["cnnlab"] / speed["tf1_graph"]
    points = 100 * (median["cnnlab"]["test_accuracy"] - median["tf1_graph"]["test_accuracy"])
    return {
        "images": images, "epochs": epochs, "batch_size": config.batch_size,
        "precision": rounds[0]["cnnlab"]["precision"],
        "recipe": config.recipe, "rounds": rounds, "fastest": speed, "median": median,
        "cnnlab_vs_tf1": round(speedup, 3),
        "cnnlab_vs_keras_numpy": round(speed["cnnlab"] / speed["keras_fit_numpy"], 3),
        "accuracy_points_vs_tf1": round(points, 3),
        "goal": {"speedup": GOAL_SPEEDUP, "accuracy_points": GOAL_ACCURACY_POINTS,
                 "met": bool(speedup >= GOAL_SPEEDUP and abs(points) <= GOAL_ACCURACY_POINTS)},
    }
