"""Hidden-neuron alignment of zoo features to a MergeMany reference (the "MLP + Align." baseline)."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from .task_data import TaskData

__all__ = ["align_features", "merge_many_perms", "select_models"]


def _apply(widths: tuple[int, ...], feats: Tensor, perms: list[Tensor]) -> Tensor:
    from .data import permute_edge_features

    return permute_edge_features(widths, feats, perms)


def _align_to_ref(
    widths: tuple[int, ...], feats: Tensor, ref: Tensor, iters: int = 5
) -> tuple[Tensor, list[Tensor]]:
    """Weight matching of every model ``feats (M, E, F)`` to one reference ``ref (E, F)``.

    Coordinate descent over hidden layers; for layer ``h`` the similarity of reference neuron ``j`` and
    model neuron ``k`` sums the inner products of their incoming and outgoing edge features (channels
    summed), and ``scipy.optimize.linear_sum_assignment`` picks the permutation.
    """
    from scipy.optimize import linear_sum_assignment

    Mn, L = feats.shape[0], len(widths) - 1
    perms = [torch.arange(w).expand(Mn, w).clone() for w in widths[1:-1]]

    def view(f: Tensor, l: int) -> Tensor:  # (M, out, in, F)
        off = sum(widths[k] * widths[k + 1] for k in range(l))
        return f[:, off : off + widths[l] * widths[l + 1]].reshape(f.shape[0], widths[l + 1], widths[l], -1)

    ref = ref.unsqueeze(0)
    for _ in range(iters):
        changed = 0
        for h in range(1, L):
            cur = _apply(widths, feats, perms)
            a_in, r_in = view(cur, h - 1), view(ref, h - 1)
            a_out, r_out = view(cur, h), view(ref, h)
            # only hidden layer h moves: undo its current permutation inside cur
            inv = torch.argsort(perms[h - 1], dim=1)
            a_in = torch.gather(a_in, 1, inv[:, :, None, None].expand_as(a_in))
            a_out = torch.gather(a_out, 2, inv[:, None, :, None].expand_as(a_out))
            sim = torch.einsum("jif,mkif->mjk", r_in[0], a_in) + torch.einsum(
                "ojf,mokf->mjk", r_out[0], a_out
            )
            sim_np = sim.double().numpy()
            for m in range(Mn):
                _, col = linear_sum_assignment(sim_np[m], maximize=True)
                new = torch.as_tensor(col, dtype=torch.long)
                changed += int((new != perms[h - 1][m]).sum())
                perms[h - 1][m] = new
        if changed == 0:
            break
    return _apply(widths, feats, perms), perms


def merge_many_perms(
    widths: tuple[int, ...], feats: Tensor, ref_idx: Tensor, iters: int = 6, tol: float = 1e-3
) -> list[Tensor]:
    """MergeMany on raw edge features, then the permutations aligning every model to its average.

    The reference starts at the first model of ``ref_idx`` and becomes the mean of the aligned models
    until it changes by less than ``tol`` (relative); every model is then aligned to it.
    """
    sub = feats[ref_idx]
    ref = sub[0]
    for _ in range(iters):
        aligned, _ = _align_to_ref(widths, sub, ref)
        new = aligned.mean(0)
        done = float((new - ref).norm() / ref.norm().clamp_min(1e-12)) < tol
        ref = new
        if done:
            break
    return _align_to_ref(widths, feats, ref)[1]


def align_features(data: TaskData, max_reference_models: int = 1000) -> TaskData:
    """``data`` with every model aligned to a MergeMany reference (the "MLP + Align." baseline).

    The reference is the MergeMany average of up to ``max_reference_models`` training models. Edge
    targets are permuted the same way (``data.perms`` records the permutations).
    """
    from .data import permute_edge_features

    widths = data.template.widths
    if len(widths) <= 2:
        return replace(data, perms=[])
    train = data.splits["train"]
    from kan_graph import align_stacked, merge_many

    if data.layers is not None:
        sub = select_models(data.layers, train)
        ref = merge_many(sub, spec=data.spec, max_models=max_reference_models).reference
        _, perms = align_stacked(data.spec, ref, data.layers)
    else:
        perms = merge_many_perms(widths, data.feats, train[:max_reference_models])
    feats = permute_edge_features(widths, data.feats, perms)
    targets = data.targets
    if data.level == "edge":
        targets = permute_edge_features(widths, targets.unsqueeze(-1), perms).squeeze(-1)
    return replace(data, feats=feats, targets=targets, perms=perms)


def select_models(
    layers: list[dict[str, Tensor]], idx: Tensor, m: int | None = None
) -> list[dict[str, Tensor]]:
    """Models ``idx`` of stacked layers (tensors without the model dim, e.g. a shared grid, are kept)."""
    from kan_graph.symmetry import BASE_RANK

    return [{k: (v[idx] if v.dim() > BASE_RANK.get(k, 0) else v) for k, v in p.items()} for p in layers]
