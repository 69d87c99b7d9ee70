"""The performance benchmark: run its parts and regenerate docs/PERFORMANCE.md from their results.

    .venv/bin/python benchmarks/bench.py                       # every part (make bench), 35-65 min on 2 cores
    .venv/bin/python benchmarks/bench.py --quick --parts tutorial,anatomy --out /tmp/bq --doc /tmp/bq/P.md
    .venv/bin/python benchmarks/bench.py --render-only         # the document again from bench-results/*/

Results go to bench-results/<kind>/<part>.json, a folder per CPU kind (e.g. amd-epyc-family26-model2-2cpu-bf16):
a run writes only its own machine's kind, and the document shows every kind found, side by side.

Not part of the cnnlab package (the parts live in ``cnnlab_bench``, beside this file). Mistakes end as one line
on stderr and an exit code, as in ``cnnlab``; ``--debug`` shows tracebacks and stops at a failing part.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

DEFAULT_OUT = "bench-results"
DEFAULT_DOC = "docs/PERFORMANCE.md"


class _Parser(argparse.ArgumentParser):
    """argparse, but usage mistakes are one line that points at --help."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"{self.prog}: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    from cnnlab_bench.settings import PARTS, BestSettings, TimeToAccuracySettings, TutorialSettings

    parser = _Parser(
        prog="bench.py", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run the benchmark's parts in order (35-65 min on 2 cores, most of it best):\n"
                    "  tutorial          DigitCNN, tutorial recipe: cnnlab vs a TF1 graph and Keras fit on numpy\n"
                    "  anatomy           where a DigitCNN training step's time goes, float32 vs bfloat16 (1 min)\n"
                    "  time_to_accuracy  seconds to 99.0 % / 99.4 % MNIST test accuracy: fast recipe vs TF1\n"
                    "  models            training images/s of every registered model\n"
                    "  latency           single-image and 10,000-image prediction: Keras, SavedModel, TFLite, ONNX\n"
                    "  scaling           training time at 15k/30k/60k images; peak memory of a full run\n"
                    "  best              the best recipe on MNIST and Fashion-MNIST over --seeds seeds (longest)\n"
                    "Each part writes OUT/<kind>/<part>.json the moment it ends, <kind> naming this machine's CPU\n"
                    "(e.g. amd-epyc-family26-model2-2cpu-bf16); then --doc is rendered from every kind's part files\n"
                    "in OUT, the kinds side by side (an older OUT/<part>.json counts for its record's kind). A re-run\n"
                    "(e.g. after an interruption) skips the parts whose json is in this kind's folder with the same\n"
                    "settings from the same machine, and the best part reuses its finished runs in\n"
                    "OUT/<kind>/best-runs; --rerun measures everything again. Progress goes to stderr.")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                        help=f"folder for the part results, a subfolder per CPU kind (default {DEFAULT_OUT})")
    parser.add_argument("--doc", default=DEFAULT_DOC, metavar="PATH",
                        help=f"the markdown file to regenerate (default {DEFAULT_DOC})")
    parser.add_argument("--parts", metavar="P,P,...", help=f"which parts (default all): {','.join(PARTS)}")
    parser.add_argument("--seeds", type=int, default=None, metavar="N",
                        help=f"seeds for the best part (default {BestSettings().seeds})")
    parser.add_argument("--rounds", type=int, default=None, metavar="N",
                        help="alternating rounds of the tutorial part; each contender's fastest counts "
                             f"(default {TutorialSettings().rounds})")
    parser.add_argument("--tf1-max-epochs", type=int, default=None, metavar="N",
                        help="epoch cap of the TF1 baseline in time_to_accuracy "
                             f"(default {TimeToAccuracySettings().tf1_max_epochs})")
    parser.add_argument("--run", metavar="DIR", help="time this run in the latency part instead of training one")
    parser.add_argument("--rerun", action="store_true", help="measure parts (and best runs) already in --out again")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes (2,000 images, 1 epoch, 1 round, 1 seed, 50 latency calls, scaling at "
                             "1k/2k/4k): a smoke run, marked 'QUICK - not a measurement' in the document")
    parser.add_argument("--render-only", action="store_true",
                        help="measure nothing: regenerate --doc from every kind's part files in --out (after a "
                             "change to the document writer, or after adding another machine's records)")
    parser.add_argument("--json", action="store_true", help="print every part's results as one JSON object")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks and TensorFlow's logs; stop at the first failing part")
    return parser


