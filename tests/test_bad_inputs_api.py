"""Bad inputs through the Python API: specs, model files, forward passes, dataset files, zoo builds and
file writes. Each case asserts the exception type, that the message names the field/file at fault, and
that nothing was written or lost."""

from __future__ import annotations

import gzip
import json
import os
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from kan_core import KAN, KANSpec
from kan_core.io import atomic_write_bytes, load_tensors, save_tensors, staged_folder


def _listing(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"<dir>")
        for p in sorted(folder.rglob("*"))
    }


# ------------------------------------------------------------------------------------------- KANSpec
SPEC_CASES = [
    ("widths-string", {"widths": "23"}, TypeError, "KANSpec.widths"),
    ("widths-floats", {"widths": [2.7, 5.9, 1]}, ValueError, "KANSpec.widths[0]"),
    ("widths-int", {"widths": 5}, TypeError, "KANSpec.widths"),
    ("widths-none", {"widths": None}, TypeError, "KANSpec.widths"),
    ("widths-short", {"widths": [2]}, ValueError, "KANSpec.widths"),
    ("widths-zero", {"widths": [2, 0, 1]}, ValueError, "KANSpec.widths"),
    ("widths-bool", {"widths": [2, True]}, TypeError, "KANSpec.widths[1]"),
    ("widths-text-item", {"widths": [2, "3"]}, TypeError, "KANSpec.widths[1]"),
    ("grid-string", {"widths": [2, 1], "grid_size": "5"}, TypeError, "KANSpec.grid_size"),
    ("grid-float", {"widths": [2, 1], "grid_size": 2.5}, ValueError, "KANSpec.grid_size"),
    ("grid-bool", {"widths": [2, 1], "grid_size": True}, TypeError, "KANSpec.grid_size"),
    ("grid-zero", {"widths": [2, 1], "grid_size": 0}, ValueError, "KANSpec.grid_size"),
    ("order-zero", {"widths": [2, 1], "spline_order": 0}, ValueError, "KANSpec.spline_order"),
    ("order-nan", {"widths": [2, 1], "spline_order": float("nan")}, ValueError, "KANSpec.spline_order"),
    ("degree-neg", {"widths": [2, 1], "degree": -1}, ValueError, "KANSpec.degree"),
    ("range-reversed", {"widths": [2, 1], "grid_range": (1, -1)}, ValueError, "KANSpec.grid_range"),
    ("range-string", {"widths": [2, 1], "grid_range": "ab"}, TypeError, "KANSpec.grid_range"),
    ("range-inf", {"widths": [2, 1], "grid_range": (0, float("inf"))}, ValueError, "KANSpec.grid_range"),
    ("range-three", {"widths": [2, 1], "grid_range": (0, 1, 2)}, TypeError, "KANSpec.grid_range"),
    ("basis-int", {"widths": [2, 1], "basis": 5}, TypeError, "KANSpec.basis"),
    ("basis-unknown", {"widths": [2, 1], "basis": "fourier"}, ValueError, "KANSpec.basis"),
    ("wavelet-unknown", {"widths": [2, 1], "wavelet": "haar"}, ValueError, "KANSpec.wavelet"),
    ("activation", {"widths": [2, 1], "base_activation": "relu"}, ValueError, "KANSpec.base_activation"),
    ("affine-text", {"widths": [2, 1], "affine": "yes"}, TypeError, "KANSpec.affine"),
]


@pytest.mark.parametrize(
    ("kwargs", "exc", "needle"), [pytest.param(k, e, n, id=i) for i, k, e, n in SPEC_CASES]
)
def test_kanspec_rejects_bad_fields(kwargs, exc, needle):
    with pytest.raises(exc) as info:
        KANSpec(**kwargs)
    assert needle in str(info.value)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        pytest.param('{"widths": [2, 1], "colour": "red"}', "colour", id="unknown-field"),
        pytest.param('{"widths": "21"}', "KANSpec.widths", id="widths-text"),
        pytest.param("[2, 1]", "KANSpec dict", id="not-object"),
        pytest.param('{"widths": [2, 1], "extra": 5}', "KANSpec.extra", id="extra-not-pairs"),
    ],
)
def test_kanspec_from_json_rejects(text, needle):
    with pytest.raises((TypeError, ValueError)) as info:
        KANSpec.from_json(text)
    assert needle in str(info.value)


def test_kanspec_accepts_integral_numbers():
    assert KANSpec(np.array([2, 3, 1]), grid_size=np.int64(4)).widths == (2, 3, 1)
    assert KANSpec([torch.tensor(2), 1]).widths == (2, 1)
    assert KANSpec((2.0, 1), grid_size=5.0).grid_size == 5


