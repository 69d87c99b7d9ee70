"""The training data pipeline: tf.data over in-memory uint8 images, with seeded augmentation; NumPy batches.

Everything that is random takes a seed, and the training pipeline derives each epoch's order and
augmentation from ``(seed, epoch)`` alone, so a resumed run sees exactly the batches it would have seen.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from cnnlab.data.augment import Augmentation, augment_batch
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
                       first_epoch: int, last_epoch: int, augmentation: Augmentation = Augmentation(),
                       epoch_variable=None):
    """A tf.data pipeline over epochs ``first_epoch .. last_epoch - 1``, one after another.

    With ``epoch_variable`` (a ``tf.Variable`` holding an epoch number) it is instead one epoch, the one the
    variable holds when iteration starts, of known length: iterated again, it gives the next epoch. Keras's
    ``fit`` (without ``steps_per_epoch``) iterates it once an epoch, so a compiled call of several steps ends
    with its epoch however many batches the epoch has.

    ``x`` holds raw uint8 images ``(N, 784)``; they stay in memory and each batch is a gather of shuffled
    indices, augmented on raw pixels (``cnnlab.data.augment``: the border is true background) and fed as
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
        if augmentation:
            batch = augment_batch(batch, augmentation, tf.stack([seed * 1_000_003 + epoch, step]))
        return batch, tf.gather(labels, idx)

    if epoch_variable is None:
        epochs = tf.data.Dataset.range(first_epoch, last_epoch)
    else:  # read when an iterator starts, i.e. at the beginning of each epoch
        epochs = tf.data.Dataset.range(1).map(as_written(lambda _: tf.cast(epoch_variable.read_value(), tf.int64)))
    # One map, prefetched: the batch after next is gathered and augmented while the training step runs. (With
    # TensorFlow's op determinism on, which cnnlab turns on only on a GPU, tf.data would run this pipeline, which
    # reads a variable, synchronously: see cnnlab.runtime.seed_everything.)
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


def make_eval_dataset(x: np.ndarray, y: np.ndarray, batch_size: int = 1000):
    """Raw images and labels in order, as float32 pixels in batches: the validation set of a training run."""
    import tensorflow as tf

    images = np.asarray(x, dtype=np.uint8).reshape((-1, *IMAGE_SHAPE))
    dataset = tf.data.Dataset.from_tensor_slices((images, np.asarray(y, dtype=np.int32))).batch(batch_size)
    dataset = dataset.map(as_written(lambda batch, labels: (tf.cast(batch, tf.float32), labels)))
    return dataset.prefetch(PREFETCH_BATCHES).with_options(fixed_pipeline_options())
