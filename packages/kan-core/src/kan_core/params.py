"""Checks of per-layer parameter tensors against a :class:`~kan_core.KANSpec` (one model or a stack).

A model of a spec has, per layer ``l``, exactly the tensors named in ``spec.param_shapes()[l]`` with those
shapes; ``M`` stacked models have the same names with a leading model dim ``(M, *shape)``. Both
:meth:`kan_core.KAN.from_params` and :class:`kan_core.stacked.StackedKAN` call :func:`check_layer_params`
before they use any tensor, so a wrong basis, width or missing tensor fails with one message naming the
layer, the tensor and the expected shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from .spec import KANSpec

__all__ = ["check_layer_params"]


def check_layer_params(
    spec: KANSpec, layers: Sequence[Mapping[str, Tensor]], *, stacked: bool, who: str
) -> int | None:
    """Validate ``layers`` against ``spec.param_shapes()``; returns the model count ``M`` (``None`` when not
    ``stacked``).

    Args:
        spec: the architecture the tensors must fit.
        layers: one mapping of name -> tensor per layer.
        stacked: every tensor carries a leading model dim ``M`` (the same for all tensors).
        who: the caller's name, put at the start of every error message.

    Raises:
        TypeError: ``layers`` is not a sequence of mappings, or a value is not a floating-point tensor.
        ValueError: wrong layer count, missing or unknown names, wrong shapes, differing ``M`` or devices.
    """
    if not isinstance(spec, KANSpec):
        raise TypeError(f"{who}: spec must be a KANSpec, got {type(spec).__name__}")
    if isinstance(layers, Mapping) or not isinstance(layers, Sequence):
        raise TypeError(
            f"{who}: expected a list with one dict of tensors per layer, got {type(layers).__name__}"
        )
    expected = spec.param_shapes()
    if len(layers) != len(expected):
        raise ValueError(
            f"{who}: spec with widths {list(spec.widths)} has {len(expected)} layers, got {len(layers)} layer dicts"
        )
    m: int | None = None
    device: torch.device | None = None
    lead = "(M, " if stacked else "("
    for l, (p, shapes) in enumerate(zip(layers, expected)):
        if not isinstance(p, Mapping):
            raise TypeError(f"{who}: layer {l} must be a dict of tensors, got {type(p).__name__}")
        missing = sorted(set(shapes) - set(p))
        unknown = sorted(set(p) - set(shapes))
        if missing or unknown:
            parts = ([f"lacks {missing}"] if missing else []) + (
                [f"has unknown {unknown}"] if unknown else []
            )
            raise ValueError(
                f"{who}: layer {l} {' and '.join(parts)}; a {spec.basis!r} spec names {sorted(shapes)} "
                "(spec.param_shapes())"
            )
        for name, shape in shapes.items():
            t = p[name]
            if not isinstance(t, Tensor) or not t.is_floating_point():
                got = t.dtype if isinstance(t, Tensor) else type(t).__name__
                raise TypeError(f"{who}: layer {l} {name!r} must be a floating-point tensor, got {got}")
            want = f"{lead}{', '.join(map(str, shape))}{',' if len(shape) == 1 and not stacked else ''})"
            got_shape = tuple(t.shape)
            if stacked:
                ok = t.dim() == len(shape) + 1 and got_shape[1:] == shape and (m is None or got_shape[0] == m)
            else:
                ok = got_shape == shape
            if not ok:
                extra = f" with M={m}" if stacked and m is not None else ""
                raise ValueError(f"{who}: layer {l} {name!r} has shape {got_shape}, expected {want}{extra}")
            if stacked and m is None:
                m = got_shape[0]
            if device is None:
                device = t.device
            elif t.device != device:
                raise ValueError(f"{who}: layer {l} {name!r} is on {t.device}, the other tensors on {device}")
    return m
