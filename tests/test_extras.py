"""A command whose extra is not installed says in one line which extra to install (exit 2, no traceback).

A missing package is simulated in a fresh interpreter by ``sys.modules[name] = None``, which makes Python
treat the module as not importable, exactly as when it is not installed.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from cnnlab.extras import EXTRA_MODULES, MissingExtraError, missing_modules, require_extra


def _cnnlab_without(modules: list[str], *argv: str) -> subprocess.CompletedProcess:
    script = ("import sys\n"
              f"for name in {modules!r}:\n"
              "    sys.modules[name] = None\n"
              "from cnnlab.cli import main\n"
              f"sys.exit(main({list(argv)!r}))\n")
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("blocked, argv, message", [
    (["fastapi"], ["serve", "runs/any"], "cnnlab serve needs the serve extra: pip install 'cnnlab[serve]'"),
    (["uvicorn"], ["serve", "runs/any"], "cnnlab serve needs the serve extra: pip install 'cnnlab[serve]'"),
    (["tf2onnx"], ["export", "runs/any", "--format", "onnx"],
     "cnnlab export --format onnx needs the export extra: pip install 'cnnlab[export]'"),
    (["ai_edge_litert"], ["export", "runs/any", "--format", "tflite"],
     "cnnlab export --format tflite needs the export extra: pip install 'cnnlab[export]'"),
])
def test_a_command_without_its_extra_names_the_extra_in_one_line(blocked, argv, message):
    result = _cnnlab_without(blocked, *argv)
    assert result.returncode == MissingExtraError.exit_code == 2
    assert result.stderr.strip() == f"cnnlab: error: {message}"
    assert result.stdout == ""


def test_require_extra_passes_when_the_modules_are_there_and_names_the_extra_when_not(monkeypatch):
    require_extra("serve", "cnnlab serve", ["json"])  # an importable module: nothing raised
    monkeypatch.setitem(sys.modules, "no_such_module_here", None)
    assert missing_modules(["json", "no_such_module_here"]) == ["no_such_module_here"]
    with pytest.raises(MissingExtraError, match=r"^x needs the tracking extra: pip install 'cnnlab\[tracking\]'$"):
        require_extra("tracking", "x", ["no_such_module_here"])


def test_every_extra_named_in_code_is_an_extra_of_the_package():
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert set(EXTRA_MODULES) <= set(pyproject["project"]["optional-dependencies"])
