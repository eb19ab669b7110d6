"""Turning stacked zoo parameters into model inputs: edge features, graph templates, PyG batches.

Every model in this package consumes a PyG ``Batch`` of KAN-graphs laid out as :func:`kan_graph.to_graph`
writes them (node order layer by layer, edge ``e = offset_l + o * d_l + i`` for ``coef[o, i]``). For a
zoo of one architecture the edge pattern is shared, so a batch is built from a dense ``(B, E, F)``
feature tensor and a :class:`GraphTemplate` in ``O(B * E)`` without Python loops over graphs.
"""

from __future__ import annotations

import torch
from kan_core import KANSpec
from kan_graph.graph import EDGE_PE_VOCAB, MAX_IO, MAX_LAYERS, NODE_PE_VOCAB, GraphStructure, graph_structure
from torch import Tensor

__all__ = [
    "MAX_IO",
    "MAX_LAYERS",
    "NODE_PE_VOCAB",
    "EDGE_PE_VOCAB",
    "GraphTemplate",
    "edge_features",
    "graph_template",
    "make_batch",
    "dense_edges",
    "permute_edge_features",
]


def edge_features(spec: KANSpec, layers: list[dict[str, Tensor]]) -> Tensor:
    """Raw edge encoding ``[w_b, w_s, c_0 .. c_{n-1}]`` of stacked layers.

    Args:
        layers: per layer ``scale_base (M, out, in)``, ``scale_sp (M, out, in)``, ``coef (M, out, in, n)``.

    Returns:
        ``(M, E, F)`` with ``E = spec.num_edges()``, ``F = spec.edge_feature_dim``, edges in contract order.
    """
    parts = []
    for p in layers:
        wb, ws, c = p["scale_base"], p["scale_sp"], p["coef"]
        f = torch.cat([wb.unsqueeze(-1), ws.unsqueeze(-1), c], dim=-1)  # (M, out, in, F)
        parts.append(f.reshape(f.shape[0], -1, f.shape[-1]))
    return torch.cat(parts, dim=1).float()


# The edge pattern and positional encodings of a width list come from kan-graph (one definition of the
# contract layout); ``GraphTemplate`` is kept as this module's name for it.
GraphTemplate = GraphStructure


def graph_template(spec: KANSpec | tuple[int, ...]) -> GraphTemplate:
    """Edge index and positional encodings of the KAN-graph of ``spec`` (contract layout, cached)."""
    return graph_structure(spec)


def make_batch(template: GraphTemplate, feats: Tensor, x: Tensor | None = None):
    """A PyG ``Batch`` of ``B`` KAN-graphs sharing ``template``.

    Args:
        feats: ``(B, E, F)`` edge features.
        x: optional ``(B, d_0)`` inputs placed on the input nodes (zeros elsewhere).

    Returns:
        ``Batch`` with ``x (B*N, 1)``, ``edge_index (2, B*E)``, ``edge_attr (B*E, F)``, ``node_pe``,
        ``edge_pe``, ``batch (B*N,)``, ``ptr``; graphs are contiguous and equally sized.
    """
    from torch_geometric.data import Batch

    B, E, F = feats.shape
    if E != template.num_edges:
        raise ValueError(
            f"feats has {E} edges per graph, template {template.widths} has {template.num_edges}"
        )
    N = template.num_nodes
    dev = feats.device
    shift = (torch.arange(B, device=dev) * N).view(B, 1, 1)
    edge_index = (template.edge_index.to(dev).unsqueeze(0) + shift).permute(1, 0, 2).reshape(2, B * E)
    xn = torch.zeros(B, N, 1, device=dev)
    if x is not None:
        xn[:, : template.widths[0], 0] = x.to(dev)
    batch = Batch(
        x=xn.reshape(B * N, 1),
        edge_index=edge_index,
        edge_attr=feats.reshape(B * E, F),
        node_pe=template.node_pe.to(dev).repeat(B),
        edge_pe=template.edge_pe.to(dev).repeat(B),
        batch=torch.arange(B, device=dev).repeat_interleave(N),
        ptr=torch.arange(B + 1, device=dev) * N,
    )
    batch._num_graphs = B
    return batch


def dense_edges(batch) -> Tensor:
    """``(B, E, F)`` edge features of a batch of equally sized graphs (raises otherwise)."""
    B = int(batch.num_graphs)
    ea = batch.edge_attr
    if ea.shape[0] % B:
        raise ValueError(
            f"this model needs graphs of one architecture per batch ({ea.shape[0]} edges over {B} graphs)"
        )
    return ea.reshape(B, ea.shape[0] // B, ea.shape[1])


def _edge_perm_index(widths: tuple[int, ...], perms: list[Tensor]) -> Tensor:
    """``(M, E)`` gather index so that ``new[:, e] = old[:, idx[:, e]]`` for hidden permutations.

    ``perms[l-1]`` is ``(M, d_l)`` for hidden layer ``l``; new neuron ``j`` of layer ``l`` is old ``perm[j]``.
    """
    M = perms[0].shape[0] if perms else 1
    L = len(widths) - 1
    idx, off = [], 0
    for l in range(L):
        din, dout = widths[l], widths[l + 1]
        pin = perms[l - 1] if l > 0 else torch.arange(din).expand(M, din)
        pout = perms[l] if l < L - 1 else torch.arange(dout).expand(M, dout)
        e = off + pout.unsqueeze(2) * din + pin.unsqueeze(1)  # (M, dout, din)
        idx.append(e.reshape(M, -1))
        off += din * dout
    return torch.cat(idx, dim=1)


def permute_edge_features(widths: tuple[int, ...], feats: Tensor, perms: list[Tensor]) -> Tensor:
    """Apply per-model hidden permutations to ``feats (M, E, F)`` (a function-preserving symmetry)."""
    if not perms:
        return feats
    idx = _edge_perm_index(tuple(widths), perms).to(feats.device)
    return torch.gather(feats, 1, idx.unsqueeze(-1).expand(-1, -1, feats.shape[-1]))
