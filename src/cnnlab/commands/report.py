"""``cnnlab report RUN``: every figure of a run as PNG files and one self-contained HTML page."""

from __future__ import annotations

from cnnlab.commands._output import note, percent, print_json
from cnnlab.commands._tensorflow import RUN_HELP, open_run


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "report", help="write an HTML report with plots of a run",
        description="Write RUN/report/report.html (self-contained, images embedded) and each figure as a PNG "
                    "beside it; the same images go to TensorBoard under RUN/logs/report.")
    parser.add_argument("run", metavar="RUN", help=RUN_HELP)
    parser.add_argument("--out", metavar="DIR", help="where to write the report (default RUN/report)")
    parser.add_argument("--image-index", type=int, default=0, metavar="N",
                        help="the test image whose convolution-layer outputs are shown (default 0)")
    parser.add_argument("--data-dir", metavar="DIR", help="a folder with the four IDX files")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from cnnlab.viz.report import write_report

    run_ = open_run(args.run, args.debug, writable=True)
    result = write_report(run_, args.out, args.image_index, args.data_dir)
    if args.json:
        print_json({"run_dir": args.run, "report": str(result.html), "figures": [str(p) for p in result.pngs],
                    "test_accuracy": result.metrics["accuracy"], "test_loss": result.metrics["loss"],
                    "seconds": round(result.seconds, 2)})
        return 0
    note(f"{len(result.pngs)} figures in {result.seconds:.1f} s")
    print(f"{result.html}  (test accuracy {percent(result.metrics['accuracy'])})")
    return 0
