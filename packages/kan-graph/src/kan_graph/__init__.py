"""kan-graph: hidden-neuron permutation symmetry of KANs, KAN-graphs (PyG) and weight matching.

Public API::

    permute, random_permutation, permute_stacked, same_function      # kan_graph.symmetry
    to_graph, from_graph, stacked_to_graphs, kans_to_batch           # kan_graph.graph
    MAX_IO, MAX_LAYERS, NODE_PE_VOCAB, EDGE_PE_VOCAB
    align, align_stacked, merge_many, MergeResult                    # kan_graph.align

Names are imported lazily (PEP 562) so that ``import kan_graph.cli`` (``kan --help``) does not import
torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from kan_core._version import distribution_version

if TYPE_CHECKING:
    from .align import MergeResult, align, align_stacked, merge_many
    from .graph import (
        EDGE_PE_VOCAB,
        MAX_IO,
        MAX_LAYERS,
        NODE_PE_VOCAB,
        from_graph,
        kans_to_batch,
        stacked_to_graphs,
        to_graph,
    )
    from .symmetry import permute, permute_stacked, random_permutation, same_function

__version__ = distribution_version("kan-graph", __file__)  # the repository's VERSION file

# `align` names both a submodule and its main function. Importing the submodule binds the package
# attribute to the module, so a lazy `align` would be the module whenever `kan_graph.align` had been
# imported first; bind the function now, once the submodule is loaded.
from .align import align  # noqa: E402

_LAZY = {
    "permute": ".symmetry",
    "random_permutation": ".symmetry",
    "permute_stacked": ".symmetry",
    "same_function": ".symmetry",
    "to_graph": ".graph",
    "from_graph": ".graph",
    "stacked_to_graphs": ".graph",
    "kans_to_batch": ".graph",
    "MAX_IO": ".graph",
    "MAX_LAYERS": ".graph",
    "NODE_PE_VOCAB": ".graph",
    "EDGE_PE_VOCAB": ".graph",
    "align_stacked": ".align",
    "merge_many": ".align",
    "MergeResult": ".align",
}

__all__ = [
    "permute",
    "random_permutation",
    "permute_stacked",
    "same_function",
    "to_graph",
    "from_graph",
    "stacked_to_graphs",
    "kans_to_batch",
    "align",
    "align_stacked",
    "merge_many",
    "MergeResult",
    "MAX_IO",
    "MAX_LAYERS",
    "NODE_PE_VOCAB",
    "EDGE_PE_VOCAB",
    "__version__",
]


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'kan_graph' has no attribute {name!r}")
    value = getattr(importlib.import_module(mod, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
