import pytest
import torch
from kan_core import KAN
from kan_graph import (
    EDGE_PE_VOCAB,
    MAX_IO,
    NODE_PE_VOCAB,
    from_graph,
    kans_to_batch,
    permute,
    random_permutation,
    stacked_to_graphs,
    to_graph,
)
from kan_graph.encoding import (
    edge_features,
    flatten_edge_features,
    split_edge_features,
    stacked_edge_features,
)
from kan_graph.graph import batch_from_dense, graph_structure
from kg_testutils import BASES, random_kan, stack
from torch_geometric.data import Batch, Data


def test_layout_and_positional_encodings():
    kan = random_kan("bspline", widths=(2, 3, 4, 2), seed=0)
    d = to_graph(kan)
    assert d.num_nodes == 11 and d.num_edges == 2 * 3 + 3 * 4 + 4 * 2
    assert d.edge_attr.shape == (26, kan.spec.edge_feature_dim)
    # edge e = offset_l + o * d_l + i  <->  layers[l].coef[o, i]
    e = 6 + 2 * 3 + 1  # layer 1, o=2, i=1
    assert d.edge_index[:, e].tolist() == [2 + 1, 5 + 2]
    assert torch.equal(d.edge_attr[e, 2:], kan.layers[1].coef[2, 1].detach())
    assert (
        d.edge_attr[e, 0] == kan.layers[1].scale_base[2, 1]
        and d.edge_attr[e, 1] == kan.layers[1].scale_sp[2, 1]
    )
    assert d.edge_mask[e] == kan.layers[1].mask[2, 1]
    assert d.node_pe.tolist() == [0, 1] + [2 * MAX_IO + 1] * 3 + [2 * MAX_IO + 2] * 4 + [MAX_IO, MAX_IO + 1]
    assert d.edge_pe[:6].tolist() == [0, 1] * 3
    assert set(d.edge_pe[6:18].tolist()) == {2 * MAX_IO + 1}
    assert d.edge_pe[18:].tolist() == [MAX_IO] * 4 + [MAX_IO + 1] * 4
    assert int(d.node_pe.max()) < NODE_PE_VOCAB and int(d.edge_pe.max()) < EDGE_PE_VOCAB
    assert d.node_layer.tolist() == [0] * 2 + [1] * 3 + [2] * 4 + [3] * 2
    assert torch.equal(d.node_grid[2:5], kan.layers[1].grid) and not d.node_grid[9:].any()
    assert torch.equal(d.node_affine[5:9, 0], kan.layers[1].node_scale.detach())
    assert d.node_affine[:2].tolist() == [[1.0, 0.0]] * 2
    assert not d.x.any()
    dx = to_graph(kan, x=torch.tensor([0.25, -0.5]))
    assert dx.x[:2, 0].tolist() == [0.25, -0.5] and not dx.x[2:].any()


def _relabelled_equal(g1, g2, perms, widths):
    """g2 is g1 with hidden node j of layer h relabelled from old node perms[h-1][j]: check it."""
    off = [0]
    for w in widths:
        off.append(off[-1] + w)
    phi = torch.arange(off[-1])  # g2 node -> g1 node
    for h, p in enumerate(perms, start=1):
        phi[off[h] : off[h + 1]] = off[h] + p
    assert sorted(g1.node_pe.tolist()) == sorted(g2.node_pe.tolist())  # PE multisets
    assert torch.equal(g2.node_pe, g1.node_pe[phi])
    assert torch.equal(g2.node_grid, g1.node_grid[phi]) and torch.equal(g2.node_affine, g1.node_affine[phi])
    lookup = {(int(s), int(t)): e for e, (s, t) in enumerate(g1.edge_index.T.tolist())}
    for e2, (s, t) in enumerate(g2.edge_index.T.tolist()):
        e1 = lookup[(int(phi[s]), int(phi[t]))]
        assert torch.allclose(g2.edge_attr[e2], g1.edge_attr[e1], atol=1e-6, rtol=0)
        assert g2.edge_mask[e2] == g1.edge_mask[e1] and g2.edge_pe[e2] == g1.edge_pe[e1]


