"""``benchmarks/bench.py``: parts write their json as they finish, the document is generated from them, a re-run
skips finished parts, and mistakes are one line. Sizes are tiny (``--quick`` or smaller): no figure here means
anything, and no test asserts a time."""

from __future__ import annotations

import dataclasses
import json
import platform
import re

import pytest

from cnnlab_bench.anatomy import kernels_at_peak_ms
from cnnlab_bench.settings import PARTS, bench_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cli_bench(tmp_path_factory, bench_main):
    """``benchmarks/bench.py --quick --json`` for the two in-process parts, through the entry script's ``main``."""
    import contextlib
    import io

    folder = tmp_path_factory.mktemp("bench")
    out, doc = folder / "results", folder / "docs" / "PERFORMANCE.md"
    argv = ["--quick", "--json", "--out", str(out), "--doc", str(doc), "--parts", "time_to_accuracy,tutorial"]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = bench_main(argv)
    from cnnlab_bench.machine import describe_machine, machine_kind

    kind = machine_kind(describe_machine())
    return {"code": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue(), "out": out, "doc": doc,
            "argv": argv, "kind": kind, "folder": out / kind}


@pytest.fixture(scope="module")
def library_bench(tmp_path_factory):
    """The other parts through ``run_bench`` at ``--quick`` sizes or below (their child processes dominate the time);
    the models part loops over two registered models instead of all, to keep this file within its time."""
    import cnnlab.models as models
    from cnnlab_bench.runner import run_bench

    quick = bench_settings(quick=True)
    settings = dataclasses.replace(
        quick,
        models=dataclasses.replace(quick.models, images=256),
        latency=dataclasses.replace(quick.latency, train_limit=512, calls=5, formats=("keras", "tflite")),
        scaling=dataclasses.replace(quick.scaling, sizes=(256, 512), rounds=2, full_limit=512),
        best=dataclasses.replace(quick.best, datasets=("mnist",), limit=256),
    )
    out = tmp_path_factory.mktemp("bench-library")
    lines: list[str] = []
    two = models.list_models()[:2]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(models, "list_models", lambda: two)
        outcome = run_bench(settings, out, ["anatomy", "models", "latency", "scaling", "best"], progress=lines.append)
    assert outcome.failures == {}
    return {"records": outcome.records, "out": out / outcome.kind, "lines": lines, "models": [m.name for m in two]}


def test_cli_writes_one_json_per_part_and_prints_them(cli_bench):
    assert cli_bench["code"] == 0, cli_bench["stderr"]
    printed = json.loads(cli_bench["stdout"])
    assert set(printed["parts"]) == {"tutorial", "time_to_accuracy"}
    assert printed["kind"] == cli_bench["kind"] and printed["kinds"] == {cli_bench["kind"]: printed["parts"]}
    assert sorted(p.name for p in cli_bench["out"].iterdir()) == [cli_bench["kind"]]  # only this machine's kind
    for part in ("tutorial", "time_to_accuracy"):
        record = json.loads((cli_bench["folder"] / f"{part}.json").read_text())
        assert record["part"] == part and record["quick"] is True
        assert record["wall_seconds"] > 0
        assert {"cpu", "cpu_id", "cpu_count", "memory_gib", "cpu_flags", "versions", "date"} <= set(record["machine"])
        assert record == printed["parts"][part]
    tutorial = printed["parts"]["tutorial"]["result"]
    assert set(tutorial["median"]) == set(tutorial["fastest"]) == {"tf1_graph", "keras_fit_numpy", "cnnlab"}
    for name, speed in tutorial["fastest"].items():
        assert speed == max(r[name]["images_per_second"] for r in tutorial["rounds"])
    assert tutorial["cnnlab_vs_tf1"] == pytest.approx(tutorial["fastest"]["cnnlab"] / tutorial["fastest"]["tf1_graph"],
                                                      abs=1e-3)
    for key in ("cnnlab_vs_tf1", "cnnlab_vs_keras_numpy", "accuracy_points_vs_tf1", "goal"):
        assert key in tutorial
    round_ = tutorial["rounds"][0]
    assert round_["cnnlab"]["images_per_second"] > 0 and 0 <= round_["tf1_graph"]["test_accuracy"] <= 1
    timing = printed["parts"]["time_to_accuracy"]["result"]
    assert timing["tf1_graph"]["points"] and timing["fast"]["points"]
    assert set(timing["fast"]["seconds_to"]) == {"0.99", "0.994"}
    seconds = [p["seconds"] for p in timing["fast"]["points"]]
    assert seconds == sorted(seconds)  # cumulative training time


