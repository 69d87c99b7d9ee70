"""Repeat groups: one config trained with several seeds, to see how much of a result is noise.

A repeat group is a directory holding one run per seed and ``group.json``::

    group.json    the config (its seed is the first one), the seeds, each run's test accuracy, and
                  mean +- std with the 95 % Student-t interval of the test accuracy
    seed-0/       a normal run directory (everything that takes a run takes it)
    seed-1/ ...
    logs/         TensorBoard HParams: one session a seed (logs/seed-0 ...) with its test figures

``group.json`` is rewritten after every finished run, so a killed group resumes where it stopped.
Two groups are compared with :func:`cnnlab.experiments.groups.compare_groups` (``cnnlab compare A B``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

from cnnlab.config import TrainConfig
from cnnlab.data.sources import load_dataset
from cnnlab.data.splits import training_split
from cnnlab.errors import ConfigError, RunError
from cnnlab.experiments.groups import GROUP_FILE, GROUP_VERSION, load_group
from cnnlab.experiments.stats import mean_interval
from cnnlab.fileio import write_json
from cnnlab.run import METRICS, Run, continue_or_clear, prepare_output_dir
from cnnlab.training.tracking import hparam_values, write_group_hparams
from cnnlab.training.train import check_network, train


def run_repeat(
    config: TrainConfig,
    seeds: Sequence[int],
    out_dir: str | os.PathLike,
    *,
    resume: bool = False,
    overwrite: bool = False,
    data_dir: str | os.PathLike | None = None,
    dataset=None,
    callbacks_for: Callable[[int], Sequence[Any]] | None = None,
    on_run: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train ``config`` once per seed into ``out_dir/seed-<s>``; returns the group summary (``group.json``).

    ``callbacks_for(seed)`` gives extra Keras callbacks for that seed's run (a progress display);
    ``on_run(entry)`` is called after each finished run.

    Example:
        >>> config = TrainConfig.from_recipe("default", epochs=1, limit=3000)
        >>> group = run_repeat(config, [0, 1, 2], "runs/rep")  # doctest: +SKIP
        >>> group["test_accuracy"]["mean"], group["test_accuracy"]["ci95"]  # doctest: +SKIP
    """
    seeds = _check_seeds(seeds, config)
    # The network, the data and its split may refuse the config: all before the group directory is made.
    check_network(config)
    data = dataset if dataset is not None else load_dataset(config.dataset, data_dir)
    training_split(config, data)
    path = _prepare(Path(out_dir), config, seeds, resume, overwrite)
    entries = []
    for seed in seeds:
        run_dir = path / f"seed-{seed}"
        if not (run_dir / METRICS).exists():
            extra = callbacks_for(seed) if callbacks_for else ()
            train(config.replace(seed=seed), run_dir, resume=continue_or_clear(run_dir), dataset=data,
                  callbacks=extra)
            entry = _entry(Run.load(run_dir), seed, path)
            if on_run is not None:
                on_run(entry)
        else:
            entry = _entry(Run.load(run_dir), seed, path)
        entries.append(entry)
        write_json(path / GROUP_FILE, group_summary(config, seeds, entries))
    _write_hparams(path, config, entries)
    return load_group(path)


def _write_hparams(path: Path, config: TrainConfig, entries: list[dict[str, Any]]) -> None:
    """``logs/``: one TensorBoard HParams session a seed (``logs/seed-0`` ...) with the config and its test and
    validation figures; TensorBoard pointed at a folder of groups lists every seed of every group."""
    sessions = [(f"seed-{entry['seed']}", hparam_values(config.replace(seed=entry["seed"])),
                 {"test_accuracy": entry["test_accuracy"], "test_loss": entry["test_loss"],
                  "val_accuracy": entry["val_accuracy"]})
                for entry in entries]
    write_group_hparams(path / "logs", sessions)


def group_summary(config: TrainConfig, seeds: Sequence[int], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The content of ``group.json``: the runs and the mean, std and 95 % interval of their test accuracy."""
    accuracies = [e["test_accuracy"] for e in entries if e.get("test_accuracy") is not None]
    config_values = config.to_dict()
    config_values.pop("seed")
    return {
        "cnnlab_repeat_group": GROUP_VERSION,
        "config": config_values,
        "seeds": list(seeds),
        "finished": len(entries),
        "runs": entries,
        "test_accuracy": mean_interval(accuracies),  # an undefined statistic (one run has no std) is null
    }


def _entry(run: Run, seed: int, group_dir: Path) -> dict[str, Any]:
    summary = run.summary()
    return {"seed": seed, "run_dir": str(run.path.relative_to(group_dir)),
            "test_accuracy": summary["test_accuracy"], "test_loss": (run.metrics or {}).get("loss"),
            "val_accuracy": summary["val_accuracy"], "wall_seconds": summary["wall_seconds"]}


def _check_seeds(seeds: Sequence[int], config: TrainConfig) -> list[int]:
    seeds = list(seeds)
    if len(seeds) < 2:
        raise ConfigError(f"seeds: a repeat group needs at least 2 seeds, got {len(seeds)}")
    if len(set(seeds)) != len(seeds) or any(not isinstance(s, int) or s < 0 for s in seeds):
        raise ConfigError(f"seeds {seeds} must be distinct whole numbers >= 0")
    if config.distribute == "multiworker":
        raise ConfigError("repeat trains several models in one process; use --distribute none or mirrored")
    return seeds


def _prepare(path: Path, config: TrainConfig, seeds: list[int], resume: bool, overwrite: bool) -> Path:
    if prepare_output_dir(path, GROUP_FILE, "repeat group", "--out", resume, overwrite):
        stored = load_group(path)
        expected = group_summary(config, seeds, [])
        if stored["config"] != expected["config"] or stored["seeds"] != expected["seeds"]:
            raise RunError(f"{path} holds a different repeat group; resume it with the same options or "
                           "choose another --out")
        return path
    write_json(path / GROUP_FILE, group_summary(config, seeds, []))
    return path
