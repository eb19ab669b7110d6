"""One type for many KANs of one spec: :class:`StackedKAN`, the spec plus stacked per-layer tensors.

``M`` models of one :class:`~kan_core.KANSpec` are held as the tensors of ``spec.param_shapes()`` with a
leading model dim: ``coef (M, out, in, n)``, ``grid (M, in, G + 2k + 1)``, ``mask (M, out, in)``, ... This
is the format the batched engine (:mod:`kan_core.batched`) trains, pruning scores and zoos store; the
``layers`` view is what :func:`kan_core.functional.kan_forward` reads.

Like the weight-space containers of neural functional networks, a :class:`StackedKAN` is immutable in its
structure (the spec and the set of tensors are fixed and validated once; methods return new containers) and
behaves as a sequence of its layers: ``len(s)`` is the depth, ``s[l]`` layer ``l``'s dict of stacked
tensors, so code written for a ``list[dict[str, Tensor]]`` reads it unchanged.

Example::

    kans = [KAN(spec, generator=torch.Generator().manual_seed(s)) for s in range(4)]
    s = StackedKAN.from_kans(kans)
    s.num_models                      # 4
    s[0]["coef"].shape                # (4, out, in, n)
    s.select([2, 0]).unstack()        # [KAN of model 2, KAN of model 0] (copies)
    s.to(torch.float64).detach()      # a new StackedKAN
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from .model import KAN
from .params import check_layer_params
from .spec import KANSpec

__all__ = ["StackedKAN", "as_stacked"]

Layers = list[dict[str, Tensor]]
Index = int | slice | Sequence[int] | Tensor


class StackedKAN:
    """``M`` KANs of one spec as stacked per-layer tensors with a leading model dim.

    Args:
        spec: the architecture shared by all models.
        layers: one dict per layer with exactly the names of ``spec.param_shapes()``, each tensor
            ``(M, *shape)``; all on one device. The tensors are used as given (not copied).

    Raises:
        ValueError: naming the layer and tensor when the layer count, a name, a shape, ``M`` or the device
            does not fit (from :func:`kan_core.params.check_layer_params`).
        TypeError: when a layer is not a mapping, or a value is not a floating-point tensor.
    """

    __slots__ = ("_spec", "_layers", "_m")

    def __init__(self, spec: KANSpec, layers: Sequence[Mapping[str, Tensor]]) -> None:
        if isinstance(layers, StackedKAN):
            layers = layers.layers
        m = check_layer_params(spec, layers, stacked=True, who="StackedKAN")
        self._spec = spec
        self._layers: tuple[dict[str, Tensor], ...] = tuple(dict(p) for p in layers)
        self._m = int(m)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_kans(cls, kans: Sequence[KAN]) -> StackedKAN:
        """Stack the (detached) tensors of ``kans`` (same spec, dtype and device) in their order."""
        kans = list(kans)
        if not kans:
            raise ValueError("StackedKAN.from_kans needs at least one KAN")
        spec = kans[0].spec
        for j, kan in enumerate(kans):
            if not isinstance(kan, KAN):
                raise TypeError(f"StackedKAN.from_kans: item {j} is a {type(kan).__name__}, not a KAN")
            if kan.spec != spec:
                raise ValueError(f"StackedKAN.from_kans: KAN {j} has spec {kan.spec}, KAN 0 has {spec}")
        per_model = [kan.layer_params() for kan in kans]
        layers = [
            {name: torch.stack([p[l][name].detach() for p in per_model]) for name in per_model[0][l]}
            for l in range(spec.depth)
        ]
        return cls(spec, layers)

    # ------------------------------------------------------------------ views
    @property
    def spec(self) -> KANSpec:
        return self._spec

    @property
    def num_models(self) -> int:
        """``M``, the leading dim of every tensor."""
        return self._m

    @property
    def depth(self) -> int:
        return len(self._layers)

    @property
    def layers(self) -> Layers:
        """Per-layer dicts of the stacked tensors (new dicts, the same tensors), as
        :func:`kan_core.functional.kan_forward` reads them."""
        return [dict(p) for p in self._layers]

    @property
    def dtype(self) -> torch.dtype:
        return self._layers[0]["coef"].dtype

    @property
    def device(self) -> torch.device:
        return self._layers[0]["coef"].device

    def __len__(self) -> int:
        return len(self._layers)

    def __getitem__(self, l: int) -> dict[str, Tensor]:
        """Layer ``l``'s stacked tensors (a new dict). Models are picked with :meth:`select`."""
        if isinstance(l, bool) or not hasattr(l, "__index__"):
            raise TypeError(f"StackedKAN[l] takes a layer number; pick models with .select(), got {l!r}")
        return dict(self._layers[operator.index(l)])

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        return iter(self.layers)

    def __repr__(self) -> str:
        return (
            f"StackedKAN(num_models={self._m}, widths={list(self._spec.widths)}, basis={self._spec.basis!r}, "
            f"dtype={self.dtype}, device={self.device})"
        )

    # ------------------------------------------------------------------ new containers
    def map(self, fn: Callable[[Tensor], Tensor]) -> StackedKAN:
        """A container of ``fn(t)`` for every tensor; the result is validated like any other."""
        return StackedKAN(self._spec, [{k: fn(v) for k, v in p.items()} for p in self._layers])

    def to(self, *args: Any, **kwargs: Any) -> StackedKAN:
        """``Tensor.to(*args, **kwargs)`` of every tensor (device and/or dtype)."""
        return self.map(lambda t: t.to(*args, **kwargs))

    def detach(self) -> StackedKAN:
        return self.map(Tensor.detach)

    def clone(self) -> StackedKAN:
        return self.map(Tensor.clone)

    def select(self, index: Index) -> StackedKAN:
        """The models at ``index``: an int (kept as ``M = 1``), a slice, a list of ints or a long/bool tensor.
        Slices give views; other indices copy."""
        if isinstance(index, bool):
            raise TypeError(f"StackedKAN.select: index must be an int, slice, list or tensor, got {index!r}")
        if isinstance(index, Tensor) and index.dim() == 0 and index.dtype != torch.bool:
            index = int(index)
        if not isinstance(index, (Tensor, slice)) and hasattr(index, "__index__"):  # ints, numpy ints
            index = operator.index(index)
            if not -self._m <= index < self._m:
                raise IndexError(f"StackedKAN.select: model {index} out of range for {self._m} models")
            index = slice(index % self._m, index % self._m + 1)
        elif not isinstance(index, slice):
            index = torch.as_tensor(index, device=self.device)
            if index.dtype != torch.bool:
                index = index.long()
        return self.map(lambda t: t[index])

    # ------------------------------------------------------------------ single models
    def model_layers(self, i: int) -> Layers:
        """Model ``i``'s per-layer tensors (views, no leading dim)."""
        if not -self._m <= i < self._m:
            raise IndexError(f"StackedKAN: model {i} out of range for {self._m} models")
        return [{k: v[i] for k, v in p.items()} for p in self._layers]

    def kan(self, i: int) -> KAN:
        """Model ``i`` as a :class:`~kan_core.KAN` (a copy, built by :meth:`KAN.from_params`)."""
        return KAN.from_params(self._spec, self.model_layers(i))

    def unstack(self) -> list[KAN]:
        """Every model as a :class:`~kan_core.KAN` (copies), in order."""
        return [self.kan(i) for i in range(self._m)]


def as_stacked(
    spec: KANSpec, layers: StackedKAN | Sequence[Mapping[str, Tensor]], who: str = "as_stacked"
) -> StackedKAN:
    """``layers`` as a validated :class:`StackedKAN` of ``spec``: a container of ``spec`` passes as it is, one
    of another spec is refused, per-layer dicts are wrapped. Error messages start with ``who``."""
    if isinstance(layers, StackedKAN):
        if layers.spec != spec:
            raise ValueError(f"{who}: the StackedKAN has spec {layers.spec}, expected {spec}")
        return layers
    try:
        return StackedKAN(spec, layers)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{who}: {e}") from None
