"""WS-KAN: permutation invariance / equivariance with negative controls, PE ablation control, shapes."""

from __future__ import annotations

import pytest
import torch
from kan_core import KAN, KANSpec
from kan_graph import permute, permute_stacked, random_permutation
from kan_ws import WSKAN
from kan_ws.data import edge_features, graph_template, make_batch, permute_edge_features

ATOL = 1e-5


def _kan(widths=(3, 5, 4, 2), seed=0) -> KAN:
    return KAN(KANSpec(widths, grid_size=4), generator=torch.Generator().manual_seed(seed))


def _stack(kans):
    layers = []
    for l in range(kans[0].spec.depth):
        ps = [{k: v.detach() for k, v in kan.layer_params()[l].items()} for kan in kans]
        layers.append({k: torch.stack([p[k] for p in ps]) for k in ps[0]})
    return layers


def _batch(kans):
    spec = kans[0].spec
    return make_batch(graph_template(spec), edge_features(spec, _stack(kans)))


def _model(level, seed=0, **kw):
    torch.manual_seed(seed)
    m = WSKAN(out_dim=3, level=level, hidden=32, depth=3, **kw)
    m(_batch([_kan()]))  # materialise lazy layers
    return m.eval()


def test_graph_output_invariant_under_hidden_permutations():
    kan = _kan()
    perms = random_permutation(kan.spec, torch.Generator().manual_seed(1))
    kan_p = permute(kan, perms)
    x = torch.rand(16, 3) * 2 - 1
    assert torch.allclose(kan(x), kan_p(x), atol=1e-5)  # a true symmetry of the KAN
    model = _model("graph")
    with torch.no_grad():
        a, b = model(_batch([kan])), model(_batch([kan_p]))
    assert torch.allclose(a, b, atol=ATOL)
    # negative control: permuting only the rows of layer 0 (uncoupled from layer 1) is no symmetry
    bad = _kan()
    with torch.no_grad():
        p = perms[0]
        for name in ("scale_base", "scale_sp", "coef"):
            getattr(bad.layers[0], name).copy_(getattr(bad.layers[0], name)[p])
    assert not torch.allclose(kan(x), bad(x), atol=1e-4)
    with torch.no_grad():
        c = model(_batch([bad]))
    inv_err = (a - b).abs().max()
    assert (a - c).abs().max() > max(1e-6, 100 * inv_err)


def test_edge_output_equivariant_under_hidden_permutations():
    kan = _kan(seed=3)
    perms = random_permutation(kan.spec, torch.Generator().manual_seed(2))
    kan_p = permute(kan, perms)
    model = _model("edge")
    with torch.no_grad():
        a, b = model(_batch([kan])), model(_batch([kan_p]))  # (E, 3)
    moved = permute_edge_features(kan.spec.widths, a.unsqueeze(0), [p.unsqueeze(0) for p in perms])[0]
    assert torch.allclose(b, moved, atol=ATOL)
    assert not torch.allclose(b, a, atol=1e-4)  # the permutation does move edges


def test_no_pe_model_cannot_tell_input_nodes_apart_ours_can():
    """Swapping two input neurons changes the KAN's function: only the PE model must notice."""
    kan = _kan(seed=5)
    swapped = _kan(seed=5)
    p = torch.tensor([1, 0, 2])
    with torch.no_grad():
        for name in ("scale_base", "scale_sp", "coef"):
            getattr(swapped.layers[0], name).copy_(getattr(kan.layers[0], name)[:, p])
    x = torch.rand(16, 3) * 2 - 1
    assert not torch.allclose(kan(x), swapped(x), atol=1e-4)
    with torch.no_grad():
        nope = _model("graph", use_pe=False)
        ours = _model("graph")
        blind = (nope(_batch([kan])) - nope(_batch([swapped]))).abs().max()
        seen = (ours(_batch([kan])) - ours(_batch([swapped]))).abs().max()
        assert blind < ATOL
        assert seen > max(1e-6, 100 * blind)


