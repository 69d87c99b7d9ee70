"""Ruled, squared and margin lines: found and removed from an ink mask before the digit is cut out.

A line is a long, thin, straight band of ink that runs across most of the picture. The page may be tilted a
few degrees, so the tilt is found first (the direction along which the ink's projection is peakiest); then
the ink map is sheared so the lines lie along rows, and a row belongs to a line when even its 40th
percentile is ink: a line covers most of its row, while a digit covers little of any row (and noise is
never that consistent). The line's pixels are removed from the mask, except where the digit crosses it,
i.e. where there is ink on both sides of the band: a stroke that crosses a ruled line stays whole, while a
margin line next to a 0 does not become its bar. Horizontal lines go first, so grid crossings are removed
with the vertical lines instead of being kept as dots.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

MAX_TILT_DEG = 10.0
LINE_COVER = 0.6  # a line covers at least this fraction of its row (of the picture's width or height)
MAX_THICKNESS = 0.04  # ... and is at most this thin, relative to that width
SAMPLE_PIXELS = 20000  # the tilt is searched on a sample of the ink's pixels
MIN_SIDE = 64  # smaller pictures are crops of a digit (MNIST-like drawings): nothing to rule out


def remove_lines(mask: np.ndarray, ink: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """``mask`` without its ruled lines, and the mask of what was removed.

    ``ink``: the (smoothed) ink map the mask was cut from; ``level``: ink at least this strong is a line's
    (typically half the mask's threshold: faint ruled lines are found even where the mask has lost them).
    """
    cleaned = mask.copy()
    horizontal = _remove_along_rows(cleaned, ink, level)
    cleaned[horizontal] = False
    vertical = _remove_along_rows(cleaned.T, ink.T, level).T
    cleaned[vertical] = False
    return cleaned, horizontal | vertical


def _remove_along_rows(mask: np.ndarray, ink: np.ndarray, level: float) -> np.ndarray:
    """Pixels of near-horizontal lines in ``mask`` that no stroke crosses."""
    height, width = mask.shape
    removed = np.zeros_like(mask)
    ys, xs = np.nonzero(ink > level)
    if len(ys) < LINE_COVER * width or min(height, width) < MIN_SIDE:
        return removed
    slope = _best_slope(ys, xs, height, width)
    cover = _row_cover(ink, slope)
    # rows of bare paper have some cover too (noise, a little light left over): a line stands out from them
    typical = float(np.median(cover))
    spread = 1.4826 * float(np.median(np.abs(cover - typical)))
    for first, last in _bands(cover, max(level, typical + max(6 * spread, 0.02)), width):
        removed |= _band_pixels(mask, first, last, slope)
    return removed


def _best_slope(ys: np.ndarray, xs: np.ndarray, height: int, width: int) -> float:
    """The tilt whose projection is peakiest (coarse search in 1-degree steps, then 1/8-degree steps)."""
    if len(ys) > SAMPLE_PIXELS:
        pick = np.random.default_rng(0).choice(len(ys), SAMPLE_PIXELS, replace=False)
        ys, xs = ys[pick], xs[pick]

    def peakiness(angle: float) -> float:
        bins = np.round(ys - xs * np.tan(np.deg2rad(angle))).astype(np.int64) + width
        counts = np.bincount(bins, minlength=height + 2 * width + 1).astype(np.float64)
        return float((counts ** 2).sum())

    coarse = max(np.arange(-MAX_TILT_DEG, MAX_TILT_DEG + 0.5, 1.0), key=peakiness)
    fine = max(np.arange(coarse - 0.75, coarse + 0.76, 0.125), key=peakiness)
    return float(np.tan(np.deg2rad(fine)))


def _row_cover(ink: np.ndarray, slope: float) -> np.ndarray:
    """For each sheared row ``r`` (pixels ``(r + x * slope, x)``): the ink level that ``LINE_COVER`` of the
    row's pixels inside the picture reach (every other column is looked at: plenty for a line)."""
    height, width = ink.shape
    xs = np.arange(0, width, 2)
    shift = np.round(xs * slope).astype(np.int64)
    rows = np.arange(height)[:, None] + shift[None, :]
    inside = (rows >= 0) & (rows < height)
    values = np.where(inside, ink[np.clip(rows, 0, height - 1), xs[None, :]], -1.0)
    values.sort(axis=1)
    outside = (~inside).sum(axis=1)
    count = len(xs) - outside
    index = outside + np.floor((1 - LINE_COVER) * np.maximum(count - 1, 0)).astype(np.int64)
    cover = values[np.arange(height), np.minimum(index, len(xs) - 1)]
    cover[count < 0.5 * len(xs)] = 0.0  # rows mostly outside the picture (a steep tilt's corners)
    return cover


def _bands(cover: np.ndarray, level: float, width: int) -> list[tuple[int, int]]:
    """Runs of rows whose cover reaches ``level``, no thicker than ``MAX_THICKNESS`` of the width."""
    strong = np.concatenate([[False], cover >= level, [False]])
    edges = np.flatnonzero(np.diff(strong.astype(np.int8)))
    bands = []
    for first, stop in zip(edges[::2], edges[1::2]):
        if stop - first <= max(3, MAX_THICKNESS * width):
            bands.append((int(first), int(stop) - 1))
    return bands


def _band_pixels(mask: np.ndarray, first: int, last: int, slope: float) -> np.ndarray:
    """The band's pixels (one pixel of margin each side) in columns where no stroke crosses it."""
    height, width = mask.shape
    xs = np.arange(width)
    offsets = xs * slope
    gap = last - first + 3  # look this far beyond the band's edges for the strokes that cross it

    def ink_at(row_offset: float) -> np.ndarray:
        rows = np.round(row_offset + offsets).astype(np.int64)
        inside = (rows >= 0) & (rows < height)
        found = np.zeros(width, dtype=bool)
        found[inside] = mask[rows[inside], xs[inside]]
        return found

    # a slanted stroke is found a few columns aside: widen what is seen above and below
    above = ndimage.maximum_filter1d(ink_at(first - gap) | ink_at(first - gap - 1), 2 * gap + 1)
    below = ndimage.maximum_filter1d(ink_at(last + gap) | ink_at(last + gap + 1), 2 * gap + 1)
    lonely = ~(above & below)
    removed = np.zeros_like(mask)
    for row in range(first - 1, last + 2):
        rows = np.round(row + offsets).astype(np.int64)
        take = lonely & (rows >= 0) & (rows < height)
        removed[rows[take], xs[take]] = True
    return removed & mask
