"""``write_report(run)``: every figure of a run as PNG files plus one self-contained ``report.html``.

The numbers come from the run's ``metrics.json`` (the file ``cnnlab evaluate`` writes; written here first
when it is missing), so the report and ``cnnlab evaluate --json`` always agree. The same figures go to
TensorBoard as image summaries under ``RUN/logs/report``.

Example:
    >>> result = write_report(Run.load("runs/demo"))  # doctest: +SKIP
    >>> result.html
    PosixPath('runs/demo/report/report.html')
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab.data.normalize import IMAGE_SHAPE
from cnnlab.data.sources import load_dataset
from cnnlab.data.splits import limited_training_images
from cnnlab.errors import ConfigError
from cnnlab.evaluation import Predictor, evaluate
from cnnlab.fileio import atomic_write_bytes
from cnnlab.viz import plots

PREDICTION_COUNT = 10  # the first N test images shown with their predictions
MISTAKE_COUNT = 32  # misclassified images in the gallery
SAMPLES_PER_CLASS = 5


@dataclass
class Figures:
    """The report's figures in page order: file stem -> (section title, Figure, caption)."""

    items: dict[str, tuple[str, Any, str]] = field(default_factory=dict)

    def add(self, stem: str, section: str, figure, caption: str = "") -> None:
        self.items[stem] = (section, figure, caption)


@dataclass
class ReportResult:
    """What ``write_report`` wrote, and the numbers it showed."""

    html: Path
    pngs: list[Path]
    metrics: dict[str, Any]
    summary: dict[str, Any]
    seconds: float


# -------------------------------------------------------------------- public


def write_report(run, out_dir: str | os.PathLike | None = None, image_index: int = 0,
                 data_dir: str | os.PathLike | None = None, tensorboard: bool = True) -> ReportResult:
    """Write ``report.html`` and one PNG per figure into ``out_dir`` (default ``RUN/report``).

    Args:
        run: the ``Run`` to report on.
        out_dir: where the page and the PNGs go; TensorBoard images always go to ``RUN/logs/report``.
        image_index: the test image whose convolution-layer outputs are shown.
        data_dir: a folder with the four IDX files, as for ``cnnlab evaluate``.
        tensorboard: also write the figures as TensorBoard image summaries.

    Returns:
        A ``ReportResult``: the HTML path, the PNG paths, the test metrics shown and the seconds taken.
    """
    start = time.perf_counter()
    data = load_dataset(run.config.dataset, data_dir)
    if not 0 <= image_index < len(data.x_test):
        raise ConfigError(f"--image-index {image_index} is out of range: use 0 to {len(data.x_test) - 1}")
    metrics = run.metrics
    if metrics is None or metrics.get("split") != "test":
        metrics = evaluate(run, "test", data_dir)  # the same call as 'cnnlab evaluate'
        run.write_metrics(metrics)
    model = run.load_model()
    probabilities = Predictor(model).probabilities(data.x_test)
    figures = build_figures(run, data, model, probabilities, metrics, image_index)

    out = Path(out_dir) if out_dir is not None else run.path / "report"
    out.mkdir(parents=True, exist_ok=True)
    pngs = {stem: png_bytes(fig) for stem, (_, fig, _) in figures.items.items()}
    paths = [out / f"{stem}.png" for stem in pngs]
    for path, png in zip(paths, pngs.values()):
        atomic_write_bytes(path, png)
    summary = run.summary() | {"test_accuracy": metrics["accuracy"], "test_loss": metrics["loss"]}
    page = render_html(run, summary, metrics, figures, pngs, image_index)
    html_path = out / "report.html"
    atomic_write_bytes(html_path, page.encode("utf-8"))
    if tensorboard:
        write_tensorboard_images(run, pngs, data.x_test, probabilities, data.y_test)
    return ReportResult(html_path, paths, metrics, summary, time.perf_counter() - start)


