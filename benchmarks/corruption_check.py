"""How a run's model holds up when MNIST test digits are damaged: accuracy per corruption, and the mean.

The corruptions are made here with NumPy, SciPy and Pillow, independently of the training augmentation in
``cnnlab.data.augment`` (other formulas, other parameters), so the figures measure robustness to damage the
model did not see in this exact form. They are written from plain descriptions of what cameras, scanners,
paper and pens do — not from any published corruption benchmark.

    .venv/bin/python benchmarks/corruption_check.py runs/demo [--images 2000] [--json] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

Corruption = Callable[[np.ndarray, np.random.Generator], np.ndarray]  # (28, 28) float 0..255 -> same


def _clip(image: np.ndarray) -> np.ndarray:
    return np.clip(image, 0, 255)


def gaussian_noise(image, rng):
    return _clip(image + rng.normal(0, 45, image.shape))


def shot_noise(image, rng):
    return _clip(rng.poisson(image / 255 * 12) / 12 * 255)


def impulse_noise(image, rng):
    out = image.copy()
    draw = rng.random(image.shape)
    out[draw < 0.05] = 0
    out[draw > 0.95] = 255
    return out


def speckle(image, rng):
    return _clip(image + image * rng.normal(0, 0.6, image.shape) + rng.normal(0, 20, image.shape))


def gaussian_blur(image, rng):
    return ndimage.gaussian_filter(image, 1.2)


def motion_blur(image, rng):
    length = 5
    kernel = np.zeros((length, length))
    kernel[length // 2, :] = 1 / length
    kernel = ndimage.rotate(kernel, rng.uniform(0, 180), reshape=False, order=1)
    return ndimage.convolve(image, kernel / max(kernel.sum(), 1e-6), mode="constant")


def glass_blur(image, rng):
    """Each pixel swapped with a neighbour a pixel or two away, after a light blur (frosted glass)."""
    out = ndimage.gaussian_filter(image, 0.6)
    rows, cols = np.indices(image.shape)
    rows = np.clip(rows + rng.integers(-1, 2, image.shape), 0, 27)
    cols = np.clip(cols + rng.integers(-1, 2, image.shape), 0, 27)
    return out[rows, cols]


def brightness(image, rng):
    return _clip(image * 0.6 + 110)


def dark_contrast(image, rng):
    return image * 0.25 + 30


def fog(image, rng):
    """Cloud-like haze: noise summed over several scales, strongest at the largest."""
    haze = np.zeros(image.shape)
    for cells, weight in ((2, 1.0), (4, 0.6), (8, 0.35), (16, 0.2)):
        coarse = rng.random((cells + 1, cells + 1))
        haze += weight * ndimage.zoom(coarse, 28 / (cells + 1), order=3)[:28, :28]
    haze = (haze - haze.min()) / max(np.ptp(haze), 1e-6)
    return _clip(image * 0.8 + haze * 170)


def _drawn(image: np.ndarray, draw_lines: Callable[[ImageDraw.ImageDraw], None], scale: int = 4) -> np.ndarray:
    """Lines drawn with Pillow at 4x, shrunk (anti-aliased), brightened over the digit."""
    canvas = Image.new("L", (28 * scale, 28 * scale), 0)
    draw_lines(ImageDraw.Draw(canvas))
    lines = np.asarray(canvas.resize((28, 28), Image.Resampling.BOX), dtype=np.float64)
    return np.maximum(image, lines)


def stripes(image, rng):
    offset, gap = rng.integers(0, 20), rng.integers(12, 20)
    vertical = rng.random() < 0.5

    def draw(d):
        for position in range(offset, 112, gap):
            box = (position, 0, position + 3, 111) if vertical else (0, position, 111, position + 3)
            d.rectangle(box, fill=255)
    return _drawn(image, draw)


def dotted_line(image, rng):
    start, end = rng.uniform(0, 112, 2), rng.uniform(0, 112, 2)

    def draw(d):
        for t in np.linspace(0, 1, 14):
            x, y = start + (end - start) * t
            d.ellipse((x - 3, y - 3, x + 3, y + 3), fill=255)
    return _drawn(image, draw)


def zigzag(image, rng):
    x0, period, height, y0 = rng.uniform(-10, 10), rng.uniform(14, 28), rng.uniform(8, 20), rng.uniform(20, 90)

    def draw(d):
        points = [(x0 + i * period / 2, y0 + (height if i % 2 else -height)) for i in range(12)]
        d.line(points, fill=255, width=5)
    return _drawn(image, draw)


def crossing_line(image, rng):
    def draw(d):
        d.line([tuple(rng.uniform(0, 112, 2)), tuple(rng.uniform(0, 112, 2))], fill=255, width=6)
    return _drawn(image, draw)


def edges_only(image, rng):
    """Only the outlines of the strokes: the gradient magnitude, thresholded."""
    smooth = ndimage.gaussian_filter(image, 0.7)
    magnitude = np.hypot(ndimage.sobel(smooth, 0), ndimage.sobel(smooth, 1))
    return np.where(magnitude > 0.25 * magnitude.max(), 255.0, 0.0)


def spatter(image, rng):
    out = image.copy()
    for _ in range(rng.integers(3, 7)):
        row, col, radius = rng.integers(0, 28), rng.integers(0, 28), rng.uniform(1, 2.5)
        rows, cols = np.ogrid[:28, :28]
        out[(rows - row) ** 2 + (cols - col) ** 2 <= radius ** 2] = rng.choice([0.0, 200.0])
    return out


def _affine(image: np.ndarray, matrix: np.ndarray, shift: tuple[float, float] = (0, 0)) -> np.ndarray:
    centre = np.array([13.5, 13.5])
    offset = centre - matrix @ centre + np.asarray(shift)
    return ndimage.affine_transform(image, matrix, offset=offset, order=1)


def shear(image, rng):
    return _affine(image, np.array([[1.0, 0], [rng.choice([-1, 1]) * 0.35, 1.0]]))


def rotate(image, rng):
    angle = np.deg2rad(rng.choice([-1, 1]) * rng.uniform(15, 25))
    return _affine(image, np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]))


def scale(image, rng):
    factor = rng.choice([0.75, 1.25])
    return _affine(image, np.eye(2) / factor)


def translate(image, rng):
    return _affine(image, np.eye(2), tuple(rng.choice([-1, 1], 2) * rng.integers(3, 5, 2)))


def thick_strokes(image, rng):
    return ndimage.grey_dilation(image, size=(2, 2))


def thin_strokes(image, rng):
    return ndimage.grey_erosion(image, size=(2, 2))


CORRUPTIONS: dict[str, Corruption] = {f.__name__: f for f in (
    gaussian_noise, shot_noise, impulse_noise, speckle, gaussian_blur, motion_blur, glass_blur, brightness,
    dark_contrast, fog, stripes, dotted_line, zigzag, crossing_line, edges_only, spatter, shear, rotate, scale,
    translate, thick_strokes, thin_strokes)}


def corrupted_sets(x: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Every corruption of the images ``x`` (``(N, 784)`` uint8): name -> ``(N, 28, 28)`` uint8."""
    sets = {}
    for index, (name, corruption) in enumerate(CORRUPTIONS.items()):
        rng = np.random.default_rng([seed, index])
        images = [corruption(image.reshape(28, 28).astype(np.float64), rng) for image in x]
        sets[name] = np.clip(np.rint(images), 0, 255).astype(np.uint8)
    return sets


