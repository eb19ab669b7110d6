"""Gaussian radial basis functions (FastKAN): ``B_j(x) = exp(-((x - mu_j) / h)^2)``."""

from __future__ import annotations

import torch
from torch import Tensor


def rbf_centers(num: int, grid_range: tuple[float, float], dtype=None, device=None) -> Tensor:
    """``num`` equally spaced centres over ``grid_range``, ``(num,)``."""
    return torch.linspace(grid_range[0], grid_range[1], num, dtype=dtype, device=device)


def rbf_basis(x: Tensor, centers: Tensor, width: float | None = None) -> Tensor:
    """Gaussian bumps at ``centers``; ``width`` defaults to the centre spacing.

    Shapes: ``x: (..., B, in)``, ``centers: (n,)`` -> ``(..., B, in, n)``.
    """
    n = centers.shape[-1]
    if width is None:
        width = float((centers[-1] - centers[0]) / max(n - 1, 1)) if n > 1 else 1.0
    return torch.exp(-(((x.unsqueeze(-1) - centers) / width) ** 2))