def main(argv: list[str] | None = None) -> int:
    from cnnlab.cli import run_with_one_line_errors

    args = build_parser().parse_args(argv)
    return run_with_one_line_errors("bench.py", lambda: _bench(args), args.debug,
                                    interrupted="interrupted; the parts that finished are in their json files")


def _bench(args) -> int:
    from cnnlab.errors import ConfigError, RunError
    from cnnlab.fileio import atomic_write_text
    from cnnlab_bench.document import render_document
    from cnnlab_bench.results import read_kinds
    from cnnlab_bench.runner import parse_parts, run_bench
    from cnnlab_bench.settings import bench_settings

    parts = parse_parts(args.parts)
    for flag in ("seeds", "rounds", "tf1_max_epochs"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise ConfigError(f"--{flag.replace('_', '-')} {value} is out of range: use a whole number >= 1")
    if args.render_only:
        kinds, failures, kind, parts_here = read_kinds(Path(args.out)), {}, None, {}
        if not kinds:
            raise RunError(f"{args.out} holds no part file; measure first (leave out --render-only)")
    else:
        if not args.debug:
            _import_tensorflow_quietly()
        settings = bench_settings(args.quick, rounds=args.rounds, seeds=args.seeds,
                                  tf1_max_epochs=args.tf1_max_epochs, run=args.run)
        outcome = run_bench(settings, args.out, parts, rerun=args.rerun, progress=_note, keep_going=not args.debug)
        kinds, failures, kind, parts_here = outcome.kinds, outcome.failures, outcome.kind, outcome.records
    doc = Path(args.doc)
    doc.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(doc, render_document(kinds, _command(args), out=args.out))
    count = sum(len(records) for records in kinds.values())
    _note(f"wrote {doc} from {count} part file(s) of {len(kinds)} CPU kind(s) in {args.out}")
    if args.json:  # kind and parts: this machine's (none for --render-only); kinds: every kind the document shows
        print(json.dumps({"out": args.out, "doc": str(doc), "kind": kind, "parts": parts_here, "kinds": kinds,
                          "failures": failures}, indent=2))
    if failures:
        failed = "; ".join(f"{part}: {message}" for part, message in failures.items())
        raise RunError(f"{len(failures)} part(s) failed ({failed}); the other parts are in {args.out} and "
                       "the document; the same command measures only what is missing (--debug for a traceback)")
    return 0


def _import_tensorflow_quietly() -> None:
    """TensorFlow's C++ start-up banner hidden, and its retracing notes (many models in one process) too."""
    from cnnlab.runtime import import_tensorflow_quietly

    import_tensorflow_quietly()
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")


def _note(line: str) -> None:
    print(line, file=sys.stderr)


def _command(args) -> str:
    """The command line that regenerates the document (``--rerun``, ``--json`` and ``--debug`` left out: they
    change nothing in it)."""
    from cnnlab_bench.settings import ENTRY

    words = shlex.split(ENTRY)
    for flag, default in (("out", DEFAULT_OUT), ("doc", DEFAULT_DOC)):
        if getattr(args, flag) != default:
            words += [f"--{flag}", getattr(args, flag)]
    for flag in ("parts", "seeds", "rounds", "tf1_max_epochs", "run"):
        if getattr(args, flag) is not None:
            words += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    return shlex.join(words + (["--quick"] if args.quick else []) + (["--render-only"] if args.render_only else []))


if __name__ == "__main__":
    sys.exit(main())
