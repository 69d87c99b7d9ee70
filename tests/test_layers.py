"""The fast layers compute what Keras's own layers compute, gradients included, and save as Keras's classes."""

from __future__ import annotations

import numpy as np
import pytest


def _forward_and_gradients(layer, x, watch_input=False):
    import tensorflow as tf

    x = tf.constant(x)
    with tf.GradientTape() as tape:
        if watch_input:
            tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(y * y)
    sources = [x] if watch_input else layer.trainable_variables
    return np.asarray(y), [np.asarray(g) for g in tape.gradient(loss, sources)]


@pytest.mark.parametrize("shape,ties", [((4, 24, 24, 16), False), ((3, 10, 10, 8), True), ((2, 6, 6, 3), True)])
def test_max_pool_2x2_gives_maxpoolgrads_gradient_exactly_even_with_ties(shape, ties):
    import keras

    from cnnlab.models.layers import max_pool_2x2

    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    x = np.maximum(np.round(x) if ties else x, 0)  # ReLU outputs: many exact ties at 0 (and at 1, 2 with ties)
    reference = _forward_and_gradients(keras.layers.MaxPooling2D(2, 2, padding="same"), x, watch_input=True)
    fast = _forward_and_gradients(max_pool_2x2("pool"), x, watch_input=True)
    np.testing.assert_array_equal(fast[0], reference[0])
    np.testing.assert_array_equal(fast[1][0], reference[1][0])


def test_max_pool_2x2_on_an_odd_size_is_kerass_own_pooling():
    import keras

    from cnnlab.models.layers import max_pool_2x2

    x = np.random.default_rng(1).standard_normal((2, 7, 7, 4)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(max_pool_2x2("pool")(x)),
                                  np.asarray(keras.layers.MaxPooling2D(2, 2, padding="same")(x)))


@pytest.mark.parametrize("kernel,padding,filters", [(5, "valid", 16), (5, "same", 32), (3, "valid", 8), (4, "same", 4)])
def test_one_channel_conv2d_matches_kerass_convolution_and_its_weight_gradients(kernel, padding, filters):
    import keras

    from cnnlab.models.layers import conv2d

    x = np.random.default_rng(2).standard_normal((3, 28, 28, 1)).astype(np.float32)
    reference = keras.layers.Conv2D(filters, kernel, padding=padding, activation="relu")
    fast = conv2d(filters, kernel, padding, "conv")
    reference.build(x.shape)
    fast.build(x.shape)
    fast.set_weights([w + 0.05 for w in reference.get_weights()])  # a non-zero bias too
    reference.set_weights(fast.get_weights())
    (y_ref, grads_ref), (y_fast, grads_fast) = (_forward_and_gradients(layer, x) for layer in (reference, fast))
    np.testing.assert_allclose(y_fast, y_ref, rtol=1e-5, atol=1e-5)
    for got, want in zip(grads_fast, grads_ref):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_fast_layers_save_as_kerass_own_classes(tmp_path):
    import keras

    from cnnlab.models.layers import conv2d, max_pool_2x2

    model = keras.Sequential([keras.Input((28, 28, 1)), conv2d(4, 5, "valid", "conv_1"), max_pool_2x2("pool_1")])
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert [type(layer).__name__ for layer in loaded.layers] == ["Conv2D", "MaxPooling2D"]
    x = np.random.default_rng(3).uniform(0, 255, (2, 28, 28, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-4)
