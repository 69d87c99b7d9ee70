"""Photos in the wild: accuracy of ``cnnlab predict`` per kind of photo, what each preprocessing step brings,
and how long preprocessing plus prediction takes.

Writes eight folders of photos made here (named ``<label>_<n>.<ext>``; digits from DejaVu fonts, scikit-learn's
8x8 ``load_digits`` and MNIST test digits), runs ``cnnlab predict RUN FOLDER --json`` on each and prints a
markdown table (for docs/SERVING.md). Then an ablation (the accuracy with each step of
``preprocess_image(skip=...)`` switched off) and the latency medians (320x240 and 12-megapixel photos).

    python benchmarks/photo_bench.py RUN [--per-kind 100] [--record] [--keep DIR] [--no-ablation]
        [--code OTHER_CHECKOUT]   # run cnnlab predict from another checkout (old preprocessing, same model)

``--record`` writes RUN/photo_accuracy.json: {"kinds": {kind: accuracy}, "refused": {kind: rate},
"measured": ISO date, "cpu": ...}.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from _photos import (encode, exif_rotated_jpeg, ink_from_font, ink_from_lowres, ink_from_mnist,  # noqa: E402
                     ink_from_pen, lighting, paper_lines, restroke, scene, transparent_canvas)

KINDS = {
    "fonts-paper": "DejaVu digits, dark ink on light uneven paper",
    "typeset-rotated-jpeg": "DejaVu digits rotated up to 15 degrees, some blue ink, JPEG",
    "lowres-photo": "scikit-learn's 8x8 handwriting, scaled up and photographed",
    "lowres-16bit": "the same digits as 28x28 16-bit PNGs, dark on white",
    "notebook": "ruled or squared notebook paper, red margin line",
    "phone-12mp": "12 MP phone photos: small digit, vignetting, shadow band, tilt, EXIF rotation",
    "inks": "blue ballpoint, red pen, faint pencil, thick marker",
    "canvas": "RGBA exports with transparent background, white-on-black screenshots",
}
PHONE = (4000, 3000)


class Sources:
    """Where the digits come from: MNIST test digits, scikit-learn's digits and the DejaVu fonts."""

    def __init__(self, seed: int) -> None:
        from sklearn.datasets import load_digits

        from cnnlab.data.sources import load_dataset

        mnist = load_dataset("mnist")
        self.mnist_x, self.mnist_y = mnist.x_test, mnist.y_test
        lowres = load_digits()
        self.low_x, self.low_y = lowres.images, lowres.target
        self.fonts = sorted(str(p) for p in Path("/usr/share/fonts/truetype/dejavu").glob("DejaVu*.ttf")
                            if "MathTeX" not in p.name)
        self.rng = np.random.default_rng(seed)

    def mnist(self, n: int, height: int) -> tuple[np.ndarray, int]:
        i = (n * 37) % len(self.mnist_y)
        return ink_from_mnist(self.mnist_x[i], height), int(self.mnist_y[i])

    def lowres(self, n: int, height: int) -> tuple[np.ndarray, int]:
        i = (n * 13) % len(self.low_y)
        return ink_from_lowres(self.low_x[i], height), int(self.low_y[i])

    def font(self, n: int, height: int) -> tuple[np.ndarray, int]:
        label = n % 10
        return ink_from_font(str(label), self.fonts[(n // 10) % len(self.fonts)], height), label

    def handwriting(self, n: int, height: int) -> tuple[np.ndarray, int]:
        """MNIST digits, scikit-learn digits and pen-drawn ones in turn."""
        if n % 3 == 0:
            return self.mnist(n, height)
        if n % 3 == 1:
            return self.lowres(n, height)
        label = n % 10
        pen = max(2, int(round(height * self.rng.uniform(0.012, 0.03))))  # a pen line scales with the writing
        return ink_from_pen(label, self.rng, height, pen=pen), label


def make_kind(kind: str, n: int, src: Sources) -> tuple[int, str, bytes]:
    """The ``n``-th photo of a kind: (label, file suffix, encoded bytes)."""
    rng = src.rng
    if kind == "fonts-paper":
        ink, label = src.font(n, int(rng.integers(70, 200)))
        light = lighting((480, 360), rng, vignette=0.25, gradient=0.35)
        return label, ".png", encode(scene(ink, rng, light=light, ink_rgb=(25, 25, 30)))
    if kind == "typeset-rotated-jpeg":
        ink, label = src.font(n, int(rng.integers(70, 200)))
        colour = (30, 40, 150) if n % 2 else (20, 20, 20)
        photo = scene(ink, rng, tilt=rng.uniform(-15, 15), ink_rgb=colour,
                      light=lighting((480, 360), rng, gradient=0.3))
        return label, ".jpg", encode(photo, "JPEG", quality=80)
    if kind == "lowres-photo":
        ink, label = src.lowres(n, int(rng.integers(80, 200)))
        photo = scene(ink, rng, light=lighting((480, 360), rng, vignette=0.3, gradient=0.3), tilt=rng.uniform(-5, 5))
        return label, (".png", ".jpg")[n % 2], encode(photo, ("PNG", "JPEG")[n % 2])
    if kind == "lowres-16bit":
        ink, label = src.lowres(n, 20)
        frame = np.zeros((28, 28), np.float32)
        frame[4:24, 4:24] = ink
        values = np.clip((1 - frame) * 65535, 0, 65535).astype(np.uint16)
        return label, ".png", encode(Image.fromarray(values))
    if kind == "notebook":
        ink, label = src.handwriting(n, int(rng.integers(80, 180)))
        tilt = rng.uniform(-4, 4)
        lines = paper_lines((480, 360), rng, ("ruled", "squared")[n % 2], tilt=tilt)
        photo = scene(ink, rng, lines=lines, tilt=tilt, light=lighting((480, 360), rng, gradient=0.3),
                      where=(rng.uniform(0.2, 0.6), rng.uniform(0.3, 0.7)))
        return label, (".png", ".jpg")[n % 2], encode(photo, ("PNG", "JPEG")[n % 2])
    if kind == "phone-12mp":
        ink, label = src.handwriting(n, int(rng.integers(250, 600)))
        light = lighting(PHONE, rng, vignette=rng.uniform(0.2, 0.5), shadow=rng.uniform(0.25, 0.5), gradient=0.2)
        photo = scene(ink, rng, PHONE, light=light, tilt=rng.uniform(-8, 8), noise=5.0)
        return label, ".jpg", exif_rotated_jpeg(photo, (1, 3, 6, 8)[n % 4]) if n % 4 else encode(photo, "JPEG")
    if kind == "inks":
        return _ink_kind(n, src)
    if kind == "canvas":
        return _canvas_kind(n, src)
    raise ValueError(kind)


def _ink_kind(n: int, src: Sources) -> tuple[int, str, bytes]:
    rng = src.rng
    light = lighting((480, 360), rng, vignette=0.2, gradient=0.3)
    pen = n % 4
    if pen == 0:  # blue ballpoint: a fine line
        ink, label = src.handwriting(n, int(rng.integers(100, 200)))
        photo = scene(restroke(ink, -2), rng, ink_rgb=(40, 50, 160), light=light)
    elif pen == 1:  # red pen
        ink, label = src.handwriting(n, int(rng.integers(100, 200)))
        photo = scene(ink, rng, ink_rgb=(200, 35, 40), light=light)
    elif pen == 2:  # faint pencil: grey, thin, little contrast
        ink, label = src.handwriting(n, int(rng.integers(100, 200)))
        grey = int(rng.integers(150, 185))
        photo = scene(restroke(ink, -1) * rng.uniform(0.7, 1.0), rng, ink_rgb=(grey, grey, grey + 5), light=light)
    else:  # thick marker
        ink, label = src.handwriting(n, int(rng.integers(120, 200)))
        photo = scene(restroke(ink, int(rng.integers(3, 7))), rng, ink_rgb=(15, 15, 15), light=light)
    return label, ".png", encode(photo)


def _canvas_kind(n: int, src: Sources) -> tuple[int, str, bytes]:
    rng = src.rng
    ink, label = src.handwriting(n, int(rng.integers(120, 240)))
    if n % 2 == 0:  # RGBA export, transparent background
        rgb = [(0, 0, 0), (255, 255, 255), (40, 90, 220), (230, 40, 40)][(n // 2) % 4]
        hidden = [(0, 0, 0), (255, 255, 255)][(n // 8) % 2]
        return label, ".png", encode(transparent_canvas(restroke(ink, int(rng.integers(0, 4))), rgb, hidden))
    background = int(rng.integers(0, 40))  # a screenshot of a dark drawing app
    canvas = np.full((300, 400, 3), background, np.uint8)
    h, w = ink.shape
    top, left = int(rng.integers(0, 300 - h)), int(rng.integers(0, 400 - w))
    canvas[top:top + h, left:left + w] = np.maximum(canvas[top:top + h, left:left + w],
                                                    (ink[..., None] * 250).astype(np.uint8))
    return label, ".png", encode(canvas)


def build(folder: Path, per_kind: int, phones: int, seed: int = 23) -> dict[str, Path]:
    """Write every kind's photos under ``folder``/KIND; returns {kind: folder}."""
    src = Sources(seed)
    sets = {}
    for kind in KINDS:
        path = folder / kind
        path.mkdir(parents=True, exist_ok=True)
        count = phones if kind == "phone-12mp" else per_kind
        for n in range(count):
            label, suffix, data = make_kind(kind, n, src)
            (path / f"{label}_{n}{suffix}").write_bytes(data)
        sets[kind] = path
    return sets


def predict_folder(run: str, folder: Path, code: str | None = None) -> dict:
    """``cnnlab predict RUN FOLDER --json`` (from another checkout's source when ``code`` is given)."""
    env = dict(os.environ)
    if code:
        env["PYTHONPATH"] = str(Path(code) / "src") + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-m", "cnnlab", "predict", run, str(folder), "--json"],
                          capture_output=True, text=True, env=env)
    if done.returncode != 0 and not done.stdout.strip().startswith("{"):
        raise SystemExit(f"cnnlab predict failed on {folder}: {done.stderr.strip()[-300:]}")
    predictions = json.loads(done.stdout)["predictions"]
    right = sum(p["label"] == p["true_label"] for p in predictions)
    refused = sum(p["label"] is None for p in predictions)
    return {"images": len(predictions), "accuracy": right / len(predictions), "refused": refused / len(predictions),
            "wrong": [Path(p["file"]).name for p in predictions if p["label"] != p["true_label"]]}


def ablation(run: str, sets: dict[str, Path]) -> dict[str, dict[str, float]]:
    """Accuracy per kind with each step switched off in turn (in-process, the same model)."""
    from cnnlab.evaluation import Predictor
    from cnnlab.images.predict import collect_images, true_label
    from cnnlab.images.preprocess import STEPS, ImageError, preprocess_image
    from cnnlab.run import Run

    predictor = Predictor(Run.load(run).load_model())
    table: dict[str, dict[str, float]] = {}
    for step in STEPS:
        table[step] = {}
        for kind, folder in sets.items():
            files = collect_images([folder])
            inputs, labels = [], []
            for path in files:
                try:
                    inputs.append(preprocess_image(path, skip={step}).model_input)
                    labels.append(true_label(path, 10))
                except ImageError:
                    pass  # refused: counts as wrong
            right = 0
            if inputs:
                right = int((predictor.probabilities(np.stack(inputs)).argmax(1) == np.array(labels)).sum())
            table[step][kind] = right / len(files)
    return table


def latency(run: str, repeats: int = 15) -> dict[str, float]:
    """Median milliseconds of decode + preprocess + predict for one image: a 320x240 PNG and a 12 MP JPEG."""
    from cnnlab.evaluation import Predictor
    from cnnlab.images.preprocess import preprocess_image
    from cnnlab.run import Run

    predictor = Predictor(Run.load(run).load_model())
    rng = np.random.default_rng(5)
    src = Sources(5)
    small = encode(scene(src.mnist(1, 120)[0], rng, (320, 240), light=lighting((320, 240), rng, gradient=0.3)))
    big = encode(scene(src.mnist(2, 400)[0], rng, PHONE, light=lighting(PHONE, rng, vignette=0.4, shadow=0.4)),
                 "JPEG", quality=88)
    result = {}
    for name, data in (("320x240", small), ("12MP", big)):
        times = []
        for _ in range(repeats + 1):
            start = time.perf_counter()
            predictor.probabilities(preprocess_image(data).model_input[None])
            times.append(time.perf_counter() - start)
        result[name] = 1000 * float(np.median(times[1:]))  # the first call warms caches
    return result


def markdown(results: dict[str, dict], baseline: dict[str, dict] | None = None,
             steps: dict[str, dict[str, float]] | None = None) -> str:
    """A markdown table: one row per kind; old preprocessing and the ablation as extra columns."""
    header = ["kind of photo", "images", "accuracy", "refused"]
    if baseline:
        header.append("old preprocessing")
    step_names = list(steps) if steps else []
    header += [f"without {s}" for s in step_names]
    rows = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for kind, r in results.items():
        cells = [KINDS.get(kind, kind), str(r["images"]), f"{100 * r['accuracy']:.1f} %", f"{100 * r['refused']:.1f} %"]
        if baseline:
            cells.append(f"{100 * baseline[kind]['accuracy']:.1f} %")
        cells += [f"{100 * steps[s][kind]:.1f} %" for s in step_names]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def cpu_name() -> str:
    """The CPU's name with its family and model (a bare "AMD EPYC" names several generations)."""
    from cnnlab.runtime import cpu_identity, machine_info

    return f"{machine_info()['cpu']} ({cpu_identity()})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--per-kind", type=int, default=100, help="photos of each kind (default 100)")
    parser.add_argument("--phones", type=int, default=40, help="12 MP photos (slow to make; default 40)")
    parser.add_argument("--keep", metavar="DIR", help="write the photo folders here and keep them")
    parser.add_argument("--code", metavar="CHECKOUT", help="also run cnnlab predict from this checkout's src")
    parser.add_argument("--no-ablation", action="store_true")
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--record", action="store_true", help="write RUN/photo_accuracy.json")
    parser.add_argument("--json", action="store_true", help="print everything as one JSON object")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        sets = build(Path(args.keep or tmp), args.per_kind, args.phones)
        results = {kind: predict_folder(args.run, folder) for kind, folder in sets.items()}
        baseline = {kind: predict_folder(args.run, folder, args.code) for kind, folder in sets.items()} \
            if args.code else None
        steps = None if args.no_ablation else ablation(args.run, sets)
    timing = None if args.no_latency else latency(args.run)
    if args.record:
        record = {"kinds": {k: r["accuracy"] for k, r in results.items()},
                  "refused": {k: r["refused"] for k, r in results.items()},
                  "measured": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  "cpu": cpu_name()}
        Path(args.run, "photo_accuracy.json").write_text(json.dumps(record, indent=2) + "\n")
        from cnnlab.model_card import write_model_card
        from cnnlab.run import Run

        write_model_card(Run.load(args.run))  # the card shows the photo figures it now has
    if args.json:
        print(json.dumps({"results": results, "baseline": baseline, "ablation": steps, "latency_ms": timing},
                         indent=2))
        return 0
    print(markdown(results, baseline, steps))
    if timing:
        print(f"\npreprocess + predict, median: {timing['320x240']:.1f} ms (320x240 PNG), "
              f"{timing['12MP']:.1f} ms (12 MP JPEG) on {cpu_name()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
