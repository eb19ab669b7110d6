"""pykan <-> kan-core conversion: forward equivalence, grids moved by training, pruning, node affine."""

from __future__ import annotations

import random
import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("kan")

from kan import MultKAN  # noqa: E402
from kan_core import KAN, KANSpec  # noqa: E402
from kan_core.interop import from_pykan, to_pykan  # noqa: E402

pytestmark = pytest.mark.pykan

ATOL = 1e-5


@pytest.fixture(autouse=True)
def _in_tmp_cwd(tmp_path, monkeypatch):
    """Every test runs in an empty working directory, which must still be empty afterwards."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    yield
    assert list(cwd.iterdir()) == [], "something was written into the working directory"


def _pykan(width, grid=5, k=3, seed=0, ckpt_path=None, **kw):
    opts = dict(grid=grid, k=k, seed=seed, auto_save=False, symbolic_enabled=False, save_act=False)
    if ckpt_path is not None:
        opts.update(ckpt_path=str(ckpt_path))
    opts.update(kw)
    return MultKAN(width=list(width), **opts)


def _x(n, d, seed=0, scale=1.2):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, d, generator=g) * 2 - 1) * scale


def _dataset(d, seed=0):
    x = _x(64, d, seed)
    y = torch.sin(torch.pi * x[:, :1]) + x[:, 1:2] ** 2
    return {"train_input": x, "train_label": y, "test_input": x[:16], "test_label": y[:16]}


def _check_same(model, kan, x):
    with torch.no_grad():
        ref = model(x)
        out = kan(x)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, atol=ATOL, rtol=ATOL)


@pytest.mark.parametrize("width,grid,k", [([3, 4, 2], 5, 3), ([2, 3, 3, 1], 7, 2), ([4, 2], 3, 1)])
def test_from_pykan_random(width, grid, k):
    model = _pykan(width, grid, k, seed=1)
    with torch.no_grad():  # make the scales non-trivial
        for a in model.act_fun:
            a.scale_sp.mul_(torch.rand(a.scale_sp.shape, generator=torch.Generator().manual_seed(3)) + 0.5)
            a.coef.add_(0.3 * torch.randn(a.coef.shape, generator=torch.Generator().manual_seed(4)))
    kan = from_pykan(model)
    assert kan.spec.widths == tuple(width)
    assert (kan.spec.grid_size, kan.spec.spline_order) == (grid, k)
    assert not kan.spec.affine
    for layer, a in zip(kan.layers, model.act_fun):
        assert torch.equal(layer.coef, a.coef.transpose(0, 1))
        assert torch.equal(layer.scale_base, a.scale_base.T)
        assert torch.equal(layer.grid, a.grid)
    _check_same(model, kan, _x(50, width[0], seed=2))


def test_to_pykan_random_and_rng_untouched():
    kan = KAN.from_widths([3, 5, 2], grid_size=6, spline_order=3, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(1234)
    np.random.seed(99)
    random.seed(7)
    t_state, n_state, r_state = torch.random.get_rng_state(), np.random.get_state(), random.getstate()
    model = to_pykan(kan)
    assert torch.equal(torch.random.get_rng_state(), t_state)
    assert np.array_equal(np.random.get_state()[1], n_state[1])
    assert random.getstate() == r_state
    assert isinstance(model, MultKAN)
    assert model.width == [[3, 0], [5, 0], [2, 0]]
    assert kan.spec.widths == (3, 5, 2)
    _check_same(model, kan, _x(40, 3, seed=5))


def test_fit_with_grid_update(tmp_path_factory):
    model = _pykan([2, 4, 1], grid=5, k=3, seed=0, ckpt_path=tmp_path_factory.mktemp("ckpt"))
    torch.manual_seed(0)
    np.random.seed(0)
    model.fit(
        _dataset(2),
        opt="Adam",
        lr=0.01,
        steps=5,
        update_grid=True,
        grid_update_num=5,
        stop_grid_update_step=5,
    )
    grids = [a.grid for a in model.act_fun]
    uniform = torch.linspace(-1, 1, 6)
    assert not torch.allclose(grids[0][0, 3:-3], uniform, atol=1e-3), "pykan did not move the grid"
    kan = from_pykan(model)
    assert all(layer._uniform is False for layer in kan.layers)
    # a wider range than the grid covers: outside points are zero-spline like pykan
    _check_same(model, kan, _x(80, 2, seed=3, scale=1.5))
    # and back: the rebuilt pykan model computes the same function
    back = to_pykan(kan)
    _check_same(back, kan, _x(80, 2, seed=4, scale=1.5))


def test_pruned_model(tmp_path_factory):
    ckpt = tmp_path_factory.mktemp("ckpt")
    model = _pykan([3, 5, 2], grid=5, k=3, seed=2, ckpt_path=ckpt, save_act=True)
    with torch.no_grad():
        for j in (1, 3):  # hidden nodes 1 and 3 feed nothing: prune_node removes them
            model.act_fun[1].coef[j] = 0
            model.act_fun[1].scale_base[j] = 0
        model.act_fun[0].coef[0, 2] = 0  # edge 0 -> 2 of layer 0 is dead: prune_edge masks it
        model.act_fun[0].scale_base[0, 2] = 0
    model.get_act(_x(100, 3, seed=1))
    pruned = model.prune(node_th=1e-2, edge_th=1e-3)
    assert [w[0] for w in pruned.width] == [3, 3, 2]
    assert float(pruned.act_fun[0].mask.min()) == 0.0
    kan = from_pykan(pruned)
    assert kan.spec.widths == (3, 3, 2)
    assert float(kan.layers[0].mask.min()) == 0.0
    pruned.save_act = False
    _check_same(pruned, kan, _x(60, 3, seed=6))


def test_pruned_inputs(tmp_path_factory):
    model = _pykan([3, 4, 1], seed=3, ckpt_path=tmp_path_factory.mktemp("ckpt"))
    small = model.prune_input(active_inputs=[0, 2])
    assert small.input_id.tolist() == [0, 2]
    with pytest.raises(ValueError, match="num_inputs"):
        from_pykan(small)
    kan = from_pykan(small, num_inputs=3)
    assert kan.spec.widths == (3, 4, 1)
    assert torch.equal(kan.layers[0].mask[:, 1], torch.zeros(4))
    _check_same(small, kan, _x(30, 3, seed=7))


@pytest.mark.parametrize("active", [[0, 1], [1, 2], [2, 0], [0, 1, 2], [1], []])
def test_every_prune_input_outcome(tmp_path_factory, active):
    model = _pykan([3, 4, 1], seed=3, ckpt_path=tmp_path_factory.mktemp("ckpt"))
    small = model.prune_input(active_inputs=active)
    assert small.input_id.tolist() == active
    kan = from_pykan(small, num_inputs=3)
    assert kan.spec.widths == (3, 4, 1)
    for i in range(3):
        kept = float(kan.layers[0].mask[:, i].abs().sum())
        assert (kept > 0) == (i in active), (i, active)
    x = _x(30, 3, seed=7)
    if active:
        _check_same(small, kan, x)
    else:  # pykan itself cannot run a model without inputs; the KAN is a constant function
        with torch.no_grad():
            out = kan(x)
        torch.testing.assert_close(out, out[:1].expand_as(out), atol=1e-6, rtol=0)


def test_dropping_the_last_inputs_without_num_inputs(tmp_path_factory):
    model = _pykan([3, 4, 1], seed=3, ckpt_path=tmp_path_factory.mktemp("ckpt"))
    small = model.prune_input(active_inputs=[0, 1])
    kan = from_pykan(small)  # reads the first two columns, as the pykan model does
    assert kan.spec.widths == (2, 4, 1)
    x = _x(30, 3, seed=8)
    with torch.no_grad():
        torch.testing.assert_close(kan(x[:, :2]), small(x), atol=ATOL, rtol=ATOL)


def test_prune_input_refusals(tmp_path_factory):
    model = _pykan([3, 4, 1], seed=3, ckpt_path=tmp_path_factory.mktemp("ckpt"))
    with pytest.raises(ValueError, match=r"reads inputs \[1, 2\] of a wider input .*num_inputs"):
        from_pykan(model.prune_input(active_inputs=[1, 2]))
    with pytest.raises(ValueError, match=r"reads inputs \[\] of a wider input"):
        from_pykan(model.prune_input(active_inputs=[]))
    with pytest.raises(ValueError, match=r"num_inputs=2 but the pykan model reads inputs \[0, 2\]"):
        from_pykan(model.prune_input(active_inputs=[0, 2]), num_inputs=2)
    with pytest.raises(ValueError, match="an input twice"):
        from_pykan(model.prune_input(active_inputs=[1, 1]), num_inputs=3)


def test_to_pykan_plots_at_once(tmp_path):
    kan = KAN.from_widths([2, 3, 1], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # a non-uniform, shifted grid on input 1: the sample follows it
        kan.layers[0].grid[1] = kan.layers[0].grid[1] * 2 + 0.5
    model = to_pykan(kan)
    sample = model.acts[0]
    assert sample.shape == (101, 2)
    k = kan.spec.spline_order
    for i in range(2):
        assert float(sample[0, i]) == pytest.approx(float(kan.layers[0].grid[i, k]))
        assert float(sample[-1, i]) == pytest.approx(float(kan.layers[0].grid[i, -k - 1]))
    import matplotlib

    matplotlib.use("Agg")
    model.plot(folder=str(tmp_path / "figures"))
    import matplotlib.pyplot as plt

    plt.close("all")
    drawn = sorted(p.name for p in (tmp_path / "figures").iterdir())
    assert drawn == [
        f"sp_{l}_{i}_{j}.png"
        for l, n_in, n_out in ((0, 2, 3), (1, 3, 1))
        for i in range(n_in)
        for j in range(n_out)
    ]


def test_to_pykan_sample_and_save_act_off():
    kan = KAN.from_widths([2, 3, 1], generator=torch.Generator().manual_seed(0))
    x = _x(7, 2, seed=1)
    model = to_pykan(kan, sample=x)
    torch.testing.assert_close(model.acts[0], x)
    assert to_pykan(kan, save_act=False).acts is None
    with pytest.raises(ValueError, match=r"sample must be \(N, 2\), got \(7, 3\)"):
        to_pykan(kan, sample=_x(7, 3))


def test_load_pykan_checkpoint(tmp_path):
    from kan_core.interop import load_pykan_checkpoint

    model = _pykan([2, 3, 1], seed=5, ckpt_path=tmp_path)
    model.saveckpt(str(tmp_path / "ck"))
    kan = load_pykan_checkpoint(tmp_path / "ck_state")
    _check_same(model, kan, _x(20, 2, seed=2))
    with pytest.raises(ValueError, match="not a pykan checkpoint"):
        load_pykan_checkpoint(tmp_path / "nothing")
    (tmp_path / "bad_config.yml").write_text("width: [2, 1]\n")
    (tmp_path / "bad_state").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="bad_config.yml: not a pykan config"):
        load_pykan_checkpoint(tmp_path / "bad")


def test_node_affine_random():
    model = _pykan([2, 3, 2], seed=4)
    g = torch.Generator().manual_seed(8)
    with torch.no_grad():
        for l in range(model.depth):
            for t in (model.node_scale[l], model.node_bias[l], model.subnode_scale[l], model.subnode_bias[l]):
                t.copy_(torch.randn(t.shape, generator=g))
    kan = from_pykan(model)
    assert kan.spec.affine
    _check_same(model, kan, _x(40, 2, seed=9))
    back = to_pykan(kan)
    _check_same(back, kan, _x(40, 2, seed=10))
    assert bool((back.subnode_scale[0] == 1).all() and (back.subnode_bias[0] == 0).all())


def test_affine_option():
    model = _pykan([2, 2], seed=5)
    assert not from_pykan(model).spec.affine
    assert from_pykan(model, affine=True).spec.affine
    with torch.no_grad():
        model.node_bias[0].fill_(0.5)
    with pytest.raises(ValueError, match="affine"):
        from_pykan(model, affine=False)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_round_trip_kan_pykan_kan_exact(dtype):
    spec = KANSpec((3, 4, 2), grid_size=5, spline_order=3, affine=True)
    kan = KAN(spec, generator=torch.Generator().manual_seed(11), dtype=dtype)
    g = torch.Generator().manual_seed(12)
    x = _x(200, 3, seed=12).to(dtype)
    kan.update_grid(x)  # non-uniform grids
    with torch.no_grad():
        for layer in kan.layers:
            layer.node_scale.copy_(torch.randn(layer.node_scale.shape, generator=g, dtype=dtype))
            layer.node_bias.copy_(torch.randn(layer.node_bias.shape, generator=g, dtype=dtype))
            layer.mask[0, 0] = 0
    model = to_pykan(kan)
    back = from_pykan(model)
    assert back.spec == kan.spec
    for a, b in zip(kan.layer_params(), back.layer_params()):
        assert a.keys() == b.keys()
        for name in a:
            assert b[name].dtype == dtype
            assert torch.equal(a[name], b[name]), name
    assert [layer._uniform for layer in back.layers] == [layer._uniform for layer in kan.layers]
    _check_same(model, kan, x[:50])


def test_base_activation_carried():
    kan = KAN.from_widths([2, 2], base_activation="identity", generator=torch.Generator().manual_seed(0))
    model = to_pykan(kan)
    assert model.base_fun_name == "identity"
    assert from_pykan(model).spec.base_activation == "identity"
    _check_same(model, kan, _x(20, 2, seed=1))


def test_mult_nodes_rejected():
    model = _pykan([2, [1, 1], 1], seed=0)
    with pytest.raises(NotImplementedError, match="multiplication"):
        from_pykan(model)


def test_symbolic_rejected():
    model = _pykan([2, 2, 1], seed=0)
    model.symbolic_enabled = True
    model.fix_symbolic(0, 0, 0, "x", fit_params_bool=False, verbose=False, log_history=False)
    with pytest.raises(NotImplementedError, match="symbolic"):
        from_pykan(model)
    model.symbolic_enabled = False  # the symbolic branch is then ignored by pykan's forward too
    from_pykan(model)


def test_non_bspline_rejected():
    kan = KAN.from_widths([2, 2], basis="chebyshev", generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="B-spline"):
        to_pykan(kan)
    with pytest.raises(TypeError, match="MultKAN"):
        from_pykan(kan)


def test_interop_import_is_lazy():
    code = "import sys, kan_core.interop; assert 'kan' not in sys.modules, 'pykan imported eagerly'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plot_of_a_converted_model_writes_nothing_into_the_working_directory(tmp_path, monkeypatch):
    """pykan's plot() defaults to ./figures; a model from to_pykan draws into a private temporary folder."""
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    kan = KAN.from_widths([2, 3, 1], generator=torch.Generator().manual_seed(0))
    model = to_pykan(kan)
    model.plot()
    assert list(work.iterdir()) == []
    model.plot(folder=str(tmp_path / "mine"))  # an explicit folder is still used
    assert any((tmp_path / "mine").iterdir())
