"""The pretrained models shipped inside the package, and the one place that turns a command's RUN into a folder.

Each bundled model is a small, finished run directory under ``cnnlab/data/bundled/models/<name>/`` (config,
manifest, normalizer, history, model, the test metrics recorded when it was trained and its model card; no
checkpoints or logs),
made by ``python benchmarks/train_pretrained.py``. Its name works wherever a run directory does:
``cnnlab predict mnist photo.png``.

The package folder may be read-only, and its recorded metrics must stay as trained. A command that writes into its
run (evaluate's metrics.json, report, export) therefore gets a copy of the bundled run in the user cache,
``$CNNLAB_DATA/pretrained/<name>/`` (default ``~/.cache/cnnlab/pretrained/<name>/``), and writes there.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from cnnlab.data.sources import cache_root
from cnnlab.errors import RunError
from cnnlab.fileio import atomic_write_bytes
from cnnlab.run import Run

BUNDLED_ROOT = Path(__file__).parent / "data" / "bundled" / "models"
# the files a bundled run is made of: a finished run without its checkpoints/ and logs/
BUNDLED_FILES = ("config.json", "manifest.json", "normalizer.json", "history.csv", "model.keras", "metrics.json")
# kept too when the run has them: the model card, and the held-out photo figures of benchmarks/photo_bench.py
KEPT_IF_PRESENT = ("MODEL_CARD.md", "photo_accuracy.json")


@dataclass(frozen=True)
class BundledModel:
    """One pretrained model as ``cnnlab models`` lists it (read from its JSON records: no TensorFlow)."""

    name: str
    dataset: str
    network: str
    test_accuracy: float | None
    size_bytes: int  # all its files together
    path: Path


def bundled_names() -> list[str]:
    """The names of the bundled models, sorted."""
    if not BUNDLED_ROOT.is_dir():
        return []
    return sorted(p.name for p in BUNDLED_ROOT.iterdir() if (p / "config.json").is_file())


def bundled_models() -> list[BundledModel]:
    """Every bundled model with its dataset, network, recorded test accuracy and size."""
    return [_describe(BUNDLED_ROOT / name) for name in bundled_names()]


def resolve_run(run: str | os.PathLike, writable: bool = False) -> Path:
    """The folder a command's ``RUN`` argument names: a run directory that exists wins (so a run of your own
    called ``mnist`` is never shadowed); then a bundled model's name; then anything else that exists (a file, a
    folder that is no run), for ``Run.load`` to refuse in its own words; otherwise ``RunError`` in one line that
    lists the bundled names.

    With ``writable`` a bundled model resolves to its copy in the user cache (made or refreshed now), so that
    the command's files land there and never in the package folder.

    Example:
        >>> resolve_run("mnist").name
        'mnist'
    """
    path = Path(run)
    if (path / "config.json").is_file():
        return path
    name = str(run)
    if name in bundled_names():  # before a folder of that name that is no run (a dataset folder 'mnist/')
        return user_copy(name) if writable else BUNDLED_ROOT / name
    if path.exists():
        return path
    names = ", ".join(bundled_names()) or "none installed"
    raise RunError(f"{path} is not a directory; pass a run directory written by 'cnnlab train' or the name of "
                   f"a bundled model ({names}; see 'cnnlab models')")


def open_run(run: str | os.PathLike, writable: bool = False) -> Run:
    """``Run.load`` of a run directory or a bundled model's name (see ``resolve_run``).

    Example:
        >>> open_run("mnist").config.model
        'fastcnn'
    """
    return Run.load(resolve_run(run, writable))


def user_copy(name: str) -> Path:
    """The user-cache copy of bundled model ``name`` (its files refreshed from the package when they differ,
    e.g. after an upgrade); what commands wrote there before (report/, export/) stays."""
    source = BUNDLED_ROOT / name
    target = cache_root() / "pretrained" / name
    try:
        target.mkdir(parents=True, exist_ok=True)
        for file in _files_of(source):
            if not (target / file).is_file() or not filecmp.cmp(source / file, target / file, shallow=False):
                atomic_write_bytes(target / file, (source / file).read_bytes())
    except OSError as err:
        raise RunError(f"cannot copy the bundled model {name} to {target} ({err.strerror or err}); set CNNLAB_DATA "
                       "to a folder you can write to") from None
    return target


def install_bundled(run_dir: str | os.PathLike, name: str, root: str | os.PathLike = BUNDLED_ROOT) -> Path:
    """Copy the files of the finished run at ``run_dir`` that a bundled model keeps into ``root/name`` (for
    ``benchmarks/train_pretrained.py``); the folder is replaced whole."""
    source, target = Path(run_dir), Path(root) / name
    missing = [f for f in BUNDLED_FILES if not (source / f).is_file()]
    if missing:
        raise RunError(f"{source} is not a finished, evaluated run (no {', '.join(missing)})")
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for file in _files_of(source):
        shutil.copyfile(source / file, target / file)
    return target


def _files_of(run_dir: Path) -> list[str]:
    """The files of ``run_dir`` that a bundled model keeps."""
    return [*BUNDLED_FILES, *(f for f in KEPT_IF_PRESENT if (run_dir / f).is_file())]


def _describe(folder: Path) -> BundledModel:
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    metrics_path = folder / "metrics.json"
    metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() else {}
    size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    return BundledModel(name=folder.name, dataset=config.get("dataset", "?"), network=config.get("model", "?"),
                        test_accuracy=metrics.get("accuracy"), size_bytes=size, path=folder)
