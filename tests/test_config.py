"""Recipes and validation of the training config."""

from __future__ import annotations

import dataclasses
import json

import pytest

import cnnlab.config
from cnnlab.config import TrainConfig, config_differences, config_fields, list_recipes, option, recipe_defaults
from cnnlab.errors import ConfigError


def test_seed_recipe_is_the_tutorials_recipe_exactly():
    config = TrainConfig.from_recipe("seed", model="digitcnn")
    assert (config.batch_size, config.learning_rate, config.epochs, config.dropout) == (100, 1e-4, 30, 0.5)
    assert (config.normalization, config.val_split, config.val_mode) == ("standardize", 10000, "last")
    assert config.lr_schedule == "constant" and config.augment_shift == 0


def test_explicit_options_override_the_recipe_and_none_means_not_given():
    config = TrainConfig.from_recipe("seed", model="digitcnn", epochs=2, val_split=0, dropout=None)
    assert config.epochs == 2 and config.val_split == 0 and config.dropout == 0.5


def test_limit_shrinks_the_default_validation_split_unless_given():
    assert TrainConfig.from_recipe("default", limit=3000).val_split == 300
    assert TrainConfig.from_recipe("default", limit=3000, val_split=100).val_split == 100


def test_config_round_trips_through_its_dict():
    config = TrainConfig.from_recipe("default", model="layerscnn", model_options={"dense_units": 64})
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert config.differences(config.replace(epochs=3)) == [f"epochs: {config.epochs!r} -> 3"]


@pytest.mark.parametrize("overrides, message", [
    ({"learning_rate": -0.1}, "learning-rate -0.1 is out of range"),
    ({"dropout": 1.0}, r"dropout 1.0 is out of range: use a probability in \[0, 1\)"),
    ({"batch_size": 0}, "batch-size 0 is out of range"),
    ({"epochs": 0}, "epochs 0 is out of range"),
    ({"epochs": 2.5}, "epochs must be a whole number, got 2.5"),
    ({"val_split": -1}, "val-split -1"),
    ({"learning_rate": "abc"}, "learning-rate must be a number, got 'abc'"),  # e.g. from a --grid
    ({"dropout": True}, "dropout must be a number, got True"),
    ({"learning_rate": float("inf")}, "learning-rate must be a finite number, got inf"),  # inf > 0 slipped through
    ({"weight_decay": float("nan")}, "weight-decay must be a finite number, got nan"),
    ({"limit": -5}, "limit -5 is out of range: use a number of images >= 1"),  # not the split it derives
    ({"lr_schedule": "step"}, "lr-schedule 'step' is not one of"),
    ({"dataset": "cifar10"}, "unknown dataset 'cifar10'"),
    ({"model": "vgg"}, "unknown model 'vgg'"),
    ({"model_options": {"width": 3}}, "has no option"),
    # refused before any training
    ({"model": "digitcnn", "model_options": {"dense_units": 0}}, "dense_units=0 is not allowed"),
    ({"colour": "red"}, "unknown config option"),
])
def test_bad_values_are_refused_with_what_is_allowed(overrides, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_recipe("default", **overrides)


def test_unknown_recipe_and_seed_recipe_for_a_non_tutorial_model():
    with pytest.raises(ConfigError, match="unknown recipe 'turbo'"):
        TrainConfig.from_recipe("turbo")
    assert {"default", "seed"} <= set(list_recipes())


def test_fast_and_best_recipes_bring_their_own_networks_unless_one_is_given():
    fast = TrainConfig.from_recipe("fast")
    assert fast.model == "fastcnn" and fast.val_split == 0 and fast.precision == "auto"
    mnist, fashion = TrainConfig.from_recipe("best"), TrainConfig.from_recipe("best", dataset="fashion-mnist")
    assert mnist.model == "fastcnn" and mnist.model_options["batch_norm"] is True and mnist.augment_rotate > 0
    assert fashion.model == "widecnn" and fashion.augment_flip and not mnist.augment_flip
    other = TrainConfig.from_recipe("best", model="digitcnn")
    assert other.model == "digitcnn" and other.model_options == {} and other.epochs == mnist.epochs
    assert TrainConfig.from_recipe("fast", epochs=1).epochs == 1  # explicit options still win


# -------------------------------------------------------------------- one declaration a field


def test_every_field_is_declared_with_help_and_a_default_of_its_own_type():
    for spec in config_fields():
        assert spec.option.help, spec.name
        spec.check(spec.default)  # each default is allowed by its own declaration
        assert spec.optional == (spec.default is None), spec.name  # None is allowed exactly where it is the default
    kinds = {spec.name: (spec.kind, spec.optional) for spec in config_fields()}
    assert kinds["dropout"] == (float, True) and kinds["limit"] == (int, True)
    assert kinds["augment_flip"] == (bool, False) and kinds["model_options"] == (dict, False)


@pytest.mark.parametrize("changes, message", [
    ({"epochs": True}, "epochs must be a whole number, got True"),  # a bool is no count
    ({"augment_flip": 1}, "augment-flip must be true or false, got 1"),  # nor is a count a switch
    ({"learning_rate": 0}, r"learning-rate 0 is out of range: use a number > 0"),  # an open end
    ({"augment_shift": 9}, r"augment-shift 9 is out of range: use a number of pixels in \[0, 8\]"),
    ({"augment_rotate": 45.5}, r"augment-rotate 45.5 is out of range: use a number of degrees in \[0, 45\]"),
    ({"warmup_fraction": 1.0}, r"warmup-fraction 1.0 is out of range: use a number in \[0, 1\)"),
    ({"dropout": float("nan")}, "dropout must be a finite number, got nan"),
    ({"limit": 2.0}, "limit must be a whole number, got 2.0"),
    ({"val_mode": 3}, "val-mode must be text, got 3"),
    ({"model_options": [1]}, "model-options must be a mapping of option names to values, got \\[1\\]"),
])
def test_replace_and_the_constructor_validate_like_from_recipe(changes, message):
    config = TrainConfig()
    with pytest.raises(ConfigError, match=message):
        config.replace(**changes)
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(config, **changes)
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict({**config.to_dict(), **changes})


@pytest.mark.parametrize("changes", [
    {"dropout": None}, {"limit": None}, {"dropout": 0}, {"warmup_fraction": 0.0}, {"augment_shift": 8},
    {"augment_rotate": 45}, {"learning_rate": 1e-9}, {"val_split": 0}, {"augment_flip": True},
])
def test_the_ends_of_each_range_and_unset_optional_fields_are_allowed(changes):
    assert TrainConfig().replace(**changes)


def test_a_config_is_validated_once_per_construction(monkeypatch):
    checks = []
    real = cnnlab.config._check_dataset_and_model
    monkeypatch.setattr(cnnlab.config, "_check_dataset_and_model", lambda c: checks.append(c) or real(c))
    config = TrainConfig.from_recipe("default", epochs=2)
    assert len(checks) == 1
    config.replace(seed=3)
    TrainConfig.from_dict(config.to_dict())
    assert len(checks) == 3


def test_option_refuses_two_ends_on_one_side():
    with pytest.raises(ValueError, match="at most one lower end"):
        option(0.0, "a fraction", low=0, above=0)


def test_the_defaults_shown_in_help_are_those_the_default_recipe_gives():
    assert recipe_defaults() == TrainConfig.from_recipe("default").to_dict()


# -------------------------------------------------------------------- differences


def test_config_differences_of_plain_dicts():
    a, b = {"epochs": 10, "seed": 0, "dropout": 0.0}, {"epochs": 3, "seed": 0, "dropout": 0}
    assert config_differences(a, b) == ["epochs: 10 -> 3"]  # 0 and 0.0 are the same value
    assert config_differences(a, {"seed": 0}) == ["epochs: 10 -> None", "dropout: 0.0 -> None"]
    assert config_differences({"m": "x"}, {"m": "y"}, {"m": "x"}, separator=" / ", show=str) == ["m: x / y / x"]
    assert config_differences(a, dict(a)) == []


# -------------------------------------------------------------------- from a file


def _saved(tmp_path, **changes):
    config = TrainConfig.from_recipe("default", model="layerscnn", model_options={"dense_units": 64}, limit=3000,
                                     **changes)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.to_dict()))
    return config, path


