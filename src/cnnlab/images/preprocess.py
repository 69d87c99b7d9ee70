"""Any photo or drawing -> the 28x28 image the model was trained on, the way MNIST's makers made theirs.

The pipeline (``style="digits"``)::

    decode (EXIF-rotated; a big JPEG decoded at a reduced size)  ->  at most 640 px, darkest and brightest
    channel of each pixel (colour inks show best there); a transparent drawing's alpha is its ink
    -> polarity from the ink candidates (background.py)  ->  paper from a wide grey closing, ink = 1 - pixel/paper
    -> ink mask (noise- and strength-relative)  ->  ruled / squared / margin lines removed (lines.py)
    -> the digit's parts chosen by shape and position (parts.py), crop to them
    -> scale the longest side to 80 px  ->  stroke width toward MNIST's, both ways (strokes.py)
    -> scale the longest side to 20 px (anti-aliased)  ->  place in 28x28 by the centre of mass

Each new step can be switched off with ``skip=`` (the benchmark's ablation): the step then falls back to what
the pipeline did before it existed.

``style="fashion"`` (Fashion-MNIST runs) keeps the grey levels of the object, scales its longest side to 28
px and centres it by its bounding box, with no stroke thickening: that is how Fashion-MNIST was made.

Example:
    >>> prepared = preprocess_image("photos/7_kitchen.jpg")  # doctest: +SKIP
    >>> prepared.pixels.shape, prepared.model_input.shape
    ((28, 28), (28, 28, 1))
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Collection

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

from cnnlab.errors import DataError
from cnnlab.images.background import dark_ink, ink_is_dark, light_ink
from cnnlab.images.lines import remove_lines
from cnnlab.images.parts import choose_digit
from cnnlab.images.strokes import normalize_width

STYLES = ("digits", "fashion")
# The steps ``skip`` may switch off: the paper by closing, polarity from ink candidates, colour channels,
# alpha as ink, line removal, choosing the digit by shape, stroke thinning.
STEPS = ("background", "polarity", "colour", "alpha", "lines", "select", "strokes")
WORK_SIDE = 640  # analyse photos at most this big: enough for a digit, fast for a 12-megapixel photo
MID_SIDE = 80  # the crop is reshaped at 4x the final size, where strokes are thickened precisely
DIGIT_BOX = 20  # MNIST: the digit's longest side, in a 28x28 frame
FRAME = 28
MIN_BLOCKS_ACROSS = 4  # a cubic paper surface needs at least this many blocks along each side
MIN_CONTRAST = 0.08  # ink must differ from the paper by 8 % of the paper's brightness (or of full range)
LOW_INK = 0.04  # the ink mask takes pixels this far above the paper (and above the noise) ...
LOW_OF_PEAK = 0.1  # ... and above this fraction of the strongest ink
UNIFORM_COLOUR = 0.08  # a drawing whose opaque pixels vary less than this in brightness: its alpha is the ink


class ImageError(DataError):
    """An input that is not an image cnnlab can use (unreadable, too large)."""


class ImageTooLargeError(ImageError):
    """The image has more pixels than cnnlab decodes (a limit, or Pillow's guard against decompression bombs)."""


class BlankImageError(ImageError):
    """The image has no ink: it is blank or uniform, so any prediction would be a guess."""


@dataclass(frozen=True)
class PreparedImage:
    """What the model sees: ``pixels`` (28x28 uint8, white ink on black), ``model_input`` (the same pixels as
    the model takes them: float32 (28, 28, 1), values 0..255) and ``preview`` (the pixels as a PIL 'L' image).

    ``details`` holds numbers (JSON-safe): what was removed (``line_pixels``, ``dropped_parts``,
    ``shadow_depth``: how much darker the darkest paper is than the brightest), the stroke-width change.
    ``removed`` holds the masks behind them at the working size (``work``: the picture, ``paper``: the light
    map, ``lines``, ``dropped``, ``digit``), for ``explain.explain_image``.
    """

    pixels: np.ndarray
    model_input: np.ndarray
    preview: Image.Image
    inverted: bool  # the source was dark ink on light paper
    bbox: tuple[int, int, int, int]  # (left, top, right, bottom) of the ink in source pixels
    details: dict[str, Any] = field(default_factory=dict)
    removed: dict[str, np.ndarray] = field(default_factory=dict, repr=False)


def preprocess_image(source: Any, *, style: str = "digits", max_side: int | None = None,
                     skip: Collection[str] = ()) -> PreparedImage:
    """Turn a photo or drawing into an MNIST-style 28x28 image (and the model's input).

    Args:
        source: a path, the file's bytes, a PIL image or a numpy array (2-D grey, or H x W x 3/4).
        style: ``"digits"`` (MNIST) or ``"fashion"`` (Fashion-MNIST: bounding-box centring, no thickening).
        max_side: refuse images wider or taller than this, checked before the pixels are decoded.
        skip: steps of ``STEPS`` to switch off (for measuring what each one brings).

    Returns:
        a ``PreparedImage``. Raises ``ImageError`` for unreadable or oversized input and
        ``BlankImageError`` when there is no ink to see.
    """
    if style not in STYLES:
        raise ImageError(f"unknown preprocessing style {style!r}; use digits or fashion")
    unknown = set(skip) - set(STEPS)
    if unknown:
        raise ImageError(f"unknown preprocessing step(s) {sorted(unknown)}; choose from {', '.join(STEPS)}")
    image = load_image(source, max_side, reduce_to=WORK_SIDE if style == "digits" else None)
    if style == "fashion":
        grey = to_grey(image)
        work, scale = _shrink(grey, WORK_SIDE)
        ink, inverted, noise = ink_strength(work)
        pixels, box = _fashion(ink, noise)
        return _prepared(pixels, inverted, box, scale, {"style": style, "noise": float(noise)}, {})
    source_side = _source_side(image)
    ink, inverted, noise, removed, details = _digit_ink(image, set(skip))
    scale = max(ink.shape) / source_side
    pixels, box, found = _digits(ink, noise, set(skip))
    removed.update(found.pop("masks"))
    details.update(found, style=style, noise=float(noise))
    return _prepared(pixels, inverted, box, scale, details, removed)


def _prepared(pixels, inverted, box, scale, details, removed) -> PreparedImage:
    left, top, right, bottom = (int(round(v / scale)) for v in box)
    model_input = pixels.astype(np.float32)[..., np.newaxis]  # raw pixels: the model normalizes them itself
    return PreparedImage(pixels, model_input, Image.fromarray(pixels, "L"), inverted, (left, top, right, bottom),
                         details, removed)


def _source_side(image: Image.Image) -> float:
    """The longest side of the source before any reduced decoding (for the bounding box in source pixels)."""
    return max(image.size) / image.info.get("cnnlab_reduced", 1.0)


def _digit_ink(image: Image.Image, skip: set[str]) -> tuple[np.ndarray, bool, float, dict, dict]:
    """The ink map at the working size, the polarity, its noise, the maps behind it and their numbers."""
    alpha = None if "alpha" in skip else alpha_ink(image)
    if alpha is not None:
        ink, _ = _shrink(alpha, WORK_SIDE)
        ink = ink.astype(np.float32)
        return ink, False, _noise_level(ink), {"work": 1.0 - ink}, {"alpha_as_ink": True}
    image = _shrink_image(image, WORK_SIDE)
    if "colour" in skip:
        darkest = brightest = grey = to_grey(image)
    else:
        darkest, brightest = extreme_channels(image)
        grey = (darkest + brightest) / 2
    noise = _noise_level(grey)
    if "polarity" in skip:
        inverted = _extremes_say_dark(grey)
    else:
        inverted = ink_is_dark(darkest, brightest, noise)
    if "background" in skip:
        ink, _, _ = ink_strength(darkest if inverted else brightest, inverted)
        paper = np.full_like(grey, float(np.median(grey)))
    elif inverted:
        ink, paper = dark_ink(darkest)
    else:
        ink, paper = light_ink(brightest)
    depth = float(np.percentile(paper, 99) - np.percentile(paper, 1))
    return ink, inverted, _noise_level(ink), {"work": grey, "paper": paper}, {"shadow_depth": round(depth, 4)}


# -------------------------------------------------------------------- decoding


def load_image(source: Any, max_side: int | None = None, reduce_to: int | None = None) -> Image.Image:
    """Open ``source`` as a PIL image (first frame, EXIF orientation applied), checking its size first.

    ``reduce_to``: a JPEG may be decoded at 1/2, 1/4 or 1/8 of its size (Pillow's ``draft``), as long as both
    sides stay at least this long: a 12-megapixel photo then costs a fraction of its full decode.

    Whatever the bytes are, the answer is an image in a mode ``to_grey`` reads or an ``ImageError``: a file
    that Pillow's decoders choke on (any exception inside them) is damaged data, and Pillow's own limits
    (decompression bombs, oversized text chunks) are refusals, not crashes.
    """
    if isinstance(source, Image.Image):
        image = source
    elif isinstance(source, np.ndarray):
        return _from_array(source)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageError("the image is empty (0 bytes); send a PNG, JPEG, BMP or GIF file")
        image = _open(io.BytesIO(bytes(source)), "the uploaded data")
    elif isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise ImageError(f"{path}: no such file; pass an image file or a folder of images")
        try:
            with open(path, "rb") as file:  # read here, so an unreadable file is named as such, not "damaged"
                data = file.read()
        except OSError as err:
            raise ImageError(f"{path}: cannot read the file ({err.strerror or err}); check its permissions") from None
        if not data:
            raise ImageError(f"{path}: the file is empty; pass a PNG, JPEG, BMP or GIF image")
        image = _open(io.BytesIO(data), path)
    else:
        raise ImageError(f"cannot read an image from a {type(source).__name__}; pass a path, bytes, PIL image or array")
    width, height = image.size  # from the header: nothing decoded yet
    if width < 1 or height < 1:
        raise ImageError("the image has no pixels")
    if max_side is not None and max(width, height) > max_side:
        raise ImageTooLargeError(f"the image is {width}x{height}; the limit is {max_side}x{max_side} pixels, "
                                 "scale it down")
    # Checked here as well as by Pillow's warning: warning filters are process-wide and not thread-safe
    if Image.MAX_IMAGE_PIXELS and width * height > Image.MAX_IMAGE_PIXELS:
        raise _bomb(width, height)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Corrupt EXIF data" and the like: the pixels decide
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                image.seek(0)  # GIF, TIFF: the first frame
            except (AttributeError, EOFError):
                pass
            if reduce_to and image.format == "JPEG" and image.mode in ("L", "RGB"):
                image.draft(image.mode, (reduce_to, reduce_to))
            image.load()
            reduced = image.size[0] / width
            image = ImageOps.exif_transpose(image) or image
            image = _readable_mode(image)
            image.info["cnnlab_reduced"] = reduced  # decoded size / stored size, for boxes in source pixels
            return image
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _bomb(width, height) from None
    except MemoryError:
        raise ImageTooLargeError(f"the image ({width}x{height}) needs more memory to decode than there is; "
                                 "scale it down") from None
    except Exception as err:  # hostile bytes can make a decoder raise anything: all of it is damaged data
        raise ImageError(f"the image data is damaged ({_reason(err)}); re-save it as PNG or JPEG") from None


# What Pillow may open: the formats cnnlab documents. Others (EPS runs Ghostscript, PSD, FITS, ...) are
# more decoder code reachable from an upload, for no use.
FORMATS = ("PNG", "JPEG", "BMP", "DIB", "GIF", "TIFF", "WEBP", "PPM")
READABLE_MODES = ("L", "LA", "RGB", "RGBA", "P", "I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def _open(fp, name: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(fp, formats=FORMATS)
    except UnidentifiedImageError:
        raise ImageError(f"{name} is not an image cnnlab reads; use PNG, JPEG, BMP, GIF, TIFF, WebP or PNM") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLargeError(f"{name} has too many pixels to decode safely; scale it down") from None
    except MemoryError:
        raise ImageTooLargeError(f"{name} needs more memory to open than there is; scale it down") from None
    except Exception as err:  # e.g. ValueError for a PNG text chunk past Pillow's limit, or a 2-byte Netpbm header
        raise ImageError(f"{name} is a damaged image ({_reason(err)}); re-save it as PNG or JPEG") from None


def _readable_mode(image: Image.Image) -> Image.Image:
    """The image in a mode ``to_grey`` reads (CMYK, YCbCr, LAB, 1, ... are converted here, while errors are
    still decoding errors)."""
    if image.mode in READABLE_MODES:
        return image
    return image.convert("RGBA" if "A" in image.mode else "RGB")


def _bomb(width: int, height: int) -> ImageTooLargeError:
    return ImageTooLargeError(f"the image is {width}x{height} pixels, too many to decode safely; scale it down")


def _reason(err: Exception) -> str:
    """An exception as a short phrase for a one-line message."""
    text = " ".join(str(err).split())[:120]
    return text or type(err).__name__


def _from_array(array: np.ndarray) -> Image.Image:
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)) or array.size == 0:
        raise ImageError(f"an image array must be H x W or H x W x 3/4, not {array.shape}")
    if array.dtype.kind not in "biuf":
        raise ImageError(f"an image array must hold numbers, not {array.dtype}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ImageError("the image array holds NaN or infinite values; pass finite pixel values")
    if array.dtype == np.uint8:
        return Image.fromarray(array)
    if array.ndim == 2 and array.dtype == np.uint16:
        return Image.fromarray(array)  # mode I;16
    values = array.astype(np.float64)
    top = 255.0 if values.max() > 1.0 else 1.0  # floats in [0, 1] or in [0, 255]
    return Image.fromarray(np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8))


