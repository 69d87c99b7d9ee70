"""The built-in networks. Each is a registered function returning an uncompiled ``keras.Model`` that maps
a normalized ``(28, 28, 1)`` image to 10 logits (softmax is applied by the loss and by the prediction path).
The trainer puts the run's normalization in front (``cnnlab.training.train.build_model``), so a saved model
takes raw pixels.

This module needs no TensorFlow to import (each function imports Keras when it builds), so configs are
checked against the functions' signatures before TensorFlow is loaded.

Layer names follow the tutorials (``conv_1``, ``fc_3``, ...) so weights can be compared across versions.
The output layer always computes in float32, so mixed-precision training keeps its loss in float32.
"""

from __future__ import annotations

from cnnlab.data.normalize import IMAGE_SHAPE
from cnnlab.models.registry import register_model

NUM_CLASSES = 10


def _conv(keras, filters: int, kernel: int, padding: str, name: str):
    from cnnlab.models.layers import conv2d  # a keras.layers.Conv2D, faster on a one-channel input

    return conv2d(filters, kernel, padding, name)


def _pool(keras, name: str):
    from cnnlab.models.layers import max_pool_2x2  # a keras.layers.MaxPooling2D with a faster gradient

    return max_pool_2x2(name)


def _head(keras, dense_units: int, dropout: float, hidden_name: str, out_name: str) -> list:
    layers = [keras.layers.Flatten(name="flatten"),
              keras.layers.Dense(dense_units, activation="relu", name=hidden_name)]
    if dropout > 0:
        layers.append(keras.layers.Dropout(dropout, name="dropout"))
    layers.append(keras.layers.Dense(NUM_CLASSES, name=out_name, dtype="float32"))
    return layers


def _sequential(keras, name: str, layers: list):
    return keras.Sequential([keras.Input(shape=IMAGE_SHAPE, name="image"), *layers], name=name)


@register_model
def digitcnn(conv_1_channels: int = 32, conv_2_channels: int = 64, kernel_size: int = 5,
             dense_units: int = 1024, dropout: float = 0.5):
    """Tutorial 002: two 5x5 VALID convolutions (32, 64), 2x2 pooling, fc 1024, dropout 0.5, fc 10."""
    import keras

    return _sequential(keras, "digitcnn", [
        _conv(keras, conv_1_channels, kernel_size, "valid", "conv_1"), _pool(keras, "pool_1"),
        _conv(keras, conv_2_channels, kernel_size, "valid", "conv_2"), _pool(keras, "pool_2"),
        *_head(keras, dense_units, dropout, "fc_3", "fc_4"),
    ])


@register_model
def fashioncnn(conv_1_channels: int = 32, conv_2_channels: int = 64, conv_3_channels: int = 128,
               kernel_size: int = 3, dense_units: int = 128, dropout: float = 0.0):
    """Tutorial 003: three 3x3 SAME convolutions (32, 64, 128), each pooled 2x2, fc 128, fc 10."""
    import keras

    layers = []
    for index, channels in enumerate((conv_1_channels, conv_2_channels, conv_3_channels), start=1):
        layers += [_conv(keras, channels, kernel_size, "same", f"conv_{index}"), _pool(keras, f"pool_{index}")]
    return _sequential(keras, "fashioncnn", [*layers, *_head(keras, dense_units, dropout, "fc_4", "fc_5")])


@register_model
def layerscnn(conv_1_channels: int = 16, conv_2_channels: int = 36, kernel_size: int = 5,
              dense_units: int = 128, dropout: float = 0.0):
    """Tutorial 004: two 5x5 SAME convolutions (16, 36), each pooled 2x2, fc 128, fc 10."""
    import keras

    return _sequential(keras, "layerscnn", [
        _conv(keras, conv_1_channels, kernel_size, "same", "conv_1"), _pool(keras, "pool_1"),
        _conv(keras, conv_2_channels, kernel_size, "same", "conv_2"), _pool(keras, "pool_2"),
        *_head(keras, dense_units, dropout, "fc_3", "fc_4"),
    ])


def _conv_bn(keras, filters: int, kernel: int, padding: str, name: str) -> list:
    """Convolution without bias, (fused) batch normalization, ReLU."""
    from cnnlab.models.layers import conv2d, fused_batch_norm

    return [conv2d(filters, kernel, padding, name, activation=None, use_bias=False),
            fused_batch_norm(f"{name}_bn"), keras.layers.ReLU(name=f"{name}_relu")]


@register_model
def fastcnn(conv_1_channels: int = 16, conv_2_channels: int = 48, conv_3_channels: int = 96,
            batch_norm: bool = False, dropout: float = 0.0):
    """Compact and quick (the fast recipe's): 5x5, 3x3, 3x3 VALID convolutions, pooled twice, linear output."""
    import keras

    def block(channels: int, kernel: int, name: str) -> list:
        if batch_norm:  # steadier at high learning rates, but even fused it costs time: off by default
            return _conv_bn(keras, channels, kernel, "valid", name)
        return [_conv(keras, channels, kernel, "valid", name)]

    layers = [*block(conv_1_channels, 5, "conv_1"), _pool(keras, "pool_1"),
              *block(conv_2_channels, 3, "conv_2"), _pool(keras, "pool_2"),
              *block(conv_3_channels, 3, "conv_3"), keras.layers.Flatten(name="flatten")]
    if dropout > 0:
        layers.append(keras.layers.Dropout(dropout, name="dropout"))
    layers.append(keras.layers.Dense(NUM_CLASSES, name="fc_4", dtype="float32"))
    return _sequential(keras, "fastcnn", layers)


@register_model
def widecnn(width: int = 32, dense_units: int = 256, dropout: float = 0.3):
    """VGG-style: two 3x3 SAME convolutions per stage (width, 2x, 4x) with batch norm, pooled, fc, dropout."""
    import keras

    layers = []
    for stage, channels in enumerate((width, 2 * width, 4 * width), start=1):
        layers += [*_conv_bn(keras, channels, 3, "same", f"conv_{stage}a"),
                   *_conv_bn(keras, channels, 3, "same", f"conv_{stage}b"), _pool(keras, f"pool_{stage}")]
    layers += [keras.layers.Flatten(name="flatten"), keras.layers.Dense(dense_units, activation="relu", name="fc_4")]
    if dropout > 0:
        layers.append(keras.layers.Dropout(dropout, name="dropout"))
    layers.append(keras.layers.Dense(NUM_CLASSES, name="fc_5", dtype="float32"))
    return _sequential(keras, "widecnn", layers)
