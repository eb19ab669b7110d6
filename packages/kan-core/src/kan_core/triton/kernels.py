"""Triton kernels of the local-support B-spline contraction (the CUDA twin of ``native/bspline_local.h``).

Importing this module imports Triton and defines the kernels. Under ``TRITON_INTERPRET=1`` (read by
``triton.jit`` when the kernels are *defined*, i.e. when this module is first imported) they run on CPU
tensors through Triton's interpreter; :data:`INTERPRETED` records which mode they were defined in.

For every model ``m``, sample ``b`` and input ``i`` only the ``k + 1`` non-zero bases of order ``k`` are
evaluated, in registers, from the position ``u = (x - t0) * inv_h`` in knot spacings: interval
``j = floor(u)``, ``t = u - j``, value of the ``r``-th non-zero basis ``v_r(t) = sum_p C[r, p] t^p`` (basis
index ``j - k + r``). They are contracted at once with the ``(k + 1) x O`` block of the coefficients, so
the ``(G + k)``-wide basis tensor never exists:

    forward   y[m, b, o]  = sum_i s[m, o, i] sum_r v_r W[m, o, i, j - k + r]
    backward  gW[m, o, i, j - k + r] += s[m, o, i] v_r gy[m, b, o]
              gS[m, o, i]  = sum_b gy[m, b, o] sum_r v_r W[m, o, i, j - k + r]
              gx[m, b, i]  = inv_h[i] sum_o s[m, o, i] gy[m, b, o] sum_r v_r'(t) W[m, o, i, j - k + r]

Shapes (any strides; a model stride of 0 shares a tensor between models): x ``(M or 1, B, I)``,
t0 / inv_h ``(M or 1, I)`` (float32), W ``(M, O, I, NB)``, s ``(M, O, I)``, y ``(NIC, M, B, O)``
(partial sums over ``NIC`` chunks of inputs), gy ``(M, B, O)``, gW ``(M, O, I, NB)`` float32 and zeroed
(accumulated with atomics), gS ``(NBC, M, O, I)`` (partial sums over ``NBC`` chunks of samples), gx
``(NOB, M, B, I)`` (partial sums over ``NOB`` blocks of outputs). ``C`` is ``(k + 1, k + 1)`` and ``D``
``(k + 1, k)``, float32, from :func:`kan_core.basis.bspline._piece_polynomials`. Inputs outside
``[t_0, t_{K-1})`` (and NaN) have no non-zero basis. Every element of y, gS and gx is written exactly
once by plain stores; accumulation is in float32 whatever the input dtype.

Interpreter note: the kernels use only constructs that Triton's interpreter runs (scalar loads of the
polynomial tables instead of Python lists of tensors, ``tl.static_range`` over the ``k + 1`` rows,
runtime ``range`` over inputs and samples, masked gathers and ``tl.atomic_add``), so the same source is
what the CPU tests check and what a GPU compiles. The position and polynomial code is written out in
both kernels rather than in ``@triton.jit`` helpers: the interpreter re-patches ``triton.language`` on
every call of a nested jitted function, which made the tests ~3x slower.
"""

from __future__ import annotations

import triton
import triton.language as tl

__all__ = ["INTERPRETED", "forward_kernel", "backward_kernel"]


@triton.jit
def forward_kernel(
    x_ptr, t0_ptr, ih_ptr, w_ptr, s_ptr, y_ptr, c_ptr,
    B, I, NB, O, I_CHUNK, NIC,
    sxm, sxb, sxi, sgm, sgi, swm, swo, swi, swj, ssm, sso, ssi, syc, sym, syb, syo,
    K: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_O: tl.constexpr,
):  # fmt: skip
    """Program ``(b-block, o-block, m * NIC + input chunk)``: ``y[chunk, m, b-block, o-block]``."""
    pid_b = tl.program_id(0)
    pid_o = tl.program_id(1)
    pid_mc = tl.program_id(2).to(tl.int64)
    m = pid_mc // NIC
    ic = pid_mc % NIC
    offs_b = pid_b * BLOCK_B + tl.arange(0, BLOCK_B)
    offs_o = pid_o * BLOCK_O + tl.arange(0, BLOCK_O)
    bmask = offs_b < B
    omask = offs_o < O
    acc = tl.zeros((BLOCK_B, BLOCK_O), dtype=tl.float32)
    i_end = tl.minimum(I, (ic + 1) * I_CHUNK)
    for i in range(ic * I_CHUNK, i_end):
        # position: interval start lo = floor(u) - k, offset t in [0, 1), ok = inside [t_0, t_{K-1})
        xv = tl.load(x_ptr + m * sxm + offs_b * sxb + i * sxi, mask=bmask, other=0.0).to(tl.float32)
        u = (xv - tl.load(t0_ptr + m * sgm + i * sgi)) * tl.load(ih_ptr + m * sgm + i * sgi)
        ok = bmask & (u >= 0.0) & (u < NB + K)
        uc = tl.where(ok, u, 0.0)
        j = uc.to(tl.int32)  # floor: uc >= 0
        lo = j - K
        t = uc - j.to(tl.float32)
        wrow = w_ptr + m * swm + i * swi + offs_o[None, :] * swo
        z = tl.zeros((BLOCK_B, BLOCK_O), dtype=tl.float32)
        for r in tl.static_range(K + 1):
            v = tl.load(c_ptr + r * (K + 1) + K) + tl.zeros_like(t)  # v_r(t) = sum_p C[r, p] t^p (Horner)
            for q in tl.static_range(K):
                v = v * t + tl.load(c_ptr + r * (K + 1) + (K - 1 - q))
            idx = lo + r
            rm = ok & (idx >= 0) & (idx < NB)
            w = tl.load(wrow + idx[:, None] * swj, mask=rm[:, None] & omask[None, :], other=0.0)
            z += v[:, None] * w.to(tl.float32)
        sv = tl.load(s_ptr + m * ssm + i * ssi + offs_o * sso, mask=omask, other=0.0).to(tl.float32)
        acc += z * sv[None, :]
    yp = y_ptr + ic * syc + m * sym + offs_b[:, None] * syb + offs_o[None, :] * syo
    tl.store(yp, acc.to(y_ptr.dtype.element_ty), mask=bmask[:, None] & omask[None, :])


