"""Kolmogorov-Arnold convolutions: a KAN layer applied to every image patch (im2col + functional layer)."""

from .functional import conv_output_size, ka_conv2d, unfold_patches
from .layers import FastKANConv2d, KAConv2d, KAGNConv2d, KALNConv2d, KANConv2d

__all__ = [
    "ka_conv2d",
    "unfold_patches",
    "conv_output_size",
    "KAConv2d",
    "KANConv2d",
    "FastKANConv2d",
    "KALNConv2d",
    "KAGNConv2d",
]
