"""The IDX reader and writer: exact round trips and a clear one-line error for every kind of damage."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from cnnlab.data.idx import idx_bytes, load_mnist, parse_idx, read_idx, write_idx
from cnnlab.errors import DataError


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip_is_exact(tmp_path, dtype, suffix):
    array = (np.arange(2 * 3 * 4) - 7).astype(dtype).reshape(2, 3, 4)
    path = write_idx(tmp_path / f"a{suffix}", array)
    back = read_idx(path)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_written_bytes_match_the_format_byte_for_byte():
    data = idx_bytes(np.array([[1, 2], [3, 4]], dtype=np.uint8))
    assert data == bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4])


def test_canonical_mnist_file_rewrites_to_identical_bytes(tmp_path):
    from cnnlab.data.idx import read_idx_bytes
    from cnnlab.data.sources import bundled_dir
    from cnnlab.data.catalog import MNIST

    original = read_idx_bytes(bundled_dir(MNIST) / "t10k-labels-idx1-ubyte.gz")
    assert idx_bytes(parse_idx(original)) == original


GOOD = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))


@pytest.mark.parametrize("data, problem", [
    (b"", "not an IDX file"),
    (b"\x00\x00", "not an IDX file"),
    (b"\x01\x00\x08\x01" + b"\x00" * 8, "bad magic number"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x01\x00", "unknown IDX dtype code 0x07"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
    (GOOD[:6], "truncated header"),
    (GOOD[:-1], "truncated"),
    (GOOD + b"\x00", "unexpected bytes"),
])
def test_damaged_files_are_refused_naming_file_and_problem(tmp_path, data, problem):
    path = tmp_path / "broken-idx3-ubyte"
    path.write_bytes(data)
    with pytest.raises(DataError) as caught:
        read_idx(path)
    message = str(caught.value)
    assert str(path) in message and problem in message and "\n" not in message


def test_corrupt_gzip_is_refused(tmp_path):
    compressed = gzip.compress(GOOD)
    path = tmp_path / "x.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(DataError, match="corrupt gzip"):
        read_idx(path)
    path.write_bytes(b"this is not gzip at all")
    with pytest.raises(DataError, match="corrupt gzip"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_idx(tmp_path / "nope")


def _write_set(folder, kind, n, style):
    prefix = "train" if kind == "train" else "t10k"
    images = np.random.default_rng(0).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    sep = "-" if style == "dash" else "."
    suffix = ".gz" if style == "dash" else ""
    write_idx(folder / f"{prefix}-images{sep}idx3-ubyte{suffix}", images)
    write_idx(folder / f"{prefix}-labels{sep}idx1-ubyte{suffix}", labels)
    return images, labels


@pytest.mark.parametrize("style", ["dash", "dot"])
@pytest.mark.parametrize("kind", ["train", "test"])
def test_load_mnist_accepts_both_naming_styles(tmp_path, kind, style):
    images, labels = _write_set(tmp_path, kind, 7, style)
    x, y = load_mnist(tmp_path, kind)
    assert x.shape == (7, 784) and x.dtype == np.uint8 and y.shape == (7,)
    np.testing.assert_array_equal(x, images.reshape(7, 784))
    np.testing.assert_array_equal(y, labels)


def test_load_mnist_refuses_missing_and_mismatched_files(tmp_path):
    with pytest.raises(DataError, match="no train images file"):
        load_mnist(tmp_path, "train")
    _write_set(tmp_path, "train", 5, "dash")
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(4, dtype=np.uint8))
    with pytest.raises(DataError, match="5 images but .* 4 labels"):
        load_mnist(tmp_path, "train")
    with pytest.raises(DataError, match="unknown data kind"):
        load_mnist(tmp_path, "validation")


def test_load_mnist_reads_the_real_bundled_files():
    from cnnlab.data.catalog import MNIST
    from cnnlab.data.sources import bundled_dir

    x, y = load_mnist(bundled_dir(MNIST), "test")
    assert x.shape == (10000, 784) and y.shape == (10000,)
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
