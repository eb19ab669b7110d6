"""kan-core: fast Kolmogorov-Arnold Network layers, variants, runtime and pykan interop.

Names are imported lazily (PEP 562) so that ``import kan_core.cli`` -- and ``kan --help`` -- do not
import torch; ``from kan_core import KAN`` works as usual.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from ._version import distribution_version

if TYPE_CHECKING:
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
    from .stacked import StackedKAN

__version__ = distribution_version("kan-core", __file__)  # the repository's VERSION file

# public name -> submodule that defines it
_LAZY = {
    "KAN": ".model",
    "KANSpec": ".spec",
    "BASES": ".spec",
    "StackedKAN": ".stacked",
    "KANLayer": ".layers",
    "EdgeLayer": ".layers",
    "RBFKANLayer": ".layers",
    "ChebyshevKANLayer": ".layers",
    "LegendreKANLayer": ".layers",
    "GramKANLayer": ".layers",
    "WaveletKANLayer": ".layers",
}

__all__ = [
    "KAN",
    "KANSpec",
    "StackedKAN",
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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        # ``import kan_core; kan_core.functional`` keeps working for submodules
        if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
            return importlib.import_module(f".{name}", __name__)
        raise AttributeError(f"module 'kan_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
