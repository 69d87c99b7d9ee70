"""Adam and AdamW with each variable's update as one fused TensorFlow kernel, saved as Keras's own optimizers.

Keras's Adam updates a variable with about a dozen separate element-wise ops (subtract, multiply, square, sqrt,
divide, three assignments), each reading and writing the whole variable. TensorFlow's ``ResourceApplyAdam``
does the same arithmetic in one pass (the bench's ``anatomy`` part times both; figures in
docs/PERFORMANCE.md).

The update is Keras's own formula — ``m += (g - m)(1 - β1)``, ``v += (g² - v)(1 - β2)``,
``w -= lr·√(1 - β2ᵗ)/(1 - β1ᵗ) · m / (√v + ε)`` — with the same state variables. The optimizer *is* a
``keras.optimizers.Adam`` (or ``AdamW``) whose ``update_step`` is replaced on the instance, so a checkpoint
names a standard Keras class and loads in plain Keras without cnnlab. Under a distribution strategy, with
AMSGrad or with sparse gradients the Keras update runs unchanged.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf


def fused_adam(learning_rate: Any, weight_decay: float = 0.0) -> keras.optimizers.Optimizer:
    """``keras.optimizers.Adam`` (``AdamW`` when ``weight_decay > 0``) with one fused kernel per variable update.

    Example:
        >>> type(fused_adam(1e-3)).__name__, type(fused_adam(1e-3, weight_decay=0.01)).__name__
        ('Adam', 'AdamW')
    """
    if weight_decay > 0:
        optimizer = keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay)
    else:
        optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
    return fuse_updates(optimizer)


def fuse_updates(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """Make an Adam or AdamW instance update each variable through ``ResourceApplyAdam``; returns it.

    AdamW's decoupled weight decay is applied by Keras before ``update_step``, so it is unchanged.
    """
    keras_update = optimizer.update_step

    def update_step(gradient, variable, learning_rate):
        if optimizer.amsgrad or isinstance(gradient, tf.IndexedSlices) or tf.distribute.has_strategy():
            return keras_update(gradient, variable, learning_rate)
        dtype = variable.dtype
        index = optimizer._get_variable_index(variable)
        step = tf.cast(optimizer.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(optimizer.beta_1, dtype), tf.cast(optimizer.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=optimizer._momentums[index].handle, v=optimizer._velocities[index].handle,
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step), lr=tf.cast(learning_rate, dtype),
            beta1=beta_1, beta2=beta_2, epsilon=tf.cast(optimizer.epsilon, dtype), grad=tf.cast(gradient, dtype))

    optimizer.update_step = update_step
    return optimizer
