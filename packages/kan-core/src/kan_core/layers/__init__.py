"""KAN layers: one class per basis, all sharing :class:`EdgeLayer`."""

from .base import EdgeLayer
from .bspline import KANLayer
from .variants import ChebyshevKANLayer, GramKANLayer, LegendreKANLayer, RBFKANLayer, WaveletKANLayer

LAYER_CLASSES: dict[str, type[EdgeLayer]] = {
    "bspline": KANLayer,
    "rbf": RBFKANLayer,
    "chebyshev": ChebyshevKANLayer,
    "legendre": LegendreKANLayer,
    "gram": GramKANLayer,
    "wavelet": WaveletKANLayer,
}

__all__ = [
    "EdgeLayer",
    "KANLayer",
    "RBFKANLayer",
    "ChebyshevKANLayer",
    "LegendreKANLayer",
    "GramKANLayer",
    "WaveletKANLayer",
    "LAYER_CLASSES",
]
