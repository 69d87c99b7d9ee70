"""The training data pipeline: tf.data over in-memory uint8 images, with seeded augmentation; NumPy batches.

Everything that is random takes a seed, and the training pipeline derives each epoch's order and
augmentation from ``(seed, epoch)`` alone, so a resumed run sees exactly the batches it would have seen.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from cnnlab.data.normalize import IMAGE_SHAPE
from cnnlab.errors import ConfigError

PREFETCH_BATCHES = 2  # batches made ahead of the training step: enough, since a batch takes far less than a step


def batch_generator(
    X: np.ndarray, y: np.ndarray, batch_size: int = 100, shuffle: bool = False, random_seed: int | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(X_batch, y_batch)`` over the data once; the last batch may be smaller.

    With ``shuffle`` the order is a permutation drawn from ``random_seed`` (the arrays are not modified).

    Example:
        >>> sizes = [len(b) for b, _ in batch_generator(np.zeros((250, 784)), np.zeros(250), 100)]
        >>> sizes
        [100, 100, 50]
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size {batch_size} must be >= 1")
    order = np.arange(len(X))
    if shuffle:
        order = np.random.default_rng(random_seed).permutation(len(X))
    for start in range(0, len(X), batch_size):
        idx = order[start:start + batch_size]
        yield X[idx], y[idx]



def steps_per_epoch(num_images: int, batch_size: int) -> int:
    return -(-num_images // batch_size)  # ceil: the last, smaller batch is kept


def as_written(function):
    """``function`` for TensorFlow to trace as it is written, without AutoGraph's rewrite of its source.

    AutoGraph parses and rewrites each Python function that tf.data or ``tf.function`` traces, so that ``if`` and
    ``for`` on tensors become graph control flow. The pipeline's functions have none (their ``if``s test Python
    settings), so the graph is the same without it, and building the training pipeline is faster.
    """
    import tensorflow as tf

    return tf.autograph.experimental.do_not_convert(function)


def make_train_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int,
                       first_epoch: int, last_epoch: int, augment_shift: int = 0, augment_rotate: float = 0.0,
                       augment_flip: bool = False, epoch_variable=None):
    """A tf.data pipeline over epochs ``first_epoch .. last_epoch - 1``, one after another.

    With ``epoch_variable`` (a ``tf.Variable`` holding an epoch number) it is instead one epoch, the one the
    variable holds when iteration starts, of known length: iterated again, it gives the next epoch. Keras's
    ``fit`` (without ``steps_per_epoch``) iterates it once an epoch, so a compiled call of several steps ends
    with its epoch however many batches the epoch has.

    ``x`` holds raw uint8 images ``(N, 784)``; they stay in memory and each batch is a gather of shuffled
    indices, augmented on raw pixels (so the border is true background: rotated up to ``augment_rotate``
    degrees, mirrored left-right with ``augment_flip``, shifted up to ``augment_shift`` pixels) and fed as
    float32 raw pixels: the model's first layer normalizes them. Epoch ``e``'s order and augmentation depend
    only on ``(seed, e)``.
    """
    import tensorflow as tf

    images = tf.constant(np.asarray(x, dtype=np.uint8).reshape((-1, *IMAGE_SHAPE)))
    labels = tf.constant(np.asarray(y, dtype=np.int32))
    n = len(x)

    @as_written
    def epoch_batches(epoch):
        order = tf.random.experimental.stateless_shuffle(tf.range(n), seed=tf.stack([seed, epoch]))
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size).enumerate().map(
            as_written(lambda step, idx: (epoch, step, idx)))

    @as_written
    def gather(epoch, step, idx):
        batch = tf.cast(tf.gather(images, idx), tf.float32)
        batch_seed = tf.stack([seed * 1_000_003 + epoch, step])
        if augment_rotate:
            batch = random_rotate(batch, augment_rotate, batch_seed + [0, 1 << 20])
        if augment_flip:
            batch = random_flip(batch, batch_seed + [0, 2 << 20])
        if augment_shift:
            batch = random_translate(batch, augment_shift, batch_seed)
        return batch, tf.gather(labels, idx)

    if epoch_variable is None:
        epochs = tf.data.Dataset.range(first_epoch, last_epoch)
    else:  # read when an iterator starts, i.e. at the beginning of each epoch
        epochs = tf.data.Dataset.range(1).map(as_written(lambda _: tf.cast(epoch_variable.read_value(), tf.int64)))
    # One map, not a parallel one: with op determinism on (training always turns it on) tf.data runs a pipeline
    # that reads a variable, as the epoch's does, synchronously — it would turn a parallel map into this one
    # (logging a spurious C++ error as it did) and set the prefetch below to zero. Epochs measured no slower than
    # with the parallel map and prefetch of a non-deterministic run: the training step keeps the cores busy.
    batches = (epochs.flat_map(epoch_batches)
               .map(gather)
               .prefetch(PREFETCH_BATCHES)
               .with_options(fixed_pipeline_options()))
    if epoch_variable is not None:
        batches = batches.apply(tf.data.experimental.assert_cardinality(steps_per_epoch(n, batch_size)))
    return batches


def fixed_pipeline_options():
    """``tf.data`` options with its autotuning off: the pipeline runs with the fixed sizes given to it.

    With autotuning on, about half of the epochs of a DigitCNN training were measured to run far slower: the
    step waited for its batches (``benchmarks/pipeline_autotune.py`` alternates the two pipelines' epochs in one
    process; figures in README.md).
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    options.experimental_optimization.inject_prefetch = False  # TF would add an autotuned prefetch
    return options


