"""The pretrained models shipped in the package: what they hold, how a name becomes a run, and that each command
takes a bundled name where it takes a run directory, writing nothing into the package."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from cnnlab.errors import RunError
from cnnlab.pretrained import (BUNDLED_FILES, BUNDLED_ROOT, KEPT_IF_PRESENT, bundled_models, bundled_names,
                               resolve_run)
from _photos import FONT_DIR
from _servers import post_image, serving

SETTINGS = Path(__file__).resolve().parents[1] / "benchmarks" / "pretrained.json"
TRAINER = SETTINGS.with_name("train_pretrained.py")


def _package_state() -> dict[str, str]:
    """sha256 of every file under the bundled models' folder: the package must never change."""
    return {str(p.relative_to(BUNDLED_ROOT)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(BUNDLED_ROOT.rglob("*")) if p.is_file()}


def _recorded(name: str) -> float:
    return json.loads((BUNDLED_ROOT / name / "metrics.json").read_text())["accuracy"]


def _drawn_digit(digit: int) -> bytes:
    """A typeset digit, dark on light paper, as a PNG: what a user's own photo of a 3 looks like to cnnlab."""
    font = ImageFont.truetype(f"{FONT_DIR}/DejaVuSans.ttf", 200)
    image = Image.new("L", (300, 300), 235)
    ImageDraw.Draw(image).text((80, 20), str(digit), fill=20, font=font)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


# ------------------------------------------------------------------ what is shipped (no TensorFlow)


def _settings() -> dict[str, dict]:
    return {k: v for k, v in json.loads(SETTINGS.read_text()).items() if not k.startswith("_")}


def test_each_bundled_model_was_trained_from_the_committed_settings_and_recipe():
    """A recipe or setting changed since a model was trained fails here: retrain with the committed command."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_pretrained", TRAINER)
    trainer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(trainer)
    assert bundled_names() == sorted(_settings()) == ["fashion-mnist", "mnist"]
    for name, values in _settings().items():
        shipped = json.loads((BUNDLED_ROOT / name / "config.json").read_text())
        assert shipped == trainer.build_config(values).to_dict(), (
            f"{name} is not what 'python benchmarks/train_pretrained.py {name}' trains now: run it again")


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_a_bundled_model_is_a_small_finished_run_with_its_test_accuracy(name):
    folder = BUNDLED_ROOT / name
    files = {p.name for p in folder.iterdir()}
    assert set(BUNDLED_FILES) <= files <= {*BUNDLED_FILES, *KEPT_IF_PRESENT}  # no checkpoints/, no logs/
    assert "MODEL_CARD.md" in files and f"**{100 * _recorded(name):.2f} %**" in (folder / "MODEL_CARD.md").read_text()
    assert sum(p.stat().st_size for p in folder.iterdir()) < 512 * 1024
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["num_images"] == 10000
    with zipfile.ZipFile(folder / "model.keras") as archive:  # saved without the optimizer's state
        assert not json.loads(archive.read("config.json")).get("compile_config")
        assert b"optimizer" not in archive.read("model.weights.h5")


def test_models_lists_the_bundled_models_after_the_networks(cli):
    code, out, _ = cli("models")
    assert code == 0 and out.index("fastcnn") < out.index("pretrained models")
    listed = [line.split() for line in out.split("pretrained models")[1].splitlines()[2:]]
    recorded = {m.name: m for m in bundled_models()}
    assert [row[0] for row in listed] == ["fashion-mnist", "mnist"]
    for row in listed:
        assert row[1:3] == [recorded[row[0]].dataset, recorded[row[0]].network]
        assert row[3] == f"{100 * recorded[row[0]].test_accuracy:.2f}"
    code, out, _ = cli("models", "--json")
    assert {m["name"]: m["test_accuracy"] for m in json.loads(out)["pretrained"]} == {
        name: json.loads((BUNDLED_ROOT / name / "metrics.json").read_text())["accuracy"] for name in recorded}


# ------------------------------------------------------------------ resolving RUN


def test_a_bundled_name_resolves_to_the_package_or_to_a_user_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLAB_DATA", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    assert resolve_run("mnist") == BUNDLED_ROOT / "mnist"
    copy = resolve_run("mnist", writable=True)
    assert copy == tmp_path / "cache" / "pretrained" / "mnist"
    assert all((copy / f).read_bytes() == (BUNDLED_ROOT / "mnist" / f).read_bytes() for f in BUNDLED_FILES)
    (copy / "metrics.json").write_text("{}")  # a stale copy is refreshed from the package
    (copy / "report").mkdir()  # and what commands wrote there stays
    assert resolve_run("mnist", writable=True) == copy
    assert (copy / "metrics.json").read_bytes() == (BUNDLED_ROOT / "mnist" / "metrics.json").read_bytes()
    assert (copy / "report").is_dir()


def test_a_run_directory_wins_over_a_bundled_name_and_a_folder_that_is_no_run_does_not(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mnist").mkdir()  # e.g. a folder of IDX files
    assert resolve_run("mnist") == BUNDLED_ROOT / "mnist"
    (tmp_path / "mnist" / "config.json").write_text("{}")
    assert resolve_run("mnist") == Path("mnist")
    assert resolve_run(str(tmp_path / "mnist")) == tmp_path / "mnist"


def test_an_unknown_run_is_one_line_that_lists_the_bundled_models(cli, tmp_path):
    with pytest.raises(RunError, match="fashion-mnist, mnist"):
        resolve_run(tmp_path / "nothing")
    code, out, err = cli("predict", str(tmp_path / "nothing"), "x.png")
    assert code != 0 and out == ""
    assert err.strip().count("\n") == 0 and "bundled model (fashion-mnist, mnist" in err


# ------------------------------------------------------------------ the commands (TensorFlow)


@pytest.fixture
def new_folder(tmp_path, monkeypatch):
    """A new user's folder with no runs, its user cache inside it."""
    monkeypatch.setenv("CNNLAB_DATA", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.slow
def test_predict_with_the_bundled_mnist_model_in_a_folder_with_no_runs(cli, new_folder):
    before = _package_state()
    (new_folder / "3.png").write_bytes(_drawn_digit(3))
    code, out, err = cli("predict", "mnist", "3.png", "--json")
    assert code == 0, err
    assert json.loads(out)["predictions"][0]["label"] == 3
    assert _package_state() == before


@pytest.mark.slow
def test_evaluate_gives_the_recorded_accuracy_and_writes_into_the_user_copy(cli, new_folder):
    before = _package_state()
    recorded = json.loads((BUNDLED_ROOT / "mnist" / "metrics.json").read_text())
    code, out, err = cli("evaluate", "mnist", "--json")
    assert code == 0, err
    result = json.loads(out)
    # the same model on the same images; a different CPU may sum in another order and flip at most an image
    assert abs(result["accuracy"] - recorded["accuracy"]) * recorded["num_images"] <= 1
    assert Path(result["run_dir"]) == new_folder / "cache" / "pretrained" / "mnist"
    assert json.loads((Path(result["run_dir"]) / "metrics.json").read_text())["accuracy"] == result["accuracy"]
    assert _package_state() == before


@pytest.mark.slow
def test_evaluate_fashion_mnist_gives_the_recorded_accuracy(cli, new_folder, fashion):
    recorded = json.loads((BUNDLED_ROOT / "fashion-mnist" / "metrics.json").read_text())
    code, out, err = cli("evaluate", "fashion-mnist", "--json")
    assert code == 0, err
    assert abs(json.loads(out)["accuracy"] - recorded["accuracy"]) * recorded["num_images"] <= 1


@pytest.mark.slow
def test_export_and_report_of_a_bundled_model_write_into_the_user_copy(cli, new_folder):
    pytest.importorskip("ai_edge_litert")
    before = _package_state()
    code, out, err = cli("export", "mnist", "--format", "tflite", "--json")
    assert code == 0, err
    exported = Path(json.loads(out)["path"])
    assert exported == new_folder / "cache" / "pretrained" / "mnist" / "export" / "model.tflite"
    assert exported.stat().st_size > 0 and json.loads(out)["check"]["passed"]
    code, out, err = cli("report", "mnist", "--json")
    assert code == 0, err
    assert Path(json.loads(out)["report"]).parent == new_folder / "cache" / "pretrained" / "mnist" / "report"
    assert _package_state() == before


@pytest.mark.slow
def test_serve_a_bundled_model(new_folder):
    with serving("mnist") as served:
        status, model = served.get("/api/model")
        assert status == 200 and model["dataset"] == "mnist" and model["model"] == "fastcnn"
        status, answer = post_image(served.url, _drawn_digit(7), filename="7.png")
        assert status == 200 and answer["label"] == 7


# ------------------------------------------------------------------ the committed command that makes them


def test_the_trainer_refuses_a_limited_model_for_the_package():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(TRAINER), "mnist", "--limit", "600"], capture_output=True, text=True)
    assert done.returncode == 2 and "give --out" in done.stderr
    done = subprocess.run([sys.executable, str(TRAINER), "nosuch"], capture_output=True, text=True)
    assert done.returncode == 2 and "not in pretrained.json: nosuch" in done.stderr


@pytest.mark.slow
def test_the_trainer_makes_a_bundled_model_from_the_committed_settings(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(TRAINER), "mnist", "--limit", "600", "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    made = tmp_path / "mnist"
    assert set(BUNDLED_FILES) <= {p.name for p in made.iterdir()} <= {*BUNDLED_FILES, *KEPT_IF_PRESENT}
    config, settings = json.loads((made / "config.json").read_text()), _settings()["mnist"]
    assert {k: config[k] for k in settings} == settings and config["limit"] == 600
    accuracy = json.loads((made / "metrics.json").read_text())["accuracy"]
    assert f"mnist: test accuracy {100 * accuracy:.2f} %" in done.stdout
