"""Launchers and the autograd function of the Triton local-support contraction (see :mod:`.kernels`).

:func:`contract` brings a layer's operands to the kernels' ``(M, ...)`` form (as the native path's
``_native_contract`` does) and applies :class:`TritonContract`. Coefficients are read where they lie (the
kernels take strides), so torch's ``(M, out, in, nb)`` layout and the batched engine's ``(M, in, nb, out)``
layout behind a permuted view both work without a copy; the latter makes the gathers coalesced.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import Tensor

from ..contract_layout import fold_operands

__all__ = ["Plan", "make_plan", "contract", "TritonContract"]


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _pow2(n: int) -> int:
    return 1 << max(0, (int(n) - 1).bit_length())


@functools.cache
def _sm_count(device: torch.device) -> int:
    return torch.cuda.get_device_properties(device).multi_processor_count


@dataclass(frozen=True)
class Plan:
    """Block sizes and work splits of one call. ``i_chunk``: inputs per forward program (the forward sums
    ``ceil(I / i_chunk)`` partial outputs); ``b_chunk``: samples per backward program (gS is summed over
    ``ceil(B / b_chunk)`` partials, gW accumulates with atomics); blocks are powers of two."""

    block_b: int
    block_o: int
    i_chunk: int
    bwd_block_b: int
    b_chunk: int


def make_plan(M: int, B: int, I: int, O: int, device: torch.device, **override: int) -> Plan:
    """Blocks for ``M`` models, ``B`` samples, ``I`` inputs and ``O`` outputs: tiles of about 2048 elements,
    and on CUDA at least ~4 programs per multiprocessor (chunks of inputs in forward, of samples in
    backward, where models x blocks give fewer); on CPU (the interpreter) as few programs as possible.
    ``override`` sets any field of :class:`Plan` (tests use it to cover several blocks and chunks)."""
    block_o = max(2, min(64, _pow2(O)))  # >= 2: no size-1 tile dimension on a GPU
    block_b = max(16, min(128, 2048 // block_o, _pow2(B)))
    target = 4 * _sm_count(device) if device.type == "cuda" else 1
    n_ob = _cdiv(O, block_o)
    base = _cdiv(B, block_b) * n_ob * M
    n_ic = min(_cdiv(I, 4), max(1, _cdiv(target, base)))
    n_bc = min(_cdiv(B, block_b), max(1, _cdiv(target, M * I * n_ob)))
    fields = {
        "block_b": block_b,
        "block_o": block_o,
        "i_chunk": _cdiv(I, n_ic),
        "bwd_block_b": block_b,
        "b_chunk": _cdiv(_cdiv(B, n_bc), block_b) * block_b,
    }
    fields.update(override)
    return Plan(**fields)


@functools.cache
def _tables(k: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """``C (k + 1, k + 1)`` and ``D (k + 1, k)`` float32 on ``device`` (see ``_piece_polynomials``)."""
    from ..basis.bspline import _piece_polynomials

    C, D = _piece_polynomials(k)
    return C.to(device, torch.float32).contiguous(), D.to(device, torch.float32).contiguous()


def _kernels():
    """The kernel module; CPU tensors need it defined for Triton's interpreter."""
    from . import kernels

    return kernels


def _check_device(x: Tensor) -> None:
    if x.device.type == "cpu" and not _kernels().INTERPRETED:
        raise RuntimeError(
            "kan_core.triton: CPU tensors run only under Triton's interpreter, and the kernels were defined "
            "without it; set TRITON_INTERPRET=1 before kan_core.triton.kernels is first imported"
        )