def random_translate(batch, max_shift: int, seed):
    """Shift each image of ``(B, 28, 28, 1)`` by up to ``max_shift`` pixels in x and y, filling with 0.

    Stateless: the same seed gives the same shifts.
    """
    import tensorflow as tf

    size = tf.shape(batch)[0]
    padded = tf.pad(batch, [[0, 0], [max_shift, max_shift], [max_shift, max_shift], [0, 0]])
    offsets = tf.random.stateless_uniform([size, 2], seed=seed, minval=0, maxval=2 * max_shift + 1,
                                          dtype=tf.int32)
    rows = offsets[:, :1] + tf.range(28)[tf.newaxis, :]  # (B, 28) row indices into the padded image
    cols = offsets[:, 1:] + tf.range(28)[tf.newaxis, :]
    batch_rows = tf.gather(padded, rows, batch_dims=1)  # (B, 28, 28 + 2 * shift, 1)
    return tf.gather(batch_rows, cols, axis=2, batch_dims=1)


def random_rotate(batch, max_degrees: float, seed):
    """Rotate each image of ``(B, 28, 28, 1)`` about its centre by up to ``max_degrees`` either way (bilinear,
    filling with 0). Stateless: the same seed gives the same angles."""
    import tensorflow as tf

    size = tf.shape(batch)[0]
    angles = tf.random.stateless_uniform([size], seed=seed, minval=-1.0, maxval=1.0) * (max_degrees * np.pi / 180)
    cos, sin = tf.cos(angles), tf.sin(angles)
    centre = (IMAGE_SHAPE[0] - 1) / 2
    # Output pixel (x, y) samples input (a0 x + a1 y + a2, b0 x + b1 y + b2): a rotation about the centre.
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


def make_eval_dataset(x: np.ndarray, y: np.ndarray, batch_size: int = 1000):
    """Raw images and labels in order, as float32 pixels in batches: the validation set of a training run."""
    import tensorflow as tf

    images = np.asarray(x, dtype=np.uint8).reshape((-1, *IMAGE_SHAPE))
    dataset = tf.data.Dataset.from_tensor_slices((images, np.asarray(y, dtype=np.int32))).batch(batch_size)
    dataset = dataset.map(as_written(lambda batch, labels: (tf.cast(batch, tf.float32), labels)))
    return dataset.prefetch(PREFETCH_BATCHES).with_options(fixed_pipeline_options())
