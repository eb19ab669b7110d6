"""KAN layers and model: every variant on every device, gradients, edges, grid updates, refine, seeding."""

from __future__ import annotations

import pytest
import torch
from kan_core import KAN, KANLayer, KANSpec
from kan_core.functional import kan_forward, layer_edges, layer_forward
from kan_core.layers import LAYER_CLASSES

try:
    from kan_core.testing import devices
except ImportError:  # pragma: no cover - the testing helpers are optional

    def devices() -> list[str]:
        return ["cpu"]


BASES = sorted(LAYER_CLASSES)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _spec(basis: str, widths=(3, 4), affine: bool = False) -> KANSpec:
    return KANSpec(widths, basis=basis, grid_size=5, spline_order=3, degree=3, affine=affine)


def _randomise(layer, seed: int) -> None:
    """Give every parameter (and the affine) non-trivial values, keeping wavelet scales positive."""
    g = _gen(seed)
    with torch.no_grad():
        for name, t in layer.params().items():
            if name in ("grid", "mask"):
                continue
            t.copy_(torch.randn(t.shape, generator=g, dtype=t.dtype).to(t.device) * 0.5)
        if layer.spec.basis == "wavelet":
            layer.coef[..., 0].abs_().add_(0.5)


@pytest.mark.parametrize("device", devices())
@pytest.mark.parametrize("basis", BASES)
def test_every_variant_forward_backward(basis, device):
    layer = LAYER_CLASSES[basis](3, 4, spec=_spec(basis), generator=_gen(0), device=device)
    x = torch.randn(16, 3, generator=_gen(1)).to(device).requires_grad_(True)
    y = layer(x)
    assert y.shape == (16, 4) and y.device.type == torch.device(device).type
    assert torch.isfinite(y).all()
    y.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for name, p in layer.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    # a leading model dim runs the same function
    xm = torch.randn(2, 5, 3, generator=_gen(2)).to(device)
    torch.testing.assert_close(layer(xm)[1], layer(xm[1]), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("basis", BASES)
def test_layer_gradcheck_float64(basis):
    layer = LAYER_CLASSES[basis](2, 3, spec=_spec(basis, affine=True), generator=_gen(3), dtype=torch.float64)
    _randomise(layer, 4)
    p = {k: v.detach().clone().requires_grad_(k not in ("grid", "mask")) for k, v in layer.params().items()}
    names = [k for k, v in p.items() if v.requires_grad]
    x = torch.rand(5, 2, generator=_gen(5), dtype=torch.float64).mul(1.6).sub(0.8).requires_grad_(True)

    def f(x, *tensors):
        q = dict(p)
        q.update(zip(names, tensors))
        return layer_forward(x, q, layer.spec)

    assert torch.autograd.gradcheck(f, (x, *[p[k] for k in names]))


@pytest.mark.parametrize("basis", BASES)
def test_edges_sum_to_output_before_affine(basis):
    layer = LAYER_CLASSES[basis](3, 4, spec=_spec(basis, affine=True), generator=_gen(6), dtype=torch.float64)
    _randomise(layer, 7)
    with torch.no_grad():
        layer.mask[1, 2] = 0
    x = torch.randn(10, 3, generator=_gen(8), dtype=torch.float64)
    e = layer.edges(x)
    assert e.shape == (10, 4, 3)
    assert e[:, 1, 2].abs().max() == 0  # masked edge
    y = layer(x)
    torch.testing.assert_close(e.sum(-1) * layer.node_scale + layer.node_bias, y, atol=1e-12, rtol=1e-12)
    # negative control: the affine is really applied
    assert (e.sum(-1) - y).abs().max() > 1e-3


def test_update_grid_keeps_function_close():
    layer = KANLayer(2, 3, grid_size=8, spline_order=3, generator=_gen(9), dtype=torch.float64)
    _randomise(layer, 10)
    x = torch.rand(400, 2, generator=_gen(11), dtype=torch.float64) * 1.4 - 0.9  # inside the initial grid
    before = layer(x)
    layer.update_grid(x)
    assert layer._uniform is False
    lo, hi = x.min(0).values, x.max(0).values
    torch.testing.assert_close(layer.grid[:, 3], lo)  # the new domain spans the samples
    torch.testing.assert_close(layer.grid[:, -4], hi)
    after = layer(x)
    err = (after - before).abs().max() / before.abs().max()
    assert err < 2e-2, f"update_grid changed the function by {err:.3g} (relative)"


@pytest.mark.pykan
def test_update_grid_matches_pykan():
    pytest.importorskip("kan")
    from kan_core.interop import to_pykan

    kan = KAN(KANSpec((2, 3, 1), grid_size=5, spline_order=3), generator=_gen(12), dtype=torch.float64)
    model = to_pykan(kan)
    x = torch.rand(128, 2, generator=_gen(13), dtype=torch.float64) * 2 - 1
    kan.update_grid(x)
    model.update_grid(x)
    for layer, a in zip(kan.layers, model.act_fun):
        torch.testing.assert_close(layer.grid, a.grid, atol=1e-12, rtol=0)
        torch.testing.assert_close(layer.coef, a.coef.transpose(0, 1), atol=1e-8, rtol=1e-8)


def test_refine_to_a_nested_grid_is_exact_inside_the_domain():
    layer = KANLayer(2, 2, grid_size=5, spline_order=3, generator=_gen(14), dtype=torch.float64)
    _randomise(layer, 15)
    fine = layer.refine(10)
    assert fine.coef.shape == (2, 2, 13) and fine.grid.shape == (2, 17)
    assert fine._uniform is True
    x = torch.rand(200, 2, generator=_gen(16), dtype=torch.float64) * 2 - 1
    torch.testing.assert_close(fine(x), layer(x), atol=1e-9, rtol=1e-9)
    coarse = layer.refine(3)  # not nested: only approximately equal
    err = (coarse(x) - layer(x)).abs().max()
    assert 1e-9 < err < 0.5 * layer(x).abs().max()
    kan = KAN(KANSpec((2, 3, 1)), generator=_gen(17), dtype=torch.float64)
    big = kan.refine(10)
    assert big.spec.grid_size == 10
    torch.testing.assert_close(big(x), kan(x), atol=1e-8, rtol=1e-8)


@pytest.mark.parametrize("basis", BASES)
def test_generator_init_is_reproducible_and_leaves_global_rng(basis):
    spec = _spec(basis, widths=(3, 5, 2))
    torch.manual_seed(0)
    state = torch.random.get_rng_state()
    a = KAN(spec, generator=_gen(42))
    b = KAN(spec, generator=_gen(42))
    c = KAN(spec, generator=_gen(43))
    assert torch.equal(torch.random.get_rng_state(), state), "a seeded init must not draw from the global RNG"
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def test_kan_forward_functional_matches_model_and_input_error():
    kan = KAN(KANSpec((3, 4, 2), affine=True), generator=_gen(18))
    x = torch.randn(7, 3, generator=_gen(19))
    torch.testing.assert_close(kan_forward(x, kan.layer_params(), kan.spec), kan(x))
    with pytest.raises(ValueError, match="expects inputs with 3 features"):
        kan(torch.randn(7, 4))
    with pytest.raises(ValueError, match="layers"):
        kan_forward(x, kan.layer_params()[:1], kan.spec)


def test_activations_and_layer_edges_functional():
    kan = KAN(KANSpec((2, 3, 2)), generator=_gen(20))
    x = torch.randn(6, 2, generator=_gen(21))
    inputs, edges = kan.activations(x)
    assert [t.shape for t in inputs] == [(6, 2), (6, 3)]
    assert [t.shape for t in edges] == [(6, 3, 2), (6, 2, 3)]
    torch.testing.assert_close(edges[-1].sum(-1), kan(x))
    torch.testing.assert_close(layer_edges(x, kan.layers[0].params(), kan.spec), edges[0])


def test_load_params_validates_and_updates_uniform_flag():
    layer = KANLayer(2, 3)
    with pytest.raises(ValueError, match="coef"):
        layer.load_params({"coef": torch.zeros(3, 2, 5)})
    with pytest.raises(KeyError, match="beta"):
        layer.load_params({"beta": torch.zeros(3)})
    g = layer.grid.clone()
    g[:, 5] += 0.05
    layer.load_params({"grid": g})
    assert layer._uniform is False
    with pytest.raises(TypeError, match="either spec"):
        KANLayer(2, 3, spec=KANSpec((2, 3)), degree=2)
    with pytest.raises(ValueError, match="basis"):
        KANLayer(2, 3, spec=KANSpec((2, 3), basis="rbf"))