def _alloc(*shape: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Every buffer the kernels fill by plain stores comes from here (tests swap in a NaN-filled one)."""
    return torch.empty(*shape, dtype=dtype, device=device)


def _model_stride(t: Tensor) -> int:
    return t.stride(0) if t.shape[0] > 1 else 0


def forward_launch(x: Tensor, t0: Tensor, ih: Tensor, c: Tensor, s: Tensor, k: int, plan: Plan) -> Tensor:
    """``y (M, B, O)`` of ``x (Mx, B, I)``, ``t0 / ih (Mg, I)`` float32, ``c (M, O, I, NB)``, ``s (M, O, I)``."""
    _check_device(x)
    M, O, I, NB = c.shape
    B = x.shape[1]
    n_ic = _cdiv(I, plan.i_chunk)
    direct = n_ic == 1 and x.dtype == torch.float32
    y = _alloc(M, B, O, dtype=x.dtype, device=x.device)
    if B == 0 or O == 0:
        return y
    part = y.unsqueeze(0) if direct else _alloc(n_ic, M, B, O, dtype=torch.float32, device=x.device)
    C, _ = _tables(k, x.device)
    grid = (_cdiv(B, plan.block_b), _cdiv(O, plan.block_o), M * n_ic)
    _kernels().forward_kernel[grid](
        x, t0, ih, c, s, part, C, B, I, NB, O, plan.i_chunk, n_ic,
        _model_stride(x), x.stride(1), x.stride(2), _model_stride(t0), t0.stride(1),
        c.stride(0), c.stride(1), c.stride(2), c.stride(3), s.stride(0), s.stride(1), s.stride(2),
        part.stride(0), part.stride(1), part.stride(2), part.stride(3),
        K=k, BLOCK_B=plan.block_b, BLOCK_O=plan.block_o,
    )  # fmt: skip
    return y if direct else part.sum(0).to(x.dtype)


def backward_launch(
    x: Tensor, t0: Tensor, ih: Tensor, c: Tensor, s: Tensor, gy: Tensor, k: int, plan: Plan,
    need_c: bool, need_s: bool, need_x: bool,
) -> tuple[Tensor | None, Tensor | None, Tensor | None]:  # fmt: skip
    """``(gx (M, B, I), gc (M, O, I, NB) float32, gs (M, O, I) float32)``, ``None`` where not needed; the
    operands as in :func:`forward_launch`, ``gy (M, B, O)``."""
    _check_device(x)
    M, O, I, NB = c.shape
    B = x.shape[1]
    dev = x.device
    n_ob, n_bc = _cdiv(O, plan.block_o), max(1, _cdiv(B, plan.b_chunk))
    gc = torch.zeros(M, I, NB, O, dtype=torch.float32, device=dev) if need_c else None  # atomics: zeroed
    gs = _alloc(n_bc, M, O, I, dtype=torch.float32, device=dev) if need_s else None
    gx = _alloc(n_ob, M, I, B, dtype=torch.float32, device=dev) if need_x else None
    if B > 0 and O > 0 and I > 0:
        dummy = torch.empty(1, 1, 1, 1, dtype=torch.float32, device=dev)
        gcb, gsb, gxb = (t if t is not None else dummy for t in (gc, gs, gx))
        C, D = _tables(k, dev)
        _kernels().backward_kernel[(M * I, n_ob, n_bc)](
            x, t0, ih, c, s, gy, gcb, gsb, gxb, C, D, B, I, NB, O, plan.b_chunk,
            _model_stride(x), x.stride(1), x.stride(2), _model_stride(t0), t0.stride(1),
            c.stride(0), c.stride(1), c.stride(2), c.stride(3), s.stride(0), s.stride(1), s.stride(2),
            gy.stride(0), gy.stride(1), gy.stride(2),
            gcb.stride(0), gcb.stride(3), gcb.stride(1), gcb.stride(2),
            gsb.stride(0), gsb.stride(1), gsb.stride(2), gsb.stride(3),
            gxb.stride(0), gxb.stride(1), gxb.stride(3), gxb.stride(2),
            K=k, BLOCK_B=plan.bwd_block_b, BLOCK_O=plan.block_o,
            NEED_W=need_c, NEED_S=need_s, NEED_X=need_x,
        )  # fmt: skip
    elif need_s or need_x:  # nothing to sum over
        gs = gs.zero_() if gs is not None else None
        gx = gx.zero_() if gx is not None else None
    return (
        gx.sum(0).transpose(1, 2) if gx is not None else None,
        gc.permute(0, 3, 1, 2) if gc is not None else None,
        gs.sum(0) if gs is not None else None,
    )


class TritonContract(torch.autograd.Function):
    """``x (Mx, B, in)``, ``grid (Mg, in, K)``, ``t0 / inv_h (Mg, in)`` float32, ``coef (M, out, in, nb)``,
    ``s (M, out, in)`` -> ``(M, B, out)`` (``Mx, Mg`` are 1, shared, or ``M``). Gradients for ``x``, ``coef``
    and ``s``; the grid is constant. A backward that builds a graph (``create_graph=True``) differentiates
    the dense twin instead, so derivatives of any order work."""

    @staticmethod
    def forward(ctx, x, grid, t0, ih, coef, s, k, plan):  # type: ignore[override]
        y = forward_launch(x, t0, ih, coef, s, k, plan)
        ctx.save_for_backward(x, grid, t0, ih, coef, s)
        ctx.k, ctx.plan = k, plan
        return y

    @staticmethod
    def backward(ctx, gy: Tensor):  # type: ignore[override]
        x, grid, t0, ih, coef, s = ctx.saved_tensors
        need_x, need_c, need_s = ctx.needs_input_grad[0], ctx.needs_input_grad[4], ctx.needs_input_grad[5]
        if torch.is_grad_enabled():  # create_graph: the dense twin, differentiable to any order
            wanted = [(x, need_x), (coef, need_c), (s, need_s)]
            with torch.enable_grad():
                y = _dense_twin(x, grid, coef, s, ctx.k)
            grads = iter(torch.autograd.grad(y, [t for t, n in wanted if n], gy, create_graph=True))
            gx, gc, gs = (next(grads) if n else None for _, n in wanted)
            return gx, None, None, None, gc, gs, None, None
        gx, gc, gs = backward_launch(x, t0, ih, coef, s, gy, ctx.k, ctx.plan, need_c, need_s, need_x)
        if gx is not None:
            gx = (gx.sum(0, keepdim=True) if x.shape[0] != gx.shape[0] else gx).to(x.dtype)
        gc = gc.to(coef.dtype) if gc is not None else None
        gs = gs.to(s.dtype) if gs is not None else None
        return gx, None, None, None, gc, gs, None, None


def _dense_twin(x: Tensor, grid: Tensor, coef: Tensor, s: Tensor, k: int) -> Tensor:
    """The same contraction through the dense uniform features (reference and higher derivatives)."""
    from ..basis.bspline import bspline_features

    f = bspline_features(x, grid, k, True).flatten(-2)  # (M', B, nb * in), basis-major
    w = (coef * s.unsqueeze(-1)).permute(0, 3, 2, 1).flatten(1, 2)  # (M, nb * in, out)
    return f @ w.to(f.dtype)


def contract(
    x: Tensor, grid: Tensor, coef: Tensor, scale: Tensor, k: int, plan: Plan | None = None
) -> Tensor:
    """:func:`kan_core.triton.triton_contract`: ``x (..., B, in)``, ``grid (..., in, G + 2k + 1)``,
    ``coef (..., out, in, G + k)``, ``scale (..., out, in)`` -> ``(..., B, out)``; ``plan`` overrides the
    blocks (:func:`make_plan`)."""
    B, n_in = x.shape[-2:]
    n_out, nb = coef.shape[-3], coef.shape[-1]
    K = grid.shape[-1]
    if nb != K - k - 1:
        raise ValueError(f"coef has {nb} bases but a grid of {K} knots and order {k} has {K - k - 1}")
    xs, g3, c, s, lead = fold_operands(x, grid.detach(), coef, scale)
    gf = g3.float()
    t0, ih = gf[..., 0], (K - 1) / (gf[..., -1] - gf[..., 0])  # (Mg, in)
    m = c.shape[0]
    if plan is None:
        plan = make_plan(m, xs.shape[1], n_in, n_out, x.device)
    y = TritonContract.apply(xs, g3, t0.contiguous(), ih.contiguous(), c, s, k, plan)
    return y.reshape(*lead, B, n_out)
