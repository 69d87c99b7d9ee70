"""The run's files read back checked (run_files, fileio) and written so that a kill never leaves a damaged one:
fsync of the file before its rename and of the folder after it, writers killed at random moments, leftover
temporary files, what is said of a folder, pipe or link loop where a file should be, and the commit point."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from cnnlab import fileio
from cnnlab.errors import RunError
from cnnlab.fileio import atomic_write_bytes, read_checked_bytes, read_checked_csv, remove_temporaries, what_is_at
from cnnlab.run import Run, prepare_run_dir
from cnnlab.run_files import Invalid, check_best, check_latest, check_manifest, check_metrics

# -------------------------------------------------------------------- atomic writes


def test_an_atomic_write_fsyncs_the_file_before_its_rename_and_the_folder_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", "folder" if os.path.isdir(f"/proc/self/fd/{fd}") else "file"))
        real_fsync(fd)

    def replace(source, target):
        events.append(("replace", Path(target).name))
        real_replace(source, target)

    monkeypatch.setattr(fileio.os, "fsync", fsync)
    monkeypatch.setattr(fileio.os, "replace", replace)
    atomic_write_bytes(tmp_path / "a.json", b"{}")
    assert events == [("fsync", "file"), ("replace", "a.json"), ("fsync", "folder")]
    assert (tmp_path / "a.json").read_bytes() == b"{}" and os.listdir(tmp_path) == ["a.json"]


def test_a_checkpoint_is_committed_the_same_way(tmp_path, monkeypatch):
    import keras

    from cnnlab.training.callbacks import save_model_atomically

    events = []
    real_fsync = os.fsync
    monkeypatch.setattr(fileio.os, "fsync", lambda fd: events.append(
        "folder" if os.path.isdir(f"/proc/self/fd/{fd}") else "file") or real_fsync(fd))
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    save_model_atomically(model, tmp_path / "m.keras")
    assert events == ["file", "folder"] and os.listdir(tmp_path) == ["m.keras"]
    assert zipfile.is_zipfile(tmp_path / "m.keras")


_WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from cnnlab.fileio import atomic_write_bytes

    target, size = Path(sys.argv[1]), int(sys.argv[2])
    version = 0
    while True:
        version += 1
        marker = version % 251
        atomic_write_bytes(target, bytes([marker]) * (size + marker))  # each version its own length and bytes
        if version == 1:
            print("ready", flush=True)
""")


def _complete(data: bytes, size: int) -> bool:
    return len(data) > 0 and len(data) == size + data[0] and data == bytes([data[0]]) * len(data)


def test_a_writer_killed_at_random_moments_leaves_the_old_or_the_new_content(tmp_path):
    target, size = tmp_path / "record.bin", 300_000
    target.write_bytes(bytes([0]) * size)  # version 0, complete
    rng = random.Random(24)
    for _ in range(12):
        writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(target), str(size)], stdout=subprocess.PIPE)
        assert writer.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0, 0.15))
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        assert _complete(target.read_bytes(), size)  # never empty, never part of a version
    leftovers = remove_temporaries(tmp_path)  # what a kill between write and rename leaves: never the target
    assert all(p.name.startswith(".tmp-") for p in leftovers) and os.listdir(tmp_path) == ["record.bin"]


_MODEL_WRITER = textwrap.dedent("""
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    from pathlib import Path
    import keras
    from cnnlab.training.callbacks import save_model_atomically

    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(256), keras.layers.Dense(10)])
    for version in range(1, 10_000):
        model.layers[-1].bias.assign([float(version)] * 10)
        save_model_atomically(model, Path(sys.argv[1]))
        if version == 1:
            print("ready", flush=True)
""")


def test_a_checkpoint_writer_killed_at_random_moments_leaves_a_loadable_checkpoint(tmp_path):
    import keras

    target = tmp_path / "epoch-0001.keras"
    rng = random.Random(7)
    for _ in range(1):  # each writer pays for importing Keras: the plain writer above takes the many kills
        writer = subprocess.Popen([sys.executable, "-c", _MODEL_WRITER, str(target)], stdout=subprocess.PIPE)
        assert writer.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0, 0.5))
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        bias = keras.models.load_model(target).layers[-1].bias.numpy()
        assert bias.min() == bias.max() >= 1  # one complete version
    remove_temporaries(tmp_path)
    assert os.listdir(tmp_path) == [target.name]


