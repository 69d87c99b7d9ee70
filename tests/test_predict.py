"""``cnnlab predict``: files and folders of photos -> labels, confidence, top-K, accuracy from file names."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from _photos import encode, images_run, ink_from_mnist, photograph, to_16bit_grey
from cnnlab.images.predict import collect_images, predict_paths, style_for, true_label


@pytest.fixture(scope="module")
def model_run(tmp_path_factory):
    return images_run(tmp_path_factory)


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory, mnist):
    """Labelled photos (PNG, JPEG, 16-bit PNG) in a folder and a subfolder, one unlabelled photo, one
    broken file and one text file that is not an image."""
    folder = tmp_path_factory.mktemp("photos")
    (folder / "more").mkdir()
    rng = np.random.default_rng(11)
    for n, i in enumerate(range(0, 24, 2)):
        photo = photograph(ink_from_mnist(mnist.x_test[i], 140), rng, size=(360, 270))
        label = int(mnist.y_test[i])
        if n % 3 == 0:
            (folder / f"{label}_photo{n}.png").write_bytes(encode(photo))
        elif n % 3 == 1:
            (folder / "more" / f"{label}_photo{n}.jpg").write_bytes(encode(photo, "JPEG", quality=85))
        else:
            (folder / f"{label}-deep{n}.png").write_bytes(encode(to_16bit_grey(photo)))
    rng_photo = photograph(ink_from_mnist(mnist.x_test[30], 120), rng, size=(300, 200))
    (folder / "mine.png").write_bytes(encode(rng_photo))
    (folder / "4_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_file_names_give_labels():
    assert true_label("7_kitchen.png", 10) == 7
    assert true_label("dir/3.jpg", 10) == 3
    assert true_label("12_two_digits.png", 10) is None
    assert true_label("photo_7.png", 10) is None


def test_folders_are_searched_for_images(photo_folder):
    files = collect_images([photo_folder])
    assert len(files) == 14  # 12 photos, mine.png, 4_broken.png; not notes.txt
    assert any(f.parent.name == "more" for f in files)


def test_style_follows_the_runs_dataset():
    def fake(name):
        return SimpleNamespace(config=SimpleNamespace(dataset=name))
    assert style_for(fake("mnist")) == "digits"
    assert style_for(fake("fashion-mnist")) == "fashion"


def test_predictions_match_the_model_and_the_labels(model_run, photo_folder):
    from cnnlab.images.preprocess import preprocess_image

    result = predict_paths(model_run, [photo_folder], top=3)
    by_name = {p["file"].split("/")[-1]: p for p in result["predictions"]}
    assert len(by_name) == 14
    broken = by_name["4_broken.png"]
    assert broken["label"] is None and "not an image" in broken["error"] and broken["true_label"] == 4
    mine = by_name["mine.png"]
    assert mine["true_label"] is None and mine["label"] in range(10) and len(mine["top"]) == 3
    # the same label a direct call gives
    model = model_run.load_model()
    direct = model.predict(preprocess_image(photo_folder / "mine.png").model_input[None], verbose=0).argmax()
    assert mine["label"] == int(direct)
    labelled = [p for p in result["predictions"] if p["true_label"] is not None]
    correct = sum(p["label"] == p["true_label"] for p in labelled)
    assert result["accuracy"] == pytest.approx(correct / len(labelled))
    assert correct >= 11  # 12 good photos + 1 broken file (counted wrong): at most one photo misread
    for p in labelled:
        if p["label"] is not None:
            probs = [t["probability"] for t in p["top"]]
            assert probs == sorted(probs, reverse=True) and p["confidence"] == probs[0]
            assert p["low_confidence"] == (p["confidence"] < 0.6)


def test_cli_json_is_one_object(cli, model_run, photo_folder, tmp_path):
    code, out, err = cli("predict", str(model_run.path), str(photo_folder), "--json", "--top", "2",
                         "--preview-dir", str(tmp_path / "previews"))
    assert code == 0, err
    result = json.loads(out)
    assert set(result) == {"predictions", "accuracy"}
    first = result["predictions"][0]
    assert {"file", "label", "confidence", "top", "true_label"} <= set(first)
    assert all(len(p["top"]) == 2 for p in result["predictions"] if p["label"] is not None)
    previews = sorted((tmp_path / "previews").glob("*.png"))
    assert len(previews) == 13  # every image but the broken one
    assert Image.open(previews[0]).size == (28, 28)


def test_cli_table_and_summary(cli, model_run, photo_folder):
    code, out, _ = cli("predict", str(model_run.path), str(photo_folder / "more"))
    assert code == 0
    assert "accuracy" in out and "_photo" in out


def test_cli_table_names_a_refused_file_once(cli, model_run, photo_folder, tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("L", (28, 28), 255).save(blank)
    code, out, _ = cli("predict", str(model_run.path), str(photo_folder / "mine.png"), str(blank))
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith(str(blank)))
    assert row.count(str(blank)) == 1 and "the image has no ink" in row


def test_cli_mistakes_are_one_line(cli, model_run, tmp_path):
    code, out, err = cli("predict", str(model_run.path), str(tmp_path / "nowhere"))
    assert code == 3 and out == "" and err.count("\n") == 1 and "no such file or folder" in err
    (tmp_path / "empty").mkdir()
    code, _, err = cli("predict", str(model_run.path), str(tmp_path / "empty"))
    assert code == 3 and "no images found" in err
    code, _, err = cli("predict", str(tmp_path), str(tmp_path))
    assert code == 4 and "not a run directory" in err
    (tmp_path / "notes.png").write_text("not a picture")
    code, out, err = cli("predict", str(model_run.path), str(tmp_path / "notes.png"))
    assert code == 3 and out == "" and err.count("\n") == 1 and "no image could be used" in err
    blank = tmp_path / "blank.png"
    Image.new("L", (28, 28), 255).save(blank)
    code, out, err = cli("predict", str(model_run.path), str(blank))
    assert code == 3 and err.count("\n") == 1 and f"{blank}: the image has no ink" in err  # which file, too
    code, _, err = cli("predict", str(model_run.path), str(tmp_path), "--top", "0")
    assert code == 2 and "--top" in err


def test_files_that_make_pillow_raise_get_an_error_and_the_others_a_prediction(model_run, photo_folder, tmp_path):
    """Pillow raises ValueError inside Image.open for these (issue 24): each becomes that file's error."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = encode(Image.new("L", (8, 8), 255))
    bomb = png[:33] + chunk(b"zTXt", b"c\0\0" + zlib.compress(b"\0" * (64 << 20))) + png[33:]
    bad = {"bomb.png": bomb, "p6.bin": b"P6\n", "p1.pgm": b"P1", "pf.pfm": b"Pf", "ghost.eps": b"%!PS-Adobe-3.0 EPSF"}
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
    result = predict_paths(model_run, [photo_folder / "mine.png", *(tmp_path / name for name in bad)])
    good, *refused = result["predictions"]
    assert good["label"] in range(10) and "error" not in good
    for record in refused:
        assert record["label"] is None and record["error"].startswith(record["file"]), record
        assert "\n" not in record["error"] and ("damaged" in record["error"] or "not an image" in record["error"])
