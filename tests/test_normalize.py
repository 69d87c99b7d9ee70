"""The one normalization: fitted on training images, the same as NumPy and as the model's first layer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnlab.data.normalize import Normalizer
from cnnlab.errors import ConfigError


def _images(n=50, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 784), dtype=np.uint8)


def test_standardizer_is_fitted_on_training_images_only():
    train, other = _images(40), _images(10, seed=1)
    norm = Normalizer.fit("standardize", train)
    np.testing.assert_allclose(norm.mean, train.mean(axis=0), rtol=1e-6)
    assert norm.std == pytest.approx(train.astype(np.float64).std())
    out = norm.apply(other)
    assert out.shape == (10, 28, 28, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out.reshape(10, 784), (other - train.mean(axis=0)) / train.std(), rtol=1e-5,
                               atol=1e-5)


def test_normalizer_survives_json_exactly():
    norm = Normalizer.fit("standardize", _images())
    back = Normalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
    np.testing.assert_array_equal(back.apply(_images(5, 2)), norm.apply(_images(5, 2)))
    assert Normalizer.from_dict({"kind": "scale"}).apply(np.full((1, 784), 255, np.uint8)).max() == 1.0


@pytest.mark.parametrize("values", [{"kind": "standardize", "mean": [0.0]}, [], {"std": "abc"}, "x",
                                    {"kind": "standardize", "mean": [0.0] * 784, "std": 0},
                                    {"kind": "standardize", "mean": [0.0] * 784, "std": float("nan")},
                                    {"kind": "standardize", "mean": ["a"] * 784, "std": 1.0}])
def test_a_damaged_normalizer_record_is_refused(values):
    with pytest.raises(ConfigError, match="not a valid normalizer"):
        Normalizer.from_dict(values)


@pytest.mark.parametrize("kind", ["standardize", "scale"])
def test_the_keras_layer_computes_the_numpy_formula(kind):
    norm = Normalizer.fit(kind, _images())
    x = _images(4, 3)
    layer_out = norm.layer()(x.reshape(4, 28, 28, 1).astype(np.float32))
    np.testing.assert_array_equal(np.asarray(layer_out), norm.apply(x))  # one formula, to the bit


def test_the_layer_is_a_standard_keras_layer_that_survives_saving(tmp_path):
    import keras

    norm = Normalizer.fit("standardize", _images())
    model = keras.Sequential([keras.Input((28, 28, 1)), norm.layer()])
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.layers[0]) is keras.layers.Rescaling
    x = _images(3, 4).reshape(3, 28, 28, 1).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))
