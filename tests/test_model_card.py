"""MODEL_CARD.md: written by training from the run's own records, with photo figures once they are measured."""

from __future__ import annotations

import json
import shutil

from cnnlab.model_card import PHOTO_ACCURACY, model_card
from cnnlab.run import Run


def test_a_trained_run_has_a_card_made_of_its_own_records(tiny_run):
    card = (tiny_run.path / "MODEL_CARD.md").read_text()
    assert card == model_card(Run.load(tiny_run.path))  # written by training, from the same records
    metrics, manifest = tiny_run.metrics, tiny_run.manifest
    assert f"accuracy **{100 * metrics['accuracy']:.2f} %**" in card
    for name, digest in manifest["data"]["sha256"].items():
        assert f"`{name}`: `{digest}`" in card
    assert f"{manifest['params']:,} parameters" in card and "| limit | 3000 |" in card
    per_class = metrics["per_class"][7]
    assert f"| 7 | {per_class['precision']:.3f} | {per_class['recall']:.3f} |" in card
    assert "CC BY-SA 3.0" in card and "Code: MIT" in card and "Not for decisions about people" in card
    assert "Held-out photos" not in card  # nothing measured yet: no section, no made-up figure


def test_held_out_photo_figures_appear_once_recorded_and_a_damaged_record_is_left_out(tiny_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(tiny_run.path, copy)
    record = {"kinds": {"phone photo": 0.875, "drawing": 1.0}, "refused": {"blank": 2},
              "measured": "2026-12-08", "cpu": "a test CPU"}
    (copy / PHOTO_ACCURACY).write_text(json.dumps(record))
    card = model_card(Run.load(copy))
    assert "## Held-out photos" in card and "(measured 2026-12-08 on a test CPU)" in card
    assert "| phone photo | 87.5 % |" in card and "| drawing | 100.0 % |" in card and "blank: 2" in card
    (copy / PHOTO_ACCURACY).write_text("{not json")
    card = model_card(Run.load(copy))
    assert "Held-out photos" not in card and card.startswith("# Model card:")
