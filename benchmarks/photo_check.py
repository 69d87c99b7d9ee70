"""Accuracy of ``cnnlab predict`` on home-made photo folders (the held-out check's shape, made here).

Writes folders of "photos" named ``<label>_<n>.<ext>`` (dark ink on lit paper, off-centre, uneven light,
noise; PNG, JPEG and 16-bit PNG) from MNIST test digits, thin-pen versions of them, pen-drawn digits and
typeset DejaVu digits, runs ``cnnlab predict RUN FOLDER --json`` on each and prints the accuracies.

    python benchmarks/photo_check.py runs/demo [--digits 500] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _photos import encode, fonts, ink_from_font, ink_from_mnist, ink_from_pen, photograph, to_16bit_grey  # noqa: E402


def _save(photo: np.ndarray, path: Path, n: int) -> None:
    kind = n % 3
    if kind == 0:
        path.with_suffix(".png").write_bytes(encode(photo))
    elif kind == 1:
        path.with_suffix(".jpg").write_bytes(encode(photo, "JPEG", quality=85))
    else:
        path.with_suffix(".png").write_bytes(encode(to_16bit_grey(photo)))


def build(folder: Path, digits: int) -> dict[str, Path]:
    from cnnlab.data.sources import load_dataset

    data = load_dataset("mnist")
    rng = np.random.default_rng(1)
    sets = {name: folder / name for name in ("mnist-photos", "mnist-thin-pen", "pen-drawn", "typeset")}
    for path in sets.values():
        path.mkdir(parents=True)
    for n in range(digits):
        image, label = data.x_test[n], int(data.y_test[n])
        ink = ink_from_mnist(image, int(rng.integers(70, 220)))
        _save(photograph(ink, rng), sets["mnist-photos"] / f"{label}_{n}", n)
        thin_pen = photograph(ink_from_mnist(image, 200, thin=4), rng, size=(520, 400))
        _save(thin_pen, sets["mnist-thin-pen"] / f"{label}_{n}", n)
    for n in range(200):
        ink = ink_from_pen(n % 10, rng, int(rng.integers(90, 240)), pen=2 + n % 4)
        _save(photograph(ink, rng), sets["pen-drawn"] / f"{n % 10}_{n}", n)
    for f, font in enumerate(fonts()):
        for d in range(10):
            ink = ink_from_font(str(d), font, int(rng.integers(70, 200)))
            _save(photograph(ink, rng), sets["typeset"] / f"{d}_{Path(font).stem}", f * 10 + d)
    return sets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--digits", type=int, default=500, help="MNIST test digits to photograph")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, folder in build(Path(tmp), args.digits).items():
            out = subprocess.run([sys.executable, "-m", "cnnlab", "predict", args.run, str(folder), "--json"],
                                 capture_output=True, text=True, check=True).stdout
            predictions = json.loads(out)
            results[name] = {"images": len(predictions["predictions"]), "accuracy": predictions["accuracy"]}
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for name, r in results.items():
            print(f"{name:15s} {r['images']:5d} images  accuracy {100 * r['accuracy']:.2f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
