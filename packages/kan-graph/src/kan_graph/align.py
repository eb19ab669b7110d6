"""Weight matching of KANs (WS-KAN appendix D) and MergeMany over a zoo (Ainsworth et al., 2023).

Every edge of layer ``l`` carries a feature vector (``[w_b, w_s, c...]`` for ``features="raw"``; sampled
values for ``"functional"``, useful for B-splines with different grids). Aligning ``B`` to a reference
``A`` maximises, over hidden permutations ``perm_1 .. perm_{L-1}``,

    sum_l sum_{o, i, f} A_l[o, i, f] * B_l[perm_{l+1}[o], perm_l[i], f]        (perm_0, perm_L = identity)

i.e. the inner product summed over all channels. Coordinate descent: for one hidden layer ``h`` with the
other permutations fixed, the objective is linear in ``perm_h``, with profit

    C[j, k] = sum_{i,f} A_{h-1}[j, i, f] B_{h-1}[k, perm_{h-1}[i], f]   (in-edges of neuron h)
            + sum_{o,f} A_h[o, j, f] B_h[perm_{h+1}[o], k, f]           (out-edges of neuron h)

of putting neuron ``k`` of ``B`` at position ``j``, solved by ``scipy.optimize.linear_sum_assignment``.
Sweeps over the hidden layers (in a seeded random order) repeat until a sweep changes nothing or
``max_iter`` sweeps ran. Cost matrices of all models of a stacked zoo are built at once with batched
matrix products; only the assignments run per model.

Permutations follow :mod:`kan_graph.symmetry`: ``permute_stacked(spec, layers, perms)`` applies them to
parameters, ``permute_layer_features`` / ``permute_edge_features`` to edge features.

Two levels, one algorithm: :func:`weight_matching`, :func:`match_features` and :func:`merge_many_features`
work on per-layer edge features ``(M, out, in, F)`` of any origin (e.g. the flat ``(M, E, F)`` features of a
weight-space data set, split by :func:`kan_graph.encoding.split_edge_features`); :func:`align`,
:func:`align_stacked` and :func:`merge_many` compute the features of KANs / stacked parameters and call them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from kan_core import KAN, KANSpec
from kan_core.basis import get_basis
from kan_core.stacked import StackedKAN
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from .encoding import edge_features
from .symmetry import (
    permute,
    permute_layer_features,
    permute_stacked,
    select_stacked,
    take_along,
    tensor_axes,
)

__all__ = [
    "align",
    "align_stacked",
    "match_features",
    "merge_many",
    "merge_many_features",
    "MergeResult",
    "FeatureMergeResult",
    "feature_distance",
    "weight_matching",
]

Layers = Sequence[Mapping[str, Tensor]]


def _feats(
    spec: KANSpec, layers: Layers, features: str, num_points: int, derivative: bool | str
) -> list[Tensor]:
    return [f.detach() for f in edge_features(spec, layers, features, num_points, derivative)]


def weight_matching(
    ref_feats: Sequence[Tensor],
    feats: Sequence[Tensor],
    init: Sequence[Tensor] | None = None,
    *,
    max_iter: int = 100,
    seed: int = 0,
) -> tuple[list[Tensor], int]:
    """Coordinate-descent weight matching of ``M`` models to references, vectorised over models.

    Args:
        ref_feats: per-layer reference features ``(out, in, F)`` (shared) or ``(M, out, in, F)``.
        feats: per-layer features of the models to align, ``(M, out, in, F)``.
        init: starting permutations ``(M, d_h)`` per hidden layer; when ``None``, a greedy forward pass
            (each hidden layer matched on its in-edges only, input to output) gives the start.
        max_iter: maximum number of sweeps over the hidden layers.
        seed: seeds the order in which hidden layers are visited (deterministic given the seed).

    Returns:
        ``(perms, sweeps)``: per hidden layer long tensors ``(M, d_h)`` such that
        ``permute_layer_features(feats, perms)`` is aligned to the references, and the number of sweeps run.
    """
    L = len(feats)
    m = feats[0].shape[0]
    widths = [feats[0].shape[-2]] + [f.shape[-3] for f in feats]
    hidden = list(range(1, L))
    dev = feats[0].device
    if init is None:
        perms = [torch.arange(widths[h], device=dev).expand(m, -1).clone() for h in hidden]
    else:
        perms = [p.to(dev).clone() for p in init]
    if not hidden or m == 0:
        return perms, 0
    shared = ref_feats[0].dim() == 3
    # layouts that make every cost term one contiguous matmul:
    #   in-term of hidden h:  B_{h-1} (M, out=k, in, F), its `in` axis permuted by perm_{h-1}
    #   out-term of hidden h: B_h^T   (M, in=k, out, F), its `out` axis permuted by perm_{h+1}
    b_t = [f.transpose(-3, -2).contiguous() for f in feats]
    b_n = [f.contiguous() for f in feats]
    a_in = [f.reshape(*f.shape[:-2], -1) for f in ref_feats]  # (..., out, in*F)
    a_out = [
        f.transpose(-3, -2).reshape(*f.shape[:-3], f.shape[-2], -1) for f in ref_feats
    ]  # (..., in, out*F)

    def step(h: int, idx: Tensor, use_out: bool) -> Tensor:
        """Solve for ``perm_h`` of the models ``idx`` with the others fixed; returns which changed."""
        everyone = len(idx) == m
        sel = idx.to(dev)

        def pick(t: Tensor) -> Tensor:
            return t if everyone else t.index_select(0, sel)

        ma, d = len(idx), widths[h]
        b_in = pick(b_n[h - 1])
        if h - 1 >= 1:
            b_in = take_along(b_in, -2, pick(perms[h - 2]), 3)
        ai = a_in[h - 1] if shared else pick(a_in[h - 1])  # (..., j, i*f)
        cost = torch.matmul(ai, b_in.reshape(ma, d, -1).transpose(-1, -2))  # (Ma, j, k)
        if use_out:
            b_out = pick(b_t[h])
            if h + 1 <= L - 1:
                b_out = take_along(b_out, -2, pick(perms[h]), 3)
            ao = a_out[h] if shared else pick(a_out[h])  # (..., j, o*f)
            cost = cost + torch.matmul(ao, b_out.reshape(ma, d, -1).transpose(-1, -2))
        c = cost.to(torch.float64).cpu().numpy()
        old = pick(perms[h - 1]).cpu().numpy()
        new = np.empty_like(old)
        for r in range(ma):
            new[r] = linear_sum_assignment(c[r], maximize=True)[1]
        perms[h - 1][sel] = torch.from_numpy(new).to(dev)
        return torch.from_numpy((new != old).any(1))

    if init is None:  # greedy forward pass on in-edges only: exact for a planted permutation
        everyone = torch.arange(m)
        for h in hidden:
            step(h, everyone, use_out=False)
    rng = np.random.default_rng(seed)
    active = torch.ones(m, dtype=torch.bool)
    sweeps = 0
    for _ in range(max_iter):
        sweeps += 1
        idx = active.nonzero().flatten()
        changed = torch.zeros(len(idx), dtype=torch.bool)
        for h in rng.permutation(hidden).tolist():
            changed |= step(h, idx, use_out=True)
        active[idx[~changed]] = False
        if not bool(active.any()):
            break
    return perms, sweeps


def _unstack_ref(spec: KANSpec, ref: Layers) -> list[dict[str, Tensor]]:
    """Reference per-layer tensors without a model dim (a leading dim of 1 is squeezed)."""
    out = []
    for l, p in enumerate(ref):
        if p["coef"].dim() == 4:
            if p["coef"].shape[0] != 1:
                raise ValueError(
                    f"reference layers[{l}]['coef'] has a model dim {p['coef'].shape[0]}; give one model"
                )
            p = {k: v[0] for k, v in p.items()}
        out.append({k: v.detach() for k, v in p.items()})
    if len(out) != spec.depth:
        raise ValueError(
            f"reference: expected {spec.depth} layer dicts for widths {spec.widths}, got {len(out)}"
        )
    return out


def align_stacked(
    spec: KANSpec,
    reference_layers: Layers,
    layers: StackedKAN | Layers,
    *,
    features: str = "raw",
    num_points: int = 32,
    derivative: bool | str = False,
    max_iter: int = 100,
    seed: int = 0,
    chunk_size: int = 1024,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[dict[str, Tensor]], list[Tensor]]:
    """Align every model of a stacked zoo to one reference KAN (train and test sets alike).

    Args:
        spec: the shared architecture.
        reference_layers: per-layer tensors of the reference (no model dim), e.g. ``merge_many(...).reference``.
        layers: stacked per-layer tensors with leading model dim ``M`` (a :class:`StackedKAN` or its
            per-layer dicts; tensors of the non-stacked rank are shared by all models).
        features: ``"raw"`` (``[w_b, w_s, c...]``) or ``"functional"`` (sampled functions; grids may differ).
        num_points, derivative: for ``features="functional"``.
        max_iter: maximum coordinate-descent sweeps; seed: seeds the layer order.
        chunk_size: models processed together (bounds memory).
        progress: called with the number of models finished after every chunk.

    Returns:
        ``(aligned_layers, perms)``: the permuted stacked layers (a :class:`StackedKAN` when ``layers`` is
        one) and per hidden layer ``(M, d_h)`` perms.
    """
    container = isinstance(layers, StackedKAN)
    if container:
        if layers.spec != spec:
            raise ValueError(f"align_stacked: spec {spec} differs from the StackedKAN's spec {layers.spec}")
        layers = layers.layers
    ref_f = _feats(spec, _unstack_ref(spec, reference_layers), features, num_points, derivative)
    m = layers[0]["coef"].shape[0]

    def chunk_feats(part: slice) -> list[Tensor]:
        return _feats(spec, select_stacked(spec, layers, part), features, num_points, derivative)

    full = _match_in_chunks(
        ref_f,
        m,
        chunk_feats,
        spec.widths[1:-1],
        layers[0]["coef"].device,
        max_iter,
        seed,
        chunk_size,
        progress,
    )
    aligned = permute_stacked(spec, [{k: v.detach() for k, v in p.items()} for p in layers], full)
    return (StackedKAN(spec, aligned) if container else aligned), full


def _match_in_chunks(
    ref_feats: Sequence[Tensor],
    m: int,
    chunk_feats: Callable[[slice], list[Tensor]],
    hidden: Sequence[int],
    device: torch.device,
    max_iter: int,
    seed: int,
    chunk_size: int,
    progress: Callable[[int], None] | None,
) -> list[Tensor]:
    """:func:`weight_matching` of ``m`` models to ``ref_feats``, ``chunk_size`` models at a time.

    ``chunk_feats(slice)`` gives the per-layer features ``(S, out, in, F)`` of the models in the slice;
    ``hidden`` are the hidden widths. Returns per hidden layer ``(m, d_h)`` perms.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    perms: list[list[Tensor]] = [[] for _ in hidden]
    for s in range(0, m, chunk_size):
        pc, _ = weight_matching(
            ref_feats, chunk_feats(slice(s, s + chunk_size)), max_iter=max_iter, seed=seed
        )
        for h, p in enumerate(pc):
            perms[h].append(p)
        if progress is not None:
            progress(min(chunk_size, m - s))
    return [
        torch.cat(p) if p else torch.empty(0, d, dtype=torch.long, device=device)
        for p, d in zip(perms, hidden)
    ]


