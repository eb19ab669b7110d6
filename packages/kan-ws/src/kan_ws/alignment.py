"""Hidden-neuron alignment of zoo features to a MergeMany reference (the "MLP + Align." baseline).

The matching itself is kan-graph's (:func:`kan_graph.align.merge_many_features` and
:func:`kan_graph.align.match_features`, the feature-level form of ``merge_many`` / ``align_stacked``); this
module applies it to a task's flat ``(M, E, F)`` raw edge features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from kan_graph.align import match_features, merge_many_features
from kan_graph.encoding import split_edge_features
from kan_graph.symmetry import permute_edge_features
from torch import Tensor

from .task_data import TaskData

__all__ = ["align_features", "merge_many_perms"]


def merge_many_perms(
    widths: Sequence[int],
    feats: Tensor,
    ref_idx: Tensor,
    *,
    max_models: int = 1000,
    tol: float = 1e-3,
    seed: int = 0,
) -> list[Tensor]:
    """Hidden permutations aligning every model to the MergeMany average of the models ``ref_idx``.

    Args:
        widths: the zoo's width list.
        feats: ``(M, E, F)`` edge features in KAN-graph edge order.
        ref_idx: ``(S,)`` indices of the models the reference is merged from (e.g. the training split); at
            most ``max_models`` of them (a ``seed``-ed random subset) are used.
        tol: MergeMany's tolerance on the relative change of the average.

    Returns:
        Per hidden layer ``(M, d_h)`` perms; ``permute_edge_features(widths, feats, perms)`` is aligned.
    """
    layer_feats = split_edge_features(widths, feats)
    ref_idx = ref_idx.to(feats.device)
    ref = merge_many_features(
        [f.index_select(0, ref_idx) for f in layer_feats], max_models=max_models, tol=tol, seed=seed
    ).reference
    return match_features(ref, layer_feats, seed=seed)


def align_features(data: TaskData, max_reference_models: int = 1000) -> TaskData:
    """``data`` with every model aligned to a MergeMany reference (the "MLP + Align." baseline).

    The reference is the MergeMany average of up to ``max_reference_models`` training models. Edge
    targets are permuted the same way (``data.perms`` records the permutations).
    """
    widths = data.template.widths
    if len(widths) <= 2:
        return replace(data, perms=[])
    perms = merge_many_perms(widths, data.feats, data.splits["train"], max_models=max_reference_models)
    feats = permute_edge_features(widths, data.feats, perms)
    targets = data.targets
    if data.level == "edge":
        targets = permute_edge_features(widths, targets.unsqueeze(-1), perms).squeeze(-1)
    return replace(data, feats=feats, targets=targets, perms=perms)
