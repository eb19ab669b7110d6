"""KAN -> KAN-graph (PyTorch Geometric) and back (WS-KAN section 3.2, plus a functional encoding).

Layout of the graph of a KAN with widths ``(d_0, ..., d_L)`` (the cross-package contract):

* nodes: one per neuron, ``N = sum(widths)``; neuron ``j`` of layer ``l`` has id ``sum(widths[:l]) + j``.
* edges: one per univariate function, layer by layer, inside layer ``l`` in torch ``(out, in)`` row-major
  order: edge ``offset_l + o * d_l + i`` is ``kan.layers[l].coef[o, i]``; ``edge_index[0]`` = source = input
  neuron ``(l, i)``, ``edge_index[1]`` = destination = output neuron ``(l + 1, o)``.

Attributes of the :class:`~torch_geometric.data.Data`:

==============  ==============  ==========================================================================
name            shape           meaning
==============  ==============  ==========================================================================
x               (N, 1)          zeros, or the input vector on the ``d_0`` input nodes
edge_index      (2, E) long     see above
edge_attr       (E, F)          raw: ``[w_b, w_s, c...]``; functional: sampled ``phi`` (and ``phi'``)
edge_mask       (E,)            pruning mask
edge_layer      (E,) long       layer ``l`` of every edge
edge_pe         (E,) long       first layer: input endpoint ``i``; last layer (``L > 1``): ``MAX_IO + o``;
                                middle layers: ``2 MAX_IO + l``
node_layer      (N,) long       layer of every neuron
node_pe         (N,) long       input ``j``: ``j``; output ``j``: ``MAX_IO + j``; hidden of layer ``l``:
                                ``2 MAX_IO + l``
node_grid       (N, K)          B-splines: knots of every non-output neuron (zeros for outputs); ``K = 0``
                                for other bases
node_affine     (N, 2)          ``(node_scale, node_bias)`` of non-input neurons if ``spec.affine``, else
                                ``(1, 0)``
layer_beta      (L, degree)     raw encoding only: Gram recursion coefficients (``(L, 0)`` otherwise)
spec            str             ``spec.to_json()``
encoding        str             ``"raw"`` or ``"functional"``
==============  ==============  ==========================================================================

A hidden-neuron permutation of the KAN relabels hidden nodes only (same PE, same features on the mapped
edges), so the encoded graph is unchanged up to isomorphism; swapping an input with an output node is not
such a relabelling (their PEs differ).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from kan_core import KAN, KANSpec
from kan_core.basis import get_basis
from kan_core.stacked import StackedKAN
from torch import Tensor

from .encoding import ENCODINGS, stacked_edge_features

__all__ = [
    "MAX_IO",
    "MAX_LAYERS",
    "NODE_PE_VOCAB",
    "EDGE_PE_VOCAB",
    "GraphStructure",
    "graph_structure",
    "to_graph",
    "from_graph",
    "stacked_to_graphs",
    "kans_to_batch",
    "batch_from_dense",
    "STRUCTURE_ATTRS",
]

MAX_IO = 1024
MAX_LAYERS = 16
NODE_PE_VOCAB = 2 * MAX_IO + MAX_LAYERS
EDGE_PE_VOCAB = 2 * MAX_IO + MAX_LAYERS


@dataclass(frozen=True)
class GraphStructure:
    """The edge pattern and positional encodings shared by every KAN of one width list (CPU tensors)."""

    widths: tuple[int, ...]
    node_offsets: tuple[int, ...]  # (L + 2,): start id of each layer's nodes, last = N
    edge_offsets: tuple[int, ...]  # (L + 1,): start of each layer's edges, last = E
    edge_index: Tensor  # (2, E)
    edge_layer: Tensor  # (E,)
    edge_pe: Tensor  # (E,)
    node_layer: Tensor  # (N,)
    node_pe: Tensor  # (N,)

    @property
    def num_nodes(self) -> int:
        return self.node_offsets[-1]

    @property
    def num_edges(self) -> int:
        return self.edge_offsets[-1]


@functools.lru_cache(maxsize=64)
def _structure(widths: tuple[int, ...]) -> GraphStructure:
    L = len(widths) - 1
    if L > MAX_LAYERS:
        raise ValueError(
            f"KAN depth {L} exceeds MAX_LAYERS={MAX_LAYERS} supported by the positional encodings"
        )
    if widths[0] > MAX_IO or widths[-1] > MAX_IO:
        raise ValueError(f"input/output widths {widths[0]}/{widths[-1]} exceed MAX_IO={MAX_IO}")
    noff = [0]
    for w in widths:
        noff.append(noff[-1] + w)
    eoff = [0]
    src, dst, elayer, epe = [], [], [], []
    for l in range(L):
        d_in, d_out = widths[l], widths[l + 1]
        o = torch.arange(d_out).repeat_interleave(d_in)
        i = torch.arange(d_in).repeat(d_out)
        src.append(noff[l] + i)
        dst.append(noff[l + 1] + o)
        elayer.append(torch.full((d_in * d_out,), l))
        if l == 0:
            epe.append(i)
        elif l == L - 1:
            epe.append(MAX_IO + o)
        else:
            epe.append(torch.full((d_in * d_out,), 2 * MAX_IO + l))
        eoff.append(eoff[-1] + d_in * d_out)
    nlayer = torch.cat([torch.full((w,), l) for l, w in enumerate(widths)])
    npe = []
    for l, w in enumerate(widths):
        if l == 0:
            npe.append(torch.arange(w))
        elif l == L:
            npe.append(MAX_IO + torch.arange(w))
        else:
            npe.append(torch.full((w,), 2 * MAX_IO + l))
    return GraphStructure(
        widths=widths,
        node_offsets=tuple(noff),
        edge_offsets=tuple(eoff),
        edge_index=torch.stack([torch.cat(src), torch.cat(dst)]),
        edge_layer=torch.cat(elayer),
        edge_pe=torch.cat(epe),
        node_layer=nlayer,
        node_pe=torch.cat(npe),
    )


def graph_structure(spec: KANSpec | Sequence[int]) -> GraphStructure:
    """The (cached) edge pattern and positional encodings of a width list."""
    widths = spec.widths if isinstance(spec, KANSpec) else tuple(int(w) for w in spec)
    return _structure(tuple(widths))


def _extra_shapes(spec: KANSpec) -> dict[str, tuple[int, ...]]:
    """The basis' extra tensors of a one-input layer; the graph format carries a knot ``grid`` per input node
    (``node_grid``) and a ``beta`` vector per layer (``layer_beta``), nothing else."""
    shapes = get_basis(spec.basis).extra_shapes(spec, 1)
    unknown = sorted(set(shapes) - {"grid", "beta"})
    if unknown:
        raise ValueError(
            f"the KAN graph format carries the extra tensors 'grid' and 'beta'; basis {spec.basis!r} has {unknown}"
        )
    return shapes


def _grid_len(spec: KANSpec) -> int:
    """Knots per input neuron (``0`` for bases without a grid)."""
    return _extra_shapes(spec).get("grid", (1, 0))[-1]


def _beta_len(spec: KANSpec) -> int:
    """Length of the per-layer ``beta`` vector (``0`` for bases without one)."""
    return _extra_shapes(spec).get("beta", (0,))[0]


def _graph_tensors(
    spec: KANSpec,
    layers: Sequence[Mapping[str, Tensor]],
    encoding: str,
    num_points: int,
    derivative: bool | str,
    x: Tensor | None,
) -> dict[str, Tensor]:
    """Per-graph tensors with a leading model dim ``M`` (every ``layers`` tensor must carry it)."""
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    st = graph_structure(spec)
    ref = layers[0]["coef"]
    m = ref.shape[0]
    dev, dt = ref.device, ref.dtype
    edge_attr = stacked_edge_features(spec, layers, encoding, num_points, derivative)  # (M, E, F)
    edge_mask = torch.cat([p["mask"].reshape(m, -1) for p in layers], 1)  # (M, E)
    n = st.num_nodes
    K = _grid_len(spec)
    node_grid = torch.zeros(m, n, K, dtype=dt, device=dev)
    if K:
        node_grid[:, : st.node_offsets[-2]] = torch.cat([p["grid"].expand(m, -1, -1) for p in layers], 1)
    node_affine = torch.zeros(m, n, 2, dtype=dt, device=dev)
    node_affine[..., 0] = 1.0
    if spec.affine:
        a = st.node_offsets[1]
        node_affine[:, a:, 0] = torch.cat([p["node_scale"] for p in layers], 1)
        node_affine[:, a:, 1] = torch.cat([p["node_bias"] for p in layers], 1)
    xs = torch.zeros(m, n, 1, dtype=dt, device=dev)
    if x is not None:
        x = torch.as_tensor(x, dtype=dt, device=dev)
        if x.shape[-1] != spec.widths[0] or x.dim() not in (1, 2) or (x.dim() == 2 and x.shape[0] != m):
            raise ValueError(
                f"x must have shape ({spec.widths[0]},) or ({m}, {spec.widths[0]}), got {tuple(x.shape)}"
            )
        xs[:, : spec.widths[0], 0] = x
    out = {
        "x": xs,
        "edge_attr": edge_attr,
        "edge_mask": edge_mask,
        "node_grid": node_grid,
        "node_affine": node_affine,
    }
    if encoding == "raw":
        deg = _beta_len(spec)
        beta = torch.zeros(m, spec.depth, deg, dtype=dt, device=dev)
        if deg:
            beta[:] = torch.stack([p["beta"].expand(m, deg) for p in layers], 1)
        out["layer_beta"] = beta
    return out


def _detached(layers: Sequence[Mapping[str, Tensor]]) -> list[dict[str, Tensor]]:
    return [{k: v.detach() for k, v in p.items()} for p in layers]


def to_graph(
    kan: KAN,
    *,
    encoding: str = "raw",
    num_points: int = 32,
    derivative: bool | str = False,
    x: Tensor | None = None,
):
    """The KAN-graph of ``kan`` as a :class:`torch_geometric.data.Data` (layout in the module docstring).

    Args:
        kan: a :class:`kan_core.KAN`.
        encoding: ``"raw"`` (``edge_attr: (E, spec.edge_feature_dim)``) or ``"functional"``
            (``(E, num_points)``, or ``(E, 2 * num_points)`` with ``derivative``).
        num_points, derivative: see :func:`kan_graph.encoding.functional_edge_features`.
        x: optional input vector ``(d_0,)`` put on the input nodes' feature ``x``.
    """
    from torch_geometric.data import Data

    spec = kan.spec
    # M = 1 as views (no stacking copy, no re-validation of the KAN's own tensors: to_graph runs per model)
    layers = [{k: v.unsqueeze(0) for k, v in p.items()} for p in _detached(kan.layer_params())]
    t = _graph_tensors(
        spec, layers, encoding, num_points, derivative, None if x is None else torch.as_tensor(x)
    )
    st = graph_structure(spec)
    dev = t["x"].device
    return Data(
        x=t["x"][0],
        edge_index=st.edge_index.to(dev, copy=True),
        edge_attr=t["edge_attr"][0],
        edge_mask=t["edge_mask"][0],
        edge_layer=st.edge_layer.to(dev, copy=True),
        edge_pe=st.edge_pe.to(dev, copy=True),
        node_layer=st.node_layer.to(dev, copy=True),
        node_pe=st.node_pe.to(dev, copy=True),
        node_grid=t["node_grid"][0],
        node_affine=t["node_affine"][0],
        **({"layer_beta": t["layer_beta"][0]} if "layer_beta" in t else {}),
        spec=spec.to_json(),
        encoding=encoding,
    )


def stacked_to_graphs(
    spec: KANSpec,
    layers: StackedKAN | Sequence[Mapping[str, Tensor]],
    *,
    encoding: str = "raw",
    num_points: int = 32,
    derivative: bool | str = False,
    x: Tensor | None = None,
):
    """KAN-graphs of a stacked zoo shard, vectorised, as one :class:`torch_geometric.data.Batch`.

    Equivalent to ``Batch.from_data_list([to_graph(kan_m) for m in range(M)])`` (same tensors, ``batch``,
    ``ptr`` and slice information, so ``get_example``/``to_data_list`` work), but built from one shared
    edge pattern with stacked features and node offsets, without per-model ``Data`` objects.

    Args:
        spec: the architecture shared by all ``M`` models.
        layers: a :class:`~kan_core.stacked.StackedKAN` of ``spec``, or its stacked per-layer tensors with
            leading model dim ``M`` (``coef: (M, out, in, n)``, ``grid: (M, in, K)``, ...; names as
            :meth:`kan_core.layers.EdgeLayer.params`).
        encoding, num_points, derivative: as :func:`to_graph`.
        x: optional inputs on the input nodes, ``(d_0,)`` shared or ``(M, d_0)``.

    Returns:
        A ``Batch`` of ``M`` graphs: ``x: (M N, 1)``, ``edge_index: (2, M E)``, ``edge_attr: (M E, F)``, ...
    """

    if isinstance(layers, StackedKAN) and layers.spec != spec:
        raise ValueError(f"stacked_to_graphs: spec {spec} differs from the StackedKAN's spec {layers.spec}")
    if len(layers) != spec.depth:
        raise ValueError(
            f"layers: expected {spec.depth} stacked layer dicts for widths {spec.widths}, got {len(layers)}"
        )
    layers = _detached(layers)
    m = layers[0]["coef"].shape[0]
    for l, (p, (o, i)) in enumerate(zip(layers, spec.layer_shapes())):
        if tuple(p["coef"].shape[:3]) != (m, o, i) or p["coef"].dim() != 4:
            raise ValueError(
                f"layers[{l}]['coef'] must have shape ({m}, {o}, {i}, n) (stacked, leading model dim), "
                f"got {tuple(p['coef'].shape)}"
            )
    t = _graph_tensors(spec, layers, encoding, num_points, derivative, x)
    attrs = {k: t[k] for k in ("edge_mask", "node_grid", "node_affine", "layer_beta") if k in t}
    return batch_from_dense(
        graph_structure(spec),
        t["edge_attr"],
        t["x"],
        attrs=attrs,
        structure_attrs=STRUCTURE_ATTRS,
        strings={"spec": spec.to_json(), "encoding": encoding},
        collate_info=True,
    )


#: the :class:`GraphStructure` tensors a graph can carry, repeated for every graph of a batch
STRUCTURE_ATTRS = ("edge_layer", "edge_pe", "node_layer", "node_pe")


def batch_from_dense(
    structure: GraphStructure,
    edge_attr: Tensor,
    x: Tensor | None = None,
    *,
    attrs: Mapping[str, Tensor] | None = None,
    structure_attrs: Sequence[str] = ("node_pe", "edge_pe"),
    strings: Mapping[str, str] | None = None,
    collate_info: bool = False,
):
    """A :class:`torch_geometric.data.Batch` of ``B`` equally shaped graphs from dense per-graph tensors.

    Every graph has the edge pattern of ``structure`` (``N`` nodes, ``E`` edges); graph ``b`` occupies nodes
    ``b N .. (b + 1) N - 1`` and edges ``b E .. (b + 1) E - 1``. Built in ``O(B (N + E))`` tensor ops, without
    per-graph ``Data`` objects: the weight-space models' training loop calls it for every batch (the lean
    default), :func:`stacked_to_graphs` for the full graph format.

    Args:
        structure: the shared edge pattern and positional encodings (:func:`graph_structure`).
        edge_attr: ``(B, E, F)`` edge features (e.g. :func:`kan_graph.encoding.stacked_edge_features`).
        x: node features: ``None`` (zeros), inputs ``(B, d_0)`` put on the input nodes (zeros elsewhere),
            or all of them, ``(B, N, C)``.
        attrs: more per-graph tensors ``(B, n_k, ...)``, stored concatenated as ``(B n_k, ...)``: edge-level
            (``n_k = E``, e.g. ``edge_mask``), node-level (``n_k = N``, ``node_grid``) or any other count
            (``layer_beta``, one row per layer).
        structure_attrs: names from :data:`STRUCTURE_ATTRS` to repeat for every graph (``(B E,)`` or
            ``(B N,)``).
        strings: per-graph constant strings (e.g. ``spec``), stored as lists of ``B`` strings.
        collate_info: also record PyG's slice and increment information, as ``Batch.from_data_list`` does,
            so ``get_example``, ``index_select`` and ``to_data_list`` work (the models do not need it).

    Returns:
        A ``Batch`` with ``x (B N, C)``, ``edge_index (2, B E)``, ``edge_attr (B E, F)``, ``attrs``, the
        structure attributes, ``strings``, ``batch (B N,)``, ``ptr (B + 1,)``; tensors on ``edge_attr``'s device.
    """
    from torch_geometric.data import Batch, Data

    n, e = structure.num_nodes, structure.num_edges
    if edge_attr.dim() != 3 or edge_attr.shape[1] != e:
        raise ValueError(
            f"edge_attr must have shape (B, {e}, F) for the graphs of widths {structure.widths}, "
            f"got {tuple(edge_attr.shape)}"
        )
    b = edge_attr.shape[0]
    dev = edge_attr.device
    if x is None or x.dim() == 2:
        d0 = structure.widths[0]
        xs = torch.zeros(b, n, 1, dtype=edge_attr.dtype, device=dev)
        if x is not None:
            if tuple(x.shape) != (b, d0):
                raise ValueError(
                    f"x must have shape ({b}, {d0}) (inputs) or ({b}, {n}, C), got {tuple(x.shape)}"
                )
            xs[:, :d0, 0] = x.to(dev)
    elif x.dim() == 3 and tuple(x.shape[:2]) == (b, n):
        xs = x.to(dev)
    else:
        raise ValueError(
            f"x must have shape ({b}, {structure.widths[0]}) or ({b}, {n}, C), got {tuple(x.shape)}"
        )
    ar = torch.arange(b, device=dev)
    edge_index = (structure.edge_index.to(dev).unsqueeze(1) + (ar * n).view(1, b, 1)).reshape(2, b * e)
    values: dict[str, object] = {
        "x": xs.reshape(b * n, -1),
        "edge_index": edge_index,
        "edge_attr": edge_attr.reshape(b * e, -1),
    }
    counts = {"x": n, "edge_index": e, "edge_attr": e}
    for name, v in (attrs or {}).items():
        if v.dim() < 2 or v.shape[0] != b:
            raise ValueError(f"attrs[{name!r}] must have shape ({b}, n, ...), got {tuple(v.shape)}")
        values[name] = v.reshape(b * v.shape[1], *v.shape[2:])
        counts[name] = v.shape[1]
    for name in structure_attrs:
        if name not in STRUCTURE_ATTRS:
            raise ValueError(f"structure_attrs: {name!r} is not one of {STRUCTURE_ATTRS}")
        v = getattr(structure, name)
        values[name] = v.to(dev).repeat(b)
        counts[name] = v.shape[0]
    for name, text in (strings or {}).items():
        values[name] = [text] * b
    batch = Batch(_base_cls=Data) if collate_info else Batch()
    for name, v in values.items():
        batch[name] = v
    batch.batch = ar.repeat_interleave(n)
    batch.ptr = torch.arange(b + 1, device=dev) * n
    batch._num_graphs = b
    if collate_info:
        steps = torch.arange(b + 1)
        batch._slice_dict = {k: steps * counts[k] if k in counts else steps.clone() for k in values}
        batch._inc_dict = {
            k: (steps[:-1] * n if k == "edge_index" else torch.zeros(b, dtype=torch.long))
            if k in counts
            else None
            for k in values
        }
    return batch


def kans_to_batch(
    kans: Sequence[KAN],
    *,
    encoding: str = "raw",
    num_points: int = 32,
    derivative: bool | str = False,
):
    """A :class:`~torch_geometric.data.Batch` of the KAN-graphs of ``kans`` (widths and depths may differ).

    The edge features must have one width ``F`` across the batch: the raw encoding needs one basis and
    one number of coefficients; the functional encoding (``F = num_points``) batches any bases. ``node_grid``
    is zero-padded on the right to the longest grid of the batch.
    """
    from torch_geometric.data import Batch

    if len(kans) == 0:
        raise ValueError("kans_to_batch needs at least one KAN")
    graphs = [to_graph(k, encoding=encoding, num_points=num_points, derivative=derivative) for k in kans]
    dims = {g.edge_attr.shape[1] for g in graphs}
    if len(dims) > 1:
        raise ValueError(
            f"kans_to_batch: edge feature widths differ across KANs ({sorted(dims)}); the raw encoding needs "
            "one basis and coefficient count, use encoding='functional' to batch different bases"
        )
    kmax = max(g.node_grid.shape[1] for g in graphs)
    for g in graphs:
        if g.node_grid.shape[1] < kmax:
            g.node_grid = torch.nn.functional.pad(g.node_grid, (0, kmax - g.node_grid.shape[1]))
    if "layer_beta" in graphs[0]:
        degs = {g.layer_beta.shape[1] for g in graphs}
        if len(degs) > 1:
            bmax = max(degs)
            for g in graphs:
                g.layer_beta = torch.nn.functional.pad(g.layer_beta, (0, bmax - g.layer_beta.shape[1]))
    return Batch.from_data_list(graphs)


def from_graph(data) -> KAN:
    """The KAN encoded by a raw KAN-graph (exact inverse of ``to_graph(kan, encoding="raw")``).

    Raises:
        ValueError: the graph is not a raw encoding, or its tensors do not fit the spec it carries (edge
            count, feature width, node count, grid length), naming the offending attribute.
    """
    spec_json = data.spec if isinstance(data.spec, str) else None
    if spec_json is None:
        raise ValueError(
            "from_graph needs a single graph (Data) with a 'spec' JSON string; for a Batch use get_example(i)"
        )
    spec = KANSpec.from_json(spec_json)
    enc = getattr(data, "encoding", "raw")
    if enc != "raw":
        raise ValueError(f"from_graph can only invert the raw encoding; this graph has encoding={enc!r}")
    st = graph_structure(spec)
    n, e, F = st.num_nodes, st.num_edges, spec.edge_feature_dim
    ea = data.edge_attr
    if ea is None or ea.dim() != 2 or tuple(ea.shape) != (e, F):
        got = None if ea is None else tuple(ea.shape)
        raise ValueError(
            f"edge_attr has shape {got} but spec (widths {spec.widths}, basis {spec.basis!r}) expects "
            f"({e}, {F}) = (edges, [w_b, w_s] + {spec.num_coefficients} coefficients)"
        )
    for name, shape in (
        ("edge_mask", (e,)),
        ("x", (n, 1)),
        ("node_affine", (n, 2)),
        ("node_grid", (n, _grid_len(spec))),
    ):
        v = getattr(data, name, None)
        if v is None or tuple(v.shape) != shape:
            raise ValueError(
                f"{name} has shape {None if v is None else tuple(v.shape)}, spec {spec.widths} expects {shape}"
            )
    if data.edge_index is None or not torch.equal(data.edge_index.cpu(), st.edge_index):
        raise ValueError(f"edge_index does not follow the KAN-graph edge order of widths {spec.widths}")
    dt = ea.dtype
    params = []
    for l, (o, i) in enumerate(spec.layer_shapes()):
        a, b = st.edge_offsets[l], st.edge_offsets[l + 1]
        f = ea[a:b].reshape(o, i, F)
        p = {
            "scale_base": f[..., 0],
            "scale_sp": f[..., 1],
            "coef": f[..., 2:],
            "mask": data.edge_mask[a:b].reshape(o, i).to(dt),
        }
        if _grid_len(spec):
            p["grid"] = data.node_grid[st.node_offsets[l] : st.node_offsets[l + 1]].to(dt)
        if _beta_len(spec):
            beta = getattr(data, "layer_beta", None)
            if beta is None or tuple(beta.shape) != (spec.depth, _beta_len(spec)):
                raise ValueError(
                    f"layer_beta must have shape ({spec.depth}, {_beta_len(spec)}) for a {spec.basis!r} KAN"
                )
            p["beta"] = beta[l].to(dt)
        if spec.affine:
            aff = data.node_affine[st.node_offsets[l + 1] : st.node_offsets[l + 2]].to(dt)
            p["node_scale"], p["node_bias"] = aff[:, 0], aff[:, 1]
        params.append(p)
    return KAN.from_params(spec, params)