def test_no_pe_model_cannot_tell_output_nodes_apart_ours_can():
    kan = _kan(seed=6)
    swapped = _kan(seed=6)
    with torch.no_grad():
        for name in ("scale_base", "scale_sp", "coef"):
            getattr(swapped.layers[-1], name).copy_(getattr(kan.layers[-1], name).flip(0))
    with torch.no_grad():
        nope, ours = _model("graph", use_pe=False), _model("graph")
        blind = (nope(_batch([kan])) - nope(_batch([swapped]))).abs().max()
        seen = (ours(_batch([kan])) - ours(_batch([swapped]))).abs().max()
        assert blind < ATOL
        assert seen > max(1e-6, 100 * blind)


def test_local_edge_permutation_matches_kan_graph():
    kans = [_kan(seed=s) for s in range(4)]
    spec = kans[0].spec
    layers = _stack(kans)
    perms = random_permutation(spec, torch.Generator().manual_seed(0), num_models=4)
    ref = edge_features(spec, permute_stacked(spec, layers, perms))
    ours = permute_edge_features(spec.widths, edge_features(spec, layers), perms)
    assert torch.equal(ref, ours)


def test_make_batch_is_the_collated_graphs_and_model_outputs_agree():
    from torch_geometric.data import Batch, Data

    kans = [_kan(seed=s) for s in range(3)]
    spec = kans[0].spec
    t = graph_template(spec)
    feats = edge_features(spec, _stack(kans))
    x = torch.rand(3, 3, generator=torch.Generator().manual_seed(0))
    fast = make_batch(t, feats, x)
    xs = torch.zeros(3, t.num_nodes, 1)
    xs[:, :3, 0] = x
    ref = Batch.from_data_list(
        [
            Data(x=xs[b], edge_index=t.edge_index, edge_attr=feats[b], node_pe=t.node_pe, edge_pe=t.edge_pe)
            for b in range(3)
        ]
    )
    assert set(fast.keys()) == set(ref.keys())
    for k in ref.keys():
        assert torch.equal(fast[k], ref[k]), k
    for level in ("graph", "edge"):
        model = _model(level)
        with torch.no_grad():
            assert torch.equal(model(fast), model(ref))


@pytest.mark.parametrize("level,shape", [("graph", (3, 3)), ("edge", None)])
def test_shapes_any_width_and_mixed_batch(level, shape):
    from torch_geometric.data import Batch, Data

    def data(kan):
        t = graph_template(kan.spec)
        f = edge_features(kan.spec, _stack([kan]))[0]
        return Data(
            x=torch.zeros(t.num_nodes, 1),
            edge_index=t.edge_index,
            edge_attr=f,
            node_pe=t.node_pe,
            edge_pe=t.edge_pe,
        )

    model = WSKAN(out_dim=3, level=level, hidden=16, depth=2)
    mixed = Batch.from_data_list(
        [data(_kan((3, 5, 4, 2))), data(_kan((3, 5, 4, 2), 1)), data(_kan((2, 7, 1), 2))]
    )
    out = model(mixed)
    E = sum(k.spec.num_edges() for k in [_kan((3, 5, 4, 2))] * 2 + [_kan((2, 7, 1))])
    assert out.shape == ((3, 3) if level == "graph" else (E, 3))
    assert torch.isfinite(out).all()


def test_template_matches_kan_graph_to_graph():
    kg = pytest.importorskip("kan_graph")
    if not hasattr(kg, "to_graph"):
        pytest.skip("kan_graph.to_graph has not landed")
    kan = _kan()
    g = kg.to_graph(kan)
    b = _batch([kan])
    assert torch.equal(g.edge_index, b.edge_index)
    assert torch.equal(g.node_pe, b.node_pe) and torch.equal(g.edge_pe, b.edge_pe)
    assert torch.allclose(g.edge_attr.float(), b.edge_attr, atol=1e-6)
    model = WSKAN(out_dim=2, hidden=16, depth=2).eval()
    with torch.no_grad():
        assert torch.allclose(model(g), model(b), atol=1e-5)


def test_deepsets_takes_no_edge_count():
    """DeepSets pools over any number of edges: it has no ``num_edges`` parameter to ignore."""
    from kan_ws.models import build_model
    from kan_ws.models.baselines import DeepSets

    with pytest.raises(TypeError, match="num_edges"):
        DeepSets(1, "graph", edge_dim=5, num_edges=12)
    model = build_model("deepsets", 1, "graph", num_edges=12, edge_dim=5, hidden=8, depth=2)
    assert isinstance(model, DeepSets) and "num_edges" not in model.config()
