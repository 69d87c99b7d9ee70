"""File reading and writing shared by the run, report and experiment writers.

Writes are atomic: a reader never sees half a file, and a crash or power cut never leaves a damaged or empty one
in place (the file is fsynced before the rename that commits it, its folder after). JSON is written through one
conversion of NumPy values, paths and NaN. Files cnnlab wrote are read back checked, so a damaged one, or a
folder, pipe or link loop where one should be, is a one-line error naming it.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from cnnlab.errors import RunError, first_line

if TYPE_CHECKING:
    import pandas as pd


TEMPORARY_PREFIX = ".tmp-"


def temporary_path(path: Path) -> Path:
    """A hidden sibling of ``path`` for writing first. It ends with ``path``'s own name, so the suffix
    that decides how a file is read or written (``.gz``, ``.keras``) is kept."""
    return path.with_name(f"{TEMPORARY_PREFIX}{os.getpid()}-{path.name}")


def is_temporary(path: Path) -> bool:
    """Whether ``path`` is a writer's temporary file (never a committed one: a writer killed before its rename
    leaves it behind)."""
    return path.name.startswith(TEMPORARY_PREFIX)


def remove_temporaries(folder: Path) -> list[Path]:
    """Delete the temporary files left in ``folder`` by writers that were killed; returns what was removed.

    Only for a folder this process is about to write (a run at the start of training): no other writer can be
    using it then.
    """
    removed = []
    for leftover in sorted(folder.glob(f"{TEMPORARY_PREFIX}*")) if folder.is_dir() else []:
        if leftover.is_file() or leftover.is_symlink():
            leftover.unlink(missing_ok=True)
            removed.append(leftover)
    return removed


def fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (a rename into it) to disk, where the system allows opening a folder."""
    try:
        descriptor = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # e.g. Windows cannot open a folder; its renames are durable without it
        return
    try:
        os.fsync(descriptor)
    except OSError:  # some file systems refuse fsync on a folder; the rename itself is still atomic
        pass
    finally:
        os.close(descriptor)


def commit(temporary: Path, path: Path) -> Path:
    """Make a complete ``temporary`` file the content of ``path``: fsync the file (so the rename never commits a
    name whose data is not on disk yet), rename it over ``path``, then fsync the folder (so the rename itself
    survives a power cut)."""
    with open(temporary, "rb") as file:
        os.fsync(file.fileno())
    os.replace(temporary, path)
    fsync_folder(path.parent)
    return path


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write to a temporary sibling, fsync it, rename it over ``path`` and fsync the folder: a reader sees the
    old or the new content, never part of one, even after a crash or power cut."""
    temporary = temporary_path(path)
    try:
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)
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


def what_is_at(path: Path, wanted: str = "a file") -> str | None:
    """None when ``path`` is a regular file (through symbolic links); otherwise what is there instead, worded for
    a message: "missing", "a folder, not a file", "a named pipe (FIFO), not a file", "a symbolic link loop"...
    (``wanted`` words the "not ..." part)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "a broken symbolic link" if os.path.islink(path) else "missing"
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "a symbolic link loop"
        if err.errno == errno.ENOTDIR:
            return "missing (a file is in the way of its folder)"
        return f"unreadable ({err.strerror or type(err).__name__})"
    if stat.S_ISREG(mode):
        return None
    kind = ("a folder" if stat.S_ISDIR(mode) else "a named pipe (FIFO)" if stat.S_ISFIFO(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "a device")
    return f"{kind}, not {wanted}"


def read_checked_bytes(path: Path, limit: int, advice: str) -> bytes:
    """The bytes of a file cnnlab wrote, at most ``limit`` of them; a ``RunError`` naming the file, saying what is
    there instead when it is not a regular file (a pipe would block the reader, a folder is not "missing") and
    ending with ``advice``."""
    what = what_is_at(path)
    if what is not None:
        raise RunError(f"{path} is {what}; {advice}")
    try:
        with open(path, "rb") as file:
            data = file.read(limit + 1)
    except OSError as err:
        raise RunError(f"{path}: cannot read it ({err.strerror or type(err).__name__}); {advice}") from None
    if len(data) > limit:
        raise RunError(f"{path} is larger than {limit:,} bytes, far more than cnnlab writes there; {advice}")
    return data


def read_checked_csv(path: Path, columns: Sequence[str], dtypes: dict[str, type], advice: str,
                     limit: int = 64 << 20) -> "pd.DataFrame":
    """A CSV file cnnlab wrote, read back and checked row by row: one cut short (mid-row, or with a row of too
    few or too many fields), damaged or edited by hand is a one-line ``RunError`` that names it and ends with
    ``advice``, not a pandas error, a silently padded row or a missing column further on."""
    import pandas as pd

    data = read_checked_bytes(path, limit, advice)
    try:
        text = data.decode("utf-8")
        rows = list(csv.reader(io.StringIO(text)))
        if not rows:
            raise ValueError("it is empty")
        if not text.endswith("\n"):  # cnnlab ends every row with a newline: the last one was cut off
            raise ValueError(f"its last row (line {len(rows)}) is cut off")
        width = len(rows[0])
        for number, row in enumerate(rows[1:], start=2):
            if len(row) != width:
                raise ValueError(f"line {number} has {len(row)} fields, the header {width}")
        table = pd.read_csv(io.StringIO(text))
        missing = [column for column in columns if column not in table.columns]
        if missing:
            raise ValueError(f"no column {', '.join(missing)}")
        return table.astype(dtypes)
    except (ValueError, TypeError, csv.Error, pd.errors.ParserError) as err:  # UnicodeDecodeError is a ValueError
        raise RunError(f"{path} is damaged ({first_line(err, 120)}); {advice}") from None
