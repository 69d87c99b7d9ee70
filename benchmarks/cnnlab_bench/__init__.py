"""The performance benchmark, run as ``python benchmarks/bench.py`` (``make bench``): training speed, time to
accuracy, latency, scaling and memory, and the best recipe, against baselines written for the purpose
(``cnnlab_bench.baselines``); results go to one json a part and into a generated ``docs/PERFORMANCE.md``.
It is not part of the cnnlab package: it imports cnnlab, cnnlab never imports it.

One module a part (``tutorial``, ``anatomy``, ``time_to_accuracy``, ``model_speed``, ``latency``, ``scaling``,
``best``); ``runner`` runs them in order and writes each part's record as it ends; ``document`` renders the
markdown.
"""

from cnnlab_bench.settings import PARTS, BenchSettings, bench_settings

__all__ = ["PARTS", "BenchSettings", "bench_settings"]