def test_progress_names_each_part_and_round(cli_bench):
    assert "tutorial: round 1/1" in cli_bench["stderr"]
    assert "tutorial: part 1 of 2 starting" in cli_bench["stderr"]  # the bench's order, not --parts'


def test_document_is_generated_with_machine_command_and_quick_mark(cli_bench):
    text = cli_bench["doc"].read_text()
    assert text.startswith("# Performance\n\n**QUICK — not a measurement.**")
    assert "## Machines" in text and "precision auto picks" in text and "tensorflow" in text
    assert f"| goal | {cli_bench['kind']} |" in text and f"### 1.1 On {cli_bench['kind']}" in text
    assert "python benchmarks/bench.py --out" in text and "--quick" in text
    assert "| TF1 graph (Session.run per batch) |" in text
    assert "| contender | to 99.0 % | to 99.4 % |" in text
    assert "Not measured yet on any CPU kind: `python benchmarks/bench.py --parts best`." in text


def test_rerun_skips_finished_parts_and_keeps_their_files(cli_bench, bench_cli):
    before = {p: (cli_bench["folder"] / f"{p}.json").read_text() for p in ("tutorial", "time_to_accuracy")}
    code, out, err = bench_cli(*[a for a in cli_bench["argv"] if a != "--json"])
    assert code == 0 and out == ""
    assert err.count("skipped (--rerun measures it again)") == 2
    assert {p: (cli_bench["folder"] / f"{p}.json").read_text() for p in before} == before


def test_other_settings_measure_a_part_again(cli_bench, tmp_path, monkeypatch):
    import cnnlab_bench.runner as runner

    out = tmp_path / "copy"
    (out / cli_bench["kind"]).mkdir(parents=True)
    record = json.loads((cli_bench["folder"] / "tutorial.json").read_text())
    record["settings"]["rounds"] = 99  # as if measured with other settings
    (out / cli_bench["kind"] / "tutorial.json").write_text(json.dumps(record))
    calls = []
    monkeypatch.setitem(runner._PART_FUNCTIONS, "tutorial",
                        lambda settings, context: calls.append(settings) or {"stub": True})
    outcome = runner.run_bench(bench_settings(quick=True), out, ["tutorial"])
    assert len(calls) == 1 and outcome.records["tutorial"]["result"] == {"stub": True}


@pytest.mark.parametrize("machine_change", [{"cpu_id": "AuthenticAMD family 25 model 17 stepping 1"},
                                            {"cpu_id": None}, {"cpu_count": 64}])
def test_a_part_measured_on_another_machine_is_measured_again(cli_bench, tmp_path, monkeypatch, machine_change):
    """Same settings, but another CPU generation (same model name), an unrecorded one, or other cores."""
    import cnnlab_bench.runner as runner

    out = tmp_path / "copy"
    (out / cli_bench["kind"]).mkdir(parents=True)
    record = json.loads((cli_bench["folder"] / "tutorial.json").read_text())
    record["machine"].update(machine_change)
    (out / cli_bench["kind"] / "tutorial.json").write_text(json.dumps(record))
    calls, lines = [], []
    monkeypatch.setitem(runner._PART_FUNCTIONS, "tutorial",
                        lambda settings, context: calls.append(settings) or {"stub": True})
    outcome = runner.run_bench(bench_settings(quick=True), out, ["tutorial"], progress=lines.append)
    assert len(calls) == 1 and outcome.records["tutorial"]["result"] == {"stub": True}
    assert any("was measured on another machine" in line for line in lines)


def test_a_run_writes_only_into_its_machines_kind_folder(tmp_path, monkeypatch):
    """Another kind's records stay as they are and come back beside this kind's, for the document."""
    import cnnlab_bench.runner as runner
    from cnnlab_bench.machine import describe_machine, machine_kind

    out = tmp_path / "results"
    other = {"part": "tutorial", "settings": {}, "wall_seconds": 1, "result": {"other": True},
             "machine": {"cpu": "Other CPU", "cpu_id": "GenuineIntel family 6 model 143 stepping 8", "cpu_count": 8,
                         "cpu_flags": ["amx_bf16"]}}
    (out / "other-cpu-family6-model143-8cpu-bf16").mkdir(parents=True)
    other_file = out / "other-cpu-family6-model143-8cpu-bf16" / "tutorial.json"
    other_file.write_text(json.dumps(other))
    before = other_file.read_text()
    monkeypatch.setitem(runner._PART_FUNCTIONS, "tutorial", lambda settings, context: {"stub": True})
    outcome = runner.run_bench(bench_settings(quick=True), out, ["tutorial"])
    kind = machine_kind(describe_machine())
    assert outcome.kind == kind and outcome.records["tutorial"]["result"] == {"stub": True}
    assert json.loads((out / kind / "tutorial.json").read_text())["result"] == {"stub": True}
    assert not (out / "tutorial.json").exists() and other_file.read_text() == before
    assert set(outcome.kinds) == {kind, "other-cpu-family6-model143-8cpu-bf16"}


