"""Goals whose figure depends on the CPU kind: a CPU without native bfloat16 (``precision auto`` trains in float32)
is held to other figures than one with it. The document checks each kind's records against them; the figures it
shows come from the records, these are only the bars.
"""

from __future__ import annotations

from typing import Any

from cnnlab_bench.machine import has_native_bfloat16

TUTORIAL_SPEEDUP = {"float32": 1.3, "bfloat16": 1.4}  # cnnlab / TF1 images per second, tutorial recipe
TUTORIAL_ACCURACY_POINTS = 0.3  # |cnnlab - TF1| test accuracy after the same epochs, in points
FAST_HIGH_VS_TF1_LOW = 0.25  # the fast recipe's seconds to the higher target / TF1's to the lower one
DEMO_SECONDS = {"float32": 180.0, "bfloat16": 60.0}  # training seconds of `make demo` (the default recipe, in full)
DEMO_ACCURACY = 0.995  # its test accuracy


def cpu_class(machine: dict[str, Any]) -> str:
    """``bfloat16`` where the recorded CPU computes it natively, else ``float32``: which bar a kind is held to."""
    return "bfloat16" if has_native_bfloat16(machine) else "float32"


def tutorial_speedup_met(result: dict[str, Any], machine: dict[str, Any]) -> tuple[float, bool]:
    """The bar for this kind and whether the tutorial record clears it (speed and accuracy)."""
    bar = TUTORIAL_SPEEDUP[cpu_class(machine)]
    met = result["cnnlab_vs_tf1"] >= bar and abs(result["accuracy_points_vs_tf1"]) <= TUTORIAL_ACCURACY_POINTS
    return bar, bool(met)


def fast_high_vs_tf1_low(result: dict[str, Any]) -> float | None:
    """The fast recipe's seconds to the higher target over TF1's seconds to the lower one (None: one never got
    there)."""
    targets = result["targets"]
    fast = result["fast_seconds_to"][str(max(targets))]
    tf1 = result["tf1_graph"]["seconds_to"][str(min(targets))]
    return None if fast is None or tf1 is None else fast / tf1


def demo_run(result: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any] | None:
    """The scaling part's full run when it is the run `make demo` makes (the default recipe on all the images for
    its own epochs), else None."""
    full_size = settings.get("full_limit") is None and settings.get("full_epochs") is None
    return result["full_run"] if full_size and settings.get("full_recipe") == "default" else None


def demo_met(run: dict[str, Any], machine: dict[str, Any]) -> tuple[float, bool]:
    """The bar in seconds for this kind and whether the demo run clears it (time and accuracy)."""
    bar = DEMO_SECONDS[cpu_class(machine)]
    return bar, bool(run["train_seconds"] <= bar and run["test_accuracy"] >= DEMO_ACCURACY)
