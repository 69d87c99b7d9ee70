"""What every part of the bench shares: the progress callback, the output folder, loaded datasets, and the
recipe names the parts ask for (``fast``, ``best``), with an honest fallback while a recipe does not exist yet.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

Progress = Callable[[str], None]


@dataclass
class BenchContext:
    """Passed to each part: ``progress`` takes one line (the command prints it on stderr), ``out`` is the
    results folder (parts that keep runs put them below it), ``scratch`` a temporary folder for throw-away runs.
    """

    out: Path
    scratch: Path
    progress: Progress = lambda line: None
    rerun: bool = False  # measure again what earlier benches left in ``out`` (the best part's runs)
    _datasets: dict[str, Any] = field(default_factory=dict)
    _started: float = field(default_factory=time.perf_counter)

    def dataset(self, name: str):
        """A verified dataset, loaded once per bench (parts share it; loading is not what they time)."""
        if name not in self._datasets:
            from cnnlab.data.sources import load_dataset

            self._datasets[name] = load_dataset(name)
        return self._datasets[name]

    def say(self, part: str, message: str) -> None:
        """One progress line, prefixed with the bench's elapsed time and the part, so a long bench shows it is alive."""
        elapsed = time.perf_counter() - self._started
        self.progress(f"[bench {elapsed / 60:5.1f} min] {part}: {message}")


def recipe_or_default(name: str) -> str:
    """``name`` when that recipe exists, else ``default``: the parts are written against the ``fast`` and ``best``
    recipes, and until those land they run (and say in their results that they ran) the default recipe."""
    from cnnlab.config import RECIPES

    return name if name in RECIPES else "default"


def trained_precision(run) -> str:
    """The precision a run trained in: the manifest's (``auto`` resolved to ``mixed_bfloat16`` or ``float32``,
    which is what a reader of the figures needs), else the config's word for it."""
    return run.manifest.get("precision") or run.config.precision
