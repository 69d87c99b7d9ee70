"""Test helpers: make "photos" of digits the way a phone sees them (dark ink on lit paper, off-centre,
noisy, uneven light, colour or 16-bit) from MNIST test digits and from installed fonts."""

from __future__ import annotations

import glob
import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

FONT_DIR = "/usr/share/fonts/truetype/dejavu"


def fonts() -> list[str]:
    """The DejaVu fonts installed here (fonts-dejavu-core), regular weights and shapes only."""
    found = sorted(glob.glob(f"{FONT_DIR}/DejaVu*.ttf"))
    return [f for f in found if "Oblique" not in f and "Italic" not in f]


def ink_from_mnist(digit: np.ndarray, height: int = 160, thin: int = 0) -> np.ndarray:
    """An MNIST digit (784 or 28x28 uint8) scaled up smoothly to ``height`` px: ink coverage in [0, 1].

    ``thin`` erodes the strokes by that many pixels (a fine pen instead of MNIST's thick one)."""
    small = Image.fromarray(np.asarray(digit, dtype=np.uint8).reshape(28, 28))
    big = np.asarray(small.resize((height, height), Image.Resampling.BICUBIC), dtype=np.float32) / 255.0
    big = np.clip(big, 0, 1)
    if thin:  # gentle: erode a little more than a third of a typical stroke, so strokes do not break
        mask = ndimage.binary_erosion(big > 0.5, iterations=thin)
        big = ndimage.gaussian_filter(mask.astype(np.float32), 0.8)
    return big


def ink_from_font(text: str, font_path: str, height: int = 160) -> np.ndarray:
    """A typeset character rendered at about ``height`` px: ink coverage in [0, 1], tightly cropped."""
    font = ImageFont.truetype(font_path, height)
    left, top, right, bottom = font.getbbox(text)
    canvas = Image.new("L", (right - left + 8, bottom - top + 8), 0)
    ImageDraw.Draw(canvas).text((4 - left, 4 - top), text, fill=255, font=font)
    return np.asarray(canvas, dtype=np.float32) / 255.0


# Pen strokes for each digit, in a box 0.6 wide and 1 tall (x right, y down): how people write them.
_ELLIPSE = "ellipse"
PEN_STROKES = {
    0: [(_ELLIPSE, 0.3, 0.5, 0.27, 0.46)],
    1: [[(0.18, 0.22), (0.36, 0.04), (0.36, 0.96)]],
    2: [[(0.06, 0.25), (0.18, 0.07), (0.36, 0.03), (0.52, 0.15), (0.5, 0.38), (0.05, 0.95), (0.57, 0.95)]],
    3: [[(0.06, 0.12), (0.28, 0.02), (0.5, 0.13), (0.48, 0.34), (0.24, 0.48), (0.52, 0.6), (0.55, 0.82),
         (0.33, 0.97), (0.05, 0.88)]],
    4: [[(0.4, 0.04), (0.04, 0.66), (0.58, 0.66)], [(0.44, 0.3), (0.44, 0.97)]],
    5: [[(0.54, 0.04), (0.14, 0.04), (0.1, 0.45), (0.35, 0.39), (0.55, 0.55), (0.55, 0.8), (0.33, 0.97),
         (0.05, 0.88)]],
    6: [[(0.48, 0.03), (0.22, 0.25), (0.07, 0.6), (0.12, 0.9), (0.33, 0.98), (0.53, 0.8), (0.48, 0.58),
         (0.28, 0.5), (0.09, 0.64)]],
    7: [[(0.04, 0.05), (0.57, 0.05), (0.22, 0.96)]],
    8: [(_ELLIPSE, 0.3, 0.26, 0.2, 0.22), (_ELLIPSE, 0.3, 0.72, 0.25, 0.26)],
    9: [(_ELLIPSE, 0.28, 0.3, 0.23, 0.25), [(0.51, 0.3), (0.47, 0.97)]],
}


