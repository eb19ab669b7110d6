"""Shared fitting of KAN vs MetaKAN on a regression problem (Feynman and high-dimensional functions)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ..counting import count_trainable
from ..train import lbfgs_fit

__all__ = ["fit_pair"]


def fit_pair(
    widths: Sequence[int],
    xtr: Tensor,
    ytr: Tensor,
    xte: Tensor,
    yte: Tensor,
    *,
    grid_size: int,
    hidden: int,
    steps: int,
    seed: int,
    grid_range: tuple[float, float] = (-1.0, 1.0),
) -> dict[str, Any]:
    """Fit a KAN and a MetaKAN (B-splines, k=3) with LBFGS lr 1; test MSE and trainable parameters of both."""
    from kan_core import KAN

    from ..models import MetaKAN

    out: dict[str, Any] = {}
    for name in ("kan", "metakan"):
        g = torch.Generator().manual_seed(seed)
        if name == "kan":
            model = KAN.from_widths(
                list(widths), grid_size=grid_size, spline_order=3, grid_range=grid_range, generator=g
            )
        else:
            model = MetaKAN.from_widths(
                list(widths),
                grid_size=grid_size,
                spline_order=3,
                grid_range=grid_range,
                hidden=hidden,
                generator=g,
            )
        model = model.to(xtr.device)
        lbfgs_fit(model, xtr, ytr, steps)
        with torch.no_grad():
            mse = float(torch.nn.functional.mse_loss(model(xte), yte))
        out[f"{name}_mse"] = mse if mse == mse else float("inf")
        out[f"{name}_params"] = count_trainable(model)
    return out
