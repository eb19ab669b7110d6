"""The shared KAN layer: parameters of every edge, a forward through :mod:`kan_core.functional`."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from ..basis import fit_coefficients, gram_beta_init, grid_is_uniform, uniform_grid
from ..functional import layer_edges, layer_forward
from ..spec import KANSpec


class EdgeLayer(nn.Module):
    """A layer of ``in_features * out_features`` learnable univariate functions.

    Subclasses fix :attr:`basis`; everything else (parameters, forward, edges, save format) is shared.

    Args:
        in_features: ``d_in``; out_features: ``d_out``.
        spec: optional :class:`KANSpec` holding the basis hyper-parameters (its widths are ignored);
            otherwise keyword arguments such as ``grid_size``, ``spline_order``, ``degree`` build one.
        generator: ``torch.Generator`` for the initialisation (no global RNG is touched when given).

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
        **basis_kwargs: Any,
    ) -> None:
        super().__init__()
        if spec is None:
            spec = KANSpec((in_features, out_features), basis=self.basis, **basis_kwargs)
        else:
            if basis_kwargs:
                raise TypeError(f"pass either spec or basis keyword arguments, not both ({sorted(basis_kwargs)})")
            spec = spec.replace(widths=(in_features, out_features))
        if spec.basis != self.basis:
            raise ValueError(f"{type(self).__name__} needs basis={self.basis!r}, spec has {spec.basis!r}")
        self.spec = spec
        self.in_features, self.out_features = in_features, out_features
        fk = {"device": device, "dtype": dtype}
        n = spec.num_coefficients
        self.scale_base = nn.Parameter(torch.empty(out_features, in_features, **fk))
        self.scale_sp = nn.Parameter(torch.empty(out_features, in_features, **fk))
        self.coef = nn.Parameter(torch.empty(out_features, in_features, n, **fk))
        self.register_buffer("mask", torch.ones(out_features, in_features, **fk))
        if spec.basis == "bspline":
            g = uniform_grid(in_features, spec.grid_size, spec.spline_order, spec.grid_range, **fk)
            self.register_buffer("grid", g)
        if spec.basis == "gram":
            self.beta = nn.Parameter(torch.empty(spec.degree, **fk))
        if spec.affine:
            self.node_scale = nn.Parameter(torch.ones(out_features, **fk))
            self.node_bias = nn.Parameter(torch.zeros(out_features, **fk))
        self._uniform: bool | None = True if spec.basis == "bspline" else None
        self.reset_parameters(generator)

    # ------------------------------------------------------------------ parameters
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """pykan's initialisation: ``w_b ~ U(-1, 1)/sqrt(d_in)``, ``w_s = 1/sqrt(d_in)``, small ``c``."""
        spec, d_in = self.spec, self.in_features
        dev, dt = self.coef.device, self.coef.dtype

        def rand(*shape: int) -> Tensor:
            return torch.rand(*shape, generator=generator, device=dev, dtype=dt)

        with torch.no_grad():
            self.scale_base.copy_((rand(*self.scale_base.shape) * 2 - 1) / math.sqrt(d_in))
            self.scale_sp.fill_(1.0 / math.sqrt(d_in))
            self.mask.fill_(1.0)
            if spec.basis == "bspline":
                g = uniform_grid(d_in, spec.grid_size, spec.spline_order, spec.grid_range, device=dev, dtype=dt)
                self.grid.copy_(g)
                self._uniform = True
                k = spec.spline_order
                pts = g[:, k:-k].T  # (G + 1, in)
                noise = (rand(spec.grid_size + 1, self.out_features, d_in) - 0.5) * 0.3 / spec.grid_size
                self.coef.copy_(fit_coefficients(pts, noise, g, k))
            elif spec.basis == "wavelet":
                lo, hi = spec.grid_range
                self.coef[..., 0].fill_(1.0)
                self.coef[..., 1].copy_(lo + (hi - lo) * rand(self.out_features, d_in))
                self.coef[..., 2].copy_(rand(self.out_features, d_in) * 2 - 1)
            else:
                self.coef.copy_((rand(*self.coef.shape) - 0.5) * 0.3 / self.coef.shape[-1])
            if spec.basis == "gram":
                self.beta.copy_(gram_beta_init(spec.degree, dtype=dt, device=dev))
            if spec.affine:
                self.node_scale.fill_(1.0)
                self.node_bias.fill_(0.0)

    def params(self) -> dict[str, Tensor]:
        """The tensors :func:`kan_core.functional.layer_forward` reads (live, not copies)."""
        p = {"scale_base": self.scale_base, "scale_sp": self.scale_sp, "coef": self.coef, "mask": self.mask}
        for name in ("grid", "beta", "node_scale", "node_bias"):
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
        if "grid" in p:
            self._uniform = grid_is_uniform(self.grid)

    # ------------------------------------------------------------------ compute
    def forward(self, x: Tensor) -> Tensor:
        return layer_forward(x, self.params(), self.spec, self._uniform)

    def edges(self, x: Tensor) -> Tensor:
        """Activation of every edge, ``(..., B, d_in) -> (..., B, d_out, d_in)`` (before the node affine)."""
        return layer_edges(x, self.params(), self.spec, self._uniform)

    def extra_repr(self) -> str:
        s = self.spec
        hp = {
            "bspline": f"grid_size={s.grid_size}, spline_order={s.spline_order}",
            "rbf": f"num_centers={s.grid_size}",
            "wavelet": f"wavelet={s.wavelet}",
        }.get(s.basis, f"degree={s.degree}")
        return f"{self.in_features}, {self.out_features}, {hp}" + (", affine=True" if s.affine else "")
