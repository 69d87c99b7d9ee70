"""The datasets cnnlab knows: class names, the four files with sha256 and size, mirrors, system folders.

Checksums are data, kept beside the code: sha256 and size are those of the *uncompressed* IDX bytes, so a
file verifies whether it arrives plain or gzip-compressed by any tool.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnlab.errors import ConfigError

SPLITS = ("train", "test")
PARTS = ("images", "labels")


@dataclass(frozen=True)
class FileSpec:
    """One IDX file: its canonical name (without ``.gz``), sha256 and size of the uncompressed bytes."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class DatasetSpec:
    """Everything needed to find, verify and label one dataset."""

    name: str
    title: str
    class_names: tuple[str, ...]
    files: dict[tuple[str, str], FileSpec]  # (split, part) -> file
    mirrors: tuple[str, ...]  # base URLs; the file name + ".gz" is appended
    system_dirs: tuple[str, ...]  # folders an OS package installs the files into
    bundled: bool  # shipped inside the cnnlab package
    license: str
    how_to_get: str  # one sentence for error messages
    system_package: str | None = None  # the Debian package that installs system_dirs[0], if there is one

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def file(self, split: str, part: str) -> FileSpec:
        return self.files[(split, part)]


def _files(sums: dict[str, tuple[str, int]]) -> dict[tuple[str, str], FileSpec]:
    names = {
        ("train", "images"): "train-images-idx3-ubyte",
        ("train", "labels"): "train-labels-idx1-ubyte",
        ("test", "images"): "t10k-images-idx3-ubyte",
        ("test", "labels"): "t10k-labels-idx1-ubyte",
    }
    return {key: FileSpec(name, *sums[name]) for key, name in names.items()}


MNIST = DatasetSpec(
    name="mnist",
    title="MNIST handwritten digits",
    class_names=tuple(str(d) for d in range(10)),
    files=_files({
        "train-images-idx3-ubyte": ("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", 47040016),
        "train-labels-idx1-ubyte": ("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", 60008),
        "t10k-images-idx3-ubyte": ("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", 7840016),
        "t10k-labels-idx1-ubyte": ("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", 10008),
    }),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    system_dirs=("/usr/share/datasets/mnist",),
    bundled=True,
    license="CC BY-SA 3.0, Yann LeCun, Corinna Cortes and Christopher J.C. Burges",
    how_to_get="MNIST ships inside cnnlab; reinstall the package or pass --data-dir with the four IDX files",
)

FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    title="Fashion-MNIST (Zalando) clothing",
    class_names=(
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
    files=_files({
        "train-images-idx3-ubyte": ("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 47040016),
        "train-labels-idx1-ubyte": ("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60008),
        "t10k-images-idx3-ubyte": ("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 7840016),
        "t10k-labels-idx1-ubyte": ("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10008),
    }),
    mirrors=(
        "https://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    ),
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    bundled=False,
    license="MIT, Zalando Research",
    how_to_get=(
        "install it with 'apt-get install dataset-fashion-mnist', run 'cnnlab data fetch fashion-mnist' "
        "where the internet is reachable, or pass --data-dir with the four IDX files"
    ),
    system_package="dataset-fashion-mnist",
)

DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (MNIST, FASHION_MNIST)}


def get_dataset_spec(name: str) -> DatasetSpec:
    """The catalog entry for ``name``; unknown names are refused with the list of known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ConfigError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}") from None

