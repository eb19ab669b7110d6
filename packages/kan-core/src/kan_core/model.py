"""The KAN model: a stack of :class:`~kan_core.layers.EdgeLayer` built from a :class:`KANSpec`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .basis.registry import get_basis
from .io import read_kan, save_kan
from .layers import EdgeLayer, layer_class
from .params import check_layer_params
from .spec import KANSpec

__all__ = ["KAN", "load_kan"]


class KAN(nn.Module):
    """A Kolmogorov-Arnold network ``x -> Phi_{L-1} o ... o Phi_0 (x)``.

    Args:
        spec: the architecture (widths, basis, hyper-parameters).
        generator: ``torch.Generator`` for the initialisation; without one the global RNG is used.

    Shapes: ``(..., B, d_0) -> (..., B, d_L)``.

    Example::

        kan = KAN.from_widths([2, 5, 1], grid_size=5, spline_order=3)
        y = kan(torch.randn(64, 2))          # (64, 1)
    """

    def __init__(
        self,
        spec: KANSpec,
        *,
        generator: torch.Generator | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(spec, KANSpec):
            raise TypeError(f"KAN(spec) needs a KANSpec, got {type(spec).__name__}; try KAN.from_widths(...)")
        self.spec = spec
        cls = layer_class(spec.basis)
        self.layers = nn.ModuleList(
            cls(i, o, spec=spec, generator=generator, device=device, dtype=dtype)
            for o, i in spec.layer_shapes()
        )

    @classmethod
    def from_params(cls, spec: KANSpec, layer_params: Sequence[dict[str, Tensor]]) -> KAN:
        """A KAN holding copies of ``layer_params`` (one dict per layer, named and shaped as
        ``spec.param_shapes()``), built without any initialisation: no random draws, no least-squares fit.

        dtype and device are those of the tensors (``coef`` of layer 0). Raises ``ValueError``/``TypeError``
        naming the layer and tensor when a name or shape does not fit ``spec``.
        """
        check_layer_params(spec, layer_params, stacked=False, who="KAN.from_params")
        ref = layer_params[0]["coef"]
        kan = cls.__new__(cls)
        nn.Module.__init__(kan)
        kan.spec = spec
        layer_cls = layer_class(spec.basis)
        kan.layers = nn.ModuleList(
            layer_cls(i, o, spec=spec, params=p, device=ref.device, dtype=ref.dtype)
            for (o, i), p in zip(spec.layer_shapes(), layer_params)
        )
        return kan

    @classmethod
    def from_widths(
        cls,
        widths: Sequence[int],
        grid_size: int = 5,
        spline_order: int = 3,
        basis: str = "bspline",
        *,
        generator: torch.Generator | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
        **spec_kwargs: Any,
    ) -> KAN:
        """Build from widths; extra keywords go to :class:`KANSpec` (``degree``, ``grid_range``, ...)."""
        spec = KANSpec(
            tuple(widths), basis=basis, grid_size=grid_size, spline_order=spline_order, **spec_kwargs
        )
        return cls(spec, generator=generator, device=device, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        """``x: (..., B, d_0)`` of the model's dtype -> ``(..., B, d_L)``.

        No silent casts: an input that is not a tensor, has no feature dimension, has another number of
        features or another dtype than the parameters raises ``TypeError``/``ValueError`` saying what is
        expected (convert with ``x.to(kan.dtype)`` or the model with ``kan.to(x.dtype)``).
        """
        if not isinstance(x, Tensor):
            raise TypeError(f"KAN expects a torch.Tensor, got {type(x).__name__}")
        d0 = self.spec.widths[0]
        if x.dim() == 0:
            raise ValueError(f"KAN expects inputs of shape (..., {d0}), got a 0-d tensor")
        if x.shape[-1] != d0:
            raise ValueError(f"KAN expects inputs with {d0} features, got shape {tuple(x.shape)}")
        if x.dim() == 1:
            raise ValueError(
                f"KAN expects a batch of points, shape (B, {d0}); got one point of shape {tuple(x.shape)}: "
                "pass x.unsqueeze(0) (shape (1, ...)) for a single point"
            )
        dtype = self.layers[0].coef.dtype
        if x.dtype != dtype:
            raise TypeError(
                f"KAN has {dtype} parameters but the input is {x.dtype}; convert with x.to({dtype}) "
                f"or the model with kan.to({x.dtype})"
            )
        for layer in self.layers:
            x = layer(x)
        return x

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the parameters (inputs must have it)."""
        return self.layers[0].coef.dtype

    def activations(self, x: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Inputs of every layer and every edge's activation.

        Returns ``(inputs, edges)``: ``inputs[l]: (B, d_l)``; ``edges[l]: (B, d_{l+1}, d_l)``.
        """
        inputs, edges = [], []
        for layer in self.layers:
            inputs.append(x)
            edges.append(layer.edges(x))
            x = layer(x)
        return inputs, edges

    def layer_params(self) -> list[dict[str, Tensor]]:
        """Per-layer tensors as read by :func:`kan_core.functional.kan_forward` (live views)."""
        return [layer.params() for layer in self.layers]  # type: ignore[operator]

    def load_layer_params(self, params: Sequence[dict[str, Tensor]]) -> KAN:
        """Copy per-layer tensors (as from :meth:`layer_params`) into this model; returns ``self``."""
        if len(params) != len(self.layers):
            raise ValueError(f"expected {len(self.layers)} layer parameter sets, got {len(params)}")
        for layer, p in zip(self.layers, params):
            layer.load_params(p)  # type: ignore[operator]
        return self

    @torch.no_grad()
    def update_grid(self, x: Tensor, grid_eps: float = 0.02) -> None:
        """pykan's grid update of every B-spline layer from the samples ``x: (B, d_0)``."""
        if not get_basis(self.spec.basis).has_grid:
            raise ValueError(f"update_grid needs a basis with a knot grid, this KAN has {self.spec.basis!r}")
        for layer in self.layers:
            layer.update_grid(x, grid_eps)  # type: ignore[operator]
            x = layer(x)

    @torch.no_grad()
    def refine(self, grid_size: int, x: Tensor | None = None) -> KAN:
        """A copy with every B-spline layer on a grid of ``grid_size`` intervals (pykan's ``refine``)."""
        refined = []
        h = x
        for layer in self.layers:
            refined.append(layer.refine(grid_size, h).params())  # type: ignore[operator]
            if h is not None:
                h = layer(h)
        return KAN.from_params(self.spec.replace(grid_size=grid_size), refined)

    def edge_layers(self) -> list[EdgeLayer]:
        return list(self.layers)  # type: ignore[arg-type]

    def save(self, path: Any, metadata: dict[str, Any] | None = None) -> None:
        """Write this KAN to a ``.safetensors`` file (spec and metadata as JSON in the header)."""
        save_kan(self, path, metadata)

    @classmethod
    def load(cls, path: Any, device: Any = None) -> KAN:
        """Read a KAN written by :meth:`save`; raises ``ValueError`` naming the file when it is bad."""
        return load_kan(path, device=device)


def load_kan(path: Any, device: Any = None) -> KAN:
    """Read a KAN written by :meth:`KAN.save` (every check of :func:`kan_core.io.read_kan` happens before any
    model is allocated; errors name ``path``)."""
    spec, per_layer, metadata = read_kan(path)
    kan = KAN.from_params(spec, per_layer)
    kan.metadata = metadata
    return kan.to(device) if device is not None else kan
