"""Strict reader and writer for IDX files (the MNIST file format), plain or gzip-compressed.

An IDX file is a 4-byte magic number (two zero bytes, a dtype code, the number of dimensions), one
big-endian uint32 per dimension, then the data, big-endian, row-major. Everything is checked: a truncated,
padded or corrupt file raises ``DataError`` naming the file and the problem.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from cnnlab.errors import DataError

# dtype code -> numpy dtype (big-endian, as the format stores it)
_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype.newbyteorder("="): code for code, dtype in _DTYPES.items()}

_IMAGE_STEMS = ("{prefix}-images-idx3-ubyte", "{prefix}-images.idx3-ubyte")
_LABEL_STEMS = ("{prefix}-labels-idx1-ubyte", "{prefix}-labels.idx1-ubyte")
_KIND_PREFIX = {"train": "train", "test": "t10k", "t10k": "t10k"}


_CHUNK = 1 << 20  # bytes read (or inflated) at a time: the most read beyond a limit before it is noticed


def read_idx_bytes(path: str | os.PathLike, limit: int | None = None) -> bytes:
    """The uncompressed bytes of an IDX file (``.gz`` files are decompressed), read a chunk at a time.

    Reading stops, with a ``DataError``, as soon as more bytes arrive than ``limit`` (the size a catalog expects)
    or than the file's own header declares: a small gzip file that inflates to gigabytes costs no more memory
    than the file it claims to be.
    """
    path = Path(path)
    try:
        if path.suffix != ".gz":
            size = os.stat(path).st_size
            if limit is not None and size > limit:  # known before reading anything
                raise DataError(f"{path}: {size:,} bytes, more than the {limit:,} expected; delete it and fetch "
                                "the dataset again")
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as file:
            return _read_bounded(file, path, limit)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise DataError(f"{path}: corrupt gzip data ({err}); delete it and fetch the dataset again") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None


def _read_bounded(file, path: Path, limit: int | None) -> bytes:
    data = bytearray(file.read(4))  # the header first, so that its declared size bounds every later read
    if len(data) == 4 and data[3]:
        data += file.read(4 * data[3])
    declared = _declared_size(data)
    allowed = declared if limit is None or (declared is not None and declared < limit) else limit
    while allowed is None or len(data) <= allowed:
        chunk = file.read(_CHUNK if allowed is None else min(_CHUNK, allowed + 1 - len(data)))
        if not chunk:
            return bytes(data)
        data += chunk
    if allowed == declared:
        raise DataError(f"{path}: unexpected bytes after the data (more than the {allowed:,} bytes its header "
                        "declares); delete it and fetch the dataset again")
    raise DataError(f"{path}: more than the {allowed:,} bytes expected (it is not the catalog's file); delete it "
                    "and fetch the dataset again")


def _declared_size(data: bytearray) -> int | None:
    """The total size an IDX header declares, once its bytes have arrived (None before, or if it is no header:
    ``parse_idx`` then says what is wrong)."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES or data[3] == 0:
        return None
    header_size = 4 + 4 * data[3]
    if len(data) < header_size:
        return None
    dims = struct.unpack(f">{data[3]}I", bytes(data[4:header_size]))
    return header_size + int(np.prod(dims, dtype=object)) * _DTYPES[data[2]].itemsize


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse uncompressed IDX bytes into an array in native byte order."""
    if len(data) < 4:
        raise DataError(f"{name}: not an IDX file (only {len(data)} bytes, need a 4-byte header)")
    zero1, zero2, code, ndim = data[0], data[1], data[2], data[3]
    if zero1 != 0 or zero2 != 0:
        raise DataError(f"{name}: not an IDX file (bad magic number 0x{data[:4].hex()})")
    if code not in _DTYPES:
        raise DataError(f"{name}: unknown IDX dtype code 0x{code:02x}")
    if ndim == 0:
        raise DataError(f"{name}: IDX header declares 0 dimensions")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DataError(f"{name}: truncated header ({len(data)} bytes, need {header_size})")
    dims = struct.unpack(f">{ndim}I", data[4:header_size])
    dtype = _DTYPES[code]
    expected = header_size + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) < expected:
        raise DataError(f"{name}: truncated ({len(data):,} bytes, header {list(dims)} needs {expected:,})")
    if len(data) > expected:
        raise DataError(f"{name}: {len(data) - expected:,} unexpected bytes after the data (header {list(dims)})")
    array = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (plain or ``.gz``) into a numpy array.

    Example:
        >>> labels = read_idx("t10k-labels-idx1-ubyte.gz")  # doctest: +SKIP
        >>> labels.shape
        (10000,)
    """
    return parse_idx(read_idx_bytes(path), str(path))


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode an array as IDX bytes (the inverse of ``parse_idx``)."""
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _CODES:
        raise ValueError(f"IDX cannot store dtype {array.dtype}; use uint8, int8, int16, int32, float32 or float64")
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"IDX needs 1 to 255 dimensions, got {array.ndim}")
    code = _CODES[native]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=_DTYPES[code]).tobytes()


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write an array as an IDX file, gzip-compressed when the name ends in ``.gz``; returns the path."""
    path = Path(path)
    data = idx_bytes(array)
    if path.suffix == ".gz":
        data = gzip.compress(data, compresslevel=9, mtime=0)  # mtime=0: same bytes for the same array
    path.write_bytes(data)
    return path


