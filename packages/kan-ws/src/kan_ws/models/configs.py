"""Constructor configurations of the weight-space models, one frozen dataclass per model class.

A model's ``config()`` is ``dataclasses.asdict`` of its ``model_config()``; checkpoints store that dict
(JSON) and :func:`kan_ws.models.model_from_config` rebuilds the model through the dataclass, so a header
with a missing or unknown key is refused by name. Field order is the checkpoint's key order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["FlatMLPConfig", "DMCConfig", "DeepSetsConfig", "SetTransformerConfig", "WSKANConfig", "as_kwargs"]


@dataclass(frozen=True)
class FlatMLPConfig:
    out_dim: int
    level: str
    num_edges: int
    edge_dim: int
    hidden: int = 128
    depth: int = 4
    dropout: float = 0.2


@dataclass(frozen=True)
class DMCConfig:
    out_dim: int
    level: str
    num_edges: int
    edge_dim: int
    hidden: int = 128
    channels: int = 32
    depth: int = 4
    dropout: float = 0.2
    pooled: int = 16


@dataclass(frozen=True)
class DeepSetsConfig:
    out_dim: int
    level: str
    edge_dim: int
    hidden: int = 128
    depth: int = 4
    dropout: float = 0.2
    use_pe: bool = True


@dataclass(frozen=True)
class SetTransformerConfig:
    out_dim: int
    level: str
    edge_dim: int
    num_edges: int | None = None
    hidden: int = 64
    depth: int = 2
    heads: int = 4
    dropout: float = 0.2
    max_edges: int = 2048


@dataclass(frozen=True)
class WSKANConfig:
    """``node_in``/``edge_in`` are ``None`` until the lazy input projections have seen a batch."""

    out_dim: int
    level: str
    hidden: int = 128
    depth: int = 4
    dropout: float = 0.2
    use_pe: bool = True
    bidirectional: bool = True
    node_in: int | None = None
    edge_in: int | None = None


def as_kwargs(cfg: Any) -> tuple[Any, str, dict[str, Any]]:
    """``(out_dim, level, keywords)`` that rebuild a model from its config dataclass ``cfg``."""
    kw = asdict(cfg)
    return kw.pop("out_dim"), kw.pop("level"), kw
