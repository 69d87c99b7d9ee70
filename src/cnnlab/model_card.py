"""``MODEL_CARD.md``: what a run's model is, how it was made, how well it does, where it must not be used.

Everything in the card is read from the run's own records (config, manifest, history, metrics and, when a photo
benchmark has written it, ``photo_accuracy.json``), so the card never states a figure the run does not hold.
:func:`model_card` returns the text; :func:`write_model_card` writes it into the run (training does, once the
test set is evaluated); the exporters copy it beside each export.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from cnnlab.data.catalog import get_dataset_spec
from cnnlab.fileio import atomic_write_text
from cnnlab.run import CONFIG, MODEL_CARD, Run

PHOTO_ACCURACY = "photo_accuracy.json"  # {"kinds": {kind: accuracy}, "refused": {...}, "measured": ..., "cpu": ...}
CODE_LICENSE = "MIT (cnnlab authors; see LICENSE)"

_LIMITS = {
    "mnist": "one handwritten digit 0-9",
    "fashion-mnist": "one item of clothing, shoes or a bag, photographed alone as in Zalando's catalogue",
}


def model_card(run: Run) -> str:
    """The Markdown text of ``run``'s model card.

    Example:
        >>> print(model_card(Run.load("runs/demo")).splitlines()[0])  # doctest: +SKIP
        # Model card: digitcnn on mnist (demo)
    """
    config, manifest = run.config, run.manifest
    spec = get_dataset_spec(config.dataset)
    sections = [
        f"# Model card: {config.model} on {config.dataset} ({run.path.name})",
        _model_section(run),
        _data_section(run),
        _recipe_section(run),
        _metrics_section(run),
        _photo_section(run),
        "## Limits\n\n"
        f"- Input: a 28x28 greyscale image of {_LIMITS.get(config.dataset, 'one centred object')}, centred, light "
        "on a dark background as in the training data (raw pixels 0-255; `cnnlab predict` and `cnnlab serve` "
        "turn a photo into that form first). Anything else - several objects, other classes, colour scenes - is "
        f"still given one of the {len(spec.class_names)} classes, with no \"none of these\" answer.\n"
        "- The test figures hold for images drawn like the test set; other handwriting, cameras or lighting do "
        "worse (see the photo figures where measured).\n"
        "- Not for decisions about people - identity, security, access, grading, anything legal or financial - "
        "nor for any use where a wrong class causes harm: it is a teaching and experimentation model.",
        "## Licence\n\n"
        f"- Data: {spec.title}, {spec.license}.\n"
        f"- Code: {CODE_LICENSE}.\n"
        "- The weights are learned from the data: when sharing them, keep the data's attribution and licence "
        "notice" + (" (CC BY-SA 3.0 may extend to works derived from MNIST)." if config.dataset == "mnist" else "."),
        f"_Written by cnnlab {manifest.get('versions', {}).get('cnnlab', '')} from the run's records "
        f"({CONFIG}, manifest.json, history.csv, metrics.json)._",
    ]
    return "\n\n".join(section for section in sections if section) + "\n"


def write_model_card(run: Run) -> Path:
    """Write (or rewrite) ``RUN/MODEL_CARD.md`` from the run's current records."""
    return atomic_write_text(run.path / MODEL_CARD, model_card(run))


def copy_model_card(run: Run, target: Path) -> Path | None:
    """Put the run's model card beside an export: into ``target`` when it is a folder (a SavedModel, a web
    export), else into the folder holding the file. Returns the copy, or None when the run has no card."""
    card = run.path / MODEL_CARD
    if not card.is_file():
        return None
    folder = target if target.is_dir() else target.parent
    return Path(shutil.copyfile(card, folder / MODEL_CARD))


# -------------------------------------------------------------------- sections


def _model_section(run: Run) -> str:
    from cnnlab.models import list_models

    config, manifest = run.config, run.manifest
    described = {info.name: info.description for info in list_models()}
    options = ", ".join(f"{k}={v}" for k, v in sorted(config.model_options.items())) or "defaults"
    dropout = "" if config.dropout is None else f", dropout {config.dropout}"
    params = manifest.get("params")
    size = f"; {params:,} parameters" if params else ""
    return ("## Model\n\n"
            f"- Network: `{config.model}` - {described.get(config.model, 'a registered cnnlab network').rstrip('.')} "
            f"(options: {options}{dropout}){size}.\n"
            "- In: raw 28x28 greyscale pixels, 0-255 (the run's normalization is the model's first layer). "
            f"Out: {len(run.class_names)} logits, one a class: {', '.join(run.class_names)}.\n"
            "- Files: `model.keras` (Keras 3, loads without cnnlab), `config.json` (enough to train it again: "
            f"`cnnlab train --config {run.path.name}/{CONFIG}`), `manifest.json` (versions, data, machine).")


