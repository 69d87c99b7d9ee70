"""Reading IDX stops as soon as more bytes arrive than the catalog expects or the header declares: a gzip bomb
costs no more memory than the file it claims to be (measured on a real ``cnnlab data verify`` subprocess)."""

from __future__ import annotations

import gzip
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from cnnlab.data.catalog import MNIST
from cnnlab.data.idx import read_idx, read_idx_bytes
from cnnlab.data.sources import bundled_dir
from cnnlab.errors import DataError

TRAIN_IMAGES_HEADER = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 60000, 28, 28)


def _gzip_bomb(path: Path, header: bytes, inflated: int) -> Path:
    """A gzip file of ``header`` and zeros that inflates to ``inflated`` bytes; about a thousandth of that on disk."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: the gzip format
    zeros = bytes(1 << 20)
    with open(path, "wb") as file:
        file.write(compressor.compress(header))
        for _ in range(inflated >> 20):
            file.write(compressor.compress(zeros))
        file.write(compressor.flush())
    return path


def test_data_verify_on_a_gzip_bomb_stays_small_and_refuses_it_in_one_line(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    for f in bundled_dir(MNIST).glob("*.gz"):
        shutil.copy(f, folder / f.name)
    bomb = _gzip_bomb(folder / "train-images-idx3-ubyte.gz", TRAIN_IMAGES_HEADER, 1 << 30)
    assert bomb.stat().st_size < 2 << 20
    # A middle process runs the command, so its peak memory is the command's alone (RUSAGE_CHILDREN of this
    # process would hold the largest of every child the test session ever waited for).
    measure = ("import resource, subprocess, sys; "
               "done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, done.returncode); "
               "print(done.stderr, end='')")
    cnnlab = [sys.executable, "-m", "cnnlab", "data", "verify", "mnist", "--data-dir", str(folder)]
    result = subprocess.run([sys.executable, "-c", measure, *cnnlab], capture_output=True, text=True, timeout=300)
    figures, *stderr = result.stdout.splitlines()
    peak_kib, code = map(int, figures.split())
    assert code == 3 and len(stderr) == 1, result.stdout
    assert stderr[0].startswith("cnnlab: error: --data-dir") and "train-images-idx3-ubyte.gz" in stderr[0]
    assert "more than the 47,040,016 bytes" in stderr[0]
    assert peak_kib < 600 * 1024, f"peak {peak_kib / 1024:.0f} MiB"


def test_a_bomb_with_a_small_header_stops_at_the_header_without_a_catalog(tmp_path):
    bomb = _gzip_bomb(tmp_path / "x-idx1-ubyte.gz", bytes([0, 0, 0x08, 1]) + struct.pack(">I", 10), 256 << 20)
    reads = []

    class Counting(gzip.GzipFile):
        def read(self, size=-1):
            data = super().read(size)
            reads.append(len(data))
            return data

    with pytest.raises(DataError, match="unexpected bytes after the data .more than the 18 bytes its header"):
        read_idx(bomb)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gzip, "open", lambda path, mode: Counting(path, mode))
        with pytest.raises(DataError):
            read_idx_bytes(bomb)
    assert sum(reads) <= 19  # the header's 18 bytes and one more: the rest is never inflated


def test_the_catalog_size_bounds_a_file_whose_header_claims_more(tmp_path):
    huge_header = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 60000 * 100, 28, 28)  # claims 4.7 GB
    bomb = _gzip_bomb(tmp_path / "train-images-idx3-ubyte.gz", huge_header, 64 << 20)
    with pytest.raises(DataError, match="more than the 1,000 bytes expected"):
        read_idx_bytes(bomb, limit=1000)
    plain = tmp_path / "train-images-idx3-ubyte"
    plain.write_bytes(huge_header + bytes(5000))
    with pytest.raises(DataError, match="5,016 bytes, more than the 1,000 expected"):  # from its size alone
        read_idx_bytes(plain, limit=1000)
    assert read_idx_bytes(plain, limit=5016) == huge_header + bytes(5000)  # exactly the limit is fine


def test_reading_in_chunks_gives_the_same_bytes(tmp_path):
    original = read_idx_bytes(bundled_dir(MNIST) / "t10k-labels-idx1-ubyte.gz", limit=10008)
    assert len(original) == 10008 and original == gzip.decompress(
        (bundled_dir(MNIST) / "t10k-labels-idx1-ubyte.gz").read_bytes())
