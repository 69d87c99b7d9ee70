"""Paper, light and ink: from a photo's colour channels to an ink map (white ink on black, in [0, 1]).

The paper's brightness is estimated by a grey *closing* (a running maximum, then a running minimum) much
wider than a pen stroke: the strokes vanish from it, while vignetting, a shadow's edge or a dark corner (all
wider than the window, or monotone across it) are kept. Ink is then the fraction of light it takes away,
``1 - pixel / paper``, so a stroke in shadow is as strong as one in the light and the shadow itself is no ink.

Which way the ink goes (dark on light, or light on dark) is decided by the ink candidates: the pixels that
deviate strongly from their neighbourhood's median, on either side. Screen captures have their background
below the median brightness, paper above it; the side with the stronger sparse deviation wins, and a near tie
goes to the side the background's brightness suggests. The frame's extremes (a dark corner, a hotspot) never
decide alone.

Colour inks are measured on the channel with the most contrast: dark ink on the darkest channel of each pixel
(blue ballpoint is dark in red, red pen in green and blue), light ink on the brightest one.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

NARROW_FRACTION = 1 / 16  # the paper windows: narrower than a shadow band, wider than a pen stroke ...
WIDE_FRACTION = 1 / 5  # ... and wider than a marker's stroke on a big digit
THICK_INK = 0.4  # ink the narrow window misses counts where it is this strong relative to the strokes
THICK_FLOOR = 0.1  # ... and at least this strong (a shadow on a blank page is no marker)
FLAT_PAPER = 0.04  # when most pixels (FLAT_SHARE) lie within this range, the paper (or screen) is evenly lit:
FLAT_SHARE = 0.6  # one paper level is used, whatever the strokes' width
EDGES_SEEN = 0.4  # ... and the narrow window sees at least this much of it (a stroke's edges)
MIN_WINDOW = 15
POLARITY_SIDE = 32  # the neighbourhood medians for the polarity vote are taken at this size
TIE_MARGIN = 1.6  # a deviation stronger by less than this factor is a tie, settled by the background's brightness


def closing_background(channel: np.ndarray, window: int) -> np.ndarray:
    """The paper under dark ink: a grey closing with a ``window``-wide square, lightly smoothed.

    scipy's running max/min filters cost the same for any window, so this stays cheap at full work size. The
    picture is padded by repeating its edge first: light that falls off toward the frame (vignetting) is then
    followed to the edge instead of being filled in as if the frame were a valley.
    """
    pad = window // 2 + 1
    smooth = np.pad(ndimage.uniform_filter(channel, 3), pad, mode="edge")  # noise would bias the maximum up
    grown = ndimage.maximum_filter1d(ndimage.maximum_filter1d(smooth, window, axis=0), window, axis=1)
    closed = ndimage.minimum_filter1d(ndimage.minimum_filter1d(grown, window, axis=0), window, axis=1)
    return ndimage.uniform_filter(closed, 3)[pad:-pad, pad:-pad]  # smoothing more would blur shadow edges


def opening_background(channel: np.ndarray, window: int) -> np.ndarray:
    """The screen under light ink: a grey opening (the closing of the negative)."""
    return 1.0 - closing_background(1.0 - channel, window)


def paper_windows(shape: tuple[int, int]) -> tuple[int, int]:
    """A narrow window (follows shadow bands; holds pen strokes) and a wide one (holds marker strokes)."""
    side = max(shape)
    return (max(MIN_WINDOW, int(round(side * NARROW_FRACTION)) | 1),
            max(MIN_WINDOW, int(round(side * WIDE_FRACTION)) | 1))


def dark_ink(darkest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ink as the light it absorbs (``1 - pixel / paper``) and the paper map it was measured against."""
    return _ink(darkest, closing_background, lambda c, p: 1.0 - c / np.maximum(p, 0.02))


