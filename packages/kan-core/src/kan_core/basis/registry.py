"""The basis registry: one :class:`Basis` object per univariate basis, looked up by name.

Everything that depends on the basis of a :class:`~kan_core.KANSpec` (coefficient count, extra tensors,
features, initialisation, sampling domain, derivatives, pykan compatibility) asks
``get_basis(spec.basis)`` instead of comparing the name to a string. A new basis is a subclass of
:class:`Basis` passed to :func:`register_basis`; nothing else needs to change (see the README,
"Adding a basis").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

if TYPE_CHECKING:
    from ..spec import KANSpec

__all__ = ["Basis", "BASIS_REGISTRY", "register_basis", "get_basis", "basis_names"]

Params = Mapping[str, Tensor]
Rand = Callable[..., Tensor]


class Basis:
    """One univariate basis of KAN edges.

    An edge computes ``phi(x) = mask (w_b b(x) + w_s sum_j c_j B_j(x))``; the basis supplies ``B_j`` (or,
    for a basis not linear in ``c``, the whole spline term). Per-layer tensors are ``coef (out, in, n)`` plus
    the basis' extra tensors (:meth:`extra_shapes`; trainable ones in :attr:`trainable_extras`, the others
    are frozen buffers). Subclasses set :attr:`name` and implement :meth:`num_coefficients` and, when
    :attr:`linear_in_coefficients`, :meth:`features`.
    """

    #: registry key, the value of ``KANSpec.basis``
    name: str = ""
    #: ``phi`` is linear in ``coef`` (features times coefficients); false for wavelets
    linear_in_coefficients: bool = True
    #: names of :meth:`extra_shapes` tensors that train (the others are frozen buffers in layers, MetaKAN and
    #: :func:`kan_core.batched.train_stacked`; see :meth:`frozen_names`)
    trainable_extras: frozenset[str] = frozenset()
    #: per-input knot grids that ``KAN.update_grid`` / ``KAN.refine`` move (B-splines)
    has_grid: bool = False
    #: a model of this basis converts to and from pykan's ``MultKAN``
    pykan_compatible: bool = False
    #: the batched CPU engine keeps ``coef`` in the native kernel's ``(M, in, n, out)`` layout
    native_kernel: bool = False
    #: :meth:`derivatives` is implemented (the forward Laplacian of kan-metakan uses it)
    has_derivatives: bool = False
    #: the variant's reference implementation has a base (residual) branch; MetaKAN generates ``w_b``
    #: only then
    reference_has_base: bool = True
    #: the ``uniform`` hint of freshly initialised tensors (``True`` for uniform grids, else ``None``)
    initial_uniform: bool | None = None

    # ------------------------------------------------------------------ layout
    def num_coefficients(self, spec: KANSpec) -> int:
        """Length ``n`` of each edge's coefficient vector ``c``."""
        raise NotImplementedError

    def extra_shapes(self, spec: KANSpec, d_in: int) -> dict[str, tuple[int, ...]]:
        """Shapes of the extra tensors of a layer with ``d_in`` inputs (e.g. ``grid (in, G + 2k + 1)``)."""
        return {}

    def frozen_names(self, spec: KANSpec) -> frozenset[str]:
        """Names of a layer's tensors that never train: ``mask`` and the extras not in
        :attr:`trainable_extras` (e.g. the B-spline ``grid``, moved only by grid updates)."""
        return frozenset({"mask", *self.extra_shapes(spec, 1)}) - self.trainable_extras

    def extra_input_axes(self, spec: KANSpec) -> dict[str, int | None]:
        """For every extra tensor, the axis of its :meth:`extra_shapes` shape that indexes the layer's input
        neurons, or ``None`` for a tensor shared by all inputs of the layer.

        ``grid (in, K)`` gives ``0`` (a hidden neuron's knots move with it under a permutation of hidden
        neurons), ``beta (degree,)`` gives ``None``. Extra tensors never have an output-neuron axis (their
        shapes depend on ``d_in`` only). The default reads the axis off :meth:`extra_shapes`: the one axis
        whose length is ``d_in``; a basis whose tensor grows with ``d_in`` any other way (several axes, or a
        multiple of ``d_in``) must override this, else a ``ValueError`` names the tensor.
        """
        two, three = self.extra_shapes(spec, 2), self.extra_shapes(spec, 3)
        axes: dict[str, int | None] = {}
        for name, a in two.items():
            b = three[name]
            moved = [k for k, (u, v) in enumerate(zip(a, b)) if u != v]
            if len(a) != len(b) or len(moved) > 1 or (moved and (a[moved[0]], b[moved[0]]) != (2, 3)):
                raise ValueError(
                    f"basis {self.name!r}: cannot tell the input axis of extra tensor {name!r} from its shapes "
                    f"{a} (d_in=2) and {b} (d_in=3); override Basis.extra_input_axes"
                )
            axes[name] = moved[0] if moved else None
        return axes

    def describe(self, spec: KANSpec) -> str:
        """The hyper-parameters shown in a layer's ``repr``."""
        return f"degree={spec.degree}"

    def signature(self, spec: KANSpec) -> str:
        """What one edge's coefficient vector means, e.g. ``"bspline(grid_size=5, spline_order=3)"``: edge
        features of two specs are interchangeable (for a weight-space model) only when these are equal."""
        return f"{self.name}({self.describe(spec)})"

    # ------------------------------------------------------------------ evaluation
    def features(self, x: Tensor, p: Params, spec: KANSpec, uniform: bool | None = None) -> Tensor:
        """Basis values ``B_j(x_i)``: ``(..., B, in) -> (..., B, in, n)`` (only when linear in ``c``)."""
        raise ValueError(f"basis {self.name!r} has no linear feature map")

    def edge_values(self, x: Tensor, p: Params, spec: KANSpec, uniform: bool | None = None) -> Tensor:
        """``sum_j c_oij B_j(x_i)`` of every edge (before ``w_s`` and the mask): ``(..., B, in) -> (..., B, out, in)``."""
        f = self.features(x, p, spec, uniform)  # (..., B, in, n)
        return torch.einsum("...bin,...oin->...boi", f, p["coef"])

    def spline_term(
        self, x: Tensor, p: Params, spec: KANSpec, ms: Tensor, uniform: bool | None, batched: bool
    ) -> Tensor:
        """``sum_i ms_oi sum_j c_oij B_j(x_i)``, ``(..., B, in) -> (..., B, out)``; ``ms = mask * w_s``.

        Linear bases: one matmul over the flattened features, ``(B, in * n) @ (in * n, out)``.
        """
        f = self.features(x, p, spec, uniform).flatten(-2)  # (..., B, in * n)
        w = (ms.unsqueeze(-1) * p["coef"]).flatten(-2)  # (..., out, in * n)
        return f @ w.transpose(-1, -2) if batched else F.linear(f, w)

    def flat_features(self, x: Tensor, p: Params, spec: KANSpec, uniform: bool | None = None) -> Tensor:
        """Flattened features ``(..., B, in) -> (..., B, K)``, ``K = in * n``, in the layout of :meth:`flat_weights`
        (input-major unless a basis overrides both)."""
        return self.features(x, p, spec, uniform).flatten(-2)

    def flat_weights(self, ms: Tensor, coef: Tensor) -> Tensor:
        """``ms (..., out, in)``, ``coef (..., out, in, n)`` -> ``(..., out, K)`` so that
        ``flat_features @ flat_weights.T`` is the spline term."""
        return (ms.unsqueeze(-1) * coef).flatten(-2)

    def derivatives(self, x: Tensor, p: Params, spec: KANSpec) -> tuple[Tensor, Tensor, Tensor]:
        """Basis values and their first and second derivatives at ``x (N, in)``, each ``(N, in, n)``."""
        raise ValueError(f"basis {self.name!r} has no closed-form derivatives")

    def uniform_hint(self, p: Params) -> bool | None:
        """The ``uniform`` argument for these tensors (``None``: nothing to tell)."""
        return None

    # ------------------------------------------------------------------ initialisation and domain
    def init_extras(self, spec: KANSpec, d_in: int, **fk: Any) -> dict[str, Tensor]:
        """Initial extra tensors of a layer (deterministic; no random draws)."""
        return {}

    def init_coefficients(self, spec: KANSpec, d_in: int, d_out: int, rand: Rand, **fk: Any) -> Tensor:
        """Initial ``coef (out, in, n)``; ``rand(*shape)`` draws ``U(0, 1)`` from the caller's generator.

        Default: small uniform coefficients ``(U - 0.5) * 0.3 / n``.
        """
        n = self.num_coefficients(spec)
        return (rand(d_out, d_in, n) - 0.5) * 0.3 / n

    def coefficient_init_stats(self, spec: KANSpec) -> tuple[list[float], list[float]] | None:
        """Mean and spread of each coefficient component at initialisation when they are not all alike
        (wavelets: scale, translation, weight); ``None`` for coefficients of one common small scale."""
        return None

    def domain(self, spec: KANSpec, p: Params) -> tuple[Tensor, Tensor] | tuple[float, float]:
        """Natural input domain for sampling edge functions: ``(lo, hi)`` tensors ``(..., in)`` per input
        neuron, or two floats shared by all inputs (default ``spec.grid_range``)."""
        return spec.grid_range

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


#: name -> :class:`Basis`; filled by :func:`register_basis` (the built-in bases register on import)
BASIS_REGISTRY: dict[str, Basis] = {}


def register_basis(basis: Basis, *, replace: bool = False) -> Basis:
    """Make ``basis`` available as ``KANSpec(basis=basis.name)``; returns it.

    Raises ``ValueError`` when the name is empty or already taken (unless ``replace``).
    """
    if not isinstance(basis, Basis):
        raise TypeError(f"register_basis needs a Basis instance, got {type(basis).__name__}")
    if not isinstance(basis.name, str) or not basis.name:
        raise ValueError(f"a basis needs a non-empty string name, got {basis.name!r}")
    if basis.name in BASIS_REGISTRY and not replace:
        raise ValueError(f"basis {basis.name!r} is already registered ({BASIS_REGISTRY[basis.name]!r})")
    BASIS_REGISTRY[basis.name] = basis
    return basis


def get_basis(name: str) -> Basis:
    """The registered basis called ``name``."""
    try:
        return BASIS_REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown basis {name!r}; registered bases: {basis_names()}") from None


def basis_names() -> tuple[str, ...]:
    """Names of the registered bases, in registration order."""
    return tuple(BASIS_REGISTRY)