def to_grey(image: Image.Image) -> np.ndarray:
    """Luminance in [0, 1] as float32; transparency is flattened onto a backdrop that contrasts with the ink."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or values.max() > 255 else 255.0
        if mode == "F" and values.max() <= 1.0:
            top = 1.0
        return np.clip(values / top, 0, 1).astype(np.float32)
    if mode == "P":
        image = image.convert("RGBA")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in mode else "RGB")
    if image.mode in ("LA", "RGBA"):
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
        alpha = rgba[..., 3]
        grey = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        if alpha.min() < 1.0:
            # Drawn strokes on a transparent canvas: put them on the backdrop opposite to their own colour.
            weight = alpha.sum()
            mean_ink = float((grey * alpha).sum() / weight) if weight > 0 else 0.0
            backdrop = 0.0 if mean_ink > 0.5 else 1.0
            grey = grey * alpha + backdrop * (1.0 - alpha)
        return grey.astype(np.float32)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def extreme_channels(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """The darkest and the brightest channel of each pixel, in [0, 1] (both the grey level for grey images).

    Coloured ink stands out most in its darkest channel on paper (blue ballpoint in red, red pen in green and
    blue) and in its brightest one on a dark screen. Transparency is flattened as ``to_grey`` does.
    """
    if image.mode not in ("RGB", "RGBA", "P") or image.mode == "RGBA" and _has_transparency(image):
        grey = to_grey(image)
        return grey, grey
    red, green, blue = (np.asarray(band) for band in image.convert("RGB").split())
    # elementwise over three planes: far faster than a reduction along a 3-long last axis
    darkest = np.minimum(np.minimum(red, green), blue).astype(np.float32) / 255.0
    brightest = np.maximum(np.maximum(red, green), blue).astype(np.float32) / 255.0
    return darkest, brightest


def alpha_ink(image: Image.Image) -> np.ndarray | None:
    """A transparent drawing's alpha as ink in [0, 1], when its opaque pixels all have about one colour
    (strokes on a transparent canvas: the colour says nothing, the alpha is the drawing); else None."""
    if image.mode not in ("LA", "RGBA", "PA") and not (image.mode == "P" and "transparency" in image.info):
        return None
    rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
    alpha = rgba[..., 3]
    if alpha.min() > 0.5 or alpha.max() < 0.5:
        return None  # opaque (a photo saved with alpha) or invisible
    grey = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    opaque = grey[alpha > 0.5]
    if float(np.percentile(opaque, 95) - np.percentile(opaque, 5)) > UNIFORM_COLOUR:
        return None  # a coloured picture with holes: its colours carry the drawing
    return alpha


def _has_transparency(image: Image.Image) -> bool:
    return bool(np.asarray(image.getchannel("A")).min() < 255)


def _shrink_image(image: Image.Image, side: int) -> Image.Image:
    """A colour (or grey) image area-averaged down so its longest side is at most ``side``."""
    if max(image.size) <= side or image.mode not in ("L", "RGB"):
        return image
    scale = side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BOX)


def _shrink(grey: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    """Area-average down so the longest side is at most ``side``; returns the image and the scale used."""
    height, width = grey.shape
    longest = max(height, width)
    if longest <= side:
        return grey, 1.0
    scale = side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = Image.fromarray(grey, "F").resize(size, Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32), scale


# -------------------------------------------------------------------- paper and ink


def _extremes_say_dark(grey: np.ndarray) -> bool:
    """The polarity as the pipeline decided it before ``background.ink_is_dark``: by the frame's extremes."""
    background_level = float(np.median(grey))
    darker = background_level - float(np.percentile(grey, 0.5))
    lighter = float(np.percentile(grey, 99.5)) - background_level
    return darker > lighter  # the ink lies further below the paper than above it


