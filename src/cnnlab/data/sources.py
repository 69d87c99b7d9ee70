"""Find a dataset, verify it by sha256, and load it — or download it into the cache.

Sources are tried in order: ``--data-dir`` (when given, it must hold the dataset); the user cache
(``$CNNLAB_DATA``, default ``~/.cache/cnnlab``); the copy bundled inside the package (MNIST); the operating
system's package folder (``/usr/share/datasets/...``); the public mirrors (downloaded into the cache). A folder the
user named explicitly that holds wrong or corrupt files is an error, never skipped: one dataset is never quietly
replaced by another. When nothing works the error lists every source tried.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from cnnlab.data.catalog import DATASETS, PARTS, SPLITS, DatasetSpec, FileSpec, get_dataset_spec
from cnnlab.data.idx import check_image_label_pair, find_idx_file, idx_bytes, parse_idx, read_idx_bytes
from cnnlab.errors import DataError
from cnnlab.fileio import atomic_write_bytes, commit, temporary_path, what_is_at

DOWNLOAD_TIMEOUT_S = 30.0
DOWNLOAD_RETRIES = 3
_GZIP_SLACK = 1 << 16  # bytes: more than gzip's header and block overhead add to the catalog's size


@dataclass
class Dataset:
    """A verified dataset: ``(N, 784)`` uint8 images, ``(N,)`` uint8 labels, and where they came from."""

    spec: DatasetSpec
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str  # "<source name>: <folder>"
    sha256: dict[str, str] = field(default_factory=dict)  # canonical file name -> sha256 of its bytes

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.spec.class_names


@dataclass(frozen=True)
class SourceReport:
    """What one source held: ``ok`` True when all four files verified."""

    source: str
    location: str
    ok: bool
    detail: str


class _Mismatch(Exception):
    """A file is present but is not the catalog's file (wrong bytes, corrupt, wrong size)."""


# -------------------------------------------------------------------- locations


def cache_root() -> Path:
    """The user cache: ``$CNNLAB_DATA`` or ``~/.cache/cnnlab``."""
    return Path(os.environ.get("CNNLAB_DATA") or Path.home() / ".cache" / "cnnlab")


def bundled_dir(spec: DatasetSpec) -> Path | None:
    if not spec.bundled:
        return None
    return Path(str(resources.files("cnnlab.data").joinpath("bundled", spec.name)))


def mirrors_for(spec: DatasetSpec) -> tuple[str, ...]:
    """Download base URLs: ``$CNNLAB_MIRRORS`` (comma-separated) overrides the catalog's."""
    override = os.environ.get("CNNLAB_MIRRORS", "").strip()
    if override:
        return tuple(m.strip() for m in override.split(",") if m.strip())
    return spec.mirrors


