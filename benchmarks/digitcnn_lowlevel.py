"""Benchmark: the low-level ``DigitCNN`` against the registry's Keras ``digitcnn`` under the tutorial's recipe.

Both train on all 60,000 MNIST training images (batch 100, Adam 1e-4, dropout 0.5, per-pixel mean / global
std standardization fitted on the training images) and are scored on the 10,000 test images. Prints one
line per model and, with ``--json-out``, writes the figures as JSON.

    nice python benchmarks/digitcnn_lowlevel.py --epochs 30 --json-out bench.json   # hours on 2 shared cores
    python benchmarks/digitcnn_lowlevel.py --epochs 1 --limit 2000                  # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def bench_lowlevel(data, epochs: int, limit: int | None, seed: int) -> dict:
    from cnnlab import DigitCNN, Normalizer

    x, y = data.x_train[:limit], data.y_train[:limit]
    normalizer = Normalizer.fit("standardize", x)
    cnn = DigitCNN(epochs=epochs, random_seed=seed, verbose=True)
    start, cpu_start = time.perf_counter(), time.process_time()
    cnn.train((normalizer.apply(x), y))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    accuracy = float(np.mean(cnn.predict(normalizer.apply(data.x_test)) == data.y_test))
    return _result("DigitCNN (low-level TF)", accuracy, seconds, len(x), epochs,
                   float(cnn.history["Loss"].iloc[-1]), cpu)


def bench_keras(data, epochs: int, limit: int | None, seed: int, run_dir: Path) -> dict:
    from cnnlab.config import TrainConfig
    from cnnlab.training.train import train

    config = TrainConfig.from_recipe("seed", model="digitcnn", val_split=0, epochs=epochs, limit=limit, seed=seed)
    start, cpu_start = time.perf_counter(), time.process_time()
    run = train(config, run_dir, overwrite=True, dataset=data)
    # wall and cpu also count saving the run and train()'s final test evaluation (a few seconds)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    seconds = float(run.history["seconds"].sum())  # the epochs alone, comparable with the low-level figure
    result = _result("digitcnn (Keras, cnnlab train)", float(run.metrics["accuracy"]), seconds,
                     len(data.x_train[:limit]), epochs, float(run.history["loss"].iloc[-1]), cpu)
    return {**result, "wall_seconds_with_run_io": round(wall, 1)}


def _result(name: str, accuracy: float, seconds: float, images: int, epochs: int, last_loss: float,
            cpu_seconds: float) -> dict:
    # cpu_seconds (all threads of this process) depends far less than wall time on what else the machine runs
    return {"model": name, "test_accuracy": round(accuracy, 4), "train_seconds": round(seconds, 1),
            "cpu_seconds": round(cpu_seconds, 1),
            "seconds_per_epoch": round(seconds / epochs, 1),
            "images_per_second": round(images * epochs / seconds, 1), "last_epoch_loss": round(last_loss, 5),
            "train_images": images, "epochs": epochs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images only (quick checks)")
    parser.add_argument("--seed", type=int, default=27)
    parser.add_argument("--models", default="lowlevel,keras", help="comma-separated: lowlevel, keras")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args()

    from cnnlab.data.sources import load_dataset
    from cnnlab.runtime import library_versions, machine_info

    data = load_dataset("mnist")
    results: list[dict] = []

    def record(result: dict) -> None:  # written after each model, so a long run keeps what it finished
        results.append(result)
        print(json.dumps(result), flush=True)
        if args.json_out:
            report = {"results": results, "machine": machine_info(), "load_average": os.getloadavg(),
                      "versions": library_versions(), "python": platform.python_version()}
            args.json_out.write_text(json.dumps(report, indent=2))

    # the low-level run goes first: cnnlab's train() turns on TensorFlow's op determinism for the process
    if "lowlevel" in args.models:
        record(bench_lowlevel(data, args.epochs, args.limit, args.seed))
    if "keras" in args.models:
        with tempfile.TemporaryDirectory() as tmp:
            record(bench_keras(data, args.epochs, args.limit, args.seed, Path(tmp) / "run"))
    for r in results:
        print(f"{r['model']:32s} test acc {100 * r['test_accuracy']:.2f} %  "
              f"{r['train_seconds']:8.1f} s  ({r['seconds_per_epoch']:.1f} s/epoch, "
              f"{r['images_per_second']:.0f} img/s, {r['cpu_seconds']:.0f} CPU s)")


if __name__ == "__main__":
    main()
