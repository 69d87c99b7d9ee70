"""Optional parts of the install: which extra a capability needs, and the one-line refusal when it is missing.

The core install trains, evaluates, reports and predicts. Serving, exporting to ONNX/LiteRT and MLflow tracking
come with the extras of the same names (``pip install 'cnnlab[serve]'``); a command that needs one checks for it
first, so its user reads which extra to install instead of a traceback about a module.
"""

from __future__ import annotations

import importlib.util

from cnnlab.errors import CnnlabError

# extra -> the top-level modules it provides (looked up, not imported: cheap, and no import side effects)
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "serve": ("fastapi", "uvicorn", "multipart"),
    "export": ("tf2onnx", "onnx", "onnxruntime", "ai_edge_litert"),
    "tracking": ("mlflow",),
}
# export format -> the modules of the export extra it needs to convert and check (a SavedModel: TensorFlow alone)
EXPORT_FORMAT_MODULES: dict[str, tuple[str, ...]] = {
    "tflite": ("ai_edge_litert",),
    "onnx": ("tf2onnx", "onnx", "onnxruntime"),
}


class MissingExtraError(CnnlabError):
    """A command needs a part of cnnlab that is installed separately (an extra)."""

    exit_code = 2


def missing_modules(modules: tuple[str, ...] | list[str]) -> list[str]:
    """The modules of ``modules`` that cannot be imported here (not installed, or blocked in ``sys.modules``)."""
    missing = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a broken or half-installed package
            found = False
        if not found:
            missing.append(name)
    return missing


def require_extra(extra: str, what: str, modules: tuple[str, ...] | list[str] | None = None) -> None:
    """Raise :class:`MissingExtraError` unless ``modules`` (default: all of the extra's) can be imported.

    ``what`` names the thing that needs them, as the user asked for it (``"cnnlab serve"``).

    Example:
        >>> require_extra("serve", "cnnlab serve")  # doctest: +SKIP
        MissingExtraError: cnnlab serve needs the serve extra: pip install 'cnnlab[serve]'
    """
    if missing_modules(EXTRA_MODULES[extra] if modules is None else modules):
        raise MissingExtraError(f"{what} needs the {extra} extra: pip install 'cnnlab[{extra}]'")
