"""Memory-lean evaluation of a prompted KAN layer: exact outputs and gradients, bounded training memory.

The plain path (:meth:`kan_metakan.prompts.MetaEdgeLayer.generated` + :func:`kan_core.functional.layer_forward`)
keeps, for backward, every per-edge intermediate of the whole layer: the meta-learner's hidden activations
``(out, in, hidden)``, the generated weights ``(out, in, d)`` and the coefficient tensor ``(out, in, n)``
(plus its copy in the native kernel's layout), and later their gradients. :class:`ChunkedLayerFn` keeps none
of them. It uses that a layer is a sum over its inputs, ``y = sum_i phi_{., i}(x_i)``, so the layer splits
into sub-layers of ``c`` input columns each, and every sub-layer's weights depend on its own prompts only:

* forward (no graph): for each chunk of input columns ``cols``, generate that chunk's weights from
  ``prompt[:, cols]`` and evaluate the sub-layer on ``x[:, cols]``, adding into ``y (N, out)``. B-spline
  coefficients are generated straight into the layout of kan-core's native local-support kernel,
  ``(c, n, out)`` contiguous (the kernel reads ``(in, n, out)``, so a column chunk of it is contiguous too),
  so the kernel takes them without a transposed copy and never builds the ``(N, n * in)`` basis features.
  Saved for backward: the layer input ``x``, the prompts and the meta-learner's parameters only.
* backward: chunk by chunk, regenerate the chunk's weights with a graph, evaluate the sub-layer again
  (batch blocks where the basis builds features) and back-propagate ``gy`` through it to the chunk's
  weights and ``x[:, cols]``, then through the generation to ``prompt[:, cols]`` and the meta-learner; the
  chunk's activations and gradients are freed before the next chunk.

Peak memory is therefore the prompts' gradient (``E dim z`` numbers, as the plain path) plus one chunk's
transients, at most ``block_elems`` numbers (and at most an eighth of the whole layer's, see
:func:`chunk_plan`): it does not grow with ``E * hidden``, ``E * (G + k)`` or ``N * (G + k)``. Cost: one
more weight generation and one more sub-layer forward per step. The backward is first-order
(``once_differentiable``): double backward (PINN Laplacians) needs the plain path. Every basis works
(wavelets included: their weights enter non-linearly, but a chunk is still an ordinary layer).
"""

from __future__ import annotations

import math
from typing import Protocol

import torch
from kan_core.basis import get_basis
from kan_core.functional import layer_forward
from kan_core.spec import KANSpec
from torch import Tensor
from torch.autograd.function import once_differentiable

from .mapping import has_base
from .metalearner import MetaLearner

__all__ = [
    "PromptedLayer",
    "ChunkedLayerFn",
    "lean_forward",
    "chunk_params",
    "chunk_plan",
    "MIN_CHUNKS",
    "MIN_BLOCK_ELEMS",
]

#: A layer whose transients exceed :data:`MIN_BLOCK_ELEMS` is cut into at least this many column chunks, so
#: one chunk's transients stay a small part of what the plain path keeps (which holds the whole layer's).
MIN_CHUNKS = 8
#: Chunks are not cut smaller than this many numbers (256 KiB in float32): below it the per-chunk overhead
#: (a few small kernel launches and one autograd call) costs more than the memory it saves.
MIN_BLOCK_ELEMS = 2**13


class PromptedLayer(Protocol):
    """What the lean path reads of a prompted layer (:class:`kan_metakan.prompts.MetaEdgeLayer`)."""

    spec: KANSpec
    in_features: int
    out_features: int
    learner: MetaLearner
    prompt: Tensor

    def fixed_tensors(self, rows: slice | None = None) -> dict[str, Tensor]: ...

    def uniform_hint(self) -> bool | None: ...


def _native(layer: PromptedLayer, x: Tensor) -> bool:
    """Whether kan-core evaluates this layer with the native local-support B-spline kernel."""
    if not get_basis(layer.spec.basis).native_kernel:
        return False
    from kan_core.basis.bspline import native_local_applies

    grid = layer.fixed_tensors()["grid"]
    return native_local_applies(x, grid, layer.spec.spline_order, layer.uniform_hint())


