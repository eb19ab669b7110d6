import pytest
import torch
from kan_core import KAN, KANSpec
from kan_core.basis import BASIS_REGISTRY, Basis, register_basis
from kan_graph import permute, permute_stacked, random_permutation, same_function
from kan_graph.encoding import edge_features, flatten_edge_features, stacked_edge_features
from kan_graph.symmetry import (
    NeuronAxes,
    identity_permutation,
    invert_permutation,
    permute_edge_features,
    permute_layer_features,
    permute_layers,
    select_stacked,
    tensor_axes,
)
from kg_testutils import BASES, random_kan, stack


@pytest.mark.parametrize("basis", BASES)
def test_permuted_kan_computes_same_function(basis):
    kan = random_kan(basis, widths=(3, 6, 5, 2), seed=1)
    g = torch.Generator().manual_seed(7)
    x = torch.rand(128, 3, generator=g) * 2 - 1
    for _ in range(3):
        perms = random_permutation(kan.spec, g)
        assert [p.shape[0] for p in perms] == [6, 5]
        assert any(not torch.equal(p, torch.arange(len(p))) for p in perms)
        kp = permute(kan, perms)
        assert same_function(kan, kp, x, atol=1e-5)
        # parameters really moved (not a no-op)
        assert not torch.equal(kan.layers[0].coef, kp.layers[0].coef)


@pytest.mark.parametrize("basis", BASES)
def test_uncoupled_permutation_changes_function(basis):
    """Negative control: permuting rows of one layer without the matching columns of the next."""
    kan = random_kan(basis, widths=(3, 6, 5, 2), seed=2)
    x = torch.rand(128, 3, generator=torch.Generator().manual_seed(3)) * 2 - 1
    p = torch.tensor([1, 0, 3, 2, 5, 4])
    params = [{k: v.detach().clone() for k, v in q.items()} for q in kan.layer_params()]
    for name in ("scale_base", "scale_sp", "coef", "mask", "node_scale", "node_bias"):
        params[0][name] = params[0][name][p]  # rows only; layer 1's columns/grid untouched
    bad = random_kan(basis, widths=(3, 6, 5, 2), seed=2).load_layer_params(params)
    assert not same_function(kan, bad, x, atol=1e-3)


def test_grid_and_affine_move_with_neuron():
    kan = random_kan("bspline", widths=(2, 4, 3, 1), seed=4)
    perms = [torch.tensor([2, 0, 3, 1]), torch.tensor([1, 2, 0])]
    kp = permute(kan, perms)
    assert torch.equal(kp.layers[1].grid, kan.layers[1].grid[perms[0]])
    assert torch.equal(kp.layers[2].grid, kan.layers[2].grid[perms[1]])
    assert torch.equal(kp.layers[0].grid, kan.layers[0].grid)  # inputs never move
    assert torch.equal(kp.layers[0].node_scale, kan.layers[0].node_scale[perms[0]])
    assert torch.equal(kp.layers[1].node_bias, kan.layers[1].node_bias[perms[1]])
    assert torch.equal(kp.layers[2].node_bias, kan.layers[2].node_bias)  # outputs never move
    assert torch.equal(kp.layers[1].coef, kan.layers[1].coef[perms[1]][:, perms[0]])


def test_gram_beta_unaffected_and_inverse():
    kan = random_kan("gram", seed=5)
    perms = random_permutation(kan.spec, torch.Generator().manual_seed(0))
    kp = permute(kan, perms)
    for a, b in zip(kan.layers, kp.layers):
        assert torch.equal(a.beta, b.beta)
    back = permute(kp, invert_permutation(perms))
    for pa, pb in zip(kan.layer_params(), back.layer_params()):
        for k in pa:
            assert torch.equal(pa[k], pb[k]), k


