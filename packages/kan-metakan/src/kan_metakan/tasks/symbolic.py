"""Symbolic formula of a small trained MetaKAN via pykan (materialise -> ``kan_core.interop.to_pykan``)."""

from __future__ import annotations

import warnings
from typing import Any

import torch

from ..experiments import SYMBOLIC

__all__ = ["run_symbolic"]


def run_symbolic(
    *,
    steps: int = SYMBOLIC.steps,
    seed: int = 0,
    n_train: int = SYMBOLIC.n_train,
    lib: tuple[str, ...] = SYMBOLIC.lib,
) -> dict[str, Any]:
    """Fit ``f(x1, x2) = x1 * x2`` (Feynman I.12.5) on ``n_train`` points with a ``[2, 2, 1]`` MetaKAN
    (``dim z = 2``; ``steps`` full-batch Adam steps, prompts / meta-learner at lr 3e-2 / 3e-3, cosine),
    export it to pykan and run pykan's ``auto_symbolic`` over ``lib`` (its cost grows with both).
    Returns ``{"mse", "formula"}``; raises ImportError when pykan or ``kan_core.interop`` is unavailable."""
    if n_train < 2 or not lib:
        raise ValueError(f"run_symbolic needs n_train >= 2 and a non-empty lib, got {n_train=}, {lib=}")
    from kan_core.interop import to_pykan

    from ..models import MetaKAN
    from ..train import cosine_schedule, metakan_optimizer

    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n_train, 2, generator=g) * 2 - 1
    y = (x[:, 0] * x[:, 1]).unsqueeze(-1)
    meta = MetaKAN.from_widths([2, 2, 1], grid_size=5, spline_order=3, hidden=16, prompt_dim=2, generator=g)
    # full-batch Adam: MSE ~1e-4 after 500 steps in ~3 s (seed 0)
    opt = metakan_optimizer(meta, lr_prompt=3e-2, lr_meta=3e-3, weight_decay=0.0)
    sched = cosine_schedule(opt, max(1, steps))
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(meta(x), y).backward()
        opt.step()
        sched.step()
    kan = meta.materialize()
    with torch.no_grad():
        mse = float(torch.nn.functional.mse_loss(kan(x), y))
    model = to_pykan(kan)
    model.save_act = True
    model(x)  # pykan caches activations for auto_symbolic
    model.auto_symbolic(lib=list(lib), verbose=0)
    with warnings.catch_warnings():  # pykan hands sympy tensors that require grad: torch warns, harmlessly
        warnings.filterwarnings(
            "ignore", message="Converting a tensor with requires_grad=True", category=UserWarning
        )
        formula = model.symbolic_formula()[0][0]
    return {"mse": mse, "formula": str(formula)}
