"""Oracle pruning: mean |activation| and pykan attribution scores, masks, stacked version, vs pykan."""

from __future__ import annotations

import os

import pytest
import torch
from kan_core import KAN, KANSpec
from kan_core.batched import init_stacked, load_into_kan
from kan_core.prune import (
    apply_masks,
    apply_masks_stacked,
    edge_scores,
    edge_scores_stacked,
    kept_fraction,
    oracle_masks,
    oracle_masks_stacked,
)

SPEC = KANSpec((4, 6, 3), grid_size=5)


def _weak_kan(seed=1):
    """A KAN whose first three hidden neurons have tiny incoming edges (so pruning has work to do)."""
    kan = KAN(SPEC, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        kan.layers[0].coef[:3] *= 0.01
        kan.layers[0].scale_base[:3] *= 0.01
    return kan


def _x(n=300):
    return torch.rand(n, 4, generator=torch.Generator().manual_seed(2)) * 2 - 1


def test_mean_abs_scores_equal_activations_and_batching_does_not_matter():
    kan, x = _weak_kan(), _x()
    _, edges = kan.activations(x)
    ref = [e.abs().mean(0) for e in edges]
    for bs in (7, 300, 4096):
        got = edge_scores(kan, x, batch_size=bs)
        for a, b in zip(got, ref):
            torch.testing.assert_close(a, b.detach(), atol=1e-6, rtol=1e-5)


def test_first_layer_scores_over_few_distinct_values_equal_the_per_sample_mean():
    from kan_core.prune import _value_counts

    kan = _weak_kan()
    levels = torch.randint(0, 9, (400, 4), generator=torch.Generator().manual_seed(3))
    x = levels.float() / 4 - 1  # 9 grey levels in [-1, 1], 400 samples: counted, not evaluated per sample
    rows, counts = _value_counts(x)
    assert rows.shape == counts.shape == (9, 4) and torch.equal(counts.sum(0), torch.full((4,), 400.0))
    assert torch.equal(counts[:, 0], torch.bincount(levels[:, 0], minlength=9).float())
    # a level that first occurs after the 1,024 samples searched first is still counted
    late = torch.zeros(2000, 4)
    late[1500:1510, 2] = 0.5
    rows, counts = _value_counts(late)
    assert rows[:, 0].tolist() == [0.0, 0.5] and counts[:, 2].tolist() == [1990.0, 10.0]
    assert _value_counts(_x(400)) is None  # negative control: continuous data is evaluated per sample
    late[3, 1] = float("nan")
    assert _value_counts(late) is None  # NaN has no count
    _, edges = kan.activations(x)
    ref = [e.abs().mean(0).detach() for e in edges]
    for a, b in zip(edge_scores(kan, x, batch_size=64), ref):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    layers = init_stacked(SPEC, 2, [5, 6])
    st = edge_scores_stacked(SPEC, layers, x, batch_size=64)
    for i in range(2):
        _, edges = load_into_kan(SPEC, layers, i).activations(x)
        for a, e in zip(st, edges):
            torch.testing.assert_close(a[i], e.abs().mean(0).detach(), atol=1e-6, rtol=1e-5)


def test_oracle_mask_thresholds_and_apply():
    kan, x = _weak_kan(), _x()
    scores = edge_scores(kan, x)
    masks = oracle_masks(kan, x, threshold=0.01)
    for s, m in zip(scores, masks):
        assert torch.equal(m, (s >= 0.01).float())
    assert masks[0][:3].sum() == 0 and masks[0][3:].sum() > 0.5 * masks[0][3:].numel()
    frac = kept_fraction(masks)
    assert frac == pytest.approx(sum(float(m.sum()) for m in masks) / SPEC.num_edges())
    pruned = apply_masks(kan, masks)
    _, edges = pruned.activations(x)
    assert edges[0][:, :3].abs().max() == 0  # pruned edges are silent
    # a pruned edge stays pruned even if the threshold is 0
    assert oracle_masks(pruned, x, threshold=0.0)[0][:3].sum() == 0


def test_stacked_scores_equal_per_model_scores():
    layers = init_stacked(SPEC, 3, [5, 6, 7])
    x = _x(120)
    for method in ("mean_abs", "attribution"):
        st = edge_scores_stacked(SPEC, layers, x, method=method, batch_size=50)
        for i in range(3):
            single = edge_scores(load_into_kan(SPEC, layers, i), x, method=method)
            for a, b in zip(st, single):
                torch.testing.assert_close(a[i], b, atol=1e-6, rtol=1e-5)
    masks = oracle_masks_stacked(SPEC, layers, x, threshold=0.05)
    assert masks[0].shape == (3, 6, 4)
    kept = kept_fraction(masks)
    assert kept.shape == (3,)
    new = apply_masks_stacked(layers, masks)
    assert torch.equal(new[1]["mask"], masks[1]) and new[0]["coef"] is layers[0]["coef"]


@pytest.mark.pykan
def test_scores_and_masks_match_pykan(tmp_path):
    pytest.importorskip("kan", reason="pykan (optional extra) not installed")
    from kan_core.interop import to_pykan

    kan, x = _weak_kan(), _x()
    cwd = os.getcwd()
    os.chdir(tmp_path)  # pykan may write files next to the working directory
    try:
        pk = to_pykan(kan, save_act=True)
        pk.get_act(x)
        pk.attribute(plot=False)
        attribution = [s.detach().clone() for s in pk.edge_scores]
        postacts = [a.detach().clone() for a in pk.spline_postacts]  # (B, out, in): pykan's activations
        pk.prune_edge(threshold=0.03, log_history=False)
        pk_masks = [a.mask.detach().T.clone() for a in pk.act_fun]  # pykan (in, out) -> (out, in)
    finally:
        os.chdir(cwd)
    ours = edge_scores(kan, x, method="attribution", batch_size=64)
    for a, b in zip(ours, attribution):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    masks = oracle_masks(kan, x, threshold=0.03, method="attribution")
    for a, b in zip(masks, pk_masks):
        assert torch.equal(a, b)
    assert 0 < kept_fraction(masks) < 1  # a non-trivial mask was compared
    # the paper's oracle (mean |activation| < 0.01) on pykan's own cached activations
    mean_abs = oracle_masks(kan, x, threshold=0.01)
    for a, p in zip(mean_abs, postacts):
        assert torch.equal(a, (p.abs().mean(0) >= 0.01).float())
    assert 0 < kept_fraction(mean_abs) < 1
