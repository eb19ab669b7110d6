"""kan-graph: hidden-neuron permutation symmetry of KANs, KAN-graphs (PyG) and weight matching.

Public API (each name also lives in the submodule shown)::

    permute, random_permutation, permute_stacked, same_function,       # kan_graph.symmetry
    permute_layer_features, permute_edge_features
    to_graph, from_graph, stacked_to_graphs, kans_to_batch,            # kan_graph.graph
    batch_from_dense, graph_structure, GraphStructure,
    MAX_IO, MAX_LAYERS, NODE_PE_VOCAB, EDGE_PE_VOCAB
    edge_features, stacked_edge_features                              # kan_graph.encoding
    align, align_stacked, merge_many, MergeResult,                     # kan_graph.align
    merge_many_features, match_features, FeatureMergeResult
    read_stacked_zoo, write_stacked_zoo                                # kan_graph.io

``kan_graph.align`` is the function; the submodule of that name is reached with
``from kan_graph.align import ...`` or ``importlib.import_module("kan_graph.align")``.
"""

from __future__ import annotations

from kan_core._version import distribution_version

from .align import (
    FeatureMergeResult,
    MergeResult,
    align_stacked,
    match_features,
    merge_many,
    merge_many_features,
)
from .encoding import edge_features, stacked_edge_features
from .graph import (
    EDGE_PE_VOCAB,
    MAX_IO,
    MAX_LAYERS,
    NODE_PE_VOCAB,
    GraphStructure,
    batch_from_dense,
    from_graph,
    graph_structure,
    kans_to_batch,
    stacked_to_graphs,
    to_graph,
)
from .io import read_stacked_zoo, write_stacked_zoo
from .symmetry import (
    permute,
    permute_edge_features,
    permute_layer_features,
    permute_stacked,
    random_permutation,
    same_function,
)

# Importing the submodule `kan_graph.align` bound the package attribute `align` to the module; the
# package's `align` is the function (bound last, after every submodule import above).
from .align import align  # noqa: E402  isort: skip

__version__ = distribution_version("kan-graph", __file__)  # the repository's VERSION file

__all__ = [
    "permute",
    "random_permutation",
    "permute_stacked",
    "permute_layer_features",
    "permute_edge_features",
    "same_function",
    "to_graph",
    "from_graph",
    "stacked_to_graphs",
    "kans_to_batch",
    "batch_from_dense",
    "graph_structure",
    "GraphStructure",
    "edge_features",
    "stacked_edge_features",
    "align",
    "align_stacked",
    "merge_many",
    "MergeResult",
    "merge_many_features",
    "match_features",
    "FeatureMergeResult",
    "read_stacked_zoo",
    "write_stacked_zoo",
    "MAX_IO",
    "MAX_LAYERS",
    "NODE_PE_VOCAB",
    "EDGE_PE_VOCAB",
    "__version__",
]
