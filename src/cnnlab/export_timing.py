"""Time a run's model in every export format, on the machine this runs on: single-image latency and throughput.

``time_formats(run)`` times the Keras model (through cnnlab's prediction path, ``evaluation.Predictor``) and each
export whose runtime is installed — SavedModel, TFLite, TFLite int8, ONNX, ONNX int8. A format already exported
at its default path in ``RUN/export/`` is reused; the others are exported there first with ``export_run``, which
checks each export against the Keras model. Every timed call starts from raw uint8 pixels and ends with
probabilities:

* latency: ``calls`` calls on one image each (a different test image every call), after ``WARM_UP_CALLS``
  untimed ones; median and 90th percentile in milliseconds, wall clock and this process's CPU time;
* throughput: the first ``images`` test images (10,000) in batches of ``batch``; the fastest of ``repeats``
  passes, in images per second.

The figures describe this machine under its load at the time: they compare the formats with each other, here.

Example:
    >>> timing = time_formats(Run.load("runs/demo"), calls=200)  # doctest: +SKIP
    >>> [row.format for row in timing.rows]  # doctest: +SKIP
    ['keras', 'savedmodel', 'tflite', 'tflite-int8', 'onnx', 'onnx-int8']
    >>> timing.rows[3].latency.median_ms < timing.rows[0].latency.median_ms  # doctest: +SKIP
    True
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from cnnlab.errors import ConfigError

FORMATS = ("keras", "savedmodel", "tflite", "tflite-int8", "onnx", "onnx-int8")
DEFAULT_CALLS = 200  # single-image calls timed per format
THROUGHPUT_IMAGES = 10_000  # the first N test images (all of MNIST's test set)
BATCH = 1000  # images per call in the throughput pass
WARM_UP_CALLS = 20  # first calls build graphs and allocate buffers: not timed
# The module each format's runtime is imported from; a format whose runtime is missing is skipped.
_RUNTIMES = {"tflite": "ai_edge_litert", "onnx": "onnxruntime"}
_CONVERTERS = {"onnx": "tf2onnx"}  # needed only to export a format that is not exported yet

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Latency:
    """Single-image calls: milliseconds per call (wall clock, and this process's CPU time)."""

    calls: int
    median_ms: float
    p90_ms: float
    p99_ms: float
    cpu_median_ms: float


@dataclass(frozen=True)
class Throughput:
    """One pass over ``images`` images in batches of ``batch``: the fastest of the passes timed."""

    images: int
    batch: int
    passes: int
    seconds: float
    cpu_seconds: float
    images_per_second: float


@dataclass(frozen=True)
class FormatTiming:
    format: str  # one of FORMATS
    path: str  # the file or folder timed: RUN/model.keras or the export
    exported: bool  # exported by this call (False: reused from RUN/export/, or the Keras model)
    check: dict[str, Any] | None  # the new export's check against Keras (export_run's); None when not exported now
    latency: Latency
    throughput: Throughput


@dataclass(frozen=True)
class FormatsTiming:
    run_dir: str
    threads: int | None  # TFLite's and ONNX Runtime's threads; None = each runtime's own choice
    rows: list[FormatTiming]
    skipped: dict[str, str] = field(default_factory=dict)  # format -> the package it needs that is not installed
    failed: dict[str, str] = field(default_factory=dict)  # format -> why its export failed (the others are timed)

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for JSON."""
        return dataclasses.asdict(self)


def time_formats(run, formats: Sequence[str] | None = None, calls: int = DEFAULT_CALLS,
                 images: int = THROUGHPUT_IMAGES, batch: int = BATCH, repeats: int = 3,
                 threads: int | None = None, data_dir: str | os.PathLike | None = None,
                 progress: Callable[[str], None] = lambda line: None) -> FormatsTiming:
    """Time ``run``'s model in ``formats`` (default all of ``FORMATS`` whose runtime is installed).

    Args:
        run: a ``Run`` (``Run.load(path)``).
        formats: names from ``FORMATS``; those whose runtime is not installed are skipped (see ``skipped``).
        calls: single-image calls timed per format.
        images: test images of the throughput pass (the first ones of the run's test set).
        batch: images per call in the throughput pass.
        repeats: throughput passes; the fastest counts.
        threads: threads of TFLite and ONNX Runtime (Keras and SavedModel use TensorFlow's own setting).
        data_dir: where the run's dataset lives, if not in a standard place.
        progress: called with one line as each format is exported and timed.

    Returns:
        A ``FormatsTiming``: one ``FormatTiming`` a timed format, in the order of ``FORMATS``; a format whose
        export fails (``ExportError``) is named in ``failed`` and the others are still timed.
    """
    from cnnlab.data.sources import load_dataset
    from cnnlab.export import ExportError

    wanted = _check_arguments(formats, calls, images, batch, repeats, threads)
    test_images = load_dataset(run.config.dataset, data_dir).x_test[:images]
    rows, skipped, failed = [], {}, {}
    for name in wanted:
        missing = _missing_package(run, name)
        if missing:
            skipped[name] = missing
            continue
        progress(f"{name}: {'exporting and ' if _needs_export(run, name) else ''}timing")
        try:
            predict, path, check = _predictor(run, name, threads, data_dir)
        except ExportError as err:
            failed[name] = str(err)
            continue
        rows.append(FormatTiming(format=name, path=str(path), exported=check is not None, check=check,
                                 latency=time_latency(predict, test_images, calls),
                                 throughput=time_throughput(predict, test_images, batch, repeats)))
    return FormatsTiming(run_dir=str(run.path), threads=threads, rows=rows, skipped=skipped, failed=failed)


def time_latency(predict: Predict, images: np.ndarray, calls: int, warm_up: int = WARM_UP_CALLS) -> Latency:
    """``calls`` calls of ``predict`` on one image each (``images[i % len(images)]``), after ``warm_up`` calls.

    Example:
        >>> time_latency(lambda x: x, np.zeros((3, 28, 28), np.uint8), calls=10).calls
        10
    """
    for index in range(warm_up):
        predict(images[index % len(images)][np.newaxis])
    wall, cpu = np.empty(calls), np.empty(calls)
    for index in range(calls):
        image = images[index % len(images)][np.newaxis]
        start, cpu_start = time.perf_counter(), time.process_time()
        predict(image)
        wall[index], cpu[index] = time.perf_counter() - start, time.process_time() - cpu_start
    wall_ms, cpu_ms = 1000 * wall, 1000 * cpu
    return Latency(calls=calls, median_ms=float(np.median(wall_ms)), p90_ms=float(np.percentile(wall_ms, 90)),
                   p99_ms=float(np.percentile(wall_ms, 99)), cpu_median_ms=float(np.median(cpu_ms)))


def time_throughput(predict: Predict, images: np.ndarray, batch: int = BATCH, repeats: int = 1) -> Throughput:
    """``repeats`` passes of ``predict`` over ``images`` in batches of ``batch``, after one untimed batch.

    Example:
        >>> time_throughput(lambda x: x, np.zeros((10, 28, 28), np.uint8), batch=4).images
        10
    """
    predict(images[:batch])  # warm-up at this batch size
    passes, cpu_passes = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        for first in range(0, len(images), batch):
            predict(images[first:first + batch])
        passes.append(time.perf_counter() - start)
        cpu_passes.append(time.process_time() - cpu_start)
    fastest = min(passes)
    return Throughput(images=len(images), batch=batch, passes=repeats, seconds=fastest, cpu_seconds=min(cpu_passes),
                      images_per_second=len(images) / fastest)


# ==================================================================== helpers


def _check_arguments(formats: Sequence[str] | None, calls: int, images: int, batch: int, repeats: int,
                     threads: int | None) -> list[str]:
    """The formats to time, in the order of FORMATS; ConfigError for an unknown one or a count below 1."""
    wanted = list(FORMATS) if formats is None else list(formats)
    unknown = [name for name in wanted if name not in FORMATS]
    if unknown or not wanted:
        raise ConfigError(f"unknown format(s) {', '.join(unknown) or 'none given'}; choose from: {', '.join(FORMATS)}")
    counts = {"calls": calls, "images": images, "batch": batch, "repeats": repeats}
    if threads is not None:
        counts["threads"] = threads
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} {value!r} is out of range: use a whole number >= 1")
    return [name for name in FORMATS if name in wanted]


def _format_and_quantize(name: str) -> tuple[str, str | None]:
    """``"tflite-int8"`` -> ``("tflite", "int8")``."""
    format, _, quantize = name.partition("-")
    return format, quantize or None


def _missing_package(run, name: str) -> str | None:
    """Why ``name`` cannot be timed here (its runtime, or the converter its export still needs, is missing)."""
    format, _ = _format_and_quantize(name)
    needed = [_RUNTIMES.get(format)] + ([_CONVERTERS.get(format)] if _needs_export(run, name) else [])
    for module in filter(None, needed):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed: pip install 'cnnlab[export]'"
    return None


def _needs_export(run, name: str) -> bool:
    if name == "keras":
        return False
    from cnnlab.export import default_export_path

    return not default_export_path(run, *_format_and_quantize(name)).exists()


def _predictor(run, name: str, threads: int | None, data_dir) -> tuple[Predict, Path, dict[str, Any] | None]:
    """``predict(uint8 images) -> probabilities`` for one format, the path it was loaded from, and the check of an
    export made now (None when the export was there already, or for Keras)."""
    if name == "keras":
        from cnnlab.evaluation import Predictor

        return Predictor(run.load_model()).probabilities, run.model_path, None
    from cnnlab.export import default_export_path, export_run, load_exported

    format, quantize = _format_and_quantize(name)
    path, check = default_export_path(run, format, quantize), None
    if not path.exists():
        check = export_run(run, format, quantize=quantize, data_dir=data_dir)["check"]
    return load_exported(path, format, num_threads=threads), path, check
