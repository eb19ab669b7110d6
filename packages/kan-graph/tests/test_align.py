import pytest
import torch
from kan_graph import align, align_stacked, merge_many, permute, permute_stacked, random_permutation
from kan_graph.align import feature_distance, match_features, merge_many_features
from kan_graph.encoding import edge_features
from kan_graph.symmetry import invert_permutation, permute_layer_features
from kg_testutils import random_kan, stack


def _noisy(layers, scale, seed):
    g = torch.Generator().manual_seed(seed)
    out = []
    for p in layers:
        q = dict(p)
        for k in ("scale_base", "coef"):
            q[k] = p[k] + scale * torch.randn(p[k].shape, generator=g)
        out.append(q)
    return out


@pytest.mark.parametrize("basis", ["bspline", "rbf", "chebyshev", "legendre", "gram", "wavelet"])
def test_align_recovers_planted_permutation(basis):
    for seed in range(3):
        kan = random_kan(basis, widths=(3, 8, 6, 2), seed=seed)
        perms = random_permutation(kan.spec, torch.Generator().manual_seed(100 + seed))
        aligned, found = align(kan, permute(kan, perms))
        for f, p in zip(found, invert_permutation(perms)):
            assert torch.equal(f, p)
        for pa, pb in zip(kan.layer_params(), aligned.layer_params()):
            for k in pa:
                assert torch.equal(pa[k], pb[k]), k


@pytest.mark.parametrize("noise", [0.0, 1e-2])
def test_align_stacked_recovers_many_planted_permutations(noise):
    """Many random KANs at once: each model m is a permuted (and noisy) copy of reference m."""
    m = 24
    kans = [
        random_kan("bspline", widths=(2, 16, 16, 1), seed=s, nonuniform=False, masked=False) for s in range(m)
    ]
    spec = kans[0].spec
    base = stack(kans)
    perms = random_permutation(spec, torch.Generator().manual_seed(5), num_models=m)
    moved = _noisy(permute_stacked(spec, base, perms), noise, seed=1)
    for i in range(m):  # align each to its own reference (align_stacked takes one reference; loop refs)
        ref = [{k: v[i] for k, v in p.items()} for p in base]
        one = [{k: v[i : i + 1] for k, v in p.items()} for p in moved]
        _, found = align_stacked(spec, ref, one)
        for f, p in zip(found, invert_permutation([q[i] for q in perms])):
            assert torch.equal(f[0], p), i


def test_align_stacked_one_reference_vectorised():
    m = 32
    kan = random_kan("chebyshev", widths=(3, 12, 10, 2), seed=3)
    spec = kan.spec
    base = stack([kan] * m)
    perms = random_permutation(spec, torch.Generator().manual_seed(0), num_models=m)
    moved = _noisy(permute_stacked(spec, base, perms), 1e-3, seed=2)
    ref = [{k: v.detach() for k, v in p.items()} for p in kan.layer_params()]
    aligned, found = align_stacked(spec, ref, moved, chunk_size=10)
    inv = invert_permutation(perms)
    for f, p in zip(found, inv):
        assert torch.equal(f, p)
    assert feature_distance(spec, ref, aligned).max() < feature_distance(spec, ref, moved).min()
    # aligned models compute the same function as their unaligned inputs
    x = torch.rand(16, 3, generator=torch.Generator().manual_seed(0))
    from kan_core.functional import kan_forward

    assert torch.allclose(kan_forward(x, aligned, spec), kan_forward(x, moved, spec), atol=1e-5)


def test_functional_features_align_across_different_grids():
    """B-splines whose grids differ: the raw coefficients are not comparable, sampled functions are."""
    kan = random_kan("bspline", widths=(2, 8, 6, 1), seed=4)
    other = random_kan("bspline", widths=(2, 8, 6, 1), seed=4, nonuniform=False)
    other.load_layer_params(kan.layer_params())
    g = torch.Generator().manual_seed(9)
    with torch.no_grad():  # refit the copy on its own grid: same functions, different knots/coefs
        x = torch.rand(512, 2, generator=g) * 1.6 - 0.8
        other.update_grid(x)
    perms = random_permutation(kan.spec, g)
    _, found = align(kan, permute(other, perms), features="functional", num_points=16)
    for f, p in zip(found, invert_permutation(perms)):
        assert torch.equal(f, p)


def test_merge_many_reduces_distance_and_is_deterministic():
    # a zoo of 3 prototypes, each copied with noise and a random hidden permutation
    protos = [random_kan("rbf", widths=(2, 8, 8, 1), seed=s, masked=False) for s in range(3)]
    spec = protos[0].spec
    layers = stack([protos[i % 3] for i in range(30)])
    layers = _noisy(layers, 0.05, seed=0)
    perms = random_permutation(spec, torch.Generator().manual_seed(1), num_models=30)
    zoo = permute_stacked(spec, layers, perms)
    mean_before = [{k: v.mean(0) for k, v in p.items()} for p in zoo]
    before = feature_distance(spec, mean_before, zoo).mean()
    res = merge_many(spec, zoo, tol=1e-3, seed=0, chunk_size=8)
    assert res.rounds >= 1 and len(res.history) == res.rounds
    aligned, _ = align_stacked(spec, res.reference, zoo)
    after = feature_distance(spec, res.reference, aligned).mean()
    assert after < 0.8 * before
    res2 = merge_many(zoo, spec=spec, tol=1e-3, seed=0, chunk_size=8)
    for a, b in zip(res.perms, res2.perms):
        assert torch.equal(a, b)
    for pa, pb in zip(res.reference, res2.reference):
        for k in pa:
            assert torch.equal(pa[k], pb[k])
    ref_kan = res.reference_kan(spec)
    assert ref_kan.spec == spec


