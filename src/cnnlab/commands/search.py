"""``cnnlab search``: a hyperparameter grid, k-fold cross-validated on the training images, as a table."""

from __future__ import annotations

import datetime as dt
import math

from cnnlab.commands._config_args import add_config_arguments, add_output_arguments, config_from_args
from cnnlab.commands._output import note, percent, print_json, print_table
from cnnlab.commands._tracking import add_mlflow_arguments, checked_mlflow_uri, log_to_mlflow
from cnnlab.commands._tensorflow import load_tensorflow
from cnnlab.errors import ConfigError

# The search makes its own folds, so the validation-split options of 'train' do not apply; --limit is the subset.
_NOT_SEARCH_FLAGS = ("val_split", "val_mode", "limit")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "search", help="grid search with stratified k-fold cross-validation",
        description="Train every combination of the grid on K stratified folds of the training images (the "
                    "test set is never used) and rank them by mean validation accuracy. A killed search "
                    "continues with --resume, skipping finished folds. A --config file's validation split and "
                    "limit do not apply: the search makes its own folds, of --limit images.")
    parser.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                        help="a config option or model option and its values (repeatable), e.g. "
                             "--grid learning_rate=1e-3,3e-3 --grid dropout=0,0.5")
    parser.add_argument("--folds", type=int, default=3, metavar="K", help="cross-validation folds (default 3)")
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="search on the first N training images (default all)")
    add_config_arguments(parser, skip=_NOT_SEARCH_FLAGS)
    parser.add_argument("--refit", action="store_true",
                        help="train the best combination on all the training images and evaluate it on the test set")
    add_output_arguments(parser, "--out", "search", "runs/search-<dataset>-<model>-<time>",
                         "continue the search in --out, skipping finished folds",
                         quiet_help="no line per finished fold")
    add_mlflow_arguments(parser)
    parser.set_defaults(handler=run)


def run(args) -> int:
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"limit {args.limit} is out of range: use a number of images >= 1")
    if args.folds < 2:
        raise ConfigError(f"folds {args.folds} is out of range: use a whole number >= 2")
    base = config_from_args(args)  # a bad value is refused before TensorFlow loads
    mlflow_uri = checked_mlflow_uri(args)
    load_tensorflow(args.debug)
    from cnnlab.experiments.search import SearchSpec, parse_grid, run_search  # imports the trainer, and TensorFlow

    spec = SearchSpec(base, parse_grid(args.grid), args.folds, args.limit)  # run_search validates it, once
    out = args.out or f"runs/search-{base.dataset}-{base.model}-{dt.datetime.now():%Y%m%d-%H%M%S}"

    def on_start() -> None:
        if not args.quiet:
            note(f"searching {len(spec.combinations())} combinations x {spec.folds} folds of {base.model} on "
                 f"{base.dataset} into {out}")

    def on_fold(row: dict) -> None:
        if not args.quiet:
            note(f"[{row['finished']}/{row['total']}] fold {row['fold'] + 1} of {row['label']}: "
                 f"val acc {percent(row['val_accuracy'])} in {row['seconds']:.0f} s")

    try:
        result = run_search(spec, out, resume=args.resume, overwrite=args.overwrite, refit=args.refit,
                            data_dir=args.data_dir, on_start=on_start, on_fold=on_fold)
    except KeyboardInterrupt:
        note(f"interrupted; continue with the same command and --resume --out {out}")
        return 130
    if mlflow_uri is not None:
        _log_to_mlflow(result, mlflow_uri, args)
    if args.json:
        print_json(result.to_dict())
        return 0
    _print_result(result)
    return 0


def _log_to_mlflow(result, uri: str, args) -> None:
    """Every fold's run (tagged with its combination and fold) and the refit run, once the search is complete."""
    from cnnlab.experiments.search import label
    from cnnlab.run import Run

    search = str(result.path.resolve())
    combinations = result.spec.combinations()
    for row in result.results.to_dict("records"):
        log_to_mlflow(Run.load(result.path / row["run_dir"]), uri, args,
                      {"cnnlab.search": search, "cnnlab.combination": label(combinations[int(row["combination"])]),
                       "cnnlab.fold": str(int(row["fold"]))})
    if result.refit:
        log_to_mlflow(Run.load(result.refit["run_dir"]), uri, args, {"cnnlab.search": search, "cnnlab.refit": "yes"})


def _print_result(result) -> None:
    summary = result.summary
    print_table([(int(r["rank"]), r["label"], percent(r["mean_val_accuracy"]), _points(r["std_val_accuracy"]),
                  int(r["folds"]), f"{r['seconds_per_fold']:.1f} s", _points(-r["margin"]) if r["rank"] > 1 else "best")
                 for _, r in summary.iterrows()],
                ["rank", "combination", "mean val acc", "std", "folds", "time/fold", "vs best"])
    margin = result.to_dict()["margin"]
    print()
    best = summary.iloc[0]
    print(f"best: {best['label']} with {percent(best['mean_val_accuracy'])} +- {_points(best['std_val_accuracy'])} "
          f"over {int(best['folds'])} folds")
    if margin:
        p_value = margin["p_value"]
        p_text = "n/a" if p_value is None or math.isnan(p_value) else f"{p_value:.3f}"
        print(f"margin over the runner-up ({margin['runner_up']}): {_points(margin['difference'])} "
              f"(paired t-test over {margin['paired_folds']} folds: p = {p_text})")
    if result.refit:
        print(f"refit on all training images: test accuracy {percent(result.refit['test_accuracy'])} "
              f"({result.refit['run_dir']})")
    note(f"wrote {result.path}/results.csv, summary.csv, summary.png")


def _points(value: float | None) -> str:
    """An accuracy difference in percentage points."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{100 * value:+.2f} pts" if value < 0 else f"{100 * value:.2f} pts"