def misclassified_order(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Indices of the wrongly predicted images, most confident mistake first (ties: lower index first).

    Example:
        >>> probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
        >>> misclassified_order(np.array([1, 1, 1, 0]), probs).tolist()
        [0, 3, 2]
    """
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != np.asarray(labels))
    return wrong[np.argsort(-probabilities[wrong].max(axis=1), kind="stable")]


def build_figures(run, data, model, probabilities: np.ndarray, metrics: dict[str, Any],
                  image_index: int) -> Figures:
    """Every figure of the report, computed from the run, its data and the test-set probabilities."""
    names = list(run.class_names)
    history = run.history
    predicted, confidence = probabilities.argmax(axis=1), probabilities.max(axis=1)
    y_test = data.y_test
    figures = Figures()
    x_train, y_train = limited_training_images(run.config, data)  # images the run was actually trained on
    figures.add("samples", "Summary", plots.sample_grid_figure(x_train, y_train, names, SAMPLES_PER_CLASS))
    if len(history):
        figures.add("learning_curves", "Learning curves", plots.learning_curves_figure(history))
        figures.add("overfitting", "Learning curves", plots.overfitting_figure(history),
                    "Where validation loss turns up while training loss keeps falling, the model overfits.")
    figures.add("confusion_matrix", "Test results", plots.confusion_matrix_figure(metrics["confusion_matrix"], names))
    first = np.arange(min(PREDICTION_COUNT, len(y_test)))
    figures.add("predictions", "Test results", plots.predictions_figure(
        data.x_test[first], y_test[first], predicted[first], confidence[first], names,
        title=f"The first {len(first)} test images: prediction and confidence"))
    wrong = misclassified_order(y_test, probabilities)
    shown = wrong[:MISTAKE_COUNT]
    figures.add("misclassified", "Test results", plots.misclassified_figure(
        data.x_test[shown], y_test[shown], predicted[shown], confidence[shown], names, len(wrong)))
    _add_convolution_figures(figures, model, data.x_test[image_index], y_test[image_index], names, image_index)
    figures.add("calibration", "Calibration", plots.reliability_figure(confidence, predicted == y_test),
                "Bars: accuracy of the test images whose top probability falls in the bin. "
                "Bars below the diagonal mean the model is over-confident.")
    return figures


# -------------------------------------------------------------------- figures from the model


def conv_layers(model) -> list:
    import keras

    return [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def conv_activations(model, image: np.ndarray) -> list[np.ndarray]:
    """The output ``(h, w, channels)`` of every Conv2D layer for one raw uint8 image (the model normalizes it)."""
    import keras

    layers = conv_layers(model)
    if not layers:
        return []
    probe = keras.Model(inputs=model.inputs, outputs=[layer.output for layer in layers])
    pixels = np.asarray(image, np.float32).reshape((1, *IMAGE_SHAPE))
    outputs = probe([pixels], training=False)  # a list, as model.inputs is
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [np.asarray(keras.ops.convert_to_numpy(out))[0] for out in outputs]


def _add_convolution_figures(figures: Figures, model, image: np.ndarray, label: int, names: list[str],
                             image_index: int) -> None:
    layers = conv_layers(model)
    for layer in layers:
        kernel = np.asarray(layer.get_weights()[0])
        figures.add(f"filters_{layer.name}", "Convolution filters", plots.filters_figure(kernel, layer.name, 0))
    caption = f"test image {image_index}\n(true: {names[label]})"
    for layer, activation in zip(layers, conv_activations(model, image)):
        figures.add(f"outputs_{layer.name}", "Convolution layer outputs",
                    plots.layer_outputs_figure(image, activation, layer.name, caption))


# -------------------------------------------------------------------- HTML


def render_html(run, summary: dict[str, Any], metrics: dict[str, Any], figures: Figures,
                pngs: dict[str, bytes], image_index: int) -> str:
    """The whole page as one string: inline CSS, images embedded as base64 data URIs, no external links."""
    sections: dict[str, list[str]] = {"Summary": [_summary_table(run, summary, metrics)]}
    for stem, (section, _, caption) in figures.items.items():
        sections.setdefault(section, []).append(embedded_figure(stem, pngs[stem], caption))
    sections.setdefault("Test results", []).insert(1, _per_class_table(metrics))
    notes = {
        "Convolution filters": "Input channel 0 of each layer. Red: positive weights, blue: negative, white: 0; "
                               "one colour scale per layer.",
        "Convolution layer outputs": f"What each channel of each convolution layer makes of test image "
                                     f"{image_index} (chosen with --image-index).",
    }
    body = [f"<h1>{_e(run.path.name)}</h1>"]
    for title, blocks in sections.items():
        note = f'<p class="note">{_e(notes[title])}</p>' if title in notes else ""
        body.append(f'<section><h2>{_e(title)}</h2>{note}<div class="row">{"".join(blocks)}</div></section>')
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    body.append(f'<footer>Written by <code>cnnlab report</code> on {stamp}. Test numbers are those of '
                f'<code>metrics.json</code> (<code>cnnlab evaluate</code>).</footer>')
    return html_page(f"cnnlab report: {run.path.name}", "\n".join(body))


def _summary_table(run, summary: dict[str, Any], metrics: dict[str, Any]) -> str:
    config = run.config
    wall = summary.get("wall_seconds")
    ips = summary.get("images_per_second")
    rows = [
        ("dataset", "dataset", config.dataset, None),
        ("model", "model", config.model, None),
        ("parameters", "params", f"{summary['params']:,}" if summary.get("params") else "-", summary.get("params")),
        ("recipe", "recipe", config.recipe, None),
        ("seed", "seed", str(config.seed), config.seed),
        ("epochs", "epochs", str(summary["epochs"]), summary["epochs"]),
        ("batch size / learning rate", "batch_lr", f"{config.batch_size} / {config.learning_rate:g} "
                                                  f"({config.lr_schedule})", None),
        ("dropout", "dropout", "model default" if config.dropout is None else f"{config.dropout:g}", config.dropout),
        ("training images", "limit", "all" if config.limit is None else f"first {config.limit:,}", config.limit),
        ("validation images", "val_split", f"{config.val_split:,} ({config.val_mode})", config.val_split),
        ("wall time", "wall_seconds", "-" if wall is None else f"{wall:.1f} s", wall),
        ("images per second (last epoch)", "images_per_second", "-" if ips is None else f"{ips:,.0f}", ips),
        ("validation accuracy (last epoch)", "val_accuracy", _percent(summary.get("val_accuracy")),
         summary.get("val_accuracy")),
        ("test accuracy", "test_accuracy", f"{_percent(metrics['accuracy'])} on {metrics['num_images']:,} images",
         metrics["accuracy"]),
        ("test loss", "test_loss", f"{metrics['loss']:.4f}", metrics["loss"]),
    ]
    cells = "".join(f'<tr><th>{_e(label)}</th><td data-key="{key}"'
                    + ("" if value is None else f' data-value="{_e(repr(value))}"')
                    + f">{_e(text)}</td></tr>" for label, key, text, value in rows)
    return f'<table class="summary">{cells}</table>'


def _per_class_table(metrics: dict[str, Any]) -> str:
    head = "<tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>"
    rows = []
    for c in metrics["per_class"]:
        cells = "".join(f'<td data-key="{k}" data-value="{_e(repr(c[k]))}">{c[k]:.4f}</td>'
                        for k in ("precision", "recall", "f1"))
        rows.append(f'<tr><th>{_e(c["name"])}</th>{cells}<td data-key="support">{c["support"]:,}</td></tr>')
    caption = "<caption>Per-class precision, recall and F1 (test set)</caption>"
    return f'<table class="per-class">{caption}{head}{"".join(rows)}</table>'


def embedded_figure(stem: str, png: bytes, caption: str = "") -> str:
    """A ``<figure>`` whose image is the PNG itself, base64-encoded, so the page needs no other file."""
    encoded = base64.b64encode(png).decode("ascii")
    return (f'<figure id="fig-{_e(stem)}"><img src="data:image/png;base64,{encoded}" alt="{_e(stem)}">'
            + (f"<figcaption>{_e(caption)}</figcaption>" if caption else "") + "</figure>")


def html_page(title: str, body: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{STYLE}</style></head>
<body>
{body}
</body></html>
"""


STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "DejaVu Sans", sans-serif; color: #222; margin: 2em auto;
       max-width: 1250px; padding: 0 1em; }
