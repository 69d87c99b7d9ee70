"""One function per figure. Each takes plain arrays (or a history DataFrame) and returns a matplotlib
``Figure``; nothing here reads a run or writes a file — ``cnnlab.viz.report`` does that.

Figures are built with ``matplotlib.figure.Figure`` directly rather than ``pyplot``: no global state, no
GUI backend, and nothing to close (the Agg canvas renders them when saved).

Example:
    >>> fig = confusion_matrix_figure([[5, 1], [0, 4]], ["cat", "dog"])
    >>> fig.axes[0].get_xlabel()
    'predicted class'
"""

from __future__ import annotations

import math
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # never open a window, even when pyplot is imported elsewhere

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

TRAIN_COLOR, VAL_COLOR = "#1f77b4", "#d62728"
GAP_COLOR = "#cccccc"  # the lines between tiles of a mosaic


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)  # attach the Agg canvas so savefig never looks for a GUI backend
    return fig


def _mosaic(tiles: np.ndarray, columns: int, gap: int = 1) -> np.ndarray:
    """Arrange ``(n, h, w)`` tiles in rows of ``columns``, separated by ``gap`` NaN pixels (drawn as grey)."""
    n, h, w = tiles.shape
    rows = max(1, math.ceil(n / columns))
    out = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap), np.nan, dtype=np.float64)
    for i in range(n):
        r, c = divmod(i, columns)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tiles[i]
    return out


def _cmap(name: str):
    return matplotlib.colormaps[name].with_extremes(bad=GAP_COLOR)


def _as_images(images: np.ndarray) -> np.ndarray:
    return np.asarray(images).reshape(-1, 28, 28)


# -------------------------------------------------------------------- data


def sample_grid_figure(images: np.ndarray, labels: np.ndarray, class_names: Sequence[str],
                       per_class: int = 5) -> Figure:
    """The first ``per_class`` images of every class, one row a class, class names on the left."""
    images, labels = _as_images(images), np.asarray(labels)
    tiles = np.full((len(class_names) * per_class, 28, 28), np.nan)
    for c in range(len(class_names)):
        found = images[labels == c][:per_class]
        tiles[c * per_class:c * per_class + len(found)] = found
    mosaic = _mosaic(tiles, per_class, gap=2)
    fig = _figure(0.8 * per_class + 1.3, 0.8 * len(class_names) + 0.5)
    ax = fig.add_subplot()
    ax.imshow(mosaic, cmap=_cmap("gray_r"), vmin=0, vmax=255, interpolation="nearest")
    ax.set_yticks([c * 30 + 13.5 for c in range(len(class_names))], list(class_names))
    ax.set_xticks([])
    ax.tick_params(length=0)
    ax.set_title(f"Training images, {per_class} per class")
    return fig


# -------------------------------------------------------------------- learning curves


def _epochs(history: pd.DataFrame) -> np.ndarray:
    return history["epoch"].to_numpy()


