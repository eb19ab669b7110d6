"""The weight-space tasks and their kinds, one entry each: targets, loss, metrics, validation selection.

=============  ======================  =====================  ===============================
task           zoo kind                target                 metrics
=============  ======================  =====================  ===============================
``inr``        image INRs              class (CE)             accuracy
``sine``       sine INRs               frequency w (MSE)      MSE (in w units), R^2
``accuracy``   classifiers             test accuracy (MSE)    MSE, R^2
``mask``       classifiers (+ masks)   oracle mask (BCE)      accuracy @ val threshold, ROC-AUC
=============  ======================  =====================  ===============================

:data:`TASK_KINDS` holds what a kind of target decides (loss, validation score and whether higher is
better, test metrics, standardisation); :data:`TASK_REGISTRY` maps each task to its zoo kinds, target
reader and kind. :mod:`kan_ws.train` and :mod:`kan_ws.tasks` read both instead of branching on names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor, nn

from . import metrics as M

__all__ = ["TaskKind", "Task", "TASK_KINDS", "TASK_REGISTRY", "TASKS", "VAL_METRIC", "get_task"]


def _bce(out: Tensor, y: Tensor) -> Tensor:
    return nn.functional.binary_cross_entropy_with_logits(out.reshape(-1), y.reshape(-1).float())


def _classification_metrics(pred: Tensor, y: Tensor, data: Any, **_: Any) -> dict[str, float]:
    return {"accuracy": M.accuracy(pred, y)}


def _regression_metrics(pred: Tensor, y: Tensor, data: Any, **_: Any) -> dict[str, float]:
    p = data.unnormalize(pred)
    return {"mse": M.mse(p, y), "r2": M.r2(p, y)}


def _edge_metrics(
    pred: Tensor, y: Tensor, data: Any, *, threshold: float | None, val_predict: Callable[[], Tensor]
) -> dict[str, float]:
    """Accuracy at ``threshold`` (else the best one on validation), ROC-AUC and kept fractions."""
    scores = torch.sigmoid(pred.reshape(len(y), -1))
    if threshold is None:
        vidx = data.splits["val"]
        vs = torch.sigmoid(val_predict().reshape(len(vidx), -1))
        threshold = M.best_threshold(vs, data.targets[vidx])
    return {
        "accuracy": M.binary_accuracy(scores, y, threshold),
        "roc_auc": M.roc_auc(scores.flatten(), y.flatten()),
        "threshold": threshold,
        "kept_fraction_pred": float((scores > threshold).float().mean()),
        "kept_fraction_oracle": float(y.float().mean()),
    }


@dataclass(frozen=True)
class TaskKind:
    """What a kind of target decides.

    Attributes:
        name: ``classification``, ``regression`` or ``edge-binary``.
        level: ``"graph"`` (one output per KAN) or ``"edge"`` (one per edge).
        loss: training loss ``(outputs, targets) -> scalar``.
        val_score: score on validation ``(predictions, targets) -> float``; training selects the checkpoint
            by it on the training scale (standardised targets) and reports it in the test metrics' units
            (:meth:`kan_ws.task_data.TaskData.selection_score` / ``val_score``).
        higher_is_better: the checkpoint with the highest (else lowest) ``val_score`` is kept.
        val_metric: what ``history[i]["val"]`` and ``best_val`` of a run measure (result JSON
            ``"val_metric"``), in the units of the test metric of the same name.
        standardise: targets are standardised with training statistics.
        test_metrics: ``(predictions, targets, data, threshold=, val_predict=) -> metrics``.
    """

    name: str
    level: str
    loss: Callable[[Tensor, Tensor], Tensor]
    val_score: Callable[[Tensor, Tensor], float]
    higher_is_better: bool
    val_metric: str
    standardise: bool
    test_metrics: Callable[..., dict[str, float]]


TASK_KINDS: Mapping[str, TaskKind] = MappingProxyType(
    {
        k.name: k
        for k in (
            TaskKind(
                "classification",
                "graph",
                nn.functional.cross_entropy,
                M.accuracy,
                True,
                "accuracy",
                False,
                _classification_metrics,
            ),
            TaskKind(
                "regression",
                "graph",
                nn.functional.mse_loss,
                M.mse,
                False,
                "mse",
                True,
                _regression_metrics,
            ),
            TaskKind(
                "edge-binary",
                "edge",
                _bce,
                lambda p, y: float(_bce(p, y)),
                False,
                "bce loss",
                False,
                _edge_metrics,
            ),
        )
    }
)
#: what the per-epoch ``history[i]["val"]`` of a run measures, by task kind
VAL_METRIC = {k.name: k.val_metric for k in TASK_KINDS.values()}


def _mask_targets(zoo: Any, n: int) -> Tensor:
    if getattr(zoo, "masks", None) is None:
        raise ValueError("task 'mask' needs a classifier zoo with oracle pruning masks (zoo.masks is None)")
    return torch.cat([m.reshape(m.shape[0], -1) for m in zoo.masks], dim=1).float()


@dataclass(frozen=True)
class Task:
    """One weight-space task.

    Attributes:
        name: ``inr``, ``sine``, ``accuracy`` or ``mask``.
        zoo_kinds: the zoo kinds (manifest ``task``) it reads.
        kind: its :class:`TaskKind` name.
        targets: ``(zoo, num_models) -> targets`` (``(M,)`` long labels, ``(M, out)`` or ``(M, E)`` floats).
        out_dim: output size from the targets.
        metrics: the test metrics tables and figures show, in order.
    """

    name: str
    zoo_kinds: tuple[str, ...]
    kind: str
    targets: Callable[[Any, int], Tensor]
    out_dim: Callable[[Tensor], int]
    metrics: tuple[str, ...]

    @property
    def task_kind(self) -> TaskKind:
        return TASK_KINDS[self.kind]


TASK_REGISTRY: Mapping[str, Task] = MappingProxyType(
    {
        t.name: t
        for t in (
            Task(
                "inr",
                ("inr",),
                "classification",
                lambda z, n: z.targets["label"].long(),
                lambda y: int(y.max()) + 1,
                ("accuracy",),
            ),
            Task(
                "sine",
                ("sine",),
                "regression",
                lambda z, n: z.targets["frequency"].float().reshape(n, -1),
                lambda y: y.shape[1],
                ("mse", "r2"),
            ),
            Task(
                "accuracy",
                ("classifier",),
                "regression",
                lambda z, n: z.targets["test_accuracy"].float().reshape(-1, 1),
                lambda y: 1,
                ("mse", "r2"),
            ),
            Task("mask", ("classifier",), "edge-binary", _mask_targets, lambda y: 1, ("accuracy", "roc_auc")),
        )
    }
)
TASKS = tuple(TASK_REGISTRY)


def get_task(name: str) -> Task:
    """The registered task ``name``; a ``ValueError`` lists the known ones."""
    if name not in TASK_REGISTRY:
        raise ValueError(f"unknown task {name!r}; choose from {TASKS}")
    return TASK_REGISTRY[name]
