"""Mother wavelets for Wav-KAN edges ``phi(x) = w * psi((x - tau) / s)``."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .registry import Basis, register_basis

_MEXICAN_HAT_NORM = 2.0 / (math.sqrt(3.0) * math.pi**0.25)


def mexican_hat(t: Tensor) -> Tensor:
    """Ricker wavelet ``C (t^2 - 1) exp(-t^2 / 2)`` (sign as Wav-KAN)."""
    return _MEXICAN_HAT_NORM * (t * t - 1) * torch.exp(-0.5 * t * t)


def morlet(t: Tensor, omega0: float = 5.0) -> Tensor:
    """Real Morlet wavelet ``cos(omega0 t) exp(-t^2 / 2)``."""
    return torch.cos(omega0 * t) * torch.exp(-0.5 * t * t)


def dog(t: Tensor) -> Tensor:
    """First derivative of a Gaussian, ``-t exp(-t^2 / 2)``."""
    return -t * torch.exp(-0.5 * t * t)


WAVELET_FUNCTIONS = {"mexican_hat": mexican_hat, "morlet": morlet, "dog": dog}


class WaveletBasis(Basis):
    """Wav-KAN: ``coef = (s, tau, w)`` per edge and ``phi(x) = w psi((x - tau) / s)`` with the mother wavelet
    ``spec.wavelet``; not linear in its coefficients."""

    name = "wavelet"
    linear_in_coefficients = False
    reference_has_base = False

    def num_coefficients(self, spec) -> int:
        return 3

    def describe(self, spec) -> str:
        return f"wavelet={spec.wavelet}"

    def edge_values(self, x: Tensor, p, spec, uniform: bool | None = None) -> Tensor:
        c = p["coef"]
        s, tau, w = c[..., 0].unsqueeze(-3), c[..., 1].unsqueeze(-3), c[..., 2].unsqueeze(-3)
        t = (x.unsqueeze(-2) - tau) / s
        return w * WAVELET_FUNCTIONS[spec.wavelet](t)

    def spline_term(self, x: Tensor, p, spec, ms: Tensor, uniform: bool | None, batched: bool) -> Tensor:
        return (self.edge_values(x, p, spec) * ms.unsqueeze(-3)).sum(-1)

    def flat_features(self, x: Tensor, p, spec, uniform: bool | None = None) -> Tensor:
        raise ValueError("wavelet edges are not linear in their coefficients: no flat feature layout")

    def flat_weights(self, ms: Tensor, coef: Tensor) -> Tensor:
        raise ValueError("wavelet edges are not linear in their coefficients: no flat weight layout")

    def init_coefficients(self, spec, d_in: int, d_out: int, rand, **fk) -> Tensor:
        """Scale 1, translation uniform over ``grid_range``, weight ``U(-1, 1)``."""
        lo, hi = spec.grid_range
        coef = torch.empty(d_out, d_in, 3, **fk)
        coef[..., 0] = 1.0
        coef[..., 1] = lo + (hi - lo) * rand(d_out, d_in)
        coef[..., 2] = rand(d_out, d_in) * 2 - 1
        return coef

    def coefficient_init_stats(self, spec) -> tuple[list[float], list[float]]:
        lo, hi = spec.grid_range
        mean = [1.0, 0.5 * (lo + hi), 0.0]  # scale s, translation tau, weight w
        std = [0.1, (hi - lo) / math.sqrt(12.0), 1.0 / math.sqrt(3.0)]
        return mean, std


register_basis(WaveletBasis())
