"""Adam and AdamW with each variable's update as one fused TensorFlow kernel.

Keras's Adam updates a variable with about a dozen separate element-wise ops (subtract, multiply, square, sqrt,
divide, three assignments), each reading and writing the whole variable. TensorFlow's ``ResourceApplyAdam``
does the same arithmetic in one pass. ``cnnlab bench``'s ``anatomy`` part times both updates of all of
DigitCNN's weights (docs/PERFORMANCE.md §2: less than half the time, 0.32 ms instead of 0.81 ms a step in
bfloat16 on a 2-core CPU).

The update is Keras's own formula — ``m += (g - m)(1 - β1)``, ``v += (g² - v)(1 - β2)``,
``w -= lr·√(1 - β2ᵗ)/(1 - β1ᵗ) · m / (√v + ε)`` — with the same state variables, so checkpoints and
configs are those of ``keras.optimizers.Adam``/``AdamW`` under another class name. Under a distribution
strategy, with AMSGrad or with sparse gradients the Keras update runs unchanged.
"""

from __future__ import annotations

import keras
import tensorflow as tf


class _FusedAdamUpdate:
    """``update_step`` through ``ResourceApplyAdam``; mixed into Keras's Adam and AdamW (AdamW's decoupled
    weight decay is applied by Keras before ``update_step``, so it is unchanged)."""

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or isinstance(gradient, tf.IndexedSlices) or tf.distribute.has_strategy():
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        step = tf.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=self._momentums[index].handle, v=self._velocities[index].handle,
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step), lr=tf.cast(learning_rate, dtype),
            beta1=beta_1, beta2=beta_2, epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype))


@keras.saving.register_keras_serializable(package="cnnlab")
class FusedAdam(_FusedAdamUpdate, keras.optimizers.Adam):
    """``keras.optimizers.Adam`` with one fused kernel per variable update."""


@keras.saving.register_keras_serializable(package="cnnlab")
class FusedAdamW(_FusedAdamUpdate, keras.optimizers.AdamW):
    """``keras.optimizers.AdamW`` with one fused kernel per variable update."""
