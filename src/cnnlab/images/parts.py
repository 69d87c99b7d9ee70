"""Which ink is the digit: connected parts scored by shape and position, the rest dropped.

A digit is a cluster of stroke-like parts near the middle of the picture. A shadow's remains or a dark
corner is a solid blob at the edge; a speck is tiny; a stray mark is far away. The best-scoring part is the
digit's core; the parts close around it (a 5's flag, a 4 written in two strokes, a stroke cut by a removed
line) join it; everything else is dropped and reported.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

SPECK = 0.0004  # parts smaller than this fraction of the picture are specks (unless nothing else is there)
NEAR_PAD = 0.35  # parts inside the core's box widened by this fraction of its size belong to the digit
WEAK = 0.25  # parts weaker than this fraction of the strongest (non-speck) part are unlikely digits
BIG_PIECE = 0.15  # ... and so do parts this big (relative to the core) within half the core's size of it


def choose_digit(mask: np.ndarray, strength: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The digit's parts of ``mask`` and the dropped ones (both boolean masks of the same shape)."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    if count == 0:
        return mask.copy(), np.zeros_like(mask)
    index = np.arange(1, count + 1)
    areas = ndimage.sum(mask, labels, index)
    mean_strength = ndimage.mean(strength, labels, index)
    slices = ndimage.find_objects(labels)
    scores = np.array([_score(labels[s] == i + 1, s, mask.shape, areas[i], mean_strength[i])
                       for i, s in enumerate(slices)])
    strongest = float(mean_strength[areas >= SPECK * mask.size].max(initial=mean_strength.max()))
    scores[mean_strength < WEAK * strongest] *= 0.1  # faint remains of light beside real ink
    core = int(np.argmax(scores))
    keep = np.zeros(count + 1, dtype=bool)
    keep[core + 1] = True
    for i, s in enumerate(slices):
        strong = mean_strength[i] >= WEAK * mean_strength[core]
        if i != core and strong and _belongs(s, slices[core], areas[i], areas[core]):
            keep[i + 1] = True
    digit = keep[labels]
    # faint remains of light that touch the digit are part of its component: keep the digit's own ink
    core_level = float(np.percentile(strength[digit], 99.5))
    digit &= ndimage.binary_dilation(digit & (strength >= WEAK * core_level), iterations=3)
    return digit, mask & ~digit


def _score(part: np.ndarray, where: tuple[slice, slice], shape: tuple[int, int], area: float,
           strength: float) -> float:
    """Bigger, stronger, more central and more stroke-like is more likely the digit."""
    height, width = shape
    top, bottom = where[0].start, where[0].stop
    left, right = where[1].start, where[1].stop
    extent = max(bottom - top, right - left)
    score = np.sqrt(area) * max(strength, 1e-3) ** 2  # contrast counts more than size
    if area < SPECK * height * width or extent < 0.02 * max(height, width):
        return score * 1e-3  # a speck: no need to look at its shape
    my, mx = ndimage.center_of_mass(part)
    cy, cx = (top + my) / height - 0.5, (left + mx) / width - 0.5
    score /= 1.0 + (np.hypot(cy, cx) / 0.3) ** 2
    if extent > 0.8 * max(height, width):
        score *= 0.2  # across the whole frame: an edge, a line or a shadow, not a digit on it
    if top == 0 or left == 0 or bottom == height or right == width:
        score *= 0.3  # cut by the frame: paper edges, desk, corners
    thickness = 2.0 * float(ndimage.distance_transform_edt(np.pad(part, 1)).max())
    if thickness > 0.45 * extent and extent > 6:
        score *= 0.2  # a solid blob, not strokes
    if extent > 30 * max(thickness, 1.0):
        score *= 0.2  # a long thin line
    return float(score)


def _belongs(piece: tuple[slice, slice], core: tuple[slice, slice], area: float, core_area: float) -> bool:
    size_y = core[0].stop - core[0].start
    size_x = core[1].stop - core[1].start
    pad_y, pad_x = NEAR_PAD * size_y, NEAR_PAD * size_x
    inside = (piece[0].start >= core[0].start - pad_y and piece[0].stop <= core[0].stop + pad_y
              and piece[1].start >= core[1].start - pad_x and piece[1].stop <= core[1].stop + pad_x)
    if inside and area >= 0.01 * core_area:
        return True
    gap_y = max(core[0].start - piece[0].stop, piece[0].start - core[0].stop, 0)
    gap_x = max(core[1].start - piece[1].stop, piece[1].start - core[1].stop, 0)
    if max(gap_y, gap_x) <= max(3, 0.08 * max(size_y, size_x)) and area >= 0.03 * core_area:
        return True  # a piece of the same stroke, cut by a removed line
    close = gap_y <= 0.5 * size_y and gap_x <= 0.5 * size_x
    return close and area >= BIG_PIECE * core_area and _span(piece) <= 1.5 * max(size_y, size_x)


def _span(where: tuple[slice, slice]) -> int:
    return max(where[0].stop - where[0].start, where[1].stop - where[1].start)
