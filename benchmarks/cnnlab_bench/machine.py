"""The machine a measurement was taken on, as stored with each part's results and shown in the document."""

from __future__ import annotations

import datetime as dt
import os
import re
from typing import Any

# CPU flags that decide how fast bfloat16 runs (AVX-512 BF16 instructions, AMX tiles).
SPEED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "amx_int8")


def describe_machine() -> dict[str, Any]:
    """CPU model and identity, cores, memory, bf16/AMX flags, load average, library versions and the time, for one
    record."""
    from cnnlab.runtime import cpu_flags, library_versions, machine_info

    info = machine_info()
    present = cpu_flags()
    return {
        "cpu": info["cpu"],
        "cpu_id": info["cpu_id"],
        "cpu_count": info["cpu_count"],
        "memory_gib": info["memory_gib"],
        "platform": info["platform"],
        "cpu_flags": [flag for flag in SPEED_FLAGS if flag in present],
        "load_average_1min": round(os.getloadavg()[0], 2),
        "versions": {**library_versions(), **_runtime_versions()},
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def machine_key(machine: dict[str, Any]) -> tuple:
    """What makes two records' machines the same kind: CPU name, identity (its generation) and core count."""
    return machine.get("cpu"), machine.get("cpu_id"), machine.get("cpu_count")


def machine_name(machine: dict[str, Any]) -> str:
    """``AMD EPYC (AuthenticAMD family 26 model 2 stepping 1)``: the CPU's name and its identity."""
    return f"{machine.get('cpu', '?')} ({machine.get('cpu_id', '?')})"


def machine_kind(machine: dict[str, Any]) -> str:
    """The folder name of a machine's records, short and stable: CPU name, generation, logical CPUs and whether
    bfloat16 is native, e.g. ``amd-epyc-family26-model2-2cpu-bf16`` (``-fp32`` where ``precision auto`` trains in
    float32). Records of one kind compare with each other; records of two kinds are shown side by side.

    Example:
        >>> machine_kind({"cpu": "AMD EPYC", "cpu_id": "AuthenticAMD family 25 model 1 stepping 1", "cpu_count": 2,
        ...               "cpu_flags": ["avx2"]})
        'amd-epyc-family25-model1-2cpu-fp32'
    """
    generation = re.search(r"family (\d+) model (\d+)", machine.get("cpu_id") or "")
    words = [_slug(machine.get("cpu") or "unknown-cpu"),
             f"family{generation[1]}-model{generation[2]}" if generation else _slug(machine.get("cpu_id") or ""),
             f"{machine.get('cpu_count') or '?'}cpu", "bf16" if has_native_bfloat16(machine) else "fp32"]
    return "-".join(word for word in words if word)


def has_native_bfloat16(machine: dict[str, Any]) -> bool:
    """Whether the recorded CPU computes bfloat16 natively (then ``precision auto`` picks mixed_bfloat16 on it), as
    ``cnnlab.runtime.resolve_precision`` decides for the CPU it runs on."""
    return bool({"avx512_bf16", "amx_bf16"} & set(machine.get("cpu_flags") or []))


def auto_precision(machine: dict[str, Any]) -> str:
    """What ``precision auto`` picks on the recorded CPU (no GPU)."""
    return "mixed_bfloat16" if has_native_bfloat16(machine) else "float32"


def _slug(text: str) -> str:
    """``Intel(R) Xeon(R) Platinum 8488C CPU @ 2.40GHz`` -> ``intel-xeon-platinum-8488c``: the name's words, without
    trademarks, clock speed, or the words CPU and processor."""
    text = re.sub(r"\((r|tm)\)|@.*$", " ", text.lower())
    words = [w for w in re.split(r"[^a-z0-9]+", text) if w and w not in ("cpu", "processor")]
    return "-".join(words[:5])


def _runtime_versions() -> dict[str, str]:
    """Versions of the exported-model runtimes the latency part uses."""
    from importlib import metadata

    versions = {}
    for package in ("onnxruntime", "ai-edge-litert", "tf2onnx"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return versions
