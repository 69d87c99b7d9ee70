"""Part ``time_to_accuracy``: seconds of training until MNIST test accuracy first reaches 99.0 % and 99.4 %.

* TF1 baseline (batch 100, Adam 1e-4): trained epoch by epoch, scored after each, until 99.0 % or a cap.
* cnnlab's ``fast`` recipe through ``train()``, on all training images (no validation split), scored after each
  epoch by ``TestAccuracyClock``; once on its own schedule and once on a one-epoch schedule (``--epochs 1``),
  each a separate run from scratch. A target's time is the earlier of the two: both are what a user gets
  from one command.

Both clocks start before the model is built and run to each epoch's end (cnnlab's checkpoint write included:
a user waits for it); the test evaluations are left out of both.
"""

from __future__ import annotations

import time
from typing import Any

from cnnlab_bench.context import BenchContext
from cnnlab_bench.settings import TimeToAccuracySettings

GOAL_RATIO = 0.1  # fast's seconds to 99.0 % / TF1's
GOAL_SECONDS_HIGH = 30.0  # fast reaches the higher target (99.4 %) within this many seconds of training


def run_time_to_accuracy(settings: TimeToAccuracySettings, context: BenchContext) -> dict[str, Any]:
    """Both curves (epoch, cumulative training seconds, test accuracy) and the first crossing of each target."""
    from cnnlab.runtime import seed_everything

    data = context.dataset("mnist")
    seed_everything(0)  # TF1 too runs under the process settings cnnlab trains with
    tf1 = _tf1_curve(data, settings, context)
    fast = _fast_curve(data, settings, context, settings.fast_epochs)
    short = _fast_curve(data, settings, context, settings.fast_short_epochs) if settings.fast_short_epochs else None
    targets = list(settings.targets)
    result = {"targets": targets, "tf1_graph": _crossings(tf1, targets), "fast": _crossings(fast["points"], targets),
              "fast_recipe": fast["recipe"], "fast_model": fast["model"], "fast_precision": fast["precision"],
              "fast_batch_size": fast["batch_size"], "images": len(data.x_train[:settings.limit]),
              "fast_short": _crossings(short["points"], targets) if short else None,
              "fast_short_epochs": settings.fast_short_epochs if short else None}
    low, high = str(min(targets)), str(max(targets))
    tf1_low, fast_low = result["tf1_graph"]["seconds_to"][low], _earliest(result, low)
    ratio = fast_low / tf1_low if tf1_low and fast_low else None
    fast_high = _earliest(result, high)
    result["fast_seconds_to"] = {low: fast_low, high: fast_high}
    result["fast_vs_tf1"] = None if ratio is None else round(ratio, 4)
    result["goal"] = {"ratio": GOAL_RATIO, "seconds_high": GOAL_SECONDS_HIGH,
                      "ratio_met": ratio is not None and ratio <= GOAL_RATIO,
                      "seconds_high_met": fast_high is not None and fast_high <= GOAL_SECONDS_HIGH}
    return result


def _tf1_curve(data, settings: TimeToAccuracySettings, context: BenchContext) -> list[dict[str, float]]:
    from cnnlab_bench.baselines import Tf1GraphDigitCNN
    from cnnlab.data.normalize import Normalizer

    start = time.perf_counter()  # normalizing, building the graph and the session count, as for cnnlab
    x, y = data.x_train[:settings.limit], data.y_train[:settings.limit]
    normalizer = Normalizer.fit("standardize", x)
    x_float = normalizer.apply(x)
    model = Tf1GraphDigitCNN(seed=0)
    x_test = normalizer.apply(data.x_test)
    setup = time.perf_counter() - start
    points, seconds = [], setup
    target = min(settings.targets)
    for epoch in range(settings.tf1_max_epochs):
        seconds += model.train_epoch(x_float, y, seed=epoch)
        accuracy = model.accuracy(x_test, data.y_test)
        points.append({"epoch": epoch + 1, "seconds": round(seconds, 3), "accuracy": accuracy})
        context.say("time_to_accuracy", f"tf1 epoch {epoch + 1}: {100 * accuracy:.2f} % after {seconds:.0f} s")
        if accuracy >= target:
            break
    model.close()
    return points


def _earliest(result: dict[str, Any], target: str) -> float | None:
    """The earlier of the fast recipe's two runs (own schedule, short schedule) to reach ``target``."""
    times = [runs["seconds_to"][target] for runs in (result["fast"], result["fast_short"]) if runs]
    reached = [t for t in times if t is not None]
    return min(reached) if reached else None


def _fast_curve(data, settings: TimeToAccuracySettings, context: BenchContext, epochs: int | None) -> dict[str, Any]:
    from cnnlab.config import TrainConfig
    from cnnlab.training.train import train
    from cnnlab_bench.clocks import TestAccuracyClock

    recipe = "fast"
    config = TrainConfig.from_recipe(recipe, val_split=0, limit=settings.limit, epochs=epochs)
    context.say("time_to_accuracy", f"cnnlab {recipe} recipe ({config.model}, {config.epochs} epochs)")
    run_dir = context.scratch / f"time-to-accuracy-{time.time_ns()}"
    clock = TestAccuracyClock(data.x_test, data.y_test, start=time.perf_counter())
    run = train(config, run_dir, dataset=data, callbacks=[clock])
    for point in clock.points:
        context.say("time_to_accuracy", f"{recipe} epoch {point['epoch']}: {100 * point['accuracy']:.2f} % "
                                        f"after {point['seconds']:.1f} s")
    return {"points": clock.points, "recipe": recipe, "precision": run.manifest["precision"],
            "batch_size": config.batch_size, "model": config.model}


def _crossings(points: list[dict[str, float]], targets: list[float]) -> dict[str, Any]:
    """The first time at or above each target (None = not reached), the final epoch's accuracy, the curve."""
    seconds_to = {str(t): next((p["seconds"] for p in points if p["accuracy"] >= t), None) for t in targets}
    epoch_to = {str(t): next((p["epoch"] for p in points if p["accuracy"] >= t), None) for t in targets}
    final = points[-1]["accuracy"] if points else None
    return {"seconds_to": seconds_to, "epoch_to": epoch_to, "final_accuracy": final, "epochs": len(points),
            "points": points}
