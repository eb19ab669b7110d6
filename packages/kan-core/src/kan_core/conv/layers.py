"""KA-convolution modules: KANConv2d (B-spline), FastKANConv2d (RBF), KALNConv2d (Legendre), KAGNConv2d (Gram)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..layers import LAYER_CLASSES, EdgeLayer
from ..spec import KANSpec
from .functional import as_pair, ka_conv2d

__all__ = ["KAConv2d", "KANConv2d", "FastKANConv2d", "KALNConv2d", "KAGNConv2d"]


class KAConv2d(nn.Module):
    """A Kolmogorov-Arnold 2-D convolution (Bodner et al., 2024; Drokin, 2024).

    ``y[b, o, i, j] = sum_{c, a, b'} phi_{o, c, a, b'}(x[b, c, s*i + d*a - p, s*j + d*b' - p])``: the KAN
    layer :attr:`layer` (``C_in * kh * kw -> C_out``, one univariate function per kernel tap and channel
    pair) applied to every patch. Subclasses fix the basis.

    Args:
        in_channels, out_channels: channel counts.
        kernel_size, stride, padding, dilation: as :class:`torch.nn.Conv2d` (zero padding).
        spec: optional :class:`KANSpec` with the basis hyper-parameters; otherwise keywords
            (``grid_size``, ``spline_order``, ``degree``, ``grid_range`` ...).
        generator: ``torch.Generator`` for the initialisation.

    Shapes: ``(B, C_in, H, W) -> (B, C_out, H', W')``; ``layer.coef: (C_out, C_in*kh*kw, n)``.
    """

    basis: str = "bspline"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        *,
        spec: KANSpec | None = None,
        generator: torch.Generator | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
        **basis_kwargs: Any,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.stride = as_pair(kernel_size), as_pair(stride)
        self.padding, self.dilation = as_pair(padding), as_pair(dilation)
        n_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        if spec is None:
            spec = KANSpec((n_in, self.out_channels), basis=self.basis, **basis_kwargs)
        elif basis_kwargs:
            raise TypeError(f"pass either spec or basis keyword arguments, not both ({sorted(basis_kwargs)})")
        if spec.basis != self.basis:
            raise ValueError(f"{type(self).__name__} needs basis={self.basis!r}, spec has {spec.basis!r}")
        self.spec = spec.replace(widths=(n_in, self.out_channels))
        self.layer: EdgeLayer = LAYER_CLASSES[self.basis](
            n_in, self.out_channels, spec=self.spec, generator=generator, device=device, dtype=dtype
        )

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects (B, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        return ka_conv2d(
            x,
            self.layer.params(),
            self.spec,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            uniform=self.layer._uniform,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, basis={self.basis}"
        )


class KANConv2d(KAConv2d):
    """KA-convolution with pykan B-splines (``grid_size``, ``spline_order``)."""

    basis = "bspline"


class FastKANConv2d(KAConv2d):
    """KA-convolution with Gaussian RBFs (FastKAN; ``grid_size`` centres)."""

    basis = "rbf"


class KALNConv2d(KAConv2d):
    """KA-convolution with Legendre polynomials of ``tanh(x)`` (KALN; ``degree``)."""

    basis = "legendre"


class KAGNConv2d(KAConv2d):
    """KA-convolution with Gram polynomials of ``tanh(x)`` (KAGN; ``degree``, learnable ``beta``)."""

    basis = "gram"
