"""The shared KAN layer: parameters of every edge, a forward through :mod:`kan_core.functional`."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from ..basis.registry import get_basis
from ..functional import layer_edges, layer_forward
from ..spec import KANSpec


def init_layer_params(
    spec: KANSpec,
    d_in: int,
    d_out: int,
    generator: torch.Generator | None = None,
    *,
    device: Any = None,
    dtype: torch.dtype | None = None,
) -> dict[str, Tensor]:
    """Initial tensors of one layer, named as in :meth:`EdgeLayer.params` (pykan's initialisation).

    ``w_b ~ U(-1, 1) / sqrt(d_in)``, ``w_s = 1 / sqrt(d_in)``, mask 1; the coefficients and extra tensors
    from the basis (:meth:`kan_core.basis.Basis.init_coefficients` / ``init_extras``): B-splines a uniform
    grid and the least-squares spline through small noise at the grid points (pykan's ``curve2coef``);
    wavelets scale 1, translation in the grid range, weight ``U(-1, 1)``; other bases small uniform
    coefficients. Draws from ``generator`` in a fixed order, so one generator state
    gives one result whether a :class:`EdgeLayer` or :func:`kan_core.batched.init_stacked` asks.
    """
    fk = {"device": device, "dtype": dtype}

    def rand(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=generator, **fk)

    basis = get_basis(spec.basis)
    p = {
        "scale_base": (rand(d_out, d_in) * 2 - 1) / math.sqrt(d_in),
        "scale_sp": torch.full((d_out, d_in), 1.0 / math.sqrt(d_in), **fk),
        "mask": torch.ones(d_out, d_in, **fk),
    }
    p["coef"] = basis.init_coefficients(spec, d_in, d_out, rand, **fk)
    p.update(basis.init_extras(spec, d_in, **fk))
    if spec.affine:
        p["node_scale"] = torch.ones(d_out, **fk)
        p["node_bias"] = torch.zeros(d_out, **fk)
    return p


class EdgeLayer(nn.Module):
    """A layer of ``in_features * out_features`` learnable univariate functions.

    Subclasses fix :attr:`basis`; everything else (parameters, forward, edges, save format) is shared.

    Args:
        in_features: ``d_in``; out_features: ``d_out``.
        spec: optional :class:`KANSpec` holding the basis hyper-parameters (its widths are ignored);
            otherwise keyword arguments such as ``grid_size``, ``spline_order``, ``degree`` build one.
        generator: ``torch.Generator`` for the initialisation (no global RNG is touched when given).
        params: tensors named as in :meth:`params` to copy in place of the initialisation (then nothing is
            drawn from any generator); every tensor of the layer must be given.

    Shapes:
        input ``(..., B, d_in)`` -> output ``(..., B, d_out)``.
    """

    basis: str = "bspline"

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        spec: KANSpec | None = None,
        generator: torch.Generator | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
        params: dict[str, Tensor] | None = None,
        **basis_kwargs: Any,
    ) -> None:
        super().__init__()
        if params is not None and generator is not None:
            raise TypeError("pass either params (no initialisation) or generator (for the initialisation), not both")
        if spec is None:
            spec = KANSpec((in_features, out_features), basis=self.basis, **basis_kwargs)
        else:
            if basis_kwargs:
                raise TypeError(f"pass either spec or basis keyword arguments, not both ({sorted(basis_kwargs)})")
            spec = spec.replace(widths=(in_features, out_features))
        if spec.basis != self.basis:
            raise ValueError(f"{type(self).__name__} needs basis={self.basis!r}, spec has {spec.basis!r}")
        basis = get_basis(spec.basis)
        self.spec = spec
        self.in_features, self.out_features = in_features, out_features
        fk = {"device": device, "dtype": dtype}
        n = spec.num_coefficients
        self.scale_base = nn.Parameter(torch.empty(out_features, in_features, **fk))
        self.scale_sp = nn.Parameter(torch.empty(out_features, in_features, **fk))
        self.coef = nn.Parameter(torch.empty(out_features, in_features, n, **fk))
        self.register_buffer("mask", torch.ones(out_features, in_features, **fk))
        self._extras = tuple(basis.extra_shapes(spec, in_features).items())
        for name, shape in self._extras:
            if name in basis.trainable_extras:
                setattr(self, name, nn.Parameter(torch.empty(shape, **fk)))
            else:
                self.register_buffer(name, torch.empty(shape, **fk))
        if spec.affine:
            self.node_scale = nn.Parameter(torch.ones(out_features, **fk))
            self.node_bias = nn.Parameter(torch.zeros(out_features, **fk))
        self._uniform: bool | None = basis.initial_uniform
        if params is None:
            self.reset_parameters(generator)
        else:
            missing = sorted(self.params().keys() - params.keys())
            if missing:
                raise ValueError(f"{type(self).__name__}(params=...) lacks {missing}")
            self.load_params(params)

    # ------------------------------------------------------------------ parameters
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """pykan's initialisation (see :func:`init_layer_params`)."""
        fresh = init_layer_params(
            self.spec, self.in_features, self.out_features, generator, device=self.coef.device, dtype=self.coef.dtype
        )
        with torch.no_grad():
            for name, t in fresh.items():
                getattr(self, name).copy_(t)
        self._uniform = get_basis(self.spec.basis).initial_uniform

    def params(self) -> dict[str, Tensor]:
        """The tensors :func:`kan_core.functional.layer_forward` reads (live, not copies)."""
        p = {"scale_base": self.scale_base, "scale_sp": self.scale_sp, "coef": self.coef, "mask": self.mask}
        for name, _ in self._extras:
            p[name] = getattr(self, name)
        for name in ("node_scale", "node_bias"):
            if hasattr(self, name):
                p[name] = getattr(self, name)
        return p

    def load_params(self, p: dict[str, Tensor]) -> None:
        """Copy tensors named as in :meth:`params` into this layer (shapes must match)."""
        own = self.params()
        for name, t in p.items():
            if name not in own:
                raise KeyError(f"{type(self).__name__} has no tensor {name!r}; it has {sorted(own)}")
            if tuple(t.shape) != tuple(own[name].shape):
                raise ValueError(f"{name}: expected shape {tuple(own[name].shape)}, got {tuple(t.shape)}")
            with torch.no_grad():
                own[name].copy_(t)
        if p.keys() & dict(self._extras).keys():
            self._uniform = get_basis(self.spec.basis).uniform_hint(own)

    # ------------------------------------------------------------------ compute
    def forward(self, x: Tensor) -> Tensor:
        return layer_forward(x, self.params(), self.spec, self._uniform)

    def edges(self, x: Tensor) -> Tensor:
        """Activation of every edge, ``(..., B, d_in) -> (..., B, d_out, d_in)`` (before the node affine)."""
        return layer_edges(x, self.params(), self.spec, self._uniform)

    def extra_repr(self) -> str:
        s = self.spec
        hp = get_basis(s.basis).describe(s)
        return f"{self.in_features}, {self.out_features}, {hp}" + (", affine=True" if s.affine else "")
