"""Model inputs and targets of a weight-space task over a zoo (:func:`make_task`).

The tasks themselves (targets, loss, metrics, selection) are registered in :mod:`kan_ws.task_kinds`.
A zoo is duck-typed: anything with ``spec``, ``layers``, ``targets``, ``masks``, ``splits`` works.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .data import GraphTemplate, edge_features, graph_template
from .task_kinds import TASK_KINDS, get_task

__all__ = ["TaskData", "make_task", "zoo_dataset_name"]


@dataclass
class TaskData:
    """Model inputs and targets of one task over one zoo.

    Attributes:
        feats: ``(M, E, F)`` raw edge features; targets: ``(M, out)`` float (regression), ``(M,)`` long
            (classification) or ``(M, E)`` float (edge masks); splits: "train"/"val"/"test" index tensors.
        target_mean/target_std: regression targets are standardised with training statistics.
        perms: hidden permutations applied to ``feats`` (after alignment), else ``None``.
        layers: the zoo's stacked parameters ``feats`` were computed from, when known (alignment reads
            ``feats`` only, so a ``TaskData`` built from features alone aligns the same way).
    """

    task: str
    kind: str
    level: str
    out_dim: int
    spec: Any
    template: GraphTemplate
    feats: Tensor
    targets: Tensor
    splits: dict[str, Tensor]
    target_mean: Tensor | None = None
    target_std: Tensor | None = None
    perms: list[Tensor] | None = None
    layers: list[dict[str, Tensor]] | None = None

    def __len__(self) -> int:
        return int(self.feats.shape[0])

    def train_targets(self) -> Tensor:
        if TASK_KINDS[self.kind].standardise:
            return (self.targets - self.target_mean) / self.target_std
        return self.targets

    def unnormalize(self, pred: Tensor) -> Tensor:
        return pred * self.target_std + self.target_mean if TASK_KINDS[self.kind].standardise else pred

    def val_score(self, pred: Tensor) -> float:
        """The task kind's ``val_score`` of validation predictions ``pred`` in the units of the test
        metrics: regression predictions are unnormalised and compared with the raw targets (MSE in target
        units), as result files and logs report it."""
        y = self.targets[self.splits["val"]]
        return TASK_KINDS[self.kind].val_score(self.unnormalize(pred), y)

    def selection_score(self, pred: Tensor) -> float:
        """The score that selects the checkpoint: the kind's ``val_score`` on the training scale (for
        regression the MSE of standardised targets, every output weighted equally). It orders epochs as
        :meth:`val_score` does for one output; with several outputs of different spread it may not."""
        y = self.train_targets()[self.splits["val"]]
        return TASK_KINDS[self.kind].val_score(pred, y)

    def random_perms(self, n: int, generator: torch.Generator) -> list[Tensor]:
        """``n`` random hidden permutations (kan_graph's convention: new neuron j = old perm[j])."""
        from kan_graph import random_permutation

        return random_permutation(self.spec, generator, num_models=n)


def zoo_dataset_name(zoo: Any) -> str | None:
    """The data set a classifier zoo was trained on (from its manifest), or ``None``."""
    if getattr(zoo, "dataset", None):
        return str(zoo.dataset)
    cfg = getattr(zoo, "config", None)
    if isinstance(cfg, dict) and cfg.get("dataset"):
        return str(cfg["dataset"])
    man = getattr(zoo, "manifest", None)
    if isinstance(man, dict):
        for key in ("dataset",):
            if man.get(key):
                return str(man[key])
        pre = man.get("preset")
        if isinstance(pre, dict) and pre.get("dataset"):
            return str(pre["dataset"])
    meta = getattr(zoo, "meta", None)
    if meta and isinstance(meta[0], dict) and meta[0].get("dataset"):
        return str(meta[0]["dataset"])
    return None


def make_task(task: str, zoo: Any) -> TaskData:
    """Inputs and targets of ``task`` (one of :data:`kan_ws.task_kinds.TASKS`) over ``zoo``."""
    t = get_task(task)
    zk = getattr(zoo, "task", None)
    if zk is not None and zk not in t.zoo_kinds:
        raise ValueError(f"task {task!r} needs a {'/'.join(t.zoo_kinds)} zoo, this zoo is {zk!r}")
    spec = zoo.spec
    feats = edge_features(spec, zoo.layers)
    splits = {k: torch.as_tensor(v).long() for k, v in zoo.splits.items()}
    kind = t.task_kind
    y = t.targets(zoo, len(feats))
    kw: dict[str, Any] = {}
    if kind.standardise:
        tr = y[splits["train"]]
        kw = {"target_mean": tr.mean(0), "target_std": tr.std(0).clamp_min(1e-6)}
    return TaskData(
        task,
        kind.name,
        kind.level,
        t.out_dim(y),
        spec,
        graph_template(spec),
        feats,
        y,
        splits,
        layers=zoo.layers,
        **kw,
    )
