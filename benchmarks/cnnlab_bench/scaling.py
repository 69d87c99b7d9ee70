"""Part ``scaling``: how training time grows with the number of training images, and peak memory.

``cnnlab train --recipe fast --limit N --val-split 0 --epochs E`` runs in a child process (the real CLI) for each
N. Training seconds are ``manifest.json``'s ``train_seconds`` (the epochs, first-epoch tracing included) and
the last epoch's ``seconds`` from ``history.csv`` (steady state, no tracing). Linearity: the ratio of the
largest to the smallest N's time against the ratio of the Ns, and R^2 of a least-squares line t = a + b*N.
The sizes run ``rounds`` times in turn and each keeps its round with the fastest last epoch: another program's
burst of work during one child would otherwise bend the line.

Then one full training run of the ``default`` recipe — the run ``make demo`` makes, all of MNIST, its own
epochs — for the peak memory a user meets. Peak RSS of every child comes from ``os.wait4``.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab_bench.children import run_cnnlab
from cnnlab_bench.context import BenchContext
from cnnlab_bench.settings import ScalingSettings

GOAL_PEAK_BYTES = 2 * 10**9  # peak resident memory of a full MNIST training run


def run_scaling(settings: ScalingSettings, context: BenchContext) -> dict[str, Any]:
    """Rows for each N with the linearity figures, and the full run with its peak memory."""
    recipe = "fast"
    tries: dict[int, list[dict[str, Any]]] = {size: [] for size in settings.sizes}
    for round_ in range(1, settings.rounds + 1):
        for size in settings.sizes:
            context.say("scaling", f"round {round_}/{settings.rounds}: cnnlab train --recipe {recipe} --limit {size} "
                                   f"--epochs {settings.epochs}")
            tries[size].append(_train_child(["--recipe", recipe, "--limit", str(size), "--val-split", "0",
                                             "--epochs", str(settings.epochs)],
                                            context.scratch / f"scaling-{size}", context))
    rows = [{"images": size, **min(runs, key=lambda r: r["last_epoch_seconds"]),
             "last_epoch_seconds_per_round": [r["last_epoch_seconds"] for r in runs]} for size, runs in tries.items()]
    context.say("scaling", f"full run: cnnlab train --recipe {settings.full_recipe}")
    full_args = ["--recipe", settings.full_recipe]
    full_args += ["--limit", str(settings.full_limit)] if settings.full_limit else []
    full_args += ["--epochs", str(settings.full_epochs)] if settings.full_epochs else []
    full = _train_child(full_args, context.scratch / "scaling-full", context)
    return {"recipe": recipe, "epochs": settings.epochs, "rounds": settings.rounds, "runs": rows,
            "linearity": linearity(rows),
            "full_run": full, "goal": {"peak_bytes": GOAL_PEAK_BYTES, "met": full["max_rss_bytes"] < GOAL_PEAK_BYTES}}


def linearity(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Ratios t(largest N) / t(smallest N) against N's ratio, and R^2 of t = a + b*N, for both time columns.

    Example:
        >>> linearity([{"images": 1, "train_seconds": 2.0, "last_epoch_seconds": 1.0},
        ...            {"images": 4, "train_seconds": 8.0, "last_epoch_seconds": 4.0}])["size_ratio"]
        4.0
    """
    sizes = np.asarray([r["images"] for r in rows], dtype=float)
    figures: dict[str, Any] = {"size_ratio": round(float(sizes[-1] / sizes[0]), 3)}
    for column in ("train_seconds", "last_epoch_seconds"):
        seconds = np.asarray([r[column] for r in rows], dtype=float)
        slope, intercept = np.polyfit(sizes, seconds, 1)
        residual = seconds - (slope * sizes + intercept)
        spread = float(((seconds - seconds.mean()) ** 2).sum())
        figures[column] = {"time_ratio": round(float(seconds[-1] / seconds[0]), 3),
                           "r_squared": round(1 - float((residual ** 2).sum()) / spread, 4) if spread else None,
                           "seconds_per_1000_images": round(1000 * float(slope), 4),
                           "intercept_seconds": round(float(intercept), 3)}
    return figures


def _train_child(arguments: list[str], run_dir: Path, context: BenchContext) -> dict[str, Any]:
    """One ``cnnlab train`` child: training seconds from the run's manifest and history, its peak memory."""
    from cnnlab.data.splits import training_split
    from cnnlab.run import Run

    child = run_cnnlab(["train", *arguments, "--run-dir", str(run_dir), "--overwrite"],
                       progress=lambda line: context.say("scaling", f"  {line}"))
    run = Run.load(run_dir)
    history = run.history
    train_seconds = float(run.manifest["train_seconds"])
    images = len(training_split(run.config, context.dataset(run.config.dataset))[0])  # after its validation split
    return {"command": shlex.join(["cnnlab", "train", *arguments]), "trained_images": images,
            "epochs": int(len(history)), "train_seconds": train_seconds,
            "last_epoch_seconds": float(history["seconds"].iloc[-1]), "max_rss_bytes": child["max_rss_bytes"],
            "wall_seconds": child["wall_seconds"], "test_accuracy": (run.metrics or {}).get("accuracy"),
            "seconds_per_1000_images_per_epoch": round(1000 * train_seconds / (len(history) * images), 4)}
