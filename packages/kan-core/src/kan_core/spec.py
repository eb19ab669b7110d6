"""The frozen description of a KAN architecture, shared by every package."""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import operator
from dataclasses import dataclass, field
from typing import Any

from .basis.registry import BASIS_REGISTRY, basis_names, get_basis

#: The built-in bases (the registry, :func:`kan_core.basis.basis_names`, may hold more).
BASES = ("bspline", "rbf", "chebyshev", "legendre", "gram", "wavelet")
WAVELETS = ("mexican_hat", "morlet", "dog")


@dataclass(frozen=True)
class KANSpec:
    """Architecture of a KAN: layer widths, the univariate basis and its hyper-parameters.

    Args:
        widths: neurons per layer ``(d_0, d_1, ..., d_L)``; layer ``l`` maps ``d_l -> d_{l+1}``.
        basis: a registered basis name (:func:`kan_core.basis.basis_names`; built in: :data:`BASES`).
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
        object.__setattr__(self, "widths", _int_tuple(self.widths))
        for name in ("grid_size", "spline_order", "degree"):
            object.__setattr__(self, name, _int(getattr(self, name), f"KANSpec.{name}"))
        object.__setattr__(self, "grid_range", _range(self.grid_range))
        widths = self.widths
        if len(widths) < 2 or any(w < 1 for w in widths):
            raise ValueError(f"KANSpec.widths must list at least two positive sizes, got {self.widths!r}")
        for name in ("basis", "wavelet", "base_activation"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"KANSpec.{name} must be a string, got {getattr(self, name)!r}")
        if self.basis not in BASIS_REGISTRY:
            raise ValueError(f"KANSpec.basis must be one of {basis_names()}, got {self.basis!r}")
        if self.grid_size < 1:
            raise ValueError(f"KANSpec.grid_size must be >= 1, got {self.grid_size}")
        if self.spline_order < 1:
            raise ValueError(f"KANSpec.spline_order must be >= 1, got {self.spline_order}")
        if self.degree < 0:
            raise ValueError(f"KANSpec.degree must be >= 0, got {self.degree}")
        if self.wavelet not in WAVELETS:
            raise ValueError(f"KANSpec.wavelet must be one of {WAVELETS}, got {self.wavelet!r}")
        if self.base_activation not in ("silu", "identity", "zero"):
            raise ValueError(f"KANSpec.base_activation must be silu/identity/zero, got {self.base_activation!r}")
        if not isinstance(self.affine, bool):
            raise TypeError(f"KANSpec.affine must be True or False, got {self.affine!r}")

    @property
    def depth(self) -> int:
        """Number of layers ``L``."""
        return len(self.widths) - 1

    @property
    def num_coefficients(self) -> int:
        """Length of each edge's coefficient vector ``c``."""
        return get_basis(self.basis).num_coefficients(self)

    @property
    def edge_feature_dim(self) -> int:
        """Length of ``[w_b, w_s, c_0 ... c_{n-1}]``."""
        return 2 + self.num_coefficients

    def layer_shapes(self) -> list[tuple[int, int]]:
        """``[(out, in), ...]`` per layer, torch layout."""
        return [(self.widths[i + 1], self.widths[i]) for i in range(self.depth)]

    def param_shapes(self) -> list[dict[str, tuple[int, ...]]]:
        """Per-layer tensor shapes of a model of this spec (names as ``EdgeLayer.params``), computed
        without allocating anything: ``coef (out, in, n)``, ``grid (in, G + 2k + 1)``, ``beta (degree,)``...
        """
        basis = get_basis(self.basis)
        shapes = []
        for o, i in self.layer_shapes():
            p: dict[str, tuple[int, ...]] = {
                "scale_base": (o, i),
                "scale_sp": (o, i),
                "coef": (o, i, self.num_coefficients),
                "mask": (o, i),
            }
            p.update(basis.extra_shapes(self, i))
            if self.affine:
                p["node_scale"] = (o,)
                p["node_bias"] = (o,)
            shapes.append(p)
        return shapes

    def num_parameters(self) -> int:
        """Number of scalars in all of :meth:`param_shapes` (what a model of this spec allocates)."""
        return sum(math.prod(s) for p in self.param_shapes() for s in p.values())

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
        if not isinstance(d, dict):
            raise TypeError(f"a KANSpec dict is needed, got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown KANSpec fields {sorted(unknown)}; expected a subset of {sorted(names)}")
        d = dict(d)
        if "extra" in d:
            if not isinstance(d["extra"], (list, tuple)) or not all(
                isinstance(kv, (list, tuple)) and len(kv) == 2 for kv in d["extra"]
            ):
                raise TypeError(f"KANSpec.extra must be a list of [key, value] pairs, got {d['extra']!r}")
            d["extra"] = tuple(tuple(kv) for kv in d["extra"])
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> KANSpec:
        return cls.from_dict(json.loads(text))


def _int(value: Any, name: str) -> int:
    """``value`` as an int: ints, numpy/torch integer scalars and integral floats (``5.0``) pass;
    ``2.5``, ``"5"`` and booleans do not."""
    if isinstance(value, (bool, str, bytes)):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    try:
        return operator.index(value)
    except TypeError:
        pass
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if not math.isfinite(float(value)) or float(value) != int(value):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(value)


def _int_tuple(widths: Any) -> tuple[int, ...]:
    if isinstance(widths, (str, bytes)) or not hasattr(widths, "__iter__"):
        raise TypeError(f"KANSpec.widths must be a list of integers such as [2, 5, 1], got {widths!r}")
    return tuple(_int(w, f"KANSpec.widths[{k}]") for k, w in enumerate(widths))


def _range(grid_range: Any) -> tuple[float, float]:
    if isinstance(grid_range, (str, bytes)) or not hasattr(grid_range, "__len__") or len(grid_range) != 2:
        raise TypeError(f"KANSpec.grid_range must be a pair (lo, hi), got {grid_range!r}")
    lo, hi = grid_range
    for v in (lo, hi):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)):
            raise ValueError(f"KANSpec.grid_range must hold two finite numbers, got {grid_range!r}")
    if not float(lo) < float(hi):
        raise ValueError(f"KANSpec.grid_range must be increasing, got {grid_range!r}")
    return float(lo), float(hi)
