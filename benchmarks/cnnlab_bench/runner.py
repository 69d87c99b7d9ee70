"""Run the bench's parts in order; each part's record is written the moment the part ends."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from cnnlab_bench.anatomy import run_anatomy
from cnnlab_bench.best import run_best
from cnnlab_bench.context import BenchContext, Progress
from cnnlab_bench.latency import run_latency
from cnnlab_bench.machine import describe_machine, machine_key, machine_kind, machine_name
from cnnlab_bench.model_speed import run_models
from cnnlab_bench.results import kind_folder, prepare_out, read_kind, read_kinds, write_part
from cnnlab_bench.scaling import run_scaling
from cnnlab_bench.settings import PARTS, BenchSettings
from cnnlab_bench.time_to_accuracy import run_time_to_accuracy
from cnnlab_bench.tutorial import run_tutorial
from cnnlab.errors import ConfigError


def parse_parts(text: str | None) -> list[str]:
    """``"models,tutorial"`` -> the named parts in the bench's own order (timing-sensitive first, best last).

    Example:
        >>> parse_parts("best,tutorial")
        ['tutorial', 'best']
    """
    if not text:
        return list(PARTS)
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in PARTS]
    if unknown or not names:
        raise ConfigError(f"unknown bench part(s) {', '.join(unknown) or repr(text)}; choose from: {', '.join(PARTS)}")
    return [part for part in PARTS if part in names]


@dataclass
class BenchOutcome:
    kind: str  # this machine's CPU kind, the folder below ``out`` its records went to
    records: dict[str, dict[str, Any]]  # this kind's part records afterwards, keyed by part
    kinds: dict[str, dict[str, dict[str, Any]]]  # every kind's records in ``out`` afterwards (what the document shows)
    failures: dict[str, str]  # part -> "ErrorType: message" for the parts that failed this time


def run_bench(settings: BenchSettings, out: str | Path, parts: list[str], rerun: bool = False,
              progress: Progress = lambda line: None, keep_going: bool = True) -> BenchOutcome:
    """Measure ``parts`` on this machine into ``out/<kind>/`` (its CPU kind's folder; other kinds' records are left as
    they are), skipping those already there with the same settings on the same machine (unless ``rerun``): a part
    measured on another CPU of the kind (another stepping, say) is measured again, so one column is one machine.

    A part that fails is reported in ``failures`` and the bench goes on with the next one (``keep_going``): an
    unattended 90-minute bench should not lose its last hour to an error in one part.
    """
    machine = describe_machine()
    here, kind = machine_key(machine), machine_kind(machine)
    folder = prepare_out(kind_folder(Path(out), kind))
    finished = read_kind(Path(out), kind)  # this kind's records, an old-layout one included
    failures: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="cnnlab-bench-") as scratch:
        context = BenchContext(out=folder, scratch=Path(scratch), progress=progress, rerun=rerun)
        for number, part in enumerate(parts, start=1):
            wanted = _as_json(settings.part_dict(part))
            existing = finished.get(part)
            if existing and not rerun and existing.get("settings") == wanted:
                measured_on = existing.get("machine") or {}
                if machine_key(measured_on) == here:
                    context.say(part, f"already measured for {kind} in {out}; skipped (--rerun measures it again)")
                    continue
                context.say(part, f"the {kind} record in {out} was measured on another machine "
                                  f"({machine_name(measured_on)}); measuring it again here")
            context.say(part, f"part {number} of {len(parts)} starting")
            try:
                record = _measure(part, settings, context, wanted)
            except Exception as err:  # noqa: BLE001 - reported to the caller, who exits non-zero
                if not keep_going:
                    raise
                failures[part] = f"{type(err).__name__}: {err}"
                context.say(part, f"FAILED ({failures[part]}); going on with the next part")
                continue
            path = write_part(folder, record)
            context.say(part, f"done in {record['wall_seconds']:.0f} s; wrote {path}")
    kinds = read_kinds(Path(out))
    return BenchOutcome(kind, kinds.get(kind, {}), kinds, failures)


def _measure(part: str, settings: BenchSettings, context: BenchContext, wanted: dict) -> dict[str, Any]:
    machine = describe_machine()  # before: the load average the part started under
    start = time.perf_counter()
    result = _PART_FUNCTIONS[part](settings.part(part), context)
    return {"part": part, "quick": settings.quick, "settings": wanted, "machine": machine,
            "wall_seconds": round(time.perf_counter() - start, 2), "result": result}


def _as_json(values: dict) -> dict:
    return json.loads(json.dumps(values))


_PART_FUNCTIONS: dict[str, Callable[[Any, BenchContext], dict[str, Any]]] = {
    "tutorial": run_tutorial, "anatomy": run_anatomy, "time_to_accuracy": run_time_to_accuracy, "models": run_models,
    "latency": run_latency, "scaling": run_scaling, "best": run_best,
}
