"""Training augmentation: seeded, raw pixels in and out, and each corruption does what it says."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.data.augment import (CORRUPTIONS, Augmentation, augment_batch, corrupt, random_corruption,
                                 random_elastic)


def _digits(mnist, n=16):
    return mnist.x_test[:n].reshape(-1, 28, 28, 1).astype(np.float32)


def _run(function, *args):
    import tensorflow as tf

    return np.asarray(function(*[tf.constant(a) if isinstance(a, np.ndarray) else a for a in args]))


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_every_corruption_keeps_shape_and_range_and_repeats_with_its_seed(mnist, name):
    x, strength = _digits(mnist), np.linspace(0, 1, 16, dtype=np.float32).reshape(-1, 1, 1, 1)
    once = _run(corrupt, name, x, strength, np.array([3, 4]))
    assert once.shape == x.shape and once.min() >= 0 and once.max() <= 255
    np.testing.assert_array_equal(once, _run(corrupt, name, x, strength, np.array([3, 4])))
    assert not np.array_equal(once, x)


def test_corruptions_change_the_image_the_way_their_names_say(mnist):
    x, strong = _digits(mnist), np.ones((16, 1, 1, 1), np.float32)
    ink = x > 128
    seed = np.array([1, 2])

    def made(name):
        return _run(corrupt, name, x, strong, seed)
    assert made("thin").sum() < x.sum() < made("thick").sum()
    assert made("brightness")[~ink].mean() > 100  # the background is lit
    assert np.ptp(made("contrast")) < np.ptp(x)  # squeezed
    lines = made("lines")
    assert (lines[~ink] > 64).mean() > 0.01  # new strokes where there was background
    assert (made("occlusion") < x - 1).any() and (made("occlusion") <= x).all()  # only ever removes ink
    haze = made("haze")
    assert np.std(haze[~ink]) > 10  # uneven, not one level
    outline = made("outline")
    core = (x[..., 0] > 200) & (np.stack([np.roll(x[..., 0], s, axis=a) for s in (-1, 1) for a in (1, 2)]) > 200).all(0)
    assert outline[..., 0][core].mean() < x[..., 0][core].mean() * 0.8  # the inside of thick strokes goes dark


def test_a_share_of_the_batch_is_corrupted_and_the_rest_untouched(mnist):
    x = _digits(mnist, 40)
    none = _run(random_corruption, x, 0.0, np.array([5, 6]))
    np.testing.assert_array_equal(none, x)
    half = _run(random_corruption, x, 0.5, np.array([5, 6]))
    changed = [not np.array_equal(a, b) for a, b in zip(half, x)]
    assert changed[:20] == [False] * 20 and sum(changed) >= 18  # a corruption can leave an image as it was


def test_elastic_distortion_bends_strokes_but_keeps_the_ink(mnist):
    x = _digits(mnist)
    bent = _run(random_elastic, x, 2.0, np.array([7, 8]))
    assert not np.allclose(bent, x)
    np.testing.assert_allclose(bent.sum(axis=(1, 2, 3)), x.sum(axis=(1, 2, 3)), rtol=0.15)
    np.testing.assert_array_equal(bent, _run(random_elastic, x, 2.0, np.array([7, 8])))
    np.testing.assert_allclose(_run(random_elastic, x, 0.0, np.array([7, 8])), x, atol=1e-3)


def test_without_any_setting_a_batch_is_left_alone(mnist):
    x = _digits(mnist)
    assert not Augmentation()
    full = Augmentation(shift=2, rotate=10, scale=0.1, elastic=2, corrupt=0.5)
    once = _run(augment_batch, x, full, np.array([9, 9]))
    np.testing.assert_array_equal(once, _run(augment_batch, x, full, np.array([9, 9])))
    assert once.shape == x.shape