def test_an_old_layout_record_of_this_kind_counts_as_measured(cli_bench, tmp_path, monkeypatch):
    """A record in OUT/<part>.json (the layout before kind folders) is read for its machine's kind: same settings,
    same machine, so it is skipped; the document shows it under the kind."""
    import cnnlab_bench.runner as runner

    out = tmp_path / "old"
    out.mkdir()
    record = (cli_bench["folder"] / "tutorial.json").read_text()
    (out / "tutorial.json").write_text(record)
    calls, lines = [], []
    monkeypatch.setitem(runner._PART_FUNCTIONS, "tutorial",
                        lambda settings, context: calls.append(settings) or {"stub": True})
    outcome = runner.run_bench(bench_settings(quick=True), out, ["tutorial"], progress=lines.append)
    assert calls == [] and any("skipped (--rerun measures it again)" in line for line in lines)
    assert outcome.records["tutorial"] == json.loads(record) and list(outcome.kinds) == [cli_bench["kind"]]


def test_document_says_when_parts_come_from_different_cpus_of_one_name(cli_bench):
    from cnnlab_bench.document import render_document
    from cnnlab_bench.results import read_kinds

    kinds = read_kinds(cli_bench["out"])
    warning = f"**Not all parts of `{cli_bench['kind']}` were measured on one machine**"
    assert warning not in render_document(kinds, "bench.py")
    kinds[cli_bench["kind"]]["tutorial"]["machine"]["cpu_id"] = "AuthenticAMD family 25 model 17 stepping 1"
    assert warning in render_document(kinds, "bench.py")


def test_document_warns_when_a_contenders_rounds_disagree():
    from cnnlab_bench.document import render_document

    def round_(tf1: float, cnnlab: float) -> dict:
        row = {"images_per_second": 0.0, "test_accuracy": 0.98}
        return {"tf1_graph": {**row, "images_per_second": tf1}, "keras_fit_numpy": {**row, "images_per_second": 6e3},
                "cnnlab": {**row, "images_per_second": cnnlab, "fit_seconds_with_checkpoints": 9.0}}

    def document(rounds: list[dict]) -> str:
        median = {name: {"images_per_second": 1.0, "test_accuracy": 0.98} for name in rounds[0]}
        fastest = {name: max(r[name]["images_per_second"] for r in rounds) for name in rounds[0]}
        result = {"recipe": "seed", "precision": "float32", "batch_size": 100, "epochs": 2, "images": 60000,
                  "rounds": rounds, "median": median, "fastest": fastest, "cnnlab_vs_tf1": 1.5,
                  "cnnlab_vs_keras_numpy": 2.0, "accuracy_points_vs_tf1": 0.0,
                  "goal": {"speedup": 2.0, "accuracy_points": 0.3, "met": False}}
        machine = {"date": "2026-11-30T10:00:00", "cpu": "CPU", "cpu_id": "x", "cpu_count": 2, "memory_gib": 1,
                   "platform": "p", "cpu_flags": [], "load_average_1min": 0.1, "versions": {}}
        record = {"machine": machine, "wall_seconds": 60, "result": result}
        return render_document({"a-kind": {"tutorial": record}}, "cmd")

    assert "The rounds disagree" not in document([round_(9000, 13300), round_(8900, 13100)])  # 1-2 %: normal
    text = document([round_(9000, 13300), round_(9050, 10500)])
    assert "**The rounds disagree** (cnnlab train (seed recipe, float32) 21 %" in text
    assert "TF1 graph" not in text.split("The rounds disagree")[1].split("between")[0]


