"""Layers whose training step runs faster than Keras's own, saved as standard Keras layers.

A saved model must load in plain Keras, in a Python that never imports cnnlab. So a fast layer is not a
class of our own: it is a Keras layer instance (``BatchNormalization``, ``MaxPooling2D``) whose ``call`` runs
a faster formulation of the same function. Its weights, config and file format are Keras's; a file loaded
anywhere computes the same function with Keras's own formula.
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


def max_pool_2x2(name: str) -> keras.layers.MaxPooling2D:
    """2x2 max pooling, stride 2, whose gradient is computed without TensorFlow's ``MaxPoolGrad`` kernel.

    ``MaxPoolGrad`` recomputes every window's maximum on the CPU and is the slowest kernel of a small CNN's step.
    Here the forward pass is TensorFlow's own ``MaxPool``; the gradient goes to the first maximum of each window
    (in row-major order, so exactly one input receives it, as with ``MaxPoolGrad``), found by comparing the four
    window positions, laid side by side with ``space_to_depth``, to the pooled value. Windows of an odd-sized
    input (a partial window at the edge under ``padding="same"``) use Keras's own layer.

    Example:
        >>> layer = max_pool_2x2("pool_1")
        >>> type(layer).__name__, layer.pool_size, layer.strides
        ('MaxPooling2D', (2, 2), (2, 2))
    """
    layer = keras.layers.MaxPooling2D(pool_size=2, strides=2, padding="same", name=name)
    keras_call = layer.call

    def call(inputs):
        height, width = inputs.shape[1], inputs.shape[2]
        if len(inputs.shape) != 4 or height is None or width is None or height % 2 or width % 2:
            return keras_call(inputs)
        return _max_pool_first_max_gradient(inputs)

    layer.call = call
    return layer


def _max_pool_first_max_gradient(x):
    import tensorflow as tf

    @tf.custom_gradient
    def pool(x):
        y = tf.nn.max_pool2d(x, ksize=2, strides=2, padding="VALID")

        def gradient(dy):
            # space_to_depth puts window position k (of 4, row-major) in channel block k
            positions = tf.split(tf.nn.space_to_depth(x, 2), 4, axis=3)
            taken = tf.zeros_like(y, dtype=tf.bool)
            parts = []
            for position in positions:
                first = tf.logical_and(tf.equal(position, y), tf.logical_not(taken))
                parts.append(tf.where(first, dy, tf.zeros_like(dy)))
                taken = tf.logical_or(taken, first)
            return tf.nn.depth_to_space(tf.concat(parts, axis=3), 2)

        return y, gradient

    return pool(x)


def conv2d(filters: int, kernel_size: int, padding: str, name: str, activation: str | None = "relu",
           use_bias: bool = True) -> keras.layers.Conv2D:
    """A ``keras.layers.Conv2D`` that, on a one-channel input (a network's first layer), trains as a matrix product.

    TensorFlow's convolution kernels are weak on one input channel: the forward pass and, more so, the weight
    gradient run far below the matrix-product rate. Here the layer gathers each output pixel's ``k x k``
    neighbourhood into one row (two cheap passes: ``k`` row-shifted copies, then ``k`` column shifts of those)
    and multiplies by the ``k*k x filters`` kernel; the weight gradient is then one matrix product too, and no
    input gradient is computed (the first layer's input needs none). Any other input uses Keras's own call.

    Example:
        >>> layer = conv2d(16, 5, "valid", "conv_1")
        >>> type(layer).__name__, layer.kernel_size
        ('Conv2D', (5, 5))
    """
    layer = keras.layers.Conv2D(filters, kernel_size, padding=padding, activation=activation, use_bias=use_bias,
                                name=name)
    keras_call = layer.call

    def call(inputs):
        if len(inputs.shape) != 4 or inputs.shape[-1] != 1 or None in inputs.shape[1:]:
            return keras_call(inputs)
        return _one_channel_conv(layer, inputs)

    layer.call = call
    return layer


def _one_channel_conv(layer: keras.layers.Conv2D, x):
    import tensorflow as tf

    k_rows, k_cols = layer.kernel_size
    if layer.padding == "same":  # as TensorFlow pads: the extra row/column of an even kernel goes last
        x = tf.pad(x, [[0, 0], [(k_rows - 1) // 2, k_rows // 2], [(k_cols - 1) // 2, k_cols // 2], [0, 0]])
    out_rows, out_cols = x.shape[1] - k_rows + 1, x.shape[2] - k_cols + 1
    image = x[..., 0]
    rows = tf.stack([image[:, i:i + out_rows, :] for i in range(k_rows)], axis=3)  # (B, out_rows, W, k_rows)
    patches = tf.concat([rows[:, :, j:j + out_cols, :] for j in range(k_cols)], axis=3)  # column-major taps
    kernel = tf.cast(layer.kernel, x.dtype)  # (k_rows, k_cols, 1, filters) -> taps in the patches' order
    taps = tf.reshape(tf.transpose(kernel[:, :, 0, :], [1, 0, 2]), [k_rows * k_cols, layer.filters])
    outputs = tf.matmul(tf.reshape(patches, [-1, k_rows * k_cols]), taps)
    if layer.use_bias:
        outputs = tf.nn.bias_add(outputs, tf.cast(layer.bias, x.dtype))
    outputs = tf.reshape(outputs, [-1, out_rows, out_cols, layer.filters])
    return layer.activation(outputs) if layer.activation is not None else outputs
