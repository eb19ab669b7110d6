"""Training and inference loops for weight-space models (WS-KAN paper, appendix C).

AdamW, a linear schedule with a linear warm-up (the paper warms up over the first 100 steps; we cap the
warm-up at 10% of all steps for short runs), the checkpoint with the best validation score is kept.
Under ``torchrun`` the model is wrapped in ``DistributedDataParallel`` and every rank trains on its
round-robin share of each epoch's shuffled training indices.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from .data import make_batch, permute_edge_features
from .task_kinds import TASK_KINDS

__all__ = ["TrainConfig", "FitResult", "fit", "predict", "loss_fn", "linear_warmup_schedule", "dist_info"]


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run."""

    epochs: int = 50
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    augment: bool = False  # random hidden permutations of every training batch ("MLP + Aug.")
    eval_batch_size: int = 256
    grad_clip: float = 10.0
    #: ``torch.compile`` the model's compilable parts (:meth:`kan_ws.WSKAN.compile_layers`: its message-passing
    #: layers; models without that method run eagerly): the same functions, fused element-wise work, one
    #: compilation of some seconds per process and mode (training, inference) that serves every batch size;
    #: with dropout the compiled layers draw other masks than eager ones
    compile: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FitResult:
    """What :func:`fit` reports, in the units result files and logs use.

    Attributes:
        best_epoch: the selected epoch, counted from 1 (``1..epochs``), as the per-epoch log lines count.
        best_val: the validation score at ``best_epoch`` in the units of the task's test metrics
            (:meth:`kan_ws.task_data.TaskData.val_score`: raw-target MSE for regression, accuracy, BCE).
        history: one ``{"epoch", "train_loss", "val"}`` per epoch; ``epoch`` from 1, ``val`` as
            ``best_val``, ``train_loss`` the mean training loss (for regression on standardised targets,
            the scale the model is trained on).
        best_selection: the selection score at ``best_epoch``
            (:meth:`kan_ws.task_data.TaskData.selection_score`, on the training scale); the checkpoint is
            chosen by it, so for a regression task with several outputs ``best_val`` need not be the
            lowest ``val`` of the history.
    """

    best_epoch: int
    best_val: float
    history: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0
    seconds_per_epoch: float = 0.0
    best_selection: float = math.nan


