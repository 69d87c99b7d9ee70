"""The benchmark's tests: ``benchmarks/`` on the import path, so they import ``cnnlab_bench`` as
``benchmarks/bench.py`` does (it is no part of the cnnlab package), and that entry script run in-process."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))


@pytest.fixture(scope="session")
def bench_main():
    """``main(argv) -> exit code`` of ``benchmarks/bench.py``."""
    spec = importlib.util.spec_from_file_location("bench_entry", BENCHMARKS / "bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.fixture
def bench_cli(bench_main, capsys):
    """Run ``benchmarks/bench.py ARGV`` in-process: returns (exit code, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            code = bench_main(list(argv))
        except SystemExit as exit_:  # argparse usage errors and --help
            code = exit_.code if isinstance(exit_.code, int) else 1
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
