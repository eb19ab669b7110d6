"""The pure functional forward of a KAN layer, shared by layers, MetaKAN and the batched engine.

Every edge ``(o, i)`` of a layer computes pykan's univariate function

    phi_oi(x) = mask_oi * (w_b_oi * b(x) + w_s_oi * sum_j c_oij B_j(x))

with ``b`` the base activation (SiLU) and ``B_j`` the basis of the spec; output ``o`` sums its edges and,
with ``spec.affine``, applies ``node_scale_o * y + node_bias_o``. For wavelets the coefficient vector is
``(s, tau, w)`` and ``sum_j c_j B_j(x)`` becomes ``w * psi((x - tau) / s)``.

Parameter tensors of one layer (torch layout, ``(out, in, ...)``), each optionally with leading model
dimensions ``...`` (``M`` KANs at once):

=============  =====================  ================================================
name           shape                  meaning
=============  =====================  ================================================
scale_base     (..., out, in)         ``w_b``
scale_sp       (..., out, in)         ``w_s``
coef           (..., out, in, n)      ``c``, ``n = spec.num_coefficients``
mask           (..., out, in)         0/1 pruning mask
grid           (..., in, G + 2k + 1)  B-spline knots per input (``bspline`` only)
beta           (..., degree)          Gram recursion coefficients (``gram`` only)
node_scale     (..., out)             output affine (``spec.affine`` only)
node_bias      (..., out)
=============  =====================  ================================================

Inputs are ``(..., B, in)`` and outputs ``(..., B, out)``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor

from .basis.registry import BASIS_REGISTRY
from .spec import KANSpec

__all__ = ["base_activation", "basis_features", "layer_forward", "layer_edges", "kan_forward"]

Params = Mapping[str, Tensor]


def base_activation(x: Tensor, spec: KANSpec) -> Tensor:
    """The residual activation ``b(x)``."""
    if spec.base_activation == "silu":
        return F.silu(x)
    if spec.base_activation == "identity":
        return x
    return torch.zeros_like(x)


def basis_features(x: Tensor, p: Params, spec: KANSpec, uniform: bool | None = None) -> Tensor:
    """Basis values ``B_j(x_i)``: ``(..., B, in) -> (..., B, in, n)`` (bases linear in their coefficients)."""
    return BASIS_REGISTRY[spec.basis].features(x, p, spec, uniform)


def _affine(y: Tensor, p: Params, spec: KANSpec) -> Tensor:
    if spec.affine:
        y = y * p["node_scale"].unsqueeze(-2) + p["node_bias"].unsqueeze(-2)
    return y


def layer_forward(x: Tensor, p: Params, spec: KANSpec, uniform: bool | None = None) -> Tensor:
    """One KAN layer: ``(..., B, in) -> (..., B, out)``.

    The spline term comes from the basis (:meth:`kan_core.basis.Basis.spline_term`, one registry lookup):
    for bases linear in their coefficients one matmul over the flattened bases, ``(B, in * n) @ (in * n,
    out)``, with the masked, scaled coefficients ``mask * w_s * c`` as its weight (B-splines: the local
    contraction of :func:`kan_core.basis.bspline_contract`, native on CPU); the base term a second, small one.
    ``uniform`` tells the B-spline basis that the grid is uniform (``None``: inspect it).
    """
    mask = p["mask"]
    wb = mask * p["scale_base"]
    batched = x.dim() > 2 or p["coef"].dim() > 3
    y = BASIS_REGISTRY[spec.basis].spline_term(x, p, spec, mask * p["scale_sp"], uniform, batched)
    b = base_activation(x, spec)
    y = y + (b @ wb.transpose(-1, -2) if batched else F.linear(b, wb))
    return _affine(y, p, spec)


def layer_edges(x: Tensor, p: Params, spec: KANSpec, uniform: bool | None = None) -> Tensor:
    """Every edge's activation ``phi_oi(x_i)`` (post-mask, pre-affine): ``(..., B, in) -> (..., B, out, in)``.

    ``layer_edges(x).sum(-1)`` equals the layer's output before the node affine. The base activation is
    folded in as one more basis function, so each input's ``out`` edges are one small matmul
    ``(B, n + 1) @ (n + 1, out)``; the result is a ``(..., B, out, in)`` view of a contiguous
    ``(..., in, B, out)`` tensor, so reductions over ``B`` or ``in`` read it at full speed.
    """
    b = base_activation(x, spec)  # (..., B, in)
    mask = p["mask"]
    basis = BASIS_REGISTRY[spec.basis]
    if not basis.linear_in_coefficients:
        spline = basis.edge_values(x, p, spec, uniform)
        edges = p["scale_base"].unsqueeze(-3) * b.unsqueeze(-2) + p["scale_sp"].unsqueeze(-3) * spline
        return mask.unsqueeze(-3) * edges
    bf = basis.features(x, p, spec, uniform)  # (..., B, in, n); per-model grids may add leading dims
    lead = torch.broadcast_shapes(b.shape, bf.shape[:-1])
    feats = torch.cat(
        [b.unsqueeze(-1).expand(*lead, 1), bf.expand(*lead, bf.shape[-1])], -1
    )  # (..., B, in, n+1)
    w = torch.cat([p["scale_base"].unsqueeze(-1), p["scale_sp"].unsqueeze(-1) * p["coef"]], -1)
    w = (mask.unsqueeze(-1) * w).movedim(-3, -1)  # (..., in, n + 1, out)
    edges = torch.matmul(feats.transpose(-3, -2), w)  # (..., in, B, out)
    return edges.movedim(-3, -1)


def kan_forward(
    x: Tensor, layers: list[Params], spec: KANSpec, uniform: list[bool | None] | None = None
) -> Tensor:
    """A whole KAN: ``(..., B, d_0) -> (..., B, d_L)``; ``layers[l]`` holds layer ``l``'s tensors."""
    if len(layers) != spec.depth:
        raise ValueError(f"spec has {spec.depth} layers but {len(layers)} parameter sets were given")
    for l, p in enumerate(layers):
        x = layer_forward(x, p, spec, None if uniform is None else uniform[l])
    return x
