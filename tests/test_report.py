"""``cnnlab report`` and ``cnnlab compare`` on a real trained run: files, numbers, TensorBoard, errors."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from cnnlab.errors import ConfigError


def _copy_run(source: Path, target: Path) -> Path:
    # Reports write into the run; work on a copy so the shared tiny run stays as trained.
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("checkpoints", "report"))
    return target


@pytest.fixture(scope="module")
def reported(tiny_run, tmp_path_factory):
    """A copy of the tiny run without metrics.json, reported once by the CLI: (run dir, its --json output)."""
    from cnnlab.cli import main

    run_dir = _copy_run(tiny_run.path, tmp_path_factory.mktemp("reported") / "tiny")
    (run_dir / "metrics.json").unlink()
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main(["report", str(run_dir), "--image-index", "7", "--json"]) == 0
    return run_dir, json.loads(stdout.getvalue())


class _Page(HTMLParser):
    """Collects every <img src> and every element's data-key/data-value pair from the report."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.values: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.sources.append(attrs.get("src", ""))
        if "data-value" in attrs:
            self.values.append((attrs["data-key"], attrs["data-value"]))


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text())
    return page


def test_report_writes_html_and_every_png(reported):
    run_dir, result = reported
    report = run_dir / "report"
    assert Path(result["report"]) == report / "report.html"
    names = {Path(p).name for p in result["figures"]}
    expected = {"samples", "learning_curves", "overfitting", "confusion_matrix", "predictions", "misclassified",
                "filters_conv_1", "filters_conv_2", "filters_conv_3", "outputs_conv_1", "outputs_conv_2",
                "outputs_conv_3", "calibration"}
    assert names == {f"{stem}.png" for stem in expected}  # the default recipe's fastcnn has three convolutions
    assert {p.name for p in report.glob("*.png")} == names
    for name in names:
        with Image.open(report / name) as image:
            assert image.format == "PNG" and image.width > 200 and image.height > 50

    page = _parse(report / "report.html")
    assert len(page.sources) == len(names)
    for source in page.sources:  # self-contained: every image is embedded, byte for byte the PNG beside it
        assert source.startswith("data:image/png;base64,")
    embedded = {base64.b64decode(s.split(",", 1)[1]) for s in page.sources}
    assert embedded == {(report / name).read_bytes() for name in names}
    text = (report / "report.html").read_text()
    assert not re.search(r"(src|href)=\"(https?:|//)", text)
    assert "test image 7 (chosen with --image-index)" in text


def test_report_numbers_equal_cnnlab_evaluate(reported, cli):
    run_dir, result = reported
    assert (run_dir / "metrics.json").exists()  # evaluated first, because it was missing
    code, out, _ = cli("evaluate", str(run_dir), "--json")
    assert code == 0
    evaluated = json.loads(out)
    assert result["test_accuracy"] == evaluated["accuracy"]
    assert result["test_loss"] == evaluated["loss"]

    html = run_dir / "report" / "report.html"
    values = _parse(html).values
    summary = dict(v for v in values if v[0] in ("test_accuracy", "test_loss"))
    assert float(summary["test_accuracy"]) == evaluated["accuracy"]
    assert float(summary["test_loss"]) == evaluated["loss"]
    per_class = [(k, float(v)) for k, v in values if k in ("precision", "recall", "f1")]
    expected = [(k, c[k]) for c in evaluated["per_class"] for k in ("precision", "recall", "f1")]
    assert per_class == expected
    assert f"{100 * evaluated['accuracy']:.2f} % on 10,000 images" in html.read_text()


def test_report_html_shows_the_runs_summary(reported):
    run_dir, _ = reported
    text = (run_dir / "report" / "report.html").read_text()
    config = json.loads((run_dir / "config.json").read_text())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    for expected in (config["dataset"], config["model"], config["recipe"], f"{manifest['params']:,}"):
        assert f">{expected}<" in text
    for label in ("wall time", "images per second", "seed", "epochs", "test accuracy"):
        assert f"<th>{label}" in text


def test_report_writes_tensorboard_images(reported):
    import tensorflow as tf

    run_dir, _ = reported
    tags = set()
    for events in (run_dir / "logs" / "report").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            tags.update(value.tag for value in event.summary.value
                        if value.metadata.plugin_data.plugin_name == "images")
    assert {"report/filters_conv_1", "report/filters_conv_2", "report/misclassified",
            "report/misclassified_digits"} <= tags


