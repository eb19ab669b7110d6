import pytest
import torch
from kan_graph import permute, permute_stacked, random_permutation, same_function
from kan_graph.symmetry import identity_permutation, invert_permutation, permute_layers
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
