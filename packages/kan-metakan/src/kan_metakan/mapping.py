"""How a generated weight vector ``w in R^d`` maps onto kan-core's per-edge tensors.

kan-core computes ``phi(x) = mask (w_b b(x) + w_s sum_j c_j B_j(x))`` (wavelets: ``w_s * w psi((x-tau)/s)``).
The paper's ``w`` holds the base weight and the coefficients; ``w_s`` is redundant with the coefficients
(any ``w_s`` can be absorbed into ``c``), so MetaKAN does not generate it. We fix it, non-trainable, to
pykan's initial value ``1/sqrt(d_in)`` and likewise divide the generated base weight by ``sqrt(d_in)``:
one meta-learner serves layers of different fan-in (clusters), and this fan-in normalisation lets it emit
weights of the same scale for all of them while materialised models look like pykan-initialised ones.

=============  =====================  ===============================================================
basis          d                      layout of ``w``
=============  =====================  ===============================================================
bspline        G + k + 1              ``[w_b, c_1 .. c_{G+k}]``
rbf            c + 1 (c = grid_size)  ``[w_b, c_1 .. c_c]``
legendre/gram  degree + 2             ``[w_b, c_0 .. c_degree]``
chebyshev      degree + 1             ``[c_0 .. c_degree]`` (no base term: ``w_b = 0``)
wavelet        3                      ``[s, tau, w]`` (no base term: ``w_b = 0``)
=============  =====================  ===============================================================

The Gram recursion ``beta`` is a fixed buffer (monic-Legendre values), not a generated or trained tensor.
"""

from __future__ import annotations

import math

import torch
from kan_core.basis import get_basis
from kan_core.spec import KANSpec
from torch import Tensor

__all__ = ["weight_dim", "has_base", "split_weights", "init_targets", "plain_init_targets"]

#: Standard deviation of the generated base weight across edges at initialisation: that of U(-1, 1),
#: pykan's ``scale_base`` distribution (before the 1/sqrt(d_in) factor).
BASE_STD = 1.0 / math.sqrt(3.0)
#: Standard deviation of generated spline / polynomial coefficients across edges at initialisation.
COEF_STD = 0.1


def has_base(spec: KANSpec) -> bool:
    """Whether ``w`` carries a base weight ``w_b``: when the variant's reference implementation has a base
    branch (:attr:`kan_core.basis.Basis.reference_has_base`; all built-in bases but Chebyshev and wavelets)."""
    return get_basis(spec.basis).reference_has_base


def weight_dim(spec: KANSpec) -> int:
    """``d``: the length of one activation's generated weight vector."""
    return spec.num_coefficients + (1 if has_base(spec) else 0)


def split_weights(w: Tensor, spec: KANSpec, d_in: int) -> tuple[Tensor, Tensor]:
    """``w (..., d) -> (scale_base (...), coef (..., n))`` with the fan-in normalisation of the base weight."""
    if w.shape[-1] != weight_dim(spec):
        raise ValueError(
            f"generated weights have length {w.shape[-1]}, basis {spec.basis!r} needs {weight_dim(spec)}"
        )
    if has_base(spec):
        return w[..., 0] / math.sqrt(d_in), w[..., 1:]
    return torch.zeros_like(w[..., 0]), w


def init_targets(spec: KANSpec, dtype=None, device=None) -> tuple[Tensor, Tensor]:
    """Mean and across-edge standard deviation of every component of ``w`` at initialisation, ``(d,), (d,)``."""
    stats = get_basis(spec.basis).coefficient_init_stats(spec)
    if stats is not None:  # components of different roles (wavelets: scale s, translation tau, weight w)
        mean, std = stats
        if has_base(spec):
            mean, std = [0.0, *mean], [BASE_STD, *std]
    else:
        n = spec.num_coefficients
        mean = [0.0] * weight_dim(spec)
        # without a base term (Chebyshev) the polynomial carries the whole function: half the spread keeps
        # the initial function scale close to a pykan-initialised ChebyKAN's (whose base term dominates)
        cstd = COEF_STD if has_base(spec) else 0.5 * COEF_STD
        std = ([BASE_STD] if has_base(spec) else []) + [cstd] * n
    return torch.tensor(mean, dtype=dtype, device=device), torch.tensor(std, dtype=dtype, device=device)


def plain_init_targets(spec: KANSpec, edges: int = 4096, dtype=None, device=None) -> tuple[Tensor, Tensor]:
    """Mean and across-edge standard deviation of every component of ``w`` in a *plain* kan-core layer at
    initialisation, ``(d,), (d,)``: the base weight ``U(-1, 1)`` (``BASE_STD``, before the fan-in factor,
    as :func:`split_weights` applies it) and each coefficient's statistics over ``edges`` edges drawn by
    the basis' own :meth:`~kan_core.basis.Basis.init_coefficients` from a fixed local generator.

    Calibrating a meta-learner to these targets makes generated weights start distributed as the plain
    twin's (B-splines ~0.025, RBF ``0.3 / (sqrt(12) c)``, Legendre / Gram ``0.3 / (sqrt(12) (degree + 1))``),
    instead of :data:`COEF_STD` for every basis (4-6 times larger); the per-edge statistics do not depend
    on the fan-in, so one target serves every layer of a cluster.
    """
    g = torch.Generator().manual_seed(0)
    side = max(2, math.isqrt(edges))

    def rand(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=g, dtype=torch.float64)

    coef = get_basis(spec.basis).init_coefficients(spec, side, side, rand, dtype=torch.float64)
    c = coef.reshape(-1, coef.shape[-1])  # (edges, n)
    mean, std = c.mean(0), c.std(0)
    if has_base(spec):
        mean = torch.cat([mean.new_zeros(1), mean])
        std = torch.cat([mean.new_full((1,), BASE_STD), std])
    return mean.to(dtype=dtype or torch.get_default_dtype(), device=device), std.to(
        dtype=dtype or torch.get_default_dtype(), device=device
    )
