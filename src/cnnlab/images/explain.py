"""A picture of what preprocessing did: the photo with what was removed marked, the light it measured, and
the 28x28 input the model got, side by side (for ``cnnlab predict --preview-dir`` and the page).

Colours on the photo: green = the digit's ink that was kept, red = ruled/margin lines removed, orange = ink
dropped as not the digit (specks, shadows' remains, stray marks). The middle panel is the paper's light as
measured (dark = shadow or vignetting, evened out before the ink was read).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from cnnlab.images.preprocess import PreparedImage

PANEL = 160  # height of each panel in pixels
KEPT, LINES, DROPPED = (40, 190, 60), (230, 40, 40), (255, 150, 0)


def explain_image(prepared: PreparedImage) -> Image.Image:
    """The photo with its removed parts marked, the light map, and the 28x28 input (an RGB image)."""
    removed = prepared.removed
    panels = []
    if "work" in removed:
        photo = np.repeat(np.clip(removed["work"], 0, 1)[..., None] * 255, 3, axis=2)
        for name, colour in (("digit", KEPT), ("dropped", DROPPED), ("lines", LINES)):
            mask = removed.get(name)
            if mask is not None and mask.shape == photo.shape[:2]:
                photo[mask] = 0.35 * photo[mask] + 0.65 * np.asarray(colour, np.float32)
        panels.append(_panel(photo.astype(np.uint8)))
    if "paper" in removed:
        paper = removed["paper"]
        span = max(float(paper.max() - paper.min()), 1e-3)
        shade = ((paper - paper.min()) / span * 200 + 55) if span > 0.02 else np.full_like(paper, 255.0)
        panels.append(_panel(np.repeat(shade[..., None], 3, axis=2).astype(np.uint8)))
    panels.append(Image.fromarray(prepared.pixels, "L").convert("RGB").resize((PANEL, PANEL), Image.Resampling.NEAREST))
    width = sum(p.width for p in panels) + 6 * (len(panels) - 1)
    sheet = Image.new("RGB", (width, PANEL), (90, 90, 90))
    left = 0
    for panel in panels:
        sheet.paste(panel, (left, 0))
        left += panel.width + 6
    return sheet


def _panel(rgb: np.ndarray) -> Image.Image:
    image = Image.fromarray(rgb, "RGB")
    scale = PANEL / image.height
    return image.resize((max(1, round(image.width * scale)), PANEL), Image.Resampling.BILINEAR)
