"""What every part of the bench shares: the progress callback, the output folder and the loaded datasets."""

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
