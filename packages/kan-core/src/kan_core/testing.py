"""Test helpers shipped with the library (needs ``pytest``): device parametrisation and tolerant comparison.

Example::

    from kan_core.testing import assert_close, only_cuda, with_device

    @with_device
    def test_forward(device):
        x = torch.randn(4, 2, device=device)
        ...

    @only_cuda
    def test_cuda_kernel():
        ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest
import torch

__all__ = [
    "devices",
    "cuda_available",
    "only_cuda",
    "with_device",
    "assert_close",
    "use_triton_interpreter_without_cuda",
]

F = TypeVar("F", bound=Callable[..., Any])


def cuda_available() -> bool:
    return torch.cuda.is_available()


def devices() -> list[str]:
    """Devices to parametrise tests over: ``["cpu"]`` plus ``"cuda"`` when CUDA is available."""
    return ["cpu", "cuda"] if cuda_available() else ["cpu"]


def use_triton_interpreter_without_cuda() -> None:
    """Without a CUDA device, set ``TRITON_INTERPRET=1`` (unless set) so that :mod:`kan_core.triton`'s
    kernels are defined for Triton's interpreter and run on CPU tensors. Call it from a ``conftest.py``:
    ``triton.jit`` reads the variable when the kernels are defined (the first import of
    ``kan_core.triton.kernels``), so a test that sets it later may be too late."""
    import os

    if not torch.cuda.is_available():
        os.environ.setdefault("TRITON_INTERPRET", "1")


only_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
"""Skip marker for tests that only make sense on CUDA (combine with ``@pytest.mark.cuda`` to select)."""


def with_device(func: F) -> F:
    """Parametrise a test over :func:`devices` as its ``device`` argument (``torch.device``).

    The CUDA case carries the ``cuda`` marker, so ``pytest -m "not cuda"`` deselects it.
    """
    params = [
        pytest.param(torch.device(d), id=d, marks=(pytest.mark.cuda,) if d == "cuda" else ())
        for d in devices()
    ]
    return pytest.mark.parametrize("device", params)(func)


def assert_close(
    actual: Any,
    expected: Any,
    *,
    rtol: float | None = None,
    atol: float | None = None,
    msg: str | None = None,
    check_dtype: bool = True,
) -> None:
    """:func:`torch.testing.assert_close` that also compares across devices and accepts numbers/arrays.

    A non-tensor ``expected`` is converted to a tensor of ``actual``'s dtype; ``expected`` is moved to
    ``actual``'s device; the default tolerances are torch's for the dtype (give both ``rtol`` and
    ``atol`` or neither). ``msg`` is prepended to torch's report of the mismatch.
    """
    if (rtol is None) != (atol is None):
        raise ValueError("assert_close: give both rtol and atol, or neither")
    if not isinstance(actual, torch.Tensor):
        actual = torch.as_tensor(actual)
    if not isinstance(expected, torch.Tensor):
        expected = torch.as_tensor(expected, dtype=actual.dtype)  # plain numbers/arrays take actual's dtype
    expected = expected.to(actual.device)
    try:
        torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol, check_dtype=check_dtype)
    except AssertionError as exc:
        if msg:
            raise AssertionError(f"{msg}\n{exc}") from None
        raise
