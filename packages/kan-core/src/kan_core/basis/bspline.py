"""B-spline bases on per-input grids, pykan-compatible.

A layer with ``in`` inputs keeps a knot vector per input, ``grid: (in, G + 2k + 1)``: the ``G + 1`` points
of the domain extended by ``k`` knots on each side (pykan's ``extend_grid``). There are ``G + k`` bases.

Evaluations:

* :func:`bspline_basis_reference` is the textbook Cox–de Boor recursion over all bases (dense,
  ``O(k (G + k))`` per value); it matches pykan's ``B_batch`` and is the reference in tests.
* :func:`bspline_features` (layout ``(…, B, G + k, in)``, used by the layer forward) and
  :func:`bspline_basis` (its ``(…, B, in, G + k)`` view). On uniform grids every basis is a shifted
  cardinal B-spline, ``B_j(x) = N_k((x - t_0) / h - j)``, evaluated in closed form (symmetric truncated
  powers) over all bases at once; arbitrary grids use the dense recursion with precomputed reciprocal
  knot spans. The innermost dimension is ``in`` so every elementwise kernel runs over long contiguous
  rows. Backward is analytic (the derivative of a B-spline is a difference of lower-order ones).
* :func:`bspline_contract` is a layer's whole spline term, bases contracted with coefficients. On CPU and
  uniform grids it runs the native local-support kernel (:mod:`kan_core.native`), on CUDA its Triton
  twin (:mod:`kan_core.triton`); both evaluate only the ``k + 1`` non-zero bases per input in forward and
  backward and never build the basis tensor. Elsewhere it contracts :func:`bspline_features` in one
  matmul.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

from ..contract_layout import fold_operands
from ..triton import triton_contract, triton_local_applies
from .registry import Basis, register_basis

__all__ = [
    "BSplineBasis",
    "uniform_grid",
    "extend_grid",
    "bspline_basis",
    "bspline_features",
    "bspline_basis_reference",
    "bspline_derivative_reference",
    "grid_is_uniform",
    "fit_coefficients",
    "fit_noise_coefficients",
    "bspline_contract",
    "native_local_applies",
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


def bspline_features(x: Tensor, grid: Tensor, k: int, uniform: bool | None = None) -> Tensor:
    """All ``G + k`` bases at ``x`` in the matmul-friendly layout ``(..., B, G + k, in)``.

    Same values as :func:`bspline_basis` (which returns ``bspline_features(...).transpose(-1, -2)``); the
    layer forward flattens this layout to ``(..., B, (G + k) * in)`` without a copy. Every elementwise
    step runs over a contiguous innermost ``in`` dimension, which is much faster on CPU than a tiny
    innermost basis dimension.

    Uniform grids use the closed form of the cardinal B-spline, ``B_j(x) = N_k((x - t_0) / h - j)``,
    evaluated densely; other grids use the dense Cox–de Boor recursion with precomputed reciprocal knot
    spans. Both have an analytic backward (``d B / d x`` from lower-order bases). Differentiable in ``x``
    only. Shapes: ``x: (..., B, in)``, ``grid: (..., in, K)`` -> ``(..., B, K - k - 1, in)``.
    """
    if grid.shape[-1] < 2 * k + 2:
        raise ValueError(f"grid has {grid.shape[-1]} knots; order k={k} needs at least {2 * k + 2}")
    if k < 1:
        raise ValueError(f"spline order must be >= 1, got {k}")
    if uniform is None:
        uniform = grid_is_uniform(grid)
    grid = grid.detach()
    if uniform:
        K = grid.shape[-1]
        t0 = grid[..., :1].transpose(-1, -2)  # (..., 1, in)
        inv_h = (K - 1) / (grid[..., -1:] - grid[..., :1]).transpose(-1, -2)  # (..., 1, in)
        nb = K - k - 1
        if nb > _LOCAL_MIN_BASES:
            return _UniformBSplineLocal.apply(x, t0, inv_h, k, nb)
        return _UniformBSpline.apply(x, t0, inv_h, k, nb)
    return _GeneralBSpline.apply(x, grid, k)


def _cardinal_terms(k: int) -> list[tuple[float, float]]:
    """``(d_q, w_q)`` with ``N_k(s) = sum_q w_q (d_q - |s - (k+1)/2|)_+^k`` (symmetric truncated powers)."""
    out = []
    for q in range((k + 2) // 2):
        d = (k + 1) / 2 - q
        if d > 0:
            out.append((d, (-1) ** q * math.comb(k + 1, q) / math.factorial(k)))
    return out


def _cardinal_into(s: Tensor, k: int, out: Tensor) -> None:
    """``out = N_k(s + (k+1)/2)`` for centred positions ``s`` (consumed: overwritten in place)."""
    a = s.abs_()
    terms = _cardinal_terms(k)
    acc: Tensor | None = None
    for i, (d, w) in enumerate(terms):
        last = i == len(terms) - 1
        t = a.neg_().add_(d) if last else a.neg().add_(d)  # d - |s|
        t = t.clamp_min_(0)
        if k > 1:
            t = t.pow_(k)
        if acc is None:
            if last:
                out.copy_(t.mul_(w)) if w != 1 else out.copy_(t)
            else:
                acc = t.mul_(w)
        elif last:
            torch.add(acc, t, alpha=w, out=out)
        else:
            acc.add_(t, alpha=w)


def _cardinal_derivative(s: Tensor, k: int) -> Tensor:
    """``N_k'(s + (k+1)/2)`` for centred positions ``s`` (consumed)."""
    sign = torch.sign(s)
    a = s.abs_()
    acc: Tensor | None = None
    for d, w in _cardinal_terms(k):
        t = a.neg().add_(d)  # d - |s|
        if k == 1:
            t = (t > 0).to(a.dtype)
        else:
            t = t.clamp_min_(0)
            if k > 2:
                t = t.pow_(k - 1)
        acc = t.mul_(-w * k) if acc is None else acc.add_(t, alpha=-w * k)
    assert acc is not None
    return acc.mul_(sign)


