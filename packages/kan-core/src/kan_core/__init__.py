"""kan-core: fast Kolmogorov-Arnold Network layers, variants, runtime and pykan interop."""

from .layers import (
    ChebyshevKANLayer,
    EdgeLayer,
    GramKANLayer,
    KANLayer,
    LegendreKANLayer,
    RBFKANLayer,
    WaveletKANLayer,
)
from .model import KAN
from .spec import BASES, KANSpec

__version__ = "0.1.0"

__all__ = [
    "KAN",
    "KANSpec",
    "KANLayer",
    "EdgeLayer",
    "RBFKANLayer",
    "ChebyshevKANLayer",
    "LegendreKANLayer",
    "GramKANLayer",
    "WaveletKANLayer",
    "BASES",
    "__version__",
]
