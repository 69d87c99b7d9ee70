"""Draw docs/img/preprocessing.png: photos -> evened-out ink strength -> the 28x28 image the model sees.

    python benchmarks/pipeline_figure.py [--out docs/img/preprocessing.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _photos import fonts, ink_from_font, ink_from_mnist, ink_from_pen, photograph  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cnnlab.data.sources import load_dataset
    from cnnlab.images.preprocess import ink_strength, preprocess_image, to_grey, load_image

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/img/preprocessing.png")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(4)
    digit = load_dataset("mnist").x_test[0]
    sans = [f for f in fonts() if f.endswith("DejaVuSans.ttf")][0]
    cases = [
        ("MNIST test digit, shadowed page", photograph(ink_from_mnist(digit, 150), rng, light=0.6)),
        ("thin pen (2 px)", photograph(ink_from_pen(4, rng, 200, pen=2), rng)),
        ("typeset DejaVu Sans, blue ink", photograph(ink_from_font("2", sans, 120), rng, ink_rgb=(20, 40, 160))),
    ]
    fig, axes = plt.subplots(len(cases), 3, figsize=(9, 2.6 * len(cases)))
    for row, (title, photo) in enumerate(cases):
        ink, _, _ = ink_strength(to_grey(load_image(photo)))
        out = preprocess_image(photo).pixels
        for col, (image, label) in enumerate([(photo, title), (ink, "ink strength, light evened out"),
                                              (out, "28x28: cropped, 20 px, centred")]):
            ax = axes[row, col]
            ax.imshow(image, cmap=None if image.ndim == 3 else "gray", vmin=0,
                      vmax=1 if image.dtype != np.uint8 else 255)
            ax.set_title(label, fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