def _cardinal_derivative_differentiable(s: Tensor, k: int) -> Tensor:
    """``N_k'(s + (k+1)/2)`` with out-of-place ops, so autograd can differentiate it again."""
    a = s.abs()
    acc = torch.zeros_like(s)
    for d, w in _cardinal_terms(k):
        t = (d - a).clamp_min(0)
        t = (t > 0).to(s.dtype) if k == 1 else t.pow(k - 1)
        acc = acc - (w * k) * t
    return acc * torch.sign(s)


# Large short-lived temporaries are slow on CPU (the allocator returns them to the OS and their pages
# fault again on the next call), so the dense evaluations work on chunks of basis rows whose
# temporaries stay below _CHUNK_ELEMS elements; the only large allocation is the output.
_CHUNK_ELEMS = 1 << 17


def _row_chunks(nb: int, row_numel: int) -> list[tuple[int, int]]:
    step = max(1, min(nb, _CHUNK_ELEMS // max(row_numel, 1)))
    return [(j, min(j + step, nb)) for j in range(0, nb, step)]


class _UniformBSpline(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, t0: Tensor, inv_h: Tensor, k: int, nb: int) -> Tensor:  # type: ignore[override]
        u = (x - t0).mul_(inv_h)  # (..., B, in), position in units of the knot spacing
        out = torch.empty(*u.shape[:-1], nb, u.shape[-1], dtype=u.dtype, device=u.device)
        centres = torch.arange(nb, dtype=u.dtype, device=u.device).add_((k + 1) / 2).unsqueeze(-1)  # (nb, 1)
        ue = u.unsqueeze(-2)
        for j0, j1 in _row_chunks(nb, u.numel()):
            _cardinal_into(ue - centres[j0:j1], k, out[..., j0:j1, :])
        ctx.save_for_backward(x, t0, u, inv_h, centres)
        ctx.k, ctx.x_shape = k, x.shape
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        gx = None
        if ctx.needs_input_grad[0]:
            x, t0, u, inv_h, centres = ctx.saved_tensors
            if torch.is_grad_enabled():  # create_graph: a differentiable (slower) path for higher derivatives
                ue = ((x - t0) * inv_h).unsqueeze(-2) - centres  # (..., B, nb, in), centred positions
                d = _cardinal_derivative_differentiable(ue, ctx.k)
                return (d * grad).sum(-2).mul(inv_h).sum_to_size(ctx.x_shape), None, None, None, None
            ue = u.unsqueeze(-2)
            gu = torch.zeros_like(u)
            for j0, j1 in _row_chunks(centres.shape[0], u.numel()):
                d = _cardinal_derivative(ue - centres[j0:j1], ctx.k).mul_(grad[..., j0:j1, :])
                gu.add_(d.sum(-2) if j1 - j0 > 1 else d.squeeze(-2))
            gx = gu.mul_(inv_h).sum_to_size(ctx.x_shape)
        return gx, None, None, None, None


# With many bases per input (large G) most of the dense evaluation is spent on zeros: from this many
# bases on, uniform grids scatter the k + 1 non-zero values of each input instead.
_LOCAL_MIN_BASES = 12


@functools.cache
def _piece_polynomials(k: int) -> tuple[Tensor, Tensor]:
    """Monomial coefficients of the ``k + 1`` pieces of the uniform B-spline on one knot interval.

    Returns ``C: (k + 1, k + 1)`` with ``b_r(t) = sum_p C[r, p] t^p`` (``b_r`` = the basis starting ``k - r``
    intervals to the left, ``t in [0, 1)``) and ``D: (k + 1, k)`` for ``b_r'(t)``; float64, exact up to
    rounding (de Boor's triangle sampled at ``k + 1`` points, then a Vandermonde solve).
    """
    ts = torch.linspace(0.1, 0.9, k + 1, dtype=torch.float64)
    v = [torch.ones_like(ts)]
    for d in range(1, k + 1):
        v = [
            ((ts + (d - r)) * v[r - 1] if r >= 1 else 0) / d + (((r + 1) - ts) * v[r] if r < d else 0) / d
            for r in range(d + 1)
        ]
    vandermonde = ts.unsqueeze(-1) ** torch.arange(k + 1, dtype=torch.float64)
    C = torch.linalg.solve(vandermonde, torch.stack(v).T).T
    return C, C[:, 1:] * torch.arange(1, k + 1, dtype=torch.float64)


def _powers(t: Tensor, n: int) -> Tensor:
    """``(n, *t.shape)`` stack of ``t^0 .. t^{n-1}``."""
    out = torch.empty(n, *t.shape, dtype=t.dtype, device=t.device)
    out[0].fill_(1)
    if n > 1:
        out[1].copy_(t)
    for p in range(2, n):
        torch.mul(out[p - 1], t, out=out[p])
    return out


class _UniformBSplineLocal(torch.autograd.Function):
    """Uniform grids, many bases: only the ``k + 1`` non-zero values per input are computed.

    They are scattered into a zeroed ``(..., B, nb + 2k + 2, in)`` buffer whose ``k + 1`` spare rows on each
    side absorb inputs outside the grid; the returned ``(..., B, nb, in)`` is a view of its middle rows
    (it still flattens to ``(..., B, nb * in)`` without a copy).
    """

    @staticmethod
    def forward(ctx, x: Tensor, t0: Tensor, inv_h: Tensor, k: int, nb: int) -> Tensor:  # type: ignore[override]
        u = (x - t0).mul_(inv_h)  # (..., B, in) in knot spacings
        j = torch.floor(u)
        t = u - j  # position inside the interval, [0, 1)
        n, rows, P = u.shape[-1], u.numel() // u.shape[-1], nb + 2 * k + 2
        # flat index of (row, j + 1, i) in the padded buffer
        jc = j.clamp_(-1, nb + k).long().view(-1)  # interval; -1 and G + 2k park outside the grid
        off = torch.arange(0, rows * P * n, P * n, device=x.device).view(*u.shape[:-1], 1)
        base = (jc + 1).mul_(n).add_(off.add(torch.arange(n, device=x.device)).view(-1))
        C, _ = _piece_polynomials(k)
        vals = torch.matmul(C.to(t), _powers(t, k + 1).view(k + 1, -1))  # (k + 1, N)
        out = torch.zeros(*u.shape[:-1], P, n, dtype=x.dtype, device=x.device)
        flat = out.view(-1)
        for r in range(k + 1):
            flat.scatter_(0, base + r * n if r else base, vals[r])
        ctx.save_for_backward(x, t0, inv_h, jc, t)
        ctx.k, ctx.nb = k, nb
        return out[..., k + 1 : k + 1 + nb, :]

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None
        x, t0, inv_h, jc, t = ctx.saved_tensors
        k, nb = ctx.k, ctx.nb
        if torch.is_grad_enabled():  # create_graph: differentiable dense path for higher derivatives
            centres = torch.arange(nb, dtype=x.dtype, device=x.device).add_((k + 1) / 2).unsqueeze(-1)
            ue = ((x - t0) * inv_h).unsqueeze(-2) - centres
            d = _cardinal_derivative_differentiable(ue, k)
            return (d * grad).sum(-2).mul(inv_h).sum_to_size(x.shape), None, None, None, None
        n, rows = t.shape[-1], t.numel() // t.shape[-1]
        flat = grad.contiguous().view(-1)  # (rows, nb, n)
        row_off = torch.arange(0, rows * nb * n, nb * n, device=t.device).view(rows, 1)
        row_off = row_off.add(torch.arange(n, device=t.device)).view(-1)
        _, D = _piece_polynomials(k)
        dv = torch.matmul(D.to(t), _powers(t, k).view(k, -1))  # (k + 1, N)
        gu = torch.zeros_like(dv[0])
        for r in range(k + 1):
            pos = jc + (r - k)  # basis index of the r-th non-zero value
            valid = (pos >= 0) & (pos < nb)
            g = torch.index_select(flat, 0, pos.clamp_(0, nb - 1).mul_(n).add_(row_off))
            gu.addcmul_(g.mul_(valid), dv[r])
        return gu.view(t.shape).mul_(inv_h).sum_to_size(x.shape), None, None, None, None


def _general_rows(x: Tensor, grid: Tensor, k: int, out: Tensor | None) -> list[Tensor]:
    """Cox–de Boor row by row on ``(..., B, in)`` slices.

    With ``out`` (``(..., B, nb, in)``) the bases of order ``k`` are written into it; with ``out=None``
    they are returned as a list of rows.
    """
    K = grid.shape[-1]
    knots = [grid[..., m].unsqueeze(-2) for m in range(K)]  # (..., 1, in) each
    rows = [((x >= knots[m]) & (x < knots[m + 1])).to(x.dtype) for m in range(K - 1)]
    for d in range(1, k + 1):
        new = []
        for m in range(K - 1 - d):
            span_l = knots[m + d] - knots[m]
            span_r = knots[m + d + 1] - knots[m + 1]
            inv_l = torch.where(span_l > 0, 1 / span_l, torch.zeros_like(span_l))
            inv_r = torch.where(span_r > 0, 1 / span_r, torch.zeros_like(span_r))
            left = (x - knots[m]).mul_(inv_l).mul_(rows[m])
            right = torch.rsub(x, knots[m + d + 1]).mul_(inv_r).mul_(rows[m + 1])
            if d == k and out is not None:
                torch.add(left, right, out=out[..., m, :])
            else:
                new.append(left.add_(right))
        rows = new
    return rows


class _GeneralBSpline(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, grid: Tensor, k: int) -> Tensor:  # type: ignore[override]
        lead = torch.broadcast_shapes(x.shape[:-2], grid.shape[:-2])
        nb = grid.shape[-1] - k - 1
        out = torch.empty(*lead, x.shape[-2], nb, x.shape[-1], dtype=x.dtype, device=x.device)
        _general_rows(x, grid, k, out)
        ctx.save_for_backward(x, grid)
        ctx.k = k
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        gx = None
        if ctx.needs_input_grad[0]:
            x, grid = ctx.saved_tensors
            k = ctx.k
            if torch.is_grad_enabled():  # create_graph: differentiable dense derivative
                d = bspline_derivative_reference(x, grid, k).transpose(-1, -2)  # (..., B, nb, in)
                return (d * grad).sum(-2).sum_to_size(x.shape), None, None
            low = _general_rows(x, grid, k - 1, None)  # order k - 1: nb + 1 rows
            knots = [grid[..., m].unsqueeze(-2) for m in range(grid.shape[-1])]  # (..., 1, in) each
            gu = torch.zeros(grad.shape[:-2] + grad.shape[-1:], dtype=grad.dtype, device=grad.device)
            for m in range(len(low) - 1):
                span_a = knots[m + k] - knots[m]
                span_b = knots[m + k + 1] - knots[m + 1]
                a = torch.where(span_a > 0, k / span_a, torch.zeros_like(span_a))
                b = torch.where(span_b > 0, k / span_b, torch.zeros_like(span_b))
                gu.addcmul_(low[m] * a - low[m + 1] * b, grad[..., m, :])
            gx = gu.sum_to_size(x.shape)
        return gx, None, None


def bspline_basis(x: Tensor, grid: Tensor, k: int, uniform: bool | None = None) -> Tensor:
    """All ``G + k`` B-spline bases of order ``k`` at ``x``.

    Args:
        x: ``(..., B, in)``.
        grid: ``(..., in, G + 2k + 1)``, each row increasing.
        k: spline order, ``k >= 1``.
        uniform: use the closed form for equally spaced knots; ``None`` decides from the grid.

    Shapes: returns ``(..., B, in, G + k)`` (a transposed view of :func:`bspline_features`); zero
    outside the grid like pykan. Differentiable in ``x`` (not in the grid).
    """
    return bspline_features(x, grid, k, uniform).transpose(-1, -2)


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


@functools.cache
def _grid_point_pinv(grid_size: int, k: int) -> Tensor:
    """Pseudo-inverse ``(G + k, G + 1)`` of the bases at the ``G + 1`` points of a uniform grid (float64).

    The values of uniform B-splines at their knots do not depend on the grid's range, so one matrix
    serves every layer with ``(G, k)``."""
    grid = uniform_grid(1, grid_size, k, dtype=torch.float64)
    A = bspline_basis_reference(grid[:, k:-k].T, grid, k)[:, 0]  # (G + 1, G + k)
    return torch.linalg.pinv(A)


def fit_noise_coefficients(values: Tensor, grid_size: int, k: int) -> Tensor:
    """Minimum-norm coefficients of the splines through ``values`` at the ``G + 1`` points of a uniform grid.

    This is :func:`fit_coefficients` on an initial (uniform) grid, as one product with a cached
    pseudo-inverse instead of a least-squares solve per input; it is how layers are initialised.

    Shapes: ``values: (..., G + 1, out, in)`` -> ``coef: (..., out, in, G + k)``.
    """
    P = _grid_point_pinv(grid_size, k).to(values)  # (nb, G + 1)
    lead, (g1, d_out, d_in) = values.shape[:-3], values.shape[-3:]
    coef = P @ values.reshape(*lead, g1, d_out * d_in)  # (..., nb, out * in)
    return coef.reshape(*lead, -1, d_out, d_in).movedim(-3, -1).contiguous()


# ------------------------------------------------------------------------------------ local contraction
@functools.cache
def _piece_tables(k: int, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    C, D = _piece_polynomials(k)
    return C.to(dtype).contiguous(), D.to(dtype).contiguous()


def native_local_applies(x: Tensor, grid: Tensor, k: int, uniform: bool | None) -> bool:
    """Whether :func:`bspline_contract` takes the native local kernel for these inputs: float CPU tensors on
    a uniform grid, when the kernels could be built.

    There is no threshold on the number of bases: ``tools/bench/layer.py --crossover`` found the local
    kernel faster than dense features + matmul (forward and backward, one thread) from the smallest grid
    on, for k = 1..5, both for a 784 -> 32 layer of one model and a 32 -> 32 layer of 32 stacked models
    (native/dense 0.4-0.9 at G = 2, 0.2-0.4 at G + k = 30). CUDA tensors go to the Triton kernels
    (:mod:`kan_core.triton`) or, without them, the dense path.
    """
    from ..native import local_kernels

    return (
        x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and grid.dtype == x.dtype
        and 1 <= k <= 15
        and (uniform if uniform is not None else grid_is_uniform(grid))
        and local_kernels() is not None
    )


def bspline_contract(
    x: Tensor, grid: Tensor, coef: Tensor, scale: Tensor, k: int, uniform: bool | None = None
) -> Tensor:
    """The spline term of a KAN layer, ``y[..., b, o] = sum_i scale[..., o, i] sum_j coef[..., o, i, j] B_j(x[..., b, i])``.

    Uniform grids on CPU (see :func:`native_local_applies`) use the native local-support
    kernel: only the ``k + 1`` non-zero bases of each input are evaluated and contracted with their
    ``(k + 1) x out`` block of coefficients, in forward and backward, so the ``(G + k)``-wide basis tensor
    is never built and the cost does not grow with ``G``. On CUDA the same contraction runs as Triton
    kernels (:mod:`kan_core.triton`, see :func:`kan_core.triton.triton_local_applies`; ``KAN_CORE_TRITON=0``
    turns them off). Otherwise the dense features of
    :func:`bspline_features` are contracted in one matmul. Both compute the same function; derivatives in
    ``x`` of any order are available (a double backward goes through the dense path).

    Args:
        x: inputs ``(..., B, in)``.
        grid: knots ``(..., in, G + 2k + 1)``.
        coef: ``(..., out, in, G + k)``; the kernel reads it fastest when its memory is laid out as
            ``(..., in, G + k, out)`` (a permuted view of such a tensor, as the batched engine keeps it).
        scale: ``(..., out, in)``, ``mask * scale_sp`` in a layer.
        k: spline order; uniform: grid is uniform (``None``: inspect it).

    Shapes: leading dims broadcast; returns ``(..., B, out)``.
    """
    if uniform is None:
        uniform = grid_is_uniform(grid)
    if triton_local_applies(x, grid, k, uniform):  # CUDA: the Triton twin of the native kernel
        return triton_contract(x, grid, coef, scale, k)
    if native_local_applies(x, grid, k, uniform):
        return _native_contract(x, grid.detach(), coef, scale, k)
    f = bspline_features(x, grid, k, uniform).flatten(-2)  # (..., B, nb * in)
    w = (coef * scale.unsqueeze(-1)).transpose(-1, -2).flatten(-2)  # (..., out, nb * in)
    if f.dim() == 2 and w.dim() == 2:
        return torch.nn.functional.linear(f, w)
    return f @ w.transpose(-1, -2)


def _native_contract(x: Tensor, grid: Tensor, coef: Tensor, scale: Tensor, k: int) -> Tensor:
    """Bring the operands to the kernel's ``(M, ...)`` layout and run :class:`_LocalContract`."""
    B, n_out, K = x.shape[-2], coef.shape[-3], grid.shape[-1]
    xs, g, c, s, lead = fold_operands(x, grid, coef, scale)
    t0, inv_h = g[..., 0], (K - 1) / (g[..., -1] - g[..., 0])  # (Mg, in)
    y = _LocalContract.apply(
        xs.contiguous(), t0.contiguous(), inv_h.contiguous(), c, s.transpose(-1, -2).contiguous(), k
    )
    return y.reshape(*lead, B, n_out)


def _dense_contract(x: Tensor, t0: Tensor, inv_h: Tensor, c: Tensor, s: Tensor, k: int) -> Tensor:
    """Differentiable dense twin of the kernel, same layouts: ``x (Mx, B, in)``, ``c (M, in, nb, out)``,
    ``s (M, in, out)``."""
    nb = c.shape[-2]
    f = _UniformBSpline.apply(x, t0.unsqueeze(-2), inv_h.unsqueeze(-2), k, nb)  # (Mx, B, nb, in)
    w = (c * s.unsqueeze(-2)).transpose(-2, -3).flatten(-3, -2)  # (M, nb * in, out)
    return f.flatten(-2) @ w


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _kernel_layout(c: Tensor) -> bool:
    """Whether ``c (M, out, in, nb)`` is a view of a contiguous ``(M, in, nb, out)`` tensor."""
    return c.permute(0, 2, 3, 1).is_contiguous()


def _swap_out_last(t: Tensor, to_kernel: bool) -> Tensor:
    """``(M, out, in, nb)`` contiguous <-> ``(M, in, nb, out)`` contiguous with the native tiled transpose
    (several times faster than a strided torch copy for these shapes)."""
    from ..native import local_kernels

    lib = local_kernels()
    m = t.shape[0]
    if to_kernel:
        rows, cols = t.shape[1], t.shape[2] * t.shape[3]
        out = torch.empty(m, t.shape[2], t.shape[3], t.shape[1], dtype=t.dtype)
    else:
        rows, cols = t.shape[1] * t.shape[2], t.shape[3]
        out = torch.empty(m, t.shape[3], t.shape[1], t.shape[2], dtype=t.dtype)
    fn = lib.kan_transpose_f32 if t.dtype == torch.float32 else lib.kan_transpose_f64
    src = t.contiguous()  # held in a name: the kernel reads it after _ptr returns
    fn(_ptr(src), _ptr(out), m, rows, cols, torch.get_num_threads())
    return out


class _LocalContract(torch.autograd.Function):
    """``x (Mx, B, in)``, ``t0 / inv_h (Mg, in)``, ``coef (M, out, in, nb)``, ``s (M, in, out)`` -> ``(M, B, out)``
    (``Mx, Mg`` are 1, shared, or ``M``). Gradients for ``x``, ``coef`` and ``s``; the grid is constant.

    The kernels work on coefficients laid out as ``(M, in, nb, out)``: a ``coef`` that is such a tensor
    behind a permuted view is used as it is and gets its gradient in the same layout; a contiguous one is
    transposed once per call, and its gradient back."""

    @staticmethod
    def forward(ctx, x: Tensor, t0: Tensor, inv_h: Tensor, coef: Tensor, s: Tensor, k: int) -> Tensor:  # type: ignore[override]
        from ..native import local_kernels

        lib = local_kernels()
        ctx.kernel_layout = _kernel_layout(coef)
        c = coef.permute(0, 2, 3, 1) if ctx.kernel_layout else _swap_out_last(coef, to_kernel=True)
        m, n_in, nb, n_out = c.shape
        B = x.shape[1]
        y = torch.empty(m, B, n_out, dtype=x.dtype)
        C, _ = _piece_tables(k, x.dtype)
        fn = lib.kan_local_forward_f32 if x.dtype == torch.float32 else lib.kan_local_forward_f64
        fn(
            _ptr(x), _ptr(t0), _ptr(inv_h), _ptr(c), _ptr(s), _ptr(y), m, B, n_in, nb, n_out, k,
            0 if x.shape[0] == 1 else B * n_in, 0 if t0.shape[0] == 1 else n_in, _ptr(C),
            torch.get_num_threads(),
        )  # fmt: skip
        ctx.save_for_backward(x, t0, inv_h, coef, s)
        ctx.c, ctx.k = c, k  # c: coef in kernel layout (coef itself, or the transposed copy)
        return y

    @staticmethod
    def backward(ctx, gy: Tensor):  # type: ignore[override]
        x, t0, inv_h, coef, s = ctx.saved_tensors
        c = ctx.c
        need_x, need_c, need_s = ctx.needs_input_grad[0], ctx.needs_input_grad[3], ctx.needs_input_grad[4]
        if torch.is_grad_enabled():  # create_graph: differentiate the dense twin, so any order works
            wanted = [(x, need_x), (coef, need_c), (s, need_s)]
            with torch.enable_grad():
                y = _dense_contract(x, t0, inv_h, coef.permute(0, 2, 3, 1), s, ctx.k)
            grads = iter(torch.autograd.grad(y, [t for t, need in wanted if need], gy, create_graph=True))
            gx, gc, gs = (next(grads) if need else None for _, need in wanted)
            return gx, None, None, gc, gs, None
        from ..native import local_kernels
        from ..native.optim import fused_optimizer_of

        lib = local_kernels()
        gy = gy.contiguous()
        m, n_in, nb, n_out = c.shape
        B = x.shape[1]
        fused = fused_optimizer_of(c) if ctx.kernel_layout else None  # the batched engine's fused Adam
        gc = torch.empty_like(c) if (need_c or need_s) and fused is None else None
        gs = torch.empty_like(s) if need_s else None
        gx = torch.empty(m, n_in, B, dtype=x.dtype) if need_x else None  # transposed below
        C, D = _piece_tables(ctx.k, x.dtype)
        args = [
            _ptr(x), _ptr(t0), _ptr(inv_h), _ptr(c), _ptr(s), _ptr(gy), _ptr(gc), _ptr(gs), _ptr(gx),
            m, B, n_in, nb, n_out, ctx.k, 0 if x.shape[0] == 1 else B * n_in, 0 if t0.shape[0] == 1 else n_in,
            _ptr(C), _ptr(D), torch.get_num_threads(),
        ]  # fmt: skip
        if fused is not None:  # updates c in place; no gradient for it
            del args[6]
            fused[0].update(lib, fused[1], args)
        else:
            (lib.kan_local_backward_f32 if x.dtype == torch.float32 else lib.kan_local_backward_f64)(*args)
        if gx is not None:
            gx = gx.sum(0, keepdim=True) if x.shape[0] != m else gx
            gx = gx.transpose(1, 2)
        if gc is not None and need_c:
            gc = gc.permute(0, 3, 1, 2) if ctx.kernel_layout else _swap_out_last(gc, to_kernel=False)
        return gx, None, None, (gc if need_c else None), gs, None


class BSplineBasis(Basis):
    """pykan's order-``k`` B-splines on a per-input knot grid of ``G`` intervals: ``n = G + k`` coefficients,
    a frozen ``grid (in, G + 2k + 1)`` buffer, the native local contraction on CPU."""

    name = "bspline"
    has_grid = True
    pykan_compatible = True
    native_kernel = True
    has_derivatives = True
    initial_uniform = True

    def num_coefficients(self, spec) -> int:
        return spec.grid_size + spec.spline_order

    def extra_shapes(self, spec, d_in: int) -> dict[str, tuple[int, ...]]:
        return {"grid": (d_in, spec.grid_size + 2 * spec.spline_order + 1)}

    def describe(self, spec) -> str:
        return f"grid_size={spec.grid_size}, spline_order={spec.spline_order}"

    def features(self, x: Tensor, p, spec, uniform: bool | None = None) -> Tensor:
        return bspline_basis(x, p["grid"], spec.spline_order, uniform=uniform)

    def spline_term(self, x: Tensor, p, spec, ms: Tensor, uniform: bool | None, batched: bool) -> Tensor:
        return bspline_contract(x, p["grid"], p["coef"], ms, spec.spline_order, uniform)

    def flat_features(self, x: Tensor, p, spec, uniform: bool | None = None) -> Tensor:
        """Basis-major ``(..., B, n * in)`` (the layout of :func:`bspline_features`)."""
        return bspline_features(x, p["grid"], spec.spline_order, uniform).flatten(-2)

    def flat_weights(self, ms: Tensor, coef: Tensor) -> Tensor:
        return (ms.unsqueeze(-2) * coef.transpose(-1, -2)).flatten(-2)

    def derivatives(self, x: Tensor, p, spec) -> tuple[Tensor, Tensor, Tensor]:
        """Closed form on a uniform ``(in, K)`` grid (``k >= 2`` for the second derivative)."""
        grid, k = p["grid"], spec.spline_order
        if grid.dim() != 2 or not grid_is_uniform(grid):
            raise ValueError("the forward Laplacian needs a uniform (in, K) B-spline grid")
        if k < 2:
            raise ValueError(f"second derivatives need spline order >= 2, got {k}")
        inv_h = ((grid.shape[-1] - 1) / (grid[:, -1] - grid[:, 0])).detach()  # (in,)
        b0 = bspline_features(x, grid, k, True)  # (N, n, in)
        b1 = bspline_features(x, grid, k - 1, True)  # (N, n + 1, in)
        b2 = bspline_features(x, grid, k - 2, True)  # (N, n + 2, in)
        d1 = (b1[:, :-1] - b1[:, 1:]) * inv_h
        d2 = (b2[:, :-2] - 2 * b2[:, 1:-1] + b2[:, 2:]) * inv_h.square()
        return b0.transpose(1, 2), d1.transpose(1, 2), d2.transpose(1, 2)

    def uniform_hint(self, p) -> bool | None:
        return grid_is_uniform(p["grid"])

    def init_extras(self, spec, d_in: int, **fk) -> dict[str, Tensor]:
        return {"grid": uniform_grid(d_in, spec.grid_size, spec.spline_order, spec.grid_range, **fk)}

    def init_coefficients(self, spec, d_in: int, d_out: int, rand, **fk) -> Tensor:
        """pykan's ``curve2coef`` of small noise at the grid points (one cached pseudo-inverse)."""
        G, k = spec.grid_size, spec.spline_order
        noise = (rand(G + 1, d_out, d_in) - 0.5) * 0.3 / G
        return fit_noise_coefficients(noise, G, k)

    def domain(self, spec, p) -> tuple[Tensor, Tensor]:
        """``[grid[i, k], grid[i, -k-1]]`` per input ``i``, ``(..., in)`` each."""
        k = spec.spline_order
        g = p["grid"]
        return g[..., k], g[..., -k - 1]


register_basis(BSplineBasis())
