"""Part ``best``: the ``best`` recipe on MNIST and Fashion-MNIST over several seeds, each a ``cnnlab train``
child process. The accuracy is ``metrics.json``'s — the final model on the test set, no best-epoch picking —
and the time is ``manifest.json``'s ``train_seconds``.

Runs are kept in ``OUT/best-runs/<dataset>-seed<S>`` (``-quick`` for ``--quick``): a bench interrupted in this
long part reuses the runs that finished on this kind of machine (unless ``--rerun``) and trains the others again.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from cnnlab_bench.children import run_cnnlab
from cnnlab_bench.context import BenchContext
from cnnlab_bench.machine import machine_key
from cnnlab_bench.settings import BestSettings

GOALS = {"mnist": 0.9965, "fashion-mnist": 0.935}  # mean final test accuracy over the seeds
TARGET_MINUTES = {"mnist": 10, "fashion-mnist": 15}  # about this much training each


def run_best(settings: BestSettings, context: BenchContext) -> dict[str, Any]:
    """Per dataset: each seed's accuracy, seconds and peak memory; the mean and std; the goal."""
    from cnnlab.runtime import machine_info

    recipe = "best"
    here = machine_key(machine_info())  # a finished run is reused only when it was trained on this kind of machine
    _keep_out_of_git(context.out / "best-runs")
    datasets = {}
    for dataset in settings.datasets:
        seeds = [_seed_run(recipe, dataset, seed, settings, context, here) for seed in range(settings.seeds)]
        accuracies = [s["test_accuracy"] for s in seeds]
        mean = statistics.fmean(accuracies)
        datasets[dataset] = {
            "seeds": seeds, "mean": mean, "std": statistics.stdev(accuracies) if len(accuracies) > 1 else None,
            "mean_train_seconds": statistics.fmean(s["train_seconds"] for s in seeds),
            "goal": {"accuracy": GOALS.get(dataset), "minutes": TARGET_MINUTES.get(dataset),
                     "met": dataset in GOALS and mean >= GOALS[dataset]},
        }
    return {"recipe": recipe, "datasets": datasets}


def _seed_run(recipe: str, dataset: str, seed: int, settings: BestSettings, context: BenchContext,
              here: tuple) -> dict[str, Any]:
    from cnnlab.run import Run

    run_dir = context.out / "best-runs" / f"{dataset}-seed{seed}{'-quick' if settings.limit else ''}"
    label = f"{dataset} seed {seed}"
    child = None
    if context.rerun or not _finished(run_dir, recipe, dataset, seed, here):
        context.say("best", f"{label}: cnnlab train --recipe {recipe}")
        arguments = ["train", "--recipe", recipe, "--dataset", dataset, "--seed", str(seed),
                     "--run-dir", str(run_dir), "--overwrite"]
        arguments += ["--limit", str(settings.limit)] if settings.limit else []
        arguments += ["--epochs", str(settings.epochs)] if settings.epochs else []
        child = run_cnnlab(arguments, progress=lambda line: context.say("best", f"  {label}: {line}"))
    else:
        context.say("best", f"{label}: reusing the finished run {run_dir}")
    run = Run.load(run_dir)
    return {"seed": seed, "run_dir": str(run_dir), "model": run.config.model, "epochs": int(len(run.history)),
            "test_accuracy": float(run.metrics["accuracy"]), "train_seconds": float(run.manifest["train_seconds"]),
            "max_rss_bytes": child["max_rss_bytes"] if child else None, "reused": child is None}


def _keep_out_of_git(folder: Path) -> None:
    """The runs hold model files: a ``.gitignore`` of ``*`` keeps them out of a commit of the results folder."""
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# written by benchmarks/bench.py: the best part's runs (model files) stay out of git\n*\n")


def _finished(run_dir: Path, recipe: str, dataset: str, seed: int, here: tuple) -> bool:
    """A complete run (metrics written) of the same recipe, dataset and seed, trained on the kind of machine
    ``here`` (a ``machine_key``): its seconds are reported."""
    from cnnlab.errors import CnnlabError
    from cnnlab.run import Run

    try:
        run = Run.load(run_dir)
        config = run.config
        same_run = bool(run.metrics) and (config.recipe, config.dataset, config.seed) == (recipe, dataset, seed)
        return same_run and machine_key(run.manifest.get("machine") or {}) == here
    except CnnlabError:
        return False
