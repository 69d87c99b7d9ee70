"""Benchmark: prediction latency of a run's model in Keras and in each exported format.

Exports the run (into a temporary folder, never into the run) as SavedModel, TFLite float and int8, and
ONNX float and int8, each with its parity check, then times:

* single-image latency: ``--calls`` calls (at most 100 for keras-predict) of ``predict(one uint8 image)``,
  each on a different test image, after a warm-up; reports the median, p90 and p99 in milliseconds;
* throughput: all 10,000 test images in chunks of ``--batch``, best of ``--repeats`` passes.

Both are also given in CPU time of this process (``time.process_time``): on a shared machine the wall
clock counts the time other programs held the cores, the CPU time does not. With ``--threads 1`` the CPU
time is close to what the wall clock would show on an idle core.

Every timed call starts from raw uint8 pixels and ends with probabilities, so Keras pays for its
normalization in NumPy just as the exported graphs pay for theirs inside.

    python benchmarks/predict_latency.py runs/demo                    # a table
    python benchmarks/predict_latency.py runs/demo --threads 2 --json # one JSON object
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FORMATS = ("keras", "keras-predict", "savedmodel", "tflite", "tflite-int8", "onnx", "onnx-int8")
SLOW_CALLS = 100  # keras-predict costs tens of milliseconds a call: time fewer calls


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    _limit_tensorflow_threads(args.threads)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # keras-predict retraces per shape, on purpose
    from cnnlab.data.sources import load_dataset
    from cnnlab.training.run import Run

    run = Run.load(args.run)
    data = load_dataset(run.config.dataset)
    images = data.x_test.reshape(-1, 28, 28)
    rows = []
    with tempfile.TemporaryDirectory(prefix="cnnlab-latency-") as folder:
        for name in args.formats:
            predict, parity = _predictor(name, run, Path(folder), args.threads)
            calls = min(args.calls, SLOW_CALLS) if name == "keras-predict" else args.calls
            rows.append({"format": name, "calls": calls, **_time_single(predict, images, calls),
                         **_time_batches(predict, images, args.batch, args.repeats), "parity": parity})
            print(f"  {name}: done", file=sys.stderr)
    result = {"run_dir": str(run.path), "model": run.config.model, "threads": args.threads, "batch": args.batch,
              "machine": _machine(), "results": rows}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_table(result)
    return 0


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
        return softmax(np.asarray(logits))

    return predict


# ------------------------------------------------------------------ timing


def _time_single(predict: Callable, images: np.ndarray, calls: int) -> dict:
    for image in images[:20]:  # warm-up: first calls build graphs and allocate buffers
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


# ------------------------------------------------------------------ setup and output


def _limit_tensorflow_threads(threads: int | None) -> None:
    if threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def _machine() -> dict:
    from cnnlab.runtime import library_versions, machine_info

    info = machine_info()
    versions = library_versions()
    for package in ("onnxruntime", "ai-edge-litert", "tf2onnx"):
        try:
            from importlib import metadata

            versions[package] = metadata.version(package)
        except Exception:  # noqa: BLE001 - a missing package only leaves its version out
            pass
    return {"cpu": info["cpu"], "cpu_count": info["cpu_count"], "platform": platform.platform(),
            "load_average_1min": round(os.getloadavg()[0], 2), "versions": versions}


def _print_table(result: dict) -> None:
    print(f"{result['run_dir']} ({result['model']}), threads={result['threads']}, batches of {result['batch']}; "
          f"{result['machine']['cpu']} x{result['machine']['cpu_count']}, "
          f"load average {result['machine']['load_average_1min']}")
    print(f"{'format':<14} {'calls':>6} {'median ms':>10} {'p90 ms':>8} {'p99 ms':>8} {'cpu ms':>7} {'10k s':>7} "
          f"{'img/s':>7} {'10k cpu s':>9} {'max |dp|':>9} {'acc (1k)':>9}")
    for row in result["results"]:
        parity = row["parity"] or {}
        diff = f"{parity['max_prob_diff']:.1e}" if parity else "-"
        accuracy = f"{100 * parity['export_accuracy']:.1f} %" if parity else "-"
        print(f"{row['format']:<14} {row['calls']:>6} {row['single_ms_median']:>10.3f} {row['single_ms_p90']:>8.3f} "
              f"{row['single_ms_p99']:>8.3f} {row['single_cpu_ms_median']:>7.3f} {row['all_test_seconds']:>7.2f} "
              f"{row['images_per_second']:>7.0f} {row['all_test_cpu_seconds']:>9.2f} {diff:>9} {accuracy:>9}")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a run directory written by 'cnnlab train'")
    parser.add_argument("--formats", type=lambda s: s.split(","), default=list(FORMATS),
                        help=f"comma-separated, from: {','.join(FORMATS)} (default all)")
    parser.add_argument("--calls", type=int, default=500, help="single-image calls timed per format (default 500)")
    parser.add_argument("--batch", type=int, default=1000, help="chunk size for the 10,000 test images")
    parser.add_argument("--repeats", type=int, default=3, help="passes over the test images; the best counts")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for TensorFlow, LiteRT and onnxruntime (default: each runtime's own)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    unknown = [f for f in args.formats if f not in FORMATS]
    if unknown:
        parser.error(f"unknown format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    return args


if __name__ == "__main__":
    sys.exit(main())
