"""kan-graph reads and returns kan-core's StackedKAN where stacked layers travel (graphs, alignment)."""

import pytest
import torch
from kan_core.stacked import StackedKAN
from kan_graph import align_stacked, merge_many, stacked_to_graphs
from kan_graph.graph import from_graph
from kg_testutils import random_kan, stack


def _zoo(basis="bspline", m=6):
    kans = [random_kan(basis, widths=(2, 5, 4, 1), seed=s) for s in range(m)]
    return kans, StackedKAN.from_kans(kans)


@pytest.mark.parametrize("basis", ["bspline", "gram"])
def test_stacked_to_graphs_container_equals_layer_dicts(basis):
    kans, stacked = _zoo(basis)
    a = stacked_to_graphs(stacked.spec, stacked)
    b = stacked_to_graphs(stacked.spec, stack(kans))
    for key in b.keys():
        if isinstance(b[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), key
    for i, kan in enumerate(kans):  # and back: each graph is model i
        x = torch.linspace(-1, 1, 10).reshape(5, 2)
        torch.testing.assert_close(from_graph(a.get_example(i))(x), kan(x), atol=1e-6, rtol=1e-5)
    with pytest.raises(ValueError, match="stacked_to_graphs: spec .* differs from the StackedKAN's spec"):
        stacked_to_graphs(stacked.spec.replace(grid_size=3), stacked)


def test_merge_many_and_align_stacked_take_a_container():
    kans, stacked = _zoo(m=8)
    spec = stacked.spec
    res = merge_many(stacked, tol=1e-3, seed=0, chunk_size=2)
    ref = merge_many(spec, stack(kans), tol=1e-3, seed=0, chunk_size=2)
    for a, b in zip(res.perms, ref.perms):
        assert torch.equal(a, b)
    aligned, perms = align_stacked(spec, res.reference, stacked)
    aligned_list, perms_list = align_stacked(spec, res.reference, stack(kans))
    assert isinstance(aligned, StackedKAN) and isinstance(aligned_list, list)
    for p, q in zip(aligned, aligned_list):
        assert all(torch.equal(p[k], q[k]) for k in q)
    x = torch.linspace(-1, 1, 10).reshape(5, 2)
    for i, kan in enumerate(kans):  # permuting hidden neurons keeps every model's function
        torch.testing.assert_close(aligned.kan(i)(x), kan(x), atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="merge_many: spec=.* differs from the StackedKAN's spec"):
        merge_many(stacked, spec=spec.replace(grid_size=3))
    with pytest.raises(ValueError, match="align_stacked: spec .* differs from the StackedKAN's spec"):
        align_stacked(spec.replace(grid_size=3), res.reference, stacked)
