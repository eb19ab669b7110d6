"""Trainable-parameter counts and the paper's Table 1 formulas."""

from __future__ import annotations

import math
from collections.abc import Sequence

from kan_core.basis import get_basis
from kan_core.spec import KANSpec
from torch import nn

from .mapping import weight_dim

__all__ = ["count_trainable", "table1_count", "kan_count", "metakan_count", "metalearner_size"]


def count_trainable(model: nn.Module) -> int:
    """Number of distinct trainable scalars (shared modules counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def metalearner_size(prompt_dim: int, hidden: int, d: int) -> int:
    """Parameters of ``Linear(dim z, h), ReLU, Linear(h, d)``: ``(dim z + 1) h + (h + 1) d``."""
    return (prompt_dim + 1) * hidden + (hidden + 1) * d


def kan_count(spec: KANSpec) -> int:
    """Trainable parameters of a kan-core :class:`~kan_core.KAN`: per edge ``w_b, w_s`` and ``n``
    coefficients, plus the basis' trainable extra tensors (Gram ``beta``) and node affines when enabled."""
    trainable = get_basis(spec.basis).trainable_extras
    extra = sum(math.prod(s) for p in spec.param_shapes() for name, s in p.items() if name in trainable)
    if spec.affine:
        extra += 2 * sum(spec.widths[1:])
    return spec.num_edges() * (spec.num_coefficients + 2) + extra


def metakan_count(spec: KANSpec, hidden: int, prompt_dim: int = 1, clusters: int = 1) -> int:
    """Exact MetaKAN count: ``sum_l n_l n_{l+1} dim z + C (meta-learner size)``."""
    return spec.num_edges() * prompt_dim + clusters * metalearner_size(prompt_dim, hidden, weight_dim(spec))


def table1_count(
    widths: Sequence[int],
    *,
    model: str = "metakan",
    basis: str = "bspline",
    grid_size: int = 5,
    spline_order: int = 3,
    degree: int = 3,
    hidden: int = 32,
    prompt_dim: int = 1,
    clusters: int = 1,
    literal: bool = False,
) -> int:
    """Evaluate Table 1 of the paper for ``widths = [n_0, ..., n_L]``.

    ``model="kan"``: ``sum_l n_l n_{l+1} dim(w)`` with ``dim(w) = G + k + 1`` (KAN), ``c`` (FastKAN),
    ``3`` (WavKAN), ``degree + 2`` / ``degree + 1`` for the polynomial KANs. ``model="metakan"``:
    ``sum_l n_l n_{l+1} dim z + C ((dim z + 1) d_hidden + (d_hidden + 1) d)``; with ``literal=True`` the
    paper's printed approximation ``sum_l n_l n_{l+1} + C (d_hidden + 1) d``, which omits the meta-learner's
    first layer (``2 d_hidden`` parameters at ``dim z = 1``).
    """
    spec = KANSpec(tuple(widths), basis=basis, grid_size=grid_size, spline_order=spline_order, degree=degree)
    edges = spec.num_edges()
    if model == "kan":
        dim_w = {"bspline": grid_size + spline_order + 1, "rbf": grid_size, "wavelet": 3}.get(
            basis, weight_dim(spec)
        )
        return edges * dim_w
    if model != "metakan":
        raise ValueError(f"table1_count(model=...) must be 'kan' or 'metakan', got {model!r}")
    d = weight_dim(spec)
    if literal:
        return edges + clusters * (hidden + 1) * d
    return edges * prompt_dim + clusters * metalearner_size(prompt_dim, hidden, d)