@pytest.mark.parametrize("encoding", ["raw", "functional"])
@pytest.mark.parametrize("basis", ["bspline", "chebyshev", "wavelet"])
def test_graph_of_permuted_kan_is_relabelling(basis, encoding):
    kan = random_kan(basis, widths=(3, 5, 4, 2), seed=3)
    perms = random_permutation(kan.spec, torch.Generator().manual_seed(9))
    g1 = to_graph(kan, encoding=encoding, num_points=8)
    g2 = to_graph(permute(kan, perms), encoding=encoding, num_points=8)
    assert not torch.equal(g1.edge_attr, g2.edge_attr)
    _relabelled_equal(g1, g2, perms, kan.spec.widths)


def _signature(g):
    """A node-relabelling-invariant summary of a PE-labelled graph: sorted (pe_src, pe_dst, edge_pe, feats)."""
    rows = [
        (
            int(g.node_pe[s]),
            int(g.node_pe[t]),
            int(g.edge_pe[e]),
            *[round(float(v), 5) for v in g.edge_attr[e]],
        )
        for e, (s, t) in enumerate(g.edge_index.T.tolist())
    ]
    return sorted(rows)


def test_input_output_swap_changes_graph_but_hidden_permutation_does_not():
    kan = random_kan("bspline", widths=(2, 4, 2), seed=6)
    g = to_graph(kan)
    gp = to_graph(permute(kan, random_permutation(kan.spec, torch.Generator().manual_seed(1))))
    assert _signature(g) == _signature(gp)
    # swap input node 0 with output node 0 (ids 0 and 6): a node relabelling that is not a symmetry
    phi = torch.arange(g.num_nodes)
    phi[0], phi[6] = 6, 0
    swapped = g.clone()
    swapped.edge_index = phi[g.edge_index]
    assert _signature(swapped) != _signature(g)
    # permuting the KAN's inputs (not a symmetry either) changes the encoded graph too
    params = [{k: v.detach().clone() for k, v in p.items()} for p in kan.layer_params()]
    for k in ("scale_base", "scale_sp", "coef", "mask"):
        params[0][k] = params[0][k][:, [1, 0]]
    params[0]["grid"] = params[0]["grid"][[1, 0]]
    other = random_kan("bspline", widths=(2, 4, 2), seed=6).load_layer_params(params)
    assert _signature(to_graph(other)) != _signature(g)


def _assert_same_kan(a: KAN, b: KAN):
    assert a.spec == b.spec
    for pa, pb in zip(a.layer_params(), b.layer_params()):
        assert pa.keys() == pb.keys()
        for k in pa:
            assert torch.equal(pa[k], pb[k]), k


def _assert_same_data(a, b, atol: float = 0.0):
    """Same keys and values; ``atol`` loosens edge_attr only (functional: batched vs single matmuls round
    differently)."""
    assert set(a.keys()) == set(b.keys())
    for k in a.keys():
        if isinstance(a[k], torch.Tensor):
            assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
            if k == "edge_attr" and atol:
                assert torch.allclose(a[k], b[k], atol=atol, rtol=0), k
            else:
                assert torch.equal(a[k], b[k]), k
        else:
            assert a[k] == b[k], k


