"""Stroke width toward MNIST's: thin pen lines thickened, thick marker thinned (on the 80-px crop).

Widths are measured as twice the distance to the background along the strokes' ridges. Growing (or eroding)
strokes by ``e`` pixels also grows (or shrinks) the digit by ``e``, so the change solves
``(width + e) = ratio * (side + e)``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

# MNIST's stroke width relative to the digit's longest side (median of 2,000 training digits, measured with
# stroke_width on the 80-px crop, as here)
MNIST_STROKE_RATIO = 0.11
THICKEN_BELOW = 0.8  # thicken strokes thinner than this fraction of MNIST's
THIN_ABOVE = 1.4  # thin strokes thicker than this multiple of MNIST's ...
THIN_TO = 1.1  # ... down to this multiple


def normalize_width(mid: np.ndarray, *, thin: bool = True) -> tuple[np.ndarray, float]:
    """``mid`` (ink in [0, 1], longest side ``max(mid.shape)``) with MNIST-like strokes, and the width change
    in pixels (positive: thickened). ``thin=False`` only thickens (the pipeline before thinning existed)."""
    side = max(mid.shape)
    width = stroke_width(mid)
    target = MNIST_STROKE_RATIO * side
    if 0 < width < THICKEN_BELOW * target:
        extra = (target - width) / (1 - MNIST_STROKE_RATIO)
        grown = _thicken(mid, extra)
        # a thin line loses contrast when shrunk: stretch its cores back to full ink
        return np.clip(grown / max(float(np.percentile(grown[grown > 0.1], 90)), 1e-3), 0, 1), extra
    if thin and width > THIN_ABOVE * target:
        less = (width - THIN_TO * target) / (1 - THIN_TO * MNIST_STROKE_RATIO)
        return _erode(mid, less), -less
    return mid, 0.0


def stroke_width(image: np.ndarray) -> float:
    """Typical stroke width in pixels: twice the distance-to-background along the strokes' ridges, minus 1."""
    mask = image > 0.5
    if not mask.any():
        return 0.0
    distance = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    ridge = mask & (distance >= ndimage.maximum_filter(distance, size=3))
    return float(2 * np.median(distance[ridge]) - 1)


def _disc(radius: float) -> np.ndarray:
    reach = int(np.ceil(radius))
    y, x = np.mgrid[-reach:reach + 1, -reach:reach + 1]
    return x ** 2 + y ** 2 <= radius ** 2 + 0.5


def _thicken(image: np.ndarray, extra: float) -> np.ndarray:
    """Grow strokes by ``extra`` pixels in width with a grey dilation by a disc (keeps the soft edges)."""
    radius = extra / 2 + 0.5  # a disc of radius r on the pixel grid adds about 2r - 1 to the width
    reach = int(np.ceil(radius))
    return ndimage.grey_dilation(np.pad(image, reach), footprint=_disc(radius))


def _erode(image: np.ndarray, less: float) -> np.ndarray:
    """Shrink strokes by ``less`` pixels in width with a grey erosion by a disc; no stroke vanishes: where
    the erosion would remove a whole part, its ridge is kept."""
    radius = less / 2
    if radius < 0.75:
        return image
    eroded = ndimage.grey_erosion(image, footprint=_disc(radius))
    mask = image > 0.5
    distance = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    ridge = mask & (distance >= ndimage.maximum_filter(distance, size=3))
    # keep a thin core along every ridge so narrow parts (a 1's foot, a joint) are not cut
    core = ndimage.grey_dilation(np.where(ridge, image, 0.0), size=(2, 2))
    return np.maximum(eroded, core)