def test_library_parts_have_their_fields(library_bench):
    records = library_bench["records"]
    assert set(records) == {"anatomy", "models", "latency", "scaling", "best"}
    models = records["models"]["result"]["models"]
    assert [m["model"] for m in models] == library_bench["models"]
    assert all(m["images_per_second"] > 0 and m["macs"] > 0 and m["batch_size"] > 0 for m in models)
    latency = records["latency"]["result"]
    assert [r["format"] for r in latency["results"]] == ["keras", "tflite"]
    assert latency["results"][1]["parity"]["passed"] and latency["fastest_exported"] == "tflite"
    scaling = records["scaling"]["result"]
    assert [r["images"] for r in scaling["runs"]] == [256, 512] and scaling["rounds"] == 2
    for row in scaling["runs"]:  # each size ran twice and keeps its faster last epoch
        assert len(row["last_epoch_seconds_per_round"]) == 2
        assert row["last_epoch_seconds"] == min(row["last_epoch_seconds_per_round"])
    assert all(r["max_rss_bytes"] > 10**7 for r in [*scaling["runs"], scaling["full_run"]])
    assert {"time_ratio", "r_squared", "seconds_per_1000_images"} <= set(scaling["linearity"]["train_seconds"])
    best = records["best"]["result"]["datasets"]["mnist"]
    assert len(best["seeds"]) == 1 and 0 < best["mean"] <= 1 and best["std"] is None
    assert (library_bench["out"] / "best-runs" / ".gitignore").is_file()
    assert any("scaling:   epoch 1/1" in line for line in library_bench["lines"])  # the child's progress, passed on


def test_document_has_every_parts_table(cli_bench, library_bench):
    from cnnlab_bench.document import render_document
    from cnnlab_bench.results import read_parts

    records = {**read_parts(cli_bench["folder"]), **library_bench["records"]}
    assert set(records) == set(PARTS)
    text = render_document({cli_bench["kind"]: records}, "python benchmarks/bench.py --quick")
    for header in ("| contender | images/s | vs TF1 |", "| part of the step | float32 ms |",
                   "| contender | to 99.0 % |", "| model | params | MACs/image |",
                   "| format | calls | median ms |", "| images | epochs | training s |",
                   "| dataset | seed | model | epochs | test accuracy |", f"| goal | {cli_bench['kind']} |"):
        assert header in text
    assert "Not measured" not in text and "not measured" not in text


def test_anatomy_times_every_kernel_of_the_step_in_each_precision(library_bench):
    from cnnlab.models import list_models
    from cnnlab.runtime import resolve_precision

    result = library_bench["records"]["anatomy"]["result"]
    assert result["precisions"] == list(dict.fromkeys(["float32", resolve_precision("auto")]))
    digitcnn = next(info for info in list_models() if info.name == "digitcnn")
    for column in result["columns"].values():
        names = [k["name"] for k in column["kernels"]]
        assert names[:3] == ["conv_1 forward", "conv_1 weight gradient", "conv_2 forward"]  # no conv_1 input gradient
        assert len(names) == 11 and names[-1] == "fc_4 weight gradient"
        forward_macs = sum(k["macs"] for k in column["kernels"] if k["name"].endswith("forward"))
        assert forward_macs == digitcnn.macs * result["batch_size"]
        assert all(k["ms"] > 0 and k["gflops"] > 0 for k in column["kernels"])
        assert column["kernels_ms"] == pytest.approx(sum(k["ms"] for k in column["kernels"]), abs=1e-3)
        assert column["rest_ms"] == pytest.approx(column["step_ms"] - column["kernels_ms"], abs=1e-3)
        assert set(column["optimizer_ms"]) == {"keras_adam", "fused_adam"} and column["peak_gflops"] > 0


def test_kernels_at_peak_is_their_flops_over_the_peak():
    column = {"kernels": [{"macs": 1_000_000}, {"macs": 500_000_000}], "peak_gflops": 1002.0}
    assert kernels_at_peak_ms(column) == pytest.approx(1.0)  # 1.002 GFLOP at 1,002 GFLOP/s


def test_best_reuses_finished_runs(library_bench):
    from cnnlab_bench.best import run_best
    from cnnlab_bench.context import BenchContext

    settings = bench_settings(quick=True).best
    lines: list[str] = []
    context = BenchContext(out=library_bench["out"], scratch=library_bench["out"], progress=lines.append)
    result = run_best(dataclasses.replace(settings, datasets=("mnist",), limit=256), context)
    seed = result["datasets"]["mnist"]["seeds"][0]
    assert seed["reused"] and seed["max_rss_bytes"] is None
    assert seed["test_accuracy"] == library_bench["records"]["best"]["result"]["datasets"]["mnist"]["mean"]