# -------------------------------------------------------------------- what is there


def test_what_is_at_says_what_is_there_instead_of_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    (tmp_path / "dangling").symlink_to("nowhere")
    assert what_is_at(tmp_path / "file") is None
    assert what_is_at(tmp_path / "nothing") == "missing"
    assert what_is_at(tmp_path / "folder") == "a folder, not a file"
    assert what_is_at(tmp_path / "pipe") == "a named pipe (FIFO), not a file"
    assert what_is_at(tmp_path / "a") == "a symbolic link loop"
    assert what_is_at(tmp_path / "dangling") == "a broken symbolic link"
    assert what_is_at(tmp_path / "file" / "below").startswith("missing")
    with pytest.raises(RunError, match="pipe is a named pipe .FIFO., not a file; do this"):
        read_checked_bytes(tmp_path / "pipe", 100, "do this")  # refused without opening it (that would block)
    with pytest.raises(RunError, match="larger than 0 bytes"):
        read_checked_bytes(tmp_path / "file", 0, "do this")


@pytest.mark.parametrize("text, problem", [
    ("a,b\n1,2\n3,", "last row .line 3. is cut off"),
    ("a,b\n1,2\n3,4,5\n", "line 3 has 3 fields"),
    ("a,b\n1\n", "line 2 has 1 fields"),
    ("", "empty"),
    ("a,b\n1,x\n", "could not convert|invalid literal"),
    ("a,c\n1,2\n", "no column b"),
])
def test_a_csv_is_checked_row_by_row(tmp_path, text, problem):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(RunError, match=problem):
        read_checked_csv(path, ["a", "b"], {"a": int, "b": int}, "fix it")
    path.write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(RunError, match="t.csv is damaged"):
        read_checked_csv(path, ["a", "b"], {"a": int, "b": int}, "fix it")


# -------------------------------------------------------------------- the schemas


LATEST = {"epoch": 2, "file": "epoch-0002.keras", "best": {"epoch": 1, "score": 0.9, "metric": "val_accuracy"},
          "seed_generators": [[1, 2]]}


@pytest.mark.parametrize("change, problem", [
    ({"epoch": "2"}, "'epoch' is text"), ({"epoch": True}, "not a whole number"), ({"epoch": 0}, "below 1"),
    ({"epoch": 4}, "beyond the config's 3"), ({"file": "../../model.keras"}, "not the checkpoint"),
    ({"file": "/etc/passwd"}, "not the checkpoint"), ({"file": "epoch-0001.keras"}, "not the checkpoint"),
    ({"file": ".tmp-9-epoch-0002.keras"}, "not the checkpoint"), ({"file": 7}, "not text"),
    ({"best": {"epoch": 1}}, "no 'score'"), ({"seed_generators": [["a"]]}, "seed_generators"),
])
def test_latest_json_is_checked(change, problem):
    assert check_latest(LATEST, 3) == LATEST
    with pytest.raises(Invalid, match=problem):
        check_latest({**LATEST, **change}, 3)
    for key in ("epoch", "file"):
        with pytest.raises(Invalid, match=f"no '{key}'"):
            check_latest({k: v for k, v in LATEST.items() if k != key}, 3)


def test_manifest_best_and_metrics_are_checked(tiny_run):
    metrics = tiny_run.metrics
    assert check_metrics(metrics, 10) is metrics and check_best({}) == {}
    for values, problem in [
        ({**metrics, "accuracy": 0.5}, "not the confusion matrix's"),
        ({**metrics, "num_images": 5}, "counts 10,000 images"),
        ({**metrics, "accuracy": float("nan")}, "not a finite number"),
        ({**metrics, "loss": -1.0}, "outside"),
        ({**metrics, "split": "train"}, "not 'test' or 'val'"),
        ({**metrics, "confusion_matrix": [[1]]}, "10 rows of 10"),
        ({**metrics, "per_class": metrics["per_class"][:3]}, "list of 10 classes"),
    ]:
        with pytest.raises(Invalid, match=problem):
            check_metrics(values, 10)
    with pytest.raises(Invalid, match="'metric' is"):
        check_best({"epoch": 1, "score": 0.5, "metric": "loss"})
    with pytest.raises(Invalid, match="'params' is text"):
        check_manifest({"params": "many"})
    with pytest.raises(Invalid, match="no 'start'"):
        check_manifest({"sessions": [{}]})


