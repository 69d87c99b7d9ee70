"""Part ``models``: training throughput of every registered model at its ``default`` recipe's batch size and
precision. Each trains ``epochs`` epochs on the first ``images`` MNIST images (no validation split); the
median of the epochs after the first is reported, so tracing (first epoch) is left out.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from cnnlab_bench.context import BenchContext
from cnnlab_bench.settings import ModelsSettings


def run_models(settings: ModelsSettings, context: BenchContext) -> dict[str, Any]:
    """One row per registered model: params, MACs/image, batch, precision (``auto`` resolved), images/s of each epoch
    and their median."""
    from cnnlab.models import list_models

    data = context.dataset("mnist")
    rows = []
    for info in list_models():
        context.say("models", f"{info.name}: {settings.epochs} epochs on {settings.images:,} images")
        rows.append({"model": info.name, "params": info.params, "macs": info.macs,
                     **_throughput(info.name, settings, data, context)})
    return {"images": settings.images, "epochs": settings.epochs, "recipe": "default", "models": rows}


def _throughput(model: str, settings: ModelsSettings, data, context: BenchContext) -> dict[str, Any]:
    from cnnlab.config import TrainConfig
    from cnnlab.training.train import train

    config = TrainConfig.from_recipe("default", model=model, epochs=settings.epochs, limit=settings.images,
                                     val_split=0)
    run = train(config, context.scratch / f"models-{model}-{time.time_ns()}", dataset=data)
    per_epoch = [float(v) for v in run.history["images_per_second"]]
    steady = per_epoch[1:] or per_epoch  # one epoch only: nothing to leave out ("tracing_excluded" says so)
    return {"batch_size": config.batch_size, "precision": run.manifest["precision"],
            "images_per_second_per_epoch": per_epoch, "images_per_second": round(statistics.median(steady), 1),
            "tracing_excluded": len(per_epoch) > 1}