def test_best_trains_again_a_run_from_another_machine(library_bench, tmp_path):
    """A finished run whose manifest names another CPU generation is not reused: its seconds are not this machine's."""
    import shutil

    from cnnlab_bench.best import run_best
    from cnnlab_bench.context import BenchContext

    settings = dataclasses.replace(bench_settings(quick=True).best, datasets=("mnist",), limit=256)
    runs = tmp_path / "best-runs"
    shutil.copytree(library_bench["out"] / "best-runs", runs)
    manifest_path = runs / "mnist-seed0-quick" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["machine"]["cpu_id"] = "AuthenticAMD family 25 model 17 stepping 1"
    manifest_path.write_text(json.dumps(manifest))
    context = BenchContext(out=tmp_path, scratch=tmp_path, progress=lambda line: None)
    seed = run_best(settings, context)["datasets"]["mnist"]["seeds"][0]
    assert not seed["reused"] and seed["max_rss_bytes"] > 0


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 /proc/cpuinfo fields")
def test_machine_is_identified_by_cpu_generation_not_only_its_name():
    from cnnlab.runtime import cpu_identity, machine_info
    from cnnlab_bench.machine import describe_machine

    assert re.fullmatch(r"\S+ family \d+ model \d+ stepping \d+", cpu_identity())
    assert machine_info()["cpu_id"] == describe_machine()["cpu_id"] == cpu_identity()


def test_bad_part_name_is_one_line_and_exit_2(bench_cli, tmp_path):
    code, out, err = bench_cli("--parts", "tutorial,speed", "--out", str(tmp_path / "r"))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "unknown bench part(s) speed" in err and "time_to_accuracy" in err
    assert not (tmp_path / "r").exists()


def test_unwritable_out_is_one_line(bench_cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, out, err = bench_cli("--quick", "--parts", "tutorial", "--out", str(blocker / "results"))
    assert code == 4 and out == ""
    assert err.count("\n") == 1 and "cannot write the bench results" in err


def test_linearity_of_a_straight_line():
    from cnnlab_bench.scaling import linearity

    rows = [{"images": n, "train_seconds": 1 + n / 1000, "last_epoch_seconds": n / 1000} for n in (1000, 2000, 4000)]
    figures = linearity(rows)
    assert figures["size_ratio"] == 4
    assert figures["last_epoch_seconds"]["time_ratio"] == 4 and figures["last_epoch_seconds"]["r_squared"] == 1
    assert figures["train_seconds"]["seconds_per_1000_images"] == pytest.approx(1)
    assert figures["train_seconds"]["intercept_seconds"] == pytest.approx(1)


def test_a_failing_part_is_reported_and_the_others_still_run(bench_cli, tmp_path, monkeypatch):
    import cnnlab_bench.runner as runner
    from cnnlab_bench import document
    from cnnlab_bench.machine import machine_kind

    def broken(settings, context):
        raise ValueError("no such thing")

    monkeypatch.setitem(runner._PART_FUNCTIONS, "tutorial", broken)
    monkeypatch.setitem(runner._PART_FUNCTIONS, "models", lambda settings, context: {"stub": True})
    monkeypatch.setitem(document._RENDERERS, "models", lambda result: ["stub table"])
    out, doc = tmp_path / "r", tmp_path / "PERFORMANCE.md"
    code, stdout, err = bench_cli("--quick", "--parts", "tutorial,models", "--out", str(out), "--doc", str(doc))
    assert code == 4 and stdout == ""
    assert "tutorial: FAILED (ValueError: no such thing)" in err
    assert err.strip().splitlines()[-1].startswith("bench.py: error: 1 part(s) failed (tutorial: ValueError")
    kind = json.loads((next(out.glob("*/models.json"))).read_text())["machine"]
    folder = out / machine_kind(kind)
    assert (folder / "models.json").is_file() and not (folder / "tutorial.json").exists()
    assert "stub table" in doc.read_text()


def test_child_peak_memory_is_the_childs_own():
    """Linux counts a forked process's parent memory into its ru_maxrss; the launcher keeps it out."""
    import numpy as np

    from cnnlab_bench.children import run_cnnlab

    ballast = np.ones(150_000_000)  # 1.2 GB resident in this process
    child = run_cnnlab(["data", "list"])
    assert 0 < child["max_rss_bytes"] < ballast.nbytes / 2
    assert "datasets" in child["output"]
