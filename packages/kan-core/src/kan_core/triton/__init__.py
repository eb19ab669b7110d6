"""The local-support B-spline contraction in Triton: the CUDA path of uniform-grid B-spline layers.

:func:`kan_core.basis.bspline_contract` (the one dispatch point) sends a call here when
:func:`triton_local_applies` says so: a CUDA tensor, float32 or bfloat16 inputs, a uniform grid, Triton
importable, and ``KAN_CORE_TRITON`` not ``0``. Everything else (CPU tensors, non-uniform grids, float64,
no Triton) takes the paths it took before; CPU never imports Triton.

Triton is optional (``pip install "kan-core[triton]"``). The kernels (:mod:`kan_core.triton.kernels`) mirror
the native CPU kernel (:mod:`kan_core.native`): only the ``k + 1`` non-zero bases per input are evaluated,
in registers, in forward and backward, so the ``(G + k)``-wide basis tensor never exists in memory.

Tests run the kernels on CPU tensors through Triton's interpreter: ``TRITON_INTERPRET=1`` must be set
before :mod:`kan_core.triton.kernels` is first imported (the kernels are defined then), and CPU tensors
reach this path only inside :func:`route_cpu_tensors` -- an explicit, test-only switch.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import torch
from torch import Tensor

__all__ = [
    "triton_status",
    "triton_version",
    "triton_local_applies",
    "triton_contract",
    "route_cpu_tensors",
    "bspline_paths",
    "MAX_ORDER",
]

#: the largest spline order the kernels are specialised for (one compiled variant per order)
MAX_ORDER = 15
_DTYPES = (torch.float32, torch.bfloat16)
_state: dict[str, str] = {}
_lock = threading.Lock()
_route = threading.local()


def _disabled() -> bool:
    return os.environ.get("KAN_CORE_TRITON", "1").strip().lower() in ("0", "false", "no", "off")


def triton_status() -> str:
    """``"ok"`` when the Triton kernels can be used, else why not (``KAN_CORE_TRITON=0``, no Triton).

    Imports Triton (not the kernels) once; the environment variable is read on every call.
    """
    if _disabled():
        return "disabled by KAN_CORE_TRITON=0"
    if "import" not in _state:
        with _lock:
            if "import" not in _state:
                try:
                    import triton

                    _state["import"], _state["version"] = "ok", str(triton.__version__)
                except Exception as exc:  # ImportError, or a broken install raising anything else
                    _state["import"] = f"triton not importable ({type(exc).__name__}: {exc})"
    return _state["import"]


def triton_version() -> str | None:
    """Triton's version, when it imports."""
    return _state.get("version") if triton_status() == "ok" else None


@contextlib.contextmanager
def route_cpu_tensors() -> Iterator[None]:
    """Test-only: inside this block CPU tensors take the Triton path too (run by Triton's interpreter,
    which needs ``TRITON_INTERPRET=1`` before the kernels are first imported). Per thread; nests."""
    depth = getattr(_route, "depth", 0)
    _route.depth = depth + 1
    try:
        yield
    finally:
        _route.depth = depth


def _cpu_routed() -> bool:
    return getattr(_route, "depth", 0) > 0


def bspline_paths() -> dict[str, str]:
    """Which path uniform-grid B-spline layers take on each device kind, for ``kan info``:
    ``{"cpu": ..., "cuda": ...}`` (non-uniform grids and float64 on CUDA always take the dense path)."""
    from ..native import native_status

    native = native_status()
    cpu = "native C kernel" if native == "ok" else f"dense torch path ({native})"
    status = triton_status()
    if status == "ok":
        cuda = f"Triton kernel (triton {triton_version()}; float32/bfloat16)"
    else:
        cuda = f"dense torch path ({status})"
    if not torch.cuda.is_available():
        cuda += ", no CUDA device here"
    return {"cpu": cpu, "cuda": cuda}


def triton_local_applies(x: Tensor, grid: Tensor, k: int, uniform: bool | None) -> bool:
    """Whether :func:`kan_core.basis.bspline_contract` takes the Triton kernels: CUDA tensors (or CPU ones
    inside :func:`route_cpu_tensors`), float32 or bfloat16 inputs and grid, ``1 <= k <= MAX_ORDER``, a
    uniform grid, and :func:`triton_status` ``"ok"``. Checks the device first, so CPU calls never import
    Triton."""
    if not (x.device.type == "cuda" or (x.device.type == "cpu" and _cpu_routed())):
        return False
    if uniform is None:
        from ..basis.bspline import grid_is_uniform

        uniform = grid_is_uniform(grid)
    return (
        x.dtype in _DTYPES
        and grid.dtype in _DTYPES
        and 1 <= k <= MAX_ORDER
        and uniform
        and triton_status() == "ok"
    )


def triton_contract(x: Tensor, grid: Tensor, coef: Tensor, scale: Tensor, k: int) -> Tensor:
    """The spline term on a uniform grid through the Triton kernels; same contract as
    :func:`kan_core.basis.bspline_contract`: ``x (..., B, in)``, ``grid (..., in, G + 2k + 1)``,
    ``coef (..., out, in, G + k)``, ``scale (..., out, in)`` -> ``(..., B, out)``, leading dims broadcast.
    Differentiable in ``x``, ``coef`` and ``scale`` (any order: higher ones through the dense twin)."""
    from .contract import contract

    return contract(x, grid, coef, scale, k)
