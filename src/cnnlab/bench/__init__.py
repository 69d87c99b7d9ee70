"""``cnnlab bench``: measure training speed, time to accuracy, latency, scaling and memory, and the best recipe,
against baselines written for the purpose (``cnnlab.bench.baselines``); results go to one json a part and into a
generated ``docs/PERFORMANCE.md``.

One module a part (``tutorial``, ``anatomy``, ``time_to_accuracy``, ``model_speed``, ``latency``, ``scaling``,
``best``); ``runner`` runs them in order and writes each part's record as it ends; ``document`` renders the
markdown.
"""

from cnnlab.bench.settings import PARTS, BenchSettings, bench_settings

__all__ = ["PARTS", "BenchSettings", "bench_settings"]