def dist_info() -> tuple[int, int]:
    """``(rank, world_size)`` of an initialised process group, else ``(0, 1)``."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def linear_warmup_schedule(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int):
    """Linear warm-up from 0 to the base lr over ``warmup`` steps, then linear decay to 0 at ``total_steps``."""
    warm = max(1, min(warmup_steps, total_steps // 10 or 1))
    total = max(total_steps, warm + 1)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (total - step) / (total - warm))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def loss_fn(kind: str) -> Callable[[Tensor, Tensor], Tensor]:
    """The training loss of a task kind (a key of :data:`kan_ws.task_kinds.TASK_KINDS`)."""
    if kind not in TASK_KINDS:
        raise ValueError(f"unknown task kind {kind!r}")
    return TASK_KINDS[kind].loss


def _batch_for(data: Any, idx: Tensor, device: torch.device, feats: Tensor | None = None):
    f = (data.feats if feats is None else feats)[idx]
    return make_batch(data.template, f.to(device))


@torch.no_grad()
def predict(
    model: nn.Module, data: Any, indices: Tensor, batch_size: int = 256, device: Any = "cpu"
) -> Tensor:
    """Raw model outputs for ``data`` models ``indices``: ``(n, out_dim)`` or, edge-level, ``(n, E, out_dim)``."""
    device = torch.device(device)
    was = model.training
    model.eval()
    outs = []
    for s in range(0, len(indices), batch_size):
        idx = indices[s : s + batch_size]
        out = model(_batch_for(data, idx, device))
        if data.level == "edge":
            out = out.reshape(len(idx), data.template.num_edges, -1)
        outs.append(out.float().cpu())
    model.train(was)
    if not outs:
        shape = (0, data.template.num_edges, data.out_dim) if data.level == "edge" else (0, data.out_dim)
        return torch.zeros(shape)
    return torch.cat(outs)


def fit(
    model: nn.Module,
    data: Any,
    cfg: TrainConfig,
    *,
    seed: int = 0,
    device: Any = "cpu",
    train_idx: Tensor | None = None,
    log: Callable[[str], None] | None = None,
) -> FitResult:
    """Train ``model`` on ``data`` (a :class:`kan_ws.tasks.TaskData`); loads the best validation state.

    Args:
        train_idx: optional subset of the training split (the sine training-set-size sweep).
        log: called with one line per epoch (rank 0 only).

    Returns:
        :class:`FitResult`; ``model`` holds the validation-selected parameters afterwards.

    Training is a function of ``seed``: batch order and augmentation use a seeded generator, and dropout
    masks (which draw from torch's global RNG) come from a forked, seeded global RNG that is restored on
    return, so neither the caller's RNG state nor earlier runs in the same process change the result.
    """
    device = torch.device(device)
    on_cuda = device.type == "cuda"
    rng_seed = 20_000 + seed + 7919 * dist_info()[0]  # distinct dropout masks per DDP rank
    with torch.random.fork_rng(devices=[device] if on_cuda else []):
        torch.default_generator.manual_seed(rng_seed)
        if on_cuda:
            with torch.cuda.device(device):
                torch.cuda.manual_seed(rng_seed)
        return _fit(model, data, cfg, seed=seed, device=device, train_idx=train_idx, log=log)


def _fit(
    model: nn.Module,
    data: Any,
    cfg: TrainConfig,
    *,
    seed: int,
    device: torch.device,
    train_idx: Tensor | None,
    log: Callable[[str], None] | None,
) -> FitResult:
    rank, world = dist_info()
    gen = torch.Generator().manual_seed(10_000 + seed)
    train_idx = data.splits["train"] if train_idx is None else train_idx
    val_idx = data.splits["val"]
    model.to(device)
    if hasattr(model, "fit_normalization"):
        model.fit_normalization(data.feats[train_idx].to(device))
    if cfg.compile and hasattr(model, "compile_layers"):
        model.compile_layers()
    net: nn.Module = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    per_rank = math.ceil(len(train_idx) / world)
    steps_per_epoch = max(1, math.ceil(per_rank / cfg.batch_size))
    sched = linear_warmup_schedule(opt, cfg.epochs * steps_per_epoch, cfg.warmup_steps)
    lossf = loss_fn(data.kind)
    targets = data.train_targets()
    higher_better = TASK_KINDS[data.kind].higher_is_better
    best = (-math.inf if higher_better else math.inf, 0, math.nan)  # (selection score, epoch from 1, val)
    best_state = copy.deepcopy(model.state_dict())
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    for epoch in range(cfg.epochs):
        net.train()
        order = train_idx[torch.randperm(len(train_idx), generator=gen)]
        # every rank gets the same number of batches (DDP needs matched collective calls)
        mine = order[rank::world]
        if len(mine) < per_rank:
            mine = torch.cat([mine, order[: per_rank - len(mine)]])
        total, count = 0.0, 0
        for s in range(0, per_rank, cfg.batch_size):
            idx = mine[s : s + cfg.batch_size]
            feats = data.feats[idx]
            y = targets[idx]
            if cfg.augment:
                perms = data.random_perms(len(idx), gen)
                feats = permute_edge_features(data.template.widths, feats, perms)
                if data.level == "edge":
                    y = permute_edge_features(data.template.widths, y.unsqueeze(-1), perms).squeeze(-1)
            batch = make_batch(data.template, feats.to(device))
            out = net(batch)
            if data.level == "edge":
                out = out.reshape(len(idx), -1)
            loss = lossf(out, y.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            count += len(idx)
        pred = predict(model, data, val_idx, cfg.eval_batch_size, device)
        score, val = data.selection_score(pred), data.val_score(pred)
        history.append({"epoch": epoch + 1, "train_loss": total / max(count, 1), "val": val})
        improved = score > best[0] if higher_better else score < best[0]
        if improved or best[1] == 0:
            best = (score, epoch + 1, val)
            best_state = copy.deepcopy(model.state_dict())
        if log is not None and rank == 0:
            log(f"epoch {epoch + 1}/{cfg.epochs} train_loss={total / max(count, 1):.4g} val={val:.4g}")
    elapsed = time.perf_counter() - t0
    model.load_state_dict(best_state)
    return FitResult(best[1], best[2], history, elapsed, elapsed / max(cfg.epochs, 1), best[0])
