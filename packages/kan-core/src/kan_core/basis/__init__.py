"""Univariate bases of KAN edges: every function maps inputs ``(..., B, in)`` to ``(..., B, in, n)``."""

from .bspline import (
    bspline_basis,
    bspline_basis_reference,
    bspline_contract,
    bspline_derivative_reference,
    bspline_features,
    extend_grid,
    fit_coefficients,
    fit_noise_coefficients,
    grid_is_uniform,
    uniform_grid,
)
from .polynomial import chebyshev_basis, gram_basis, gram_beta_init, legendre_basis
from .rbf import rbf_basis, rbf_centers
from .wavelet import WAVELET_FUNCTIONS, dog, mexican_hat, morlet

__all__ = [
    "bspline_basis",
    "bspline_basis_reference",
    "bspline_contract",
    "bspline_features",
    "bspline_derivative_reference",
    "extend_grid",
    "fit_coefficients",
    "fit_noise_coefficients",
    "grid_is_uniform",
    "uniform_grid",
    "chebyshev_basis",
    "legendre_basis",
    "gram_basis",
    "gram_beta_init",
    "rbf_basis",
    "rbf_centers",
    "mexican_hat",
    "morlet",
    "dog",
    "WAVELET_FUNCTIONS",
]
