"""WS-KAN, its ablations and the six baselines behind one factory, :func:`build_model`."""

from __future__ import annotations

from typing import Any

from torch import nn

from .baselines import DMC, DeepSets, FlatMLP, InfeasibleError, SetTransformer
from .wskan import WSKAN, WSKANLayer

__all__ = [
    "WSKAN",
    "WSKANLayer",
    "FlatMLP",
    "DMC",
    "DeepSets",
    "SetTransformer",
    "InfeasibleError",
    "METHODS",
    "BASELINES",
    "ABLATIONS",
    "DISPLAY_NAMES",
    "build_model",
    "model_from_config",
]

#: method name -> (model class name, extra constructor keywords)
METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "mlp": ("FlatMLP", {}),
    "mlp-aug": ("FlatMLP", {}),
    "mlp-align": ("FlatMLP", {}),
    "dmc": ("DMC", {}),
    "deepsets": ("DeepSets", {}),
    "settrans": ("SetTransformer", {}),
    "wskan": ("WSKAN", {}),
    "wskan-nope": ("WSKAN", {"use_pe": False}),
    "wskan-nobidir": ("WSKAN", {"bidirectional": False}),
}
BASELINES = ("mlp", "mlp-aug", "mlp-align", "dmc", "deepsets", "settrans")
ABLATIONS = ("wskan-nope", "wskan-nobidir")
DISPLAY_NAMES = {
    "mlp": "MLP",
    "mlp-aug": "MLP + Aug.",
    "mlp-align": "MLP + Align.",
    "dmc": "DMC",
    "deepsets": "DeepSets",
    "settrans": "SetTrans",
    "wskan": "WS-KAN",
    "wskan-nope": "WS-KAN - no PE",
    "wskan-nobidir": "WS-KAN - no BIDIR",
}
_CLASSES = {
    "WSKAN": WSKAN,
    "FlatMLP": FlatMLP,
    "DMC": DMC,
    "DeepSets": DeepSets,
    "SetTransformer": SetTransformer,
}


def build_model(
    method: str, out_dim: int, level: str, *, num_edges: int, edge_dim: int, **config: Any
) -> nn.Module:
    """Construct the model of ``method`` (a key of :data:`METHODS`) for KANs with ``num_edges`` edges.

    ``config`` overrides hyper-parameters (``hidden``, ``depth``, ``dropout``...); unknown keys raise.
    Raises :class:`InfeasibleError` for a Transformer over too many edges.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {sorted(METHODS)}")
    cls_name, extra = METHODS[method]
    kw = {**extra, **config}
    if cls_name == "WSKAN":
        kw.setdefault("edge_in", edge_dim)
        kw.setdefault("node_in", 1)
    elif cls_name in ("FlatMLP", "DMC", "SetTransformer"):
        kw.update(num_edges=num_edges, edge_dim=edge_dim)
    else:
        kw.update(edge_dim=edge_dim)
    return _CLASSES[cls_name](out_dim, level, **kw)


def model_from_config(cls_name: str, config: dict[str, Any]) -> nn.Module:
    """Rebuild a model from ``type(model).__name__`` and ``model.config()``."""
    if cls_name not in _CLASSES:
        raise ValueError(f"unknown model class {cls_name!r}; expected one of {sorted(_CLASSES)}")
    cfg = dict(config)
    return _CLASSES[cls_name](cfg.pop("out_dim"), cfg.pop("level"), **cfg)
