"""``cnnlab predict RUN PATH...``: classify image files and folders with a trained run."""

from __future__ import annotations

from pathlib import Path

from cnnlab.commands._output import note, percent, print_json, print_table
from cnnlab.commands._tensorflow import RUN_HELP, open_run


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict", help="classify photos and drawings (files or folders) with a run",
        description="Preprocess each image the way MNIST was made (invert, even the light, crop, centre) and "
                    "classify it. A file name starting with a digit gives the true label (7_any.png).")
    parser.add_argument("run", metavar="RUN", help=RUN_HELP)
    parser.add_argument("paths", metavar="PATH", nargs="+", help="image files or folders of images")
    parser.add_argument("--top", type=int, default=3, metavar="K", help="list the K most likely classes (default 3)")
    parser.add_argument("--preview-dir", metavar="DIR", help="save each 28x28 model input here as a PNG")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from cnnlab.errors import ConfigError, DataError
    from cnnlab.images.predict import predict_paths

    if args.top < 1:
        raise ConfigError(f"--top {args.top} must be at least 1")
    run_ = open_run(args.run, args.debug)
    result = predict_paths(run_, args.paths, top=args.top, explain=bool(args.preview_dir))
    if args.preview_dir:
        _save_previews(result["previews"], Path(args.preview_dir))
        _save_previews(result["explanations"], Path(args.preview_dir) / "why")  # what preprocessing removed
    predictions = result["predictions"]
    if predictions and all(p.get("error") for p in predictions):
        raise DataError(f"no image could be used: {predictions[0]['error']}"
                        + (f" (and {len(predictions) - 1} more)" if len(predictions) > 1 else ""))
    if args.json:
        print_json({"predictions": predictions, "accuracy": result["accuracy"]})
        return 0
    rows = []
    for p in predictions:
        top = ", ".join(f"{t['class_name']} {100 * t['probability']:.0f}%" for t in p["top"])
        flag = _without_file(p.get("error"), p["file"]) or ("low confidence" if p["low_confidence"] else "")
        if p["true_label"] is not None and p["label"] is not None and p["label"] != p["true_label"]:
            flag = (flag + "; " if flag else "") + "wrong"
        rows.append((p["file"], p["class_name"], percent(p["confidence"], 1), p["true_class_name"], top, flag))
    print_table(rows, ["file", "predicted", "confidence", "true", "top", "note"])
    if result["accuracy"] is not None:
        labelled = sum(p["true_label"] is not None for p in predictions)
        print(f"\naccuracy {percent(result['accuracy'])} on {labelled:,} labelled images")
    return 0


def _save_previews(previews: dict, folder: Path) -> None:
    """One PNG a prediction, named after the source file (folders flattened with '__')."""
    folder.mkdir(parents=True, exist_ok=True)
    for source, image in previews.items():
        name = "__".join(Path(source).with_suffix("").parts[-3:]).lstrip("._") + ".png"
        image.save(folder / name)
    note(f"saved {len(previews)} previews in {folder}")


def _without_file(error: str | None, file: str) -> str | None:
    """The error without its leading ``FILE: `` — the table's first column names the file already."""
    prefix = f"{file}: "
    return error[len(prefix):] if error and error.startswith(prefix) else error
