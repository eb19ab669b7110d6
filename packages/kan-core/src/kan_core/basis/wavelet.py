"""Mother wavelets for Wav-KAN edges ``phi(x) = w * psi((x - tau) / s)``."""

from __future__ import annotations

import math

import torch
from torch import Tensor

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
