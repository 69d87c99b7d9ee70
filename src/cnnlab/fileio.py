"""File reading and writing shared by the run, report and experiment writers.

Writes are atomic: a reader never sees half a file, and a crash never leaves a damaged one in place (the data
is flushed to disk before the rename that commits it). JSON is written through one conversion of NumPy values,
paths and NaN. Files cnnlab wrote are read back checked, so a damaged one is a one-line error naming it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from cnnlab.errors import RunError, first_line

if TYPE_CHECKING:
    import pandas as pd


def temporary_path(path: Path) -> Path:
    """A hidden sibling of ``path`` for writing first. It ends with ``path``'s own name, so the suffix
    that decides how a file is read or written (``.gz``, ``.keras``) is kept."""
    return path.with_name(f".tmp-{os.getpid()}-{path.name}")


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write to a temporary sibling, flush it to disk, then rename over ``path`` (atomic on one file system)."""
    temporary = temporary_path(path)
    with open(temporary, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def jsonable(value: Any) -> Any:
    """``value`` with NumPy numbers and arrays as Python ones, paths as text and NaN/inf as None (JSON has none).

    Example:
        >>> import numpy as np
        >>> jsonable({"a": np.float32(0.5), "b": [float("nan")], "c": np.arange(2)})
        {'a': 0.5, 'b': [None], 'c': [0, 1]}
    """
    import numpy as np

    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def json_text(value: Any) -> str:
    """Indented JSON of ``value`` (through :func:`jsonable`), ending with a newline."""
    return json.dumps(jsonable(value), indent=2, allow_nan=False) + "\n"


def write_json(path: Path, value: Any) -> Path:
    """Write ``value`` as JSON to ``path``, atomically."""
    return atomic_write_text(path, json_text(value))


def read_checked_csv(path: Path, columns: Sequence[str], dtypes: dict[str, type], advice: str) -> "pd.DataFrame":
    """A CSV file cnnlab wrote, read back and checked: one damaged or edited by hand is a one-line ``RunError``
    that names it and ends with ``advice``, not a pandas error or a missing column further on."""
    import pandas as pd

    try:
        table = pd.read_csv(path)
        missing = [column for column in columns if column not in table.columns]
        if missing:
            raise ValueError(f"no column {', '.join(missing)}")
        return table.astype(dtypes)
    except (ValueError, TypeError, pd.errors.ParserError) as err:  # EmptyDataError is a ValueError
        raise RunError(f"{path} is damaged ({first_line(err, 120)}); {advice}") from None
