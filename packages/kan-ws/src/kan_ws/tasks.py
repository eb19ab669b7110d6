"""The weight-space tasks of the WS-KAN paper (section 5), built from a zoo (:func:`kan_ws.zoo.load_zoo`).

One import point for the modules below (each holds one concern)::

    task_kinds   the task and task-kind registries (targets, loss, metrics, selection on validation)
    task_data    TaskData, make_task
    alignment    align_features, merge_many_perms (MergeMany, "MLP + Align.")
    experiment   run_experiment (one training job of a registered method)
    evaluation   evaluate, evaluate_ood
    downstream   downstream_pruning, pruning_timing
    checkpoints  save_checkpoint, load_checkpoint, write_json

The four tasks (``inr``, ``sine``, ``accuracy``, ``mask``; targets, losses and metrics in
:mod:`kan_ws.task_kinds`), plus downstream pruning (:func:`downstream_pruning`), out-of-distribution
evaluation on wider KANs (:func:`evaluate_ood`) and the two WS-KAN ablations (methods ``wskan-nope`` /
``wskan-nobidir``).
A zoo is duck-typed: anything with ``spec``, ``layers``, ``targets``, ``masks``, ``splits`` works.
"""

from __future__ import annotations

from .alignment import align_features, merge_many_perms
from .checkpoints import load_checkpoint, save_checkpoint
from .downstream import classifier_inputs, downstream_pruning, predicted_masks, pruning_timing
from .evaluation import evaluate, evaluate_ood
from .experiment import run_experiment
from .task_data import TaskData, make_task, zoo_dataset_name
from .task_kinds import TASKS, VAL_METRIC

__all__ = [
    "TASKS",
    "VAL_METRIC",
    "TaskData",
    "make_task",
    "align_features",
    "merge_many_perms",
    "run_experiment",
    "evaluate",
    "downstream_pruning",
    "pruning_timing",
    "classifier_inputs",
    "predicted_masks",
    "evaluate_ood",
    "save_checkpoint",
    "load_checkpoint",
    "zoo_dataset_name",
]
