"""Gaussian radial basis functions (FastKAN): ``B_j(x) = exp(-((x - mu_j) / h)^2)``."""

from __future__ import annotations

import torch
from torch import Tensor

from .registry import Basis, register_basis


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


class RBFBasis(Basis):
    """FastKAN's Gaussian bumps at ``grid_size`` centres over ``grid_range``: ``n = grid_size``."""

    name = "rbf"
    has_derivatives = True

    def num_coefficients(self, spec) -> int:
        return spec.grid_size

    def describe(self, spec) -> str:
        return f"num_centers={spec.grid_size}"

    def features(self, x: Tensor, p, spec, uniform: bool | None = None) -> Tensor:
        return rbf_basis(x, rbf_centers(spec.grid_size, spec.grid_range, dtype=x.dtype, device=x.device))

    def derivatives(self, x: Tensor, p, spec) -> tuple[Tensor, Tensor, Tensor]:
        c = rbf_centers(spec.grid_size, spec.grid_range, dtype=x.dtype, device=x.device)
        w = float((c[-1] - c[0]) / max(c.shape[0] - 1, 1)) if c.shape[0] > 1 else 1.0
        s = (x.unsqueeze(-1) - c) / w
        b = torch.exp(-s.square())
        return b, -2 * s * b / w, (4 * s.square() - 2) * b / (w * w)


register_basis(RBFBasis())
