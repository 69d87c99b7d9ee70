"""``cnnlab repeat``: one training config over several seeds; mean +- std and a 95 % interval of test accuracy."""

from __future__ import annotations

import datetime as dt

from cnnlab.commands._config_args import add_config_arguments, add_output_arguments, config_from_args
from cnnlab.commands._output import note, percent, print_json, print_table
from cnnlab.commands._tensorflow import load_tensorflow
from cnnlab.commands._tracking import add_mlflow_arguments, checked_mlflow_uri, log_to_mlflow
from cnnlab.errors import ConfigError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "repeat", help="train one config with several seeds (a repeat group)",
        description="Train the same config once per seed into DIR/seed-<s>, then report the mean, standard "
                    "deviation and 95 % t-interval of test accuracy. Compare two groups with "
                    "'cnnlab compare A B' (Welch's t-test).")
    parser.add_argument("--seeds", type=int, default=5, metavar="N", help="how many seeds (default 5)")
    add_config_arguments(parser, notes={"seed": "; the first of the N seeds"})
    add_output_arguments(parser, "--out", "group", "runs/repeat-<dataset>-<model>-<time>",
                         "continue the group in --out")
    add_mlflow_arguments(parser)
    parser.set_defaults(handler=run)


def run(args) -> int:
    if args.seeds < 2:
        raise ConfigError(f"--seeds {args.seeds} is out of range: a repeat group needs at least 2 seeds")
    config = config_from_args(args)  # a bad value is refused before TensorFlow loads
    mlflow_uri = checked_mlflow_uri(args)
    load_tensorflow(args.debug)
    from cnnlab.experiments.repeat import run_repeat

    seeds = list(range(config.seed, config.seed + args.seeds))
    out = args.out or f"runs/repeat-{config.dataset}-{config.model}-{config.recipe}-{dt.datetime.now():%Y%m%d-%H%M%S}"

    def callbacks_for(seed: int) -> list:
        if args.quiet:
            return []
        from cnnlab.training.progress import TrainingProgress

        note(f"seed {seed} ({seeds.index(seed) + 1} of {len(seeds)}) into {out}/seed-{seed}")
        return [TrainingProgress()]

    try:
        group = run_repeat(config, seeds, out, resume=args.resume, overwrite=args.overwrite,
                           data_dir=args.data_dir, callbacks_for=callbacks_for)
    except KeyboardInterrupt:
        note(f"interrupted; continue with the same command and --resume --out {out}")
        return 130
    if mlflow_uri is not None:  # every seed's run, once the group is complete
        from pathlib import Path

        from cnnlab.run import Run

        group["mlflow_run_ids"] = [log_to_mlflow(Run.load(Path(out) / r["run_dir"]), mlflow_uri, args,
                                                 {"cnnlab.group": str(Path(out).resolve())}) for r in group["runs"]]
    if args.json:
        print_json({"group_dir": out, **group})
        return 0
    print_table([(r["seed"], r["run_dir"], percent(r["val_accuracy"]), percent(r["test_accuracy"]),
                  f"{r['wall_seconds'] or 0:.0f} s") for r in group["runs"]],
                ["seed", "run", "val acc", "test acc", "wall"])
    stats = group["test_accuracy"]
    low, high = stats["ci95"]
    print()
    print(f"test accuracy over {stats['n']} seeds: {percent(stats['mean'])} +- {100 * stats['std']:.2f} pts (std); "
          f"95 % interval [{percent(low)}, {percent(high)}]")
    note(f"wrote {out}/group.json")
    return 0
