"""Part ``latency``: prediction latency of a run's model in Keras and in each exported format.

The run is exported (into a temporary folder, never into the run) as SavedModel, TFLite float and int8, and
ONNX float and int8, each with its parity check, and then timed:

* one image: ``calls`` calls (at most 100 for keras-predict) of ``predict(one uint8 image)``, each on a
  different test image, after a warm-up; the median, p90 and p99 in milliseconds;
* all 10,000 test images in chunks of ``batch``, best of ``repeats`` passes.

Both are also given in CPU time of this process (``time.process_time``): on a shared machine the wall clock
counts the time other programs held the cores, the CPU time does not. Every timed call starts from raw uint8
pixels and ends with probabilities. ``keras`` is the run's model through cnnlab's prediction path
(``evaluation.Predictor``), ``keras-predict`` the same model through plain ``model.predict``. The timing loops are
the product's own (``cnnlab.export_timing``, behind ``cnnlab export RUN --benchmark``); this part adds the
keras-predict row, the parity figures and exports into a temporary folder.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from cnnlab_bench.context import BenchContext
from cnnlab_bench.settings import LatencySettings

SLOW_CALLS = 100  # keras-predict costs tens of milliseconds a call: time fewer calls
GOAL_MS = 1.0  # median single-image latency of the fastest exported path


def run_latency(settings: LatencySettings, context: BenchContext) -> dict[str, Any]:
    """Time ``settings.formats`` on ``settings.run``, or on a run trained now with the fast recipe."""
    from cnnlab.run import Run

    run = Run.load(settings.run) if settings.run else _train_run(settings, context)
    rows = measure_formats(run, settings.formats, settings.calls, settings.batch, settings.repeats,
                           progress=lambda line: context.say("latency", line))
    exported = [r for r in rows if not r["format"].startswith("keras")]
    fastest = min(exported, key=lambda r: r["single_ms_median"]) if exported else None
    return {"run_dir": str(run.path) if settings.run else None, "model": run.config.model,
            "recipe": run.config.recipe, "test_accuracy": (run.metrics or {}).get("accuracy"), "batch": settings.batch,
            "results": rows, "fastest_exported": fastest and fastest["format"],
            "goal": {"ms": GOAL_MS, "met": bool(fastest and fastest["single_ms_median"] <= GOAL_MS)}}


def measure_formats(run, formats: tuple[str, ...] | list[str], calls: int, batch: int, repeats: int,
                    threads: int | None = None, progress: Callable[[str], None] = lambda line: None) -> list[dict]:
    """One row per format: single-image and all-test-images timings, and the export's parity check.

    Example:
        >>> rows = measure_formats(Run.load("runs/demo"), ["keras", "tflite"], 100, 1000, 1)  # doctest: +SKIP
        >>> rows[1]["single_ms_median"] < rows[0]["single_ms_median"]
        True
    """
    from cnnlab.data.sources import load_dataset
    from cnnlab.export_timing import time_latency, time_throughput

    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # keras-predict retraces per shape, on purpose
    images = load_dataset(run.config.dataset).x_test.reshape(-1, 28, 28)
    rows = []
    with tempfile.TemporaryDirectory(prefix="cnnlab-latency-") as folder:
        for name in formats:
            progress(f"{name}: exporting and timing")
            predict, parity = _predictor(name, run, Path(folder), threads)
            count = min(calls, SLOW_CALLS) if name == "keras-predict" else calls
            latency, throughput = time_latency(predict, images, count), time_throughput(predict, images, batch, repeats)
            rows.append({"format": name, "calls": count, "single_ms_median": _round(latency.median_ms),
                         "single_ms_p90": _round(latency.p90_ms), "single_ms_p99": _round(latency.p99_ms),
                         "single_cpu_ms_median": _round(latency.cpu_median_ms),
                         "all_test_seconds": _round(throughput.seconds),
                         "images_per_second": round(throughput.images_per_second, 1),
                         "all_test_cpu_seconds": _round(throughput.cpu_seconds), "parity": parity})
    return rows


def _train_run(settings: LatencySettings, context: BenchContext):
    from cnnlab.config import TrainConfig
    from cnnlab.training.train import train

    recipe = "fast"
    config = TrainConfig.from_recipe(recipe, limit=settings.train_limit, epochs=settings.train_epochs)
    context.say("latency", f"training a {recipe}-recipe run ({config.model}, {config.epochs} epochs) to time")
    return train(config, context.scratch / f"latency-{time.time_ns()}", dataset=context.dataset(config.dataset))


# ------------------------------------------------------------------ predictors


def _predictor(name: str, run, folder: Path, threads: int | None) -> tuple[Callable, dict | None]:
    """``predict(uint8 (N, 28, 28)) -> probabilities`` for one format, and its export's parity check."""
    if name.startswith("keras"):
        return _keras_predictor(run, use_predict=name == "keras-predict"), None
    from cnnlab.export import default_export_path, export_run, load_exported

    format, _, quantize = name.partition("-")
    out = folder / default_export_path(run, format, quantize or None).relative_to(run.path)
    result = export_run(run, format, out=out, quantize=quantize or None)
    return load_exported(result["path"], format, num_threads=threads), result["check"]


def _keras_predictor(run, use_predict: bool) -> Callable:
    """The run's model (raw pixels in) through cnnlab's prediction path, or through plain ``model.predict``."""
    from cnnlab.evaluation import Predictor

    model = run.load_model()
    if not use_predict:
        return Predictor(model).probabilities

    def predict(batch: np.ndarray) -> np.ndarray:
        logits = np.asarray(model.predict(batch.reshape(-1, 28, 28, 1).astype(np.float32), verbose=0,
                                          batch_size=1000), dtype=np.float32)
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)

    return predict


def _round(value: float) -> float:
    return round(float(value), 3)
