"""The dataset catalog and the sources: order, sha256 verification, no substitution, real downloads over
HTTP from a local server on 127.0.0.1 (serving the real files, and a wrong one)."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import http.server
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from cnnlab.data import sources
from cnnlab.data.catalog import DATASETS, FASHION_MNIST, MNIST, get_dataset_spec
from cnnlab.data.idx import idx_bytes
from cnnlab.data.sources import bundled_dir, fetch_to, load_dataset, survey_sources
from cnnlab.errors import ConfigError, DataError

FASHION_SYSTEM = Path(FASHION_MNIST.system_dirs[0])


def test_catalog_lists_both_datasets_with_checksums_and_class_names():
    assert set(DATASETS) == {"mnist", "fashion-mnist"}
    for spec in DATASETS.values():
        assert spec.num_classes == 10 and len(spec.files) == 4
        assert all(len(f.sha256) == 64 for f in spec.files.values())
        assert spec.file("train", "images").size == 47040016 and spec.file("test", "labels").size == 10008
        assert spec.mirrors
    assert FASHION_MNIST.class_names[0] == "T-shirt/top" and FASHION_MNIST.class_names[9] == "Ankle boot"
    with pytest.raises(ConfigError, match="unknown dataset 'cifar'"):
        get_dataset_spec("cifar")


def test_bundled_mnist_verifies_and_loads(mnist):
    assert mnist.source.startswith("bundled:")
    assert mnist.x_train.shape == (60000, 784) and mnist.x_test.shape == (10000, 784)
    assert mnist.sha256["train-images-idx3-ubyte"] == MNIST.file("train", "images").sha256


def _copy_bundled(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for f in bundled_dir(MNIST).glob("*.gz"):
        shutil.copy(f, dest / f.name)
    return dest


def test_data_dir_comes_first_and_accepts_plain_dotted_names(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    for f in bundled_dir(MNIST).glob("*.gz"):  # uncompressed, tutorial-style dotted names
        plain = f.name[:-3].replace("-idx", ".idx")
        (folder / plain).write_bytes(gzip.decompress(f.read_bytes()))
    data = load_dataset("mnist", folder, download=False)
    assert data.source == f"data-dir: {folder}"


def test_data_dir_with_the_other_dataset_is_an_error_not_a_substitution(tmp_path):
    if not FASHION_SYSTEM.is_dir():
        pytest.skip("Fashion-MNIST is not installed")
    folder = tmp_path / "fashion-files"
    shutil.copytree(FASHION_SYSTEM, folder)
    with pytest.raises(DataError) as caught:
        load_dataset("mnist", folder, download=False)
    message = str(caught.value)
    assert "it is fashion-mnist's" in message and "--data-dir" in message


def test_a_corrupt_cache_is_skipped_and_reported(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("CNNLAB_DATA", str(cache))
    _copy_bundled(cache / "mnist")
    (cache / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01junk"))
    data = load_dataset("mnist", download=False)
    assert data.source.startswith("bundled:")
    cache_report = [r for r in survey_sources("mnist") if r.source == "cache"][0]
    assert not cache_report.ok and "t10k-labels" in cache_report.detail


def test_a_verified_cache_is_used_before_the_bundled_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLAB_DATA", str(tmp_path))
    _copy_bundled(tmp_path / "mnist")
    assert load_dataset("mnist", download=False).source == f"cache: {tmp_path / 'mnist'}"


# -------------------------------------------------------------------- downloads over real HTTP


class _Server:
    """A real HTTP server on 127.0.0.1 serving a folder, in a thread."""

    def __init__(self, folder: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server_factory():
    servers = []

    def start(folder: Path) -> str:
        servers.append(_Server(folder))
        return servers[-1].url

    yield start
    for s in servers:
        s.close()


def test_download_of_the_real_files_verifies_and_loads(tmp_path, monkeypatch, server_factory):
    if not FASHION_SYSTEM.is_dir():
        pytest.skip("Fashion-MNIST is not installed")
    url = server_factory(FASHION_SYSTEM)
    cache = tmp_path / "cache"
    monkeypatch.setenv("CNNLAB_DATA", str(cache))
    monkeypatch.setenv("CNNLAB_MIRRORS", url)
    hidden = dataclasses.replace(FASHION_MNIST, system_dirs=(str(tmp_path / "no-system-copy"),))
    monkeypatch.setattr(sources, "get_dataset_spec", lambda name: hidden)
    data = load_dataset("fashion-mnist")
    assert data.source == f"download: {cache / 'fashion-mnist'}"
    assert data.x_train.shape == (60000, 784) and data.class_names[9] == "Ankle boot"
    assert sorted(p.name for p in (cache / "fashion-mnist").iterdir()) == sorted(
        f.name + ".gz" for f in FASHION_MNIST.files.values())  # no temporary files left behind
    assert load_dataset("fashion-mnist", download=False).source.startswith("cache:")


def test_a_mirror_serving_a_wrong_file_is_rejected_and_the_next_mirror_used(tmp_path, server_factory):
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    labels = MNIST.file("test", "labels")
    (wrong / f"{labels.name}.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(10000, dtype=np.uint8))))
    bad_url = server_factory(wrong)
    good_url = server_factory(bundled_dir(MNIST))
    target = tmp_path / "target"

    target.mkdir()
    with pytest.raises(DataError, match="checksum mismatch"):
        sources.download_verified(bad_url + f"{labels.name}.gz", target / f"{labels.name}.gz", labels)
    assert not any(target.iterdir())  # nothing half-written or wrong kept

    fetch_to(MNIST, target, mirrors=(bad_url, good_url))
    assert load_dataset("mnist", target, download=False).source == f"data-dir: {target}"


def test_missing_files_on_every_mirror_give_one_error_naming_them(tmp_path, server_factory):
    empty = tmp_path / "empty"
    empty.mkdir()
    url = server_factory(empty)
    with pytest.raises(DataError, match="HTTP 404"):
        fetch_to(MNIST, tmp_path / "t", mirrors=(url,))


def test_when_nothing_works_the_error_lists_every_source_and_the_fix(tmp_path, monkeypatch, server_factory):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("CNNLAB_MIRRORS", server_factory(empty))
    hidden = dataclasses.replace(FASHION_MNIST, system_dirs=(str(tmp_path / "none"),))
    monkeypatch.setattr(sources, "get_dataset_spec", lambda name: hidden)
    with pytest.raises(DataError) as caught:
        load_dataset("fashion-mnist")
    message = str(caught.value)
    for part in ("cache", "system", "download", "apt-get install dataset-fashion-mnist"):
        assert part in message
    assert "\n" not in message


def test_an_explicit_data_dir_without_the_files_is_an_error(tmp_path):
    with pytest.raises(DataError, match="does not hold the four mnist IDX files .no such folder"):
        load_dataset("mnist", tmp_path / "nowhere")
    _copy_bundled(tmp_path / "partial")
    (tmp_path / "partial" / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataError, match="missing t10k-images-idx3-ubyte"):
        load_dataset("mnist", tmp_path / "partial")
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(DataError, match="does not hold the four mnist IDX files .it is a file, not a folder"):
        load_dataset("mnist", tmp_path / "a-file")


def test_data_verify_says_what_a_data_dir_is_when_it_is_no_folder(tmp_path, cli):
    (tmp_path / "a-file").write_text("not a folder")
    code, _, err = cli("data", "verify", "mnist", "--data-dir", str(tmp_path / "a-file"))
    assert code == DataError.exit_code and err.strip().endswith("a-file: it is a file, not a folder")
    code, _, err = cli("data", "verify", "mnist", "--data-dir", str(tmp_path / "nowhere"))
    assert code == DataError.exit_code and err.strip().endswith("nowhere: no such folder")


def _closed_port_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens: connections are refused, as on a machine offline."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/fashion/"


def test_offline_fetch_lists_the_urls_tried_and_the_offline_ways(tmp_path, monkeypatch, cli):
    url = _closed_port_url()
    monkeypatch.setenv("CNNLAB_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("CNNLAB_MIRRORS", url)
    hidden = dataclasses.replace(FASHION_MNIST, system_dirs=(str(tmp_path / "no-system-copy"),))
    monkeypatch.setattr(sources, "get_dataset_spec", lambda name: hidden)
    code, out, err = cli("data", "fetch", "fashion-mnist")
    assert code == DataError.exit_code and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    first = FASHION_MNIST.file("train", "images").name
    assert f"tried {url}{first}.gz: [Errno 111] Connection refused" in err
    assert "--data-dir DIR" in err and "t10k-labels-idx1-ubyte" in err
    assert "apt-get install dataset-fashion-mnist" in err and "CNNLAB_MIRRORS" in err