# ---------------------------------------------------------------------------------------- KAN.forward
FORWARD_CASES = [
    ("float64", lambda: torch.zeros(4, 2, dtype=torch.float64), TypeError, "float64"),
    ("int64", lambda: torch.zeros(4, 2, dtype=torch.int64), TypeError, "int64"),
    ("zero-d", lambda: torch.tensor(1.0), ValueError, "0-d"),
    ("features", lambda: torch.zeros(4, 3), ValueError, "2 features"),
    ("one-d-wrong", lambda: torch.zeros(5), ValueError, "2 features"),
    (
        "one-d-point",
        lambda: torch.zeros(2),
        ValueError,
        "KAN expects a batch of points, shape (B, 2); got one point of shape (2,): pass x.unsqueeze(0) "
        "(shape (1, ...)) for a single point",
    ),
    ("list", lambda: [[0.0, 0.0]], TypeError, "torch.Tensor"),
    ("numpy", lambda: np.zeros((4, 2), dtype=np.float32), TypeError, "torch.Tensor"),
]


@pytest.mark.parametrize(
    ("make", "exc", "needle"), [pytest.param(m, e, n, id=i) for i, m, e, n in FORWARD_CASES]
)
def test_forward_rejects_bad_inputs(make, exc, needle):
    kan = KAN.from_widths([2, 3, 1], generator=torch.Generator().manual_seed(0))
    with pytest.raises(exc) as info:
        kan(make())
    assert needle in str(info.value)


def test_forward_accepts_batched_and_single_points():
    kan = KAN.from_widths([2, 3, 1], generator=torch.Generator().manual_seed(0))
    assert kan(torch.zeros(3, 4, 2)).shape == (3, 4, 1)
    assert kan.double()(torch.zeros(4, 2, dtype=torch.float64)).dtype == torch.float64


# -------------------------------------------------------------------------------------- model files
def _saved(tmp_path: Path, basis: str = "bspline") -> Path:
    path = tmp_path / "model.safetensors"
    KAN.from_widths([2, 3, 1], basis=basis, generator=torch.Generator().manual_seed(0)).save(path)
    return path


def _retag(path: Path, **meta_changes: str) -> None:
    tensors, meta = load_tensors(path)
    meta.update(meta_changes)
    save_tensors(path, tensors, meta)


def _spec_json(path: Path, **changes) -> str:
    _, meta = load_tensors(path)
    spec = json.loads(meta["spec"])
    spec.update(changes)
    return json.dumps(spec)


def _edit(path: Path, name: str, fn) -> None:
    tensors, meta = load_tensors(path)
    tensors[name] = fn(tensors[name].clone())
    save_tensors(path, tensors, meta)


def _tie(g: torch.Tensor) -> torch.Tensor:
    g[0, 4] = g[0, 3]
    return g


def _reverse(g: torch.Tensor) -> torch.Tensor:
    return g.flip(-1).contiguous()


FILE_CASES = [
    ("huge-widths", lambda p: _retag(p, spec=_spec_json(p, widths=[1000000, 1000000, 1])), "layers.0"),
    ("spec-not-json", lambda p: _retag(p, spec="{widths"), "spec"),
    ("spec-widths-text", lambda p: _retag(p, spec=_spec_json(p, widths="23")), "KANSpec.widths"),
    ("spec-grid-float", lambda p: _retag(p, spec=_spec_json(p, grid_size=2.5)), "grid_size"),
    ("metadata-not-json", lambda p: _retag(p, metadata="{oops"), "metadata"),
    ("metadata-list", lambda p: _retag(p, metadata="[1, 2]"), "metadata"),
    ("no-format", lambda p: _retag(p, format="other/2"), "format"),
    ("tied-knots", lambda p: _edit(p, "layers.0.grid", _tie), "layers.0.grid"),
    ("reversed-knots", lambda p: _edit(p, "layers.0.grid", _reverse), "decreasing"),
    ("int-tensor", lambda p: _edit(p, "layers.0.coef", lambda t: t.long()), "layers.0.coef"),
    ("mixed-dtypes", lambda p: _edit(p, "layers.0.coef", lambda t: t.double()), "mix dtypes"),
    (
        "inf",
        lambda p: _edit(p, "layers.1.scale_base", lambda t: t.fill_(float("inf"))),
        "layers.1.scale_base",
    ),
    ("not-safetensors", lambda p: p.write_bytes(b"hello world" * 10), "safetensors"),
    ("empty-file", lambda p: p.write_bytes(b""), "safetensors"),
]


@pytest.mark.parametrize(("damage", "needle"), [pytest.param(d, n, id=i) for i, d, n in FILE_CASES])
def test_load_kan_names_the_file_and_fails_fast(tmp_path, damage, needle):
    path = _saved(tmp_path)
    damage(path)
    before = _listing(tmp_path)
    t0 = time.perf_counter()
    with pytest.raises(ValueError) as info:
        KAN.load(path)
    assert time.perf_counter() - t0 < 5  # checked before anything is allocated
    assert "model.safetensors" in str(info.value) and needle in str(info.value), str(info.value)
    assert _listing(tmp_path) == before


def test_collapsed_grid_of_a_constant_input_still_loads(tmp_path):
    """update_grid on an input that never varies gives all-equal knots: a legitimate model."""
    path = _saved(tmp_path)
    _edit(path, "layers.1.grid", lambda g: g.index_fill_(0, torch.tensor([1]), 0.25))
    kan = KAN.load(path)
    assert torch.isfinite(kan(torch.rand(8, 2))).all()