def light_ink(brightest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Light ink on a dark screen: the rise above the background, scaled by the headroom left above it."""
    return _ink(brightest, opening_background, lambda c, s: (c - s) / np.maximum(1.0 - s, 0.25))


def _ink(channel: np.ndarray, background, contrast) -> tuple[np.ndarray, np.ndarray]:
    """The ink of ``channel`` against its ``background`` (closing or opening), measured by ``contrast``.

    Evenly lit pictures (scans, screens, drawings) are measured against one paper level, whatever their
    strokes' width. Otherwise the paper is followed with a narrow window, and a wide one adds thick strokes.
    """
    sample = channel[::3, ::3]
    typical = float(np.median(sample))
    if np.mean(np.abs(sample - typical) < FLAT_PAPER / 2) >= FLAT_SHARE:
        level = np.full_like(channel, typical)
        return _calibrated(contrast(channel, level)), level
    narrow_window, wide_window = paper_windows(channel.shape)
    papers = [_at_reduced_size(channel, narrow_window, background, 2),
              _at_reduced_size(channel, wide_window, background, 4)]
    narrow = _calibrated(contrast(channel, papers[0]))
    return _thick_strokes_kept([narrow, _calibrated(contrast(channel, papers[1]))], papers)


def _at_reduced_size(channel: np.ndarray, window: int, background, factor: int) -> np.ndarray:
    """``background(channel, window)`` computed at 1/``factor`` of the size and stretched back.

    The reduction keeps the paper's side of each block (its brightest pixel under dark ink, its darkest
    under light ink), so a thin stroke cannot leak into the paper estimate.
    """
    height, width = channel.shape
    if min(height, width) < 32 * factor:
        return background(channel, window)
    blocks = channel[: height // factor * factor, : width // factor * factor]
    blocks = blocks.reshape(height // factor, factor, width // factor, factor)
    pool = np.max if background is closing_background else np.min
    small = background(pool(pool(blocks, axis=3), axis=1), max(MIN_WINDOW // factor, window // factor) | 1)
    stretched = Image.fromarray(small.astype(np.float32), "F").resize((width, height), Image.Resampling.BILINEAR)
    # the pooling and the stretch moved each edge of the light up to a block into the shade: move it back
    pull_back = ndimage.minimum_filter if background is closing_background else ndimage.maximum_filter
    return pull_back(np.asarray(stretched, dtype=np.float32), size=2 * factor + 1)


def _calibrated(ink: np.ndarray) -> np.ndarray:
    """Ink in [0, 1] with the paper at 0: a closing's running maximum sits a little above noisy paper, so
    the paper's typical ink (the median: most pixels are paper) is taken away."""
    return np.clip(ink - float(np.median(ink[::3, ::3])), 0.0, 1.0).astype(np.float32)


def _thick_strokes_kept(inks: list[np.ndarray], papers: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The narrow window's ink, plus the wide window's where it is a thick stroke rather than a shadow.

    Wider than the narrow window are a marker's strokes and shadow bands. A marker's stroke is as dark as
    the edges of the stroke that the narrow window does see, and those edges fill much of it; a shadow band
    is lighter than ink and the narrow window, which follows its edges, sees nothing in it.
    """
    narrow, wide = inks
    strokes = float(np.percentile(narrow[::2, ::2], 99.8))
    candidates = wide >= max(THICK_INK * strokes, THICK_FLOOR)
    thick = np.zeros_like(candidates)
    if candidates.any() and strokes >= 2 * THICK_FLOOR:  # no strokes at all: nothing thick either
        labels, count = ndimage.label(candidates)
        index = np.arange(1, count + 1)
        seen = ndimage.mean(narrow, labels, index) >= EDGES_SEEN * ndimage.mean(wide, labels, index)
        thick = np.concatenate([[False], seen])[labels]
    ink = np.where(thick, np.maximum(narrow, wide), narrow)
    paper = np.where(thick, papers[1], papers[0])
    return ink.astype(np.float32), paper.astype(np.float32)


def ink_is_dark(darkest: np.ndarray, brightest: np.ndarray, noise: float) -> bool:
    """Decide the polarity from the sparse, strongly deviating pixels on each side.

    Strength on a side: the mean of its strongest 0.5 % deviations (the ink of a digit covers a few percent of
    a photo) from both the local median and a grey closing (opening) as wide as a stroke window: a glare spot,
    a dark corner or a shadow is wider than that and deviates from neither.
    """
    darkest, brightest = darkest[::2, ::2], brightest[::2, ::2]  # plenty of pixels to vote
    window = max(3, paper_windows(darkest.shape)[0] | 1)
    # A candidate stands out from its neighbourhood's median (so the paper inside a 0's loop is not light
    # ink) and is narrower than a stroke window (so a glare spot or the lit middle of a vignetted page is not)
    dark_dev = np.minimum(_local_median(darkest), closing_background(darkest, window)) - darkest
    light_dev = brightest - np.maximum(_local_median(brightest), opening_background(brightest, window))
    dark, light = _sparse_strength(dark_dev, noise), _sparse_strength(light_dev, noise)
    background = float(np.median(darkest + brightest) / 2)
    if dark > TIE_MARGIN * light:
        return True
    if light > TIE_MARGIN * dark:
        return False
    return background >= 0.5  # a near tie: paper is light, screens are dark


def _local_median(channel: np.ndarray) -> np.ndarray:
    """The median of a wide neighbourhood (computed on a small copy, then stretched back)."""
    height, width = channel.shape
    factor = max(1.0, max(height, width) / POLARITY_SIDE)
    size = (max(1, round(width / factor)), max(1, round(height / factor)))
    small = np.asarray(Image.fromarray(channel.astype(np.float32), "F").resize(size, Image.Resampling.BOX))
    median = ndimage.median_filter(small, size=max(3, (max(small.shape) // 4) | 1), mode="nearest")
    rows = np.minimum((np.arange(height) * small.shape[0]) // height, small.shape[0] - 1)
    cols = np.minimum((np.arange(width) * small.shape[1]) // width, small.shape[1] - 1)
    return median[rows[:, None], cols[None, :]]


def _sparse_strength(deviation: np.ndarray, noise: float) -> float:
    values = deviation.ravel()
    count = max(5, int(0.005 * values.size))
    top = np.partition(values, values.size - count)[values.size - count:] if values.size > count else values
    return max(float(top.mean()) - 2 * noise, 0.0)
