"""Which images a run sees: the validation holdout and the limit."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.data.splits import split_validation
from cnnlab.errors import ConfigError


def _images(n=50, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 784), dtype=np.uint8)


def test_last_split_is_the_tutorials():
    x, y = _images(100), np.arange(100)
    xt, yt, xv, yv = split_validation(x, y, 10, "last")
    assert yt.tolist() == list(range(90)) and yv.tolist() == list(range(90, 100))


def test_random_split_is_seeded_disjoint_and_complete():
    x, y = _images(100), np.arange(100)
    a = split_validation(x, y, 20, "random", seed=3)
    b = split_validation(x, y, 20, "random", seed=3)
    c = split_validation(x, y, 20, "random", seed=4)
    assert a[3].tolist() == b[3].tolist() != c[3].tolist()
    assert sorted(a[1].tolist() + a[3].tolist()) == list(range(100))
    assert len(split_validation(x, y, 0, "random")[2]) == 0
    with pytest.raises(ConfigError, match="less than the 100"):
        split_validation(x, y, 100, "last")
