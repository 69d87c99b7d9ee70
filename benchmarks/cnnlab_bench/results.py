"""The bench's result files: ``OUT/<kind>/<part>.json``, one a part for each CPU kind (``machine.machine_kind``), each
written atomically as soon as its part ends.

The older layout, ``OUT/<part>.json`` without a kind folder, is still read: each such record counts for the kind
its own machine entry names, and a record in the kind's folder takes its place.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from cnnlab_bench.machine import machine_kind
from cnnlab_bench.settings import PARTS
from cnnlab.errors import RunError
from cnnlab.fileio import atomic_write_text


def part_path(out: Path, part: str) -> Path:
    return Path(out) / f"{part}.json"


def kind_folder(out: Path, kind: str) -> Path:
    """Where the records of one CPU kind live."""
    return Path(out) / kind


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
    """Every part record present in the folder ``out`` itself, in the bench's order."""
    records = {part: read_part(out, part) for part in PARTS}
    return {part: record for part, record in records.items() if record is not None}


def read_kind(out: Path, kind: str) -> dict[str, dict[str, Any]]:
    """One CPU kind's records, keyed by part in the bench's order: its folder's, and for the parts missing there,
    an old-layout record in ``out`` itself measured on that kind."""
    return read_kinds(out).get(kind, {})


def read_kinds(out: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """Every kind's records, ``{kind: {part: record}}``, kinds sorted by name, parts in the bench's order."""
    out = Path(out)
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for part, record in read_parts(out).items():  # the old layout, one folder for every machine
        found.setdefault(machine_kind(record.get("machine") or {}), {})[part] = record
    folders = sorted(p for p in out.iterdir() if p.is_dir()) if out.is_dir() else []
    for folder in folders:
        found.setdefault(folder.name, {}).update(read_parts(folder))
    ordered = {kind: {part: records[part] for part in PARTS if part in records} for kind, records in found.items()}
    return {kind: ordered[kind] for kind in sorted(ordered) if ordered[kind]}


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