# -------------------------------------------------------------------- the commit point and leftovers


def _copy(tiny_run, tmp_path) -> Path:
    path = tmp_path / "run"
    shutil.copytree(tiny_run.path, path)
    return path


def test_resume_without_its_commit_point_says_so_instead_of_starting_over(tiny_run, tmp_path):
    path = _copy(tiny_run, tmp_path)
    (path / "checkpoints" / "latest.json").unlink()
    (path / "model.keras").unlink()  # an unfinished run: starting over would replace its epochs
    with pytest.raises(RunError, match="latest.json, the commit point, is missing although the run holds "
                                       "best.keras, epoch-0001.keras, 1 epoch.s. of history.csv"):
        prepare_run_dir(path, resume=True, overwrite=False)
        Run.load(path).commit_point()
    assert (path / "history.csv").exists() and (path / "checkpoints" / "epoch-0001.keras").exists()


def test_a_history_shorter_than_the_commit_point_is_refused(tiny_run, tmp_path):
    path = _copy(tiny_run, tmp_path)
    header = (path / "history.csv").read_text().splitlines()[0]
    (path / "history.csv").write_text(header + "\n")  # cut exactly at a row's end: valid CSV, one epoch short
    with pytest.raises(RunError, match="history.csv has 0 epoch.s. but .*latest.json records 1"):
        Run.load(path)


def test_a_finished_run_is_refused_without_suggesting_overwrite(tiny_run, tmp_path):
    path = _copy(tiny_run, tmp_path)
    with pytest.raises(RunError) as caught:
        prepare_run_dir(path, resume=False, overwrite=False)
    assert "finished run" in str(caught.value) and "--overwrite" not in str(caught.value)
    (path / "model.keras").unlink()
    with pytest.raises(RunError, match="stopped before its last epoch; pass --resume .* or --overwrite"):
        prepare_run_dir(path, resume=False, overwrite=False)


def test_leftover_temporary_files_are_removed_at_the_next_start_and_never_read(tiny_run, tmp_path):
    path = _copy(tiny_run, tmp_path)
    leftovers = [path / ".tmp-99999-history.csv", path / "checkpoints" / ".tmp-99999-epoch-0002.keras"]
    for leftover in leftovers:
        leftover.write_bytes(b"half a file")
    assert Run.load(path).commit_point()["file"] == "epoch-0001.keras"  # the committed one, not the newer temp
    prepare_run_dir(path, resume=True, overwrite=False)
    assert not any(leftover.exists() for leftover in leftovers)
    assert (path / "checkpoints" / "epoch-0001.keras").exists()


def test_a_run_stopped_before_its_first_epoch_is_started_again(tiny_run, tmp_path):
    path = tmp_path / "run"
    path.mkdir()
    shutil.copy(tiny_run.path / "config.json", path)  # killed before normalizer.json was written
    (path / ".tmp-99999-normalizer.json").write_text('{"kind": "stand')
    run = Run.load(path)
    assert run.never_trained() and run.commit_point() is None
    for resume in (False, True):  # neither needs --overwrite
        prepare_run_dir(path, resume=resume, overwrite=False)
        assert os.listdir(path) == []
        shutil.copy(tiny_run.path / "config.json", path)
    only_temporaries = tmp_path / "killed-before-config"
    only_temporaries.mkdir()
    (only_temporaries / ".tmp-99999-config.json").write_text("{")
    prepare_run_dir(only_temporaries, resume=False, overwrite=False)
    assert os.listdir(only_temporaries) == []
    (path / "history.csv").write_text((tiny_run.path / "history.csv").read_text())
    assert not Run(path).never_trained()  # a history row is worth keeping
    (path / "history.csv").unlink()
    (path / "thesis.tex").write_text("not a run's")  # a folder with anything else is never cleared
    assert not Run(path).never_trained()
    with pytest.raises(RunError, match="stopped before its last epoch"):
        prepare_run_dir(path, resume=False, overwrite=False)
    assert (path / "thesis.tex").exists()


def test_a_damaged_record_is_named_when_the_run_is_opened(tiny_run, tmp_path):
    path = _copy(tiny_run, tmp_path)
    values = json.loads((path / "normalizer.json").read_text())
    (path / "normalizer.json").write_text(json.dumps({**values, "std": 0}))
    with pytest.raises(RunError, match=r"normalizer.json: not a valid normalizer \(std 0;"):
        Run.load(path)
