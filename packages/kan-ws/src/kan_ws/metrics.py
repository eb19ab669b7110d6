"""Metrics of the weight-space tasks: accuracy, MSE, R^2, ROC-AUC, threshold selection, mean +- std."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["accuracy", "mse", "r2", "roc_auc", "best_threshold", "binary_accuracy", "mean_std", "binned_mean"]


def accuracy(logits: Tensor, labels: Tensor) -> float:
    """Top-1 accuracy of ``logits (N, C)`` against ``labels (N,)``."""
    return float((logits.argmax(-1) == labels).float().mean())


def mse(pred: Tensor, target: Tensor) -> float:
    return float(((pred.float() - target.float()) ** 2).mean())


def r2(pred: Tensor, target: Tensor) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot`` (over all elements); NaN with no elements."""
    if target.numel() == 0:
        return float("nan")
    t = target.float()
    ss_res = ((pred.float() - t) ** 2).sum()
    ss_tot = ((t - t.mean()) ** 2).sum().clamp_min(1e-12)
    return float(1 - ss_res / ss_tot)


def roc_auc(scores: Tensor, labels: Tensor) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties); NaN with one class only.

    Args:
        scores: ``(N,)`` higher means "positive"; labels: ``(N,)`` in {0, 1}.
    """
    s = scores.detach().double().flatten()
    y = labels.detach().flatten() > 0.5
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = torch.argsort(s)
    sorted_s = s[order]
    ranks = torch.empty_like(s)
    ranks[order] = torch.arange(1, len(s) + 1, dtype=torch.float64)
    # average the ranks of ties
    uniq, inverse, counts = torch.unique_consecutive(sorted_s, return_inverse=True, return_counts=True)
    if len(uniq) < len(s):
        ends = torch.cumsum(counts, 0).double()
        avg = ends - (counts.double() - 1) / 2
        ranks[order] = avg[inverse]
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def binary_accuracy(scores: Tensor, labels: Tensor, threshold: float) -> float:
    return float(((scores > threshold).float() == (labels > 0.5).float()).float().mean())


def best_threshold(scores: Tensor, labels: Tensor, max_candidates: int = 512) -> float:
    """The threshold on ``scores`` maximising binary accuracy (chosen on validation data)."""
    s = scores.detach().float().flatten()
    y = (labels.flatten() > 0.5).float()
    q = torch.linspace(0, 1, max_candidates)
    cands = torch.unique(torch.quantile(s[:: max(1, s.numel() // 1_000_000)], q))
    cands = torch.cat([cands - 1e-6, cands.new_tensor([s.max().item() + 1.0])])
    accs = torch.stack([((s > c).float() == y).float().mean() for c in cands])
    return float(cands[int(torch.argmax(accs))])


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and (population, as is common for 3 seeds reported +-) standard deviation; NaN-safe."""
    v = [x for x in values if x is not None and not math.isnan(x)]
    if not v:
        return math.nan, math.nan
    m = sum(v) / len(v)
    return m, math.sqrt(sum((x - m) ** 2 for x in v) / len(v))


def binned_mean(x: Tensor, y: Tensor, edges: Sequence[float]) -> list[float]:
    """Mean of ``y`` over the bins ``[edges[k], edges[k+1])`` of ``x`` (NaN for empty bins; last bin closed)."""
    out = []
    for k in range(len(edges) - 1):
        lo, hi = edges[k], edges[k + 1]
        sel = (x >= lo) & ((x < hi) if k < len(edges) - 2 else (x <= hi))
        out.append(float(y[sel].float().mean()) if sel.any() else math.nan)
    return out
