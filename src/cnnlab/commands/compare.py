"""``cnnlab compare RUN RUN...``: learning curves overlaid and a table of configs and results, as one page."""

from __future__ import annotations

from cnnlab.commands._output import note, print_json, print_table

DEFAULT_OUT = "compare"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare", help="compare runs: overlaid learning curves and a table",
        description="Write DIR/compare.html (self-contained) and DIR/curves.png comparing two or more runs.")
    parser.add_argument("runs", metavar="RUN", nargs="+", help="run directories written by 'cnnlab train'")
    parser.add_argument("--out", metavar="DIR", default=DEFAULT_OUT,
                        help=f"where to write the page (default ./{DEFAULT_OUT})")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from cnnlab.viz.compare import RESULT_COLUMNS, compare_runs, format_value, write_comparison

    comparison = compare_runs(args.runs)
    html = write_comparison(comparison, args.out)
    if args.json:
        print_json({"html": str(html), "runs": comparison.rows()})
        return 0
    shown = ["final_loss", "final_val_loss", "best_val_loss", "best_val_loss_epoch", "test_accuracy", "test_loss"]
    print_table([[label, *(format_value(k, result[k]) for k in shown)]
                 for label, result in zip(comparison.labels, comparison.results)],
                ["run", *(RESULT_COLUMNS[k][0] for k in shown)])
    note(f"wrote {html}")
    return 0