def match_features(
    ref_feats: Sequence[Tensor],
    feats: Sequence[Tensor],
    *,
    max_iter: int = 100,
    seed: int = 0,
    chunk_size: int = 1024,
    progress: Callable[[int], None] | None = None,
) -> list[Tensor]:
    """Align every model's edge features to one reference (the feature-level :func:`align_stacked`).

    Args:
        ref_feats: per-layer reference features ``(out, in, F)``, e.g. ``merge_many_features(...).reference``.
        feats: per-layer features ``(M, out, in, F)`` of the models (flat ``(M, E, F)`` features:
            :func:`kan_graph.encoding.split_edge_features`).
        max_iter, seed: as :func:`weight_matching`; chunk_size: models matched together (bounds memory);
        progress: called with the number of models finished after every chunk.

    Returns:
        Per hidden layer ``(M, d_h)`` perms; ``permute_layer_features(feats, perms)`` is aligned.
    """
    _check_feature_layers(feats, "feats")
    hidden = [f.shape[-3] for f in feats[:-1]]
    return _match_in_chunks(
        ref_feats,
        feats[0].shape[0],
        lambda part: [f[part] for f in feats],
        hidden,
        feats[0].device,
        max_iter,
        seed,
        chunk_size,
        progress,
    )


def _check_feature_layers(feats: Sequence[Tensor], what: str) -> None:
    """Per-layer features ``(M, out, in, F)`` must chain (``in`` of layer ``l + 1`` is ``out`` of ``l``)."""
    if not feats:
        raise ValueError(f"{what}: expected per-layer features (M, out, in, F), got an empty list")
    for l, f in enumerate(feats):
        if f.dim() != 4 or f.shape[0] != feats[0].shape[0] or f.shape[-1] != feats[0].shape[-1]:
            raise ValueError(
                f"{what}[{l}] must have shape (M, out, in, F) with the M and F of {what}[0] "
                f"{tuple(feats[0].shape)}, got {tuple(f.shape)}"
            )
        if l and f.shape[2] != feats[l - 1].shape[1]:
            raise ValueError(
                f"{what}[{l}] has {f.shape[2]} inputs but {what}[{l - 1}] has {feats[l - 1].shape[1]} outputs"
            )


