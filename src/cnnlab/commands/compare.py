"""``cnnlab compare RUN RUN...``: learning curves overlaid and a table of configs and results, as one page."""

from __future__ import annotations

from cnnlab.commands._output import note, print_json, print_table

DEFAULT_OUT = "compare"  # a folder inside the first run (or group), never the current folder


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare", help="compare runs: overlaid learning curves and a table",
        description="Write DIR/compare.html (self-contained) and DIR/curves.png comparing two or more runs. "
                    "Given two repeat groups (from 'cnnlab repeat'), also test whether their mean test "
                    "accuracies differ by more than the seed noise (Welch's t-test).")
    parser.add_argument("runs", metavar="RUN", nargs="+",
                        help="run directories written by 'cnnlab train', or two repeat groups")
    parser.add_argument("--out", metavar="DIR",
                        help=f"where to write the page (default FIRST_RUN/{DEFAULT_OUT})")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from cnnlab.experiments.groups import is_repeat_group
    from cnnlab.viz.compare import RESULT_COLUMNS, compare_runs, format_value, write_comparison

    if len(args.runs) == 2 and all(is_repeat_group(path) for path in args.runs):
        return _compare_groups(args)
    comparison = compare_runs(args.runs)
    html = write_comparison(comparison, _out_dir(args))
    if args.json:
        print_json({"html": str(html), "runs": comparison.rows()})
        return 0
    shown = ["final_loss", "final_val_loss", "best_val_loss", "best_val_loss_epoch", "test_accuracy", "test_loss"]
    print_table([[label, *(format_value(k, result[k]) for k in shown)]
                 for label, result in zip(comparison.labels, comparison.results)],
                ["run", *(RESULT_COLUMNS[k][0] for k in shown)])
    differences = comparison.differences()
    print("\nconfigs differ in: " + "; ".join(differences) if differences else
          "\nconfigs are the same, seed included: any difference comes from the code or the library versions "
          "(manifest.json)")
    if len({config["dataset"] for config in comparison.configs}) > 1:
        note("cnnlab: note: the runs were trained on different datasets; their accuracies do not compare")
    note(f"wrote {html}")
    return 0


def _compare_groups(args) -> int:
    """Two repeat groups ('cnnlab repeat'): is the difference of mean test accuracy larger than the noise?"""
    from pathlib import Path

    from cnnlab.commands._output import percent
    from cnnlab.experiments.groups import compare_groups
    from cnnlab.fileio import write_json

    result = compare_groups(*args.runs)
    out = Path(_out_dir(args))
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "welch.json", result)
    if args.json:
        print_json(result)
        return 0
    print_table([(name, result[key]["n"], percent(result[key]["mean"]), f"{100 * result[key]['std']:.2f} pts",
                  f"[{percent(result[key]['ci95'][0])}, {percent(result[key]['ci95'][1])}]")
                 for key, name in (("a", args.runs[0]), ("b", args.runs[1]))],
                ["group", "seeds", "mean test acc", "std", "95 % interval"])
    verdict = "larger" if result["significant"] else "not larger"
    low, high = result["ci95"]
    print(f"\ndifference (second - first): {100 * result['difference']:+.2f} pts, 95 % interval "
          f"[{100 * low:+.2f}, {100 * high:+.2f}] pts; Welch's t-test p = {result['p_value']:.3g}: "
          f"{verdict} than the seed-to-seed noise (alpha {result['alpha']})")
    if result["differences"]:
        print("configs differ in: " + "; ".join(result["differences"]))
    note(f"wrote {out / 'welch.json'}")
    return 0


def _out_dir(args) -> str:
    """--out, or a folder inside the first run: compare never writes into the folder it is called from."""
    from pathlib import Path

    return args.out if args.out is not None else str(Path(args.runs[0]) / DEFAULT_OUT)
