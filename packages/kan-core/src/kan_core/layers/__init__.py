"""KAN layers: one class per basis, all sharing :class:`EdgeLayer`."""

from ..basis.registry import get_basis
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

_GENERIC: dict[str, type[EdgeLayer]] = {}


def layer_class(basis: str) -> type[EdgeLayer]:
    """The layer class of a registered basis: the built-in class, or for a basis registered later a plain
    :class:`EdgeLayer` subclass fixing it (made once per name)."""
    if basis in LAYER_CLASSES:
        return LAYER_CLASSES[basis]
    get_basis(basis)  # unknown names fail here, naming the registered bases
    if basis not in _GENERIC:
        name = "".join(part.capitalize() for part in basis.replace("-", "_").split("_")) + "KANLayer"
        _GENERIC[basis] = type(name, (EdgeLayer,), {"basis": basis, "__module__": __name__})
    return _GENERIC[basis]


__all__ = [
    "layer_class",
    "EdgeLayer",
    "KANLayer",
    "RBFKANLayer",
    "ChebyshevKANLayer",
    "LegendreKANLayer",
    "GramKANLayer",
    "WaveletKANLayer",
    "LAYER_CLASSES",
]
