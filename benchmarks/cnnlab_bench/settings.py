"""What each part of the bench measures and at what size: one typed place, full and ``--quick``.

A part's settings are stored beside its results (``OUT/<part>.json``); a re-run skips a part only when its
stored settings equal the ones asked for, so a ``--quick`` file is never taken for a measurement.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

ENTRY = "python benchmarks/bench.py"  # the command, as the document names it (from the repository's root)
PARTS = ("tutorial", "anatomy", "time_to_accuracy", "models", "latency", "scaling", "best")  # timing-sensitive first
LATENCY_FORMATS = ("keras", "keras-predict", "savedmodel", "tflite", "tflite-int8", "onnx", "onnx-int8")


@dataclass(frozen=True)
class TutorialSettings:
    images: int | None = None  # training images per epoch; None = all 60,000
    epochs: int = 2  # epochs each contender trains, from a fresh model, per round
    rounds: int = 3  # alternating rounds (tf1, keras-numpy, cnnlab) in one process; the fastest of each counts


@dataclass(frozen=True)
class AnatomySettings:
    model: str = "digitcnn"
    batch_size: int = 100  # the tutorial's
    calls: int = 100  # calls of each kernel per timed loop
    steps: int = 100  # training steps per timed loop
    repeats: int = 5  # rounds, the precisions taking turns; each item's fastest round counts


@dataclass(frozen=True)
class TimeToAccuracySettings:
    limit: int | None = None  # training images; None = all 60,000
    fast_epochs: int | None = None  # None = the fast recipe's own number of epochs
    fast_short_epochs: int | None = 1  # a second fast run on this shorter schedule (None = none): a one-epoch
    # one-cycle ends higher than the first epoch of a longer one, so the lower target can come sooner
    tf1_max_epochs: int = 12  # the TF1 baseline stops at 99.0 % or after this many epochs
    targets: tuple[float, ...] = (0.99, 0.994)  # test accuracies whose first crossing is timed


@dataclass(frozen=True)
class ModelsSettings:
    images: int = 20000  # training images per epoch
    epochs: int = 2  # the first epoch (tracing) is left out of the median


@dataclass(frozen=True)
class LatencySettings:
    run: str | None = None  # a trained run to time; None = train one with the fast recipe
    train_limit: int | None = None  # images for that training run; None = all
    train_epochs: int | None = None  # None = the recipe's
    calls: int = 500  # single-image calls timed per format (at most 100 for keras-predict)
    batch: int = 1000  # chunk size when predicting all 10,000 test images
    repeats: int = 3  # passes over the test images; the fastest counts
    formats: tuple[str, ...] = LATENCY_FORMATS


@dataclass(frozen=True)
class ScalingSettings:
    sizes: tuple[int, ...] = (15000, 30000, 60000)  # training images of each child run
    epochs: int = 2  # epochs of each scaling run (fast recipe)
    rounds: int = 2  # the sizes run this many times in turn; each size keeps its fastest last epoch
    full_recipe: str = "default"  # the full run whose peak memory is the figure users meet (make demo)
    full_limit: int | None = None  # None = all 60,000 (of which the recipe holds out its validation images)
    full_epochs: int | None = None  # None = the recipe's own


@dataclass(frozen=True)
class BestSettings:
    seeds: int = 3  # seeds 0..seeds-1 per dataset
    datasets: tuple[str, ...] = ("mnist", "fashion-mnist")
    limit: int | None = None  # training images; None = all
    epochs: int | None = None  # None = the best recipe's own


@dataclass(frozen=True)
class BenchSettings:
    quick: bool = False
    tutorial: TutorialSettings = field(default_factory=TutorialSettings)
    anatomy: AnatomySettings = field(default_factory=AnatomySettings)
    time_to_accuracy: TimeToAccuracySettings = field(default_factory=TimeToAccuracySettings)
    models: ModelsSettings = field(default_factory=ModelsSettings)
    latency: LatencySettings = field(default_factory=LatencySettings)
    scaling: ScalingSettings = field(default_factory=ScalingSettings)
    best: BestSettings = field(default_factory=BestSettings)

    def part(self, name: str) -> Any:
        """The settings dataclass of one part."""
        return getattr(self, name)

    def part_dict(self, name: str) -> dict[str, Any]:
        """One part's settings as stored in its json (tuples become lists, as json reads them back)."""
        values = dataclasses.asdict(self.part(name))
        return {"quick": self.quick, **{k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}}


def bench_settings(quick: bool = False, rounds: int | None = None, seeds: int | None = None,
                   tf1_max_epochs: int | None = None, run: str | None = None) -> BenchSettings:
    """Full-size settings, or the ``--quick`` ones (a smoke run: every code path, no meaningful figure).

    Example:
        >>> bench_settings(quick=True).scaling.sizes
        (1000, 2000, 4000)
    """
    base = _quick() if quick else BenchSettings()
    return dataclasses.replace(
        base,
        tutorial=_replace(base.tutorial, rounds=rounds),
        time_to_accuracy=_replace(base.time_to_accuracy, tf1_max_epochs=tf1_max_epochs),
        latency=_replace(base.latency, run=run),
        best=_replace(base.best, seeds=seeds),
    )


def _quick() -> BenchSettings:
    return BenchSettings(
        quick=True,
        tutorial=TutorialSettings(images=2000, epochs=1, rounds=1),
        anatomy=AnatomySettings(calls=3, steps=3, repeats=1),
        time_to_accuracy=TimeToAccuracySettings(limit=2000, fast_epochs=1, fast_short_epochs=None,
                                                tf1_max_epochs=2),
        models=ModelsSettings(images=1000, epochs=2),
        latency=LatencySettings(train_limit=2000, train_epochs=1, calls=50, repeats=1,
                                formats=("keras", "keras-predict", "savedmodel", "tflite", "tflite-int8")),
        scaling=ScalingSettings(sizes=(1000, 2000, 4000), epochs=1, rounds=1, full_limit=4000, full_epochs=1),
        best=BestSettings(seeds=1, limit=2000, epochs=1),
    )


def _replace(settings: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` with the changes that were given (``None`` = keep)."""
    given = {k: v for k, v in changes.items() if v is not None}
    return dataclasses.replace(settings, **given) if given else settings
