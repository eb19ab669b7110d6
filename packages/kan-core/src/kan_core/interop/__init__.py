"""Conversions to and from other KAN libraries (optional extras, imported lazily).

``import kan_core.interop`` imports no third-party KAN package; pykan (``pip install kan-core[pykan]``)
is imported the first time :func:`from_pykan`, :func:`to_pykan` or :func:`load_pykan_checkpoint` is
called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ..model import KAN

__all__ = ["from_pykan", "to_pykan", "load_pykan_checkpoint", "load_any_kan"]


def from_pykan(model: Any, *, num_inputs: int | None = None, affine: bool | None = None) -> KAN:
    """Convert a pykan ``MultKAN`` into a :class:`kan_core.KAN`; see :func:`kan_core.interop.pykan.from_pykan`."""
    from .pykan import from_pykan as _from_pykan

    return _from_pykan(model, num_inputs=num_inputs, affine=affine)


def to_pykan(kan: KAN, **kwargs: Any) -> Any:
    """Convert a B-spline :class:`kan_core.KAN` into a pykan ``MultKAN``; see :func:`kan_core.interop.pykan.to_pykan`."""
    from .pykan import to_pykan as _to_pykan

    return _to_pykan(kan, **kwargs)


def load_pykan_checkpoint(path: Any) -> KAN:
    """A pykan checkpoint (``<p>_config.yml`` + ``<p>_state``) as a KAN; see
    :func:`kan_core.interop.pykan.load_pykan_checkpoint`."""
    from .pykan import load_pykan_checkpoint as _load

    return _load(path)


def load_any_kan(path: Any) -> KAN:
    """A KAN from a file: kan-core's ``.safetensors`` (:meth:`kan_core.KAN.load`) or a pykan checkpoint
    (``<p>_config.yml`` / ``<p>_state``, through :func:`load_pykan_checkpoint`, needs the pykan extra)."""
    from pathlib import Path

    if Path(path).suffix == ".safetensors":
        from ..model import KAN

        return KAN.load(path)
    return load_pykan_checkpoint(path)
