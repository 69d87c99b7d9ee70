"""A corpus of damaged runs, made here from one tiny trained run, through the real CLI: every command refuses
each damage with one line on stderr that names the damaged file, never "internal error", never an answer.

Each case copies the run (``shutil.copytree``) and damages one file: valid JSON of the wrong shape, a file cut
short, binary bytes, values that would give a wrong answer (``std: 0``, an accuracy that is not the confusion
matrix's), a folder, a named pipe or a symbolic-link loop where a file should be, a commit point that names a file
outside the checkpoints or one that is not there. Most refusals come when the run is opened, before TensorFlow
loads, so the corpus is fast; report and export are slow and run on a few cases only.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from PIL import Image

FAST = ("evaluate", "predict", "resume")


@dataclass(frozen=True)
class Damage:
    name: str
    file: str  # relative to the run: the name the refusal must give
    damage: Callable[[Path], None]
    commands: tuple[str, ...] = FAST


def _write(text: str | bytes) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.unlink(missing_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return write


def _cut(fraction: float) -> Callable[[Path], None]:
    def cut(path: Path) -> None:
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * fraction)])
    return cut


def _edit_json(**changes) -> Callable[[Path], None]:
    """Change (or, with ``None``, remove) top-level keys of a JSON file."""
    def edit(path: Path) -> None:
        values = json.loads(path.read_text())
        for key, value in changes.items():
            if value is None:
                values.pop(key, None)
            else:
                values[key] = value
        path.write_text(json.dumps(values))
    return edit


def _edit_text(old: str, new: str) -> Callable[[Path], None]:
    def edit(path: Path) -> None:
        text = path.read_text()
        assert old in text, old
        path.write_text(text.replace(old, new, 1))
    return edit


def _delete(path: Path) -> None:
    path.unlink()


def _folder(path: Path) -> None:
    path.unlink()
    path.mkdir()
    (path / "inside").write_text("a folder where a file should be")


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)  # a reader that opened it would wait forever


def _link_loop(path: Path) -> None:
    path.unlink()
    other = path.with_name(path.name + ".loop")
    other.symlink_to(path.name)
    path.symlink_to(other.name)


def _nan_std(path: Path) -> None:
    values = json.loads(path.read_text())
    path.write_text(json.dumps({**values, "std": float("nan")}))  # Python writes NaN, which json.loads accepts


HISTORY_ROW_2 = "2,1.0,0.5,0.5,0.8,0.001,1.0,100.0\n"

CASES = [
    # config.json
    Damage("config-list", "config.json", _write("[]")),
    Damage("config-truncated", "config.json", _cut(0.5)),
    Damage("config-binary", "config.json", _write(b"\x00\xff\xfe\x89PNG\x00")),
    Damage("config-wrong-type", "config.json", _edit_json(epochs="abc")),
    Damage("config-folder", "config.json", _folder),
    # manifest.json
    Damage("manifest-list", "manifest.json", _write("[]")),
    Damage("manifest-sessions-text", "manifest.json", _edit_json(sessions="yesterday")),
    Damage("manifest-format-text", "manifest.json", _edit_json(cnnlab_run="two")),
    Damage("manifest-fifo", "manifest.json", _fifo),
    # normalizer.json: the first three would make every input NaN or turn the images negative
    Damage("normalizer-std-zero", "normalizer.json", _edit_json(std=0), FAST + ("report", "export")),
    Damage("normalizer-std-nan", "normalizer.json", _nan_std),
    Damage("normalizer-std-negative", "normalizer.json", _edit_json(std=-1.5)),
    Damage("normalizer-std-text", "normalizer.json", _write('{"std": "abc"}')),
    Damage("normalizer-list", "normalizer.json", _write("[]")),
    Damage("normalizer-short-mean", "normalizer.json", _edit_json(mean=[0.0, 1.0, 2.0])),
    Damage("normalizer-link-loop", "normalizer.json", _link_loop),
    # metrics.json (report shows it; evaluate would write it again)
    Damage("metrics-list", "metrics.json", _write("[]"), FAST + ("report",)),
    Damage("metrics-accuracy-text", "metrics.json", _edit_json(accuracy="0.99")),
    Damage("metrics-accuracy-not-the-matrix", "metrics.json", _edit_json(accuracy=0.999), FAST + ("report",)),
    Damage("metrics-truncated", "metrics.json", _cut(0.6)),
    # history.csv
    Damage("history-cut-mid-row", "history.csv", _cut(0.8), FAST + ("report",)),
    Damage("history-epochs-not-1-to-n", "history.csv", _edit_text("\n1,", "\n3,")),
    Damage("history-not-a-number", "history.csv", _edit_text("\n1,", "\n1,abc")),
    Damage("history-extra-field", "history.csv", lambda p: p.write_text(p.read_text() + HISTORY_ROW_2 + "3,1,2\n")),
    Damage("history-accuracy-above-1", "history.csv", lambda p: p.write_text(
        p.read_text().splitlines()[0] + "\n1,1.0,7.0,0.5,0.8,0.001,1.0,100.0\n")),
    Damage("history-deleted", "history.csv", _delete),
    Damage("history-folder", "history.csv", _folder),
    # checkpoints/latest.json, the commit point
    Damage("latest-truncated", "checkpoints/latest.json", _cut(0.5)),
    Damage("latest-binary", "checkpoints/latest.json", _write(b"\x80\x81\x82\x00")),
    Damage("latest-list", "checkpoints/latest.json", _write("[]")),
    Damage("latest-no-epoch", "checkpoints/latest.json", _edit_json(epoch=None)),
    Damage("latest-no-file", "checkpoints/latest.json", _edit_json(file=None)),
    Damage("latest-file-escapes", "checkpoints/latest.json", _edit_json(file="../model.keras")),
    Damage("latest-file-temporary", "checkpoints/latest.json", _edit_json(file=".tmp-1-epoch-0001.keras")),
    Damage("latest-epoch-beyond-config", "checkpoints/latest.json", _edit_json(epoch=9, file="epoch-0009.keras")),
    Damage("latest-deleted", "checkpoints/latest.json", _delete, ("resume",)),
    Damage("latest-folder", "checkpoints/latest.json", _folder),
    Damage("latest-checkpoint-deleted", "checkpoints/epoch-0001.keras", _delete, ("resume",)),
    Damage("latest-checkpoint-truncated", "checkpoints/epoch-0001.keras", _cut(0.5), ("resume",)),
    # checkpoints/best.json
    Damage("best-wrong-shape", "checkpoints/best.json", _write('{"epoch": "first"}')),
    # the final model
    Damage("model-truncated", "model.keras", _cut(0.5), ("evaluate", "predict", "export")),
    Damage("model-folder", "model.keras", _folder, ("evaluate", "predict")),
    Damage("model-fifo", "model.keras", _fifo, ("evaluate",)),
]


@pytest.fixture(scope="module")
def digit_png(tmp_path_factory, mnist) -> Path:
    path = tmp_path_factory.mktemp("digit") / "7_digit.png"
    Image.fromarray(255 - mnist.x_test[0].reshape(28, 28)).resize((112, 112)).save(path)  # dark ink, light paper
    return path


def _argv(command: str, run: Path, digit_png: Path, tmp_path: Path) -> list[str]:
    return {
        "evaluate": ["evaluate", str(run)],
        "predict": ["predict", str(run), str(digit_png)],
        "resume": ["train", "--run-dir", str(run), "--resume", "--quiet"],
        "report": ["report", str(run), "--out", str(tmp_path / "report")],
        "export": ["export", str(run), "--format", "tflite", "--out", str(tmp_path / "model.tflite")],
    }[command]


def test_the_corpus_is_large_and_covers_every_file():
    assert len(CASES) >= 30 and len({case.name for case in CASES}) == len(CASES)
    damaged = {case.file for case in CASES}
    for name in ("config.json", "manifest.json", "normalizer.json", "metrics.json", "history.csv",
                 "checkpoints/latest.json", "checkpoints/best.json", "model.keras"):
        assert name in damaged, name


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_damaged_run_is_refused_in_one_line_naming_the_file(case, tiny_run, tmp_path, cli, digit_png):
    run = tmp_path / "run"
    shutil.copytree(tiny_run.path, run, symlinks=True)
    case.damage(run / case.file)
    for command in case.commands:
        code, out, err = cli(*_argv(command, run, digit_png, tmp_path))
        lines = err.strip().splitlines()
        where = f"{command} on {case.name}: exit {code}, stderr {err!r}"
        assert code != 0, where  # never an answer from a damaged run
        assert len(lines) == 1 and lines[0].startswith("cnnlab: error: "), where
        assert "internal error" not in err and "None" not in lines[0], where
        assert Path(case.file).name in lines[0], where
        assert out == "", where
    assert not (tmp_path / "report").exists() and not (tmp_path / "model.tflite").exists()


def test_a_finished_run_is_never_offered_overwrite(tiny_run, tmp_path, cli):
    run = tmp_path / "run"
    shutil.copytree(tiny_run.path, run)
    code, _, err = cli("train", "--run-dir", str(run), "--epochs", "1", "--limit", "3000", "--quiet")
    assert code != 0 and "finished run" in err and "--overwrite" not in err and "another --run-dir" in err
    (run / "checkpoints" / "latest.json").unlink()
    code, _, err = cli("train", "--run-dir", str(run), "--resume", "--quiet")
    assert code != 0 and "latest.json" in err and "missing" in err and "--overwrite" not in err
