"""A run's saved model is self-describing: plain Keras, in a Python that never imports cnnlab, loads
``model.keras`` and its checkpoints, takes raw 0..255 pixels and scores exactly what ``cnnlab evaluate`` says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cnnlab.config import TrainConfig
from cnnlab.models import model_names
from cnnlab.training.train import train

BUNDLED = Path(__file__).resolve().parents[1] / "src" / "cnnlab" / "data" / "bundled" / "mnist"

# Reads the MNIST test set from its IDX files with NumPy alone, loads each run's model and checkpoints with Keras
# alone, and reports per run.
PLAIN_KERAS = r"""
import gzip, json, pathlib, sys
import numpy as np
import keras

def idx(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)

folder, runs = sys.argv[1], sys.argv[2:]
images = idx(f"{folder}/t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)  # raw pixels, 0..255
labels = idx(f"{folder}/t10k-labels-idx1-ubyte.gz", 8)
report = {}
for run in runs:
    model = keras.models.load_model(f"{run}/model.keras")
    checkpoints = sorted(pathlib.Path(run, "checkpoints").glob("*.keras"))
    report[run] = {
        "accuracy": float((model.predict(images, verbose=0).argmax(axis=1) == labels).mean()),
        "optimizers": [type(keras.models.load_model(path).optimizer).__name__ for path in checkpoints],
        "layers": [type(layer).__name__ for layer in model.layers],
    }
report["cnnlab_imported"] = any(name.startswith("cnnlab") for name in sys.modules)
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def short_runs(tmp_path_factory, mnist):
    """One short run of every registered model."""
    root = tmp_path_factory.mktemp("saved")
    return {model: train(TrainConfig.from_recipe("default", model=model, epochs=1, limit=600, val_split=100),
                         root / model, dataset=mnist) for model in model_names()}


@pytest.fixture(scope="module")
def plain_keras(short_runs):
    """What a Python without cnnlab makes of every run (one process for all of them)."""
    paths = [str(run.path) for run in short_runs.values()]
    result = subprocess.run([sys.executable, "-c", PLAIN_KERAS, str(BUNDLED), *paths], capture_output=True,
                            text=True, timeout=600, cwd=Path(paths[0]).parent)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_plain_keras_process_never_imported_cnnlab(plain_keras):
    assert plain_keras["cnnlab_imported"] is False


@pytest.mark.slow
@pytest.mark.parametrize("model", model_names())
def test_plain_keras_loads_the_saved_model_and_scores_what_cnnlab_evaluate_reports(model, short_runs, plain_keras,
                                                                                   cli):
    run = short_runs[model]
    code, out, _ = cli("evaluate", str(run.path), "--json")
    assert code == 0
    plain = plain_keras[str(run.path)]
    assert plain["accuracy"] == json.loads(out)["accuracy"]  # exactly: the same graph, raw pixels in
    # the run's normalization is the first layer: Rescaling (standardize, scale) or LayerNormalization (per_image)
    assert plain["layers"][0] in ("Rescaling", "LayerNormalization")
    assert plain["optimizers"] and set(plain["optimizers"]) <= {"Adam", "AdamW"}  # latest and best checkpoints
