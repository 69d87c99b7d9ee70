"""``cnnlab evaluate RUN``: accuracy, loss, per-class report and confusion matrix, saved in the run."""

from __future__ import annotations

from cnnlab.commands._output import percent, print_json, print_table
from cnnlab.commands._tensorflow import RUN_HELP, open_run
from cnnlab.run import METRICS


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("evaluate", help="evaluate a run on its test or validation split",
                                   description="Evaluate a run's final model; writes metrics.json into the run.")
    parser.add_argument("run", metavar="RUN", help=RUN_HELP)
    parser.add_argument("--split", choices=("test", "val"), default="test", help="which images (default test)")
    parser.add_argument("--data-dir", metavar="DIR", help="a folder with the four IDX files")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from cnnlab.evaluation import evaluate
    run_ = open_run(args.run, args.debug, writable=True)
    metrics = evaluate(run_, args.split, args.data_dir)
    run_.write_metrics(metrics, METRICS if args.split == "test" else "metrics_val.json")
    if args.json:
        print_json({"run_dir": str(run_.path), **metrics})
        return 0
    print(f"{run_.path}: {args.split} accuracy {percent(metrics['accuracy'])}, loss {metrics['loss']:.4f} "
          f"on {metrics['num_images']:,} images")
    print()
    print_table([(c["name"], c["precision"], c["recall"], c["f1"], c["support"]) for c in metrics["per_class"]],
                ["class", "precision", "recall", "f1", "support"])
    print()
    names = [c["name"][:7] for c in metrics["per_class"]]
    print_table([[names[i], *row] for i, row in enumerate(metrics["confusion_matrix"])], ["true\\pred", *names])
    return 0
