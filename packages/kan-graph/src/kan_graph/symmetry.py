"""Hidden-neuron permutation symmetry of KANs (WS-KAN, Proposition 3.1).

A group element is a list of ``L - 1`` permutations, one per hidden layer ``h = 1 .. L-1``, each a long
tensor ``perm_h: (d_h,)`` (or ``(M, d_h)``: one per model of a stacked zoo). Convention (a gather):
after the action, hidden neuron ``j`` of layer ``h`` is the old neuron ``perm_h[j]``. Concretely, for the
per-layer tensors of :meth:`kan_core.layers.EdgeLayer.params` (torch layout ``(out, in, ...)``):

* layer ``h - 1`` (whose *outputs* are neurons of layer ``h``): rows of ``scale_base``, ``scale_sp``,
  ``coef``, ``mask`` and the entries of ``node_scale``/``node_bias`` are gathered with ``perm_h``;
* layer ``h`` (whose *inputs* are neurons of layer ``h``): columns of ``scale_base``, ``scale_sp``,
  ``coef``, ``mask`` and the input axis of every extra tensor of the basis that has one are gathered
  (B-splines: the rows of ``grid``, a hidden neuron's knots move with it); extra tensors shared by all
  inputs of a layer (Gram's ``beta``) are unaffected.

Which axis of an extra tensor follows the inputs is the basis' business: :func:`tensor_axes` asks
:meth:`kan_core.basis.Basis.extra_input_axes` of ``get_basis(spec.basis)``, so a newly registered basis
needs no change here.

In the paper's notation ``phi'^1 = P_1^T phi^1``, ``phi'^l = P_l^T phi^l P_{l-1}``, ``phi'^L = phi^L P_{L-1}``;
the function computed by the KAN does not change. Edge features (:mod:`kan_graph.encoding`) move with
their edges: :func:`permute_layer_features` (per layer) and :func:`permute_edge_features` (flat, KAN-graph
edge order).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from kan_core import KAN, KANSpec
from kan_core.basis import get_basis
from torch import Tensor

__all__ = [
    "random_permutation",
    "identity_permutation",
    "invert_permutation",
    "permute",
    "permute_layers",
    "permute_stacked",
    "permute_layer_features",
    "permute_edge_features",
    "select_stacked",
    "take_along",
    "same_function",
    "NeuronAxes",
    "LAYER_TENSOR_AXES",
    "tensor_axes",
]


@dataclass(frozen=True)
class NeuronAxes:
    """Where the neuron axes of one per-layer tensor are.

    Attributes:
        rank: rank of the tensor of one model (without leading model dims).
        out_axis: axis (negative, from the end) indexing the layer's output neurons, or ``None``.
        in_axis: axis (negative, from the end) indexing the layer's input neurons, or ``None``.
    """

    rank: int
    out_axis: int | None
    in_axis: int | None


#: the tensors every layer has whatever its basis (:meth:`kan_core.layers.EdgeLayer.params`); the basis'
#: extra tensors come from the registry (:func:`tensor_axes`)
LAYER_TENSOR_AXES: dict[str, NeuronAxes] = {
    "scale_base": NeuronAxes(2, -2, -1),
    "scale_sp": NeuronAxes(2, -2, -1),
    "mask": NeuronAxes(2, -2, -1),
    "coef": NeuronAxes(3, -3, -2),
    "node_scale": NeuronAxes(1, -1, None),
    "node_bias": NeuronAxes(1, -1, None),
}


def tensor_axes(spec: KANSpec) -> dict[str, NeuronAxes]:
    """Neuron axes of every per-layer tensor of a model of ``spec``, by name.

    :data:`LAYER_TENSOR_AXES` plus the extra tensors of ``get_basis(spec.basis)``: their rank from
    :meth:`~kan_core.basis.Basis.extra_shapes`, their input axis from
    :meth:`~kan_core.basis.Basis.extra_input_axes` (extra tensors have no output axis).
    """
    basis = get_basis(spec.basis)
    shapes = basis.extra_shapes(spec, 1)
    axes = dict(LAYER_TENSOR_AXES)
    for name, axis in basis.extra_input_axes(spec).items():
        rank = len(shapes[name])
        axes[name] = NeuronAxes(rank, None, None if axis is None else axis - rank)
    return axes


def select_stacked(
    spec: KANSpec, layers: Sequence[Mapping[str, Tensor]], index: Tensor | slice
) -> list[dict[str, Tensor]]:
    """Models ``index`` of stacked per-layer tensors.

    Args:
        layers: per-layer dicts, tensors with a leading model dim ``M`` (``coef (M, out, in, n)``); a tensor
            of a single model's rank (a ``grid (in, K)`` shared by all models) is kept as it is.
        index: a long tensor ``(S,)`` or a slice over the ``M`` models.

    Returns:
        Per-layer dicts with leading dim ``S`` on every stacked tensor (names :func:`tensor_axes` does not
        know are taken as stacked).
    """
    axes = tensor_axes(spec)
    out = []
    for p in layers:
        sel = {}
        for k, v in p.items():
            stacked = k not in axes or v.dim() > axes[k].rank
            if stacked and isinstance(index, Tensor):
                v = v.index_select(0, index.to(v.device))
            elif stacked:
                v = v[index]
            sel[k] = v
        out.append(sel)
    return out


def random_permutation(
    spec: KANSpec, generator: torch.Generator | None = None, num_models: int | None = None
) -> list[Tensor]:
    """A random group element: one permutation per hidden layer.

    Args:
        spec: the architecture; hidden layers are ``1 .. L-1`` with widths ``spec.widths[1:-1]``.
        generator: source of randomness (the global RNG is used when ``None``).
        num_models: if given, draw an independent element per model: tensors ``(M, d_h)``.

    Returns:
        ``[perm_1, ..., perm_{L-1}]``, long tensors ``(d_h,)`` (or ``(M, d_h)``).
    """
    dev = generator.device if generator is not None else None
    out = []
    for d in spec.widths[1:-1]:
        if num_models is None:
            out.append(torch.randperm(d, generator=generator, device=dev))
        else:
            out.append(
                torch.stack([torch.randperm(d, generator=generator, device=dev) for _ in range(num_models)])
            )
    return out


def identity_permutation(spec: KANSpec, num_models: int | None = None, device=None) -> list[Tensor]:
    """The neutral element: ``[arange(d_h)]`` (expanded to ``(M, d_h)`` when ``num_models`` is given)."""
    out = []
    for d in spec.widths[1:-1]:
        p = torch.arange(d, device=device)
        out.append(p if num_models is None else p.expand(num_models, d).clone())
    return out


def invert_permutation(perms: Sequence[Tensor]) -> list[Tensor]:
    """Inverse group element: ``permute(permute(kan, p), invert_permutation(p))`` is ``kan``."""
    return [torch.argsort(p, dim=-1) for p in perms]


def _check_perms(spec: KANSpec, perms: Sequence[Tensor]) -> None:
    hidden = spec.widths[1:-1]
    if len(perms) != len(hidden):
        raise ValueError(
            f"perms: expected {len(hidden)} permutations (one per hidden layer of widths {spec.widths}), "
            f"got {len(perms)}"
        )
    for h, (p, d) in enumerate(zip(perms, hidden), start=1):
        if p.shape[-1] != d or p.dim() not in (1, 2):
            raise ValueError(
                f"perms[{h - 1}] (hidden layer {h}) must have shape ({d},) or (M, {d}), got {tuple(p.shape)}"
            )


def take_along(t: Tensor, dim: int, perm: Tensor, base_rank: int) -> Tensor:
    """Gather ``t`` along ``dim`` (negative) with ``perm: (n,)`` or per-model ``(M, n)``.

    For per-model perms ``t`` must have a leading model dim ``M`` (a tensor of rank ``base_rank`` without
    one, shared by all models, is expanded first). Per-model gathers run as one ``index_select`` over
    the contiguous trailing blocks (much faster than ``torch.gather`` with an expanded index).
    """
    perm = perm.to(t.device)
    if perm.dim() == 1:
        return t.index_select(dim, perm)
    m, n = perm.shape
    if t.dim() == base_rank:
        t = t.expand(m, *t.shape)
    if t.shape[0] != m:
        raise ValueError(f"per-model permutations for {m} models but tensor has leading dim {t.shape[0]}")
    d = t.dim() + dim
    shape = t.shape
    a = math.prod(shape[1:d])
    b = math.prod(shape[d + 1 :])
    idx = (torch.arange(m * a, device=t.device) * n).view(m, a, 1) + perm.view(m, 1, n)
    return t.reshape(m * a * n, b).index_select(0, idx.flatten()).view(shape)


def permute_layers(
    spec: KANSpec, layers: Sequence[Mapping[str, Tensor]], perms: Sequence[Tensor]
) -> list[dict[str, Tensor]]:
    """Apply a group element to per-layer tensors (optionally with leading model dims).

    Args:
        spec: the architecture.
        layers: ``layers[l]`` maps names of :meth:`EdgeLayer.params` to tensors ``(..., out, in, ...)``.
        perms: ``L - 1`` long tensors ``(d_h,)`` (shared) or ``(M, d_h)`` (per model, needs ``M`` leading).

    Returns:
        New per-layer dicts (input tensors are not modified); names :func:`tensor_axes` does not know are
        copied unchanged.
    """
    _check_perms(spec, perms)
    if len(layers) != spec.depth:
        raise ValueError(
            f"layers: expected {spec.depth} layer dicts for widths {spec.widths}, got {len(layers)}"
        )
    axes = tensor_axes(spec)
    out = []
    for l, p in enumerate(layers):
        row = perms[l] if l + 1 <= spec.depth - 1 else None  # outputs of layer l are hidden layer l + 1
        col = perms[l - 1] if l >= 1 else None  # inputs of layer l are hidden layer l
        new = {}
        for name, t in p.items():
            ax = axes.get(name)
            if ax is not None and row is not None and ax.out_axis is not None:
                t = take_along(t, ax.out_axis, row, ax.rank)
            if ax is not None and col is not None and ax.in_axis is not None:
                t = take_along(t, ax.in_axis, col, ax.rank)
            new[name] = t
        out.append(new)
    return out


def permute_stacked(
    spec: KANSpec, layers: Sequence[Mapping[str, Tensor]], perms: Sequence[Tensor]
) -> list[dict[str, Tensor]]:
    """Apply hidden-neuron permutations to a whole stacked zoo shard at once.

    Args:
        spec: the shared architecture.
        layers: stacked per-layer dicts, every tensor with leading model dim ``M`` (e.g. ``coef: (M, out,
            in, n)``, ``grid: (M, in, K)``); a tensor given without it (``grid: (in, K)``) is broadcast.
        perms: ``L - 1`` tensors, each ``(M, d_h)`` (one permutation per model) or ``(d_h,)`` (shared).

    Returns:
        Permuted stacked per-layer dicts (leading dim ``M`` on every permuted tensor).
    """
    return permute_layers(spec, layers, perms)


def _layer_edge_index(d_in: int, d_out: int, pin: Tensor | None, pout: Tensor | None) -> Tensor:
    """Gather index of one layer's edges, ``(..., d_out * d_in)``: new edge ``o * d_in + i`` is the old edge
    ``pout[o] * d_in + pin[i]`` (``None``: the identity; ``...`` is ``(M,)`` for per-model perms)."""
    dev = (pin if pin is not None else pout).device
    pin = torch.arange(d_in, device=dev) if pin is None else pin
    pout = torch.arange(d_out, device=dev) if pout is None else pout
    idx = pout.unsqueeze(-1) * d_in + pin.unsqueeze(-2)  # (..., d_out, d_in)
    return idx.reshape(*idx.shape[:-2], d_out * d_in)


def _gather_edges(f: Tensor, idx: Tensor) -> Tensor:
    """``f (..., K, F)`` gathered along ``K`` with ``idx (K,)`` or per model ``(M, K)`` (``f`` with or without
    its leading ``M``)."""
    idx = idx.to(f.device)
    if idx.dim() == 1:
        return f.index_select(-2, idx)
    if f.dim() == 2:
        f = f.expand(idx.shape[0], *f.shape)
    if f.dim() != 3 or f.shape[0] != idx.shape[0]:
        raise ValueError(
            f"per-model permutations for {idx.shape[0]} models need features (M, E, F), got {tuple(f.shape)}"
        )
    m, k, c = f.shape
    # one index_select over the (M*K, F) rows: much faster than torch.gather with an index expanded over F
    flat = (idx + torch.arange(m, device=f.device).unsqueeze(1) * k).reshape(-1)
    return f.reshape(m * k, c).index_select(0, flat).view(m, idx.shape[1], c)


def _edge_indices(widths: Sequence[int], perms: Sequence[Tensor]) -> list[Tensor]:
    """Per-layer gather indices of the edges under ``perms`` (see :func:`_layer_edge_index`)."""
    depth = len(widths) - 1
    if len(perms) != depth - 1:
        raise ValueError(
            f"perms: expected {depth - 1} permutations for widths {tuple(widths)}, got {len(perms)}"
        )
    for h, p in enumerate(perms, start=1):
        if p.shape[-1] != widths[h] or p.dim() not in (1, 2):
            raise ValueError(
                f"perms[{h - 1}] (hidden layer {h}) must have shape ({widths[h]},) or (M, {widths[h]}), "
                f"got {tuple(p.shape)}"
            )
    return [
        _layer_edge_index(
            widths[l], widths[l + 1], perms[l - 1] if l >= 1 else None, perms[l] if l < depth - 1 else None
        )
        for l in range(depth)
    ]


def permute_layer_features(feats: Sequence[Tensor], perms: Sequence[Tensor]) -> list[Tensor]:
    """Move per-layer edge features with their edges under a group element.

    Args:
        feats: ``L`` per-layer tensors ``(out, in, F)`` or ``(M, out, in, F)`` (e.g.
            :func:`kan_graph.encoding.edge_features` of stacked layers).
        perms: ``L - 1`` long tensors ``(d_h,)`` (shared) or ``(M, d_h)`` (per model; features without the
            model dim are broadcast).

    Returns:
        Per-layer ``(M, out, in, F)`` (or ``(out, in, F)``): edge ``(o, i)`` of layer ``l`` holds the old edge
        ``(perm_{l+1}[o], perm_l[i])`` (input and output neurons never move).
    """
    if not perms:
        return list(feats)
    widths = [feats[0].shape[-2]] + [f.shape[-3] for f in feats]
    out = []
    for f, idx in zip(feats, _edge_indices(widths, perms)):
        o, i, c = f.shape[-3:]
        g = _gather_edges(f.reshape(*f.shape[:-3], o * i, c), idx)
        out.append(g.reshape(*g.shape[:-2], o, i, c))
    return out


def permute_edge_features(widths: Sequence[int], feats: Tensor, perms: Sequence[Tensor]) -> Tensor:
    """Move flat edge features with their edges under a group element (a function-preserving symmetry).

    Args:
        widths: the KAN's width list ``(d_0, ..., d_L)``.
        feats: ``(E, F)`` or ``(M, E, F)`` in KAN-graph edge order (edge ``offset_l + o * d_l + i``); e.g.
            ``(M, E, 1)`` for a per-edge scalar such as a mask.
        perms: as :func:`permute_layer_features`.

    Returns:
        The features of the permuted KANs' graphs, ``(M, E, F)`` (or ``(E, F)``); ``feats`` itself when
        ``perms`` is empty. One gather over all edges (the index of :func:`permute_layer_features`, offset
        by layer).
    """
    if not perms:
        return feats
    widths = tuple(int(w) for w in widths)
    offsets = [0]
    for a, b in zip(widths[:-1], widths[1:]):
        offsets.append(offsets[-1] + a * b)
    if feats.dim() not in (2, 3) or feats.shape[-2] != offsets[-1]:
        raise ValueError(
            f"edge features must have shape (E, F) or (M, E, F) with E = {offsets[-1]} for widths {widths}, "
            f"got {tuple(feats.shape)}"
        )
    idx = torch.cat([ix + off for ix, off in zip(_edge_indices(widths, perms), offsets)], -1)
    return _gather_edges(feats, idx)


def permute(kan: KAN, perms: Sequence[Tensor]) -> KAN:
    """A copy of ``kan`` with its hidden neurons permuted by ``perms`` (one ``(d_h,)`` per hidden layer).

    The copy computes the same function as ``kan`` (up to float rounding).
    """
    new = copy.deepcopy(kan)
    with torch.no_grad():
        params = [{k: v.detach() for k, v in p.items()} for p in kan.layer_params()]
        new.load_layer_params(permute_layers(kan.spec, params, perms))
    return new


@torch.no_grad()
def same_function(kan_a: KAN, kan_b: KAN, x: Tensor, atol: float = 1e-5, rtol: float = 0.0) -> bool:
    """True when both KANs give the same outputs on the inputs ``x: (B, d_0)`` (to ``atol``/``rtol``)."""
    if kan_a.spec.widths[0] != kan_b.spec.widths[0] or kan_a.spec.widths[-1] != kan_b.spec.widths[-1]:
        return False
    return bool(torch.allclose(kan_a(x), kan_b(x), atol=atol, rtol=rtol))
