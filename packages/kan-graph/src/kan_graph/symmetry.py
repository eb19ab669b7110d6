"""Hidden-neuron permutation symmetry of KANs (WS-KAN, Proposition 3.1).

A group element is a list of ``L - 1`` permutations, one per hidden layer ``h = 1 .. L-1``, each a long
tensor ``perm_h: (d_h,)`` (or ``(M, d_h)``: one per model of a stacked zoo). Convention (a gather):
after the action, hidden neuron ``j`` of layer ``h`` is the old neuron ``perm_h[j]``. Concretely, for the
per-layer tensors of :meth:`kan_core.layers.EdgeLayer.params` (torch layout ``(out, in, ...)``):

* layer ``h - 1`` (whose *outputs* are neurons of layer ``h``): rows of ``scale_base``, ``scale_sp``,
  ``coef``, ``mask`` and the entries of ``node_scale``/``node_bias`` are gathered with ``perm_h``;
* layer ``h`` (whose *inputs* are neurons of layer ``h``): columns of ``scale_base``, ``scale_sp``,
  ``coef``, ``mask`` and the rows of ``grid`` (a hidden neuron's knots move with it) are gathered;
* ``beta`` (Gram recursion, one per layer) is unaffected.

In the paper's notation ``phi'^1 = P_1^T phi^1``, ``phi'^l = P_l^T phi^l P_{l-1}``, ``phi'^L = phi^L P_{L-1}``;
the function computed by the KAN does not change.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence

import torch
from kan_core import KAN, KANSpec
from torch import Tensor

__all__ = [
    "random_permutation",
    "identity_permutation",
    "invert_permutation",
    "permute",
    "permute_layers",
    "permute_stacked",
    "same_function",
    "OUT_DIM",
    "IN_DIM",
]

# Position (from the end) of the output / input neuron axis of every per-layer tensor, and its rank
# without leading model dimensions. ``None``: the tensor has no such axis.
OUT_DIM: dict[str, int | None] = {
    "scale_base": -2,
    "scale_sp": -2,
    "mask": -2,
    "coef": -3,
    "node_scale": -1,
    "node_bias": -1,
    "grid": None,
    "beta": None,
}
IN_DIM: dict[str, int | None] = {
    "scale_base": -1,
    "scale_sp": -1,
    "mask": -1,
    "coef": -2,
    "grid": -2,
    "node_scale": None,
    "node_bias": None,
    "beta": None,
}
BASE_RANK: dict[str, int] = {
    "scale_base": 2,
    "scale_sp": 2,
    "mask": 2,
    "coef": 3,
    "grid": 2,
    "node_scale": 1,
    "node_bias": 1,
    "beta": 1,
}


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


def _take(t: Tensor, dim: int, perm: Tensor, base_rank: int) -> Tensor:
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
        New per-layer dicts (input tensors are not modified); unknown names are copied unchanged.
    """
    _check_perms(spec, perms)
    if len(layers) != spec.depth:
        raise ValueError(
            f"layers: expected {spec.depth} layer dicts for widths {spec.widths}, got {len(layers)}"
        )
    out = []
    for l, p in enumerate(layers):
        row = perms[l] if l + 1 <= spec.depth - 1 else None  # outputs of layer l are hidden layer l + 1
        col = perms[l - 1] if l >= 1 else None  # inputs of layer l are hidden layer l
        new = {}
        for name, t in p.items():
            if row is not None and OUT_DIM.get(name) is not None:
                t = _take(t, OUT_DIM[name], row, BASE_RANK[name])
            if col is not None and IN_DIM.get(name) is not None:
                t = _take(t, IN_DIM[name], col, BASE_RANK[name])
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
