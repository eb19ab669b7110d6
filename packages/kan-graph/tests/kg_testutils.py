"""Helpers for the kan-graph tests (a uniquely named module: other packages have their own conftest)."""

from __future__ import annotations

import torch
from kan_core import KAN, KANSpec

BASES = ("bspline", "rbf", "chebyshev", "legendre", "gram", "wavelet")


def random_kan(
    basis: str = "bspline",
    widths=(3, 5, 4, 2),
    seed: int = 0,
    affine: bool = True,
    nonuniform: bool = True,
    masked: bool = True,
    grid_size: int = 5,
) -> KAN:
    """A KAN with randomised affine, masks, coefficients and (B-splines) non-uniform per-neuron grids."""
    g = torch.Generator().manual_seed(seed)
    spec = KANSpec(tuple(widths), basis=basis, grid_size=grid_size, spline_order=3, degree=3, affine=affine)
    kan = KAN(spec, generator=g)
    with torch.no_grad():
        for layer in kan.layers:
            if basis != "wavelet":
                layer.coef.normal_(0.0, 0.5, generator=g)
            layer.scale_sp.uniform_(0.5, 1.5, generator=g)
            if affine:
                layer.node_scale.uniform_(0.5, 1.5, generator=g)
                layer.node_bias.normal_(0.0, 0.3, generator=g)
            if masked:
                layer.mask.copy_((torch.rand(layer.mask.shape, generator=g) > 0.15).float())
        if basis == "bspline" and nonuniform:
            x = torch.rand(256, widths[0], generator=g) ** 2 * 2 - 1
            kan.update_grid(x)
    return kan


def stack(kans) -> list[dict[str, torch.Tensor]]:
    """Stacked per-layer tensors (leading model dim) of same-spec KANs."""
    per = [k.layer_params() for k in kans]
    return [{n: torch.stack([p[l][n].detach() for p in per]) for n in per[0][l]} for l in range(len(per[0]))]