def test_merge_many_says_why_it_stopped():
    """`converged` is True exactly when the rounds stopped early; `stopped_by` tells the two reasons apart."""
    kans = [random_kan("rbf", widths=(2, 6, 5, 1), seed=s, masked=False) for s in range(8)]
    loose = merge_many(kans, tol=1e9, seed=0, chunk_size=4)
    assert (loose.stopped_by, loose.converged, loose.rounds) == ("tolerance", True, 1)
    capped = merge_many(kans, tol=0.0, max_rounds=1, seed=0, chunk_size=4)
    assert (capped.stopped_by, capped.converged, capped.rounds) == ("max_rounds", False, 1)  # round 1 moves
    fixed = merge_many(kans, tol=0.0, max_rounds=50, seed=0, chunk_size=4)
    assert fixed.stopped_by == "fixed_point" and fixed.converged and 1 < fixed.rounds < 50
    assert fixed.history[-1] == 0.0 and fixed.history[0] > 0.0  # the last round changed no permutation


def test_merge_many_subset_and_kan_list():
    kans = [random_kan("legendre", widths=(2, 4, 3, 1), seed=s) for s in range(6)]
    res = merge_many(kans, max_models=4, seed=3, chunk_size=2)
    assert len(res.indices) == 4 and res.perms[0].shape == (4, 4)
    assert len(set(res.indices.tolist())) == 4
    with pytest.raises(ValueError, match="spec"):
        merge_many(stack(kans))
    with pytest.raises(ValueError, match="at least 2"):
        merge_many(kans[:1])


def test_align_rejects_mismatched_widths():
    with pytest.raises(ValueError, match="widths differ"):
        align(random_kan("rbf", widths=(2, 4, 1)), random_kan("rbf", widths=(2, 5, 1)))


def test_align_is_the_function_whatever_was_imported_first():
    """`kan_graph.align` is a submodule and the main function: importing the submodule first must not
    turn `from kan_graph import align` into the module (the docs' example failed after other tests)."""
    import subprocess
    import sys

    code = "import kan_graph.align\nfrom kan_graph import align\nassert callable(align), align"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_feature_level_merge_many_is_the_layer_level_algorithm():
    """merge_many_features on raw features gives merge_many's subset, perms and (featurised) reference."""
    protos = [random_kan("bspline", widths=(3, 6, 5, 2), seed=s, masked=False) for s in range(3)]
    spec = protos[0].spec
    layers = _noisy(stack([protos[i % 3] for i in range(24)]), 0.05, seed=2)
    zoo = permute_stacked(
        spec, layers, random_permutation(spec, torch.Generator().manual_seed(3), num_models=24)
    )
    res = merge_many(spec, zoo, max_models=16, seed=5)
    feats = edge_features(spec, zoo)
    fres = merge_many_features(feats, max_models=16, seed=5)
    assert torch.equal(fres.indices, res.indices) and (fres.rounds, fres.history) == (res.rounds, res.history)
    assert all(torch.equal(a, b) for a, b in zip(fres.perms, res.perms))
    for a, b in zip(fres.reference, edge_features(spec, res.reference)):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    aligned, perms = align_stacked(spec, res.reference, zoo, chunk_size=5)
    fperms = match_features(fres.reference, feats, chunk_size=7)
    assert all(torch.equal(a, b) for a, b in zip(fperms, perms))
    # the aligned features are the features of the aligned parameters, and closer to the reference
    moved = permute_layer_features(feats, fperms)
    assert all(torch.equal(a, b) for a, b in zip(moved, edge_features(spec, aligned)))
    dist = [
        sum(((f - r) ** 2).flatten(1).sum(1) for f, r in zip(x, fres.reference)).mean()
        for x in (feats, moved)
    ]
    assert dist[1] < 0.5 * dist[0]


def test_feature_level_alignment_checks_its_inputs():
    f = [torch.zeros(4, 5, 3, 2), torch.zeros(4, 2, 4, 2)]
    with pytest.raises(ValueError, match=r"feats\[1\] has 4 inputs but feats\[0\] has 5 outputs"):
        merge_many_features(f)
    with pytest.raises(
        ValueError, match=r"feats\[1\] must have shape \(M, out, in, F\) with the M and F of feats\[0\]"
    ):
        match_features([x[0] for x in f], [f[0], torch.zeros(3, 2, 5, 2)])
    with pytest.raises(ValueError, match="merge_many_features needs at least 2 models, got 1"):
        merge_many_features([x[:1] for x in (f[0], torch.zeros(4, 2, 5, 2))])
