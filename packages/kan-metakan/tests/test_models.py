"""MetaKAN: shapes, materialisation, gradients, initialisation, clustering and counts."""

import math

import pytest
import torch
from kan_core import KAN, KANSpec
from kan_metakan import (
    PAPER_8_LAYER_CHANNELS,
    MetaKAN,
    cluster_intervals,
    cluster_layers,
    count_trainable,
    kan_count,
    table1_count,
    weight_dim,
)

BASES = ["bspline", "rbf", "chebyshev", "legendre", "gram", "wavelet"]
D_EXPECTED = {
    "bspline": 5 + 3 + 1,
    "rbf": 5 + 1,
    "chebyshev": 3 + 1,
    "legendre": 3 + 2,
    "gram": 3 + 2,
    "wavelet": 3,
}


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _meta(basis, widths=(6, 5, 3), **kw):
    return MetaKAN.from_widths(
        list(widths), grid_size=5, spline_order=3, basis=basis, degree=3, generator=_gen(), **kw
    )


@pytest.mark.parametrize("basis", BASES)
def test_generated_shapes_match_kan_core(basis):
    m = _meta(basis, hidden=8)
    kan = KAN(m.spec, generator=_gen())
    assert weight_dim(m.spec) == D_EXPECTED[basis]
    for gen, ref in zip(m.layer_params(), kan.layer_params()):
        assert set(gen) == set(ref)
        for name in ref:
            assert gen[name].shape == ref[name].shape, (basis, name)


