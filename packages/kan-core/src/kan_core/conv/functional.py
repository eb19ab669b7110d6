"""Functional KA-convolution: ``y[b, o, p] = sum_{c, a, b'} phi_{o, (c, a, b')}(x[b, c, p + (a, b')])``.

A KA-convolution is one KAN layer with ``in = C_in * kh * kw`` inputs (the patch features, ordered as
:func:`torch.nn.functional.unfold` orders them: channel-major, then kernel row, then kernel column) and
``out = C_out`` outputs, applied to every patch. Its edges are ``C_out x (C_in * kh * kw)``: one univariate
function per (output channel, input channel, kernel tap). Parameters are exactly those of
:func:`kan_core.functional.layer_forward` for a layer of that shape, so generated (MetaKAN) or stacked
parameters work unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch.nn.functional as F
from torch import Tensor

from ..functional import layer_forward
from ..spec import KANSpec

__all__ = ["ka_conv2d", "unfold_patches", "conv_output_size", "as_pair"]


def as_pair(v: int | tuple[int, int]) -> tuple[int, int]:
    """``(v, v)`` for an int, else the two entries as ints (kernel size, stride, padding, dilation)."""
    if isinstance(v, int):
        return (v, v)
    a, b = v
    return (int(a), int(b))


def conv_output_size(
    size: tuple[int, int],
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
) -> tuple[int, int]:
    """Spatial output size ``(H', W')`` of a convolution on an ``(H, W)`` input (as ``nn.Conv2d``)."""
    k, s, p, d = as_pair(kernel_size), as_pair(stride), as_pair(padding), as_pair(dilation)
    return tuple((size[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(2))  # type: ignore[return-value]


def unfold_patches(
    x: Tensor,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
) -> Tensor:
    """im2col: ``(B, C, H, W) -> (B, H' * W', C * kh * kw)`` patch feature vectors (zero padding)."""
    if x.dim() != 4:
        raise ValueError(f"KA-convolution expects (B, C, H, W) inputs, got shape {tuple(x.shape)}")
    cols = F.unfold(
        x, as_pair(kernel_size), dilation=as_pair(dilation), padding=as_pair(padding), stride=as_pair(stride)
    )
    return cols.transpose(1, 2)


def ka_conv2d(
    x: Tensor,
    params: Mapping[str, Tensor],
    spec: KANSpec,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    uniform: bool | None = None,
) -> Tensor:
    """2-D KA-convolution with the layer tensors ``params`` (see :mod:`kan_core.functional`).

    Args:
        x: images ``(B, C_in, H, W)``.
        params: layer tensors for ``out = C_out``, ``in = C_in * kh * kw`` (``coef: (C_out, C_in*kh*kw, n)``).
        spec: basis hyper-parameters (widths ignored).
        kernel_size, stride, padding, dilation: as :class:`torch.nn.Conv2d`.

    Shapes: returns ``(B, C_out, H', W')``.
    """
    kh, kw = as_pair(kernel_size)
    c_in = x.shape[1]
    n_in = params["coef"].shape[-2]
    if n_in != c_in * kh * kw:
        raise ValueError(
            f"ka_conv2d: parameters have {n_in} inputs per output but C_in*kh*kw = {c_in}*{kh}*{kw} = {c_in * kh * kw}"
        )
    ho, wo = conv_output_size((x.shape[2], x.shape[3]), (kh, kw), stride, padding, dilation)
    patches = unfold_patches(x, (kh, kw), stride, padding, dilation)  # (B, L, C*kh*kw)
    b, L, _ = patches.shape
    y = layer_forward(patches.reshape(b * L, -1), params, spec, uniform)  # (B*L, C_out)
    return y.reshape(b, L, -1).transpose(1, 2).reshape(b, -1, ho, wo)
