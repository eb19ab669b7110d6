"""Univariate bases of KAN edges: every function maps inputs ``(..., B, in)`` to ``(..., B, in, n)``.

Each basis is one :class:`Basis` object in :data:`BASIS_REGISTRY` (``get_basis(spec.basis)``); importing
this package registers the built-in ones.
"""

from .bspline import (
    BSplineBasis,
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
from .polynomial import (
    ChebyshevBasis,
    GramBasis,
    LegendreBasis,
    chebyshev_basis,
    gram_basis,
    gram_beta_init,
    legendre_basis,
)
from .rbf import RBFBasis, rbf_basis, rbf_centers
from .registry import BASIS_REGISTRY, Basis, basis_names, get_basis, register_basis
from .wavelet import WAVELET_FUNCTIONS, WaveletBasis, dog, mexican_hat, morlet

__all__ = [
    "Basis",
    "BASIS_REGISTRY",
    "register_basis",
    "get_basis",
    "basis_names",
    "BSplineBasis",
    "RBFBasis",
    "ChebyshevBasis",
    "LegendreBasis",
    "GramBasis",
    "WaveletBasis",
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
