"""Training helpers shared by the experiments: optimiser groups, cosine schedule, LBFGS fitting."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

__all__ = [
    "metakan_optimizer",
    "cosine_schedule",
    "warmup_cosine_schedule",
    "lbfgs_minimize",
    "lbfgs_fit",
    "split_groups",
]


def split_groups(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter], list[nn.Parameter]]:
    """``(prompts, meta-learner, other)`` trainable parameters of a MetaKAN-like model (plain: all other)."""
    prompts = list(getattr(model, "prompt_parameters", lambda: [])())
    meta = list(getattr(model, "meta_parameters", lambda: [])())
    seen = {id(p) for p in prompts + meta}
    other = [p for p in model.parameters() if p.requires_grad and id(p) not in seen]
    return prompts, meta, other


def metakan_optimizer(
    model: nn.Module,
    *,
    lr: float = 1e-3,
    lr_prompt: float = 1e-2,
    lr_meta: float = 1e-3,
    weight_decay: float = 1e-4,
) -> torch.optim.AdamW:
    """AdamW with separate parameter groups for prompts (``lr_prompt``), meta-learners (``lr_meta``) and
    everything else (``lr``), as the paper's separate optimisers. Prompts get no weight decay."""
    prompts, meta, other = split_groups(model)
    groups = [
        {"params": g, "lr": l, "weight_decay": wd, "name": n}
        for g, l, wd, n in (
            (prompts, lr_prompt, 0.0, "prompts"),
            (meta, lr_meta, weight_decay, "meta"),
            (other, lr, weight_decay, "main"),
        )
        if g
    ]
    return torch.optim.AdamW(groups)


def cosine_schedule(opt: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Cosine annealing to 0 over the whole run, ``total_steps`` scheduler steps (one per optimiser step):
    :func:`warmup_cosine_schedule` without warm-up.

    (Upstream used ``T_max=-1``, which makes the learning rate alternate between its value and 0.)
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    return warmup_cosine_schedule(opt, total_steps, 0)


def warmup_cosine_schedule(
    opt: torch.optim.Optimizer, total_steps: int, warmup_steps: int = 0
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up from ``lr / warmup_steps`` to ``lr`` over ``warmup_steps`` steps, then cosine annealing
    to 0 at ``total_steps`` (one scheduler step per optimiser step)."""
    if total_steps < 1 or not 0 <= warmup_steps < total_steps:
        raise ValueError(
            f"need total_steps >= 1 and 0 <= warmup_steps < total_steps, got {total_steps}, {warmup_steps}"
        )

    def factor(t: int) -> float:
        if t < warmup_steps:
            return (t + 1) / warmup_steps
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (t - warmup_steps) / (total_steps - warmup_steps))))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def lbfgs_minimize(
    model: nn.Module,
    loss_of: Callable[[], Tensor],
    steps: int,
    *,
    lr: float = 1.0,
    max_iter: int = 20,
    history_size: int = 10,
) -> list[float]:
    """Minimise ``loss_of()`` (a scalar computed from ``model``) over its trainable parameters with LBFGS
    as pykan's ``fit(opt="LBFGS")``: lr 1, strong-Wolfe line search, ``max_iter`` iterations (and torch's
    default ``5/4`` as many loss evaluations) per step. Returns the loss at the start of every step.

    The evaluation budget matters: with ``max_iter=1`` torch allows one evaluation per step, the line
    search can never shorten a step that raised the loss, and the parameters never move.
    """
    opt = torch.optim.LBFGS(
        [p for p in model.parameters() if p.requires_grad],
        lr=lr,
        history_size=history_size,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-32,
        tolerance_change=1e-32,
        max_iter=max_iter,
    )

    def closure():
        opt.zero_grad()
        loss = loss_of()
        loss.backward()
        return loss

    return [float(opt.step(closure).detach()) for _ in range(steps)]


def lbfgs_fit(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    steps: int,
    lr: float = 1.0,
    loss_fn: Callable | None = None,
    *,
    max_iter: int = 20,
) -> list[float]:
    """Full-batch regression ``loss_fn(model(x), y)`` (default MSE) with :func:`lbfgs_minimize`."""
    loss_fn = loss_fn or nn.functional.mse_loss
    return lbfgs_minimize(model, lambda: loss_fn(model(x), y), steps, lr=lr, max_iter=max_iter)
