"""WS-KAN: a bidirectional message-passing network over KAN-graphs (WS-KAN paper, section 3.3).

One layer runs, in this order,

a) ``v^F_i = MLP2F(v_i, sum_{j -> i} MLP1F(v_j, e_ji))``   (forward aggregation over incoming edges)
b) ``v^B_i = MLP2B(v_i, sum_{i -> j} MLP1B(v_j, e_ij))``   (backward aggregation over reversed edges)
c) ``e_ij = MLPe(v_i, v_j, e_ij)``                        (edge update from the old endpoints)
d) ``v_i  = MLP3(v_i, v^F_i, v^B_i)``                     (node update)

with residual connections around c) and d). Every step is a gather, a per-edge MLP and an ``index_add``,
so a layer costs ``O(#edges)``. Hidden-neuron permutations of the input KAN permute nodes and edges
of its graph; the graph-level head pools (mean and max over nodes and over edges) and is invariant,
the edge-level head reads each edge with its endpoints and is equivariant.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch
from torch import Tensor, nn

from ..data import EDGE_PE_VOCAB, NODE_PE_VOCAB
from .configs import WSKANConfig

__all__ = ["WSKAN", "WSKANLayer", "mlp"]


def mlp(in_dim: int | None, hidden: int, out_dim: int, dropout: float = 0.0) -> nn.Sequential:
    """``Linear -> SiLU -> Dropout -> Linear``; ``in_dim=None`` makes the first layer lazy."""
    first = nn.LazyLinear(hidden) if in_dim is None else nn.Linear(in_dim, hidden)
    return nn.Sequential(first, nn.SiLU(), nn.Dropout(dropout), nn.Linear(hidden, out_dim))


class WSKANLayer(nn.Module):
    """One bidirectional WS-KAN message-passing layer (steps a-d above).

    The per-edge MLPs are evaluated without materialising concatenations: the first ``Linear`` of
    ``MLP1F(v_j, e_ji)`` equals ``A v_j + B e_ji``, so ``A v`` is computed once per node and gathered;
    and because a sum commutes with the (linear) second layer, ``sum_j MLP1F(...)`` is computed as
    ``W2 (sum_j hidden_j) + deg_i b2``. Both are exact rewrites of the same functions; they cut the
    per-edge work from ``10 h^2`` to ``4 h^2`` multiply-adds (bidirectional).

    Shapes:
        ``v (N, h)``, ``e (E, h)``, ``edge_index (2, E)`` (row 0 = src/input neuron, row 1 = dst)
        -> ``(v (N, h), e (E, h))``.
    """

    def __init__(self, hidden: int, dropout: float = 0.0, bidirectional: bool = True) -> None:
        super().__init__()
        h = hidden
        self.hidden, self.bidirectional = h, bidirectional
        parts = 3 if bidirectional else 2  # edge-side first layers of MLP1F, (MLP1B), MLPe
        self.edge_first = nn.Linear(h, parts * h)
        self.node_first = nn.Linear(h, (parts + 1) * h, bias=False)  # 1F(src), (1B(dst)), e(src), e(dst)
        self.msg_f_second = nn.Linear(h, h)
        self.mlp2f = mlp(2 * h, h, h, dropout)
        if bidirectional:
            self.msg_b_second = nn.Linear(h, h)
            self.mlp2b = mlp(2 * h, h, h, dropout)
        self.edge_second = nn.Linear(h, h)
        self.mlp3 = mlp((3 if bidirectional else 2) * h, h, h, dropout)
        self.act = nn.SiLU()
        self.drop = nn.Dropout(dropout)
        self.norm_v = nn.LayerNorm(h)
        self.norm_e = nn.LayerNorm(h)

    def _aggregate(self, hidden: Tensor, index: Tensor, second: nn.Linear, n: int) -> Tensor:
        """``sum_{edges -> i} second(hidden_e)`` as ``second.weight @ sum hidden + deg_i * bias``."""
        s = hidden.new_zeros(n, hidden.shape[1]).index_add_(0, index, hidden)
        deg = hidden.new_zeros(n).index_add_(0, index, hidden.new_ones(index.shape[0]))
        return nn.functional.linear(s, second.weight) + deg.unsqueeze(1) * second.bias

    def forward(self, v: Tensor, e: Tensor, edge_index: Tensor) -> tuple[Tensor, Tensor]:
        src, dst = edge_index[0], edge_index[1]
        n = v.shape[0]
        pe = self.edge_first(e).chunk(3 if self.bidirectional else 2, dim=-1)
        pv = self.node_first(v).chunk(4 if self.bidirectional else 3, dim=-1)
        # a) forward aggregation: messages MLP1F(v_j, e_ji) from input neuron j=src to output neuron i=dst
        hf = self.drop(self.act(pv[0][src] + pe[0]))
        parts = [v, self.mlp2f(torch.cat([v, self._aggregate(hf, dst, self.msg_f_second, n)], dim=-1))]
        # b) backward aggregation over reversed edges: MLP1B(v_i, e_ji) from dst back to src
        if self.bidirectional:
            hb = self.drop(self.act(pv[1][dst] + pe[1]))
            parts.append(self.mlp2b(torch.cat([v, self._aggregate(hb, src, self.msg_b_second, n)], dim=-1)))
        # c) edge update MLPe(v_src, v_dst, e) from the (old) endpoint states
        he = self.drop(self.act(pv[-2][src] + pv[-1][dst] + pe[-1]))
        e = self.norm_e(e + self.edge_second(he))
        # d) node update MLP3(v, v^F, v^B)
        v = self.norm_v(v + self.mlp3(torch.cat(parts, dim=-1)))
        return v, e


class WSKAN(nn.Module):
    """WS-KAN over a PyG ``Batch`` of KAN-graphs (from :func:`kan_graph.to_graph` or :mod:`kan_ws.data`).

    Args:
        out_dim: outputs per graph (``level="graph"``) or per edge (``level="edge"``).
        level: ``"graph"`` (invariant head) or ``"edge"`` (equivariant head).
        hidden: width ``h`` of node/edge states (paper: 128). depth: message-passing layers (4).
        dropout: dropout inside every MLP (0.2).
        use_pe: add learned node/edge positional embeddings (``data.node_pe`` / ``data.edge_pe``).
        bidirectional: include the backward aggregation (step b).
        node_in, edge_in: input feature sizes; ``None`` infers them from the first batch (lazy).

    Shapes:
        ``batch.x (N, node_in)``, ``batch.edge_attr (E, edge_in)``, ``batch.edge_index (2, E)``,
        ``batch.batch (N,)`` -> ``(num_graphs, out_dim)`` or ``(E, out_dim)``.
    """

    Config = WSKANConfig  #: its constructor configuration (``config()`` is ``asdict`` of one)

    def __init__(
        self,
        out_dim: int = 1,
        level: str = "graph",
        *,
        hidden: int = 128,
        depth: int = 4,
        dropout: float = 0.2,
        use_pe: bool = True,
        bidirectional: bool = True,
        node_in: int | None = None,
        edge_in: int | None = None,
    ) -> None:
        super().__init__()
        if level not in ("graph", "edge"):
            raise ValueError(f"WSKAN level must be 'graph' or 'edge', got {level!r}")
        self.out_dim, self.level = int(out_dim), level
        self.hidden, self.depth, self.dropout = int(hidden), int(depth), float(dropout)
        self.use_pe, self.bidirectional = bool(use_pe), bool(bidirectional)
        h = self.hidden
        self.node_in_proj = nn.LazyLinear(h) if node_in is None else nn.Linear(node_in, h)
        self.edge_in_proj = nn.LazyLinear(h) if edge_in is None else nn.Linear(edge_in, h)
        self.register_buffer("edge_mean", torch.zeros(edge_in or 0))
        self.register_buffer("edge_std", torch.ones(edge_in or 0))
        if use_pe:
            self.node_pe = nn.Embedding(NODE_PE_VOCAB, h)
            self.edge_pe = nn.Embedding(EDGE_PE_VOCAB, h)
        self.layers = nn.ModuleList(WSKANLayer(h, dropout, bidirectional) for _ in range(depth))
        if level == "graph":
            self.head = mlp(4 * h, h, out_dim, dropout)
        else:
            self.head = mlp(3 * h, h, out_dim, dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.use_pe:
            nn.init.normal_(self.node_pe.weight, std=0.1)
            nn.init.normal_(self.edge_pe.weight, std=0.1)

    def model_config(self) -> WSKANConfig:
        """The constructor configuration that rebuilds this model (input sizes included once known)."""

        def size(lin: nn.Module) -> int | None:
            w = lin.weight
            return None if isinstance(w, nn.parameter.UninitializedParameter) else int(w.shape[1])

        return WSKANConfig(
            self.out_dim,
            self.level,
            self.hidden,
            self.depth,
            self.dropout,
            self.use_pe,
            self.bidirectional,
            size(self.node_in_proj),
            size(self.edge_in_proj),
        )

    def config(self) -> dict[str, Any]:
        """Constructor keywords that rebuild this model: ``asdict(self.model_config())``."""
        return asdict(self.model_config())

    def compile_layers(self) -> None:
        """Compile every message-passing layer in place (``nn.Module.compile``, dynamic shapes): the same
        function with its gathers, adds, SiLUs and scatters fused; parameters and state-dict keys are
        unchanged, so checkpoints load into eager models. The first call of each mode (training, inference)
        pays the compilation (about 30 s on a CPU; it needs the C++ compiler torch's inductor uses)."""
        for layer in self.layers:
            layer.compile(dynamic=True)

    @torch.no_grad()
    def fit_normalization(self, feats: Tensor) -> None:
        """Store per-feature mean/std of training edge features ``feats (..., F)`` as buffers."""
        flat = feats.reshape(-1, feats.shape[-1]).float()
        self.edge_mean = flat.mean(0).to(self.edge_mean.device)
        self.edge_std = flat.std(0).clamp_min(1e-6).to(self.edge_std.device)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # noqa: ANN001
        for name in ("edge_mean", "edge_std"):
            t = state_dict.get(prefix + name)
            if t is not None:
                setattr(self, name, torch.empty_like(t, device=getattr(self, name).device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, batch: Any) -> Tensor:
        ei = batch.edge_index
        e = batch.edge_attr.float()
        if self.edge_mean.numel():
            e = (e - self.edge_mean) / self.edge_std
        x = batch.x
        if x is None:
            x = torch.zeros(batch.num_nodes, 1, device=e.device)
        v = self.node_in_proj(x.float())
        e = self.edge_in_proj(e)
        if self.use_pe:
            v = v + self.node_pe(batch.node_pe)
            e = e + self.edge_pe(batch.edge_pe)
        for layer in self.layers:
            v, e = layer(v, e, ei)
        if self.level == "edge":
            return self.head(torch.cat([e, v[ei[0]], v[ei[1]]], dim=-1))
        from torch_geometric.utils import scatter

        node_batch = getattr(batch, "batch", None)
        if node_batch is None:
            node_batch = torch.zeros(v.shape[0], dtype=torch.long, device=v.device)
        B = int(getattr(batch, "num_graphs", None) or int(node_batch.max()) + 1)
        edge_batch = node_batch[ei[0]]
        pooled = torch.cat(
            [
                scatter(v, node_batch, 0, dim_size=B, reduce="mean"),
                scatter(v, node_batch, 0, dim_size=B, reduce="max"),
                scatter(e, edge_batch, 0, dim_size=B, reduce="mean"),
                scatter(e, edge_batch, 0, dim_size=B, reduce="max"),
            ],
            dim=-1,
        )
        return self.head(pooled)

    def extra_repr(self) -> str:
        return f"level={self.level}, use_pe={self.use_pe}, bidirectional={self.bidirectional}"
