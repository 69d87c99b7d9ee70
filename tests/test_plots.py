"""Plot functions: each returns a labelled Figure, writes nothing, and shows what its data says."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from cnnlab.data.catalog import FASHION_MNIST, MNIST
from cnnlab.viz import plots

FASHION = list(FASHION_MNIST.class_names)


def _history(epochs: int = 6) -> pd.DataFrame:
    e = np.arange(1, epochs + 1)
    return pd.DataFrame({"epoch": e, "loss": 1 / e, "accuracy": 1 - 0.5 / e, "val_loss": 0.5 + 0.02 * (e - 3) ** 2,
                         "val_accuracy": 0.8 + 0.01 * e, "learning_rate": 1e-3, "seconds": 1.0,
                         "images_per_second": 1000.0})


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _all_text(fig: Figure) -> str:
    texts = [t.get_text() for t in fig.findobj(lambda o: hasattr(o, "get_text"))]
    return "\n".join(t for t in texts if t)


def test_every_figure_renders_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 784), dtype=np.uint8)
    labels = np.arange(20) % 10
    figures = [
        plots.sample_grid_figure(images, labels, FASHION, per_class=2),
        plots.learning_curves_figure(_history()),
        plots.overfitting_figure(_history()),
        plots.compare_curves_figure({"a": _history(), "b": _history(4)}),
        plots.confusion_matrix_figure(np.eye(10, dtype=int) * 7, FASHION),
        plots.predictions_figure(images[:10], labels[:10], labels[::-1][:10], np.full(10, 0.9), FASHION, "t"),
        plots.misclassified_figure(images[:3], labels[:3], (labels[:3] + 1) % 10, np.full(3, 0.7), FASHION, 3),
        plots.filters_figure(rng.normal(size=(3, 3, 4, 8)), "conv_2", 1),
        plots.layer_outputs_figure(images[0], rng.random((14, 14, 6)), "conv_1", "test image 0"),
        plots.reliability_figure(rng.random(50), rng.random(50) > 0.5),
    ]
    for fig in figures:
        assert isinstance(fig, Figure)
        assert _png(fig).startswith(b"\x89PNG")
    assert list(tmp_path.iterdir()) == []


def test_sample_grid_labels_rows_with_class_names(mnist):
    fig = plots.sample_grid_figure(mnist.x_train[:500], mnist.y_train[:500], FASHION, per_class=5)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == FASHION  # T-shirt/top ... Ankle boot, one row each
    # The first image of class 3 is the first tile of row 3 (rows are 28 px + 2 px gap).
    mosaic = fig.axes[0].images[0].get_array()
    first_three = mnist.x_train[:500][mnist.y_train[:500] == 3][0].reshape(28, 28)
    np.testing.assert_array_equal(np.asarray(mosaic[90:118, 0:28]), first_three)


def test_learning_curves_use_twin_axes_with_labels():
    fig = plots.learning_curves_figure(_history())
    left, right = fig.axes
    assert left.get_xlabel() == "epoch"
    assert "loss" in left.get_ylabel() and "accuracy" in right.get_ylabel()
    np.testing.assert_allclose(right.lines[0].get_ydata(), 100 * _history()["val_accuracy"])


def test_overfitting_figure_plots_training_against_validation():
    fig = plots.overfitting_figure(_history())
    loss_axes, accuracy_axes = fig.axes
    train_line, val_line = loss_axes.lines
    np.testing.assert_allclose(train_line.get_ydata(), _history()["loss"])
    np.testing.assert_allclose(val_line.get_ydata(), _history()["val_loss"])
    assert accuracy_axes.get_ylabel() == "accuracy (%)"


def test_compare_marks_each_runs_lowest_validation_loss():
    fig = plots.compare_curves_figure({"a": _history(6)})
    marker = fig.axes[0].lines[-1]  # drawn after the curves
    assert marker.get_xdata()[0] == 3  # val_loss = 0.5 + 0.02 (e - 3)^2 is lowest at epoch 3
    assert marker.get_ydata()[0] == pytest.approx(0.5)


def test_confusion_matrix_shows_every_count_and_class_name():
    matrix = np.arange(100).reshape(10, 10)
    fig = plots.confusion_matrix_figure(matrix, FASHION)
    ax = fig.axes[0]
    counts = sorted(int(t.get_text()) for t in ax.texts)
    assert counts == list(range(100))
    assert [t.get_text() for t in ax.get_xticklabels()] == FASHION
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")


def test_mistakes_are_captioned_pred_was_true_with_confidence():
    images = np.zeros((2, 784), dtype=np.uint8)
    fig = plots.misclassified_figure(images, np.array([9, 0]), np.array([7, 6]), np.array([0.987, 0.51]),
                                     FASHION, total_errors=2)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[0] == "Sneaker\n(was Ankle boot)\n98.7 %"
    assert titles[1] == "Shirt\n(was T-shirt/top)\n51.0 %"


def test_filters_use_a_diverging_map_centred_on_zero():
    kernel = np.zeros((5, 5, 2, 4))
    kernel[0, 0, 1, 2] = -3.0
    kernel[1, 1, 0, 0] = 2.0
    fig = plots.filters_figure(kernel, "conv_1", input_channel=0)
    image = fig.axes[0].images[0]
    assert image.get_cmap().name.startswith("seismic")
    assert image.norm.vmin == -3.0 and image.norm.vmax == 3.0  # symmetric over the whole layer
    assert "input channel 0 of 2" in fig.axes[0].get_title()
    mosaic = np.asarray(image.get_array())
    assert mosaic[1, 1] == 2.0  # filter 0 of input channel 0 is the first tile


def test_layer_outputs_scale_each_channel_to_its_maximum():
    activations = np.zeros((4, 4, 3))
    activations[..., 0] = 10.0
    activations[0, 0, 1] = 0.5
    fig = plots.layer_outputs_figure(np.zeros(784), activations, "conv_1", "x")
    mosaic = np.asarray(fig.axes[1].images[0].get_array())
    assert mosaic[0, 0] == 1.0 and mosaic[0, 5] == 1.0  # both peaks become 1
    assert np.nanmax(mosaic[:, 10:14]) == 0.0  # an all-zero channel stays zero


def test_calibration_bins_match_a_hand_computation():
    confidence = np.array([0.15, 0.35, 0.38, 0.92, 0.97, 1.0])
    correct = np.array([0, 1, 0, 1, 1, 0])
    table = plots.calibration_bins(confidence, correct, bins=10)
    assert table["count"].tolist() == [0, 1, 0, 2, 0, 0, 0, 0, 0, 3]
    assert table["accuracy"][3] == pytest.approx(0.5)
    assert table["confidence"][9] == pytest.approx((0.92 + 0.97 + 1.0) / 3)
    expected = (1 * abs(0 - 0.15) + 2 * abs(0.5 - 0.365) + 3 * abs(2 / 3 - 2.89 / 3)) / 6
    assert table["ece"] == pytest.approx(expected)
    assert np.isnan(table["accuracy"][0])


def test_perfectly_calibrated_predictions_have_zero_error():
    correct = np.array([1] * 75 + [0] * 25)  # 75 % right at 75 % confidence
    assert plots.calibration_bins(np.full(100, 0.75), correct)["ece"] == pytest.approx(0.0)


def test_digit_class_names_fit_without_rotation():
    fig = plots.confusion_matrix_figure(np.eye(10, dtype=int), list(MNIST.class_names))
    assert all(t.get_rotation() == 0 for t in fig.axes[0].get_xticklabels())
