"""The process-wide TensorFlow setup a run depends on: log noise, seeds, determinism, precision, versions."""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import sys
from importlib import metadata
from typing import Iterator

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's C++ info/warning banner


@contextlib.contextmanager
def silenced_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null within the block: C++ code (TensorFlow, the converters) writes there
    directly, past Python's ``sys.stderr``."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its start-up banner (written by C++ straight to stderr) hidden."""
    if "tensorflow" in sys.modules:
        return
    with silenced_stderr():
        import tensorflow

        # the device probe, hidden too: without a GPU, the CUDA build logs "failed call to cuInit" at the first look
        tensorflow.config.list_physical_devices()


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy, TensorFlow and Keras; on a GPU, also make TensorFlow pick deterministic kernels.

    On a CPU TensorFlow's kernels already give the same result for the same inputs and thread count, and the
    training pipeline's randomness is stateless (seeded by seed, epoch and step), so a run repeats without op
    determinism. Turned on there, its only effect is on tf.data: a pipeline that reads a variable (as the epoch's
    does) is made synchronous, and a batch's augmentation then waits for the previous training step instead of
    being made while it runs (``benchmarks/determinism_cost.py`` measures the difference).
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if tf.config.list_physical_devices("GPU"):
        tf.config.experimental.enable_op_determinism()


def resolve_precision(precision: str) -> str:
    """``auto`` becomes ``mixed_float16`` on a GPU (its tensor cores compute float16 products at several times
    their float32 rate; Keras scales the loss so small gradients survive), ``mixed_bfloat16`` on a CPU with
    native bfloat16 arithmetic (AVX-512 BF16 or AMX), and ``float32`` elsewhere, where bfloat16 would be emulated
    and slower. The other values are returned as they are.
    """
    if precision != "auto":
        return precision
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return "mixed_float16"
    return "mixed_bfloat16" if cpu_has_native_bfloat16() else "float32"


def cpu_has_native_bfloat16() -> bool:
    flags = cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


@contextlib.contextmanager
def precision_policy(precision: str) -> Iterator[str]:
    """Within the block, Keras builds layers in ``precision`` (``auto`` resolved, and yielded); the previous
    global policy comes back afterwards, so one run's choice never leaks into the next model built."""
    import keras

    previous = keras.mixed_precision.global_policy()
    try:
        yield set_precision(precision)
    finally:
        keras.mixed_precision.set_global_policy(previous)


def set_precision(precision: str) -> str:
    """Set Keras's global dtype policy before building a model; returns the policy set (``auto`` resolved)."""
    import keras

    resolved = resolve_precision(precision)
    keras.mixed_precision.set_global_policy(resolved)
    return resolved


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries a run's numbers depend on."""
    import keras
    import tensorflow as tf

    versions = {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__}
    for package in ("cnnlab", "numpy", "pandas", "scikit-learn"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return versions


def machine_info() -> dict[str, object]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_id": cpu_identity(),
        "cpu_bfloat16": cpu_has_native_bfloat16(),
        "cpu_count": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "argv": sys.argv,
    }


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    return set(_cpuinfo().get("flags", "").split())


def cpu_identity() -> str:
    """Vendor, family, model and stepping, e.g. ``AuthenticAMD family 26 model 2 stepping 1``.

    The model name alone does not tell CPU generations apart (a virtual machine may call both Zen 4 and Zen 5
    just "AMD EPYC" although one trains DigitCNN about twice as fast as the other); these numbers do.
    """
    info = _cpuinfo()
    if "cpu family" not in info:
        return platform.processor() or platform.machine() or "unknown"
    return (f"{info.get('vendor_id', 'unknown')} family {info['cpu family']} model {info.get('model', '?')} "
            f"stepping {info.get('stepping', '?')}")


def _cpu_model() -> str:
    return _cpuinfo().get("model name") or platform.processor() or "unknown"


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    """The first processor's ``key: value`` lines of /proc/cpuinfo (empty where there is none), read once."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor's block ends here; the others repeat it
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def _memory_gib() -> float | None:
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        return round(pages * page_size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None
