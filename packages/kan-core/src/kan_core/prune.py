"""Activation-based ("oracle") edge pruning of KANs, single and stacked.

Two per-edge scores, both computed over a data set in batches so memory stays bounded:

* ``method="mean_abs"`` (the WS-KAN paper's oracle, appendix C.3.1): ``s_oi = mean_x |phi_oi(x_i)|``,
  the edge's mean absolute activation over the training data; the oracle mask keeps edges with
  ``s_oi >= threshold`` (paper: 0.01). Where the data takes few distinct values (images' grey levels), the
  first layer's scores are sums over those values weighted by their counts, which is exact and, for
  60,000 Fashion-MNIST images, evaluates 256 rows instead of 60,000.
* ``method="attribution"``: pykan 0.2.8's ``MultKAN.attribute()`` score, which ``prune_edge`` thresholds:
  with ``E^l_oi = std_x phi^l_oi`` and ``N^l_o = std_x y^l_o`` (unbiased std of the edge activation and
  of the layer output), node scores ``n^L = I`` (one row per output ``k``) propagate backwards as
  ``e^l_{k,o,i} = E^l_oi n^{l+1}_{k,o} / (N^l_o + 1e-4)``, ``n^l_{k,i} = sum_o e^l_{k,o,i}``; the edge score
  is ``mean_k e^l_{k,o,i}``. pykan's ``prune_edge`` keeps edges with score ``> threshold``.

Layout is torch's ``(out, in)`` per layer (pykan's is the transpose). The stacked functions take the models
as a :class:`~kan_core.stacked.StackedKAN` (or its per-layer dicts, validated against the spec).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from .basis.registry import get_basis
from .functional import layer_edges, layer_forward
from .model import KAN
from .spec import KANSpec
from .stacked import StackedKAN, as_stacked

__all__ = [
    "METHODS",
    "edge_scores",
    "edge_scores_stacked",
    "oracle_masks",
    "oracle_masks_stacked",
    "masks_from_scores",
    "apply_masks",
    "apply_masks_stacked",
    "kept_fraction",
]

METHODS = ("mean_abs", "attribution")


_EDGE_BLOCK = 1 << 21  # edge activations evaluated at once (8 MiB in float32): keeps them in cache


class _Stats:
    """Streaming per-layer sums over the data, accumulated in float64.

    ``mean_abs`` needs only ``sum |phi|`` per edge; ``attribution`` needs ``sum phi``, ``sum phi^2`` per edge
    and ``sum y``, ``sum y^2`` per output. Each block (a few hundred rows at most) is reduced in the data's
    dtype and added to float64 totals, so no float64 copy of the ``(B, out, in)`` activations is made.
    """

    def __init__(self, method: str) -> None:
        self.method = method
        self.n = 0
        self.abs: list[Tensor] = []
        self.e1: list[Tensor] = []
        self.e2: list[Tensor] = []
        self.y1: list[Tensor] = []
        self.y2: list[Tensor] = []

    def add(self, l: int, edges: Tensor) -> None:
        """Add one block ``edges (..., B, out, in)``: sums over the batch dim ``-3``."""
        f64 = torch.float64
        if self.method == "mean_abs":
            lists: tuple[list[Tensor], ...] = (self.abs,)
            vals: tuple[Tensor, ...] = (edges.abs_().sum(-3).to(f64),)  # edges is a fresh tensor
        else:
            out = edges.sum(-1)  # layer output before the node affine (pykan's subnode value)
            lists = (self.e1, self.e2, self.y1, self.y2)
            vals = (
                edges.sum(-3).to(f64),
                edges.square_().sum(-3).to(f64),
                out.sum(-2).to(f64),
                out.square_().sum(-2).to(f64),
            )
        if len(lists[0]) <= l:
            for lst, v in zip(lists, vals):
                lst.append(v)
        else:
            for lst, v in zip(lists, vals):
                lst[l] += v

    def add_layer(
        self, l: int, h: Tensor, edges_of: Callable[[Tensor], Tensor], edges_per_row: int, counts: Tensor | None = None
    ) -> None:
        """Evaluate ``edges_of`` on row blocks of ``h (..., B, in)`` small enough to stay in cache.

        ``counts (B, in)``: row ``b`` of ``h`` stands for ``counts[b, i]`` samples of input ``i``
        (``mean_abs`` only, see :func:`_value_counts`)."""
        rows = max(1, _EDGE_BLOCK // max(edges_per_row, 1))
        for s in range(0, h.shape[-2], rows):
            edges = edges_of(h[..., s : s + rows, :])
            if counts is not None:
                edges = edges.abs_().mul_(counts[s : s + rows].unsqueeze(-2))
            self.add(l, edges)

    def mean_abs(self) -> list[Tensor]:
        return [a / self.n for a in self.abs]

    @staticmethod
    def _std(s1: Tensor, s2: Tensor, n: int) -> Tensor:
        var = (s2 - s1 * s1 / n) / max(n - 1, 1)
        return var.clamp_min(0).sqrt()

    def attribution(self) -> list[Tensor]:
        depth = len(self.e1)
        E = [self._std(self.e1[l], self.e2[l], self.n) for l in range(depth)]  # (..., out, in)
        N = [self._std(self.y1[l], self.y2[l], self.n) for l in range(depth)]  # (..., out)
        d_out = E[-1].shape[-2]
        node = torch.eye(d_out, dtype=torch.float64, device=E[-1].device)  # (k, out_L)
        node = node.expand(*E[-1].shape[:-2], d_out, d_out)
        scores: list[Tensor] = [None] * depth  # type: ignore[list-item]
        for l in range(depth - 1, -1, -1):
            # e[k, o, i] = E[o, i] * node[k, o] / (N[o] + 1e-4)
            e = E[l].unsqueeze(-3) * (node / (N[l].unsqueeze(-2) + 1e-4)).unsqueeze(-1)
            node = e.sum(-2)  # (..., k, in): scores of layer l's input nodes
            scores[l] = e.mean(-3)
        return scores


def _value_counts(x: Tensor) -> tuple[Tensor, Tensor] | None:
    """The distinct values of ``x (N, d)`` and how often each occurs per column, when there are few.

    Returns ``(rows (U, d), counts (U, d))`` with ``rows[u, i] = values[u]`` and ``counts[u, i]`` the number
    of samples with ``x[:, i] == values[u]``, when ``x`` holds at most ``N / 4`` distinct values in all
    (images: 256 grey levels against 60,000 samples), else ``None``. A first-layer statistic that is a sum
    over samples of a function of one input (``mean |phi_oi(x_i)|``) is then the counts-weighted sum over
    ``U`` rows instead of ``N``. The values are those of the first 1,024 samples plus any others, found by a
    binary search of every entry (no sort of all of ``x``: 15 s for Fashion-MNIST's 47M pixels)."""
    n, d = x.shape
    values = torch.unique(x[:1024])
    if values.numel() * 4 > n:
        return None
    index = torch.searchsorted(values, x).clamp_max_(values.numel() - 1)
    missing = values[index] != x
    if missing.any():  # values the first samples lack (NaN never matches: no counts then)
        values = torch.unique(torch.cat([values, x[missing]]))
        if values.numel() * 4 > n:
            return None
        index = torch.searchsorted(values, x).clamp_max_(values.numel() - 1)
        if (values[index] != x).any():
            return None
    u = values.numel()
    flat = (index * d + torch.arange(d, device=x.device)).flatten()
    counts = torch.bincount(flat, minlength=u * d).view(u, d).to(x.dtype)
    return values.unsqueeze(1).expand(u, d).contiguous(), counts


def _finish(stats: _Stats, method: str, dtype: torch.dtype) -> list[Tensor]:
    if method == "mean_abs":
        out = stats.mean_abs()
    elif method == "attribution":
        out = stats.attribution()
    else:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return [s.to(dtype) for s in out]


@torch.no_grad()
def edge_scores(kan: KAN, x: Tensor, *, method: str = "mean_abs", batch_size: int = 4096) -> list[Tensor]:
    """Per-edge scores of ``kan`` over the samples ``x (N, d_0)``, one ``(out, in)`` tensor per layer.

    ``method="mean_abs"``: mean ``|phi_oi|`` over ``x`` (the paper's oracle); ``"attribution"``: pykan's
    attribution score (see module docstring). ``x`` is processed ``batch_size`` rows at a time.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if x.dim() != 2 or x.shape[-1] != kan.spec.widths[0]:
        raise ValueError(f"x must be (N, {kan.spec.widths[0]}), got {tuple(x.shape)}")
    stats = _Stats(method)
    first = _value_counts(x) if method == "mean_abs" else None
    if first is not None:  # the first layer's sums over the distinct values, weighted by their counts
        stats.add_layer(0, first[0], kan.layers[0].edges, kan.layers[0].mask.numel(), first[1])
    for s in range(0, x.shape[0], batch_size):
        h = x[s : s + batch_size]
        for l, layer in enumerate(kan.layers):
            if l > 0 or first is None:
                stats.add_layer(l, h, layer.edges, layer.mask.numel())  # edges: (B, out, in)
            h = layer(h)
        stats.n += min(batch_size, x.shape[0] - s)
    return _finish(stats, method, x.dtype)


@torch.no_grad()
def edge_scores_stacked(
    spec: KANSpec,
    layers: StackedKAN | Sequence[dict[str, Tensor]],
    x: Tensor,
    *,
    method: str = "mean_abs",
    batch_size: int = 4096,
) -> list[Tensor]:
    """:func:`edge_scores` for ``M`` stacked models (leading dim ``M`` on every tensor).

    ``x`` is shared ``(N, d_0)`` or per model ``(M, N, d_0)``. Returns ``(M, out, in)`` per layer.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    stacked = as_stacked(spec, layers, "edge_scores_stacked")
    m = stacked.num_models
    if x.dim() not in (2, 3) or x.shape[-1] != spec.widths[0] or (x.dim() == 3 and x.shape[0] != m):
        raise ValueError(f"x must be (N, {spec.widths[0]}) or ({m}, N, {spec.widths[0]}), got {tuple(x.shape)}")
    layers = stacked.layers
    basis = get_basis(spec.basis)
    uniform = [basis.uniform_hint(p) for p in layers]
    shared = x.dim() == 2
    n = x.shape[-2]
    stats = _Stats(method)
    edge_fns = [lambda hb, p=p, u=u: layer_edges(hb, p, spec, u) for p, u in zip(layers, uniform)]
    per_row = [m * p["scale_base"].shape[-2] * p["scale_base"].shape[-1] for p in layers]
    first = _value_counts(x) if method == "mean_abs" and shared else None
    if first is not None:  # the first layer's sums over the distinct values, weighted by their counts
        stats.add_layer(0, first[0].unsqueeze(0), edge_fns[0], per_row[0], first[1])
    for s in range(0, n, batch_size):
        h = x[s : s + batch_size].unsqueeze(0) if shared else x[:, s : s + batch_size]
        for l, p in enumerate(layers):
            if l > 0 or first is None:
                stats.add_layer(l, h, edge_fns[l], per_row[l])  # edges: (M or 1, B, out, in)
            h = layer_forward(h, p, spec, uniform[l])
        stats.n += min(batch_size, n - s)
    return [
        sc.expand(m, *sc.shape[1:]).clone() if sc.shape[0] != m else sc
        for sc in _finish(stats, method, x.dtype)
    ]


def masks_from_scores(
    scores: Sequence[Tensor], threshold: float = 0.01, *, method: str = "mean_abs"
) -> list[Tensor]:
    """0/1 float masks: ``score >= threshold`` (mean_abs) or ``score > threshold`` (attribution, as pykan)."""
    if method == "attribution":
        return [(s > threshold).float() for s in scores]
    return [(s >= threshold).float() for s in scores]


def oracle_masks(
    kan: KAN, x: Tensor, threshold: float = 0.01, *, method: str = "mean_abs", batch_size: int = 4096
) -> list[Tensor]:
    """The oracle pruning mask of ``kan`` on data ``x``: 0 where the edge score is below ``threshold``.

    The existing mask is respected (a pruned edge stays pruned). Returns ``(out, in)`` per layer."""
    scores = edge_scores(kan, x, method=method, batch_size=batch_size)
    new = masks_from_scores(scores, threshold, method=method)
    return [m * layer.mask.to(m) for m, layer in zip(new, kan.layers)]


def oracle_masks_stacked(
    spec: KANSpec,
    layers: StackedKAN | Sequence[dict[str, Tensor]],
    x: Tensor,
    threshold: float = 0.01,
    *,
    method: str = "mean_abs",
    batch_size: int = 4096,
) -> list[Tensor]:
    """:func:`oracle_masks` for stacked models; ``(M, out, in)`` per layer."""
    scores = edge_scores_stacked(spec, layers, x, method=method, batch_size=batch_size)
    new = masks_from_scores(scores, threshold, method=method)
    return [m * p["mask"].to(m) for m, p in zip(new, layers)]


def apply_masks(kan: KAN, masks: Sequence[Tensor]) -> KAN:
    """Set ``kan``'s per-layer masks (in place) and return it."""
    if len(masks) != len(kan.layers):
        raise ValueError(f"expected {len(kan.layers)} masks, got {len(masks)}")
    with torch.no_grad():
        for layer, m in zip(kan.layers, masks):
            if tuple(m.shape) != tuple(layer.mask.shape):
                raise ValueError(
                    f"mask shape {tuple(m.shape)} does not fit layer mask {tuple(layer.mask.shape)}"
                )
            layer.mask.copy_(m)
    return kan


def apply_masks_stacked(
    layers: StackedKAN | Sequence[dict[str, Tensor]], masks: Sequence[Tensor]
) -> StackedKAN | list[dict[str, Tensor]]:
    """Stacked tensors with ``mask`` replaced (other tensors shared): a new :class:`StackedKAN` for a
    container, new dicts for per-layer dicts."""
    if isinstance(layers, StackedKAN):
        return StackedKAN(layers.spec, apply_masks_stacked(layers.layers, masks))
    if len(masks) != len(layers):
        raise ValueError(f"expected {len(layers)} masks, got {len(masks)}")
    out = []
    for p, m in zip(layers, masks):
        if tuple(m.shape) != tuple(p["mask"].shape):
            raise ValueError(f"mask shape {tuple(m.shape)} does not fit {tuple(p['mask'].shape)}")
        out.append({**p, "mask": m.to(p["mask"])})
    return out


def kept_fraction(masks: Sequence[Tensor]) -> float | Tensor:
    """Fraction of edges kept. Per-layer ``(out, in)`` masks -> a float; stacked ``(M, out, in)`` -> ``(M,)``."""
    if not masks:
        raise ValueError("kept_fraction needs at least one mask")
    if masks[0].dim() == 2:
        kept = sum(float(m.sum()) for m in masks)
        return kept / sum(m.numel() for m in masks)
    kept = sum(m.flatten(1).sum(1) for m in masks)
    total = sum(m[0].numel() for m in masks)
    return kept / total