def learning_curves_figure(history: pd.DataFrame) -> Figure:
    """Training loss (left axis) and validation accuracy (right axis) per epoch, on twin axes."""
    fig = _figure(7.5, 4.2)
    ax = fig.add_subplot()
    epochs = _epochs(history)
    lines = ax.plot(epochs, history["loss"], "o-", color=TRAIN_COLOR, ms=3, label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (cross-entropy)", color=TRAIN_COLOR)
    ax.tick_params(axis="y", labelcolor=TRAIN_COLOR)
    right = ax.twinx()
    if history["val_accuracy"].notna().any():
        lines += right.plot(epochs, 100 * history["val_accuracy"], "s-", color=VAL_COLOR, ms=3,
                            label="validation accuracy")
    right.set_ylabel("validation accuracy (%)", color=VAL_COLOR)
    right.tick_params(axis="y", labelcolor=VAL_COLOR)
    ax.legend(lines, [line.get_label() for line in lines], loc="center right")
    ax.set_title("Learning curves")
    _integer_epochs(ax, epochs)
    return fig


def overfitting_figure(history: pd.DataFrame) -> Figure:
    """Training against validation loss and accuracy: where the curves part, the model starts to overfit."""
    fig = _figure(10, 4)
    epochs = _epochs(history)
    for ax, column, label in zip(fig.subplots(1, 2), ("loss", "accuracy"), ("loss (cross-entropy)", "accuracy (%)")):
        scale = 100 if column == "accuracy" else 1
        ax.plot(epochs, scale * history[column], "o-", color=TRAIN_COLOR, ms=3, label="training")
        if history[f"val_{column}"].notna().any():
            ax.plot(epochs, scale * history[f"val_{column}"], "s-", color=VAL_COLOR, ms=3, label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(f"Training vs validation {column}")
        ax.grid(alpha=0.3)
        ax.legend()
        _integer_epochs(ax, epochs)
    return fig


def compare_curves_figure(histories: dict[str, pd.DataFrame]) -> Figure:
    """Several runs' curves overlaid: one colour a run, solid = training, dashed = validation.

    Panels: loss (each run's lowest validation loss circled), accuracy, and the generalisation gap
    (validation minus training loss). Overfitting — validation loss rising after its minimum while training
    loss keeps falling, so the gap widens — shows in one picture.
    """
    fig = _figure(14, 4.6)
    axes = fig.subplots(1, 3)
    colors = matplotlib.colormaps["tab10"].colors
    for i, (name, history) in enumerate(histories.items()):
        color, epochs = colors[i % len(colors)], _epochs(history)
        for ax, column, scale in ((axes[0], "loss", 1), (axes[1], "accuracy", 100)):
            ax.plot(epochs, scale * history[column], "-", color=color, lw=1.8, label=f"{name} training")
            if history[f"val_{column}"].notna().any():
                ax.plot(epochs, scale * history[f"val_{column}"], "--", color=color, lw=1.8,
                        label=f"{name} validation")
        if history["val_loss"].notna().any():
            best = history["val_loss"].idxmin()
            axes[0].plot(history["epoch"][best], history["val_loss"][best], "o", color=color, ms=8, mfc="none")
            axes[2].plot(epochs, history["val_loss"] - history["loss"], "-", color=color, lw=1.8, label=name)
    axes[2].axhline(0, color="black", lw=0.8)
    for ax, label in zip(axes, ("loss (cross-entropy)", "accuracy (%)", "validation loss − training loss")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        _integer_epochs(ax, _epochs(next(iter(histories.values()))))
    axes[0].set_title("Loss (circle: lowest validation loss)")
    axes[1].set_title("Accuracy")
    axes[2].set_title("Generalisation gap")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(4, len(labels)), fontsize=9)
    return fig


def _integer_epochs(ax, epochs: np.ndarray) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(epochs) == 1:
        ax.set_xlim(epochs[0] - 1, epochs[0] + 1)


# -------------------------------------------------------------------- results


def confusion_matrix_figure(matrix: Sequence[Sequence[int]], class_names: Sequence[str]) -> Figure:
    """The confusion matrix as a heat map with the count in every cell (rows: true, columns: predicted)."""
    matrix = np.asarray(matrix)
    n = len(class_names)
    fig = _figure(1.4 + 0.58 * n, 1.3 + 0.52 * n)
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues", norm=matplotlib.colors.PowerNorm(0.4, vmin=0, vmax=max(matrix.max(), 1)))
    threshold = 0.35 * matrix.max()
    for (row, col), count in np.ndenumerate(matrix):
        ax.text(col, row, f"{count:d}", ha="center", va="center", fontsize=8,
                color="white" if count > threshold else "black")
    slanted = _long(class_names)
    ax.set_xticks(range(n), list(class_names), rotation=45 if slanted else 0, ha="right" if slanted else "center")
    ax.set_yticks(range(n), list(class_names))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"Confusion matrix ({matrix.sum():,} test images)")
    fig.colorbar(image, ax=ax, shrink=0.8, label="images")
    return fig


def _long(names: Sequence[str]) -> bool:
    return max(len(n) for n in names) > 2


def predictions_figure(images: np.ndarray, labels: np.ndarray, predicted: np.ndarray, confidence: np.ndarray,
                       class_names: Sequence[str], title: str, columns: int = 10) -> Figure:
    """Images captioned with the model's prediction and confidence; wrong ones in red as "pred (was true)"."""
    images = _as_images(images)
    n = len(images)
    rows = max(1, math.ceil(n / columns))
    fig = _figure(min(1.45 * columns, 11.5), 1.95 * rows + 0.4)  # fits the page at 100 dpi
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i], cmap="gray_r", vmin=0, vmax=255)
        pred, true = class_names[predicted[i]], class_names[labels[i]]
        right = predicted[i] == labels[i]
        sure = _confidence_text(confidence[i])
        caption = f"{pred}\n{sure}" if right else f"{pred}\n(was {true})\n{sure}"
        ax.set_title(caption, fontsize=8.5, color="#1a7f37" if right else VAL_COLOR)
    fig.suptitle(title)
    return fig


def _confidence_text(p: float) -> str:
    # One decimal rounds most confident mistakes up to "100.0 %"; say how close to 1 they really are.
    return f"{100 * p:.1f} %" if p < 0.999 else (f"{100 * p:.2f} %" if p < 0.9999 else "> 99.99 %")


def misclassified_figure(images: np.ndarray, labels: np.ndarray, predicted: np.ndarray, confidence: np.ndarray,
                         class_names: Sequence[str], total_errors: int, columns: int = 8) -> Figure:
    """A gallery of mistakes, each "pred (was true)" with the model's confidence, in the order given."""
    if len(images) == 0:
        fig = _figure(6, 1)
        fig.text(0.5, 0.5, "No misclassified test images.", ha="center", va="center")
        return fig
    return predictions_figure(images, labels, predicted, confidence, class_names, columns=columns,
                              title=f"Misclassified test images, most confident first "
                                    f"({len(images)} of {total_errors:,})")


# -------------------------------------------------------------------- what the network learned


