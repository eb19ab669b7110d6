"""StackedKAN (spec + stacked tensors) and KAN.from_params: round trips, validation, no initialisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from kan_core import KAN, KANSpec, StackedKAN
from kan_core.basis.registry import basis_names
from kan_core.batched import (
    evaluate_stacked,
    init_stacked,
    load_into_kan,
    predict_stacked,
    select_models,
    train_stacked,
)
from kan_core.functional import kan_forward
from kan_core.stacked import as_stacked

SPEC = KANSpec((2, 4, 3), grid_size=5)
X = torch.linspace(-1, 1, 14).reshape(7, 2)


def _kans(spec: KANSpec, seeds=(3, 4, 5)) -> list[KAN]:
    return [KAN(spec, generator=torch.Generator().manual_seed(s)) for s in seeds]


@pytest.mark.parametrize("basis", basis_names())
@pytest.mark.parametrize("affine", [False, True])
def test_from_kans_unstack_round_trip_every_basis(basis, affine):
    spec = KANSpec((2, 4, 3), basis=basis, affine=affine)
    kans = _kans(spec)
    stacked = StackedKAN.from_kans(kans)
    assert stacked.num_models == 3 and len(stacked) == spec.depth and stacked.spec == spec
    back = stacked.unstack()
    assert len(back) == 3
    for a, b in zip(kans, back):
        assert torch.equal(a(X), b(X))
        for pa, pb in zip(a.layer_params(), b.layer_params()):
            assert pa.keys() == pb.keys()
            assert all(torch.equal(pa[k], pb[k]) for k in pa)
    # the layers view is what kan_forward reads: all models at once equal each model alone
    together = kan_forward(X.unsqueeze(0), stacked.layers, spec)
    for i, kan in enumerate(kans):
        torch.testing.assert_close(together[i], kan(X), atol=1e-6, rtol=1e-5)


def test_select_every_index_kind_matches_the_models():
    kans = _kans(SPEC, seeds=(10, 11, 12, 13))
    stacked = StackedKAN.from_kans(kans)
    cases = [
        (2, [2]),
        (-1, [3]),
        (slice(1, 3), [1, 2]),
        ((3, 0), [3, 0]),
        (torch.tensor([1, 1]), [1, 1]),
        (torch.tensor([True, False, False, True]), [0, 3]),
    ]
    for index, picked in cases:
        sel = stacked.select(index)
        assert sel.num_models == len(picked), index
        for j, i in enumerate(picked):
            assert torch.equal(sel.kan(j)(X), kans[i](X)), index
    assert stacked.select(torch.tensor(3)).num_models == 1
    assert stacked.select(np.int64(1)).num_models == 1 and len(stacked[np.int64(1)]["coef"]) == 4
    with pytest.raises(IndexError, match="model 4 out of range for 4 models"):
        stacked.select(4)
    # the old function keeps lists as lists and containers as containers
    assert isinstance(select_models(stacked, [0]), StackedKAN)
    assert isinstance(select_models(stacked.layers, [0]), list)


def test_to_detach_clone_map():
    stacked = StackedKAN.from_kans(_kans(SPEC))
    d = stacked.to(torch.float64)
    assert d.dtype == torch.float64 and stacked.dtype == torch.float32
    assert all(v.dtype == torch.float64 for p in d for v in p.values())
    torch.testing.assert_close(d.kan(1)(X.double()), stacked.kan(1)(X).double(), atol=1e-6, rtol=1e-5)
    grads = stacked.map(lambda t: t.clone().requires_grad_(True))
    assert grads[0]["coef"].requires_grad
    assert not any(v.requires_grad for p in grads.detach() for v in p.values())
    c = stacked.clone()
    c[0]["coef"].zero_()  # the dicts are new, the tensors are the clone's own
    assert stacked[0]["coef"].abs().sum() > 0
    doubled = stacked.map(lambda t: 2 * t)
    assert torch.equal(doubled[1]["scale_sp"], 2 * stacked[1]["scale_sp"])
    with pytest.raises(
        ValueError, match=r"StackedKAN: layer 0 'scale_base' has shape \(3, 4\), expected \(M, 4, 2\)"
    ):
        stacked.map(lambda t: t.sum(-1))


def test_structure_is_fixed():
    stacked = StackedKAN.from_kans(_kans(SPEC))
    view = stacked.layers
    view[0]["coef"] = torch.zeros(1)
    del view[1]["mask"]
    assert stacked[0]["coef"].shape == (3, 4, 2, 8) and "mask" in stacked[1]  # the container is unchanged
    with pytest.raises(
        TypeError, match=r"StackedKAN\[l\] takes a layer number; pick models with .select\(\)"
    ):
        stacked[0:2]


def test_validation_errors_name_layer_tensor_and_shape():
    stacked = StackedKAN.from_kans(_kans(SPEC))
    good = stacked.layers
    with pytest.raises(
        ValueError, match=r"^StackedKAN: spec with widths \[2, 4, 3\] has 2 layers, got 1 layer dicts$"
    ):
        StackedKAN(SPEC, good[:1])
    bad = stacked.layers
    del bad[1]["grid"]
    with pytest.raises(ValueError, match=r"^StackedKAN: layer 1 lacks \['grid'\]; a 'bspline' spec names"):
        StackedKAN(SPEC, bad)
    bad = stacked.layers
    bad[0]["beta"] = torch.zeros(3, 2)
    with pytest.raises(ValueError, match=r"^StackedKAN: layer 0 has unknown \['beta'\]"):
        StackedKAN(SPEC, bad)
    bad = stacked.layers
    bad[1]["coef"] = bad[1]["coef"][:2]
    with pytest.raises(
        ValueError, match=r"layer 1 'coef' has shape \(2, 3, 4, 8\), expected \(M, 3, 4, 8\) with M=3"
    ):
        StackedKAN(SPEC, bad)
    bad = stacked.layers
    bad[0]["mask"] = bad[0]["mask"].bool()
    with pytest.raises(TypeError, match=r"layer 0 'mask' must be a floating-point tensor, got torch.bool"):
        StackedKAN(SPEC, bad)
    bad = stacked.layers
    bad[0]["grid"] = torch.empty(bad[0]["grid"].shape, device="meta")
    with pytest.raises(ValueError, match=r"layer 0 'grid' is on meta, the other tensors on cpu"):
        StackedKAN(SPEC, bad)
    with pytest.raises(
        ValueError, match=r"'coef' has shape \(3, 4, 2, 8\), expected \(M, 4, 2, 9\)"
    ):  # another grid size
        StackedKAN(SPEC.replace(grid_size=6), good)
    with pytest.raises(TypeError, match="expected a list with one dict of tensors per layer, got dict"):
        StackedKAN(SPEC, good[0])
    with pytest.raises(ValueError, match="from_kans: KAN 1 has spec"):
        StackedKAN.from_kans([KAN(SPEC), KAN(SPEC.replace(grid_size=3))])
    with pytest.raises(ValueError, match=r"^train_stacked\(layers=...\): the StackedKAN has spec"):
        train_stacked(SPEC.replace(grid_size=3), X, torch.zeros(3, 7, 3), layers=stacked, steps=1)
    with pytest.raises(ValueError, match=r"^train_stacked\(layers=...\): StackedKAN: layer 1 lacks"):
        bad = stacked.layers
        del bad[1]["grid"]
        train_stacked(SPEC, X, torch.zeros(3, 7, 3), layers=bad, steps=1)
    assert as_stacked(SPEC, stacked) is stacked


def test_engine_results_are_containers():
    stacked = init_stacked(SPEC, 2, [1, 2])
    assert isinstance(stacked, StackedKAN) and stacked.num_models == 2
    assert torch.equal(stacked.kan(1)(X), KAN(SPEC, generator=torch.Generator().manual_seed(2))(X))
    y = torch.randn(2, 7, 3, generator=torch.Generator().manual_seed(0))
    res = train_stacked(SPEC, X, y, layers=stacked, steps=3, device="cpu")
    assert isinstance(res.models, StackedKAN) and res.models.num_models == 2
    assert all(torch.equal(res.layers[l][k], res.models[l][k]) for l in range(2) for k in res.layers[l])
    assert torch.equal(load_into_kan(SPEC, res.models, 0)(X), res.models.kan(0)(X))
    assert torch.equal(load_into_kan(SPEC, res.layers, 0)(X), res.models.kan(0)(X))
    pred = predict_stacked(SPEC, res.models, X, batch_size=4)
    assert torch.equal(pred, predict_stacked(SPEC, res.layers, X, batch_size=4))
    torch.testing.assert_close(pred[1], res.models.kan(1)(X), atol=1e-6, rtol=1e-5)
    ev = evaluate_stacked(SPEC, res.models, X, y)
    torch.testing.assert_close(ev["loss"], res.metrics["loss"])
    with pytest.raises(ValueError, match=r"^predict_stacked: the StackedKAN has spec"):
        predict_stacked(SPEC.replace(grid_size=3), res.models, X)


@pytest.mark.parametrize("basis", basis_names())
def test_from_params_draws_nothing_and_copies(basis, monkeypatch):
    spec = KANSpec((2, 4, 3), basis=basis, affine=True)
    source = KAN(spec, generator=torch.Generator().manual_seed(7))
    params = [{k: v.detach().clone() for k, v in p.items()} for p in source.layer_params()]

    def no_lstsq(*args, **kwargs):
        raise AssertionError("KAN.from_params ran a least-squares fit")

    monkeypatch.setattr(torch.linalg, "lstsq", no_lstsq)
    state = torch.get_rng_state()
    kan = KAN.from_params(spec, params)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is untouched
    assert torch.equal(kan(X), source(X))
    params[0]["coef"].add_(1.0)  # a copy: changing the input later does not change the model
    assert torch.equal(kan(X), source(X))
    assert isinstance(kan.layers[0].coef, torch.nn.Parameter) and kan.layers[0].coef.requires_grad
    # negative control: the ordinary constructor draws from the global RNG
    monkeypatch.undo()
    KAN(spec)
    assert not torch.equal(torch.get_rng_state(), state)


def test_from_params_dtype_and_errors():
    params = [{k: v.detach().double() for k, v in p.items()} for p in KAN(SPEC).layer_params()]
    kan = KAN.from_params(SPEC, params)
    assert kan.dtype == torch.float64
    del params[0]["mask"]
    with pytest.raises(ValueError, match=r"^KAN.from_params: layer 0 lacks \['mask'\]"):
        KAN.from_params(SPEC, params)
    stacked = init_stacked(SPEC, 2, [0, 1])
    with pytest.raises(
        ValueError, match=r"^KAN.from_params: layer 0 'scale_base' has shape \(2, 4, 2\), expected \(4, 2\)$"
    ):
        KAN.from_params(SPEC, stacked.layers)


def test_pruning_takes_and_returns_containers():
    from kan_core.prune import apply_masks_stacked, edge_scores, edge_scores_stacked, oracle_masks_stacked

    stacked = init_stacked(SPEC, 3, [4, 5, 6])
    per_model_x = torch.stack([X, X.flip(0), X * 0.5])  # (3, 7, 2): each model its own inputs
    scores = edge_scores_stacked(SPEC, stacked, per_model_x, method="attribution", batch_size=3)
    for i in range(3):
        single = edge_scores(stacked.kan(i), per_model_x[i], method="attribution")
        for a, b in zip(scores, single):
            torch.testing.assert_close(a[i], b, atol=1e-6, rtol=1e-5)
    threshold = float(edge_scores_stacked(SPEC, stacked, X)[0].median())
    masks = oracle_masks_stacked(SPEC, stacked, X, threshold=threshold)
    pruned = apply_masks_stacked(stacked, masks)
    assert isinstance(pruned, StackedKAN) and pruned.spec == SPEC
    assert torch.equal(pruned[0]["mask"], masks[0]) and pruned[0]["coef"] is stacked[0]["coef"]
    assert 0 < float(masks[0].sum()) < masks[0].numel()  # the threshold prunes some edges, not all
    with pytest.raises(ValueError, match=r"^x must be \(N, 2\) or \(3, N, 2\), got \(2, 7, 2\)$"):
        edge_scores_stacked(SPEC, stacked, per_model_x[:2])
    with pytest.raises(ValueError, match=r"^edge_scores_stacked: the StackedKAN has spec"):
        edge_scores_stacked(SPEC.replace(grid_size=3), stacked, X)


def test_layer_params_argument_replaces_the_initialisation():
    from kan_core.layers import KANLayer

    source = KANLayer(2, 3, grid_size=4, generator=torch.Generator().manual_seed(1))
    p = {k: v.detach().clone() for k, v in source.params().items()}
    state = torch.get_rng_state()
    layer = KANLayer(2, 3, grid_size=4, params=p)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(layer(X), source(X))
    with pytest.raises(TypeError, match="pass either params .* or generator"):
        KANLayer(2, 3, grid_size=4, params=p, generator=torch.Generator())
    del p["grid"]
    with pytest.raises(ValueError, match=r"^KANLayer\(params=...\) lacks \['grid'\]$"):
        KANLayer(2, 3, grid_size=4, params=p)


def test_refine_fits_once_per_layer(monkeypatch):
    kan = KAN(SPEC, generator=torch.Generator().manual_seed(2))
    calls = []
    real = torch.linalg.lstsq

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.linalg, "lstsq", counting)
    fine = kan.refine(10)  # a nested grid: the refit is exact
    assert len(calls) == SPEC.depth  # the refit only: the refined layers are not initialised first
    assert fine.spec.grid_size == 10
    torch.testing.assert_close(fine(X), kan(X), atol=1e-4, rtol=1e-3)
