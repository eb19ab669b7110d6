"""Saving and loading KANs: round trips, corrupt files rejected with the file named, atomic writes."""

from __future__ import annotations

import json
import os
import struct

import pytest
import torch
from kan_core import BASES, KAN, KANSpec
from kan_core.io import atomic_write_bytes, load_tensors, save_tensors
from kan_core.model import load_kan


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _kan(basis: str = "bspline", affine: bool = False, dtype=torch.float32) -> KAN:
    spec = KANSpec((3, 4, 2), basis=basis, grid_size=4, spline_order=2, degree=2, affine=affine)
    kan = KAN(spec, generator=_gen(0), dtype=dtype)
    g = _gen(1)
    with torch.no_grad():
        for p in kan.layer_params():
            for name, t in p.items():
                if name not in ("grid", "mask"):
                    t.add_(0.1 * torch.randn(t.shape, generator=g, dtype=dtype))
            p["mask"][0, 0] = 0
    return kan


def _files(folder) -> list[str]:
    return sorted(os.listdir(folder))


@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("basis", BASES)
def test_round_trip_every_basis(tmp_path, basis, affine):
    kan = _kan(basis, affine)
    path = tmp_path / "model.safetensors"
    kan.save(path, metadata={"note": "hi", "step": 3})
    back = KAN.load(path)
    assert back.spec == kan.spec
    assert back.metadata == {"note": "hi", "step": 3}
    for a, b in zip(kan.layer_params(), back.layer_params()):
        assert a.keys() == b.keys()
        for name in a:
            assert torch.equal(a[name], b[name]), name
    x = torch.randn(5, 3, generator=_gen(2))
    assert torch.equal(back(x), kan(x))
    assert _files(tmp_path) == ["model.safetensors"]  # no temp files left behind


def test_round_trip_non_uniform_grid_float64(tmp_path):
    kan = _kan("bspline", affine=True, dtype=torch.float64)
    kan.update_grid(torch.rand(64, 3, generator=_gen(3), dtype=torch.float64) * 1.5 - 0.5)
    assert kan.layers[0]._uniform is False
    path = tmp_path / "sub" / "m.safetensors"  # parent folders are created
    kan.save(path)
    back = load_kan(path)
    assert back.layers[0].coef.dtype == torch.float64
    assert [layer._uniform for layer in back.layers] == [layer._uniform for layer in kan.layers]
    for a, b in zip(kan.layer_params(), back.layer_params()):
        for name in a:
            assert torch.equal(a[name], b[name]), name


def _header(path) -> tuple[int, dict, bytes]:
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    return n, json.loads(data[8 : 8 + n]), data[8 + n :]


def _write_with_header(path, header: dict, body: bytes) -> None:
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + body)


def test_truncated_file_names_the_file(tmp_path):
    path = tmp_path / "trunc.safetensors"
    _kan().save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])
    with pytest.raises(ValueError, match="trunc.safetensors"):
        KAN.load(path)
    path.write_bytes(data[:5])  # not even a header length
    with pytest.raises(ValueError, match="trunc.safetensors"):
        KAN.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="nope.safetensors"):
        KAN.load(tmp_path / "nope.safetensors")


def test_tampered_header_names_the_file(tmp_path):
    path = tmp_path / "tampered.safetensors"
    _kan().save(path)
    _, header, body = _header(path)
    # a broken JSON header
    raw = path.read_bytes()
    bad = bytearray(raw)
    bad[8] = ord("[")
    path.write_bytes(bytes(bad))
    with pytest.raises(ValueError, match="tampered.safetensors"):
        KAN.load(path)
    # a foreign format tag
    h = json.loads(json.dumps(header))
    h["__metadata__"]["format"] = "someone-else/7"
    _write_with_header(path, h, body)
    with pytest.raises(ValueError, match="tampered.safetensors.*format"):
        KAN.load(path)
    # a spec that does not parse
    h = json.loads(json.dumps(header))
    h["__metadata__"]["spec"] = '{"widths": [3], "basis": "bspline"}'
    _write_with_header(path, h, body)
    with pytest.raises(ValueError, match="tampered.safetensors.*spec"):
        KAN.load(path)
    # a spec whose widths no longer match the tensors
    h = json.loads(json.dumps(header))
    spec = json.loads(h["__metadata__"]["spec"])
    spec["widths"] = [3, 4, 2, 2]
    h["__metadata__"]["spec"] = json.dumps(spec)
    _write_with_header(path, h, body)
    with pytest.raises(ValueError, match="tampered.safetensors.*do not match"):
        KAN.load(path)
    # tensor offsets pointing outside the data
    h = json.loads(json.dumps(header))
    name = next(k for k in h if k != "__metadata__")
    h[name]["data_offsets"] = [0, len(body) + 64]
    _write_with_header(path, h, body)
    with pytest.raises(ValueError, match="tampered.safetensors"):
        KAN.load(path)


def test_shape_mismatched_tensor_names_the_file(tmp_path):
    kan = _kan()
    path = tmp_path / "shape.safetensors"
    kan.save(path)
    tensors, meta = load_tensors(path)
    tensors["layers.1.coef"] = tensors["layers.1.coef"][:, :, :-1].contiguous()
    save_tensors(path, tensors, meta)
    with pytest.raises(ValueError, match=r"shape.safetensors.*layers\.1\.coef.*shape"):
        KAN.load(path)


def test_nan_tensor_names_the_file(tmp_path):
    kan = _kan()
    with torch.no_grad():
        kan.layers[0].scale_sp[1, 1] = float("nan")
    path = tmp_path / "nan.safetensors"
    kan.save(path)
    with pytest.raises(ValueError, match=r"nan.safetensors.*layers\.0\.scale_sp.*non-finite"):
        KAN.load(path)


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "a.bin"
    atomic_write_bytes(path, b"old")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(path, b"new contents")
    monkeypatch.undo()
    assert path.read_bytes() == b"old"
    assert _files(tmp_path) == ["a.bin"]
    atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new" and _files(tmp_path) == ["a.bin"]


def test_write_figure_is_atomic_png_with_the_umask_mode(tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot")
    from kan_core.io import file_mode, write_figure

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    out = write_figure(fig, tmp_path / "sub" / "f.png", dpi=50)
    plt.close(fig)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out.stat().st_mode & 0o777) == file_mode()
    assert sorted(p.name for p in out.parent.iterdir()) == ["f.png"]  # no temporary file left


def test_panel_grid_sizes_the_grid_to_the_panels():
    plt = pytest.importorskip("matplotlib.pyplot")
    from kan_core.io import panel_grid

    for n, shape in ((1, (1, 1)), (3, (1, 3)), (4, (2, 3)), (7, (3, 3))):
        fig, axes = panel_grid(n, panel=(2.0, 1.0))
        grid = fig.axes[0].get_subplotspec().get_gridspec()
        assert len(axes) == n and (grid.nrows, grid.ncols) == shape
        assert tuple(fig.get_size_inches()) == (2.0 * shape[1], 1.0 * shape[0])
        assert [ax.axison for ax in fig.axes] == [True] * n + [False] * (shape[0] * shape[1] - n)
        plt.close(fig)
