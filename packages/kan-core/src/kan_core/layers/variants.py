"""The common KAN variants; each only fixes the basis of :class:`EdgeLayer`."""

from __future__ import annotations

from .base import EdgeLayer


class RBFKANLayer(EdgeLayer):
    """FastKAN (Li, 2024): Gaussian RBFs at ``grid_size`` centres over ``grid_range``.

    Shapes: ``coef: (out, in, grid_size)``.
    """

    basis = "rbf"


class ChebyshevKANLayer(EdgeLayer):
    """ChebyKAN: Chebyshev polynomials ``T_0..T_degree`` of ``tanh(x)``. ``coef: (out, in, degree + 1)``."""

    basis = "chebyshev"


class LegendreKANLayer(EdgeLayer):
    """KALN: Legendre polynomials ``P_0..P_degree`` of ``tanh(x)``. ``coef: (out, in, degree + 1)``."""

    basis = "legendre"


class GramKANLayer(EdgeLayer):
    """KAGN: Gram polynomials of ``tanh(x)`` with a learnable recursion ``beta: (degree,)`` per layer."""

    basis = "gram"


class WaveletKANLayer(EdgeLayer):
    """Wav-KAN: ``phi(x) = w psi((x - tau) / s)`` per edge; ``coef[..., :] = (s, tau, w)``, ``(out, in, 3)``."""

    basis = "wavelet"
