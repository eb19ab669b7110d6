"""Memory-lean evaluation of a prompted KAN layer: exact outputs and gradients, bounded training memory.

The plain path keeps, for backward, every per-edge intermediate: the meta-learner's hidden activations
``(E, hidden)`` (pre- and post-ReLU), the generated weights ``(E, d)`` and their scaled copy
``(out, n * in)``, and the basis features ``(B, n * in)`` of the whole batch (at ``G = 80`` on
``[784, 32, 10]``, batch 128: 33 MB of features, 17 MB of weights, 7 MB of hidden activations). :class:`LeanLayerFn` keeps none of them.
It uses that every basis but wavelets is *linear in the generated weights*:

    y = F(x) @ Wf^T + b(x) @ Wb^T,   F(x): (B, K) basis features, Wf = mask * w_s * c: (out, K),
                                     b(x): (B, in) base activation,  Wb = mask * w_b:   (out, in)

* forward (no graph): generate ``Wf, Wb`` in blocks of ``row_block`` output neurons (so the hidden
  activations alive at once are ``row_block * in * hidden``, not ``E * hidden``), then evaluate ``y`` in
  blocks of ``batch_block`` samples (features ``batch_block * K`` at once). Saved for backward: the
  layer input ``x``, the prompts and the meta-learner's parameters only - nothing per edge.
* backward: recompute ``F(x)`` block by block and accumulate ``dL/dWf = gy^T F`` (one ``(out, K)`` buffer;
  ``Wf`` itself is regenerated only when ``x`` needs a gradient, for ``dL/dF = gy Wf``), then push
  ``dL/dWf`` through the meta-learner block by block, recomputing each block's hidden activations.

Peak memory is therefore ``O(E * d)`` (one weight-sized buffer, as many numbers as a KAN's coefficient
tensor, which a KAN stores four times: parameter, gradient, two Adam moments) plus
``O(batch_block * K + row_block * in * (hidden + d))``: it does not grow with ``E * hidden`` nor with
``B * K``. Cost: one extra generation and one extra feature evaluation per step (measured by
``tools/bench/metakan_memory.py``). The backward is first-order (``once_differentiable``): double
backward (PINN Laplacians) needs the plain path.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F
from kan_core.basis import get_basis
from kan_core.functional import base_activation
from kan_core.spec import KANSpec
from torch import Tensor
from torch.autograd.function import once_differentiable

from .metalearner import MetaLearner

__all__ = ["PromptedLayer", "LeanLayerFn", "lean_forward", "dense_weights", "features", "block_sizes"]


class PromptedLayer(Protocol):
    """What the lean path reads of a prompted layer (:class:`kan_metakan.prompts.MetaEdgeLayer`)."""

    spec: KANSpec
    in_features: int
    out_features: int
    learner: MetaLearner
    prompt: Tensor

    def fixed_tensors(self, rows: slice | None = None) -> dict[str, Tensor]: ...

    def params_from(self, z: Tensor, theta: tuple[Tensor, ...], rows: slice | None) -> dict[str, Tensor]: ...

    def uniform_hint(self) -> bool | None: ...


def block_sizes(layer: PromptedLayer, block_elems: int) -> tuple[int, int]:
    """``(batch_block, row_block)``: one block's features ``(batch_block, K)`` hold at most ``block_elems``
    numbers, and so do the transients of one block's generation and its backward, about
    ``row_block * in * (2 hidden + 4 d)`` numbers (hidden pre/post ReLU; ``w``, the scaled ``Wf`` and their
    gradients). Both are at least 1."""
    k = layer.spec.num_coefficients * layer.in_features
    per_row = layer.in_features * (2 * layer.learner.hidden + 4 * layer.learner.out_dim)
    return max(1, block_elems // k), max(1, block_elems // per_row)


def features(layer: PromptedLayer, x: Tensor) -> Tensor:
    """Flattened basis features ``(N, in) -> (N, K)`` in the layout of :func:`dense_weights` (``K = n * in``,
    the basis' :meth:`~kan_core.basis.Basis.flat_features`: basis-major for B-splines, input-major otherwise)."""
    spec = layer.spec
    return get_basis(spec.basis).flat_features(x, layer.fixed_tensors(), spec, layer.uniform_hint())


def dense_weights(
    layer: PromptedLayer, z: Tensor, theta: tuple[Tensor, ...], rows: slice
) -> tuple[Tensor, Tensor]:
    """Generated weights of output neurons ``rows`` in matmul form: ``Wf (r, K)``, ``Wb (r, in)``."""
    p = layer.params_from(z, theta, rows)
    ms = p["mask"] * p["scale_sp"]
    wf = get_basis(layer.spec.basis).flat_weights(ms, p["coef"])
    return wf, p["mask"] * p["scale_base"]


def _all_weights(layer: PromptedLayer, prompt: Tensor, theta, row_block: int) -> tuple[Tensor, Tensor]:
    """``Wf (out, K)``, ``Wb (out, in)`` generated without a graph, ``row_block`` neurons at a time."""
    out, k = layer.out_features, layer.spec.num_coefficients * layer.in_features
    wf = prompt.new_empty(out, k)
    wb = prompt.new_empty(out, layer.in_features)
    with torch.no_grad():
        for r0 in range(0, out, row_block):
            rows = slice(r0, min(r0 + row_block, out))
            wf[rows], wb[rows] = dense_weights(layer, prompt[rows], theta, rows)
    return wf, wb


class LeanLayerFn(torch.autograd.Function):
    """``y = layer(x)`` with weights generated from ``prompt`` and ``theta = (w1, b1, w2, b2)``; see the
    module docstring. Shapes: ``x (N, in)``, ``prompt (out, in, dim z)`` -> ``(N, out)``."""

    @staticmethod
    def forward(ctx, x, prompt, w1, b1, w2, b2, layer, batch_block, row_block):  # noqa: D102
        theta = (w1, b1, w2, b2)
        wf, wb = _all_weights(layer, prompt, theta, row_block)
        y = x.new_empty(x.shape[0], layer.out_features)
        spec = layer.spec
        f = None
        for s in range(0, x.shape[0], batch_block):
            xb = x[s : s + batch_block]
            f = features(layer, xb)
            y[s : s + batch_block] = torch.addmm(F.linear(base_activation(xb, spec), wb), f, wf.T)
        del wf, wb
        # a batch that fits in one block keeps its features (at most one block's worth) for backward
        one_block = x.shape[0] <= batch_block and f is not None and not ctx.needs_input_grad[0]
        ctx.save_for_backward(x, prompt, w1, b1, w2, b2, *((f,) if one_block else ()))
        ctx.layer, ctx.batch_block, ctx.row_block = layer, batch_block, row_block
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, gy):  # noqa: D102
        x, prompt, *theta = ctx.saved_tensors
        kept = theta[4] if len(theta) == 5 else None
        theta = theta[:4]
        layer, bb, rb = ctx.layer, ctx.batch_block, ctx.row_block
        spec, out = layer.spec, layer.out_features
        need_x = ctx.needs_input_grad[0]
        gy = gy.contiguous()
        gx = torch.empty_like(x) if need_x else None
        if need_x:
            wf, wb = _all_weights(layer, prompt, tuple(theta), rb)
        g_wf = gb_wb = None
        for s in range(0, x.shape[0], bb):
            gyb = gy[s : s + bb]
            if need_x:
                with torch.enable_grad():
                    xb = x[s : s + bb].detach().requires_grad_(True)
                    f, b = features(layer, xb), base_activation(xb, spec)
                    outs = [t for t in (f, b) if t.requires_grad]
                    grads = [gyb @ wf if t is f else gyb @ wb for t in outs]
                    gx[s : s + bb] = torch.autograd.grad(outs, xb, grads)[0] if outs else torch.zeros_like(xb)
                f, b = f.detach(), b.detach()
            else:
                xb = x[s : s + bb]
                f = features(layer, xb) if kept is None else kept
                b = base_activation(xb, spec)
            g_wf = gyb.T @ f if g_wf is None else g_wf.addmm_(gyb.T, f)
            gb_wb = gyb.T @ b if gb_wb is None else gb_wb.addmm_(gyb.T, b)
            del f, b
        kept = None
        if need_x:
            del wf, wb
        if g_wf is None:  # empty batch
            g_wf = gy.new_zeros(out, layer.spec.num_coefficients * layer.in_features)
            gb_wb = gy.new_zeros(out, layer.in_features)
        need_p = ctx.needs_input_grad[1]
        need_t = ctx.needs_input_grad[2:6]
        gp = torch.zeros_like(prompt) if need_p else None
        gt = [torch.zeros_like(t) if n else None for t, n in zip(theta, need_t)]
        if need_p or any(need_t):
            with torch.enable_grad():
                th = tuple(t.detach().requires_grad_(n) for t, n in zip(theta, need_t))
                for r0 in range(0, out, rb):
                    rows = slice(r0, min(r0 + rb, out))
                    z = prompt[rows].detach().requires_grad_(need_p)
                    rf, rw = dense_weights(layer, z, th, rows)
                    outs = [(t, g[rows]) for t, g in ((rf, g_wf), (rw, gb_wb)) if t.requires_grad]
                    leaves = [t for t in (z, *th) if t.requires_grad]
                    if not outs or not leaves:
                        continue
                    res = torch.autograd.grad(
                        [o for o, _ in outs], leaves, [g for _, g in outs], allow_unused=True
                    )
                    it = iter(res)
                    if need_p:
                        r = next(it)
                        if r is not None:
                            gp[rows] = r
                    for j, n in enumerate(need_t):
                        if n:
                            r = next(it)
                            if r is not None:
                                gt[j] += r
        return (gx, gp, *gt, None, None, None)


def lean_forward(layer: PromptedLayer, x: Tensor, block_elems: int) -> Tensor:
    """``(..., in) -> (..., out)`` through :class:`LeanLayerFn` (leading dimensions are flattened)."""
    if not get_basis(layer.spec.basis).linear_in_coefficients:
        raise ValueError(f"the lean path needs a basis linear in its weights, got {layer.spec.basis!r}")
    bb, rb = block_sizes(layer, block_elems)
    lead = x.shape[:-1]
    y = LeanLayerFn.apply(x.reshape(-1, x.shape[-1]), layer.prompt, *layer.learner.params(), layer, bb, rb)
    return y.reshape(*lead, layer.out_features)
