"""The frozen description of a KAN architecture, shared by every package."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

BASES = ("bspline", "rbf", "chebyshev", "legendre", "gram", "wavelet")
WAVELETS = ("mexican_hat", "morlet", "dog")


@dataclass(frozen=True)
class KANSpec:
    """Architecture of a KAN: layer widths, the univariate basis and its hyper-parameters.

    Args:
        widths: neurons per layer ``(d_0, d_1, ..., d_L)``; layer ``l`` maps ``d_l -> d_{l+1}``.
        basis: one of :data:`BASES`.
        grid_size: ``G``, number of grid intervals (B-spline) or of centres (RBF).
        spline_order: ``k`` of the B-splines (``k >= 1``).
        grid_range: domain ``(lo, hi)`` of the initial grid / RBF centres.
        degree: polynomial degree for ``chebyshev``, ``legendre`` and ``gram``.
        wavelet: wavelet family for ``basis="wavelet"`` (one of :data:`WAVELETS`).
        base_activation: residual activation ``b(x)`` (``"silu"``, ``"identity"`` or ``"zero"``).
        affine: if true every output neuron carries pykan's node affine ``y -> s*y + t``.
    """

    widths: tuple[int, ...]
    basis: str = "bspline"
    grid_size: int = 5
    spline_order: int = 3
    grid_range: tuple[float, float] = (-1.0, 1.0)
    degree: int = 3
    wavelet: str = "mexican_hat"
    base_activation: str = "silu"
    affine: bool = False
    extra: tuple[tuple[str, Any], ...] = field(default=())

    def __post_init__(self) -> None:
        widths = tuple(int(w) for w in self.widths)
        object.__setattr__(self, "widths", widths)
        object.__setattr__(self, "grid_range", (float(self.grid_range[0]), float(self.grid_range[1])))
        if len(widths) < 2 or any(w < 1 for w in widths):
            raise ValueError(f"KANSpec.widths must list at least two positive sizes, got {self.widths!r}")
        if self.basis not in BASES:
            raise ValueError(f"KANSpec.basis must be one of {BASES}, got {self.basis!r}")
        if self.grid_size < 1:
            raise ValueError(f"KANSpec.grid_size must be >= 1, got {self.grid_size}")
        if self.spline_order < 1:
            raise ValueError(f"KANSpec.spline_order must be >= 1, got {self.spline_order}")
        if not self.grid_range[0] < self.grid_range[1]:
            raise ValueError(f"KANSpec.grid_range must be increasing, got {self.grid_range}")
        if self.degree < 0:
            raise ValueError(f"KANSpec.degree must be >= 0, got {self.degree}")
        if self.wavelet not in WAVELETS:
            raise ValueError(f"KANSpec.wavelet must be one of {WAVELETS}, got {self.wavelet!r}")
        if self.base_activation not in ("silu", "identity", "zero"):
            raise ValueError(f"KANSpec.base_activation must be silu/identity/zero, got {self.base_activation!r}")

    @property
    def depth(self) -> int:
        """Number of layers ``L``."""
        return len(self.widths) - 1

    @property
    def num_coefficients(self) -> int:
        """Length of each edge's coefficient vector ``c``."""
        if self.basis == "bspline":
            return self.grid_size + self.spline_order
        if self.basis == "rbf":
            return self.grid_size
        if self.basis in ("chebyshev", "legendre", "gram"):
            return self.degree + 1
        return 3  # wavelet: (scale, translation, weight)

    @property
    def edge_feature_dim(self) -> int:
        """Length of ``[w_b, w_s, c_0 ... c_{n-1}]``."""
        return 2 + self.num_coefficients

    def layer_shapes(self) -> list[tuple[int, int]]:
        """``[(out, in), ...]`` per layer, torch layout."""
        return [(self.widths[i + 1], self.widths[i]) for i in range(self.depth)]

    def num_edges(self) -> int:
        return sum(o * i for o, i in self.layer_shapes())

    def replace(self, **changes: Any) -> KANSpec:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["widths"] = list(self.widths)
        d["grid_range"] = list(self.grid_range)
        d["extra"] = [list(kv) for kv in self.extra]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KANSpec:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown KANSpec fields {sorted(unknown)}; expected a subset of {sorted(names)}")
        d = dict(d)
        if "extra" in d:
            d["extra"] = tuple(tuple(kv) for kv in d["extra"])
        if "grid_range" in d:
            d["grid_range"] = tuple(d["grid_range"])
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> KANSpec:
        return cls.from_dict(json.loads(text))
