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
    prompt_dims: Sequence[int] = (1,),
    n_val: int = 0,
    clusters: Sequence[int] = (1,),
) -> dict[str, Any]:
    """Fit a KAN and a MetaKAN (B-splines, k=3) with LBFGS lr 1; test MSE and trainable parameters of both.

    ``xtr``: (N, d), ``ytr``: (N, 1). The MetaKAN is fitted once per candidate ``(prompt_dim, C)`` of
    ``prompt_dims x clusters``. With ``n_val > 0`` both models fit the first ``N - n_val`` training points
    and the last ``n_val`` choose the candidate (lowest validation MSE; the first on ties, prompt
    dimensions varying slowest); the row then also holds ``metakan_prompt_dim``, ``metakan_clusters``, the
    validation MSE of every candidate (``metakan_val_mse_dim<p>_c<C>``) and the KAN's (``kan_val_mse``).

    ``clusters``: candidate numbers of meta-learners ``C`` (Algorithm 2 on the output widths; each at most
    the number of layers). With ``C = 1`` one output layer ``W2`` generates the coefficients of every
    layer, and LBFGS stalls far above the KAN's error at ``G = 20`` even when the prompts and the first
    layer are frozen and the hidden activations are well conditioned; ``C = 2`` (the output layer's edges
    apart from the hidden ones on the Table 2 structures) removes most of the gap there, at about twice the
    meta-learner parameters, but is mixed at ``G = 5`` (results/metakan/README.md): hence a choice.
    """
    from kan_core import KAN

    from ..models import MetaKAN

    dims, cs = [int(p) for p in prompt_dims], [int(c) for c in clusters]
    for name, vals in (("prompt_dims", dims), ("clusters", cs)):
        if not vals or min(vals) < 1 or len(set(vals)) < len(vals):
            raise ValueError(f"{name} must be a non-empty list of distinct positive integers, got {vals}")
    if max(cs) > len(widths) - 1:
        raise ValueError(f"clusters {cs}: at most one meta-learner per layer ({len(widths) - 1} for {list(widths)})")
    candidates = [(p, c) for p in dims for c in cs]
    if len(candidates) > 1 and n_val <= 0:
        raise ValueError(f"choosing among prompt_dims {dims} x clusters {cs} needs a validation split: n_val > 0, "
                         f"got {n_val}")  # fmt: skip
    if not 0 <= n_val < len(xtr):
        raise ValueError(f"n_val must be in [0, {len(xtr)}) (the training points), got {n_val}")
    xfit, yfit = xtr[: len(xtr) - n_val], ytr[: len(ytr) - n_val]
    xval, yval = xtr[len(xtr) - n_val :], ytr[len(ytr) - n_val :]

    def mse(model: torch.nn.Module, x: Tensor, y: Tensor) -> float:
        with torch.no_grad():
            v = float(torch.nn.functional.mse_loss(model(x), y))
        return v if v == v else float("inf")

    def fit(name: str, prompt_dim: int = 1, clusters: int = 1) -> torch.nn.Module:
        g = torch.Generator().manual_seed(seed)
        if name == "kan":
            model = KAN.from_widths(
                list(widths), grid_size=grid_size, spline_order=3, grid_range=grid_range, generator=g
            )
        else:
            model = MetaKAN.from_widths(list(widths), grid_size=grid_size, spline_order=3, grid_range=grid_range,
                                        hidden=hidden, prompt_dim=prompt_dim, clusters=clusters, generator=g)  # fmt: skip
        model = model.to(xtr.device)
        lbfgs_fit(model, xfit, yfit, steps)
        return model

    kan = fit("kan")
    out: dict[str, Any] = {"kan_mse": mse(kan, xte, yte), "kan_params": count_trainable(kan)}
    best, best_val, val_mse = None, float("inf"), {}
    for p, c in candidates:
        model = fit("metakan", p, c)
        val_mse[f"metakan_val_mse_dim{p}_c{c}"] = v = mse(model, xval, yval) if n_val else 0.0
        if best is None or v < best_val:
            best, best_val, chosen = model, v, (p, c)
    out["metakan_mse"], out["metakan_params"] = mse(best, xte, yte), count_trainable(best)
    if n_val:
        out.update(kan_val_mse=mse(kan, xval, yval), metakan_prompt_dim=chosen[0], metakan_clusters=chosen[1],
                   **val_mse)  # fmt: skip
    return out
