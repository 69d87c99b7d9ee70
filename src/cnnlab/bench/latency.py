"""Part ``latency``: prediction latency of a run's model in Keras and in each exported format.

The run is exported (into a temporary folder, never into the run) as SavedModel, TFLite float and int8, and
ONNX float and int8, each with its parity check, and then timed:

* one image: ``calls`` calls (at most 100 for keras-predict) of ``predict(one uint8 image)``, each on a
  different test image, after a warm-up; the median, p90 and p99 in milliseconds;
* all 10,000 test images in chunks of ``batch``, best of ``repeats`` passes.

Both are also given in CPU time of this process (``time.process_time``): on a shared machine the wall clock
counts the time other programs held the cores, the CPU time does not. Every timed call starts from raw uint8
pixels and ends with probabilities, so Keras pays for its normalization in NumPy just as the exported graphs
pay for theirs inside.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from cnnlab.bench.context import BenchContext, recipe_or_default
from cnnlab.bench.settings import LatencySettings

SLOW_CALLS = 100  # keras-predict costs tens of milliseconds a call: time fewer calls
WARM_UP_CALLS = 20  # first calls build graphs and allocate buffers
GOAL_MS = 1.0  # median single-image latency of the fastest exported path


def run_latency(settings: LatencySettings, context: BenchContext) -> dict[str, Any]:
    """Time ``settings.formats`` on ``settings.run``, or on a run trained now with the fast recipe."""
    from cnnlab.training.run import Run

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

    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # keras-predict retraces per shape, on purpose
    images = load_dataset(run.config.dataset).x_test.reshape(-1, 28, 28)
    rows = []
    with tempfile.TemporaryDirectory(prefix="cnnlab-latency-") as folder:
        for name in formats:
            progress(f"{name}: exporting and timing")
            predict, parity = _predictor(name, run, Path(folder), threads)
            count = min(calls, SLOW_CALLS) if name == "keras-predict" else calls
            rows.append({"format": name, "calls": count, **_time_single(predict, images, count),
                         **_time_batches(predict, images, batch, repeats), "parity": parity})
    return rows


def _train_run(settings: LatencySettings, context: BenchContext):
    from cnnlab.config import TrainConfig
    from cnnlab.training.fit import train

    recipe = recipe_or_default("fast")
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
    """The Keras model as cnnlab's library calls it: ``model(x)`` eagerly, or ``model.predict`` (evaluate's way)."""
    from cnnlab.evaluation import softmax

    model, normalizer = run.load_model(), run.normalizer

    def predict(batch: np.ndarray) -> np.ndarray:
        x = normalizer.apply(batch)
        logits = model.predict(x, verbose=0, batch_size=1000) if use_predict else model(x, training=False)
        return softmax(np.asarray(logits, dtype=np.float32))

    return predict


# ------------------------------------------------------------------ timing


def _time_single(predict: Callable, images: np.ndarray, calls: int) -> dict:
    for image in images[:WARM_UP_CALLS]:
        predict(image[np.newaxis])
    times, cpu_times = [], []
    for index in range(calls):
        image = images[index % len(images)][np.newaxis]
        start, cpu_start = time.perf_counter(), time.process_time()
        predict(image)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    ms, cpu_ms = np.asarray(times) * 1000, np.asarray(cpu_times) * 1000
    return {"single_ms_median": _round(np.median(ms)), "single_ms_p90": _round(np.percentile(ms, 90)),
            "single_ms_p99": _round(np.percentile(ms, 99)), "single_cpu_ms_median": _round(np.median(cpu_ms))}


def _time_batches(predict: Callable, images: np.ndarray, batch: int, repeats: int) -> dict:
    predict(images[:batch])  # warm-up at this batch size
    passes, cpu_passes = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        for first in range(0, len(images), batch):
            predict(images[first:first + batch])
        passes.append(time.perf_counter() - start)
        cpu_passes.append(time.process_time() - cpu_start)
    best = min(passes)
    return {"all_test_seconds": round(best, 3), "images_per_second": round(len(images) / best, 1),
            "all_test_cpu_seconds": round(min(cpu_passes), 3)}


def _round(value: float) -> float:
    return round(float(value), 3)
