"""Edge encodings of a KAN's univariate functions: raw parameters or sampled ("functional") values.

Both work on per-layer tensor dicts with optional leading model dims and return per-layer feature
tensors ``(..., out, in, F)`` in torch layout, so edge ``(o, i)`` of layer ``l`` is ``feats[l][..., o, i, :]``.
:func:`stacked_edge_features` gives the same features flat, ``(..., E, F)`` in the KAN-graph's edge order
(edge ``offset_l + o * d_l + i``, see :mod:`kan_graph.graph`); :func:`split_edge_features` and
:func:`flatten_edge_features` convert between the two forms.

* ``raw``: ``F = spec.edge_feature_dim``, the vector ``[w_b, w_s, c_0 .. c_{n-1}]`` (WS-KAN eq. 5).
* ``functional`` (basis-agnostic, beyond the paper): ``phi_oi`` (masked, before the node affine) sampled at
  ``num_points`` equally spaced points of its input neuron's domain, ``F = num_points``; with
  ``derivative`` the values of ``phi_oi'`` at the same points follow, ``F = 2 * num_points``. The domain of
  input neuron ``i`` is its grid's inner range ``[grid[i, k], grid[i, -k-1]]`` for B-splines (so it moves
  with the neuron under hidden permutations) and ``spec.grid_range`` for the other bases.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from kan_core import KANSpec
from kan_core.basis import get_basis
from kan_core.functional import layer_edges
from torch import Tensor

__all__ = [
    "ENCODINGS",
    "raw_edge_features",
    "functional_edge_features",
    "edge_features",
    "stacked_edge_features",
    "split_edge_features",
    "flatten_edge_features",
    "sample_points",
]

ENCODINGS = ("raw", "functional")
DERIVATIVES = ("autograd", "fd")


def raw_edge_features(layers: Sequence[Mapping[str, Tensor]]) -> list[Tensor]:
    """``[w_b, w_s, c...]`` per edge: ``layers[l]`` -> ``(..., out, in, 2 + n)``."""
    return [
        torch.cat([p["scale_base"].unsqueeze(-1), p["scale_sp"].unsqueeze(-1), p["coef"]], -1) for p in layers
    ]


def sample_points(spec: KANSpec, p: Mapping[str, Tensor], num_points: int) -> Tensor:
    """Sample points of every input neuron's domain: ``(..., P, in)`` (``...`` the grid's leading dims).

    The basis' natural domain (:meth:`kan_core.basis.Basis.domain`): B-splines ``P`` points spanning
    ``[grid[i, k], grid[i, -k-1]]`` per input ``i``; the other built-in bases ``spec.grid_range`` (shared by
    all inputs).
    """
    ref = p["coef"]
    t = torch.linspace(0.0, 1.0, num_points, dtype=ref.dtype, device=ref.device)
    lo, hi = get_basis(spec.basis).domain(spec, p)
    if isinstance(lo, Tensor):  # per input neuron, (..., in)
        return lo.unsqueeze(-2) + (hi - lo).unsqueeze(-2) * t.unsqueeze(-1)
    n_in = ref.shape[-2]
    return (lo + (hi - lo) * t).unsqueeze(-1).expand(num_points, n_in)


def _edges(x: Tensor, p: Mapping[str, Tensor], spec: KANSpec) -> Tensor:
    """``phi_oi(x[..., b, i])``: ``(..., P, in)`` -> ``(..., out, in, P)``."""
    e = layer_edges(x, p, spec)  # (..., P, out, in)
    return e.movedim(-3, -1)


def functional_edge_features(
    spec: KANSpec,
    layers: Sequence[Mapping[str, Tensor]],
    num_points: int = 32,
    derivative: bool | str = False,
) -> list[Tensor]:
    """Sampled edge functions per layer: ``(..., out, in, P)`` or ``(..., out, in, 2P)`` with derivative.

    Args:
        spec: the architecture.
        layers: per-layer tensors (optionally with leading model dims ``...``).
        num_points: ``P >= 2`` sample points per edge.
        derivative: ``False``; ``True``/``"autograd"`` (exact, by double backward: every edge depends on
            its own input only, so the derivative is a Jacobian-vector product with a ones tangent); or
            ``"fd"`` (central finite differences with step ``1e-3`` of the domain width).
    """
    if num_points < 2:
        raise ValueError(f"num_points must be >= 2, got {num_points}")
    if derivative is True:
        derivative = "autograd"
    if derivative not in (False, *DERIVATIVES):
        raise ValueError(f"derivative must be False, True, 'autograd' or 'fd', got {derivative!r}")
    out = []
    for p in layers:
        lead = p["coef"].shape[:-3]
        x = sample_points(spec, p, num_points)
        x = x.expand(*lead, *x.shape[-2:]) if x.dim() == 2 else x
        with torch.no_grad():
            vals = _edges(x, p, spec)
        if not derivative:
            out.append(vals)
            continue
        if derivative == "fd":
            width = (x[..., -1:, :] - x[..., :1, :]).abs().clamp_min(1e-12)
            h = 1e-3 * width
            with torch.no_grad():
                d = (_edges(x + h, p, spec) - _edges(x - h, p, spec)) / (2 * h.movedim(-2, -1).unsqueeze(-3))
        else:
            d = _autograd_derivative(x, p, spec)
        out.append(torch.cat([vals, d], -1))
    return out


def _autograd_derivative(x: Tensor, p: Mapping[str, Tensor], spec: KANSpec) -> Tensor:
    """``d phi_oi / dx`` at the sample points, ``(..., out, in, P)``, by the double-backward JVP trick."""
    pd = {k: v.detach() for k, v in p.items()}
    with torch.enable_grad():
        xg = x.detach().clone().requires_grad_(True)
        e = layer_edges(xg, pd, spec)  # (..., P, out, in)
        v = torch.zeros_like(e, requires_grad=True)
        (gx,) = torch.autograd.grad(e, xg, v, create_graph=True)
        (jvp,) = torch.autograd.grad(gx, v, torch.ones_like(gx))
    return jvp.detach().movedim(-3, -1)


def edge_features(
    spec: KANSpec,
    layers: Sequence[Mapping[str, Tensor]],
    encoding: str = "raw",
    num_points: int = 32,
    derivative: bool | str = False,
) -> list[Tensor]:
    """Per-layer edge features ``(..., out, in, F)`` for ``encoding`` in :data:`ENCODINGS`."""
    if encoding == "raw":
        return raw_edge_features(layers)
    if encoding == "functional":
        return functional_edge_features(spec, layers, num_points, derivative)
    raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")


def split_edge_features(widths: Sequence[int], feats: Tensor) -> list[Tensor]:
    """Flat edge features ``(..., E, F)`` (KAN-graph edge order) as per-layer tensors ``(..., out, in, F)``
    (views of ``feats`` when its layout allows, e.g. for a contiguous ``feats``)."""
    widths = tuple(int(w) for w in widths)
    sizes = [a * b for a, b in zip(widths[:-1], widths[1:])]
    if feats.dim() < 2 or feats.shape[-2] != sum(sizes):
        raise ValueError(
            f"edge features must have shape (..., {sum(sizes)}, F) for widths {widths}, got {tuple(feats.shape)}"
        )
    lead, f = feats.shape[:-2], feats.shape[-1]
    parts = feats.split(sizes, dim=-2)
    return [p.reshape(*lead, o, i, f) for p, i, o in zip(parts, widths[:-1], widths[1:])]


def flatten_edge_features(feats: Sequence[Tensor]) -> Tensor:
    """Per-layer edge features ``(..., out, in, F)`` as one ``(..., E, F)`` tensor in KAN-graph edge order."""
    return torch.cat([f.reshape(*f.shape[:-3], -1, f.shape[-1]) for f in feats], -2)


def stacked_edge_features(
    spec: KANSpec,
    layers: Sequence[Mapping[str, Tensor]],
    encoding: str = "raw",
    num_points: int = 32,
    derivative: bool | str = False,
) -> Tensor:
    """Edge features of (stacked) layers in KAN-graph edge order: ``(..., E, F)``.

    Args:
        spec: the architecture; ``E = spec.num_edges()``.
        layers: per-layer tensors with optional leading model dims ``...`` (``coef (..., out, in, n)``, ...).
        encoding, num_points, derivative: as :func:`edge_features`; ``F = spec.edge_feature_dim`` for
            ``"raw"``.

    Returns:
        ``(..., E, F)`` in the dtype of ``coef``; edge ``offset_l + o * d_l + i`` holds ``layers[l]``'s
        edge ``(o, i)``. The raw encoding is written straight into one buffer (one copy of every tensor).
    """
    if encoding != "raw":
        return flatten_edge_features(edge_features(spec, layers, encoding, num_points, derivative))
    if len(layers) != spec.depth:
        raise ValueError(
            f"layers: expected {spec.depth} layer dicts for widths {spec.widths}, got {len(layers)}"
        )
    ref = layers[0]["coef"]
    lead = ref.shape[:-3]
    out = torch.empty(*lead, spec.num_edges(), spec.edge_feature_dim, dtype=ref.dtype, device=ref.device)
    for view, p in zip(split_edge_features(spec.widths, out), layers):
        view[..., 0] = p["scale_base"]
        view[..., 1] = p["scale_sp"]
        view[..., 2:] = p["coef"]
    return out
