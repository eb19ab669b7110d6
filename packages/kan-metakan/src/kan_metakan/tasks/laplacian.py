"""Forward Laplacian of a KAN: value, gradient and Laplacian in one pass, no nested autograd.

A KAN layer is ``y_o = sum_i phi_oi(x_i)``. Carrying, for every unit, its gradient ``J (N, in, d)`` and
Laplacian ``L (N, in)`` with respect to the network input ``x0 (N, d)``:

    J_out[n, o] = sum_i phi'_oi(x_ni) J[n, i]
    L_out[n, o] = sum_i phi''_oi(x_ni) |J[n, i]|^2 + phi'_oi(x_ni) L[n, i]

with ``J = I``, ``L = 0`` at the input. ``phi' = mask (w_b b' + w_s sum_j c_j B_j')`` (likewise ``phi''``)
needs only the basis derivatives: for uniform B-splines of order ``k`` and knot spacing ``h``,
``B'_{j,k} = (B_{j,k-1} - B_{j+1,k-1}) / h`` and
``B''_{j,k} = (B_{j,k-2} - 2 B_{j+1,k-2} + B_{j+2,k-2}) / h^2``
(kan-core's lower-order bases, on the same knots); for Gaussian RBFs ``B = exp(-s^2)``, ``s = (x - c) / w``:
``B' = -2 s B / w``, ``B'' = (4 s^2 - 2) B / w^2``.

Training a PINN then needs one ordinary backward through this graph instead of ``d + 1`` nested
backward passes (the autograd Laplacian of :func:`kan_metakan.tasks.pde.laplacian`), which makes the
``d = 20`` experiments CPU-sized. Works for any model exposing kan-core layer tensors (:class:`kan_core.KAN`
and :class:`kan_metakan.MetaKAN` via ``layer_params()``); ``spec.affine`` is not supported.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from kan_core.basis import get_basis
from kan_core.spec import KANSpec
from torch import Tensor

__all__ = ["has_forward_laplacian", "basis_derivatives", "base_derivatives", "kan_value_grad_laplacian"]


def has_forward_laplacian(spec: KANSpec) -> bool:
    """Whether the basis of ``spec`` has closed-form derivatives (:attr:`kan_core.basis.Basis.has_derivatives`:
    B-splines and RBFs among the built-in bases)."""
    return get_basis(spec.basis).has_derivatives


def base_derivatives(x: Tensor, spec: KANSpec) -> tuple[Tensor, Tensor, Tensor]:
    """``b(x), b'(x), b''(x)`` of the residual activation, each shaped like ``x``."""
    if spec.base_activation == "silu":
        s = torch.sigmoid(x)
        ds = s * (1 - s)
        return x * s, s + x * ds, ds * (2 + x * (1 - 2 * s))
    if spec.base_activation == "identity":
        return x, torch.ones_like(x), torch.zeros_like(x)
    z = torch.zeros_like(x)
    return z, z, z


def basis_derivatives(x: Tensor, p: dict[str, Tensor], spec: KANSpec) -> tuple[Tensor, Tensor, Tensor]:
    """Basis values and first/second derivatives at ``x (N, in)``, each ``(N, in, n)``."""
    basis = get_basis(spec.basis)
    if not basis.has_derivatives:
        raise ValueError(f"the forward Laplacian needs a basis with closed-form derivatives, got {spec.basis!r}")
    return basis.derivatives(x, p, spec)


def kan_value_grad_laplacian(
    x: Tensor, layers: list[dict[str, Tensor]], spec: KANSpec
) -> tuple[Tensor, Tensor, Tensor]:
    """``(y (N, out), grad (N, out, d), lap (N, out))`` of the KAN ``layers`` at ``x (N, d)``.

    Differentiable (first order) in the layer tensors, so a PINN loss on ``lap`` trains with one backward.
    """
    if spec.affine:
        raise ValueError("the forward Laplacian does not support node affines (spec.affine)")
    h, jac, lap = x, None, None
    for p in layers:
        b0, b1, b2 = basis_derivatives(h, p, spec)  # (N, in, n)
        a0, a1, a2 = base_derivatives(h, spec)  # (N, in)
        mask = p["mask"]
        wb, ws = mask * p["scale_base"], mask * p["scale_sp"]  # (out, in)
        c = p["coef"] * ws.unsqueeze(-1)  # (out, in, n)
        y = torch.einsum("nij,oij->no", b0, c) + F.linear(a0, wb)
        phi1 = torch.einsum("nij,oij->noi", b1, c) + a1.unsqueeze(1) * wb  # (N, out, in)
        phi2 = torch.einsum("nij,oij->noi", b2, c) + a2.unsqueeze(1) * wb
        if jac is None:  # input layer: J = I, L = 0
            jac_out, lap_out = phi1, phi2.sum(-1)
        else:
            jac_out = torch.einsum("noi,nid->nod", phi1, jac)
            lap_out = torch.einsum("noi,ni->no", phi2, jac.square().sum(-1)) + torch.einsum(
                "noi,ni->no", phi1, lap
            )
        h, jac, lap = y, jac_out, lap_out
    return h, jac, lap
