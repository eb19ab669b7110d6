"""WS-KAN, its ablations and the six baselines behind one factory, :func:`build_model`."""

from __future__ import annotations

from typing import Any

from torch import nn

from .baselines import DMC, DeepSets, FlatMLP, InfeasibleError, SetTransformer
from .configs import DeepSetsConfig, DMCConfig, FlatMLPConfig, SetTransformerConfig, WSKANConfig, as_kwargs
from .registry import MODEL_CLASSES, REGISTRY, Method, get_method, method_names
from .wskan import WSKAN, WSKANLayer

__all__ = [
    "WSKAN",
    "WSKANLayer",
    "FlatMLP",
    "DMC",
    "DeepSets",
    "SetTransformer",
    "InfeasibleError",
    "Method",
    "REGISTRY",
    "get_method",
    "method_names",
    "METHODS",
    "BASELINES",
    "ABLATIONS",
    "DISPLAY_NAMES",
    "build_model",
    "model_from_config",
    "FlatMLPConfig",
    "DMCConfig",
    "DeepSetsConfig",
    "SetTransformerConfig",
    "WSKANConfig",
]

#: method name -> (model class name, extra constructor keywords), from :data:`REGISTRY`
METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    n: (m.model_class.__name__, dict(m.options)) for n, m in REGISTRY.items()
}
BASELINES = method_names("baseline")
ABLATIONS = method_names("ablation")
DISPLAY_NAMES = {n: m.display for n, m in REGISTRY.items()}


def build_model(
    method: str, out_dim: int, level: str, *, num_edges: int, edge_dim: int, **config: Any
) -> nn.Module:
    """Construct the model of ``method`` (a key of :data:`METHODS`) for KANs with ``num_edges`` edges.

    ``config`` overrides hyper-parameters (``hidden``, ``depth``, ``dropout``...); unknown keys raise.
    Raises :class:`InfeasibleError` for a Transformer over too many edges.
    """
    m = get_method(method)
    kw = {**m.options, **config}
    m.sizes(kw, num_edges, edge_dim)
    return m.model_class(out_dim, level, **kw)


def model_from_config(cls_name: str, config: dict[str, Any]) -> nn.Module:
    """Rebuild a model from ``type(model).__name__`` and ``model.config()`` (checked by its ``Config``)."""
    if cls_name not in MODEL_CLASSES:
        raise ValueError(f"unknown model class {cls_name!r}; expected one of {sorted(MODEL_CLASSES)}")
    cls = MODEL_CLASSES[cls_name]
    out_dim, level, kw = as_kwargs(cls.Config(**config))
    return cls(out_dim, level, **kw)