# ------------------------------------------------------------------------------------- dataset files
def _idx(path: Path, array: np.ndarray, code: int) -> None:
    dt = {0x08: ">u1", 0x0B: ">i2", 0x0D: ">f4"}[code]
    head = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    path.write_bytes(gzip.compress(head + array.astype(dt).tobytes()))


def _mnist(
    root: Path, images: np.ndarray, labels: np.ndarray, img_code: int = 0x08, lab_code: int = 0x08
) -> None:
    d = root / "mnist"
    d.mkdir(parents=True)
    _idx(d / "train-images-idx3-ubyte.gz", images, img_code)
    _idx(d / "train-labels-idx1-ubyte.gz", labels, lab_code)


IDX_CASES = [
    ("pixels-above-255", np.full((3, 4, 4), 300.0), np.arange(3), 0x0D, 0x08, "train-images", "[0, 255]"),
    ("pixels-negative", np.full((3, 4, 4), -1.0), np.arange(3), 0x0D, 0x08, "train-images", "[0, 255]"),
    ("pixels-nan", np.full((3, 4, 4), np.nan), np.arange(3), 0x0D, 0x08, "train-images", "[0, 255]"),
    ("label-10", np.zeros((3, 4, 4)), np.array([0, 10, 2]), 0x08, 0x08, "train-labels", "[0, 9]"),
    ("label-negative", np.zeros((3, 4, 4)), np.array([0, -1, 2]), 0x08, 0x0B, "train-labels", "[0, 9]"),
    ("label-float", np.zeros((3, 4, 4)), np.array([0.0, 1.5, 2.0]), 0x08, 0x0D, "train-labels", "integers"),
]


@pytest.mark.parametrize(
    ("images", "labels", "img_code", "lab_code", "file", "needle"),
    [pytest.param(*c[1:], id=c[0]) for c in IDX_CASES],
)
def test_idx_values_out_of_range_are_named(tmp_path, images, labels, img_code, lab_code, file, needle):
    from kan_core.datasets import load_dataset

    _mnist(tmp_path, images, labels, img_code, lab_code)
    before = _listing(tmp_path)
    with pytest.raises(ValueError) as info:
        load_dataset("mnist", "train", data_root=tmp_path)
    assert file in str(info.value) and needle in str(info.value), str(info.value)
    assert _listing(tmp_path) == before


def test_idx_float_pixels_in_range_are_scaled(tmp_path):
    from kan_core.datasets import load_dataset

    _mnist(tmp_path, np.full((2, 4, 4), 127.5), np.array([3, 9]), 0x0D)
    x, y = load_dataset("mnist", "train", data_root=tmp_path)
    assert torch.allclose(x, torch.full((2, 4, 4), 0.5)) and y.tolist() == [3, 9]


# ---------------------------------------------------------------------------------------- zoo builds
@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        pytest.param({"models": 0}, "models", id="models-0"),
        pytest.param({"models": -2}, "models", id="models-neg"),
    ],
)
def test_build_zoo_rejects_counts_before_creating_the_folder(tmp_path, kwargs, needle):
    from kan_ws.zoo import build_zoo

    with pytest.raises(ValueError, match=needle):
        build_zoo("sine-cpu", tmp_path / "zoo", device="cpu", **kwargs)
    assert not (tmp_path / "zoo").exists()


def test_build_zoo_missing_dataset_found_before_the_folder_exists(tmp_path, monkeypatch):
    from kan_core.datasets import DatasetNotFoundError
    from kan_ws.zoo import build_zoo

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KAN_DATA_ROOT", raising=False)
    if Path("/usr/share/datasets/kmnist").exists():
        pytest.skip("K-MNIST is installed system-wide here")
    with pytest.raises(DatasetNotFoundError, match="kmnist"):
        build_zoo("kmnist-clf-paper", tmp_path / "zoo", models=2, device="cpu", data_root=tmp_path / "data")
    assert not (tmp_path / "zoo").exists()


# ----------------------------------------------------------------------------------------- file writes
@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_written_files_get_the_umask_mode(tmp_path, umask):
    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "a.bin", b"x")
        KAN.from_widths([2, 1]).save(tmp_path / "k.safetensors")
        with open(tmp_path / "plain.txt", "w") as f:
            f.write("x")
    finally:
        os.umask(old)
    want = 0o666 & ~umask
    assert (tmp_path / "plain.txt").stat().st_mode & 0o777 == want
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == want
    assert (tmp_path / "k.safetensors").stat().st_mode & 0o777 == want


def test_staged_folder_leaves_nothing_on_failure_and_never_replaces_silently(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="halfway"):
        with staged_folder(out) as stage:
            (stage / "part.bin").write_bytes(b"half")
            raise RuntimeError("halfway")
    assert list(tmp_path.iterdir()) == []
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="out"):
        with staged_folder(out):
            pass
    assert _listing(out) == {"mine.txt": b"keep"}
    with staged_folder(out, replace=True) as stage:
        (stage / "new.bin").write_bytes(b"new")
    assert _listing(out) == {"new.bin": b"new"} and sorted(p.name for p in tmp_path.iterdir()) == ["out"]
