"""Feynman equations (pykan's ``kan.feynman``): KAN vs MetaKAN test MSE and parameters at G = 5 and 20."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..experiments import FEYNMAN
from .regression import fit_pair

__all__ = ["FEYNMAN_WIDTHS", "feynman_widths", "feynman_data", "run_feynman"]

#: Structures of the paper's Table 2.
FEYNMAN_WIDTHS: dict[str, list[int]] = {
    "I.6.20a": [1, 2, 1, 1], "I.6.20": [2, 2, 1, 1], "I.6.20b": [3, 5, 5, 5, 1], "I.8.4": [4, 5, 5, 1],
    "I.9.18": [6, 5, 5, 5, 1], "I.12.2": [4, 3, 3, 1], "I.12.4": [3, 3, 2, 1], "I.12.5": [2, 2, 1],
    "I.10.7": [3, 4, 4, 1, 1], "I.12.11": [5, 2, 2, 1], "I.13.4": [4, 2, 1, 1], "I.13.12": [5, 4, 4, 1],
    "I.14.3": [3, 2, 1], "I.14.4": [2, 2, 1, 1], "I.15.3x": [4, 3, 3, 1], "I.15.10": [3, 3, 2, 1],
    "I.18.4": [4, 4, 3, 1],
}  # fmt: skip


def _pykan_equation(name: str) -> tuple:
    try:
        from kan.feynman import get_feynman_dataset
    except ImportError as e:  # pragma: no cover - optional extra
        raise ImportError("the feynman experiment needs pykan: pip install 'kan-metakan[pykan]'") from e
    if name not in FEYNMAN_WIDTHS:
        raise ValueError(f"unknown Feynman equation {name!r}; known: {sorted(FEYNMAN_WIDTHS)}")
    symbols, _, f, ranges = get_feynman_dataset(name)
    n_var = len(symbols) if isinstance(symbols, (tuple, list)) else 1
    return n_var, f, ranges


def feynman_widths(name: str) -> list[int]:
    """The paper's KAN structure for ``name`` with its input width set to the number of variables of pykan's
    formula. Two differ from Table 2's: I.9.18 (pykan: 9 variables, the paper's dimensionless form 6) and
    I.18.4 (pykan 3, the paper 4); their hidden layers are kept."""
    return [_pykan_equation(name)[0], *FEYNMAN_WIDTHS[name][1:]]


def feynman_data(name: str, n_train: int, n_test: int, seed: int) -> tuple[torch.Tensor, ...]:
    """Samples of pykan's Feynman equation ``name`` on its ranges: ``x (N, n_var)``, ``y (N, 1)``
    (``n_var`` is pykan's variable count, ``feynman_widths(name)[0]``).

    Uses pykan's formula and ranges but our own seeded generator (pykan's ``create_dataset`` seeds globally).
    """
    n_var, f, ranges = _pykan_equation(name)
    r = torch.tensor(ranges, dtype=torch.float32)
    if r.dim() == 1:
        r = r.expand(n_var, 2)
    g = torch.Generator().manual_seed(seed)
    out = []
    for n in (n_train, n_test):
        u = torch.rand(n, n_var, generator=g)
        x = r[:, 0] + (r[:, 1] - r[:, 0]) * u
        out += [x, f(x).reshape(n, 1).float()]
    return tuple(out)


def run_feynman(
    equations: Sequence[str],
    grid_sizes: Sequence[int] = FEYNMAN.grid_sizes,
    *,
    steps: int = FEYNMAN.steps,
    hidden: int = FEYNMAN.hidden,
    n_train: int = FEYNMAN.n_train,
    n_test: int = FEYNMAN.n_test,
    prompt_dims: Sequence[int] = FEYNMAN.prompt_dims,
    n_val: int = FEYNMAN.n_val,
    clusters: Sequence[int] = FEYNMAN.clusters,
    seed: int = 0,
    device: Any = "cpu",
) -> list[dict[str, Any]]:
    """One row per (equation, G); ``prompt_dims``, ``n_val`` and ``clusters`` as in
    :func:`~kan_metakan.tasks.regression.fit_pair` (``n_val`` of the ``n_train`` points validate; a number
    of clusters above a structure's number of layers is capped at it, duplicates dropped)."""
    rows = []
    for name in equations:
        xtr, ytr, xte, yte = (t.to(device) for t in feynman_data(name, n_train, n_test, seed))
        lo, hi = float(torch.minimum(xtr.min(), xte.min())), float(torch.maximum(xtr.max(), xte.max()))
        for G in grid_sizes:
            widths = feynman_widths(name)
            res = fit_pair(
                widths,
                xtr,
                ytr,
                xte,
                yte,
                grid_size=G,
                hidden=hidden,
                steps=steps,
                seed=seed,
                grid_range=(lo, hi),
                prompt_dims=prompt_dims,
                n_val=n_val,
                clusters=list(dict.fromkeys(min(int(c), len(widths) - 1) for c in clusters)),
            )
            rows.append({"equation": name, "widths": "-".join(map(str, widths)), "G": G, **res})
    return rows