@triton.jit
def backward_kernel(
    x_ptr, t0_ptr, ih_ptr, w_ptr, s_ptr, gy_ptr, gw_ptr, gs_ptr, gx_ptr, c_ptr, d_ptr,
    B, I, NB, O, B_CHUNK,
    sxm, sxb, sxi, sgm, sgi, swm, swo, swi, swj, ssm, sso, ssi, sgym, sgyb, sgyo,
    sgwm, sgwo, sgwi, sgwj, sgsc, sgsm, sgso, sgsi, sgxc, sgxm, sgxb, sgxi,
    K: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_O: tl.constexpr,
    NEED_W: tl.constexpr, NEED_S: tl.constexpr, NEED_X: tl.constexpr,
):  # fmt: skip
    """Program ``(m * I + i, o-block, sample chunk)``: its samples' share of gW (atomics), gS and gx."""
    pid_mi = tl.program_id(0).to(tl.int64)
    pid_o = tl.program_id(1)
    pid_c = tl.program_id(2)
    m = pid_mi // I
    i = pid_mi % I
    offs_o = pid_o * BLOCK_O + tl.arange(0, BLOCK_O)
    omask = offs_o < O
    sv = tl.load(s_ptr + m * ssm + i * ssi + offs_o * sso, mask=omask, other=0.0).to(tl.float32)
    wrow = w_ptr + m * swm + i * swi + offs_o[None, :] * swo
    gwrow = gw_ptr + m * sgwm + i * sgwi + offs_o[None, :] * sgwo
    gs_acc = tl.zeros((BLOCK_O,), dtype=tl.float32)
    t0 = tl.load(t0_ptr + m * sgm + i * sgi)
    ih = tl.load(ih_ptr + m * sgm + i * sgi)
    b_end = tl.minimum(B, (pid_c + 1) * B_CHUNK)
    for b0 in range(pid_c * B_CHUNK, b_end, BLOCK_B):
        offs_b = b0 + tl.arange(0, BLOCK_B)
        bmask = offs_b < b_end
        xv = tl.load(x_ptr + m * sxm + offs_b * sxb + i * sxi, mask=bmask, other=0.0).to(tl.float32)
        u = (xv - t0) * ih
        ok = bmask & (u >= 0.0) & (u < NB + K)
        uc = tl.where(ok, u, 0.0)
        j = uc.to(tl.int32)
        lo = j - K
        t = uc - j.to(tl.float32)
        tile = bmask[:, None] & omask[None, :]
        gy = tl.load(
            gy_ptr + m * sgym + offs_b[:, None] * sgyb + offs_o[None, :] * sgyo, mask=tile, other=0.0
        )
        gy = gy.to(tl.float32)
        z = tl.zeros((BLOCK_B, BLOCK_O), dtype=tl.float32)
        zd = tl.zeros((BLOCK_B, BLOCK_O), dtype=tl.float32)
        for r in tl.static_range(K + 1):
            v = tl.load(c_ptr + r * (K + 1) + K) + tl.zeros_like(t)
            for q in tl.static_range(K):
                v = v * t + tl.load(c_ptr + r * (K + 1) + (K - 1 - q))
            idx = lo + r
            rm = ok & (idx >= 0) & (idx < NB)
            rmask = rm[:, None] & omask[None, :]
            if NEED_W:
                tl.atomic_add(
                    gwrow + idx[:, None] * sgwj, v[:, None] * gy * sv[None, :], mask=rmask, sem="relaxed"
                )
            if NEED_S or NEED_X:
                w = tl.load(wrow + idx[:, None] * swj, mask=rmask, other=0.0).to(tl.float32)
                if NEED_S:
                    z += v[:, None] * w
                if NEED_X:  # v_r'(t) = sum_p D[r, p] t^p
                    dv = tl.load(d_ptr + r * K + (K - 1)) + tl.zeros_like(t)
                    for q in tl.static_range(K - 1):
                        dv = dv * t + tl.load(d_ptr + r * K + (K - 2 - q))
                    zd += dv[:, None] * w
        if NEED_S:
            gs_acc += tl.sum(gy * z, axis=0)
        if NEED_X:
            gx = tl.sum(gy * zd * sv[None, :], axis=1) * ih
            gxp = gx_ptr + pid_o * sgxc + m * sgxm + offs_b * sgxb + i * sgxi
            tl.store(gxp, gx.to(gx_ptr.dtype.element_ty), mask=bmask)
    if NEED_S:
        gsp = gs_ptr + pid_c * sgsc + m * sgsm + offs_o * sgso + i * sgsi
        tl.store(gsp, gs_acc.to(gs_ptr.dtype.element_ty), mask=omask)


#: whether the kernels above were defined for Triton's interpreter (CPU tensors) rather than for a GPU
INTERPRETED: bool = type(forward_kernel).__name__ == "InterpretedFunction"
