"""Layers whose training step runs faster than Keras's own, saved as standard Keras layers.

A saved model must load in plain Keras, in a Python that never imports cnnlab. So the fast layer is not a
class of our own: it is a ``keras.layers.BatchNormalization`` whose forward pass runs TensorFlow's fused
kernel. Its weights, config and file format are Keras's; a file loaded anywhere computes the same function
with Keras's own (unfused) formula.
"""

from __future__ import annotations

import keras


def fused_batch_norm(name: str, momentum: float = 0.9, epsilon: float = 1e-3) -> keras.layers.BatchNormalization:
    """Batch normalization over the last axis through ``FusedBatchNormV3`` (one oneDNN kernel instead of a dozen
    element-wise ops).

    Same mathematics as ``keras.layers.BatchNormalization`` (batch statistics in training, moving averages at
    inference); scale, offset and statistics stay float32 under mixed precision.

    Example:
        >>> layer = fused_batch_norm("conv_1_bn")
        >>> type(layer).__name__
        'BatchNormalization'
    """
    layer = keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon, name=name)
    keras_call = layer.call

    def call(inputs, training=None, mask=None):
        if len(inputs.shape) != 4 or mask is not None:  # the fused kernel is for images
            return keras_call(inputs, training=training, mask=mask)
        return _fused_call(layer, inputs, bool(training) and layer.trainable)

    layer.call = call
    return layer


def _fused_call(layer: keras.layers.BatchNormalization, x, training: bool):
    import tensorflow as tf

    if not training:
        y, *_ = tf.raw_ops.FusedBatchNormV3(
            x=x, scale=layer.gamma.value, offset=layer.beta.value, mean=layer.moving_mean.value,
            variance=layer.moving_variance.value, epsilon=layer.epsilon, is_training=False)
        return y
    empty = tf.constant([], tf.float32)
    y, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
        x=x, scale=layer.gamma.value, offset=layer.beta.value, mean=empty, variance=empty,
        epsilon=layer.epsilon, is_training=True)
    momentum = layer.momentum
    layer.moving_mean.assign(layer.moving_mean * momentum + mean * (1 - momentum))
    layer.moving_variance.assign(layer.moving_variance * momentum + variance * (1 - momentum))
    return y
