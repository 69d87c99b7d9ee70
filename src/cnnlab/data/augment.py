"""Seeded augmentation of training batches: raw pixels (0..255, white ink on black), ``(B, 28, 28, 1)`` float32.

Every function is stateless: it takes a seed (a ``[2]`` int tensor) and gives the same output for the same seed,
so a resumed run sees exactly the batches it would have seen.

Two families:

* **geometry** — shifts, rotations, mirroring, size changes and elastic distortion: other hands, other framing;
* **real-world corruptions** (``corrupt``) — what photos, scans and drawing apps do to a digit: strokes thinner
  or thicker, blur, noise, salt-and-pepper, brightness, contrast and gamma changes, a haze that varies across the
  image, stray straight, dotted or zig-zag lines and stripes, a covered patch, and strokes seen only as their
  outlines. Each chosen image gets one of them, at a random strength.

These are written from the kinds of damage described in words, not from any published corruption benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnlab.data.normalize import IMAGE_SHAPE

SIDE = IMAGE_SHAPE[0]
CORRUPTIONS = ("thin", "thick", "blur", "noise", "salt_pepper", "brightness", "contrast", "gamma", "haze",
               "lines", "zigzag", "occlusion", "outline")
# Stray strokes are the hardest to learn to ignore (they look like strokes): they get more of the corrupted images.
_SLICES = {"lines": 2, "zigzag": 3}


@dataclass(frozen=True)
class Augmentation:
    """What a training pipeline does to each batch (all zero/False: nothing)."""

    shift: int = 0  # pixels, either way
    rotate: float = 0.0  # degrees, either way
    flip: bool = False  # mirror half the images left-right
    scale: float = 0.0  # relative size change, either way (0.1: 90 % to 110 %)
    elastic: float = 0.0  # largest displacement of the elastic distortion of half the images, in pixels
    corrupt: float = 0.0  # share of images given one real-world corruption

    def __bool__(self) -> bool:
        return bool(self.shift or self.rotate or self.flip or self.scale or self.elastic or self.corrupt)


def augment_batch(batch, augmentation: Augmentation, seed):
    """Apply ``augmentation`` to a batch of raw pixels with the stateless ``seed``: geometry first (on the clean
    digit, so its border stays true background), then the corruptions, then the shift."""
    import tensorflow as tf

    def part(index: int):  # an independent seed for each random decision of this batch
        return seed + tf.constant([0, index << 20], seed.dtype)

    if augmentation.rotate or augmentation.scale:
        batch = random_affine(batch, augmentation.rotate, augmentation.scale, part(1))
    if augmentation.elastic:  # on the first half: the batch is in random order, so half of the images at random
        half = tf.shape(batch)[0] // 2
        batch = tf.concat([random_elastic(batch[:half], augmentation.elastic, part(3)), batch[half:]], axis=0)
    if augmentation.flip:
        batch = random_flip(batch, part(2))
    if augmentation.corrupt:
        batch = random_corruption(batch, augmentation.corrupt, part(4))
    if augmentation.shift:
        batch = random_translate(batch, augmentation.shift, seed)
    return batch


# -------------------------------------------------------------------- geometry


def random_translate(batch, max_shift: int, seed):
    """Shift each image of ``(B, 28, 28, 1)`` by up to ``max_shift`` pixels in x and y, filling with 0.

    Stateless: the same seed gives the same shifts.
    """
    import tensorflow as tf

    size = tf.shape(batch)[0]
    padded = tf.pad(batch, [[0, 0], [max_shift, max_shift], [max_shift, max_shift], [0, 0]])
    offsets = tf.random.stateless_uniform([size, 2], seed=seed, minval=0, maxval=2 * max_shift + 1,
                                          dtype=tf.int32)
    rows = offsets[:, :1] + tf.range(SIDE)[tf.newaxis, :]  # (B, 28) row indices into the padded image
    cols = offsets[:, 1:] + tf.range(SIDE)[tf.newaxis, :]
    batch_rows = tf.gather(padded, rows, batch_dims=1)  # (B, 28, 28 + 2 * shift, 1)
    return tf.gather(batch_rows, cols, axis=2, batch_dims=1)


def random_rotate(batch, max_degrees: float, seed):
    """Rotate each image of ``(B, 28, 28, 1)`` about its centre by up to ``max_degrees`` either way (bilinear,
    filling with 0). Stateless: the same seed gives the same angles."""
    return random_affine(batch, max_degrees, 0.0, seed)


def random_affine(batch, max_degrees: float, max_scale: float, seed):
    """Rotate by up to ``max_degrees`` and resize by up to ``max_scale`` (relative) about the image centre,
    bilinear, filling with 0. With ``max_scale`` 0 the angles are those of ``random_rotate`` for the same seed."""
    import tensorflow as tf

    size = tf.shape(batch)[0]
    angles = tf.random.stateless_uniform([size], seed=seed, minval=-1.0, maxval=1.0) * (max_degrees * np.pi / 180)
    zoom = tf.ones_like(angles)
    if max_scale:
        zoom = 1.0 + max_scale * tf.random.stateless_uniform([size], seed=seed + [0, 1], minval=-1.0, maxval=1.0)
    # Output pixel (x, y) samples input (a0 x + a1 y + a2, b0 x + b1 y + b2): the inverse of rotating by the
    # angle and zooming by ``zoom`` about the centre.
    cos, sin = tf.cos(angles) / zoom, tf.sin(angles) / zoom
    centre = (SIDE - 1) / 2
    offset_x = centre - cos * centre + sin * centre
    offset_y = centre - sin * centre - cos * centre
    zeros = tf.zeros_like(angles)
    transforms = tf.stack([cos, -sin, offset_x, sin, cos, offset_y, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=batch, transforms=transforms, output_shape=IMAGE_SHAPE[:2], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="CONSTANT")


def random_flip(batch, seed):
    """Mirror each image of ``(B, 28, 28, 1)`` left-right with probability 1/2 (stateless)."""
    import tensorflow as tf

    flip = tf.random.stateless_uniform([tf.shape(batch)[0], 1, 1, 1], seed=seed) < 0.5
    return tf.where(flip, tf.reverse(batch, axis=[2]), batch)


def random_elastic(batch, max_pixels: float, seed):
    """Elastic distortion of each image: a smooth random displacement field (random vectors on a coarse 4x4
    grid, interpolated) of up to ``max_pixels`` pixels, resampled bilinearly — the wobble of another hand."""
    import tensorflow as tf

    size = tf.shape(batch)[0]
    coarse = tf.random.stateless_uniform([size, 2, 4, 4], seed=seed, minval=-1.0, maxval=1.0)
    strength = tf.random.stateless_uniform([size, 1, 1, 1], seed=seed + [0, 1], minval=0.0, maxval=max_pixels)
    spread = tf.constant(_COARSE_TO_FINE)  # (28, 4)
    field = tf.matmul(tf.matmul(spread, coarse), spread, transpose_b=True) * strength  # (B, 2, 28, 28)
    grid = tf.cast(tf.range(SIDE), tf.float32)
    rows = grid[tf.newaxis, :, tf.newaxis] + field[:, 0]
    cols = grid[tf.newaxis, tf.newaxis, :] + field[:, 1]
    return _bilinear_sample(batch, rows, cols)


def _interpolation_matrix(coarse: int, fine: int) -> np.ndarray:
    """``(fine, coarse)`` weights that interpolate ``coarse`` evenly spaced values linearly onto ``fine`` points."""
    positions = np.linspace(0, coarse - 1, fine)
    return np.stack([np.interp(positions, np.arange(coarse), np.eye(coarse)[k]) for k in range(coarse)],
                    axis=1).astype(np.float32)


_COARSE_TO_FINE = _interpolation_matrix(4, SIDE)


def _bilinear_sample(batch, rows, cols):
    """``batch`` sampled at fractional ``(rows, cols)`` (each ``(B, 28, 28)``), 0 outside the image."""
    import tensorflow as tf

    padded = tf.pad(batch[..., 0], [[0, 0], [1, 1], [1, 1]])  # a zero border to sample outside from
    flat = tf.reshape(padded, [tf.shape(batch)[0], -1])
    width = SIDE + 2
    rows = tf.clip_by_value(rows + 1, 0.0, SIDE + 0.999)
    cols = tf.clip_by_value(cols + 1, 0.0, SIDE + 0.999)
    r0, c0 = tf.floor(rows), tf.floor(cols)
    fr, fc = rows - r0, cols - c0
    r0, c0 = tf.cast(r0, tf.int32), tf.cast(c0, tf.int32)

    def at(r, c):
        return tf.gather(flat, tf.reshape(r * width + c, [tf.shape(batch)[0], -1]), batch_dims=1)

    shape = tf.shape(rows)
    top = tf.reshape(at(r0, c0), shape) * (1 - fc) + tf.reshape(at(r0, c0 + 1), shape) * fc
    bottom = tf.reshape(at(r0 + 1, c0), shape) * (1 - fc) + tf.reshape(at(r0 + 1, c0 + 1), shape) * fc
    return (top * (1 - fr) + bottom * fr)[..., tf.newaxis]


# -------------------------------------------------------------------- real-world corruptions


def random_corruption(batch, share: float, seed):
    """Give a ``share`` of the images one corruption each, at a random strength; the rest stay as they are.

    The batch arrives in random order, so its last ``share`` part is a random choice of images; that part is
    cut into slices, one per corruption of ``CORRUPTIONS`` (stray and zig-zag lines get more). Each corruption
    then runs on its own few images only, not on the whole batch.
    """
    import tensorflow as tf

    size = tf.shape(batch)[0]
    clean = size - tf.cast(tf.round(tf.cast(size, tf.float32) * share), tf.int32)
    names = [name for name in CORRUPTIONS for _ in range(_SLICES.get(name, 1))]
    bounds = [clean + (size - clean) * k // len(names) for k in range(len(names) + 1)]
    strength = tf.random.stateless_uniform([size, 1, 1, 1], seed=seed + [0, 1])
    parts = [batch[:clean]]
    for index, name in enumerate(names):
        start, stop = bounds[index], bounds[index + 1]
        parts.append(corrupt(name, batch[start:stop], strength[start:stop], seed + [0, 16 + index]))
    return tf.concat(parts, axis=0)


def corrupt(name: str, batch, strength, seed):
    """One corruption of every image, at ``strength`` in [0, 1] per image (``(B, 1, 1, 1)``); raw pixels out."""
    import tensorflow as tf

    if name == "thin":
        return _erode(batch)
    if name == "thick":
        return tf.where(strength < 0.5, (batch + _dilate(batch)) / 2, _dilate(batch))
    if name == "blur":
        once = _blur(batch)
        return tf.where(strength < 0.5, once, _blur(_blur(once)))
    if name == "noise":
        noise = tf.random.stateless_normal(tf.shape(batch), seed=seed) * (10.0 + 70.0 * strength)
        return _clip(batch + noise)
    if name == "salt_pepper":
        draw = tf.random.stateless_uniform(tf.shape(batch), seed=seed)
        rate = 0.02 + 0.13 * strength
        return tf.where(draw < rate / 2, 0.0, tf.where(draw > 1 - rate / 2, 255.0, batch))
    if name == "brightness":  # the paper is lit: everything lighter, ink saturating
        return _clip(batch + 40.0 + 160.0 * strength)
    if name == "contrast":  # faint ink, or a grey page: the range squeezed towards a grey level
        low = 0.08 + 0.5 * strength
        level = tf.random.stateless_uniform(tf.shape(strength), seed=seed, minval=0.0, maxval=120.0)
        return batch * (1 - low) * (1 - strength * 0.5) + level * low
    if name == "gamma":
        gamma = tf.exp((strength * 2 - 1) * 1.2)  # 0.3 .. 3.3
        return 255.0 * tf.pow(batch / 255.0, gamma)
    if name == "haze":
        return _clip(batch + _haze(tf.shape(batch)[0], seed) * (60.0 + 160.0 * strength))
    if name == "lines":
        return tf.maximum(batch, _lines(tf.shape(batch)[0], strength, seed))
    if name == "zigzag":
        return tf.maximum(batch, _lines(tf.shape(batch)[0], strength, seed, zigzag=True))
    if name == "occlusion":
        return batch * _patch_mask(tf.shape(batch)[0], strength, seed)
    if name == "outline":
        return _clip((_dilate(batch) - _erode(batch)) * 1.2)
    raise ValueError(f"unknown corruption {name!r}; known: {', '.join(CORRUPTIONS)}")


def _clip(batch):
    import tensorflow as tf

    return tf.clip_by_value(batch, 0.0, 255.0)


def _dilate(batch):
    return _max_filter(batch)


def _erode(batch):
    return -_max_filter(-batch) * 0.5 + batch * 0.5  # half a pixel: strokes stay whole


def _max_filter(batch):
    """3x3 maximum of each image. Pooled with the images as channels of one image: TensorFlow's pooling is many
    times faster over many channels than over one."""
    import tensorflow as tf

    as_channels = tf.transpose(batch, [3, 1, 2, 0])  # (1, 28, 28, B)
    return tf.transpose(tf.nn.max_pool2d(as_channels, 3, 1, "SAME"), [3, 1, 2, 0])


_BLUR = np.diag(np.full(SIDE, 0.5, np.float32)) + np.diag(np.full(SIDE - 1, 0.25, np.float32), 1) + \
    np.diag(np.full(SIDE - 1, 0.25, np.float32), -1)  # a [1/4, 1/2, 1/4] blur along one axis, as a matrix


def _blur(batch):
    """A 3x3 binomial blur (zero outside the image), as two small matrix products per image."""
    import tensorflow as tf

    blur = tf.constant(_BLUR)
    images = batch[..., 0]
    return tf.matmul(tf.matmul(blur, images), blur)[..., tf.newaxis]


def _haze(size, seed):
    """A smooth random field in [0, 1] per image: coarse noise at two scales, interpolated (light and shadow)."""
    import tensorflow as tf

    field = 0.0
    for octave, cells in enumerate((3, 7)):
        coarse = tf.random.stateless_uniform([size, cells, cells, 1], seed=seed + [0, octave])
        field += tf.image.resize(coarse, IMAGE_SHAPE[:2], method="bilinear") / (octave + 1)
    low = tf.reduce_min(field, axis=[1, 2, 3], keepdims=True)
    high = tf.reduce_max(field, axis=[1, 2, 3], keepdims=True)
    return (field - low) / tf.maximum(high - low, 1e-6)


def _lines(size, strength, seed, zigzag: bool = False):
    """A stray stroke in raw pixels at a random angle and position: a straight line, parallel stripes or a dotted
    line (a ruled page, a pen slip, a crease), or with ``zigzag`` a zig-zag line, solid or dotted."""
    import tensorflow as tf

    def uniform(index, low, high, shape=(1, 1)):
        return tf.random.stateless_uniform([size, *shape], seed=seed + [0, index], minval=low, maxval=high)

    grid = tf.cast(tf.range(SIDE), tf.float32) - (SIDE - 1) / 2
    x, y = grid[tf.newaxis, tf.newaxis, :], grid[tf.newaxis, :, tf.newaxis]
    angle = uniform(0, 0.0, np.pi)
    along = x * tf.cos(angle) + y * tf.sin(angle)  # (B, 28, 28): coordinates in the line's frame
    across = -x * tf.sin(angle) + y * tf.cos(angle) - uniform(1, -11.0, 11.0)
    if zigzag:
        amplitude, period = uniform(3, 1.0, 5.0), uniform(4, 3.0, 10.0)
        across -= amplitude * (tf.abs(tf.math.floormod(along / period, 1.0) * 4 - 2) - 1)  # a triangle wave
    stripes = uniform(5, 0.0, 1.0) < (0.0 if zigzag else 0.3)  # parallel lines a few pixels apart instead of one
    spacing = uniform(6, 4.0, 9.0)
    distance = tf.where(stripes, tf.abs(tf.math.floormod(across + spacing / 2, spacing) - spacing / 2),
                        tf.abs(across))
    width = uniform(7, 0.5, 1.6)
    ink = tf.clip_by_value(width + 0.5 - distance, 0.0, 1.0)
    dotted = uniform(8, 0.0, 1.0) < 0.3
    dots = tf.cast(tf.math.floormod(along, uniform(9, 3.0, 6.0)) < 1.5, tf.float32)
    ink = tf.where(dotted, ink * dots, ink)
    brightness = 90.0 + 165.0 * strength[..., 0]
    return (ink * brightness)[..., tf.newaxis]


def _patch_mask(size, strength, seed):
    """1 everywhere but one random rectangle of 4 to 9 pixels a side, 0 there (a finger, a sticker)."""
    import tensorflow as tf

    side = 4.0 + 5.0 * strength[:, 0, 0, :]  # (B, 1)
    corner = tf.random.stateless_uniform([size, 2], seed=seed, minval=0.0, maxval=SIDE - 4.0)
    grid = tf.cast(tf.range(SIDE), tf.float32)[tf.newaxis, :]
    inside_rows = (grid >= corner[:, :1]) & (grid < corner[:, :1] + side)  # (B, 28)
    inside_cols = (grid >= corner[:, 1:]) & (grid < corner[:, 1:] + side)
    covered = inside_rows[:, :, tf.newaxis] & inside_cols[:, tf.newaxis, :]
    return tf.cast(~covered, tf.float32)[..., tf.newaxis]