def align(
    reference: KAN,
    kan: KAN,
    *,
    features: str = "raw",
    num_points: int = 32,
    derivative: bool | str = False,
    max_iter: int = 100,
    seed: int = 0,
) -> tuple[KAN, list[Tensor]]:
    """Permute the hidden neurons of ``kan`` to best match ``reference`` (same widths).

    Returns:
        ``(aligned_kan, perms)`` with ``aligned_kan == permute(kan, perms)`` (same function as ``kan``) and
        ``perms`` one ``(d_h,)`` long tensor per hidden layer.
    """
    if reference.spec.widths != kan.spec.widths:
        raise ValueError(f"align: widths differ ({reference.spec.widths} vs {kan.spec.widths})")
    spec = kan.spec
    ref_f = _feats(
        reference.spec,
        [{k: v.detach() for k, v in p.items()} for p in reference.layer_params()],
        features,
        num_points,
        derivative,
    )
    f = _feats(
        spec,
        [{k: v.detach().unsqueeze(0) for k, v in p.items()} for p in kan.layer_params()],
        features,
        num_points,
        derivative,
    )
    pc, _ = weight_matching(ref_f, f, max_iter=max_iter, seed=seed)
    perms = [p[0] for p in pc]
    return permute(kan, perms), perms


def feature_distance(
    spec: KANSpec, reference_layers: Layers, layers: Layers, features: str = "raw"
) -> Tensor:
    """Squared L2 distance of every stacked model's edge features to the reference's: ``(M,)``."""
    ref = _feats(spec, _unstack_ref(spec, reference_layers), features, 32, False)
    f = _feats(spec, layers, features, 32, False)
    return sum(((a - r) ** 2).flatten(1).sum(1) for a, r in zip(f, ref))  # type: ignore[return-value]


