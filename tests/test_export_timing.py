"""``cnnlab export RUN --benchmark`` and ``cnnlab.export_timing``: every format whose runtime is installed is timed,
missing exports are made (and checked), present ones reused. Tiny sizes; the figures are only checked to be
finite and positive, never against a time."""

from __future__ import annotations

import importlib.util
import json
import math

import pytest

from cnnlab.export_timing import FORMATS

pytestmark = pytest.mark.slow

RUNTIMES = {"tflite": "ai_edge_litert", "onnx": "onnxruntime"}  # the others run in TensorFlow
INSTALLED = [name for name in FORMATS if importlib.util.find_spec(RUNTIMES.get(name.split("-")[0], "tensorflow"))]


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory, mnist):
    from cnnlab.config import TrainConfig
    from cnnlab.training.train import train

    config = TrainConfig.from_recipe("fast", epochs=1, limit=5000, val_split=0)
    return train(config, tmp_path_factory.mktemp("timing") / "r", dataset=mnist)


@pytest.fixture(scope="module")
def first_timing(fast_run):
    """The first timing of the run: every export is made now."""
    from cnnlab.export_timing import time_formats

    lines: list[str] = []
    timing = time_formats(fast_run, calls=5, images=300, batch=100, repeats=1, progress=lines.append)
    return timing, lines


def _numbers(value):
    """Every number in a nested structure of dicts and lists (booleans left out)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _numbers(item)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


def test_every_installed_format_is_timed_and_its_figures_are_finite_and_positive(first_timing, fast_run):
    timing, lines = first_timing
    assert [row.format for row in timing.rows] == INSTALLED and timing.skipped == {} and timing.failed == {}
    assert timing.run_dir == str(fast_run.path)
    for row in timing.rows:
        assert row.latency.calls == 5 and row.throughput.images == 300 and row.throughput.batch == 100
        figures = [row.latency.median_ms, row.latency.p90_ms, row.latency.p99_ms, row.latency.cpu_median_ms,
                   row.throughput.seconds, row.throughput.cpu_seconds, row.throughput.images_per_second]
        assert all(math.isfinite(v) and v > 0 for v in figures), (row.format, figures)
        assert row.latency.median_ms <= row.latency.p90_ms <= row.latency.p99_ms
    assert any("tflite: exporting and timing" in line for line in lines)


def test_missing_exports_are_made_in_the_run_and_checked(first_timing, fast_run):
    timing, _ = first_timing
    keras, *exports = timing.rows
    assert keras.format == "keras" and not keras.exported and keras.path == str(fast_run.model_path)
    for row in exports:
        assert row.exported and row.check["num_images"] == 1000, (row.format, row.check)
        if not row.format.endswith("int8"):  # int8's accuracy margin depends on the (tiny) model, not on timing
            assert row.check["passed"], (row.format, row.check)
        assert row.path.startswith(str(fast_run.path / "export"))


def test_the_cli_reuses_the_exports_and_prints_one_json_object(first_timing, fast_run, cli):
    code, out, err = cli("export", str(fast_run.path), "--benchmark", "--calls", "5", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert [row["format"] for row in result["rows"]] == INSTALLED
    assert not any(row["exported"] for row in result["rows"])  # made by the first timing: reused
    for row in result["rows"]:
        assert row["latency"]["calls"] == 5 and row["throughput"]["images"] == 10_000
        numbers = list(_numbers({"latency": row["latency"], "throughput": row["throughput"]}))
        assert numbers and all(math.isfinite(v) and v > 0 for v in numbers)


def test_the_cli_table_names_every_format(first_timing, fast_run, cli):
    code, out, err = cli("export", str(fast_run.path), "--benchmark", "--calls", "3")
    assert code == 0, err
    lines = out.splitlines()
    assert "median ms" in lines[1] and "p90 ms" in lines[1] and "images/s" in lines[1]
    assert [line.split()[0] for line in lines[2:]] == INSTALLED


def test_a_format_whose_runtime_is_missing_is_skipped(fast_run, monkeypatch):
    from cnnlab import export_timing

    monkeypatch.setitem(export_timing._RUNTIMES, "onnx", "no_such_runtime_module")
    timing = export_timing.time_formats(fast_run, formats=["keras", "onnx"], calls=2, images=20, repeats=1)
    assert [row.format for row in timing.rows] == ["keras"]
    assert timing.skipped == {"onnx": "no_such_runtime_module is not installed: pip install 'cnnlab[export]'"}


@pytest.mark.parametrize("argv, message", [
    ([], "give --format"),
    (["--benchmark", "--format", "tflite"], "leave out --format"),
    (["--benchmark", "--calls", "0"], "--calls 0 is out of range"),
    (["--format", "tflite", "--calls", "5"], "--calls is for --benchmark"),
])
def test_mistakes_are_one_line_and_exit_2(fast_run, cli, argv, message):
    code, out, err = cli("export", str(fast_run.path), *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err, err
