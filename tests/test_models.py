"""Every registered model: exact parameter counts for the tutorial networks, shapes, options, refusals."""

from __future__ import annotations

import pytest

from cnnlab.errors import ConfigError
from cnnlab.models.registry import count_macs, create_model, list_models, model_names

TUTORIAL_PARAMS = {"digitcnn": 1_111_946, "fashioncnn": 356_234, "layerscnn": 242_062}


@pytest.mark.parametrize("name", model_names())
def test_every_model_maps_an_image_to_ten_logits(name):
    import numpy as np

    model = create_model(name)
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
    logits = model(np.zeros((2, 28, 28, 1), dtype="float32"), training=False)
    assert tuple(logits.shape) == (2, 10) and logits.dtype.name == "float32"


@pytest.mark.parametrize("name, params", TUTORIAL_PARAMS.items())
def test_tutorial_models_have_the_tutorials_parameter_counts(name, params):
    assert create_model(name).count_params() == params
    assert {m.name: m.params for m in list_models()}[name] == params


def test_digitcnn_layer_shapes_follow_the_tutorial():
    model = create_model("digitcnn")
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    assert shapes["conv_1"] == (24, 24, 32) and shapes["pool_1"] == (12, 12, 32)
    assert shapes["conv_2"] == (8, 8, 64) and shapes["pool_2"] == (4, 4, 64)
    assert shapes["fc_3"] == (1024,) and shapes["fc_4"] == (10,)
    assert model.get_layer("dropout").rate == 0.5


def test_fashioncnn_and_layerscnn_use_same_padding():
    fashion = {layer.name: tuple(layer.output.shape[1:]) for layer in create_model("fashioncnn").layers}
    assert fashion["conv_1"] == (28, 28, 32) and fashion["pool_3"] == (4, 4, 128)
    layers = {layer.name: tuple(layer.output.shape[1:]) for layer in create_model("layerscnn").layers}
    assert layers["conv_2"] == (14, 14, 36) and layers["pool_2"] == (7, 7, 36)


def test_macs_are_counted_from_the_layers():
    # digitcnn: 24*24*32*25 + 8*8*64*25*32 + 1024*1024 + 1024*10
    assert count_macs(create_model("digitcnn")) == 460_800 + 3_276_800 + 1_048_576 + 10_240


def test_options_change_the_network():
    small = create_model("digitcnn", conv_1_channels=8, conv_2_channels=16, dense_units=64, dropout=0.0)
    assert small.count_params() < 100_000
    assert "dropout" not in [layer.name for layer in small.layers]
    assert "dropout" in [layer.name for layer in create_model("fashioncnn", dropout=0.5).layers]


def test_unknown_model_and_option_are_refused_with_the_choices():
    with pytest.raises(ConfigError, match="unknown model 'resnet'.*digitcnn"):
        create_model("resnet")
    with pytest.raises(ConfigError, match="has no option.*units.*dense_units"):
        create_model("digitcnn", units=3)


@pytest.mark.parametrize("model, options, message", [
    ("digitcnn", {"dense_units": "abc"}, "dense_units='abc' is not allowed: use a whole number >= 1"),
    ("digitcnn", {"conv_1_channels": 0}, "conv_1_channels=0 is not allowed"),
    ("digitcnn", {"kernel_size": 2.5}, "kernel_size=2.5 is not allowed"),
    ("digitcnn", {"dropout": 1.0}, r"dropout=1.0 is not allowed: use a probability in \[0, 1\)"),
    ("fastcnn", {"batch_norm": 1}, "batch_norm=1 is not allowed: use true or false"),
    ("digitcnn", {"kernel_size": 40}, "cannot be built with kernel_size=40 .*Computed output size"),  # Keras says why
])
def test_option_values_a_model_cannot_take_are_one_config_error(model, options, message):
    with pytest.raises(ConfigError, match=message):
        create_model(model, **options)