def _data_section(run: Run) -> str:
    config, data = run.config, run.manifest.get("data", {})
    spec = get_dataset_spec(config.dataset)
    images = f"the first {config.limit:,} training images" if config.limit else "the 60,000 training images"
    held_out = (f", of which {config.val_split:,} held out for validation" if config.val_split
                else ", none held out (no validation set)")
    lines = [f"## Data\n\n- {spec.title}: {images}{held_out}; tested on the 10,000 test images, which training "
             f"never sees. Source: {data.get('source', 'unknown')}.",
             "- sha256 of the uncompressed files:"]
    lines += [f"  - `{name}`: `{digest}`" for name, digest in sorted(data.get("sha256", {}).items())]
    return "\n".join(lines)


def _recipe_section(run: Run) -> str:
    config, manifest = run.config, run.manifest
    versions = manifest.get("versions", {})
    rows = "\n".join(f"| {key} | {value} |" for key, value in config.to_dict().items() if key != "model_options")
    wall = manifest.get("wall_seconds")
    return ("## Recipe\n\n"
            f"`{config.recipe}` recipe, seed {config.seed}, trained in {manifest.get('precision', '?')} precision "
            f"for {len(run.history)} epoch(s)" + (f" ({wall:.0f} s)" if wall else "") +
            f" with TensorFlow {versions.get('tensorflow', '?')}, Keras {versions.get('keras', '?')} on "
            f"{manifest.get('machine', {}).get('cpu', 'an unrecorded CPU')}.\n\n"
            f"| setting | value |\n| --- | --- |\n{rows}")


def _metrics_section(run: Run) -> str:
    metrics, history = run.metrics or {}, run.history
    lines = ["## Metrics"]
    if metrics.get("split") == "test":
        lines.append(f"Test set ({metrics.get('num_images', 0):,} images): accuracy "
                     f"**{100 * metrics['accuracy']:.2f} %**, loss {metrics['loss']:.4f}.")
    else:
        lines.append("No test figures yet: run `cnnlab evaluate` on the run.")
    if len(history) and history["val_accuracy"].notna().any():
        lines.append(f"Validation accuracy at the last epoch: {100 * history['val_accuracy'].iloc[-1]:.2f} %.")
    per_class = metrics.get("per_class") or []
    if per_class:
        table = ["| class | precision | recall | F1 | test images |", "| --- | --- | --- | --- | --- |"]
        table += [f"| {row['name']} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | "
                  f"{row['support']:,} |" for row in per_class]
        lines.append("\n".join(table))
    return "\n\n".join(lines)


def _photo_section(run: Run) -> str:
    """The held-out photo figures a photo benchmark recorded in ``RUN/photo_accuracy.json`` (none: no section)."""
    record = _photo_record(run.path / PHOTO_ACCURACY)
    if record is None:
        return ""
    kinds = record.get("kinds") or {}
    lines = ["## Held-out photos",
             f"Accuracy on photos and drawings never used in training, by kind (measured {record.get('measured', '?')}"
             f" on {record.get('cpu', 'an unrecorded CPU')}):",
             "\n".join(["| kind | accuracy |", "| --- | --- |"] +
                       [f"| {kind} | {_percent(value)} |" for kind, value in kinds.items()])]
    refused = record.get("refused") or {}
    if refused:
        lines.append("Refused (no answer given, e.g. no ink found): " +
                     ", ".join(f"{kind}: {value}" for kind, value in refused.items()) + ".")
    return "\n\n".join(lines)


def _photo_record(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None  # a damaged record leaves the card without its photo figures, never without a card
    return record if isinstance(record, dict) and isinstance(record.get("kinds"), dict) else None


def _percent(value: Any) -> str:
    return f"{100 * value:.1f} %" if isinstance(value, (int, float)) else str(value)
