"""Shared fixtures: the real (bundled) MNIST, Fashion-MNIST when installed, and one tiny trained run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _in_process import run_main

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Tests never read or write the user's real cache."""
    monkeypatch.setenv("CNNLAB_DATA", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def mnist():
    from cnnlab.data.sources import load_dataset

    return load_dataset("mnist", download=False)


@pytest.fixture(scope="session")
def fashion():
    from cnnlab.data.catalog import FASHION_MNIST
    from cnnlab.data.sources import load_dataset

    if not Path(FASHION_MNIST.system_dirs[0]).is_dir():
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    return load_dataset("fashion-mnist", download=False)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, mnist):
    """A default-recipe run (fastcnn) trained for one epoch on 3,000 MNIST images: enough for downstream tests."""
    from cnnlab.config import TrainConfig
    from cnnlab.training.train import train

    config = TrainConfig.from_recipe("default", epochs=1, limit=3000, val_split=500, seed=1)
    return train(config, tmp_path_factory.mktemp("runs") / "tiny", dataset=mnist)


@pytest.fixture
def cli(capsys):
    """Run the CLI in-process: returns (exit code, stdout, stderr)."""
    from cnnlab.cli import main

    def run(*argv: str) -> tuple[int, str, str]:
        return run_main(main, capsys, argv)

    return run
