"""The six weight-space baselines of the WS-KAN paper (section 5), each with a graph- and an edge-level head.

All take the same PyG ``Batch`` of KAN-graphs as :class:`~kan_ws.models.wskan.WSKAN`:

* :class:`FlatMLP` - an MLP on the flattened parameter vector (graphs of one architecture). Used as
  "MLP", "MLP + Aug." (random hidden permutations applied in the training loop) and "MLP + Align."
  (the zoo is aligned with MergeMany before training); the model itself is the same.
* :class:`DMC` - 1-D convolutions over the flattened parameter vector (Eilertsen et al., 2020).
* :class:`DeepSets` - an invariant set network over edge features plus edge positional embeddings.
* :class:`SetTransformer` - a Transformer encoder over the set of edges (only for small KANs:
  raises :class:`InfeasibleError` above ``max_edges``).

Flat models predict one logit per edge with a ``Linear`` to ``E * out_dim`` outputs; set models per element.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch
from torch import Tensor, nn

from ..data import EDGE_PE_VOCAB, dense_edges
from .configs import DeepSetsConfig, DMCConfig, FlatMLPConfig, SetTransformerConfig
from .wskan import mlp

__all__ = ["FlatMLP", "DMC", "DeepSets", "SetTransformer", "InfeasibleError"]


class InfeasibleError(RuntimeError):
    """A baseline cannot run at this size (e.g. the Transformer's attention over too many edges)."""


def _check_level(level: str) -> None:
    if level not in ("graph", "edge"):
        raise ValueError(f"level must be 'graph' or 'edge', got {level!r}")


class _EdgeNorm(nn.Module):
    """Holds normalisation buffers of edge features: per feature ``(F,)`` or per coordinate ``(E, F)``."""

    per_coordinate = False

    def _init_norm(self, num_edges: int, edge_dim: int) -> None:
        shape = (num_edges, edge_dim) if self.per_coordinate else (edge_dim,)
        self.register_buffer("edge_mean", torch.zeros(shape))
        self.register_buffer("edge_std", torch.ones(shape))

    @torch.no_grad()
    def fit_normalization(self, feats: Tensor) -> None:
        """Statistics of training features ``feats (M, E, F)`` (per coordinate for flat models)."""
        f = feats.float()
        if not self.per_coordinate:
            f = f.reshape(-1, f.shape[-1])
        self.edge_mean.copy_(f.mean(0))
        self.edge_std.copy_(f.std(0).clamp_min(1e-6))


class FlatMLP(_EdgeNorm):
    """MLP on the flattened ``(E * F)`` parameter vector.

    Shapes: batch of ``B`` graphs with ``E`` edges -> ``(B, out_dim)`` or ``(B * E, out_dim)``.
    """

    per_coordinate = True

    Config = FlatMLPConfig  #: its constructor configuration (``config()`` is ``asdict`` of one)

    def __init__(
        self,
        out_dim: int,
        level: str,
        *,
        num_edges: int,
        edge_dim: int,
        hidden: int = 128,
        depth: int = 4,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        _check_level(level)
        self.out_dim, self.level, self.num_edges, self.edge_dim = out_dim, level, num_edges, edge_dim
        self.hidden, self.depth, self.dropout = hidden, depth, dropout
        self._init_norm(num_edges, edge_dim)
        layers: list[nn.Module] = [nn.Linear(num_edges * edge_dim, hidden), nn.SiLU(), nn.Dropout(dropout)]
        for _ in range(max(depth - 2, 0)):
            layers += [nn.Linear(hidden, hidden), nn.SiLU(), nn.Dropout(dropout)]
        outs = out_dim if level == "graph" else num_edges * out_dim
        layers.append(nn.Linear(hidden, outs))
        self.net = nn.Sequential(*layers)

    def model_config(self) -> FlatMLPConfig:
        """The constructor configuration that rebuilds this model."""
        return FlatMLPConfig(self.out_dim, self.level, self.num_edges, self.edge_dim, self.hidden, self.depth, self.dropout)

    def config(self) -> dict[str, Any]:
        return asdict(self.model_config())

    def forward(self, batch: Any) -> Tensor:
        f = dense_edges(batch)
        if f.shape[1:] != (self.num_edges, self.edge_dim):
            raise ValueError(
                f"{type(self).__name__} was built for {self.num_edges}x{self.edge_dim} edge "
                f"features, got {tuple(f.shape[1:])}"
            )
        f = ((f - self.edge_mean) / self.edge_std).flatten(1)
        y = self.net(f)
        return y if self.level == "graph" else y.reshape(-1, self.out_dim)


class DMC(_EdgeNorm):
    """1-D convolutions over the flattened parameter vector, then an MLP head (DMC, Eilertsen et al.)."""

    per_coordinate = True

    Config = DMCConfig  #: its constructor configuration (``config()`` is ``asdict`` of one)

    def __init__(
        self,
        out_dim: int,
        level: str,
        *,
        num_edges: int,
        edge_dim: int,
        hidden: int = 128,
        channels: int = 32,
        depth: int = 4,
        dropout: float = 0.2,
        pooled: int = 16,
    ) -> None:
        super().__init__()
        _check_level(level)
        self.out_dim, self.level, self.num_edges, self.edge_dim = out_dim, level, num_edges, edge_dim
        self.hidden, self.channels, self.depth, self.dropout, self.pooled = (
            hidden,
            channels,
            depth,
            dropout,
            pooled,
        )
        self._init_norm(num_edges, edge_dim)
        convs: list[nn.Module] = []
        c_in = 1
        for _ in range(max(depth - 1, 1)):
            convs += [nn.Conv1d(c_in, channels, kernel_size=5, stride=2, padding=2), nn.SiLU()]
            c_in = channels
        self.conv = nn.Sequential(*convs, nn.AdaptiveAvgPool1d(pooled))
        outs = out_dim if level == "graph" else num_edges * out_dim
        self.head = mlp(channels * pooled, hidden, outs, dropout)

    def model_config(self) -> DMCConfig:
        """The constructor configuration that rebuilds this model."""
        return DMCConfig(self.out_dim, self.level, self.num_edges, self.edge_dim, self.hidden, self.channels, self.depth, self.dropout, self.pooled)

    def config(self) -> dict[str, Any]:
        return asdict(self.model_config())

    def forward(self, batch: Any) -> Tensor:
        f = dense_edges(batch)
        f = ((f - self.edge_mean) / self.edge_std).flatten(1).unsqueeze(1)  # (B, 1, E*F)
        y = self.head(self.conv(f).flatten(1))
        return y if self.level == "graph" else y.reshape(-1, self.out_dim)


class DeepSets(_EdgeNorm):
    """DeepSets over the edges: ``rho(mean_e phi(e) || max_e phi(e))``; per edge ``psi(phi(e), pooled)``.

    Invariant to every permutation of edges (a strict superset of the KAN's symmetries).
    """

    Config = DeepSetsConfig  #: its constructor configuration (``config()`` is ``asdict`` of one)

    def __init__(
        self,
        out_dim: int,
        level: str,
        *,
        edge_dim: int,
        hidden: int = 128,
        depth: int = 4,
        dropout: float = 0.2,
        use_pe: bool = True,
    ) -> None:
        super().__init__()
        _check_level(level)
        self.out_dim, self.level, self.edge_dim = out_dim, level, edge_dim
        self.hidden, self.depth, self.dropout, self.use_pe = hidden, depth, dropout, use_pe
        self._init_norm(0, edge_dim)
        self.inp = nn.Linear(edge_dim, hidden)
        if use_pe:
            self.pe = nn.Embedding(EDGE_PE_VOCAB, hidden)
            nn.init.normal_(self.pe.weight, std=0.1)
        blocks: list[nn.Module] = []
        for _ in range(max(depth - 2, 1)):
            blocks += [nn.SiLU(), nn.Dropout(dropout), nn.Linear(hidden, hidden)]
        self.phi = nn.Sequential(*blocks)
        self.rho = mlp(2 * hidden, hidden, out_dim if level == "graph" else hidden, dropout)
        if level == "edge":
            self.psi = mlp(2 * hidden, hidden, out_dim, dropout)

    def model_config(self) -> DeepSetsConfig:
        """The constructor configuration that rebuilds this model."""
        return DeepSetsConfig(self.out_dim, self.level, self.edge_dim, self.hidden, self.depth, self.dropout, self.use_pe)

    def config(self) -> dict[str, Any]:
        return asdict(self.model_config())

    def forward(self, batch: Any) -> Tensor:
        from torch_geometric.utils import scatter

        e = (batch.edge_attr.float() - self.edge_mean) / self.edge_std
        h = self.inp(e)
        if self.use_pe:
            h = h + self.pe(batch.edge_pe)
        h = self.phi(h)  # (E, h)
        eb = batch.batch[batch.edge_index[0]]
        B = int(batch.num_graphs)
        pooled = self.rho(
            torch.cat(
                [scatter(h, eb, 0, dim_size=B, reduce="mean"), scatter(h, eb, 0, dim_size=B, reduce="max")],
                dim=-1,
            )
        )
        if self.level == "graph":
            return pooled
        return self.psi(torch.cat([h, pooled[eb]], dim=-1))


class SetTransformer(_EdgeNorm):
    """A Transformer encoder over the set of edges (tokens: edge features + edge positional embedding).

    Attention is quadratic in the number of edges: KANs with more than ``max_edges`` edges raise
    :class:`InfeasibleError` (the paper reports SetTrans only where feasible).
    """

    Config = SetTransformerConfig  #: its constructor configuration (``config()`` is ``asdict`` of one)

    def __init__(
        self,
        out_dim: int,
        level: str,
        *,
        edge_dim: int,
        num_edges: int | None = None,
        hidden: int = 64,
        depth: int = 2,
        heads: int = 4,
        dropout: float = 0.2,
        max_edges: int = 2048,
    ) -> None:
        super().__init__()
        _check_level(level)
        if num_edges is not None and num_edges > max_edges:
            raise InfeasibleError(
                f"SetTransformer over {num_edges} edges exceeds max_edges={max_edges} "
                "(attention is quadratic in the number of edges); skipped"
            )
        self.out_dim, self.level, self.edge_dim, self.num_edges = out_dim, level, edge_dim, num_edges
        self.hidden, self.depth, self.heads, self.dropout, self.max_edges = (
            hidden,
            depth,
            heads,
            dropout,
            max_edges,
        )
        self._init_norm(0, edge_dim)
        self.inp = nn.Linear(edge_dim, hidden)
        self.pe = nn.Embedding(EDGE_PE_VOCAB, hidden)
        nn.init.normal_(self.pe.weight, std=0.1)
        layer = nn.TransformerEncoderLayer(
            hidden, heads, 2 * hidden, dropout, batch_first=True, activation="gelu"
        )
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.head = mlp(2 * hidden if level == "graph" else hidden, hidden, out_dim, dropout)

    def model_config(self) -> SetTransformerConfig:
        """The constructor configuration that rebuilds this model."""
        return SetTransformerConfig(self.out_dim, self.level, self.edge_dim, self.num_edges, self.hidden, self.depth, self.heads, self.dropout, self.max_edges)

    def config(self) -> dict[str, Any]:
        return asdict(self.model_config())

    def forward(self, batch: Any) -> Tensor:
        f = dense_edges(batch)
        B, E, _ = f.shape
        if E > self.max_edges:
            raise InfeasibleError(f"SetTransformer over {E} edges exceeds max_edges={self.max_edges}")
        h = self.inp((f - self.edge_mean) / self.edge_std) + self.pe(batch.edge_pe.view(B, E))
        h = self.encoder(h)  # (B, E, h)
        if self.level == "edge":
            return self.head(h).reshape(B * E, self.out_dim)
        return self.head(torch.cat([h.mean(1), h.amax(1)], dim=-1))
