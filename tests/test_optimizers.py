"""The fused Adam/AdamW: Keras's own arithmetic in one kernel per variable, saved as Keras's own classes."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from cnnlab.training.optimizers import fuse_updates, fused_adam

SHAPES = [(5, 5, 1, 8), (64, 32), (10,)]


def _fused_adam(**options):
    return fuse_updates(keras.optimizers.Adam(**options))


def _fused_adamw(**options):
    return fuse_updates(keras.optimizers.AdamW(**options))


def _train(optimizer_class, steps: int = 6, **options) -> list[np.ndarray]:
    """Apply the same random gradients with ``optimizer_class``; returns the variables and the optimizer state."""
    rng = np.random.default_rng(0)
    variables = [keras.Variable(rng.normal(size=shape).astype("float32")) for shape in SHAPES]
    schedule = keras.optimizers.schedules.CosineDecay(1e-2, decay_steps=steps)
    optimizer = optimizer_class(learning_rate=schedule, **options)
    apply = tf.function(lambda grads: optimizer.apply(grads, variables))
    for _ in range(steps):
        apply([tf.constant(rng.normal(size=shape).astype("float32")) for shape in SHAPES])
    return [v.numpy() for v in variables] + [v.numpy() for v in optimizer.variables]


@pytest.mark.parametrize(("fused", "plain", "options"), [
    (_fused_adam, keras.optimizers.Adam, {}),
    (_fused_adamw, keras.optimizers.AdamW, {"weight_decay": 0.05}),
])
def test_fused_update_equals_keras(fused, plain, options):
    ours, theirs = _train(fused, **options), _train(plain, **options)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(ours[0], _train(fused, steps=1, **options)[0])  # the steps did move the weights


def test_amsgrad_takes_the_keras_update():
    for a, b in zip(_train(_fused_adam, amsgrad=True), _train(keras.optimizers.Adam, amsgrad=True)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_compiled_model_with_fused_adam_saves_and_loads(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(fused_adam(1e-3, weight_decay=0.01), loss="mse")
    model.fit(np.ones((8, 4)), np.zeros((8, 3)), epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", compile=True)
    assert type(loaded.optimizer) is keras.optimizers.AdamW  # a standard class: plain Keras loads it
    assert loaded.optimizer.get_config()["weight_decay"] == pytest.approx(0.01)
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
