"""Orthogonal-polynomial bases on ``tanh(x)`` in ``[-1, 1]``: Chebyshev, Legendre (KALN), Gram (KAGN).

The input is squashed with ``tanh`` (as ChebyKAN does) so that the recurrences stay bounded for any
``x``; KALN/KAGN normalise by batch statistics instead, which makes a model's output depend on its
batch: we avoid that.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .registry import Basis, register_basis


def chebyshev_basis(x: Tensor, degree: int) -> Tensor:
    """``T_0 .. T_degree`` of ``tanh(x)``; ``(..., B, in) -> (..., B, in, degree + 1)``."""
    t = torch.tanh(x)
    out = [torch.ones_like(t)]
    if degree >= 1:
        out.append(t)
    for _ in range(2, degree + 1):
        out.append(2 * t * out[-1] - out[-2])
    return torch.stack(out, -1)


def legendre_basis(x: Tensor, degree: int) -> Tensor:
    """``P_0 .. P_degree`` of ``tanh(x)`` (Bonnet's recursion); ``(..., B, in, degree + 1)``."""
    t = torch.tanh(x)
    out = [torch.ones_like(t)]
    if degree >= 1:
        out.append(t)
    for n in range(1, degree):
        out.append(((2 * n + 1) * t * out[-1] - n * out[-2]) / (n + 1))
    return torch.stack(out, -1)


def gram_beta_init(degree: int, dtype=None, device=None) -> Tensor:
    """Initial Gram recursion coefficients ``beta_n = n^2 / (4 n^2 - 1)`` (monic Legendre), ``(degree,)``."""
    n = torch.arange(1, degree + 1, dtype=dtype or torch.get_default_dtype(), device=device)
    return n * n / (4 * n * n - 1)


def gram_basis(x: Tensor, beta: Tensor, degree: int) -> Tensor:
    """Gram polynomials with learnable recursion ``P_{n+1} = t P_n - beta_n P_{n-1}`` of ``t = tanh(x)``.

    Shapes: ``x: (..., B, in)``, ``beta: (..., degree)`` -> ``(..., B, in, degree + 1)``.
    """
    t = torch.tanh(x)
    out = [torch.ones_like(t)]
    if degree >= 1:
        out.append(t)
    for n in range(1, degree):
        b = beta[..., n - 1, None, None] if beta.dim() > 1 else beta[n - 1]
        out.append(t * out[-1] - b * out[-2])
    # per-model beta broadcasts the higher polynomials against shared inputs: bring all to one shape
    shape = torch.broadcast_shapes(*(p.shape for p in out))
    return torch.stack([p.expand(shape) for p in out], -1)


class _PolynomialBasis(Basis):
    """Polynomials of degree ``0 .. spec.degree`` of ``tanh(x)``: ``n = degree + 1``."""

    def num_coefficients(self, spec) -> int:
        return spec.degree + 1


class ChebyshevBasis(_PolynomialBasis):
    """ChebyKAN (no base branch in the reference implementation)."""

    name = "chebyshev"
    reference_has_base = False

    def features(self, x: Tensor, p, spec, uniform: bool | None = None) -> Tensor:
        return chebyshev_basis(x, spec.degree)


class LegendreBasis(_PolynomialBasis):
    """KALN's Legendre polynomials."""

    name = "legendre"

    def features(self, x: Tensor, p, spec, uniform: bool | None = None) -> Tensor:
        return legendre_basis(x, spec.degree)


class GramBasis(_PolynomialBasis):
    """KAGN's Gram polynomials with a trainable recursion ``beta (degree,)`` per layer."""

    name = "gram"
    trainable_extras = frozenset({"beta"})

    def extra_shapes(self, spec, d_in: int) -> dict[str, tuple[int, ...]]:
        return {"beta": (spec.degree,)}

    def features(self, x: Tensor, p, spec, uniform: bool | None = None) -> Tensor:
        return gram_basis(x, p["beta"], spec.degree)

    def init_extras(self, spec, d_in: int, **fk) -> dict[str, Tensor]:
        return {"beta": gram_beta_init(spec.degree, **fk)}


register_basis(ChebyshevBasis())
register_basis(LegendreBasis())
register_basis(GramBasis())