def ink_from_pen(digit: int, rng: np.random.Generator, height: int = 180, pen: int = 3) -> np.ndarray:
    """A digit written with a fine pen (``pen`` px wide strokes) at about ``height`` px, slightly slanted
    and wobbly: ink coverage in [0, 1]."""
    scale = 4  # draw big, then shrink: anti-aliased strokes
    size = (int(height * 0.8) * scale, int(height * 1.1) * scale)
    canvas = Image.new("L", size, 0)
    draw = ImageDraw.Draw(canvas)
    slant = rng.uniform(-0.15, 0.15)
    wobble = rng.normal(0, 0.012, (64, 2))

    def to_px(x, y, k=0):
        x = x + slant * (0.5 - y) + wobble[k % 64, 0]
        y = y + wobble[k % 64, 1]
        return ((0.1 + x) * height * scale, (0.05 + y) * height * scale)

    for stroke in PEN_STROKES[digit]:
        if stroke[0] == _ELLIPSE:
            _, cx, cy, rx, ry = stroke
            angles = np.linspace(0, 2 * np.pi, 60)
            points = [to_px(cx + rx * np.cos(a), cy + ry * np.sin(a), k) for k, a in enumerate(angles)]
        else:
            points = [to_px(x, y, k) for k, (x, y) in enumerate(stroke)]
        draw.line(points, fill=255, width=pen * scale, joint="curve")
    small = canvas.resize((size[0] // scale, size[1] // scale), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


def photograph(ink: np.ndarray, rng: np.random.Generator, size: tuple[int, int] = (480, 360),
               paper=(235, 228, 210), ink_rgb=(30, 35, 90), light: float = 0.45, noise: float = 6.0,
               where: tuple[float, float] | None = None) -> np.ndarray:
    """Lay ``ink`` on paper at an off-centre spot under uneven light; returns an H x W x 3 uint8 photo.

    ``light``: how much darker the dim corner is than the bright one (0 = even light); ``noise``: sensor
    noise std in 8-bit levels.
    """
    width, height = size
    h, w = ink.shape
    if where is None:
        where = (rng.uniform(0.15, 0.85), rng.uniform(0.2, 0.8))
    top = int(np.clip(where[1] * height - h / 2, 0, height - h))
    left = int(np.clip(where[0] * width - w / 2, 0, width - w))
    coverage = np.zeros((height, width), dtype=np.float32)
    coverage[top:top + h, left:left + w] = ink
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * x / width + np.sin(angle) * y / height)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    illumination = 1.0 - light * ramp  # a shadow falling across the page
    paper = np.asarray(paper, dtype=np.float32)
    ink_rgb = np.asarray(ink_rgb, dtype=np.float32)
    surface = paper * (1 - coverage[..., None]) + ink_rgb * coverage[..., None]
    photo = surface * illumination[..., None] + rng.normal(0, noise, (height, width, 1))
    return np.clip(photo, 0, 255).astype(np.uint8)


def to_16bit_grey(photo: np.ndarray) -> Image.Image:
    """The photo as a 16-bit greyscale PNG would hold it (mode I;16)."""
    grey = photo.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    values = np.clip(grey / 255.0 * 65535.0, 0, 65535).astype(np.uint16)
    return Image.fromarray(values)  # uint16 -> mode I;16


def encode(image: Image.Image | np.ndarray, fmt: str = "PNG", **options) -> bytes:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def images_run(tmp_path_factory):
    """A digitcnn trained for one epoch on 10,000 MNIST images (shared by the image tests through the
    session's temporary folder, so it is trained once): strong enough that photo predictions mean something."""
    from cnnlab.config import TrainConfig
    from cnnlab.data.sources import load_dataset
    from cnnlab.training.train import train
    from cnnlab.run import Run

    path = tmp_path_factory.getbasetemp() / "images-run"
    if (path / "model.keras").exists():
        return Run.load(path)
    config = TrainConfig.from_recipe("default", epochs=1, limit=10000, val_split=500, seed=3)
    return train(config, path, dataset=load_dataset("mnist", download=False))


# -------------------------------------------------------------------- harder scenes (issue 23's kinds)


def ink_from_lowres(digit8: np.ndarray, height: int = 140) -> np.ndarray:
    """A scikit-learn ``load_digits`` image (8x8, values 0..16: low-resolution real handwriting) scaled up
    smoothly to ``height`` px: ink coverage in [0, 1]."""
    small = Image.fromarray(np.clip(np.asarray(digit8, dtype=np.float32).reshape(8, 8) * 16, 0, 255).astype(np.uint8))
    big = small.resize((height, height), Image.Resampling.BICUBIC)
    return np.clip((np.asarray(big, dtype=np.float32) / 255.0 - 0.15) / 0.7, 0, 1)


def restroke(ink: np.ndarray, width_change: int) -> np.ndarray:
    """Thicker (marker, ``width_change`` > 0) or thinner (fine pen, < 0) strokes, with soft edges."""
    mask = ink > 0.5
    if width_change > 0:
        mask = ndimage.binary_dilation(mask, iterations=width_change)
    elif width_change < 0:
        thinner = ndimage.binary_erosion(mask, iterations=-width_change)
        mask = thinner if thinner.sum() > 0.25 * mask.sum() else mask
    return ndimage.gaussian_filter(mask.astype(np.float32), 0.8)


def lighting(size: tuple[int, int], rng: np.random.Generator, vignette: float = 0.0, shadow: float = 0.0,
             gradient: float = 0.0) -> np.ndarray:
    """An illumination map (H x W, 1 = full light): vignetting (dark corners), a soft-edged shadow band at a
    random angle and a gradient, computed at 1/8 size and stretched (cheap for 12 MP)."""
    width, height = size
    w, h = max(2, width // 8), max(2, height // 8)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    u, v = x / w - 0.5, y / h - 0.5
    light = 1.0 - vignette * ((u ** 2 + v ** 2) / 0.5) ** 1.5
    angle = rng.uniform(0, np.pi)
    along = np.cos(angle) * u + np.sin(angle) * v
    light *= 1.0 - gradient * (along - along.min()) / max(float(np.ptp(along)), 1e-6)
    if shadow:
        across = -np.sin(angle) * u + np.cos(angle) * v - rng.uniform(-0.3, 0.3)
        half = rng.uniform(0.08, 0.25)
        edge = rng.uniform(0.005, 0.03)  # a sharp or a soft edge
        inside = 1 / (1 + np.exp((np.abs(across) - half) / edge))
        light *= 1.0 - shadow * inside
    small = Image.fromarray(light.astype(np.float32), "F")
    return np.asarray(small.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)


def paper_lines(size: tuple[int, int], rng: np.random.Generator, kind: str, tilt: float = 0.0,
                margin: bool = True, margin_at: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Notebook paper's lines as coverage (H x W in [0, 1]) and an RGB colour map: light-blue ruled or squared
    lines, and a red margin line (at ``margin_at`` of the width, or at random), tilted by ``tilt`` degrees."""
    width, height = size
    scale = 2
    canvas = Image.new("L", (width * scale, height * scale), 0)
    red = Image.new("L", (width * scale, height * scale), 0)
    draw, draw_red = ImageDraw.Draw(canvas), ImageDraw.Draw(red)
    spacing = int(height * rng.uniform(0.06, 0.12)) * scale
    thickness = max(1, int(height * rng.uniform(0.002, 0.006)) * scale)
    slope = np.tan(np.deg2rad(tilt))
    span = 2 * max(width, height) * scale
    offset = int(rng.integers(0, spacing))
    for y0 in range(-span, span, spacing):
        y = y0 + offset
        draw.line([(-span, y - slope * span), (span, y + slope * span)], fill=255, width=thickness)
        if kind == "squared":
            draw.line([(y + slope * span, -span), (y - slope * span, span)], fill=255, width=thickness)
    if margin:
        x = int(width * scale * (rng.uniform(0.12, 0.3) if margin_at is None else margin_at))
        draw_red.line([(x + slope * span, -span), (x - slope * span, span)], fill=255, width=thickness + scale)
    lines = np.asarray(canvas.resize(size, Image.Resampling.BOX), dtype=np.float32) / 255.0 * rng.uniform(0.5, 1.0)
    margin_cover = np.asarray(red.resize(size, Image.Resampling.BOX), dtype=np.float32) / 255.0
    cover = np.maximum(lines, margin_cover)
    colour = np.empty((height, width, 3), np.float32)
    colour[:] = (120, 170, 220)
    colour[margin_cover > lines] = (215, 60, 60)
    return cover, colour


def scene(ink: np.ndarray, rng: np.random.Generator, size: tuple[int, int] = (480, 360), *,
          paper=(235, 230, 215), ink_rgb=(30, 35, 90), light: np.ndarray | None = None, noise: float = 4.0,
          where: tuple[float, float] | None = None, tilt: float = 0.0,
          lines: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """``ink`` (rotated by ``tilt``) on paper, optionally over notebook ``lines``, under ``light``; H x W x 3
    uint8."""
    width, height = size
    if tilt:
        ink = np.asarray(Image.fromarray(ink.astype(np.float32), "F").rotate(tilt, Image.Resampling.BILINEAR,
                                                                             expand=True), dtype=np.float32)
    h, w = ink.shape
    if where is None:
        where = (rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7))
    top = int(np.clip(where[1] * height - h / 2, 0, max(0, height - h)))
    left = int(np.clip(where[0] * width - w / 2, 0, max(0, width - w)))
    photo = np.empty((height, width, 3), np.float32)
    photo[:] = paper
    if lines is not None:
        cover, colour = lines
        photo += cover[..., None] * (colour - photo)
    patch = photo[top:top + h, left:left + w]
    cover_ink = np.clip(ink[:patch.shape[0], :patch.shape[1], None], 0, 1)
    patch += cover_ink * (np.asarray(ink_rgb, np.float32) - patch)
    if light is not None:
        photo *= light[..., None]
    if noise:
        photo += rng.normal(0, noise, (height, width, 1)).astype(np.float32)
    return np.clip(photo, 0, 255).astype(np.uint8)


EXIF_ORIENTATION = 0x0112
# orientation tag -> how to store an upright photo so that a viewer (and exif_transpose) shows it upright
_STORE = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def exif_rotated_jpeg(photo: np.ndarray, orientation: int, quality: int = 88) -> bytes:
    """The photo stored sideways (or upside down) with the EXIF orientation tag that puts it upright."""
    image = Image.fromarray(photo).transpose(_STORE[orientation])
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    return encode(image, "JPEG", quality=quality, exif=exif)


def transparent_canvas(ink: np.ndarray, rgb=(0, 0, 0), hidden_rgb=(0, 0, 0), size: int = 280) -> Image.Image:
    """A drawing-app export: strokes in ``rgb`` whose alpha is the ink, on a transparent background whose
    (invisible) colour is ``hidden_rgb``."""
    alpha = np.zeros((size, size), np.float32)
    h, w = ink.shape
    top, left = (size - h) // 2, (size - w) // 2
    alpha[top:top + h, left:left + w] = ink[:size - top, :size - left]
    rgba = np.empty((size, size, 4), np.uint8)
    rgba[..., :3] = np.where(alpha[..., None] > 0, np.asarray(rgb), np.asarray(hidden_rgb))
    rgba[..., 3] = np.clip(alpha * 255, 0, 255).astype(np.uint8)
    return Image.fromarray(rgba, "RGBA")
