"""The benchmark's tests: ``benchmarks/`` on the import path, so they import ``cnnlab_bench`` as
``benchmarks/bench.py`` does (it is no part of the cnnlab package), and that entry script run in-process."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from _in_process import run_main

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
        return run_main(bench_main, capsys, argv)

    return run
