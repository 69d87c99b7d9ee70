"""The bench's result files: ``OUT/<part>.json``, one a part, each written atomically as soon as its part ends."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from cnnlab_bench.settings import PARTS
from cnnlab.errors import RunError
from cnnlab.fileio import atomic_write_text


def part_path(out: Path, part: str) -> Path:
    return Path(out) / f"{part}.json"


def prepare_out(out: Path) -> Path:
    """Create ``out`` and prove it writable now, rather than after an hour of measuring."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-check-"):
            pass
    except OSError as err:
        raise RunError(f"cannot write the bench results to {out} ({err.strerror or err}); "
                       "choose another folder with --out") from None
    return out


def write_part(out: Path, record: dict[str, Any]) -> Path:
    """Write one part's record (atomic: an interrupted bench never leaves half a file)."""
    return atomic_write_text(part_path(out, record["part"]), json.dumps(record, indent=2, default=_plain) + "\n")


def read_part(out: Path, part: str) -> dict[str, Any] | None:
    """A part's record, or None when it is missing or unreadable (then the part is measured again)."""
    try:
        record = json.loads(part_path(out, part).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("part") == part else None


def read_parts(out: Path) -> dict[str, dict[str, Any]]:
    """Every part record present in ``out``, in the bench's order."""
    records = {part: read_part(out, part) for part in PARTS}
    return {part: record for part, record in records.items() if record is not None}


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
