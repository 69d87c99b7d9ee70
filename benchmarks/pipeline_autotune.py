"""Epoch speed of DigitCNN's training with the tf.data pipeline cnnlab uses (fixed sizes, autotuning off)
against the same pipeline with tf.data's autotuning on, alternating epochs in one process.

Both pipelines give the same batches; only their scheduling differs. On a 2-core CPU the autotuned one ran
about half of its epochs at a steady ~25.6 ms a step instead of ~14 ms, which is why cnnlab turns it off
(``cnnlab.data.pipeline.fixed_pipeline_options``).

    .venv/bin/python benchmarks/pipeline_autotune.py --images 20000 --epochs 10 [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from cnnlab.runtime import import_tensorflow_quietly

PIPELINES = ("fixed", "autotuned")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20000, help="training images per epoch (default 20,000)")
    parser.add_argument("--epochs", type=int, default=10, help="timed epochs of each pipeline (default 10)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import_tensorflow_quietly()
    result = measure(args.images, args.epochs)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for name in PIPELINES:
        row = result[name]
        print(f"{name:10s} median {row['median_ms_per_step']:6.2f} ms/step, epochs: "
              + " ".join(f"{ms:.1f}" for ms in row["ms_per_step"]))


def measure(images: int, epochs: int, batch_size: int = 100, steps_per_execution: int = 50) -> dict:
    """Per-step milliseconds of every timed epoch of each pipeline (one warm-up call each first)."""
    from cnnlab.config import TrainConfig
    from cnnlab.data.normalize import Normalizer
    from cnnlab.data.pipeline import make_train_dataset, steps_per_epoch
    from cnnlab.data.sources import load_dataset
    from cnnlab.runtime import precision_policy, seed_everything
    from cnnlab.training.callbacks import EpochCounter
    from cnnlab.training.train import compile_model

    seed_everything(0)
    data = load_dataset("mnist")
    x, y = data.x_train[:images], data.y_train[:images]
    # the tutorial's recipe, compiled as `cnnlab train` compiles it
    config = TrainConfig.from_recipe("seed", model="digitcnn", batch_size=batch_size,
                                     steps_per_execution=steps_per_execution)
    normalizer = Normalizer.fit(config.normalization, x)
    steps = steps_per_epoch(len(x), batch_size)
    fits = {}
    for name in PIPELINES:
        # one epoch read from a variable, as `cnnlab train` builds it: that read changes how tf.data schedules it
        dataset = make_train_dataset(x, y, batch_size, seed=0, first_epoch=0, last_epoch=1,
                                     epoch_variable=EpochCounter(0).variable)  # raw pixels: the model normalizes
        if name == "autotuned":
            dataset = dataset.with_options(_autotuned_options())
        with precision_policy("auto"):
            model = compile_model(config, steps, normalizer)
        model.fit(dataset, steps_per_epoch=steps_per_execution, verbose=0, shuffle=False)  # tracing, outside the clock
        fits[name] = (model, dataset)
    times: dict[str, list[float]] = {name: [] for name in PIPELINES}
    for _ in range(epochs):
        for name, (model, dataset) in fits.items():
            start = time.perf_counter()
            model.fit(dataset, steps_per_epoch=steps, verbose=0, shuffle=False)
            times[name].append(round(1000 * (time.perf_counter() - start) / steps, 2))
    return {"images": len(x), "batch_size": batch_size,
            **{name: {"ms_per_step": times[name], "median_ms_per_step": statistics.median(times[name])}
               for name in PIPELINES}}


def _autotuned_options():
    import tensorflow as tf
    from absl import logging

    logging.set_verbosity(logging.ERROR)  # TF warns that these options replace the pipeline's own
    options = tf.data.Options()
    options.autotune.enabled = True
    options.experimental_optimization.inject_prefetch = True
    return options


if __name__ == "__main__":
    main()