def measure(run_path: str, images: int) -> dict:
    from cnnlab.data.sources import load_dataset
    from cnnlab.evaluation import Predictor
    from cnnlab.run import Run

    run = Run.load(run_path)
    data = load_dataset(run.config.dataset)
    x, y = data.x_test[:images], data.y_test[:images]
    predictor = Predictor(run.load_model())
    accuracy = {"clean": float(np.mean(predictor.logits(x).argmax(1) == y))}
    for name, damaged in corrupted_sets(x).items():
        accuracy[name] = float(np.mean(predictor.logits(damaged).argmax(1) == y))
    corrupted = [v for k, v in accuracy.items() if k != "clean"]
    return {"run": run_path, "images": len(x), "accuracy": accuracy, "mean": float(np.mean(corrupted)),
            "worst": min((v, k) for k, v in accuracy.items())[1]}


def markdown(result: dict) -> str:
    rows = ["| corruption | accuracy |", "| --- | --- |"]
    rows += [f"| {name} | {value:.2%} |" for name, value in result["accuracy"].items()]
    rows.append(f"| **mean of the corruptions** | **{result['mean']:.2%}** |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a run directory")
    parser.add_argument("--images", type=int, default=2000, help="MNIST test images, from the first (default 2000)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = parser.parse_args()
    from cnnlab.runtime import import_tensorflow_quietly

    import_tensorflow_quietly()
    result = measure(args.run, args.images)
    if args.json:
        print(json.dumps(result, indent=2))
    elif args.markdown:
        print(markdown(result))
    else:
        for name, value in result["accuracy"].items():
            print(f"{name:16s} {value:7.2%}")
        print(f"{'mean':16s} {result['mean']:7.2%}   (worst: {result['worst']})")


if __name__ == "__main__":
    sys.exit(main())
