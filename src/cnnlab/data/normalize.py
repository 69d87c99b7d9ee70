"""The one normalization: raw 0..255 pixels to model inputs, fitted on training images only.

The same formula, ``x * scale + offset``, runs as NumPy (``Normalizer.apply``, for the low-level tutorial class
that takes normalized inputs) and as the first layer of every saved model (``Normalizer.layer``), so a saved
model takes raw pixels and no consumer re-implements it. ``normalizer.json`` in a run records the fitted values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnlab.errors import ConfigError

IMAGE_SHAPE = (28, 28, 1)
KINDS = ("standardize", "scale", "per_image")
UNFITTED = ("scale", "per_image")  # kinds with nothing fitted: the record is the kind alone
PER_IMAGE_EPSILON = 1.0  # in squared raw-pixel units: keeps a uniform image at 0, negligible for any digit
LAYER_NAME = "normalize"


@dataclass(frozen=True)
class Normalizer:
    """How raw uint8 pixels become model inputs.

    ``standardize``: ``(x - per-pixel mean) / one global std``, both fitted on training images only (the
    tutorial's recipe). ``scale``: ``x / 255``. ``per_image``: each image to mean 0 and standard deviation 1 on
    its own (nothing fitted), so adding a constant to every pixel, or multiplying them all by one, changes
    nothing the model sees: a photo's light level and ink strength cannot break it.

    Example:
        >>> norm = Normalizer.fit("scale", np.zeros((2, 784), np.uint8))
        >>> float(norm.apply(np.full((1, 784), 255, np.uint8)).max())
        1.0
    """

    kind: str
    mean: np.ndarray | None = None  # (784,) float32, standardize only
    std: float | None = None  # standardize only

    @classmethod
    def fit(cls, kind: str, x_train: np.ndarray) -> "Normalizer":
        """Fit on training images ``(N, 784)`` (or ``(N, 28, 28[, 1])``)."""
        if kind in UNFITTED:
            return cls(kind)
        if kind != "standardize":
            raise ConfigError(f"unknown normalization {kind!r}; use {' or '.join(KINDS)}")
        flat = np.asarray(x_train).reshape(len(x_train), -1)
        if flat.dtype == np.uint8:  # raw pixels: exact integer sums in small chunks, far faster than float64
            sums = flat.sum(axis=0, dtype=np.uint64)
            squares = sum(np.square(chunk, dtype=np.uint32).sum(axis=0, dtype=np.uint64)
                          for chunk in np.array_split(flat, max(1, len(flat) // 8192)))
            means = sums / len(flat)
            mean_all = sums.sum() / flat.size
            std = float(np.sqrt(max(float(squares.sum()) / flat.size - mean_all**2, 0.0)))
        else:
            std = float(flat.std(dtype=np.float64))
            means = flat.mean(axis=0, dtype=np.float64)
        return cls("standardize", means.astype(np.float32), std if std > 0 else 1.0)

    def scale_and_offset(self) -> tuple[float, np.ndarray]:
        """The formula as ``x * scale + offset``: a float32 ``scale`` and a ``(28, 28, 1)`` float32 ``offset``
        (``standardize`` and ``scale``; ``per_image`` is no fixed formula)."""
        if self.kind == "per_image":
            raise ConfigError("per_image normalization has no fixed scale and offset")
        if self.kind == "scale":
            return float(np.float32(1 / 255)), np.zeros(IMAGE_SHAPE, np.float32)
        scale = np.float32(1) / np.float32(self.std)
        offset = -np.asarray(self.mean, np.float32).reshape(IMAGE_SHAPE) * scale
        return float(scale), offset.astype(np.float32)

    def apply(self, images: np.ndarray) -> np.ndarray:
        """Raw 0..255 pixels, ``(N, 784)``, ``(N, 28, 28)`` or ``(N, 28, 28, 1)`` -> float32 ``(N, 28, 28, 1)``."""
        x = np.asarray(images, dtype=np.float32).reshape((-1, *IMAGE_SHAPE))
        if self.kind == "per_image":
            mean = x.mean(axis=(1, 2, 3), keepdims=True)
            variance = np.square(x - mean).mean(axis=(1, 2, 3), keepdims=True)
            return (x - mean) / np.sqrt(variance + np.float32(PER_IMAGE_EPSILON))
        scale, offset = self.scale_and_offset()
        return x * np.float32(scale) + offset

    def layer(self):
        """The same formula as a standard Keras layer (loadable without cnnlab), computing in float32:
        ``keras.layers.Rescaling`` with the one scale and the per-pixel offsets.

        The offsets are a NumPy array in the layer's config, so a traced graph holds them as constants (an
        exporter such as tf2onnx would take a captured tensor for an extra input). ``per_image`` is Keras's
        ``LayerNormalization`` over the whole image, without learned scale or offset.
        """
        import keras

        if self.kind == "per_image":
            return keras.layers.LayerNormalization(axis=[1, 2, 3], epsilon=PER_IMAGE_EPSILON, center=False,
                                                   scale=False, name=LAYER_NAME, dtype="float32")
        scale, offset = self.scale_and_offset()
        return keras.layers.Rescaling(scale, offset=offset, name=LAYER_NAME, dtype="float32")

    def to_dict(self) -> dict[str, Any]:
        if self.kind in UNFITTED:
            return {"kind": self.kind}
        return {"kind": self.kind, "std": self.std, "mean": [float(v) for v in self.mean]}

    @classmethod
    def from_dict(cls, values: Any) -> "Normalizer":
        """Rebuild a normalizer saved with ``to_dict``; ConfigError saying what is wrong for anything else.

        A std of 0 or below, NaN, infinite or not a number would make every input NaN or flip its sign, and the
        model would answer without an error: each is refused.
        """
        problem = _normalizer_problem(values)
        if problem:
            raise ConfigError(f"not a valid normalizer ({problem}; need kind 'scale' or 'per_image', or kind "
                              "'standardize' with 784 finite means and a finite std > 0)")
        if values["kind"] in UNFITTED:
            return cls(values["kind"])
        return cls("standardize", np.asarray(values["mean"], dtype=np.float32), float(values["std"]))


def _normalizer_problem(values: Any) -> str | None:
    """What is wrong with a normalizer record, or None."""
    if not isinstance(values, dict):
        return f"a JSON {type(values).__name__}, not an object"
    kind = values.get("kind")
    if kind not in KINDS:
        return f"kind {kind!r}" if "kind" in values else "no kind"
    if kind in UNFITTED:  # any other field is damage, not a setting to ignore
        extra = [key for key in values if key != "kind"]
        return f"{extra[0]} {values[extra[0]]!r}" if extra else None
    std, mean = values.get("std"), values.get("mean")
    if isinstance(std, bool) or not isinstance(std, (int, float)):
        return f"std {std!r} is not a number"
    if not (np.isfinite(std) and std > 0):
        return f"std {std!r}"
    if not isinstance(mean, list) or len(mean) != 784:
        return f"mean is not a list of 784 numbers (a {type(mean).__name__}" + (
            f" of {len(mean)})" if isinstance(mean, list) else ")")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in mean):
        return "mean holds a value that is not a finite number"
    if min(mean) < 0 or max(mean) > 255:  # means of raw 0..255 pixels
        return "mean holds a value outside 0..255"
    return None
