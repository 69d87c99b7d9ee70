"""Printing helpers for the commands: tables and one-object JSON on stdout, notes on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any, Iterable, Sequence

from cnnlab.fileio import jsonable


def print_json(value: Any) -> None:
    """Print exactly one JSON object on stdout (and nothing else should be printed there)."""
    print(json.dumps(jsonable(value), indent=2, default=str))


def note(message: str) -> None:
    print(message, file=sys.stderr)


def print_table(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> None:
    rows = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
    for row in rows:
        print("  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(row, widths)).rstrip())


def percent(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f} %"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _numeric(text: str) -> bool:
    return text.replace(",", "").replace(".", "").replace(" %", "").replace("-", "").isdigit()
