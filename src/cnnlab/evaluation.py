"""Evaluate a trained model: accuracy, loss, per-class precision/recall/F1 and the confusion matrix."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from cnnlab.data.prep import Normalizer, make_eval_dataset
from cnnlab.errors import ConfigError

SPLITS = ("test", "val")


def predict_logits(model, images: np.ndarray, normalizer: Normalizer, batch_size: int = 1000) -> np.ndarray:
    """Logits ``(N, classes)`` for raw uint8 images ``(N, 784)`` or ``(N, 28, 28[, 1])``."""
    if len(images) == 0:
        return np.zeros((0, model.output_shape[-1]), dtype=np.float32)
    dataset = make_eval_dataset(images, None, normalizer, batch_size)
    return np.asarray(model.predict(dataset, verbose=0), dtype=np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


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
    from cnnlab.data.sources import load_dataset

    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; use test or val")
    config = run.config
    data = load_dataset(config.dataset, data_dir)
    if split == "test":
        return data.x_test, data.y_test
    if config.val_split == 0:
        raise ConfigError(f"{run.path} was trained without a validation split (val-split 0); use --split test")
    from cnnlab.training.fit import training_split

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
    logits = predict_logits(run.load_model(), images, run.normalizer)
    return metrics_from_logits(logits, labels, run.class_names, split)