def test_misclassified_order_is_most_confident_first():
    import numpy as np

    from cnnlab.viz.report import misclassified_order

    probabilities = np.array([[0.6, 0.4], [0.1, 0.9], [0.95, 0.05], [0.3, 0.7], [0.8, 0.2]])
    labels = np.array([1, 1, 1, 0, 1])
    assert misclassified_order(labels, probabilities).tolist() == [2, 4, 3, 0]


@pytest.mark.parametrize("argv, code, message", [
    (["report", "{tmp}/nothing"], 4, "is not a directory"),
    (["report", "{run}", "--image-index", "10000"], 2, "--image-index 10000 is out of range: use 0 to 9999"),
    (["report", "{run}", "--image-index", "-1"], 2, "out of range"),
    (["compare", "{run}"], 2, "at least two run directories"),
    (["compare", "{run}", "{tmp}"], 4, "is not a run directory"),
])
def test_mistakes_are_one_line_errors(tiny_run, tmp_path, cli, argv, code, message):
    argv = [a.format(tmp=tmp_path, run=tiny_run.path) for a in argv]
    exit_code, out, err = cli(*argv)
    assert exit_code == code
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_compare_table_shows_what_differs_and_each_runs_numbers(tiny_run, tmp_path, cli):
    first = _copy_run(tiny_run.path, tmp_path / "dropout-default")
    second = _copy_run(tiny_run.path, tmp_path / "dropout-025")
    config = json.loads((second / "config.json").read_text())
    config["dropout"] = 0.25  # only the config differs: the table must pick that field out
    (second / "config.json").write_text(json.dumps(config))
    out_dir = tmp_path / "cmp"
    code, out, err = cli("compare", str(first), str(second), "--out", str(out_dir), "--json")
    assert code == 0, err
    rows = json.loads(out)["runs"]
    assert [r["label"] for r in rows] == ["dropout-default", "dropout-025"]
    assert [r["dropout"] for r in rows] == ["model default", 0.25]
    assert "learning_rate" not in rows[0]  # equal in both runs, so not shown
    metrics = json.loads((first / "metrics.json").read_text())
    assert rows[0]["test_accuracy"] == metrics["accuracy"]
    history = tiny_run.history
    assert rows[0]["final_val_loss"] == pytest.approx(history["val_loss"].iloc[-1])
    assert (out_dir / "curves.png").exists()
    html = (out_dir / "compare.html").read_text()
    assert "dropout-025" in html and f"{100 * metrics['accuracy']:.2f}%" in html


def test_compare_prints_what_differs_and_warns_across_datasets(tiny_run, tmp_path, cli):
    first = _copy_run(tiny_run.path, tmp_path / "a")
    code, out, err = cli("compare", str(first), str(tiny_run.path), "--out", str(tmp_path / "same"))
    assert code == 0, err
    assert "configs are the same, seed included" in out and "different datasets" not in err
    second = _copy_run(tiny_run.path, tmp_path / "b")
    config = json.loads((second / "config.json").read_text())
    config.update(dataset="fashion-mnist", learning_rate=0.01)
    (second / "config.json").write_text(json.dumps(config))
    code, out, err = cli("compare", str(first), str(second), "--out", str(tmp_path / "cmp"))
    assert code == 0, err
    assert "configs differ in: dataset: mnist / fashion-mnist; learning_rate: 0.004 / 0.01" in out
    assert "trained on different datasets; their accuracies do not compare" in err


def test_compare_writes_under_its_first_run_not_the_current_folder(tiny_run, tmp_path, cli, monkeypatch):
    first = _copy_run(tiny_run.path, tmp_path / "first")
    second = _copy_run(tiny_run.path, tmp_path / "second")
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    code, out, err = cli("compare", str(first), str(second), "--json")
    assert code == 0, err
    assert json.loads(out)["html"] == str(first / "compare" / "compare.html")
    assert (first / "compare" / "curves.png").exists()
    assert list(here.iterdir()) == []


def test_compare_refuses_a_single_run(tiny_run):
    from cnnlab.viz.compare import compare_runs

    with pytest.raises(ConfigError):
        compare_runs([tiny_run.path])
