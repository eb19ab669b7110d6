"""High-dimensional functions f1-f3 (appendix C.1) on ``[n, 1, 1]`` KANs vs MetaKANs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ..experiments import HIGHDIM
from .regression import fit_pair

__all__ = ["FUNCTIONS", "HIDDEN_FOR_DIM", "run_highdim"]


def f1(x: Tensor) -> Tensor:
    """``exp(mean_i sin^2(pi x_i / 2))``."""
    return torch.exp(torch.sin(math.pi * x / 2).square().mean(-1, keepdim=True))


def f2(x: Tensor) -> Tensor:
    """``sum_i (x_i^2 + x_i^3)``."""
    return (x.square() + x**3).sum(-1, keepdim=True)


def f3(x: Tensor) -> Tensor:
    """``exp(-mean_i x_i^2)``."""
    return torch.exp(-x.square().mean(-1, keepdim=True))


FUNCTIONS = {"f1": f1, "f2": f2, "f3": f3}
#: meta-learner widths the paper selected per dimension
HIDDEN_FOR_DIM = {10: 8, 20: 16, 50: 32, 100: 32, 500: 64, 1000: 64}


def run_highdim(
    functions: Sequence[str] = HIGHDIM.functions,
    dims: Sequence[int] = HIGHDIM.dims,
    *,
    grid_size: int = HIGHDIM.grid_size,
    steps: int = HIGHDIM.steps,
    n_train: int = HIGHDIM.n_train,
    n_test: int = HIGHDIM.n_test,
    seed: int = 0,
    device: Any = "cpu",
) -> list[dict[str, Any]]:
    """One row per (function, n): inputs uniform in ``[-1, 1]^n``."""
    rows = []
    for fname in functions:
        if fname not in FUNCTIONS:
            raise ValueError(f"unknown function {fname!r}; known: {sorted(FUNCTIONS)}")
        for n in dims:
            g = torch.Generator().manual_seed(seed)
            xtr = torch.rand(n_train, n, generator=g) * 2 - 1
            xte = torch.rand(n_test, n, generator=g) * 2 - 1
            f = FUNCTIONS[fname]
            hidden = HIDDEN_FOR_DIM.get(n, 32)
            res = fit_pair(
                [n, 1, 1],
                xtr.to(device),
                f(xtr).to(device),
                xte.to(device),
                f(xte).to(device),
                grid_size=grid_size,
                hidden=hidden,
                steps=steps,
                seed=seed,
            )
            rows.append({"function": fname, "n": n, "hidden": hidden, **res})
    return rows