@pytest.mark.parametrize("basis", ["bspline", "gram"])
def test_permute_stacked_matches_per_model(basis):
    kans = [random_kan(basis, widths=(2, 5, 4, 1), seed=s) for s in range(4)]
    layers = stack(kans)
    g = torch.Generator().manual_seed(1)
    perms = random_permutation(kans[0].spec, g, num_models=4)
    assert [tuple(p.shape) for p in perms] == [(4, 5), (4, 4)]
    out = permute_stacked(kans[0].spec, layers, perms)
    for m, kan in enumerate(kans):
        ref = permute(kan, [p[m] for p in perms]).layer_params()
        for l in range(3):
            for k in ref[l]:
                assert torch.equal(out[l][k][m], ref[l][k]), (m, l, k)
    shared = [p[0] for p in perms]
    out2 = permute_stacked(kans[0].spec, layers, shared)
    for m, kan in enumerate(kans):
        ref = permute(kan, shared).layer_params()
        for l in range(3):
            for k in ref[l]:
                assert torch.equal(out2[l][k][m], ref[l][k])


def test_shared_grid_broadcast_with_per_model_perms():
    kans = [random_kan("bspline", widths=(2, 4, 3, 1), seed=s, nonuniform=False) for s in range(3)]
    layers = stack(kans)
    for p in layers:
        p["grid"] = p["grid"][0]  # one grid (in, K) for all models
    perms = random_permutation(kans[0].spec, torch.Generator().manual_seed(2), num_models=3)
    out = permute_layers(kans[0].spec, layers, perms)
    assert out[1]["grid"].shape[0] == 3


def test_bad_perms_raise():
    kan = random_kan("rbf", widths=(2, 4, 3, 1))
    with pytest.raises(ValueError, match="one per hidden layer"):
        permute(kan, [torch.arange(4)])
    with pytest.raises(ValueError, match="shape"):
        permute(kan, [torch.arange(5), torch.arange(3)])
    assert [len(p) for p in identity_permutation(kan.spec)] == [4, 3]


# --------------------------------------------------------------------- the basis registry decides
class _BumpBasis(Basis):
    """Toy basis whose extra tensors are not called grid/beta: per-input ``centres (in, n)`` of Gaussian bumps
    and a per-layer ``gain (n,)``."""

    name = "toy_bumps"

    def num_coefficients(self, spec):
        return spec.grid_size

    def extra_shapes(self, spec, d_in):
        return {"centres": (d_in, spec.grid_size), "gain": (spec.grid_size,)}

    def init_extras(self, spec, d_in, **fk):
        c = torch.linspace(-1.0, 1.0, spec.grid_size, **fk)
        return {"centres": c.expand(d_in, -1).clone(), "gain": torch.ones(spec.grid_size, **fk)}

    def features(self, x, p, spec, uniform=None):
        c, g = p["centres"], p["gain"]  # (..., in, n), (..., n)
        return g.unsqueeze(-2).unsqueeze(-2) * torch.exp(-((x.unsqueeze(-1) - c.unsqueeze(-3)) ** 2) * 4)


@pytest.fixture
def bumps():
    basis = register_basis(_BumpBasis())
    yield basis
    del BASIS_REGISTRY[basis.name]


def _bump_kan(seed: int) -> KAN:
    spec = KANSpec((2, 5, 4, 1), basis="toy_bumps", grid_size=4, affine=True)
    g = torch.Generator().manual_seed(seed)
    kan = KAN(spec, generator=g)
    with torch.no_grad():
        for layer in kan.layers:  # every input neuron its own centres, every layer its own gain
            layer.centres.copy_(torch.rand(layer.centres.shape, generator=g) * 2 - 1)
            layer.gain.uniform_(0.5, 1.5, generator=g)
            layer.coef.normal_(0.0, 0.5, generator=g)
    return kan


def test_a_registered_basis_extra_tensors_move_by_the_registry(bumps):
    kan = _bump_kan(0)
    axes = tensor_axes(kan.spec)
    assert axes["centres"] == NeuronAxes(2, None, -2) and axes["gain"] == NeuronAxes(1, None, None)
    assert axes["coef"] == NeuronAxes(3, -3, -2)
    perms = [torch.tensor([3, 0, 4, 1, 2]), torch.tensor([2, 3, 1, 0])]
    kp = permute(kan, perms)
    x = torch.rand(64, 2, generator=torch.Generator().manual_seed(1)) * 2 - 1
    assert same_function(kan, kp, x, atol=1e-5)
    assert torch.equal(kp.layers[1].centres, kan.layers[1].centres[perms[0]])
    assert torch.equal(kp.layers[2].centres, kan.layers[2].centres[perms[1]])
    assert torch.equal(kp.layers[0].centres, kan.layers[0].centres)  # inputs never move
    assert torch.equal(kp.layers[1].gain, kan.layers[1].gain)  # per layer: unaffected
    # negative control: the same permutation with the centres left behind is not a symmetry
    params = [{k: v.detach().clone() for k, v in p.items()} for p in kp.layer_params()]
    for l in (1, 2):
        params[l]["centres"] = kan.layers[l].centres.detach().clone()
    wrong = _bump_kan(0).load_layer_params(params)
    assert not same_function(kan, wrong, x, atol=1e-3)