.row { display: flex; flex-wrap: wrap; gap: 0 2em; align-items: flex-start; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #eee; text-align: left; }
td { font-variant-numeric: tabular-nums; }
table.per-class td, table.compare td { text-align: right; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.3em; }
figure { margin: 1em 0; max-width: 100%; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption, .note { color: #555; font-size: 0.92em; }
footer { margin-top: 3em; color: #777; font-size: 0.85em; }
code { background: #f4f4f4; padding: 0 0.25em; }
"""


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f} %"


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


# -------------------------------------------------------------------- files


def png_bytes(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, facecolor="white")
    return buffer.getvalue()


def write_tensorboard_images(run, pngs: dict[str, bytes], x_test: np.ndarray, probabilities: np.ndarray,
                             y_test: np.ndarray, digits: int = 8) -> Path:
    """The report's figures, and the most confident misclassified test images, as TensorBoard images."""
    import tensorflow as tf

    log_dir = run.path / "logs" / "report"
    step = int(len(run.history))
    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        for stem, data in pngs.items():
            tf.summary.image(f"report/{stem}", tf.image.decode_png(data, channels=3)[tf.newaxis], step=step)
        wrong = misclassified_order(y_test, probabilities)[:digits]
        if len(wrong):
            images = np.asarray(x_test[wrong], dtype=np.float32).reshape(-1, 28, 28, 1) / 255.0
            tf.summary.image("report/misclassified_digits", images, step=step, max_outputs=digits,
                             description="most confident mistakes on the test set")
    writer.flush()
    writer.close()
    return log_dir
