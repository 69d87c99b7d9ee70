"""Batches and the tf.data training pipeline: seeded order and augmentation, raw pixels out."""

from __future__ import annotations

import numpy as np

from cnnlab.data.augment import Augmentation, random_translate
from cnnlab.data.pipeline import batch_generator, make_eval_dataset, make_train_dataset


def _images(n=50, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 784), dtype=np.uint8)


def test_batch_generator_covers_every_image_once_in_seeded_order():
    x, y = _images(25), np.arange(25)
    sizes = [len(b) for b, _ in batch_generator(x, y, batch_size=10)]
    assert sizes == [10, 10, 5]
    first = np.concatenate([labels for _, labels in batch_generator(x, y, 10, shuffle=True, random_seed=1)])
    again = np.concatenate([labels for _, labels in batch_generator(x, y, 10, shuffle=True, random_seed=1)])
    assert sorted(first.tolist()) == list(range(25)) and first.tolist() == again.tolist()
    assert first.tolist() != list(range(25))


def _epoch_labels(dataset, steps):
    return [np.asarray(labels).tolist() for _, labels in dataset.take(steps)]


def test_train_pipeline_orders_each_epoch_from_seed_and_epoch_alone():
    x, y = _images(30), np.arange(30)
    full = _epoch_labels(make_train_dataset(x, y, 8, seed=5, first_epoch=0, last_epoch=3), 12)
    resumed = _epoch_labels(make_train_dataset(x, y, 8, seed=5, first_epoch=2, last_epoch=3), 4)
    assert resumed == full[8:]  # epoch 2 is the same whether or not epochs 0-1 ran in this process
    epochs = [sum(full[i * 4:(i + 1) * 4], []) for i in range(3)]
    assert all(sorted(e) == list(range(30)) for e in epochs) and epochs[0] != epochs[1]


def test_random_translate_moves_ink_without_losing_it():
    import tensorflow as tf

    image = np.zeros((4, 28, 28, 1), np.float32)
    image[:, 10:18, 10:18] = 1.0
    shifted = np.asarray(random_translate(tf.constant(image), 2, tf.constant([1, 2])))
    again = np.asarray(random_translate(tf.constant(image), 2, tf.constant([1, 2])))
    np.testing.assert_array_equal(shifted, again)
    assert np.allclose(shifted.sum(axis=(1, 2, 3)), 64.0)
    assert not np.array_equal(shifted, image)


def test_random_rotate_turns_a_bar_and_repeats_with_its_seed():
    import tensorflow as tf

    from cnnlab.data.augment import random_rotate

    bar = np.zeros((8, 28, 28, 1), np.float32)
    bar[:, 13:15, 4:24] = 255.0  # a horizontal bar through the centre
    turned = np.asarray(random_rotate(tf.constant(bar), 30.0, tf.constant([3, 4])))
    np.testing.assert_array_equal(turned, np.asarray(random_rotate(tf.constant(bar), 30.0, tf.constant([3, 4]))))
    assert not np.array_equal(turned, bar)
    assert turned[:, 13:15, 13:15].min() > 200  # the centre stays where it was
    # the ink is kept (up to bilinear resampling at the edges of the bar)
    np.testing.assert_allclose(turned.sum(axis=(1, 2, 3)), bar.sum(axis=(1, 2, 3)), rtol=0.05)
    unchanged = np.asarray(random_rotate(tf.constant(bar), 1e-6, tf.constant([3, 4])))
    np.testing.assert_allclose(unchanged, bar, atol=1e-2)


def test_random_flip_mirrors_about_half_and_only_left_right():
    import tensorflow as tf

    from cnnlab.data.augment import random_flip

    images = np.zeros((200, 28, 28, 1), np.float32)
    images[:, 5:20, 2] = 255.0  # a vertical stroke at the left edge
    flipped = np.asarray(random_flip(tf.constant(images), tf.constant([1, 2])))
    mirrored = flipped[:, 5:20, 25].min(axis=1).ravel() == 255.0
    kept = flipped[:, 5:20, 2].min(axis=1).ravel() == 255.0
    assert np.all(mirrored ^ kept) and 60 < mirrored.sum() < 140


def test_augmented_pipeline_repeats_with_its_seed():
    x, y = _images(64), np.arange(64) % 10

    def first_batch(seed):
        augmentation = Augmentation(shift=2, rotate=15.0, flip=True, scale=0.1, elastic=2.0, corrupt=0.5)
        data = make_train_dataset(x, y, 16, seed, 0, 1, augmentation)
        return np.asarray(next(iter(data))[0])

    np.testing.assert_array_equal(first_batch(7), first_batch(7))
    assert not np.array_equal(first_batch(7), first_batch(8))


def test_pipelines_run_with_fixed_sizes_and_tf_data_autotuning_off():
    # tf.data's autotuning made whole epochs run at half speed on a 2-core CPU (benchmarks/pipeline_autotune.py)
    x, y = _images(20), np.arange(20) % 10
    train = make_train_dataset(x, y, 8, seed=0, first_epoch=0, last_epoch=1)
    evaluation = make_eval_dataset(x, y, batch_size=8)
    for dataset in (train, evaluation):
        options = dataset.options()
        assert options.autotune.enabled is False
        assert options.experimental_optimization.inject_prefetch is False
    labels = np.concatenate([np.asarray(b) for _, b in evaluation])
    np.testing.assert_array_equal(labels, y)  # still every image, in order
    images = np.concatenate([np.asarray(b) for b, _ in evaluation])
    np.testing.assert_array_equal(images.reshape(20, 784), x.astype(np.float32))  # raw pixels: the model normalizes


def test_the_train_pipeline_feeds_raw_pixels():
    x, y = _images(16), np.arange(16) % 10
    images, _ = next(iter(make_train_dataset(x, y, 16, seed=0, first_epoch=0, last_epoch=1)))
    assert images.dtype.name == "float32" and float(np.asarray(images).max()) > 200