def chunk_plan(layer: PromptedLayer, n_rows: int, block_elems: int, native: bool) -> tuple[int, int]:
    """``(cols, batch_block)``: input columns per chunk and samples per batch block.

    One column of the layer costs about ``out (3 hidden + 5 d)`` transient numbers in the backward (hidden
    activations and their gradient; the generated weights, their copy in the kernel's layout, the
    coefficient leaf, its gradient and the gradient of the generated weights). The chunk budget is ``block_elems``, lowered to an eighth of the whole layer's transients
    (:data:`MIN_CHUNKS`) but not below :data:`MIN_BLOCK_ELEMS`. The native B-spline kernel builds nothing
    per sample beyond ``x`` and ``y``, so it takes the whole batch at once; other bases build features
    ``(batch_block, cols, n)`` (wavelets: edge values ``(batch_block, out, cols)``, a few of them), which the
    batch block keeps within the budget too. Both are at least 1.
    """
    out, d_in = layer.out_features, layer.in_features
    hid, d = layer.learner.hidden, layer.learner.out_dim
    per_col = out * (3 * hid + 5 * d)
    budget = min(block_elems, max(MIN_BLOCK_ELEMS, -(-per_col * d_in // MIN_CHUNKS)))
    cols = max(1, min(d_in, budget // per_col))
    if native:
        return cols, max(1, n_rows)
    basis = get_basis(layer.spec.basis)
    per_row = cols * (3 * layer.spec.num_coefficients if basis.linear_in_coefficients else 6 * out)
    return cols, max(1, min(max(1, n_rows), budget // per_row))


def chunk_params(
    layer: PromptedLayer, z: Tensor, theta: tuple[Tensor, ...], cols: slice
) -> dict[str, Tensor]:
    """kan-core tensors of the sub-layer made of input columns ``cols`` (``c`` of them), generated from
    ``z = prompt[:, cols]`` of shape ``(out, c, dim z)`` and ``theta = (w1, b1, w2, b2)``.

    Returns ``scale_base (out, c)``, ``coef (out, c, n)``, ``mask``, ``scale_sp`` and the basis' extra
    tensors sliced to ``cols``. ``coef`` is a permuted view of a contiguous ``(c, n, out)`` tensor, the
    native kernel's layout; the values are those of :func:`kan_metakan.mapping.split_weights` applied to
    the meta-learner's output (``[w_b, c_1 .. c_n]``, ``w_b`` divided by ``sqrt(d_in)``).
    """
    w1, b1, w2, b2 = theta
    spec = layer.spec
    out, c = z.shape[0], z.shape[1]
    h = torch.relu(torch.nn.functional.linear(z, w1, b1))  # (out, c, hidden)
    # one GEMM for every output of the meta-learner, component-major: w (d, out * c) = w2 h^T + b2
    w = torch.addmm(b2.unsqueeze(1), w2, h.reshape(out * c, -1).T).view(-1, out, c)
    if has_base(spec):
        scale_base = w[0] / math.sqrt(layer.in_features)  # (out, c)
        w = w[1:]
    else:
        scale_base = z.new_zeros(out, c)
    coef = w.permute(2, 0, 1).contiguous()  # (c, n, out): the native kernel's layout
    p = {"scale_base": scale_base, "coef": coef.permute(2, 0, 1)}
    fixed = layer.fixed_tensors()
    p["mask"], p["scale_sp"] = fixed.pop("mask")[:, cols], fixed.pop("scale_sp")[:, cols]
    axes = get_basis(spec.basis).extra_input_axes(spec)
    for name, t in fixed.items():
        a = axes.get(name)
        p[name] = t if a is None else t[(slice(None),) * a + (cols,)]
    return p


def _sub_specs(layer: PromptedLayer, cols: int) -> dict[int, KANSpec]:
    d_in, out = layer.in_features, layer.out_features
    sizes = {min(cols, d_in), d_in % cols or cols}
    return {c: layer.spec.replace(widths=(c, out)) for c in sizes}


def _chunks(d_in: int, cols: int):
    for c0 in range(0, d_in, cols):
        yield slice(c0, min(c0 + cols, d_in))


class ChunkedLayerFn(torch.autograd.Function):
    """``y = layer(x)`` with weights generated from ``prompt`` and ``theta = (w1, b1, w2, b2)``, chunk by chunk
    of ``cols`` input columns and ``batch_block`` samples; see the module docstring.

    Shapes: ``x (N, in)``, ``prompt (out, in, dim z)`` -> ``(N, out)``.
    """

    @staticmethod
    def forward(ctx, x, prompt, w1, b1, w2, b2, layer, cols, batch_block):  # noqa: D102
        theta = (w1, b1, w2, b2)
        specs, hint = _sub_specs(layer, cols), layer.uniform_hint()
        n = x.shape[0]
        y = x.new_zeros(n, layer.out_features)
        if n:
            for cs in _chunks(layer.in_features, cols):
                p = chunk_params(layer, prompt[:, cs], theta, cs)
                spec = specs[cs.stop - cs.start]
                for b0 in range(0, n, batch_block):
                    bs = slice(b0, b0 + batch_block)
                    y[bs] += layer_forward(x[bs, cs], p, spec, hint)
                del p
        ctx.save_for_backward(x, prompt, *theta)
        ctx.layer, ctx.cols, ctx.batch_block = layer, cols, batch_block
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, gy):  # noqa: D102
        x, prompt, *theta = ctx.saved_tensors
        layer, cols, bb = ctx.layer, ctx.cols, ctx.batch_block
        specs, hint = _sub_specs(layer, cols), layer.uniform_hint()
        need_x, need_p = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        need_t = ctx.needs_input_grad[2:6]
        need_gen = need_p or any(need_t)
        gx = torch.zeros_like(x) if need_x else None
        gp = torch.zeros_like(prompt) if need_p else None
        gt = [torch.zeros_like(t) if nt else None for t, nt in zip(theta, need_t)]
        n = x.shape[0]
        if n == 0 or not (need_x or need_gen):
            return (gx, gp, *gt, None, None, None)
        gy = gy.contiguous()
        th = tuple(t.detach().requires_grad_(nt) for t, nt in zip(theta, need_t))
        wrt_gen = [t for t in th if t.requires_grad]

        def put(res: list, cs: slice, with_x: bool) -> None:
            # res: [gx] (with_x) + [g_z] (need_p) + the meta-learner's parameter grads that are needed
            if with_x:
                r = res.pop(0)
                if r is not None:
                    gx[:, cs] = r
            if need_p:
                r = res.pop(0)
                if r is not None:
                    gp[:, cs] = r
            for j, nt in enumerate(need_t):
                if nt:
                    r = res.pop(0)
                    if r is not None:
                        gt[j] += r

        for cs in _chunks(layer.in_features, cols):
            spec = specs[cs.stop - cs.start]
            with torch.enable_grad():
                z = prompt[:, cs].detach().requires_grad_(need_p)
                p = chunk_params(layer, z, th, cs)
            wrt = ([z] if need_p else []) + wrt_gen
            if bb >= n:  # one batch block: one graph from (x, z, theta) to the chunk's output
                with torch.enable_grad():
                    xb = x[:, cs].detach().requires_grad_(need_x)
                    yc = layer_forward(xb, p, spec, hint)
                res = torch.autograd.grad(yc, ([xb] if need_x else []) + wrt, gy, allow_unused=True)
                put(list(res), cs, need_x)
                del p, yc, res
                continue
            # several batch blocks: the generated tensors become leaves of the sub-layer's graph; their
            # gradient is summed over the blocks, then pushed through the generation once
            gen = {k: p[k] for k in ("coef", "scale_base") if p[k].requires_grad}
            leaves = {k: v.detach().requires_grad_(True) for k, v in gen.items()}
            q = {**p, **leaves}
            acc: dict[str, Tensor] = {}
            for b0 in range(0, n, bb):
                bs = slice(b0, b0 + bb)
                with torch.enable_grad():
                    xb = x[bs, cs].detach().requires_grad_(need_x)
                    yb = layer_forward(xb, q, spec, hint)
                res = list(torch.autograd.grad(yb, ([xb] if need_x else []) + list(leaves.values()), gy[bs],
                                               allow_unused=True))  # fmt: skip
                del yb
                if need_x:
                    r = res.pop(0)
                    if r is not None:
                        gx[bs, cs] = r
                for k, r in zip(leaves, res):
                    if r is not None:
                        acc[k] = r if k not in acc else acc[k].add_(r)
            del q, leaves
            outs = [(gen[k], acc[k]) for k in gen if k in acc]
            if outs and wrt:
                res = torch.autograd.grad([o for o, _ in outs], wrt, [g for _, g in outs], allow_unused=True)
                put(list(res), cs, False)
            del p, gen, outs, acc
        return (gx, gp, *gt, None, None, None)


def lean_forward(layer: PromptedLayer, x: Tensor, block_elems: int) -> Tensor:
    """``(..., in) -> (..., out)`` through :class:`ChunkedLayerFn` (leading dimensions are flattened)."""
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1])
    cols, bb = chunk_plan(layer, x2.shape[0], block_elems, _native(layer, x2))
    y = ChunkedLayerFn.apply(x2, layer.prompt, *layer.learner.params(), layer, cols, bb)
    return y.reshape(*lead, layer.out_features)