def ink_strength(grey: np.ndarray, inverted: bool | None = None) -> tuple[np.ndarray, bool, float]:
    """Ink in [0, 1] (white ink on black) with the lighting evened out; also whether the source was
    dark-on-light, and the noise level (robust std) of the result.

    Dark ink on paper is measured as the fraction of light it absorbs, ``1 - pixel / paper``, where
    ``paper`` is a smooth surface fitted to the paper only: so a shadow dims the paper and the ink alike
    and the ink keeps its strength. Light ink on a dark screen is measured as ``pixel - background``.
    """
    if inverted is None:
        inverted = _extremes_say_dark(grey)
    if inverted:
        paper = _background_surface(grey, ink_is_dark=True)
        ink = 1.0 - grey / np.maximum(paper, 1e-3)
    else:
        ink = grey - _background_surface(grey, ink_is_dark=False)
    return np.clip(ink, 0.0, 1.0).astype(np.float32), inverted, _noise_level(ink)


def _noise_level(image: np.ndarray) -> float:
    """Pixel noise (std) from neighbour differences: robust to how much of the image is ink."""
    if min(image.shape) < 2:
        return 0.0
    # every third row and column: plenty of pairs, a third of the work
    steps = np.concatenate([np.diff(image[:, ::3], axis=0).ravel(), np.diff(image[::3], axis=1).ravel()])
    return 1.4826 * float(np.median(np.abs(steps))) / np.sqrt(2.0)