@dataclass
class MergeResult:
    """Outcome of :func:`merge_many`.

    Attributes:
        reference: per-layer tensors (no model dim) of the average of the aligned subset.
        perms: per hidden layer ``(S, d_h)`` permutations aligning each subset model to the others.
        indices: ``(S,)`` indices of the models used (a seeded random subset of at most ``max_models``).
        rounds: MergeMany rounds run.
        converged: the rounds stopped before ``max_rounds``; ``stopped_by`` says why.
        history: relative change of the mean after each round.
        stopped_by: ``"tolerance"`` (the mean moved less than ``tol``), ``"fixed_point"`` (a round changed no
            permutation, so later rounds would change nothing) or ``"max_rounds"``.
    """

    reference: list[dict[str, Tensor]]
    perms: list[Tensor]
    indices: Tensor
    rounds: int
    converged: bool
    history: list[float] = field(default_factory=list)
    stopped_by: str = "max_rounds"

    def reference_kan(self, spec: KANSpec) -> KAN:
        """The reference as a :class:`kan_core.KAN` (its mask is the mean of masks, not 0/1)."""
        return KAN.from_params(spec, self.reference)


def _parse_models(models, spec) -> tuple[KANSpec, list[dict[str, Tensor]]]:
    if isinstance(models, KANSpec):  # merge_many(spec, layers)
        models, spec = spec, models
    if isinstance(models, StackedKAN):
        if spec is not None and spec != models.spec:
            raise ValueError(f"merge_many: spec={spec} differs from the StackedKAN's spec {models.spec}")
        return models.spec, models.detach().layers
    if isinstance(models, Sequence) and len(models) > 0 and isinstance(models[0], KAN):
        for k in models:
            if k.spec != models[0].spec:
                raise ValueError(f"merge_many: all KANs need one spec; got {k.spec} and {models[0].spec}")
        stacked = StackedKAN.from_kans(models)
        return stacked.spec, stacked.layers
    if spec is None:
        raise ValueError("merge_many: stacked layers need spec= (or call merge_many(spec, layers))")
    return spec, [{k: v.detach() for k, v in p.items()} for p in models]