@pytest.mark.parametrize("basis", BASES)
def test_materialize_same_forward(basis, tmp_path):
    m = _meta(basis, hidden=8, clusters=2)
    x = torch.rand(16, 6, generator=_gen(1)) * 2 - 1
    kan = m.materialize()
    assert type(kan) is KAN
    torch.testing.assert_close(kan(x), m(x), rtol=1e-5, atol=1e-6)
    kan.save(tmp_path / "m.safetensors")
    torch.testing.assert_close(KAN.load(tmp_path / "m.safetensors")(x), m(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("basis", BASES)
def test_gradients_reach_prompts_and_metalearner(basis):
    m = _meta(basis, hidden=8, clusters=2)
    x = torch.rand(16, 6, generator=_gen(2)) * 2 - 1
    m(x).square().mean().backward()
    for p in m.prompt_parameters() + m.meta_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()
    assert all(p.grad.abs().sum() > 0 for p in m.prompt_parameters())
    assert all(ml.w2.grad.abs().sum() > 0 and ml.w1.grad.abs().sum() > 0 for ml in m.metalearners)


@pytest.mark.parametrize("basis", BASES)
@pytest.mark.parametrize("input_grad", [False, True])
def test_memory_efficient_mode_is_exact(basis, input_grad):
    """Tiny blocks (one sample / one output row at a time) give the plain path's outputs and gradients."""
    m = _meta(basis, widths=(7, 6, 3), hidden=8, prompt_dim=2, memory_efficient=False).double()
    x = (torch.rand(10, 7, generator=_gen(3), dtype=torch.float64) * 2 - 1).requires_grad_(input_grad)
    y = m(x)
    y.square().sum().backward()
    g = [p.grad.clone() for p in m.parameters()]
    gx = x.grad.clone() if input_grad else None
    m.zero_grad()
    x.grad = None
    m.set_memory_efficient(True, block_elems=40)
    y2 = m(x)
    assert all(layer.memory_efficient for layer in m.layers)
    y2.square().sum().backward()
    torch.testing.assert_close(y2, y, rtol=1e-12, atol=1e-12)
    for a, p in zip(g, m.parameters()):
        torch.testing.assert_close(p.grad, a, rtol=1e-10, atol=1e-12)
    if input_grad:
        torch.testing.assert_close(x.grad, gx, rtol=1e-10, atol=1e-12)
    # negative control: a different prompt gives different gradients
    with torch.no_grad():
        m.layers[0].prompt[0, 0] += 0.5
    m.zero_grad()
    m(x).square().sum().backward()
    ip = [name for name, _ in m.named_parameters()].index("layers.0.prompt")
    assert not torch.allclose(m.layers[0].prompt.grad, g[ip])


def test_memory_efficient_leading_dims_and_no_grad():
    m = _meta("bspline", widths=(5, 4, 2), hidden=8, memory_efficient=True)
    x = torch.rand(3, 6, 5, generator=_gen(5)) * 2 - 1
    ref = _meta("bspline", widths=(5, 4, 2), hidden=8, memory_efficient=False)(x)
    torch.testing.assert_close(m(x), ref, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        torch.testing.assert_close(m(x), ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="memory_efficient"):
        m.set_memory_efficient("sometimes")


def test_memory_efficient_backward_is_first_order():
    m = _meta("bspline", widths=(3, 4, 1), hidden=8, memory_efficient=True)
    x = (torch.rand(4, 3, generator=_gen(6)) * 2 - 1).requires_grad_(True)
    (gx,) = torch.autograd.grad(m(x).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        torch.autograd.grad(gx.sum(), x)


def test_auto_mode_switches_on_large_layers_only():
    from kan_metakan.models import AUTO_MIN_ELEMS, plain_kept_elems

    m = MetaKAN.from_widths([300, 32, 10], grid_size=80, hidden=32, generator=_gen())
    assert m.memory_efficient == "auto"
    x = torch.zeros(128, 300)
    with torch.no_grad():
        m(x)
    assert [layer.memory_efficient for layer in m.layers] == [True, False]
    assert plain_kept_elems(m.layers[0], 128) >= AUTO_MIN_ELEMS > plain_kept_elems(m.layers[1], 128)
    # an input that needs a gradient (PINNs take second derivatives) keeps the plain,
    # twice-differentiable path
    with torch.no_grad():
        m(x.clone().requires_grad_(True))
    assert not any(layer.memory_efficient for layer in m.layers)
    small = MetaKAN.from_widths([300, 32, 10], grid_size=5, hidden=32, generator=_gen())
    with torch.no_grad():
        small(x)
    assert not any(layer.memory_efficient for layer in small.layers)


def test_memory_efficient_bounds_training_memory():
    """Peak training memory: the efficient path does not keep per-edge hidden activations or the batch's
    basis features, so it stays flat when the meta-learner's hidden size grows; the plain path grows."""
    from kan_metakan.memory import build_model, training_peak_bytes

    g = _gen(7)
    x, y = torch.rand(32, 48, generator=g) * 2 - 1, torch.randint(0, 4, (32,), generator=g)
    peak = {}
    for mode in ("kan", "metakan", "metakan-efficient"):
        for hid in (8, 128):
            model = build_model(mode, [48, 16, 4], 10, hid, block_elems=2**12)
            peak[mode, hid] = training_peak_bytes(model, x, y, steps=1)
    plain_growth = peak["metakan", 128] - peak["metakan", 8]
    lean_growth = peak["metakan-efficient", 128] - peak["metakan-efficient", 8]
    # plain: + E * 120 hidden activations (x2, fp32) at least; efficient: only the meta-learner's own
    # parameters, gradients and Adam moments and one generation block grow
    assert plain_growth > 48 * 16 * 120 * 2 * 4
    assert lean_growth < 0.15 * plain_growth
    assert peak["metakan-efficient", 8] < 0.5 * peak["kan", 8] < peak["metakan", 8]


@pytest.mark.parametrize("basis", BASES)
def test_init_activations_differ_and_scale_like_kan(basis):
    widths = [32, 16, 4]
    m = _meta(basis, widths=widths, hidden=16)
    kan = KAN.from_widths(widths, basis=basis, degree=3, generator=_gen())
    coef = m.layer_params()[0]["coef"].detach().reshape(-1, m.spec.num_coefficients)
    # across edges, every generated component varies (no collapse to equal activations)
    assert (coef.std(0) > 0.03).all()
    x = torch.rand(256, widths[0], generator=_gen(4)) * 2 - 1
    with torch.no_grad():
        edges_meta = m.materialize().layers[0].edges(x)  # (B, out, in)
        # activations are different functions: at a fixed x, the spread across edges is a large part of
        # the edges' magnitude (it is ~0 when all activations are equal)
        spread = edges_meta.flatten(1).std(1).mean() / edges_meta.square().mean().sqrt()
        assert spread > 0.5, float(spread)
        rms_meta = m(x).square().mean().sqrt()
        rms_kan = kan(x).square().mean().sqrt()
    assert 0.33 < float(rms_meta / rms_kan) < 3.0, (float(rms_meta), float(rms_kan))


def test_tiny_prompts_negative_control():
    """The upstream bug: tiny prompts make all generated activations (nearly) equal."""
    m = _meta("bspline", widths=[32, 16, 4], hidden=16)
    with torch.no_grad():
        for layer in m.layers:
            layer.prompt.mul_(1e-4)
    coef = m.layer_params()[0]["coef"].detach().reshape(-1, m.spec.num_coefficients)
    assert (coef.std(0) < 1e-3).all()


def test_clustering_algorithm2_on_paper_8_layer_channels():
    ch = PAPER_8_LAYER_CHANNELS
    assert cluster_layers(ch, 1) == [0] * 8
    assert cluster_intervals(ch, 1) == [(0, 7)]
    assert cluster_layers(ch, 3) == [0, 0, 0, 1, 2, 2, 2, 2]
    assert cluster_intervals(ch, 3) == [(0, 2), (3, 3), (4, 7)]
    assert cluster_intervals(ch, 5) == [(0, 0), (1, 1), (2, 2), (3, 3), (4, 7)]
    seven = cluster_intervals(ch, 7)
    assert len(seven) == 7 and seven[:4] == [(0, 0), (1, 1), (2, 2), (3, 3)]
    covered = sorted(l for a, b in seven for l in range(a, b + 1))
    assert covered == list(range(8))  # contiguous, disjoint, all layers
    assert cluster_intervals(ch, 7) == seven  # deterministic
    # the "32" reading of the mangled first entry gives the same clusters
    assert cluster_layers((32,) + ch[1:], 3) == cluster_layers(ch, 3)
    # brute force: the DP is the optimal 1-D k-means
    import itertools

    def sse(labels):
        tot = 0.0
        for c in set(labels):
            v = [ch[i] for i in range(8) if labels[i] == c]
            mu = sum(v) / len(v)
            tot += sum((a - mu) ** 2 for a in v)
        return tot

    best = min(sse(l) for l in itertools.product(range(3), repeat=8) if len(set(l)) == 3)
    assert math.isclose(sse(cluster_layers(ch, 3)), best)
    with pytest.raises(ValueError):
        cluster_layers(ch, 9)


def test_clusters_assign_metalearners():
    m = MetaKAN.from_widths([4, 64, 64, 8, 2], hidden=8, clusters=2, generator=_gen())
    assert m.layer_cluster == [0, 0, 1, 1]
    assert m.layers[0].learner is m.metalearners[0] and m.layers[3].learner is m.metalearners[1]


@pytest.mark.parametrize("basis", BASES)
@pytest.mark.parametrize("prompt_dim,clusters", [(1, 1), (2, 3)])
def test_counts_equal_formulas(basis, prompt_dim, clusters):
    widths = [7, 5, 4, 3]
    m = MetaKAN.from_widths(
        widths, basis=basis, hidden=6, prompt_dim=prompt_dim, clusters=clusters, generator=_gen()
    )
    f = table1_count(widths, model="metakan", basis=basis, hidden=6, prompt_dim=prompt_dim, clusters=clusters)
    assert count_trainable(m) == f
    edges = 7 * 5 + 5 * 4 + 4 * 3
    d = D_EXPECTED[basis]
    lit = table1_count(widths, model="metakan", basis=basis, hidden=6, clusters=clusters, literal=True)
    assert lit == edges + clusters * 7 * d
    if prompt_dim == 1:
        assert f - lit == clusters * 2 * 6  # the paper omits the first meta-learner layer
    spec = KANSpec(tuple(widths), basis=basis)
    assert count_trainable(KAN(spec)) == kan_count(spec)
    dim_w = {"bspline": 9, "rbf": 5, "wavelet": 3}.get(basis, d)
    assert table1_count(widths, model="kan", basis=basis) == edges * dim_w


def test_paper_fmnist_sizes():
    # [784, 32, 10], G=5, k=3: MetaKAN <= 1/5 of KAN
    assert table1_count([784, 32, 10], model="kan") == 228_672
    m = count_trainable(MetaKAN.from_widths([784, 32, 10], hidden=32, generator=_gen()))
    assert m == 25408 + 2 * 32 + 33 * 9
    assert m * 5 <= kan_count(KANSpec((784, 32, 10)))
