"""The command line refuses a bad value, and lists the models, without importing TensorFlow (seconds of start-up)."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Runs the CLI as `python -m cnnlab` does, then tells whether TensorFlow was imported on the way.
WRAPPER = ("import sys; from cnnlab.cli import main; code = main(sys.argv[1:]); "
           "print('tensorflow imported:', 'tensorflow' in sys.modules, file=sys.stderr); sys.exit(code)")


def _cnnlab(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WRAPPER, *argv], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("argv, message", [
    (["--dropout", "1.5"], "dropout 1.5 is out of range: use a probability in [0, 1)"),
    (["--epochs", "0"], "epochs 0 is out of range: use a whole number >= 1"),
    (["--model", "nosuch"], "unknown model 'nosuch'; choose one of: digitcnn"),
    (["--model", "digitcnn", "--option", "dense_units=0"],
     "model option dense_units=0 is not allowed: use a whole number >= 1"),
    (["--lr-schedule", "x"], "lr-schedule 'x' is not one of: constant, onecycle, cosine"),
    (["--val-mode", "x"], "val-mode 'x' is not one of: last, random"),
    (["--recipe", "nosuch"], "unknown recipe 'nosuch'"),
    (["--config", "/nonexistent/config.json"], "/nonexistent/config.json does not exist"),
])
def test_a_bad_training_value_is_refused_before_tensorflow_is_imported(argv, message):
    result = _cnnlab("train", *argv)
    assert result.returncode == 2, result.stderr
    error, imported = result.stderr.strip().splitlines()
    assert error.startswith(f"cnnlab: error: {message}"), error
    assert imported == "tensorflow imported: False"


def test_python_m_cnnlab_refuses_a_bad_value_in_one_line():
    result = subprocess.run([sys.executable, "-m", "cnnlab", "train", "--dropout", "1.5"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == ["cnnlab: error: dropout 1.5 is out of range: use a probability in [0, 1)"]


@pytest.mark.parametrize("argv", [["repeat", "--dropout", "1.5"], ["search", "--grid", "dropout=0", "--epochs", "0"]])
def test_repeat_and_search_check_their_config_before_tensorflow_too(argv):
    result = _cnnlab(*argv)
    assert result.returncode == 2 and result.stderr.strip().splitlines()[-1] == "tensorflow imported: False"


def test_models_are_listed_without_tensorflow():
    result = _cnnlab("models")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:3] == ["model", "params", "MACs/image"] and "1,111,946" in result.stdout
    assert result.stderr.strip() == "tensorflow imported: False"