def test_a_saved_config_comes_back_with_the_options_given_on_top(tmp_path):
    config, path = _saved(tmp_path)
    assert TrainConfig.from_file(path) == config
    assert TrainConfig.from_file(tmp_path) == config  # the run directory stands for its config.json
    again = TrainConfig.from_file(path, epochs=1, dropout=None, model_options={"conv_1_channels": 8})
    assert again == config.replace(epochs=1, model_options={"dense_units": 64, "conv_1_channels": 8})
    other = TrainConfig.from_file(path, model="digitcnn")
    assert other.model == "digitcnn" and other.model_options == {}  # the options belonged to layerscnn
    smaller = TrainConfig.from_file(path, limit=500)
    assert smaller.limit == 500 and smaller.val_split == 50  # as a --limit run from a recipe
    assert TrainConfig.from_file(path, limit=500, val_split=10).val_split == 10


@pytest.mark.parametrize("text, message", [
    (None, "does not exist"),
    ("{bad", "is not valid JSON"),
    ("[1, 2]", "holds no config"),
    ('{"dropout": 1.5}', r"config.json: dropout 1.5 is out of range: use a probability in \[0, 1\)"),
    ('{"colour": "red"}', "config.json: unknown config option"),
])
def test_a_bad_config_file_is_refused_naming_it(tmp_path, text, message):
    path = tmp_path / "config.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        TrainConfig.from_file(path)
    assert str(path) in str(caught.value)


def test_an_override_is_checked_in_its_own_name(tmp_path):
    _, path = _saved(tmp_path)
    with pytest.raises(ConfigError, match="^epochs 0 is out of range"):
        TrainConfig.from_file(path, epochs=0)
    with pytest.raises(ConfigError, match="unknown config option"):
        TrainConfig.from_file(path, colour="red")
