"""Test metrics of a trained weight-space model, in and out of distribution (wider KANs)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from .task_data import TaskData, make_task
from .task_kinds import TASK_KINDS
from .train import predict

__all__ = ["evaluate", "evaluate_ood"]


def evaluate(
    model: torch.nn.Module,
    data: TaskData,
    split: str = "test",
    *,
    threshold: float | None = None,
    device: Any = "cpu",
    batch_size: int = 256,
) -> dict[str, float]:
    """Test metrics of ``model`` on ``data``'s ``split`` (original target units)."""
    idx = data.splits[split]
    pred = predict(model, data, idx, batch_size, device)
    y = data.targets[idx]
    return TASK_KINDS[data.kind].test_metrics(
        pred,
        y,
        data,
        threshold=threshold,
        val_predict=lambda: predict(model, data, data.splits["val"], batch_size, device),
    )


def evaluate_ood(
    model: torch.nn.Module,
    task: str,
    zoos: dict[int, Any],
    *,
    device: Any = "cpu",
    train_data: TaskData | None = None,
    skipped: dict[int, str] | None = None,
) -> dict[int, dict[str, float]]:
    """Test metrics of a trained model on zoos of other hidden widths ``{h: zoo}`` (all models used).

    Regression targets are standardised with the *training* zoo's statistics (``train_data``). Widths
    the model cannot read are left out of the result, with the reason in ``skipped[h]``: flat models
    (MLP variants, DMC) read one architecture only, SetTrans refuses KANs above its ``max_edges``.
    """
    from .models import InfeasibleError
    from .models.registry import fixed_edge_count

    fixed = fixed_edge_count(model)
    out = {}
    for h, zoo in sorted(zoos.items()):
        data = make_task(task, zoo)
        if fixed is not None and data.template.num_edges != fixed:
            if skipped is not None:
                skipped[int(h)] = (
                    f"{type(model).__name__} reads KANs with {fixed} edges only, "
                    f"h={h} has {data.template.num_edges}"
                )
            continue
        if train_data is not None and TASK_KINDS[data.kind].standardise:
            data = replace(data, target_mean=train_data.target_mean, target_std=train_data.target_std)
        data = replace(data, splits={**data.splits, "test": torch.arange(len(data))})
        try:
            out[int(h)] = evaluate(model, data, "test", device=device)
        except InfeasibleError as e:
            if skipped is not None:
                skipped[int(h)] = str(e)
    return out
