"""Benchmark: prediction latency of a run's model in Keras and in each exported format.

A thin wrapper over the ``latency`` part of ``benchmarks/bench.py`` (``cnnlab_bench.latency``, which says what is
timed and how) for any run, with a chosen number of threads (for a user's own machine, ``cnnlab export RUN
--benchmark`` times the same formats without the parity figures):

    python benchmarks/predict_latency.py runs/demo                    # a table
    python benchmarks/predict_latency.py runs/demo --threads 2 --json # one JSON object
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from cnnlab_bench.settings import LATENCY_FORMATS as FORMATS  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    _limit_tensorflow_threads(args.threads)
    from cnnlab_bench.latency import measure_formats
    from cnnlab_bench.machine import describe_machine
    from cnnlab.run import Run

    run = Run.load(args.run)
    rows = measure_formats(run, args.formats, args.calls, args.batch, args.repeats, threads=args.threads,
                           progress=lambda line: print(f"  {line}", file=sys.stderr))
    result = {"run_dir": str(run.path), "model": run.config.model, "threads": args.threads, "batch": args.batch,
              "machine": describe_machine(), "results": rows}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_table(result)
    return 0


def _limit_tensorflow_threads(threads: int | None) -> None:
    if threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def _print_table(result: dict) -> None:
    print(f"{result['run_dir']} ({result['model']}), threads={result['threads']}, batches of {result['batch']}; "
          f"{result['machine']['cpu']} x{result['machine']['cpu_count']}, "
          f"load average {result['machine']['load_average_1min']}")
    print(f"{'format':<14} {'calls':>6} {'median ms':>10} {'p90 ms':>8} {'p99 ms':>8} {'cpu ms':>7} {'10k s':>7} "
          f"{'img/s':>7} {'10k cpu s':>9} {'max |dp|':>9} {'acc (1k)':>9}")
    for row in result["results"]:
        parity = row["parity"] or {}
        diff = f"{parity['max_prob_diff']:.1e}" if parity else "-"
        accuracy = f"{100 * parity['export_accuracy']:.1f} %" if parity else "-"
        print(f"{row['format']:<14} {row['calls']:>6} {row['single_ms_median']:>10.3f} {row['single_ms_p90']:>8.3f} "
              f"{row['single_ms_p99']:>8.3f} {row['single_cpu_ms_median']:>7.3f} {row['all_test_seconds']:>7.2f} "
              f"{row['images_per_second']:>7.0f} {row['all_test_cpu_seconds']:>9.2f} {diff:>9} {accuracy:>9}")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a run directory written by 'cnnlab train'")
    parser.add_argument("--formats", type=lambda s: s.split(","), default=list(FORMATS),
                        help=f"comma-separated, from: {','.join(FORMATS)} (default all)")
    parser.add_argument("--calls", type=int, default=500, help="single-image calls timed per format (default 500)")
    parser.add_argument("--batch", type=int, default=1000, help="chunk size for the 10,000 test images")
    parser.add_argument("--repeats", type=int, default=3, help="passes over the test images; the best counts")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for TensorFlow, LiteRT and onnxruntime (default: each runtime's own)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    unknown = [f for f in args.formats if f not in FORMATS]
    if unknown:
        parser.error(f"unknown format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    return args


if __name__ == "__main__":
    sys.exit(main())