def _background_surface(grey: np.ndarray, ink_is_dark: bool, degree: int = 3) -> np.ndarray:
    """A smooth polynomial surface through the paper (or screen), fitted robustly so the ink is ignored.

    Samples: one value a block (a low or high percentile, whichever side the ink is not on), then a
    least-squares fit that drops blocks lying on the ink's side of the surface and refits.
    """
    height, width = grey.shape
    block = max(1, max(height, width) // 48)
    rows, cols = height // block, width // block
    # A small image (a drawing, a scan) or a narrow strip has too few blocks across to fit a cubic surface
    # to: treat the paper as flat.
    if max(height, width) < 64 or min(rows, cols) < MIN_BLOCKS_ACROSS:
        value = np.percentile(grey, 75 if ink_is_dark else 25)
        return np.full_like(grey, value)
    blocks = grey[:rows * block, :cols * block].reshape(rows, block, cols, block)
    samples = np.percentile(blocks, 75 if ink_is_dark else 25, axis=(1, 3)).ravel()
    y, x = np.mgrid[0:rows, 0:cols]
    y = ((y + 0.5) * block / height * 2 - 1).ravel()
    x = ((x + 0.5) * block / width * 2 - 1).ravel()
    powers = [(i, d - i) for d in range(degree + 1) for i in range(d + 1)]  # (power of x, power of y)
    terms = np.stack([x ** i * y ** j for i, j in powers], axis=1)
    keep = np.ones(len(samples), dtype=bool)
    for _ in range(4):
        chosen = terms[keep]
        # normal equations: a 10x10 solve, far cheaper than a general least-squares call
        coef = np.linalg.solve(chosen.T @ chosen + 1e-6 * np.eye(len(powers)), chosen.T @ samples[keep])
        residual = samples - terms @ coef
        spread = 1.4826 * np.median(np.abs(residual[keep])) + 1e-3
        ink_side = -residual if ink_is_dark else residual
        keep = ink_side < 2.5 * spread
        if keep.sum() < len(powers) * 3:
            break
    gx = (np.arange(width) + 0.5) / width * 2 - 1
    gy = (np.arange(height) + 0.5) / height * 2 - 1
    surface = sum(c * np.outer(gy ** j, gx ** i) for c, (i, j) in zip(coef, powers))  # separable terms
    return np.asarray(surface, dtype=np.float32)


def _smoothed(ink: np.ndarray, noise: float) -> tuple[np.ndarray, float, float]:
    """The ink lightly smoothed (so pixel noise is not ink), its noise and its peak; refuses a blank image."""
    smooth = ndimage.gaussian_filter(ink, 1.0)
    smooth_noise = max(noise / 3.5, 1e-4)  # a sigma-1 Gaussian averages about 12 pixels
    peak = float(smooth.max())
    if peak < MIN_CONTRAST or peak < 6 * smooth_noise:
        raise BlankImageError("the image has no ink (it is blank or uniform); draw or photograph a digit, "
                              "dark on light or light on dark")
    return smooth, smooth_noise, peak


def _ink_mask(ink: np.ndarray, noise: float) -> tuple[np.ndarray, float]:
    """Where the ink is, and the ink's typical strength."""
    smooth, smooth_noise, peak = _smoothed(ink, noise)
    return smooth > max(4 * smooth_noise, 0.3 * peak), peak


def _select_parts(mask: np.ndarray) -> np.ndarray:
    """Keep the digit's connected parts: drop specks, and drop ruled lines / paper edges along the border."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    if count == 0:
        raise BlankImageError("the image has no ink (it is blank or uniform); draw or photograph a digit")
    height, width = mask.shape
    index = np.arange(1, count + 1)
    areas = ndimage.sum(mask, labels, index)
    slices = ndimage.find_objects(labels)
    extents = np.array([max(s[0].stop - s[0].start, s[1].stop - s[1].start) for s in slices])
    on_border = np.array([s[0].start == 0 or s[1].start == 0 or s[0].stop == height or s[1].stop == width
                          for s in slices])
    spans = np.array([(s[0].stop - s[0].start) >= 0.9 * height or (s[1].stop - s[1].start) >= 0.9 * width
                      for s in slices])
    edge_like = on_border & spans
    # a border-spanning part is a ruled line or the paper's edge, unless it is all there is to see
    inner = ~edge_like
    if inner.any() and extents[inner].max() >= 0.05 * max(height, width):
        candidates = inner
    else:
        candidates = np.ones(count, dtype=bool)
    main = int(np.argmax(np.where(candidates, areas, -1)))
    main_slice = slices[main]
    pad_y = 0.3 * (main_slice[0].stop - main_slice[0].start)
    pad_x = 0.3 * (main_slice[1].stop - main_slice[1].start)
    keep = np.zeros(count + 1, dtype=bool)
    for i in np.flatnonzero(candidates):
        s = slices[i]
        near = (s[0].start >= main_slice[0].start - pad_y and s[0].stop <= main_slice[0].stop + pad_y
                and s[1].start >= main_slice[1].start - pad_x and s[1].stop <= main_slice[1].stop + pad_x)
        if areas[i] >= 0.1 * areas[main] or (near and areas[i] >= 0.01 * areas[main]):
            keep[i + 1] = True
    return keep[labels]


# -------------------------------------------------------------------- digits


def _digits(ink: np.ndarray, noise: float, skip: set[str]) -> tuple[np.ndarray, tuple, dict[str, Any]]:
    """The 28x28 digit from the ink map, its box in ink-map pixels, and what was removed on the way."""
    smooth, smooth_noise, peak = _smoothed(ink, noise)
    if "select" in skip:
        mask = smooth > max(4 * smooth_noise, 0.3 * peak)
    else:  # relative to the noise and the digit's own strength, so faint pencil next to a dark blot stays
        threshold = max(4 * smooth_noise, LOW_INK, LOW_OF_PEAK * float(np.percentile(smooth[::2, ::2], 99.9)))
        mask = smooth > threshold
    lines = np.zeros_like(mask)
    if "lines" not in skip:
        line_level = max(0.5 * float(smooth[mask].min()) if mask.any() else 0.0, 2.5 * smooth_noise)
        cleaned, lines = remove_lines(mask, smooth, line_level)
        if cleaned.sum() >= max(20, 0.02 * mask.sum()):  # else the "line" was all there is: a 1, say
            mask = cleaned
        else:
            lines = np.zeros_like(mask)
    if "select" in skip:
        parts, dropped = _select_parts(mask), np.zeros_like(mask)
        dropped = mask & ~parts
    else:
        parts, dropped = choose_digit(mask, smooth)
    # the digit must stand out from the paper as a whole, not as a cluster of the noise's peaks, and not be
    # the remains of a shadow's edge from one side of the frame to the other
    if not parts.any() or float(np.percentile(smooth[parts], 90)) < MIN_CONTRAST or _frame_wide(parts):
        raise BlankImageError("the image has no ink (it is blank or uniform); draw or photograph a digit")
    strength = float(np.percentile(ink[parts], 90))  # cores of strokes saturate, as in MNIST
    floor = min(2 * noise, 0.5 * strength)
    values = np.clip((ink - floor) / max(strength - floor, 1e-3), 0, 1)
    near = ndimage.binary_dilation(parts, iterations=2)
    values[~near | (ndimage.binary_dilation(lines) & ~parts)] = 0  # nothing outside the digit's own parts
    top, bottom, left, right = _bounds(values > 0.02)
    mid = _resize_longest(values[top:bottom, left:right], MID_SIDE)
    mid, change = normalize_width(mid, thin="strokes" not in skip)
    box = _resize_longest(mid, DIGIT_BOX)
    _, dropped_parts = ndimage.label(dropped)
    found = {"line_pixels": int(lines.sum()), "dropped_parts": int(dropped_parts),
             "stroke_change": round(float(change) / MID_SIDE, 4),
             "masks": {"lines": lines, "dropped": dropped, "digit": parts}}
    return _place_by_mass(box), (left, top, right, bottom), found


def _frame_wide(parts: np.ndarray) -> bool:
    """Ink from one edge of a photo to the opposite one, sparse in its box: light's remains, not a digit."""
    if min(parts.shape) < 64:
        return False
    top, bottom, left, right = _bounds(parts)
    height, width = parts.shape
    across = (left == 0 and right == width) or (top == 0 and bottom == height)
    return across and parts.sum() < 0.5 * (bottom - top) * (right - left)


def _place_by_mass(box: np.ndarray) -> np.ndarray:
    """Put the 20-px digit in a 28x28 frame so its centre of mass is the frame's centre (kept inside)."""
    frame = np.zeros((FRAME, FRAME), dtype=np.float32)
    height, width = box.shape
    cy, cx = ndimage.center_of_mass(box) if box.sum() > 0 else (height / 2, width / 2)
    top = int(np.clip(round(FRAME / 2 - cy), 0, FRAME - height))
    left = int(np.clip(round(FRAME / 2 - cx), 0, FRAME - width))
    frame[top:top + height, left:left + width] = box
    return _to_uint8(frame)


# -------------------------------------------------------------------- fashion


def _fashion(ink: np.ndarray, noise: float) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    mask, _ = _ink_mask(ink, noise)
    parts = _select_parts(mask)
    top, bottom, left, right = _bounds(parts)
    crop = ink[top:bottom, left:right]
    level = float(np.percentile(ink[parts], 99.5))
    crop = np.clip((crop - 2 * noise) / max(level - 2 * noise, 1e-3), 0, 1)  # keep the grey levels
    box = _resize_longest(crop, FRAME)
    frame = np.zeros((FRAME, FRAME), dtype=np.float32)
    height, width = box.shape
    top_, left_ = (FRAME - height) // 2, (FRAME - width) // 2
    frame[top_:top_ + height, left_:left_ + width] = box
    return _to_uint8(frame), (left, top, right, bottom)


# -------------------------------------------------------------------- helpers


def _bounds(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        raise BlankImageError("the image has no ink (it is blank or uniform); draw or photograph a digit")
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _resize_longest(image: np.ndarray, side: int) -> np.ndarray:
    """Scale so the longest side is ``side`` pixels, keeping the aspect ratio; anti-aliased."""
    height, width = image.shape
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == (width, height):
        return image.astype(np.float32)
    method = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BILINEAR
    reducing_gap = 2.0 if scale < 0.5 else None
    resized = Image.fromarray(image.astype(np.float32), "F").resize(size, method, reducing_gap=reducing_gap)
    return np.clip(np.asarray(resized, dtype=np.float32), 0, 1)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image * 255), 0, 255).astype(np.uint8)