def merge_many(
    models,
    spec: KANSpec | Layers | None = None,
    *,
    max_models: int = 1000,
    tol: float = 1e-3,
    max_rounds: int = 50,
    max_iter: int = 100,
    features: str = "raw",
    num_points: int = 32,
    derivative: bool | str = False,
    chunk_size: int | None = None,
    seed: int = 0,
    progress: Callable[[int, float], None] | None = None,
) -> MergeResult:
    """MergeMany: align a (random subset of a) zoo to itself; its aligned average becomes the reference.

    Call as ``merge_many(list_of_kans)``, ``merge_many(stacked)`` (a :class:`~kan_core.stacked.StackedKAN`),
    ``merge_many(stacked_layers, spec=spec)`` or ``merge_many(spec, stacked_layers)``. Each round aligns every model of the subset to the mean of the
    *other* aligned models (leave-one-out), in chunks of ``chunk_size`` models updated one after another
    (chunk-wise Gauss-Seidel; ``chunk_size=1`` is Ainsworth et al.'s sequential algorithm; the default
    ``ceil(S / 16)`` keeps 16 sequential updates per round, enough to avoid the 2-cycles of a fully
    simultaneous update), until the relative change of the mean of the aligned features falls below
    ``tol``, a round changes no permutation, or ``max_rounds`` ran.

    Args:
        max_models: size of the seeded random subset (the paper: 1000).
        tol: tolerance on ``||mean_new - mean_old|| / ||mean_old||`` (the paper: 1e-3).
        features: ``"raw"`` or ``"functional"`` (see :func:`align_stacked`).
        seed: seeds the subset, the chunk order and the layer order (deterministic given the seed).
        progress: called as ``progress(round, relative_change)`` after every round.

    Returns:
        A :class:`MergeResult`; ``align_stacked(spec, result.reference, layers)`` then aligns the zoo.
    """
    spec, layers = _parse_models(models, spec)
    m = layers[0]["coef"].shape[0]
    g, indices = _seeded_subset(m, max_models, seed, "merge_many")
    sub = select_stacked(spec, layers, indices.to(layers[0]["coef"].device))
    feats = _feats(spec, sub, features, num_points, derivative)
    perms, rounds, stopped_by, history = _merge_rounds(
        feats, g, tol, max_rounds, max_iter, chunk_size, seed, progress
    )
    axes = tensor_axes(spec)
    reference = [
        {k: (v.mean(0) if k not in axes or v.dim() > axes[k].rank else v.clone()) for k, v in p.items()}
        for p in permute_stacked(spec, sub, perms)
    ]
    if get_basis(spec.basis).has_grid:
        for p in reference:  # averaged grids stay sorted; keep a valid knot vector
            p["grid"] = p["grid"].sort(-1).values
    return MergeResult(reference, perms, indices, rounds, stopped_by != "max_rounds", history, stopped_by)


@dataclass
class FeatureMergeResult:
    """Outcome of :func:`merge_many_features`.

    Attributes:
        reference: per-layer features ``(out, in, F)``, the average of the aligned subset.
        perms, indices, rounds, converged, history, stopped_by: as :class:`MergeResult`.
    """

    reference: list[Tensor]
    perms: list[Tensor]
    indices: Tensor
    rounds: int
    converged: bool
    history: list[float] = field(default_factory=list)
    stopped_by: str = "max_rounds"


