"""The DigitCNN walk-through runs end to end (briefly) and writes every figure it promises."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnlab.errors import CnnlabError

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "digitcnn_walkthrough.py"
FIGURES = ["sample_digits.png", "fives.png", "loss_and_validation_accuracy.png", "test_examples.png",
           "misclassified.png", "own_digits.png"]


def _walkthrough_module():
    spec = importlib.util.spec_from_file_location("digitcnn_walkthrough", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_walkthrough_runs_end_to_end(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, str(SCRIPT), "--epochs", "1", "--limit", "600", "--out", str(out)],
                            capture_output=True, text=True, env=env, timeout=600)

    assert result.returncode == 0, result.stderr[-2000:]
    printed = result.stdout
    for step in ("1. Importing", "2. Data visualization", "4. Building", "5. Training with validation",
                 "6. Retraining", "7. Testing", "8. Predicting your own digits"):
        assert step in printed
    assert "Epoch 01: Training Avg. Loss:" in printed and "Validation Acc:" in printed
    assert "Test Accuracy:" in printed and "Own-digit Accuracy:" in printed
    for figure in FIGURES:
        assert (out / figure).stat().st_size > 1000, figure
    assert list((out / "logs").glob("events.out.tfevents.*"))
    assert (out / "digitCNN-model" / "model.ckpt-1.index").is_file()


def test_own_digits_are_read_with_labels_from_file_names(tmp_path, mnist, capsys):
    from PIL import Image

    walkthrough = _walkthrough_module()
    walkthrough.write_example_digits(tmp_path, mnist.x_test, mnist.y_test)
    Image.fromarray(255 - mnist.x_test[0].reshape(28, 28)).save(tmp_path / "mine.png")  # no leading digit
    Image.new("L", (40, 30), 255).save(tmp_path / "7_blank.png")  # nothing to read: skipped
    (tmp_path / "notes.txt").write_text("not an image")

    pixels, labels, names = walkthrough.read_own_digits(tmp_path)

    assert pixels.shape == (11, 28, 28) and pixels.dtype == np.uint8
    assert labels == list(range(10)) + [None]
    assert names[0] == "0_test.png" and names[-1] == "mine.png"
    assert "skipped 7_blank.png" in capsys.readouterr().out
    # written as dark ink on white paper, read back as MNIST's light ink on black
    assert pixels[0].mean() < 128 and pixels[0].max() > 128


def test_a_folder_without_usable_images_is_refused_in_one_line(tmp_path):
    walkthrough = _walkthrough_module()
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(CnnlabError, match="holds no usable digit images"):
        walkthrough.read_own_digits(tmp_path)
