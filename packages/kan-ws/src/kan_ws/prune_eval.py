"""Downstream pruning of a classifier zoo's test models with trained mask predictors (``kan ws prune-eval``).

Each predictor (a ``kan ws train --task mask`` checkpoint) prunes the zoo's test classifiers in one
forward pass; :func:`kan_ws.tasks.downstream_pruning` scores them, next to the unpruned models and the
zoo's oracle masks, by test accuracy and kept-weight fraction per label-noise bin. The results go to one
folder as ``pruning.json`` (also read by ``kan ws plot``), ``pruning.csv`` and ``pruning.png``.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["prune_eval", "pruning_rows", "OUTPUT_FILES"]

OUTPUT_FILES = ("pruning.json", "pruning.csv", "pruning.png")


def pruning_rows(pruning: dict[str, Any]) -> list[dict[str, Any]]:
    """One CSV row per (method, noise bin): ``method, noise_low, noise_high, models, accuracy, kept``."""
    import torch

    bins, noise = pruning["bins"], torch.tensor(pruning["noise"])
    rows = []
    for method, r in pruning["methods"].items():
        for b, (lo, hi) in enumerate(zip(bins[:-1], bins[1:])):
            last = b == len(bins) - 2
            n = int(((noise >= lo) & ((noise <= hi) if last else (noise < hi))).sum())
            rows.append(
                {
                    "method": method,
                    "noise_low": lo,
                    "noise_high": hi,
                    "models": n,
                    "accuracy": r["accuracy_binned"][b],
                    "kept": r["kept_binned"][b],
                }
            )
    return rows


def prune_eval(
    checkpoints: Sequence[str | os.PathLike],
    zoo_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    max_models: int = 100,
    data_root: str | os.PathLike | None = None,
    device: Any = "cpu",
    force: bool = False,
) -> dict[str, Any]:
    """Prune the first ``max_models`` test classifiers of ``zoo_dir`` with each checkpoint's masks.

    Methods are named by the checkpoint's method (``wskan``, ``mlp``, ...), with ``-s<seed>`` added when
    two checkpoints share one. Files: ``out_dir/pruning.json`` (``{"pruning": ..., "checkpoints": ...}``),
    ``pruning.csv`` (:func:`pruning_rows`) and ``pruning.png`` (:func:`kan_ws.plots.plot_pruning`).

    Returns:
        the :func:`kan_ws.tasks.downstream_pruning` result.

    Raises:
        FileExistsError: an output file exists and ``force`` is off (checked before any work).
        ValueError: a checkpoint not trained for the mask task, or a zoo without oracle masks.
    """
    from kan_core.io import atomic_write_bytes

    from .checkpoints import nan_to_none
    from .plots import plot_pruning
    from .tasks import align_features, downstream_pruning, load_checkpoint, make_task
    from .zoo import load_zoo

    out = Path(out_dir)
    existing = [str(out / f) for f in OUTPUT_FILES if (out / f).exists()]
    if existing and not force:
        raise FileExistsError(
            f"{', '.join(existing)} already exist(s); allow overwriting (--force on the command line)"
        )
    if not checkpoints:
        raise ValueError("give at least one mask-predictor checkpoint")
    zoo = load_zoo(zoo_dir)
    loaded = []
    for c in checkpoints:
        model, header = load_checkpoint(c, device)
        if header.get("task") != "mask":
            raise ValueError(
                f"{c} was trained for task {header.get('task')!r}; prune-eval needs 'mask' predictors"
            )
        loaded.append((c, model, header["result"]))
    methods = [r.get("method", "model") for _, _, r in loaded]
    models: dict[str, Any] = {}
    data = make_task("mask", zoo)
    aligned = None
    for (c, model, result), method in zip(loaded, methods):
        name = method if methods.count(method) == 1 else f"{method}-s{result.get('seed', 0)}"
        if name in models:
            raise ValueError(f"{c}: two checkpoints of {name}; give each method and seed once")
        if method == "mlp-align":
            aligned = aligned or align_features(data)
        models[name] = (model, aligned if method == "mlp-align" else data)
    pruning = downstream_pruning(models, zoo, max_models=max_models, data_root=data_root, device=device)
    out.mkdir(parents=True, exist_ok=True)
    record = nan_to_none({"pruning": pruning, "checkpoints": [str(c) for c in checkpoints]})
    atomic_write_bytes(out / "pruning.json", (json.dumps(record, indent=2) + "\n").encode())
    rows = pruning_rows(pruning)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(out / "pruning.csv", buf.getvalue().encode())
    plot_pruning(pruning, out / "pruning.png")
    return pruning
