"""cnnlab: train, evaluate, inspect and use CNN classifiers on MNIST-family images (TensorFlow 2, Keras 3).

The public API is imported lazily, so ``import cnnlab`` (and ``cnnlab --help``) stays fast; TensorFlow is
loaded only when something needs it.

Example:
    >>> import cnnlab
    >>> run = cnnlab.train(cnnlab.TrainConfig.from_recipe("default", epochs=1), "runs/first")  # doctest: +SKIP
    >>> cnnlab.evaluate(run)["accuracy"]  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is first imported

# public name -> module that defines it
_API = {
    "CnnlabError": "cnnlab.errors",
    "TrainConfig": "cnnlab.config",
    "list_recipes": "cnnlab.config",
    "read_idx": "cnnlab.data.idx",
    "write_idx": "cnnlab.data.idx",
    "load_mnist": "cnnlab.data.idx",
    "load_dataset": "cnnlab.data.sources",
    "Dataset": "cnnlab.data.sources",
    "Normalizer": "cnnlab.data.normalize",
    "batch_generator": "cnnlab.data.pipeline",
    "split_validation": "cnnlab.data.splits",
    "create_model": "cnnlab.models.registry",
    "list_models": "cnnlab.models.registry",
    "register_model": "cnnlab.models.registry",
    "train": "cnnlab.training.train",
    "Run": "cnnlab.run",
    "open_run": "cnnlab.pretrained",
    "bundled_models": "cnnlab.pretrained",
    "evaluate": "cnnlab.evaluation",
    "Predictor": "cnnlab.evaluation",
    "write_report": "cnnlab.viz.report",
    "compare_runs": "cnnlab.viz.compare",
    "write_comparison": "cnnlab.viz.compare",
    "export_run": "cnnlab.export",
    "load_exported": "cnnlab.export",
    "DigitCNN": "cnnlab.tutorial.digitcnn",
    "preprocess_image": "cnnlab.images.preprocess",
    "SearchSpec": "cnnlab.experiments.search",
    "run_search": "cnnlab.experiments.search",
    "run_repeat": "cnnlab.experiments.repeat",
    "compare_groups": "cnnlab.experiments.groups",
}

__all__ = sorted(_API)

# Modules whose public names work without TensorFlow (Run imports it quietly in load_model); every other one
# imports it, at once or on first use.
_WITHOUT_TENSORFLOW = {
    "cnnlab.errors", "cnnlab.config", "cnnlab.data.idx", "cnnlab.data.sources", "cnnlab.data.normalize",
    "cnnlab.data.splits", "cnnlab.data.pipeline", "cnnlab.images.preprocess", "cnnlab.experiments.stats",
    "cnnlab.experiments.groups", "cnnlab.run", "cnnlab.viz.compare", "cnnlab.pretrained",
}


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'cnnlab' has no attribute {name!r}")
    if _API[name] not in _WITHOUT_TENSORFLOW:
        # TensorFlow's C++ start-up lines bypass its log level; import it with them hidden, as the CLI does.
        from cnnlab.runtime import import_tensorflow_quietly

        import_tensorflow_quietly()
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
