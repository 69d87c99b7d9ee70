"""The one prediction path (raw pixels -> logits and probabilities) and the metrics of a trained model.

Every consumer — evaluate, report, predict, serve, the export checks — runs a model through :class:`Predictor`:
one traced TensorFlow function, fed 28x28 images with values 0..255 (the model normalizes them itself).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from cnnlab.data.normalize import IMAGE_SHAPE
from cnnlab.data.sources import load_dataset
from cnnlab.data.splits import training_split
from cnnlab.errors import ConfigError

SPLITS = ("test", "val")
BATCH = 1000  # images per forward pass: bounds memory, not results


class Predictor:
    """A model's forward pass, traced once: raw images ``(N, 784)``, ``(N, 28, 28)`` or ``(N, 28, 28, 1)``,
    uint8 or float with values 0..255, in; float32 logits or probabilities out.

    Example:
        >>> predictor = Predictor(run.load_model())  # doctest: +SKIP
        >>> predictor.probabilities(data.x_test[:2]).shape  # doctest: +SKIP
        (2, 10)
    """

    def __init__(self, model) -> None:
        import tensorflow as tf

        self.model = model
        self.num_classes = int(model.output_shape[-1])

        @tf.function(input_signature=[tf.TensorSpec([None, *IMAGE_SHAPE], tf.float32)], autograph=False)
        def forward(images):
            logits = tf.cast(model(images, training=False), tf.float32)
            return logits, tf.nn.softmax(logits, axis=-1)

        self._forward = forward

    def logits(self, images: np.ndarray) -> np.ndarray:
        return self._run(images)[0]

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        return self._run(images)[1]

    def _run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(images, dtype=np.float32).reshape((-1, *IMAGE_SHAPE))
        if not len(x):
            empty = np.zeros((0, self.num_classes), np.float32)
            return empty, empty
        parts = [self._forward(x[start:start + BATCH]) for start in range(0, len(x), BATCH)]
        return (np.concatenate([p[0].numpy() for p in parts]), np.concatenate([p[1].numpy() for p in parts]))


def metrics_from_logits(logits: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...] | list[str],
                        split: str = "test") -> dict[str, Any]:
    """Accuracy, mean cross-entropy, per-class report and confusion matrix (scikit-learn's definitions)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = np.asarray(labels, dtype=np.int64)
    classes = list(range(len(class_names)))
    predicted = logits.argmax(axis=1)
    log_probs = logits - logits.max(axis=1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(axis=1, keepdims=True))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=classes, zero_division=0)
    return {
        "split": split,
        "num_images": int(len(labels)),
        "accuracy": float((predicted == labels).mean()),
        "loss": float(-log_probs[np.arange(len(labels)), labels].mean()),
        "per_class": [
            {"class": c, "name": class_names[c], "precision": float(precision[c]), "recall": float(recall[c]),
             "f1": float(f1[c]), "support": int(support[c])}
            for c in classes
        ],
        "confusion_matrix": confusion_matrix(labels, predicted, labels=classes).tolist(),
    }


def split_images(run, split: str, data_dir: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The raw images and labels of a run's ``test`` or ``val`` split, rebuilt from its config and seed."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; use test or val")
    config = run.config
    data = load_dataset(config.dataset, data_dir)
    if split == "test":
        return data.x_test, data.y_test
    if config.val_split == 0:
        raise ConfigError(f"{run.path} was trained without a validation split (val-split 0); use --split test")
    _, _, x_val, y_val = training_split(config, data)
    return x_val, y_val


def evaluate(run, split: str = "test", data_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Evaluate a run's final model on its ``test`` or ``val`` split; returns the metrics (writes nothing).

    Example:
        >>> metrics = evaluate(Run.load("runs/demo"))  # doctest: +SKIP
        >>> round(metrics["accuracy"], 4)
        0.9931
    """
    images, labels = split_images(run, split, data_dir)
    logits = Predictor(run.load_model()).logits(images)
    return metrics_from_logits(logits, labels, run.class_names, split)
