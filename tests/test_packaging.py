"""The package as a user installs it: a core without the optional stacks, extras that name what they add, and a
wheel (built here, offline) that carries the bundled data, the licence and complete metadata.

The fresh-virtual-environment install of that wheel and its smoke test run in CI (.ci/wheel_smoke.sh): they need
the package index for TensorFlow, and tests never use the network.
"""

from __future__ import annotations

import email.parser
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# what the issue keeps out of the core: ONNX, LiteRT, FastAPI, uvicorn, MLflow and the browser-test tools
NOT_IN_CORE = ("onnx", "tf2onnx", "onnxruntime", "ai-edge-litert", "fastapi", "uvicorn", "python-multipart",
               "mlflow", "mlflow-skinny", "playwright", "schemathesis", "jupyterlab", "tensorflow-cpu")


def _name(requirement: str) -> str:
    return re.split(r"[\s;\[<>=!~]", requirement, maxsplit=1)[0].lower()


def test_the_core_holds_none_of_the_optional_stacks():
    core = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    assert core.isdisjoint(NOT_IN_CORE), core & set(NOT_IN_CORE)
    assert "tensorflow" in core  # one TensorFlow distribution everywhere; [gpu] adds CUDA to it


def test_each_extra_adds_its_stack_and_all_holds_every_user_extra():
    extras = PYPROJECT["project"]["optional-dependencies"]
    named = {extra: {_name(r) for r in requirements} for extra, requirements in extras.items()}
    assert {"fastapi", "uvicorn"} <= named["serve"]
    assert {"tf2onnx", "onnx", "onnxruntime", "ai-edge-litert"} <= named["export"]
    assert "mlflow-skinny" in named["tracking"]
    assert extras["gpu"] == ["tensorflow[and-cuda]>=2.16; platform_system == 'Linux' and platform_machine == 'x86_64'"]
    assert extras["all"] == ["cnnlab[serve,export,tracking,notebook]"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built without network (the environment's setuptools, no isolated build) from a copy of what the
    sdist holds, so nothing is written into the tree and no earlier build/ folder leaks into it."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("dist")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    result = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out),
                             str(source)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return next(out.glob("cnnlab-*.whl"))


@pytest.mark.slow
def test_the_wheel_carries_the_bundled_data_licence_and_metadata(wheel):
    archive = zipfile.ZipFile(wheel)
    names = set(archive.namelist())
    for folder in ("cnnlab/data/bundled/mnist/", "cnnlab/serve/static/", "cnnlab/web/"):
        assert any(name.startswith(folder) for name in names), folder
    bundled = sorted(p.relative_to(ROOT / "src").as_posix() for p in (ROOT / "src/cnnlab/data/bundled").rglob("*")
                     if p.is_file() and "__pycache__" not in p.parts)
    assert set(bundled) <= names  # every bundled file (MNIST, the pretrained models) ships
    assert "cnnlab/models/sizes.json" in names
    info = next(name for name in names if name.endswith(".dist-info/METADATA"))
    metadata = email.parser.Parser().parsestr(archive.read(info).decode())
    assert metadata["License-Expression"] == "MIT" and metadata["Author"] == "cnnlab authors"
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert metadata.get_all("Classifier") and metadata["Keywords"] and metadata.get_all("Project-URL")
    core = [r for r in metadata.get_all("Requires-Dist") if "extra ==" not in r]
    assert {_name(r) for r in core}.isdisjoint(NOT_IN_CORE)
    assert metadata.get_payload().startswith("# cnnlab")  # the README is the long description
