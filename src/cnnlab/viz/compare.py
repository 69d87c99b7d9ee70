"""Compare runs: their learning curves overlaid in one figure, and a table of configs and results.

``compare_runs`` reads the runs and returns a ``Comparison`` (nothing written); ``write_comparison`` writes
``compare.html`` (self-contained) and ``curves.png``. All numbers come from each run's ``history.csv`` and
``metrics.json``; a run without ``metrics.json`` shows "-" for its test numbers.

Example:
    >>> comparison = compare_runs(["runs/fashion-dropout0", "runs/fashion-dropout05"])  # doctest: +SKIP
    >>> write_comparison(comparison, "compare")  # doctest: +SKIP
    PosixPath('compare/compare.html')
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from cnnlab.config import config_differences
from cnnlab.errors import ConfigError
from cnnlab.run import Run
from cnnlab.viz import plots
from cnnlab.fileio import atomic_write_bytes
from cnnlab.viz.report import embedded_figure, html_page, png_bytes

ALWAYS_SHOWN = ("dataset", "model", "recipe", "epochs", "seed")  # config fields shown even when equal

# result key -> (column title, format)
RESULT_COLUMNS = {
    "epochs": ("epochs", "{:d}"),
    "final_loss": ("final training loss", "{:.4f}"),
    "final_val_loss": ("final validation loss", "{:.4f}"),
    "best_val_loss": ("lowest validation loss", "{:.4f}"),
    "best_val_loss_epoch": ("at epoch", "{:d}"),
    "val_loss_rise": ("validation loss rise after lowest", "{:+.4f}"),
    "final_val_accuracy": ("final validation accuracy", "{:.2%}"),
    "test_accuracy": ("test accuracy", "{:.2%}"),
    "test_loss": ("test loss", "{:.4f}"),
    "wall_seconds": ("wall time (s)", "{:.0f}"),
}


@dataclass
class Comparison:
    labels: list[str]  # one short name a run, as in the figure's legend
    runs: list[Run]
    config_keys: list[str]  # the config fields in the table: ALWAYS_SHOWN plus those that differ
    configs: list[dict[str, Any]]
    results: list[dict[str, Any]]
    figure: Any  # matplotlib Figure: the overlaid curves

    def differences(self) -> list[str]:
        """The config fields whose values differ between the runs, as ``"key: a / b"`` in the runs' order."""
        return config_differences(*self.configs, separator=" / ", show=str)

    def rows(self) -> list[dict[str, Any]]:
        """One dict a run: label, path, the shown config fields and the results (for --json and tables)."""
        return [{"label": label, "run_dir": str(run.path), **{k: config[k] for k in self.config_keys}, **result}
                for label, run, config, result in zip(self.labels, self.runs, self.configs, self.results)]


def compare_runs(paths: Sequence[str | os.PathLike]) -> Comparison:
    """Load two or more runs and compute what the comparison page shows."""
    if len(paths) < 2:
        raise ConfigError("compare needs at least two run directories, e.g. cnnlab compare runs/a runs/b")
    runs = [Run.load(path) for path in paths]
    labels = _labels(runs)
    configs = [_flat_config(run) for run in runs]
    keys = list(ALWAYS_SHOWN) + [k for k in _differing_keys(configs) if k not in ALWAYS_SHOWN]
    figure = plots.compare_curves_figure({label: run.history for label, run in zip(labels, runs)})
    return Comparison(labels, runs, keys, configs, [run_results(run) for run in runs], figure)


def _differing_keys(configs: list[dict[str, Any]]) -> list[str]:
    return [k for k in configs[0] if len({repr(c.get(k)) for c in configs}) > 1]


def run_results(run: Run) -> dict[str, Any]:
    """The numbers a comparison shows for one run, from its history and metrics.json."""
    history, metrics, manifest = run.history, run.metrics or {}, run.manifest
    results: dict[str, Any] = {key: None for key in RESULT_COLUMNS}
    results["epochs"] = int(len(history))
    if len(history):
        last = history.iloc[-1]
        results["final_loss"] = _number(last["loss"])
        results["final_val_loss"] = _number(last["val_loss"])
        results["final_val_accuracy"] = _number(last["val_accuracy"])
        if history["val_loss"].notna().any():
            best = history["val_loss"].idxmin()
            results["best_val_loss"] = float(history["val_loss"][best])
            results["best_val_loss_epoch"] = int(history["epoch"][best])
            results["val_loss_rise"] = float(last["val_loss"]) - results["best_val_loss"]
    if metrics.get("split") == "test":
        results["test_accuracy"], results["test_loss"] = metrics["accuracy"], metrics["loss"]
    results["wall_seconds"] = manifest.get("wall_seconds")
    return results


def write_comparison(comparison: Comparison, out_dir: str | os.PathLike) -> Path:
    """Write ``compare.html`` and ``curves.png`` into ``out_dir``; returns the HTML path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png = png_bytes(comparison.figure)
    atomic_write_bytes(out / "curves.png", png)
    body = [
        f"<h1>Comparison of {len(comparison.runs)} runs</h1>",
        "<section><h2>Learning curves</h2>",
        embedded_figure("curves", png, "Solid: training, dashed: validation. A validation loss that rises while "
                                       "the training loss keeps falling is overfitting."),
        "</section>",
        "<section><h2>Configurations</h2>", _table(comparison, comparison.config_keys, comparison.configs, {}),
        "</section>",
        "<section><h2>Results</h2>",
        _table(comparison, list(RESULT_COLUMNS), comparison.results, RESULT_COLUMNS), "</section>",
        "<footer>Written by <code>cnnlab compare</code>: " + ", ".join(_e(str(r.path)) for r in comparison.runs)
        + "</footer>",
    ]
    path = out / "compare.html"
    atomic_write_bytes(path, html_page("cnnlab comparison", "\n".join(body)).encode("utf-8"))
    return path


def format_value(key: str, value: Any, columns: dict[str, tuple[str, str]] = RESULT_COLUMNS) -> str:
    if value is None:
        return "-"
    if key in columns:
        return columns[key][1].format(value)
    return str(value)


# -------------------------------------------------------------------- helpers


def _labels(runs: list[Run]) -> list[str]:
    names = [run.path.name for run in runs]
    return names if len(set(names)) == len(names) else [str(run.path) for run in runs]


def _flat_config(run: Run) -> dict[str, Any]:
    config = run.config.to_dict()
    options = config.pop("model_options")
    config.update({f"model.{key}": value for key, value in sorted(options.items())})
    if config.get("dropout") is None:
        config["dropout"] = "model default"
    return config


def _number(value: Any) -> float | None:
    return None if value is None or value != value else float(value)  # NaN (no validation) -> None


def _table(comparison: Comparison, keys: list[str], values: list[dict[str, Any]],
           columns: dict[str, tuple[str, str]]) -> str:
    head = "<tr><th>run</th>" + "".join(f"<th>{_e(columns.get(k, (k,))[0])}</th>" for k in keys) + "</tr>"
    rows = []
    for label, row in zip(comparison.labels, values):
        cells = "".join(f'<td data-key="{_e(k)}">{_e(format_value(k, row.get(k), columns))}</td>' for k in keys)
        rows.append(f"<tr><th>{_e(label)}</th>{cells}</tr>")
    return f'<table class="compare">{head}{"".join(rows)}</table>'


def _e(text: str) -> str:
    import html

    return html.escape(text, quote=True)