def test_stacked_permutation_and_selection_of_a_registered_basis(bumps):
    kans = [_bump_kan(s) for s in range(3)]
    spec = kans[0].spec
    layers = stack(kans)
    perms = random_permutation(spec, torch.Generator().manual_seed(4), num_models=3)
    out = permute_stacked(spec, layers, perms)
    for m, kan in enumerate(kans):
        ref = permute(kan, [p[m] for p in perms]).layer_params()
        for l in range(spec.depth):
            for k in ref[l]:
                assert torch.equal(out[l][k][m], ref[l][k]), (m, l, k)
    layers[0]["gain"] = layers[0]["gain"][0]  # shared by all models: kept by select_stacked
    sel = select_stacked(spec, layers, torch.tensor([2, 0]))
    assert torch.equal(sel[0]["gain"], layers[0]["gain"]) and sel[1]["gain"].shape == (2, 4)
    assert torch.equal(sel[1]["centres"], layers[1]["centres"][[2, 0]])
    assert torch.equal(select_stacked(spec, layers, slice(1, 3))[2]["coef"], layers[2]["coef"][1:3])


# --------------------------------------------------------------------- edge features move with edges
@pytest.mark.parametrize("encoding", ["raw", "functional"])
def test_feature_permutations_match_permuted_parameters(encoding):
    kans = [random_kan("bspline", widths=(3, 5, 4, 2), seed=s) for s in range(4)]
    spec = kans[0].spec
    layers = stack(kans)
    perms = random_permutation(spec, torch.Generator().manual_seed(0), num_models=4)
    want = edge_features(spec, permute_stacked(spec, layers, perms), encoding, num_points=6)
    got = permute_layer_features(edge_features(spec, layers, encoding, num_points=6), perms)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    flat = permute_edge_features(
        spec.widths, stacked_edge_features(spec, layers, encoding, num_points=6), perms
    )
    torch.testing.assert_close(flat, flatten_edge_features(want), atol=1e-6, rtol=0)
    # one shared permutation, features of one model without a model dim
    shared = [p[1] for p in perms]
    one = stacked_edge_features(spec, layers, encoding, num_points=6)[1]
    want1 = stacked_edge_features(spec, permute_stacked(spec, layers, shared), encoding, num_points=6)[1]
    torch.testing.assert_close(permute_edge_features(spec.widths, one, shared), want1, atol=1e-6, rtol=0)
    # negative control: every model moved by another model's permutation gives other features
    rolled = [p.roll(1, 0) for p in perms]
    base = stacked_edge_features(spec, layers, encoding, num_points=6)
    assert not torch.allclose(permute_edge_features(spec.widths, base, rolled), flat, atol=1e-3)


def test_feature_permutation_errors_name_the_shapes():
    w = (3, 5, 4, 2)
    f = torch.zeros(2, 3 * 5 + 5 * 4 + 4 * 2, 7)
    with pytest.raises(ValueError, match=r"perms: expected 2 permutations for widths \(3, 5, 4, 2\), got 1"):
        permute_edge_features(w, f, [torch.arange(5)])
    with pytest.raises(ValueError, match=r"perms\[1\] \(hidden layer 2\) must have shape \(4,\) or \(M, 4\)"):
        permute_edge_features(w, f, [torch.arange(5), torch.arange(3)])
    with pytest.raises(ValueError, match=r"with E = 43 for widths \(3, 5, 4, 2\), got \(2, 42, 7\)"):
        permute_edge_features(w, f[:, 1:], [torch.arange(5), torch.arange(4)])
    per_model = [torch.arange(5).expand(3, 5), torch.arange(4).expand(3, 4)]
    with pytest.raises(ValueError, match=r"per-model permutations for 3 models need features \(M, E, F\)"):
        permute_edge_features(w, f, per_model)
