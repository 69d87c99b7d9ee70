"""Predict files and folders of images with a trained run.

The run tells everything: the model (which takes raw pixels), the class names and the dataset, which picks the
preprocessing style (``digits`` for MNIST, ``fashion`` for Fashion-MNIST). A file whose name starts with a
digit carries its true label (``7_anything.png``, the tutorials' convention).

Example:
    >>> result = predict_paths(Run.load("runs/demo"), ["photos/"])  # doctest: +SKIP
    >>> result["accuracy"], result["predictions"][0]["label"]
    (1.0, 7)
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from cnnlab.errors import DataError
from cnnlab.evaluation import Predictor
from cnnlab.images.explain import explain_image
from cnnlab.images.preprocess import ImageError, PreparedImage, preprocess_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pnm")
LOW_CONFIDENCE = 0.6  # below this, a prediction is flagged as unsure
_LABEL = re.compile(r"^(\d)(?:\D|$)")  # one leading digit, then something that is not a digit


def style_for(run) -> str:
    """The preprocessing style that matches how the run's training images were made."""
    return "fashion" if run.config.dataset.startswith("fashion") else "digits"


def collect_images(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Image files named on the command line, and those inside named folders (recursively, sorted)."""
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*")
                                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")))
        elif path.is_file():
            found.append(path)
        else:
            raise DataError(f"{path}: no such file or folder; pass image files or folders of images")
    if not found:
        raise DataError("no images found; pass PNG, JPEG, BMP or GIF files, or folders that hold them")
    return found


def true_label(path: str | os.PathLike, num_classes: int) -> int | None:
    """The label a file name gives (``7_anything.png`` -> 7), or None."""
    match = _LABEL.match(Path(path).name)
    if not match or int(match.group(1)) >= num_classes:
        return None
    return int(match.group(1))


def predict_paths(run, paths: Iterable[str | os.PathLike], top: int = 3, model=None,
                  explain: bool = False) -> dict[str, Any]:
    """Predict every image under ``paths``.

    Returns ``{"predictions": [...], "accuracy": float | None, "previews": {file: PIL image}}`` (and, with
    ``explain``, ``"explanations": {file: PIL image}``: what preprocessing removed, see ``explain_image``); each
    prediction has ``file, label`` (class index: the digit for MNIST), ``class_name, confidence, top,
    true_label`` (index or None), ``true_class_name, low_confidence``, and ``error`` with ``label`` None for
    an image that could not be used (unreadable or blank). ``accuracy`` is over the labelled images, refused
    ones counting as wrong.
    """
    files = collect_images(paths)
    predictor = Predictor(model if model is not None else run.load_model())
    names, style = run.class_names, style_for(run)
    top = max(1, min(top, len(names)))
    prepared: dict[int, PreparedImage] = {}
    errors: dict[int, str] = {}
    for i, path in enumerate(files):
        try:
            prepared[i] = preprocess_image(path, style=style)
        except ImageError as err:  # named by its file, as the error of a single upload need not be
            errors[i] = str(err) if str(path) in str(err) else f"{path}: {err}"
        except MemoryError:  # one huge image must not stop the others
            errors[i] = f"{path}: the image needs more memory to process than there is; scale it down"
    probabilities = {}
    if prepared:
        order = sorted(prepared)
        batch = np.stack([prepared[i].model_input for i in order])
        probabilities = dict(zip(order, predictor.probabilities(batch)))
    predictions = [_record(path, probabilities.get(i), errors.get(i), names, top) for i, path in enumerate(files)]
    known = [p for p in predictions if p["true_label"] is not None]  # a refused image counts as wrong
    accuracy = float(np.mean([p["label"] == p["true_label"] for p in known])) if known else None
    previews = {str(files[i]): prepared[i].preview for i in prepared}
    result = {"predictions": predictions, "accuracy": accuracy, "previews": previews}
    if explain:
        result["explanations"] = {str(files[i]): explain_image(prepared[i]) for i in prepared}
    return result


def _record(path: Path, probs: np.ndarray | None, error: str | None, names, top: int) -> dict[str, Any]:
    """One image's result; labels are class indices (the digit itself for MNIST), names alongside."""
    truth = true_label(path, len(names))
    record: dict[str, Any] = {"file": str(path), "label": None, "class_name": None, "confidence": None,
                              "top": [], "true_label": truth,
                              "true_class_name": None if truth is None else names[truth], "low_confidence": False}
    if probs is None:
        record["error"] = error
        return record
    ranked = [int(k) for k in np.argsort(-probs)[:top]]
    record.update(label=ranked[0], class_name=names[ranked[0]], confidence=float(probs[ranked[0]]),
                  top=[{"label": k, "class_name": names[k], "probability": float(probs[k])} for k in ranked],
                  low_confidence=bool(probs[ranked[0]] < LOW_CONFIDENCE))
    return record
