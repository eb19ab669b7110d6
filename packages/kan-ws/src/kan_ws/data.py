"""Turning stacked zoo parameters into model inputs: edge features, graph templates, PyG batches.

Every model in this package consumes a PyG ``Batch`` of KAN-graphs laid out as :func:`kan_graph.to_graph`
writes them (node order layer by layer, edge ``e = offset_l + o * d_l + i`` for ``coef[o, i]``). For a
zoo of one architecture the edge pattern is shared, so a batch is built from a dense ``(B, E, F)``
feature tensor and a :class:`GraphTemplate` in ``O(B * E)`` without Python loops over graphs.

The capabilities live in kan-graph (one definition of the contract layout); this module names them for
kan-ws: features :func:`kan_graph.encoding.stacked_edge_features`, batches
:func:`kan_graph.graph.batch_from_dense`, permutations :func:`kan_graph.symmetry.permute_edge_features`.
"""

from __future__ import annotations

from kan_core import KANSpec
from kan_graph.encoding import stacked_edge_features
from kan_graph.graph import (
    EDGE_PE_VOCAB,
    MAX_IO,
    MAX_LAYERS,
    NODE_PE_VOCAB,
    GraphStructure,
    batch_from_dense,
    graph_structure,
)
from kan_graph.symmetry import permute_edge_features
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
    """Raw edge encoding ``[w_b, w_s, c_0 .. c_{n-1}]`` of stacked layers, as float32.

    Args:
        layers: per layer ``scale_base (M, out, in)``, ``scale_sp (M, out, in)``, ``coef (M, out, in, n)``.

    Returns:
        ``(M, E, F)`` with ``E = spec.num_edges()``, ``F = spec.edge_feature_dim``, edges in contract order
        (:func:`kan_graph.encoding.stacked_edge_features` with ``encoding="raw"``).
    """
    return stacked_edge_features(spec, layers).float()


# The edge pattern and positional encodings of a width list come from kan-graph (one definition of the
# contract layout); ``GraphTemplate`` is kept as this module's name for it.
GraphTemplate = GraphStructure


def graph_template(spec: KANSpec | tuple[int, ...]) -> GraphTemplate:
    """Edge index and positional encodings of the KAN-graph of ``spec`` (contract layout, cached)."""
    return graph_structure(spec)


def make_batch(template: GraphTemplate, feats: Tensor, x: Tensor | None = None):
    """A PyG ``Batch`` of ``B`` KAN-graphs sharing ``template`` (:func:`kan_graph.graph.batch_from_dense`).

    Args:
        feats: ``(B, E, F)`` edge features.
        x: optional ``(B, d_0)`` inputs placed on the input nodes (zeros elsewhere).

    Returns:
        ``Batch`` with ``x (B*N, 1)``, ``edge_index (2, B*E)``, ``edge_attr (B*E, F)``, ``node_pe``,
        ``edge_pe``, ``batch (B*N,)``, ``ptr``; graphs are contiguous and equally sized.
    """
    return batch_from_dense(template, feats, x)


def dense_edges(batch) -> Tensor:
    """``(B, E, F)`` edge features of a batch of equally sized graphs (raises otherwise)."""
    B = int(batch.num_graphs)
    ea = batch.edge_attr
    if ea.shape[0] % B:
        raise ValueError(
            f"this model needs graphs of one architecture per batch ({ea.shape[0]} edges over {B} graphs)"
        )
    return ea.reshape(B, ea.shape[0] // B, ea.shape[1])
