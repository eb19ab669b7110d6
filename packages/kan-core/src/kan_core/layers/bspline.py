"""pykan's B-spline KAN layer."""

from __future__ import annotations

import torch
from torch import Tensor

from ..basis import extend_grid, fit_coefficients, grid_is_uniform
from ..functional import basis_features
from .base import EdgeLayer


class KANLayer(EdgeLayer):
    """B-spline KAN layer with pykan's parametrisation (Liu et al., 2024).

    ``phi_oi(x) = mask_oi (w_b_oi silu(x) + w_s_oi sum_j c_oij B_j(x))`` with order-``k`` B-splines on a
    per-input grid of ``G`` intervals (``G + k`` bases). Layout is torch's ``(out, in, ...)``.

    Args:
        in_features, out_features: layer sizes.
        grid_size: ``G``; spline_order: ``k``; grid_range: initial domain.

    Shapes: ``(..., B, in) -> (..., B, out)``; ``coef: (out, in, G + k)``; ``grid: (in, G + 2k + 1)``.
    """

    basis = "bspline"

    def __init__(self, in_features: int, out_features: int, grid_size: int = 5, spline_order: int = 3, **kw):
        if "spec" in kw:
            super().__init__(in_features, out_features, **kw)
        else:
            super().__init__(in_features, out_features, grid_size=grid_size, spline_order=spline_order, **kw)

    @torch.no_grad()
    def update_grid(self, x: Tensor, grid_eps: float = 0.02) -> None:
        """pykan's ``update_grid_from_samples``: move knots to the quantiles of ``x`` (mixed with a
        uniform grid by ``grid_eps``) and refit coefficients so the functions stay (nearly) the same.

        Shapes: ``x: (B, in)``.
        """
        k, G = self.spec.spline_order, self.spec.grid_size
        xs = torch.sort(x, dim=0)[0]
        y = self.spline_values(xs)
        batch = xs.shape[0]
        ids = [int(batch / G * i) for i in range(G)] + [-1]
        adaptive = xs[ids, :].T  # (in, G + 1)
        h = (adaptive[:, -1:] - adaptive[:, :1]) / G
        uni = adaptive[:, :1] + h * torch.arange(G + 1, device=x.device, dtype=x.dtype)
        grid = grid_eps * uni + (1 - grid_eps) * adaptive
        self.grid.copy_(extend_grid(grid, k))
        self._uniform = grid_is_uniform(self.grid)
        self.coef.copy_(fit_coefficients(xs, y, self.grid, k))

    def spline_values(self, x: Tensor) -> Tensor:
        """``sum_j c_oij B_j(x_i)`` for every edge, ``(B, in) -> (B, out, in)``."""
        feats = basis_features(x, self.params(), self.spec, self._uniform)
        return torch.einsum("bin,oin->boi", feats, self.coef)

    @torch.no_grad()
    def refine(self, grid_size: int, x: Tensor | None = None) -> KANLayer:
        """A copy on a finer (or coarser) grid of ``grid_size`` intervals, coefficients refitted by least
        squares on ``x`` (default: points spread over the current grid). Other parameters are copied."""
        k = self.spec.spline_order
        inner = self.grid[:, k:-k]
        lo, hi = inner[:, :1], inner[:, -1:]
        t = torch.linspace(0, 1, grid_size + 1, device=inner.device, dtype=inner.dtype)
        grid = extend_grid(lo + (hi - lo) * t, k)
        if x is None:
            s = torch.linspace(0, 1, 4 * (grid_size + k) + 1, device=inner.device, dtype=inner.dtype)
            x = (lo + (hi - lo) * s).T
        params = {name: v for name, v in self.params().items() if name not in ("grid", "coef")}
        params["grid"] = grid
        params["coef"] = fit_coefficients(x, self.spline_values(x), grid, k)
        # every tensor is given: no initialisation runs
        return KANLayer(
            self.in_features,
            self.out_features,
            spec=self.spec.replace(grid_size=grid_size),
            params=params,
            device=self.coef.device,
            dtype=self.coef.dtype,
        )
