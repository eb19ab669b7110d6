"""The kernels' operand layout: leading (model) dims of a spline contraction folded into one.

The native C kernel (:mod:`kan_core.native`) and the Triton kernels (:mod:`kan_core.triton`) both contract
``x (Mx, B, in)`` with per-model coefficients ``(M, out, in, nb)`` and scales ``(M, out, in)`` on per-model
grids ``(Mg, in, K)``, where ``Mx`` and ``Mg`` are ``M`` or 1 (shared). :func:`fold_operands` brings
broadcastable ``(..., ...)`` operands to that layout, once, for both.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["FoldedOperands", "fold_operands"]


class FoldedOperands(NamedTuple):
    """``x (Mx, B', in)``, ``grid (Mg, in, K)``, ``coef (M, out, in, nb)``, ``scale (M, out, in)``; ``lead``:
    the broadcast leading shape the result ``(M, B', out)`` is reshaped to as ``(*lead, B, out)``."""

    x: Tensor
    grid: Tensor
    coef: Tensor
    scale: Tensor
    lead: tuple[int, ...]


def fold_operands(x: Tensor, grid: Tensor, coef: Tensor, scale: Tensor) -> FoldedOperands:
    """Fold the broadcast leading dims of ``x (..., B, in)``, ``grid (..., in, K)``, ``coef (..., out, in,
    nb)`` and ``scale (..., out, in)`` into one model dim ``M``. With one model (coefficients, scale and grid
    without leading dims of size > 1) every leading dim of ``x`` joins the batch instead (``M = 1``); shared
    ``x`` or grid keep a model dim of 1. Views where the shapes allow, copies only where they broadcast."""
    B, n_in = x.shape[-2:]
    n_out, nb = coef.shape[-3], coef.shape[-1]
    K = grid.shape[-1]
    wl = torch.broadcast_shapes(coef.shape[:-3], scale.shape[:-2])
    xl, gl = x.shape[:-2], grid.shape[:-2]
    lead = tuple(torch.broadcast_shapes(xl, wl, gl))
    if math.prod(wl) == 1 and math.prod(gl) == 1:
        xs, m = x.reshape(1, -1, n_in), 1
    else:
        m = math.prod(lead)
        xs = x.reshape(1, B, n_in) if math.prod(xl) == 1 else x.expand(*lead, B, n_in).reshape(m, B, n_in)
    g = grid.reshape(1, n_in, K) if math.prod(gl) == 1 else grid.expand(*lead, n_in, K).reshape(m, n_in, K)
    if m == 1:
        c, s = coef.reshape(1, n_out, n_in, nb), scale.reshape(1, n_out, n_in)
    else:
        c = coef.expand(*lead, n_out, n_in, nb).reshape(m, n_out, n_in, nb)
        s = scale.expand(*lead, n_out, n_in).reshape(m, n_out, n_in)
    return FoldedOperands(xs, g, c, s, lead)
