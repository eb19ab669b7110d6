"""B-spline bases on per-input grids, pykan-compatible.

A layer with ``in`` inputs keeps a knot vector per input, ``grid: (in, G + 2k + 1)``: the ``G + 1`` points
of the domain extended by ``k`` knots on each side (pykan's ``extend_grid``). There are ``G + k`` bases.

Two evaluations:

* :func:`bspline_basis_reference` is the textbook Cox–de Boor recursion over all bases (dense,
  ``O(k (G + k))`` per value); it matches pykan's ``B_batch`` and is the reference in tests.
* :func:`bspline_basis` uses locality: only the ``k + 1`` bases of the knot interval that holds ``x`` are
  non-zero. It finds the interval in closed form on uniform grids (``floor((x - t_0) / h)``) or by
  ``searchsorted`` on arbitrary grids, runs de Boor's triangle on those ``k + 1`` values only, and
  scatters them into the dense ``(…, B, in, G + k)`` tensor. Its backward is analytic (the derivative of
  a B-spline is a difference of lower-order ones) and gathers from the incoming gradient.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "uniform_grid",
    "extend_grid",
    "bspline_basis",
    "bspline_basis_reference",
    "bspline_derivative_reference",
    "grid_is_uniform",
    "fit_coefficients",
]


def uniform_grid(
    in_features: int,
    grid_size: int,
    spline_order: int,
    grid_range: tuple[float, float] = (-1.0, 1.0),
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """pykan's initial grid: ``linspace`` over ``grid_range`` extended by ``k`` knots per side.

    Shapes: returns ``(in_features, grid_size + 2 * spline_order + 1)``.
    """
    g = torch.linspace(grid_range[0], grid_range[1], grid_size + 1, dtype=dtype, device=device)
    return extend_grid(g[None, :].expand(in_features, grid_size + 1), spline_order)


def extend_grid(grid: Tensor, k: int) -> Tensor:
    """Append ``k`` knots on each side with the grid's mean spacing (as pykan's ``extend_grid``).

    Shapes: ``(..., n) -> (..., n + 2k)``.
    """
    h = (grid[..., -1:] - grid[..., :1]) / (grid.shape[-1] - 1)
    left = grid[..., :1] - h * torch.arange(k, 0, -1, dtype=grid.dtype, device=grid.device)
    right = grid[..., -1:] + h * torch.arange(1, k + 1, dtype=grid.dtype, device=grid.device)
    return torch.cat([left, grid, right], dim=-1)


def grid_is_uniform(grid: Tensor, rtol: float = 1e-5) -> bool:
    """True when every row of ``grid`` is equally spaced (to ``rtol`` of its span)."""
    d = grid.diff(dim=-1)
    span = (grid[..., -1] - grid[..., 0]).abs().unsqueeze(-1)
    return bool(((d - d.mean(dim=-1, keepdim=True)).abs() <= rtol * span).all())


def bspline_basis_reference(x: Tensor, grid: Tensor, k: int) -> Tensor:
    """Dense Cox–de Boor recursion, identical in meaning to pykan's ``B_batch``.

    Args:
        x: inputs ``(..., B, in)``.
        grid: knots ``(..., in, K)`` (leading dims broadcast against ``x``'s).
        k: spline order.

    Shapes: returns ``(..., B, in, K - k - 1)``.
    """
    xe = x.unsqueeze(-1)
    g = grid.unsqueeze(-3)
    value = ((xe >= g[..., :-1]) & (xe < g[..., 1:])).to(x.dtype)
    for d in range(1, k + 1):
        left = (xe - g[..., : -(d + 1)]) / (g[..., d:-1] - g[..., : -(d + 1)])
        right = (g[..., d + 1 :] - xe) / (g[..., d + 1 :] - g[..., 1:-d])
        value = torch.nan_to_num(left * value[..., :-1] + right * value[..., 1:])
    return value


def bspline_derivative_reference(x: Tensor, grid: Tensor, k: int) -> Tensor:
    """Dense derivative ``d B_i / dx`` of every basis, ``(..., B, in, K - k - 1)``."""
    low = bspline_basis_reference(x, grid, k - 1)
    g = grid.unsqueeze(-3)
    a = k / (g[..., k:-1] - g[..., : -(k + 1)])
    b = k / (g[..., k + 1 :] - g[..., 1:-k])
    return torch.nan_to_num(a * low[..., :-1] - b * low[..., 1:])


def _local(x: Tensor, grid: Tensor, k: int, uniform: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Non-zero bases of ``x``: positions ``(…, B, in, k+1)`` (clamped), values and derivatives.

    Values and derivatives are zero where the basis does not exist or ``x`` lies outside the grid.
    """
    K = grid.shape[-1]
    nb = K - k - 1
    g = grid.unsqueeze(-3)  # (..., 1, in, K)
    if uniform:
        t0 = g[..., 0]
        h = (g[..., -1] - t0) / (K - 1)
        u = (x - t0) / h
        j = torch.floor(u)
        t = u - j
        j = j.long()
    else:
        lead = torch.broadcast_shapes(x.shape[:-2], grid.shape[:-2])
        xs = x.expand(*lead, *x.shape[-2:]).transpose(-1, -2).contiguous()
        gs = grid.expand(*lead, *grid.shape[-2:]).contiguous()
        j = (torch.searchsorted(gs, xs, right=True) - 1).transpose(-1, -2)
    inside = (j >= 0) & (j <= K - 2)
    jc = j.clamp(0, K - 2)
    r = torch.arange(k + 1, device=x.device)
    pos = jc.unsqueeze(-1) - k + r  # basis index of each local value
    valid = inside.unsqueeze(-1) & (pos >= 0) & (pos < nb)
    if uniform:
        vals, dvals = _uniform_triangle(t, k)
        dvals = dvals / h.unsqueeze(-1)
    else:
        idx = (jc.unsqueeze(-1) - k + torch.arange(2 * k + 2, device=x.device)).clamp(0, K - 1)
        knots = torch.gather(g.expand(*idx.shape[:-1], K), -1, idx)
        vals, dvals = _general_triangle(x, knots, k)
    zero = torch.zeros((), dtype=x.dtype, device=x.device)
    vals = torch.where(valid, vals, zero)
    dvals = torch.where(valid, dvals, zero)
    return pos.clamp(0, nb - 1), vals, dvals


def _uniform_triangle(t: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """de Boor's triangle on unit-spaced knots; ``t in [0, 1)`` is the position in the interval."""
    v = [torch.ones_like(t)]
    dv: list[Tensor] = []
    for d in range(1, k + 1):
        if d == k:
            dv = [(v[r - 1] if r >= 1 else 0) - (v[r] if r < d else 0) for r in range(d + 1)]
        inv = 1.0 / d
        v = [
            (((t + (d - r)) * v[r - 1]) if r >= 1 else 0) * inv
            + ((((r + 1) - t) * v[r]) if r < d else 0) * inv
            for r in range(d + 1)
        ]
    return torch.stack(v, -1), torch.stack(dv, -1)


def _general_triangle(x: Tensor, T: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """de Boor's triangle on gathered knots ``T[..., m] = t_{j-k+m}``, ``m = 0 .. 2k+1``."""
    one = torch.ones((), dtype=x.dtype, device=x.device)

    def ratio(num: Tensor, den: Tensor) -> Tensor:
        return num / torch.where(den > 0, den, one)

    v = [torch.ones_like(x)]
    dv: list[Tensor] = []
    for d in range(1, k + 1):
        nv = []
        for r in range(d + 1):
            acc = torch.zeros_like(x)
            if r >= 1:
                acc = acc + ratio(x - T[..., k - d + r], T[..., k + r] - T[..., k - d + r]) * v[r - 1]
            if r < d:
                acc = acc + ratio(T[..., k + r + 1] - x, T[..., k + r + 1] - T[..., k - d + r + 1]) * v[r]
            nv.append(acc)
        if d == k:
            for r in range(d + 1):
                acc = torch.zeros_like(x)
                if r >= 1:
                    acc = acc + ratio(k * one, T[..., k + r] - T[..., r]) * v[r - 1]
                if r < d:
                    acc = acc - ratio(k * one, T[..., k + r + 1] - T[..., r + 1]) * v[r]
                dv.append(acc)
        v = nv
    return torch.stack(v, -1), torch.stack(dv, -1)


class _BSplineBasis(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, grid: Tensor, k: int, uniform: bool) -> Tensor:  # type: ignore[override]
        pos, vals, dvals = _local(x, grid, k, uniform)
        nb = grid.shape[-1] - k - 1
        out = torch.zeros(*pos.shape[:-1], nb, dtype=x.dtype, device=x.device)
        out.scatter_add_(-1, pos, vals)
        ctx.save_for_backward(pos, dvals)
        ctx.x_shape = x.shape
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        pos, dvals = ctx.saved_tensors
        gx = None
        if ctx.needs_input_grad[0]:
            gx = (grad.gather(-1, pos) * dvals).sum(-1)
            gx = gx.sum_to_size(ctx.x_shape)
        return gx, None, None, None


def bspline_basis(x: Tensor, grid: Tensor, k: int, uniform: bool | None = None) -> Tensor:
    """All ``G + k`` B-spline bases of order ``k`` at ``x`` (fast local evaluation).

    Args:
        x: ``(..., B, in)``.
        grid: ``(..., in, G + 2k + 1)``, each row increasing.
        k: spline order, ``k >= 1``.
        uniform: use the closed-form interval lookup; ``None`` decides from the grid.

    Shapes: returns ``(..., B, in, G + k)``; zero outside the grid like pykan.
    Differentiable in ``x`` (not in the grid).
    """
    if grid.shape[-1] < 2 * k + 2:
        raise ValueError(f"grid has {grid.shape[-1]} knots; order k={k} needs at least {2 * k + 2}")
    if uniform is None:
        uniform = grid_is_uniform(grid)
    if grid.requires_grad:
        grid = grid.detach()
    return _BSplineBasis.apply(x, grid, k, uniform)


def fit_coefficients(x: Tensor, y: Tensor, grid: Tensor, k: int) -> Tensor:
    """Least-squares coefficients so that ``sum_i c[o, i, :] B(x_i) ~= y[:, o, i]`` (pykan's ``curve2coef``).

    Args:
        x: samples ``(B, in)``; y: targets ``(B, out, in)``; grid: ``(in, K)``.

    Shapes: returns ``coef: (out, in, K - k - 1)``.
    """
    mat = bspline_basis_reference(x, grid, k).permute(1, 0, 2)  # (in, B, nb)
    rhs = y.permute(2, 0, 1)  # (in, B, out)
    # gelsd (SVD): deterministic and minimum-norm; the CPU default gelsy gives run-to-run differences
    # (~1e-6) on the under-determined systems of the initialisation. CUDA only offers gels.
    driver = "gelsd" if mat.device.type == "cpu" else None
    sol = torch.linalg.lstsq(mat, rhs, driver=driver).solution  # (in, nb, out)
    return sol.permute(2, 0, 1).contiguous()
