"""Recipes and validation of the training config."""

from __future__ import annotations

import pytest

from cnnlab.config import TrainConfig, list_recipes
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
    ({"model_options": {"dense_units": 0}}, "dense_units=0 is not allowed"),  # refused before any training
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
