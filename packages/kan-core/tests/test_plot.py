"""kan plot / kan_core.plot: sampled edge functions for every basis, one PNG per layer, the plot extra."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from click.testing import CliRunner
from kan_core import KAN, KANSpec
from kan_core.plot import PLOT_EXTRA_HINT, edge_curves
from kan_core.plot_cli import plot

PNG = b"\x89PNG\r\n\x1a\n"
SPECS = {
    "bspline": KANSpec((2, 3, 2)),
    "rbf": KANSpec((2, 3, 2), basis="rbf", grid_size=6),
    "chebyshev": KANSpec((2, 3, 2), basis="chebyshev", degree=4),
    "legendre": KANSpec((2, 3, 2), basis="legendre", degree=3),
    "gram": KANSpec((2, 3, 2), basis="gram", degree=3),
    "wavelet": KANSpec((2, 3, 2), basis="wavelet"),
}


@pytest.mark.parametrize("basis", list(SPECS))
def test_edge_curves_are_the_layer_edges(basis):
    kan = KAN(SPECS[basis], generator=torch.Generator().manual_seed(1))
    curves = edge_curves(kan, num_points=50)
    assert len(curves) == 2
    for layer, c in zip(kan.layers, curves):
        assert c.x.shape == (50, layer.in_features) and c.y.shape == (
            50,
            layer.out_features,
            layer.in_features,
        )
        with torch.no_grad():
            torch.testing.assert_close(c.y, layer.edges(c.x))
        lo, hi = SPECS[basis].grid_range
        if basis != "bspline":
            assert (
                c.x[0].tolist() == [lo] * layer.in_features and c.x[-1].tolist() == [hi] * layer.in_features
            )


def test_bspline_curves_follow_each_inputs_grid():
    kan = KAN.from_widths([2, 1], grid_size=5, spline_order=3)
    with torch.no_grad():
        kan.layers[0].grid[1] = kan.layers[0].grid[1] * 3 - 1
    c = edge_curves(kan, num_points=11)[0]
    g = kan.layers[0].grid
    assert c.x[0].tolist() == pytest.approx([float(g[0, 3]), float(g[1, 3])])
    assert c.x[-1].tolist() == pytest.approx([float(g[0, -4]), float(g[1, -4])])
    with pytest.raises(ValueError, match="num_points must be at least 2"):
        edge_curves(kan, num_points=1)


@pytest.mark.parametrize("basis", ["bspline", "chebyshev", "wavelet"])
def test_kan_plot_command(basis, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    model = tmp_path / "m.safetensors"
    kan = KAN(SPECS[basis].replace(widths=(3, 4, 2)), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        kan.layers[1].mask[1, 2] = 0  # a pruned edge is drawn too (dashed)
    kan.save(model)
    res = CliRunner().invoke(plot, [str(model), "--out", str(tmp_path / "p"), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["written"] == [str(tmp_path / "p" / "layer0.png"), str(tmp_path / "p" / "layer1.png")]
    img0, img1 = (plt.imread(tmp_path / "p" / f"layer{l}.png") for l in (0, 1))
    assert (tmp_path / "p" / "layer0.png").read_bytes()[:8] == PNG
    assert img0.shape[0] > img1.shape[0]  # 4 rows of panels against 2
    first = (tmp_path / "p" / "layer0.png").read_bytes()
    again = CliRunner().invoke(plot, [str(model), "--out", str(tmp_path / "p")])  # a rerun keeps the first
    assert again.exit_code == 0, again.output
    assert (
        f"{tmp_path / 'p'} already holds figures; they are kept and these go to {tmp_path / 'p-run2'}"
        in again.stderr
    )
    assert (tmp_path / "p" / "layer0.png").read_bytes() == first and (
        tmp_path / "p-run2" / "layer0.png"
    ).is_file()
    res = CliRunner().invoke(plot, [str(model), "--out", str(tmp_path / "p"), "--force", "--max-edges", "10"])
    assert res.exit_code == 0, res.output
    assert "layer 0: 12 edges > max_edges=10, not drawn" in res.output


def test_kan_plot_without_matplotlib_names_the_extra(tmp_path, monkeypatch):
    model = tmp_path / "m.safetensors"
    KAN.from_widths([2, 1]).save(model)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    res = CliRunner().invoke(plot, [str(model), "--out", str(tmp_path / "p")])
    assert res.exit_code == 1
    assert res.output.strip() == f"Error: {PLOT_EXTRA_HINT}" and "pip install 'kan-core[plot]'" in res.output
    assert not (tmp_path / "p").exists()
    from kan_core.plot import plot_activations

    with pytest.raises(ImportError, match=r"kan-core\[plot\]"):
        plot_activations(KAN.from_widths([2, 1]), tmp_path / "q")


def test_kan_plot_bad_model_file(tmp_path):
    pytest.importorskip("matplotlib")  # checked first, before the model is read
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not safetensors")
    res = CliRunner().invoke(plot, [str(bad), "--out", str(tmp_path / "p")])
    assert res.exit_code == 1 and "bad.safetensors: not a readable safetensors file" in res.output