def find_idx_file(folder: str | os.PathLike, kind: str, what: str) -> Path | None:
    """Locate ``kind`` (train|test) ``what`` (images|labels) in a folder under any of the usual names.

    Accepts ``train-images-idx3-ubyte``, ``train-images.idx3-ubyte`` and both with ``.gz``.
    """
    prefix = _prefix(kind)
    stems = _IMAGE_STEMS if what == "images" else _LABEL_STEMS
    folder = Path(folder)
    for stem in stems:
        for suffix in ("", ".gz"):
            candidate = folder / (stem.format(prefix=prefix) + suffix)
            if candidate.is_file():
                return candidate
    return None


def load_mnist(path: str | os.PathLike, kind: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST-layout IDX files from a folder: ``(N, 784)`` uint8 images and ``(N,)`` uint8 labels.

    ``kind`` is ``"train"`` or ``"test"`` (``"t10k"`` also works). No checksum is checked here: use
    ``cnnlab.load_dataset`` for verified data.

    Example:
        >>> X_train, y_train = load_mnist("data/mnist", kind="train")  # doctest: +SKIP
        >>> X_train.shape, y_train.shape
        ((60000, 784), (60000,))
    """
    images_path = find_idx_file(path, kind, "images")
    labels_path = find_idx_file(path, kind, "labels")
    for what, found in (("images", images_path), ("labels", labels_path)):
        if found is None:
            raise DataError(
                f"{path}: no {kind} {what} file (looked for {_prefix(kind)}-{what}-idx*-ubyte[.gz] "
                f"and {_prefix(kind)}-{what}.idx*-ubyte[.gz])"
            )
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    return check_image_label_pair(images, labels, str(images_path), str(labels_path))


def check_image_label_pair(
    images: np.ndarray, labels: np.ndarray, images_name: str, labels_name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Check shapes and dtypes of an image/label pair; return ``(N, 784)`` images and ``(N,)`` labels."""
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise DataError(f"{images_name}: expected uint8 images of 28x28, got {images.dtype} {list(images.shape)}")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise DataError(f"{labels_name}: expected a 1-D uint8 label vector, got {labels.dtype} {list(labels.shape)}")
    if len(images) != len(labels):
        raise DataError(f"{images_name} has {len(images):,} images but {labels_name} has {len(labels):,} labels")
    return images.reshape(len(images), 784), labels


def _prefix(kind: str) -> str:
    if kind not in _KIND_PREFIX:
        raise DataError(f"unknown data kind {kind!r}; use 'train' or 'test'")
    return _KIND_PREFIX[kind]