def merge_many_features(
    feats: Sequence[Tensor],
    *,
    max_models: int = 1000,
    tol: float = 1e-3,
    max_rounds: int = 50,
    max_iter: int = 100,
    chunk_size: int | None = None,
    seed: int = 0,
    progress: Callable[[int, float], None] | None = None,
) -> FeatureMergeResult:
    """MergeMany on edge features: the algorithm of :func:`merge_many`, for features of any origin.

    Args:
        feats: per-layer edge features ``(M, out, in, F)`` of the zoo (flat ``(M, E, F)`` features:
            :func:`kan_graph.encoding.split_edge_features`).
        max_models, tol, max_rounds, max_iter, chunk_size, seed, progress: as :func:`merge_many` (the same
            seed picks the same subset and visiting order).

    Returns:
        A :class:`FeatureMergeResult`; ``match_features(result.reference, feats)`` then aligns the zoo. For
        raw features of stacked parameters the result equals :func:`merge_many`'s (its reference's raw
        features are this reference).
    """
    _check_feature_layers(feats, "feats")
    feats = [f.detach() for f in feats]
    g, indices = _seeded_subset(feats[0].shape[0], max_models, seed, "merge_many_features")
    sub = [f.index_select(0, indices.to(f.device)) for f in feats]
    perms, rounds, stopped_by, history = _merge_rounds(
        sub, g, tol, max_rounds, max_iter, chunk_size, seed, progress
    )
    reference = [f.mean(0) for f in permute_layer_features(sub, perms)]
    return FeatureMergeResult(reference, perms, indices, rounds, stopped_by != "max_rounds", history, stopped_by)


def _seeded_subset(m: int, max_models: int, seed: int, who: str) -> tuple[torch.Generator, Tensor]:
    """The seeded generator of a MergeMany run and its subset of at most ``max_models`` of ``m`` indices."""
    if m < 2:
        raise ValueError(f"{who} needs at least 2 models, got {m}")
    g = torch.Generator().manual_seed(int(seed))
    if m > max_models:
        return g, torch.randperm(m, generator=g)[:max_models].sort().values
    return g, torch.arange(m)


def _merge_rounds(
    feats: list[Tensor],
    g: torch.Generator,
    tol: float,
    max_rounds: int,
    max_iter: int,
    chunk_size: int | None,
    seed: int,
    progress: Callable[[int, float], None] | None,
) -> tuple[list[Tensor], int, str, list[float]]:
    """MergeMany rounds over per-layer features ``(S, out, in, F)``: ``(perms, rounds, stopped_by, history)``
    (``stopped_by`` as :attr:`MergeResult.stopped_by`)."""
    s = feats[0].shape[0]
    dev = feats[0].device
    perms = [torch.arange(f.shape[1], device=dev).expand(s, -1).clone() for f in feats[:-1]]
    aligned = permute_layer_features(feats, perms)
    total = [a.sum(0) for a in aligned]
    mean_old = [t / s for t in total]
    if chunk_size is None:
        chunk_size = max(1, math.ceil(s / 16))
    history: list[float] = []
    stopped_by = "max_rounds"
    rounds = 0
    for r in range(max_rounds):
        rounds += 1
        before = [p.clone() for p in perms]
        order = torch.randperm(s, generator=g)
        for c in range(0, s, chunk_size):
            ids = order[c : c + chunk_size].to(dev)
            cur = [a.index_select(0, ids) for a in aligned]
            refs = [(t.unsqueeze(0) - x) / (s - 1) for t, x in zip(total, cur)]
            f = [x.index_select(0, ids) for x in feats]
            init = [p.index_select(0, ids) for p in perms]
            new, _ = weight_matching(refs, f, init if r else None, max_iter=max_iter, seed=seed + r)
            new_al = permute_layer_features(f, new)
            for l in range(len(total)):
                total[l] = total[l] + (new_al[l] - cur[l]).sum(0)
                aligned[l][ids] = new_al[l]
            for h in range(len(perms)):
                perms[h][ids] = new[h]
        mean_new = [t / s for t in total]
        num = math.sqrt(sum(float(((a - b) ** 2).sum()) for a, b in zip(mean_new, mean_old)))
        den = math.sqrt(sum(float((b**2).sum()) for b in mean_old))
        rel = num / max(den, 1e-30)
        history.append(rel)
        if progress is not None:
            progress(rounds, rel)
        mean_old = mean_new
        if rel < tol:
            stopped_by = "tolerance"
        elif all(torch.equal(a, b) for a, b in zip(before, perms)):
            stopped_by = "fixed_point"
        if stopped_by != "max_rounds":
            break
    return perms, rounds, stopped_by, history