def local_sources(spec: DatasetSpec, data_dir: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """The folders to look in, in order, as (source name, folder)."""
    found: list[tuple[str, Path]] = []
    if data_dir is not None:
        found.append(("data-dir", Path(data_dir)))
    found.append(("cache", cache_root() / spec.name))
    bundled = bundled_dir(spec)
    if bundled is not None:
        found.append(("bundled", bundled))
    found.extend(("system", Path(d)) for d in spec.system_dirs)
    return found


# -------------------------------------------------------------------- verification


def _verified_bytes(path: Path, expected: FileSpec) -> tuple[bytes, str]:
    try:
        data = read_idx_bytes(path, limit=expected.size)  # a gzip bomb stops at the catalog's size
    except DataError as err:
        raise _Mismatch(str(err)) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected.sha256:
        raise _Mismatch(f"{path}: sha256 {digest[:12]}… is not {expected.name}'s {expected.sha256[:12]}…"
                        f"{_which_dataset_is_it(digest)}")
    if len(data) != expected.size:  # cannot happen when the sha256 matched, but costs nothing
        raise _Mismatch(f"{path}: {len(data):,} bytes, expected {expected.size:,}")
    return data, digest


def _which_dataset_is_it(digest: str) -> str:
    for spec in DATASETS.values():
        for file in spec.files.values():
            if file.sha256 == digest:
                return f" (it is {spec.name}'s {file.name})"
    return ""


def _load_folder(spec: DatasetSpec, folder: Path) -> tuple[dict[str, np.ndarray], dict[str, str]] | None:
    """Load and verify all four files from a folder; None if any is absent; _Mismatch if any is wrong."""
    paths = {(split, part): find_idx_file(folder, split, part) for split in SPLITS for part in PARTS}
    if any(p is None for p in paths.values()):
        return None
    arrays: dict[str, np.ndarray] = {}
    digests: dict[str, str] = {}
    for (split, part), path in paths.items():
        expected = spec.file(split, part)
        data, digest = _verified_bytes(path, expected)
        arrays[f"{split}_{part}"] = parse_idx(data, str(path))
        digests[expected.name] = digest
    return arrays, digests


def _missing_files(spec: DatasetSpec, folder: Path) -> str:
    if not folder.is_dir():
        what = what_is_at(folder, "a folder")
        return "no such folder" if what == "missing" else f"it is {what or 'a file, not a folder'}"
    missing = [spec.file(split, part).name for split in SPLITS for part in PARTS
               if find_idx_file(folder, split, part) is None]
    return "missing " + ", ".join(missing)


def _dataset_from_arrays(spec: DatasetSpec, arrays: dict[str, np.ndarray], source: str,
                         digests: dict[str, str]) -> Dataset:
    x_train, y_train = check_image_label_pair(arrays["train_images"], arrays["train_labels"], "train images",
                                              "train labels")
    x_test, y_test = check_image_label_pair(arrays["test_images"], arrays["test_labels"], "test images",
                                            "test labels")
    return Dataset(spec, x_train, y_train, x_test, y_test, source, digests)


# -------------------------------------------------------------------- public API


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = True,
) -> Dataset:
    """Find, verify and load a dataset from the first source that holds it.

    Example:
        >>> ds = load_dataset("mnist")
        >>> ds.x_train.shape, ds.source.split(":")[0]
        ((60000, 784), 'bundled')
    """
    spec = get_dataset_spec(name)
    tried: list[str] = []
    for source, folder in local_sources(spec, data_dir):
        try:
            loaded = _load_folder(spec, folder)
        except _Mismatch as err:
            if source == "data-dir":
                raise DataError(f"{err}; --data-dir must hold the {spec.name} files") from None
            tried.append(f"{source} {folder}: {err}")
            continue
        if loaded is None:
            if source == "data-dir":
                raise DataError(f"--data-dir {folder} does not hold the four {spec.name} IDX files "
                                f"({_missing_files(spec, folder)}); {spec.how_to_get}")
            tried.append(f"{source} {folder}: not there")
            continue
        arrays, digests = loaded
        return _dataset_from_arrays(spec, arrays, f"{source}: {folder}", digests)
    if download:
        target = cache_root() / spec.name
        try:
            fetch_to(spec, target)
            loaded = _load_folder(spec, target)
            if loaded is not None:
                return _dataset_from_arrays(spec, loaded[0], f"download: {target}", loaded[1])
        except (DataError, _Mismatch) as err:
            tried.append(f"download: {err}")
    else:
        tried.append("download: not attempted")
    raise DataError(f"{spec.name} not found; tried {'; '.join(tried)}. To fix: {spec.how_to_get}")


def survey_sources(name: str, data_dir: str | os.PathLike | None = None) -> list[SourceReport]:
    """Check every local source of a dataset (nothing is downloaded); one report per source."""
    spec = get_dataset_spec(name)
    reports = []
    for source, folder in local_sources(spec, data_dir):
        try:
            loaded = _load_folder(spec, folder)
        except _Mismatch as err:
            reports.append(SourceReport(source, str(folder), False, str(err)))
            continue
        if loaded is None:  # the folder the user named gets the details: what is missing, or what is there instead
            detail = _missing_files(spec, folder) if source == "data-dir" else "not there"
            reports.append(SourceReport(source, str(folder), False, detail))
        else:
            reports.append(SourceReport(source, str(folder), True, "all 4 files verified"))
    return reports