def filters_figure(kernel: np.ndarray, layer_name: str, input_channel: int = 0) -> Figure:
    """A Conv2D layer's filters for one input channel: ``kernel`` is ``(kh, kw, in, out)``.

    The diverging map is centred on 0 (white) with limits ``±max|w|`` over the whole layer, so positive
    weights are red, negative blue, and channels of one layer share one scale.
    """
    kernel = np.asarray(kernel)
    kh, kw, channels_in, channels_out = kernel.shape
    limit = float(np.abs(kernel).max()) or 1.0
    tiles = np.moveaxis(kernel[:, :, input_channel, :], -1, 0)  # (out, kh, kw)
    columns = math.ceil(math.sqrt(channels_out))
    mosaic = _mosaic(tiles, columns)
    tile_inches = 0.55 * max(kh, 3) / 3
    rows = math.ceil(channels_out / columns)
    fig = _figure(min(8.0, 1.2 + tile_inches * columns), min(8.0, 0.8 + tile_inches * rows))
    ax = fig.add_subplot()
    image = ax.imshow(mosaic, cmap=_cmap("seismic"), vmin=-limit, vmax=limit, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{layer_name}: {channels_out} filters {kh}×{kw}, input channel {input_channel} of {channels_in}",
                 fontsize=10)
    fig.colorbar(image, ax=ax, shrink=0.8, label="weight")
    return fig


def layer_outputs_figure(image: np.ndarray, activations: np.ndarray, layer_name: str, caption: str) -> Figure:
    """What every channel of one layer makes of one image: ``activations`` is ``(h, w, channels)``.

    Each channel is scaled to its own maximum (a channel that is zero everywhere stays white).
    """
    activations = np.asarray(activations, dtype=np.float64)
    h, w, channels = activations.shape
    peak = activations.reshape(-1, channels).max(axis=0)
    tiles = np.moveaxis(activations / np.where(peak > 0, peak, 1.0), -1, 0)
    columns = math.ceil(math.sqrt(channels * 1.5))
    mosaic = _mosaic(tiles, columns)
    fig = _figure(10, 0.8 + 8.5 * mosaic.shape[0] / mosaic.shape[1] * 0.8)
    left, right = fig.subplots(1, 2, width_ratios=[1, 4])
    left.imshow(np.asarray(image).reshape(28, 28), cmap="gray_r", vmin=0, vmax=255)
    left.set_title(caption, fontsize=9)
    left.axis("off")
    right.imshow(mosaic, cmap=_cmap("gray_r"), vmin=0, vmax=1, interpolation="nearest")
    right.set_xticks([])
    right.set_yticks([])
    right.set_title(f"{layer_name}: {channels} channels, {h}×{w} (each scaled to its own maximum)", fontsize=10)
    return fig


# -------------------------------------------------------------------- calibration


def calibration_bins(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> dict[str, np.ndarray | float]:
    """Reliability table: per equal-width confidence bin, the count, mean confidence and accuracy.

    Also the expected calibration error ``ECE = sum_b (n_b / N) * |accuracy_b - confidence_b|``.
    Empty bins have NaN accuracy and confidence.

    Example:
        >>> table = calibration_bins(np.array([0.95, 0.95, 0.55]), np.array([1, 0, 1]), bins=10)
        >>> table["count"][9], table["accuracy"][9], round(table["ece"], 4)
        (2, 0.5, 0.45)
    """
    confidence, correct = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)  # (lo, hi]; 0 in bin 0
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.bincount(index, weights=correct, minlength=bins) / count
        mean_conf = np.bincount(index, weights=confidence, minlength=bins) / count
    filled = count > 0
    ece = float(np.sum(count[filled] / max(len(confidence), 1) * np.abs(accuracy[filled] - mean_conf[filled])))
    return {"edges": edges, "count": count, "accuracy": accuracy, "confidence": mean_conf, "ece": ece}


def reliability_figure(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> Figure:
    """Confidence (the top softmax probability) against accuracy, with how many images fall in each bin."""
    table = calibration_bins(confidence, correct, bins)
    edges, width = table["edges"], 1.0 / bins
    centres = edges[:-1] + width / 2
    fig = _figure(6.5, 6.2)
    top, bottom = fig.subplots(2, 1, height_ratios=[3, 1.2], sharex=True)
    top.bar(centres, np.nan_to_num(table["accuracy"]), width=width * 0.92, color=TRAIN_COLOR, label="accuracy")
    top.plot([0, 1], [0, 1], "--", color="black", lw=1, label="perfect calibration")
    top.plot(table["confidence"], table["accuracy"], "o", color=VAL_COLOR, ms=4,
             label="mean confidence and accuracy of a bin")
    top.set_ylabel("accuracy")
    top.set_ylim(0, 1)
    top.legend(loc="upper left", fontsize=9)
    top.set_title(f"Calibration: expected calibration error {100 * table['ece']:.2f} %")
    bottom.bar(centres, table["count"], width=width * 0.92, color="#888888")
    bottom.set_yscale("log")
    bottom.set_xlabel("confidence (top softmax probability)")
    bottom.set_ylabel("images")
    bottom.set_xlim(0, 1)
    return fig