@pytest.mark.parametrize("basis", BASES)
def test_round_trip(basis):
    kan = random_kan(basis, widths=(3, 5, 4, 2), seed=11)
    if basis == "bspline":
        from kan_core.basis import grid_is_uniform

        assert not grid_is_uniform(kan.layers[0].grid)
    g = to_graph(kan)
    back = from_graph(g)
    _assert_same_kan(kan, back)
    _assert_same_data(to_graph(back), g)
    x = torch.rand(32, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert torch.equal(kan(x), back(x))


def test_round_trip_float64_no_affine():
    kan = random_kan("bspline", widths=(2, 3, 1), affine=False).double()
    back = from_graph(to_graph(kan))
    assert back.layers[0].coef.dtype == torch.float64
    _assert_same_kan(kan, back)


def test_bad_graph_errors():
    kan = random_kan("bspline", widths=(2, 3, 1))
    g = to_graph(kan)
    g.edge_attr = g.edge_attr[:, :-1]
    with pytest.raises(ValueError, match=r"edge_attr has shape \(9, 9\).*expects \(9, 10\)"):
        from_graph(g)
    g = to_graph(kan)
    g.edge_attr = g.edge_attr[:-1]
    with pytest.raises(ValueError, match="edge_attr"):
        from_graph(g)
    g = to_graph(kan)
    g.node_grid = g.node_grid[:, :3]
    with pytest.raises(ValueError, match="node_grid"):
        from_graph(g)
    with pytest.raises(ValueError, match="raw encoding"):
        from_graph(to_graph(kan, encoding="functional", num_points=10))
    with pytest.raises(ValueError, match="encoding"):
        to_graph(kan, encoding="pixels")
    with pytest.raises(ValueError, match="x must have shape"):
        to_graph(kan, x=torch.zeros(3))


@pytest.mark.parametrize(
    "basis,encoding,derivative",
    [
        ("bspline", "raw", False),
        ("gram", "raw", False),
        ("bspline", "functional", True),
        ("rbf", "functional", "fd"),
    ],
)
def test_stacked_equals_from_data_list(basis, encoding, derivative):
    kans = [random_kan(basis, widths=(2, 4, 3, 1), seed=s) for s in range(5)]
    x = torch.rand(5, 2, generator=torch.Generator().manual_seed(0))
    kw = {"encoding": encoding, "num_points": 6, "derivative": derivative}
    fast = stacked_to_graphs(kans[0].spec, stack(kans), x=x, **kw)
    ref = Batch.from_data_list([to_graph(k, x=x[i], **kw) for i, k in enumerate(kans)])
    tol = {"raw": 0.0, "functional": 1e-3 if derivative == "fd" else 1e-5}[encoding]
    _assert_same_data(fast, ref, tol)
    assert fast.num_graphs == ref.num_graphs == 5
    assert torch.equal(fast.ptr, ref.ptr) and torch.equal(fast.batch, ref.batch)
    assert fast._slice_dict.keys() == ref._slice_dict.keys()
    for k in ref._slice_dict:
        assert torch.equal(fast._slice_dict[k], ref._slice_dict[k]), k
        assert (fast._inc_dict[k] is None) == (ref._inc_dict[k] is None)
        if ref._inc_dict[k] is not None:
            assert torch.equal(fast._inc_dict[k], ref._inc_dict[k]), k
    for i in range(5):
        _assert_same_data(fast.get_example(i), ref.get_example(i), tol)
    if encoding == "raw":
        _assert_same_kan(from_graph(fast.get_example(3)), kans[3])


def test_kans_to_batch_mixed_widths_and_depths():
    kans = [random_kan("bspline", widths=w, seed=i) for i, w in enumerate([(2, 3, 1), (2, 5, 4, 3), (4, 2)])]
    b = kans_to_batch(kans)
    assert b.num_graphs == 3 and b.ptr.tolist() == [0, 6, 20, 26]
    for i, k in enumerate(kans):
        _assert_same_data(b.get_example(i), to_graph(k))
    with pytest.raises(ValueError, match="functional"):
        kans_to_batch([random_kan("bspline", widths=(2, 3, 1)), random_kan("rbf", widths=(2, 3, 1))])
    mixed = kans_to_batch(
        [random_kan("bspline", widths=(2, 3, 1)), random_kan("chebyshev", widths=(3, 4, 2, 1))],
        encoding="functional",
        num_points=7,
    )
    assert mixed.edge_attr.shape == (9 + 12 + 8 + 2, 7)


@pytest.mark.parametrize("basis", ["bspline", "legendre", "wavelet"])
def test_functional_encoding_values_and_domain(basis):
    kan = random_kan(basis, widths=(2, 3, 2), seed=8)
    P = 9
    g = to_graph(kan, encoding="functional", num_points=P, derivative=True)
    assert g.edge_attr.shape == (2 * 3 + 3 * 2, 2 * P)
    # layer 1, edge (o=1, i=2): sample on input neuron 2's domain
    layer, (o, i) = kan.layers[1], (1, 2)
    if basis == "bspline":
        k = kan.spec.spline_order
        lo, hi = layer.grid[i, k], layer.grid[i, -k - 1]
    else:
        lo, hi = kan.spec.grid_range
    t = torch.linspace(0, 1, P)
    xs = torch.zeros(P, 3)
    xs[:, i] = lo + (hi - lo) * t
    with torch.no_grad():
        want = layer.edges(xs)[:, o, i]
    e = 6 + o * 3 + i
    assert torch.allclose(g.edge_attr[e, :P], want, atol=1e-6)
    fd = to_graph(kan, encoding="functional", num_points=P, derivative="fd")
    assert torch.allclose(g.edge_attr[:, P:], fd.edge_attr[:, P:], atol=2e-3, rtol=1e-3)


# --------------------------------------------------------------------- flat features and the batch builder
@pytest.mark.parametrize("encoding", ["raw", "functional"])
def test_stacked_edge_features_are_the_flat_per_layer_features(encoding):
    kans = [random_kan("bspline", widths=(3, 5, 4, 2), seed=s) for s in range(3)]
    spec, layers = kans[0].spec, stack(kans)
    per_layer = edge_features(spec, layers, encoding, num_points=5)
    flat = stacked_edge_features(spec, layers, encoding, num_points=5)
    assert flat.shape == (3, spec.num_edges(), per_layer[0].shape[-1])
    assert torch.equal(flat, flatten_edge_features(per_layer))
    back = split_edge_features(spec.widths, flat)
    assert all(torch.equal(a, b) for a, b in zip(back, per_layer))
    assert back[1].data_ptr() == flat[:, 15:].data_ptr()  # views of the flat tensor
    if encoding == "raw":  # edge offset_l + o * d_l + i is coef[o, i] of layer l, as in to_graph
        assert torch.equal(flat[2, 15 + 2 * 5 + 1, 2:], layers[1]["coef"][2, 2, 1])
        assert torch.equal(flat[0], to_graph(kans[0]).edge_attr)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 43, F\) for widths \(3, 5, 4, 2\), got \(3, 42, "):
        split_edge_features(spec.widths, flat[:, 1:])


def test_lean_batch_from_dense_equals_collated_graphs():
    st = graph_structure((3, 6, 5, 2))
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(4, st.num_edges, 7, generator=g)
    x = torch.randn(4, 3, generator=g)
    fast = batch_from_dense(st, feats, x)
    ref = Batch.from_data_list(
        [
            Data(
                x=torch.cat([x[b], torch.zeros(st.num_nodes - 3)]).unsqueeze(-1),
                edge_index=st.edge_index,
                edge_attr=feats[b],
                node_pe=st.node_pe,
                edge_pe=st.edge_pe,
            )
            for b in range(4)
        ]
    )
    assert set(fast.keys()) == set(ref.keys()) and fast.num_graphs == 4
    for k in ref.keys():
        assert torch.equal(fast[k], ref[k]), k
    plain = batch_from_dense(st, feats)
    assert torch.equal(plain.x, torch.zeros(4 * st.num_nodes, 1))
    full = batch_from_dense(
        st, feats, attrs={"layer_beta": torch.ones(4, 3, 2)}, strings={"tag": "a"}, collate_info=True
    )
    ex = full.get_example(2)
    assert torch.equal(ex.edge_attr, feats[2]) and torch.equal(ex.edge_index, st.edge_index)
    assert ex.layer_beta.shape == (3, 2) and ex.tag == "a"


def test_batch_from_dense_errors_name_the_shapes():
    st = graph_structure((3, 6, 5, 2))
    feats = torch.zeros(2, st.num_edges, 4)
    with pytest.raises(
        ValueError, match=r"edge_attr must have shape \(B, 58, F\) for the graphs of widths \(3, 6, 5, 2\)"
    ):
        batch_from_dense(st, feats[:, 1:])
    with pytest.raises(
        ValueError, match=r"x must have shape \(2, 3\) \(inputs\) or \(2, 16, C\), got \(2, 4\)"
    ):
        batch_from_dense(st, feats, torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"attrs\['m'\] must have shape \(2, n, \.\.\.\), got \(3, 58\)"):
        batch_from_dense(st, feats, attrs={"m": torch.zeros(3, 58)})
    with pytest.raises(ValueError, match=r"structure_attrs: 'grid' is not one of \('edge_layer'"):
        batch_from_dense(st, feats, structure_attrs=("grid",))
