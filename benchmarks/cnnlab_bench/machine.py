"""The machine a measurement was taken on, as stored with each part's results and shown in the document."""

from __future__ import annotations

import datetime as dt
import os
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
