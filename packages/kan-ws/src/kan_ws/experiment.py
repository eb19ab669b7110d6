"""One training job: build a registered method's model, train it on a task and evaluate it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from .alignment import align_features
from .evaluation import evaluate
from .models import build_model, get_method
from .task_data import TaskData, make_task
from .task_kinds import VAL_METRIC
from .train import FitResult, TrainConfig, fit

__all__ = ["run_experiment"]


def run_experiment(
    task: str,
    zoo: Any,
    method: str,
    *,
    seed: int = 0,
    train_cfg: TrainConfig | None = None,
    model_cfg: dict[str, Any] | None = None,
    device: Any = "cpu",
    train_size: int | None = None,
    data: TaskData | None = None,
    log: Any = None,
) -> tuple[torch.nn.Module, TaskData, dict[str, Any]]:
    """Train ``method`` on ``task`` with ``seed`` and evaluate it; returns ``(model, data, result)``.

    ``data`` may be passed to reuse features (already aligned for ``mlp-align``). ``train_size`` takes a
    seeded random subset of the training split (the sine sweep). Raises ``InfeasibleError`` for a
    Transformer over too many edges.
    """
    spec = get_method(method)
    cfg = train_cfg or TrainConfig()
    if data is None:
        data = make_task(task, zoo)
        if spec.align:
            data = align_features(data)
    if spec.augment and not cfg.augment:
        cfg = replace(cfg, augment=True)
    with torch.random.fork_rng(devices=[]):  # seeded initialisation without touching the global RNG
        torch.manual_seed(seed)
        model = build_model(
            method,
            data.out_dim,
            data.level,
            num_edges=data.template.num_edges,
            edge_dim=data.feats.shape[-1],
            **(model_cfg or {}),
        )
    train_idx = None
    if train_size is not None:
        tr = data.splits["train"]
        if train_size > len(tr):
            raise ValueError(f"train_size={train_size} exceeds the {len(tr)} training models of the zoo")
        g = torch.Generator().manual_seed(seed)
        train_idx = tr[torch.randperm(len(tr), generator=g)[:train_size]]
    res: FitResult = fit(model, data, cfg, seed=seed, device=device, train_idx=train_idx, log=log)
    metrics = evaluate(model, data, "test", device=device)
    result = {
        "task": task,
        "method": method,
        "seed": seed,
        "train_size": train_size if train_size else len(data.splits["train"]),
        "metrics": metrics,
        "best_epoch": res.best_epoch,
        "best_val": res.best_val,
        "train_seconds": res.train_seconds,
        "seconds_per_epoch": res.seconds_per_epoch,
        "num_params": sum(p.numel() for p in model.parameters()),
        "train_config": cfg.to_dict(),
        "model_config": model.config(),
        "model_class": type(model).__name__,
        "widths": list(data.template.widths),
        "history": res.history,
        "val_metric": VAL_METRIC[data.kind],
    }
    return model, data, result
