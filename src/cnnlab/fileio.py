"""Atomic file writes: a reader never sees half a file, and a crash never leaves a damaged one in place."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import pandas as pd


def temporary_path(path: Path) -> Path:
    """A hidden sibling of ``path`` for writing first. It ends with ``path``'s own name, so the suffix
    that decides how a file is read or written (``.gz``, ``.keras``) is kept."""
    return path.with_name(f".tmp-{os.getpid()}-{path.name}")


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write to a temporary sibling, then rename over ``path`` (atomic on one file system)."""
    temporary = temporary_path(path)
    temporary.write_bytes(data)
    os.replace(temporary, path)
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def read_checked_csv(path: Path, columns: Sequence[str], dtypes: dict[str, type], advice: str) -> "pd.DataFrame":
    """A CSV file cnnlab wrote, read back and checked: one damaged or edited by hand is a one-line ``RunError``
    that names it and ends with ``advice``, not a pandas error or a missing column further on."""
    import pandas as pd

    from cnnlab.errors import RunError, first_line

    try:
        table = pd.read_csv(path)
        missing = [column for column in columns if column not in table.columns]
        if missing:
            raise ValueError(f"no column {', '.join(missing)}")
        return table.astype(dtypes)
    except (ValueError, TypeError, pd.errors.ParserError) as err:  # EmptyDataError is a ValueError
        raise RunError(f"{path} is damaged ({first_line(err, 120)}); {advice}") from None
