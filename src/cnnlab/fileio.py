"""Atomic file writes: a reader never sees half a file, and a crash never leaves a damaged one in place."""

from __future__ import annotations

import os
from pathlib import Path


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