def test_fused_batch_norm_matches_the_formula_and_saves_as_keras_batch_norm(tmp_path):
    import keras
    import numpy as np
    import tensorflow as tf

    from cnnlab.models.layers import fused_batch_norm

    x = np.random.default_rng(0).normal(3.0, 2.0, size=(16, 6, 6, 4)).astype("float32")
    layer = fused_batch_norm("bn", momentum=0.5)
    out = np.asarray(layer(x, training=True))
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(layer.moving_mean.value), 0.5 * mean, rtol=1e-5)
    graph = tf.function(lambda t: layer(t, training=True)).get_concrete_function(tf.TensorSpec(x.shape)).graph
    assert "FusedBatchNormV3" in {op.type for op in graph.get_operations()}  # the fused kernel really runs

    model = create_model("fastcnn", batch_norm=True)
    model(np.zeros((2, 28, 28, 1), "float32"), training=True)  # moves the statistics away from their start
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)  # Keras's own BatchNormalization, no cnnlab class
    assert {type(layer).__name__ for layer in loaded.layers} >= {"BatchNormalization"}
    images = np.random.default_rng(1).normal(size=(3, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(loaded(images)), np.asarray(model(images)), rtol=1e-4, atol=1e-4)


def test_the_public_api_builds_a_model_without_tensorflow_start_up_lines_on_stderr():
    # TensorFlow's C++ start-up lines ("oneDNN custom operations are on ...") ignore TF_CPP_MIN_LOG_LEVEL
    import subprocess
    import sys

    code = "import cnnlab; cnnlab.create_model('digitcnn'); import sys; print('built', file=sys.stderr)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stderr.splitlines() == ["built"], result.stderr


def test_reading_a_run_needs_no_tensorflow_and_loading_its_model_prints_no_start_up_lines(tiny_run):
    import subprocess
    import sys

    code = ("import sys, cnnlab; run = cnnlab.Run.load(sys.argv[1]); run.history; cnnlab.compare_runs; "
            "print('tensorflow' in sys.modules, file=sys.stderr); run.load_model(); print('loaded', file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code, str(tiny_run.path)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and result.stderr.splitlines() == ["False", "loaded"], result.stderr


# -------------------------------------------------------------------- the shipped size table


def test_the_shipped_size_table_matches_every_built_in_network():
    from cnnlab.models.registry import builtin_model_names, shipped_sizes
    from cnnlab.models.sizes import measure_sizes

    regenerate = "regenerate src/cnnlab/models/sizes.json with: python -m cnnlab.models.sizes"
    table = shipped_sizes()
    missing = sorted(set(builtin_model_names()) - set(table))
    assert not missing, f"sizes.json lacks {', '.join(missing)}; {regenerate}"
    stale = sorted(set(table) - set(builtin_model_names()))
    assert not stale, f"sizes.json lists networks no longer registered ({', '.join(stale)}); {regenerate}"
    measured = measure_sizes()
    wrong = {name: (table[name], size) for name, size in measured.items() if table[name] != size}
    assert not wrong, f"sizes.json disagrees with the networks (table, built): {wrong}; {regenerate}"


def test_the_size_table_is_package_data():
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert "models/sizes.json" in pyproject["tool"]["setuptools"]["package-data"]["cnnlab"]


def test_a_network_registered_elsewhere_is_listed_by_building_it(monkeypatch):
    from cnnlab.models import registry

    def tinynet(units: int = 8):
        """A network of one's own."""
        import keras

        return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(units)])

    monkeypatch.setitem(registry._REGISTRY, "tinynet", tinynet)  # registered, then removed again after the test
    built = []
    real = registry.measure_size
    monkeypatch.setattr(registry, "measure_size", lambda name: built.append(name) or real(name))
    info = {m.name: m for m in list_models()}["tinynet"]
    assert (info.params, info.macs, info.options) == (784 * 8 + 8, 784 * 8, {"units": 8})
    assert info.description == "A network of one's own." and built == ["tinynet"]  # the built-in ones: from the table
