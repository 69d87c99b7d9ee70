"""Which images a run sees: the ``--limit`` subset, the validation holdout and cross-validation folds.

This is the one place that decides it; training, evaluation (``--split val``), reports, exports (int8
calibration) and search all ask here, so they always agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from cnnlab.errors import ConfigError

if TYPE_CHECKING:
    from cnnlab.config import TrainConfig
    from cnnlab.data.sources import Dataset

VAL_MODES = ("last", "random")


def split_validation(
    x: np.ndarray, y: np.ndarray, val_split: int, mode: str = "last", seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hold out ``val_split`` images: the last ones (the tutorial's way) or a seeded random choice.

    Returns ``(x_train, y_train, x_val, y_val)``; with ``val_split == 0`` the validation arrays are empty.

    Example:
        >>> x_train, _, x_val, _ = split_validation(np.arange(10), np.arange(10), 3)
        >>> x_train.tolist(), x_val.tolist()
        ([0, 1, 2, 3, 4, 5, 6], [7, 8, 9])
    """
    n = len(x)
    if not 0 <= val_split < n:
        raise ConfigError(f"val-split {val_split} must be at least 0 and less than the {n:,} training images")
    if mode == "last":
        cut = n - val_split
        return x[:cut], y[:cut], x[cut:], y[cut:]
    if mode == "random":
        order = np.random.default_rng(seed).permutation(n)
        val_idx, train_idx = np.sort(order[:val_split]), np.sort(order[val_split:])
        return x[train_idx], y[train_idx], x[val_idx], y[val_idx]
    raise ConfigError(f"unknown validation mode {mode!r}; use {' or '.join(VAL_MODES)}")


def limited_training_images(config: "TrainConfig", data: "Dataset") -> tuple[np.ndarray, np.ndarray]:
    """The training images a config uses: the first ``limit`` of them, or all."""
    if config.limit is None:
        return data.x_train, data.y_train
    return data.x_train[:config.limit], data.y_train[:config.limit]


def training_split(config: "TrainConfig", data: "Dataset") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_val, y_val)`` exactly as a run of ``config`` splits them (limit, then holdout)."""
    x, y = limited_training_images(config, data)
    return split_validation(x, y, config.val_split, config.val_mode, config.seed)


def fold_indices(labels: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds (each keeps the class proportions): ``[(train_index, held_out_index), ...]``."""
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(labels)), labels))
