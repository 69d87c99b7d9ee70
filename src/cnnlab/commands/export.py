"""``cnnlab export RUN --format savedmodel|tflite|onnx|web``: export a run's model and check it against Keras.
``cnnlab export RUN --benchmark``: time the run's model in every export format on this machine."""

from __future__ import annotations

from cnnlab.commands._output import note, percent, print_json, print_table
from cnnlab.commands._tensorflow import RUN_HELP, open_run

FORMATS = ("savedmodel", "tflite", "onnx", "web")  # the same list as cnnlab.export.FORMATS, without importing TF
DEFAULT_CALLS = 200  # cnnlab.export_timing.DEFAULT_CALLS, without importing TF


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="export a run's model as a SavedModel, TFLite or ONNX file or a web page, checked against Keras",
        description="Export a run's final model. The exported model takes raw uint8 28x28 images (the run's "
                    "normalization is inside) and returns probabilities and class ids. Each export is run on "
                    "1,000 test images and compared with the Keras model before it is put in place. With "
                    "--benchmark: time the Keras model and every export format whose runtime is installed on "
                    "this machine, exporting the formats not yet in RUN/export/ and reusing the others.")
    parser.add_argument("run", metavar="RUN", help=RUN_HELP)
    parser.add_argument("--format", choices=FORMATS,
                        help="savedmodel, tflite, onnx, or web: a static folder with a drawing page that runs the "
                             "model in the browser (or give --benchmark)")
    parser.add_argument("--quantize", choices=("int8",),
                        help="tflite or onnx: int8 weights and activations, calibrated on 500 training images")
    parser.add_argument("--out", metavar="PATH",
                        help="where to write (default RUN/export/savedmodel/1, RUN/export/model[-int8].tflite or "
                             "RUN/export/model[-int8].onnx, RUN/export/web)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier export at the same path")
    parser.add_argument("--benchmark", action="store_true",
                        help="time Keras, SavedModel, TFLite, TFLite int8, ONNX and ONNX int8 here: single-image "
                             "latency (median, p90) and throughput over the first 10,000 test images")
    parser.add_argument("--calls", type=int, metavar="N",
                        help=f"--benchmark: single-image calls timed per format (default {DEFAULT_CALLS})")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="--benchmark: threads of TFLite and ONNX Runtime (default: each runtime's own choice)")
    parser.add_argument("--data-dir", metavar="DIR", help="a folder with the four IDX files")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from cnnlab.errors import ConfigError

    if args.benchmark:
        return _benchmark(args)
    if args.format is None:
        raise ConfigError("give --format savedmodel|tflite|onnx|web to export, or --benchmark to time every format")
    for flag in ("calls", "threads"):
        if getattr(args, flag) is not None:
            raise ConfigError(f"--{flag} is for --benchmark; add --benchmark or leave --{flag} out")
    _require_extra_for(args.format)
    run_ = open_run(args.run, args.debug, writable=True)
    from cnnlab.export import export_run

    result = export_run(run_, args.format, out=args.out, quantize=args.quantize,
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


def _require_extra_for(format: str) -> None:
    """Before TensorFlow loads: a format whose converter is not installed names the extra to install."""
    from cnnlab.extras import EXPORT_FORMAT_MODULES, require_extra

    if format in EXPORT_FORMAT_MODULES:
        require_extra("export", f"cnnlab export --format {format}", EXPORT_FORMAT_MODULES[format])


def _benchmark(args) -> int:
    from cnnlab.errors import ConfigError
    from cnnlab.export_timing import time_formats  # imports no TensorFlow until it runs
    given = [f"--{flag}" for flag in ("format", "quantize", "out") if getattr(args, flag) is not None]
    given += ["--overwrite"] if args.overwrite else []
    if given:
        raise ConfigError(f"--benchmark times every format at its default path in RUN/export/; leave out "
                          f"{', '.join(given)}")
    for flag in ("calls", "threads"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise ConfigError(f"--{flag} {value} is out of range: use a whole number >= 1")
    run_ = open_run(args.run, args.debug, writable=True)
    calls = DEFAULT_CALLS if args.calls is None else args.calls
    timing = time_formats(run_, calls=calls, threads=args.threads, data_dir=args.data_dir,
                          progress=lambda line: note(f"  {line}"))
    if args.json:
        print_json(timing.to_dict())
    else:
        _print_timing(timing)
    for name, reason in timing.skipped.items():
        note(f"{name}: not timed ({reason})")
    for name, reason in timing.failed.items():
        note(f"{name}: not timed, its export failed: {reason}")
    mismatched = [row.format for row in timing.rows if row.check is not None and not row.check["passed"]]
    if mismatched:
        note(f"cnnlab: error: the new export(s) {', '.join(mismatched)} do not match the Keras model (see their "
             "check in --json); do not use them, and rerun with --debug or report the run")
    return 1 if mismatched or timing.failed else 0


def _print_timing(timing) -> None:
    first = timing.rows[0]
    print(f"{timing.run_dir}: one image, median and p90 of {first.latency.calls:,} calls each; throughput over "
          f"{first.throughput.images:,} test images in batches of {first.throughput.batch:,}, fastest of "
          f"{first.throughput.passes} passes (this machine, its load now)")
    rows = [[row.format, f"{row.latency.median_ms:.3f}", f"{row.latency.p90_ms:.3f}",
             f"{row.throughput.images_per_second:,.0f}", row.path + (" (exported now)" if row.exported else "")]
            for row in timing.rows]
    print_table(rows, ["format", "median ms", "p90 ms", "images/s", "model"])
