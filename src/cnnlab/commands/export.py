"""``cnnlab export RUN --format savedmodel|tflite|onnx``: export a run's model and check it against Keras."""

from __future__ import annotations

from cnnlab.commands._output import note, percent, print_json

FORMATS = ("savedmodel", "tflite", "onnx")  # the same list as cnnlab.export.FORMATS, without importing TF


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="export a run's model as a SavedModel, TFLite or ONNX file, checked against Keras",
        description="Export a run's final model. The exported model takes raw uint8 28x28 images (the run's "
                    "normalization is inside) and returns probabilities and class ids. Each export is run on "
                    "1,000 test images and compared with the Keras model before it is put in place.")
    parser.add_argument("run", metavar="RUN", help="a run directory written by 'cnnlab train'")
    parser.add_argument("--format", required=True, choices=FORMATS, help="savedmodel, tflite or onnx")
    parser.add_argument("--quantize", choices=("int8",),
                        help="tflite or onnx: int8 weights and activations, calibrated on 500 training images")
    parser.add_argument("--out", metavar="PATH",
                        help="where to write (default RUN/export/savedmodel/1, RUN/export/model[-int8].tflite or "
                             "RUN/export/model[-int8].onnx)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier export at the same path")
    parser.add_argument("--data-dir", metavar="DIR", help="a folder with the four IDX files")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from cnnlab.export import export_run
    from cnnlab.training.run import Run

    result = export_run(Run.load(args.run), args.format, out=args.out, quantize=args.quantize,
                        data_dir=args.data_dir, overwrite=args.overwrite)
    check = result["check"]
    if args.json:
        print_json(result)
    else:
        kind = f"{args.format} ({args.quantize or 'float32'})"
        print(f"exported {kind} to {result['path']} ({result['size_bytes'] / 1e6:.2f} MB, {result['seconds']:.1f} s)")
        print(f"check on {check['num_images']:,} test images: max probability difference "
              f"{check['max_prob_diff']:.2e}, accuracy {percent(check['export_accuracy'])} exported vs "
              f"{percent(check['keras_accuracy'])} Keras, same class {percent(check['agreement'])} -> "
              f"{'passed' if check['passed'] else 'FAILED'} ({check['criterion']})")
    if not check["passed"]:
        note(f"cnnlab: error: the exported model does not match the Keras model ({check['criterion']} is false); "
             "do not use it, and rerun with --debug or report the run")
        return 1
    return 0