def fetch_dataset(name: str, dest: str | os.PathLike | None = None) -> tuple[Path, str]:
    """Make a verified copy of a dataset in ``dest`` (default: the user cache); returns (folder, origin).

    A local verified source is copied (as gzip) when there is one; otherwise the mirrors are downloaded.
    """
    spec = get_dataset_spec(name)
    target = Path(dest) if dest is not None else cache_root() / spec.name
    try:
        if _load_folder(spec, target) is not None:
            return target, "already there"
    except _Mismatch:
        pass  # a wrong or corrupt copy in the target is replaced below
    for source, folder in local_sources(spec):
        if folder.resolve() == target.resolve():
            continue
        try:
            loaded = _load_folder(spec, folder)
        except _Mismatch:
            continue
        if loaded is not None:
            _write_copy(spec, loaded[0], target)
            return target, f"copied from {source} {folder}"
    fetch_to(spec, target)
    return target, "downloaded"


def _write_copy(spec: DatasetSpec, arrays: dict[str, np.ndarray], target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for (split, part), file in spec.files.items():
        data = gzip.compress(idx_bytes(arrays[f"{split}_{part}"]), compresslevel=6, mtime=0)
        atomic_write_bytes(target / f"{file.name}.gz", data)


# -------------------------------------------------------------------- download


def fetch_to(spec: DatasetSpec, target: Path, mirrors: tuple[str, ...] | None = None) -> None:
    """Download the four files into ``target``, each verified, written atomically; DataError if all fail."""
    target.mkdir(parents=True, exist_ok=True)
    mirrors = mirrors or mirrors_for(spec)
    for file in spec.files.values():
        destination = target / f"{file.name}.gz"
        try:
            _verified_bytes(destination, file)
            continue  # already have it
        except _Mismatch:
            pass
        failures = []
        for base in mirrors:
            url = base.rstrip("/") + "/" + file.name + ".gz"
            try:
                download_verified(url, destination, file)
                break
            except DataError as err:
                failures.append(str(err))
        else:
            tried = " | ".join(failures) or "no mirrors configured"
            raise DataError(f"could not download {file.name}.gz (tried {tried}); without the internet: "
                            f"{offline_ways(spec)}")


def offline_ways(spec: DatasetSpec) -> str:
    """One sentence: the ways to get ``spec`` onto a machine that cannot reach the public mirrors."""
    names = ", ".join(file.name for file in spec.files.values())
    ways = [f"copy the four files ({names}, plain or .gz) into a folder and pass --data-dir DIR"]
    if spec.system_package:
        ways.append(f"'apt-get install {spec.system_package}' (Debian, Ubuntu) puts them in {spec.system_dirs[0]}")
    ways.append("set CNNLAB_MIRRORS to comma-separated base URLs of a mirror you can reach")
    return "; ".join(ways)


def download_verified(url: str, destination: Path, expected: FileSpec, *, timeout: float = DOWNLOAD_TIMEOUT_S,
                      retries: int = DOWNLOAD_RETRIES) -> Path:
    """Download ``url`` to ``destination`` atomically, keeping it only if its content has ``expected``'s sha256."""
    last_error = "no attempt"
    for attempt in range(retries):
        if attempt:
            time.sleep(min(2.0 ** (attempt - 1), 4.0))
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                # gzip never grows data by more than a little: a longer answer is not the file
                payload = response.read(expected.size + _GZIP_SLACK + 1)
        except urllib.error.HTTPError as err:
            last_error = f"HTTP {err.code}"
            if 400 <= err.code < 500:
                break  # a missing file will not appear on retry
            continue
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            last_error = str(getattr(err, "reason", err))
            continue
        if len(payload) > expected.size + _GZIP_SLACK:
            raise DataError(f"{url}: more than {expected.size + _GZIP_SLACK:,} bytes (the mirror serves a "
                            "different file)")
        temporary = temporary_path(destination)  # keeps ".gz", which decides whether it is decompressed
        temporary.write_bytes(payload)
        try:
            _verified_bytes(temporary, expected)
        except _Mismatch:
            temporary.unlink(missing_ok=True)
            raise DataError(f"{url}: checksum mismatch (the mirror serves a different file)") from None
        commit(temporary, destination)
        return destination
    raise DataError(f"{url}: {last_error}")
