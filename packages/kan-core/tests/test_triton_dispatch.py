"""The one dispatch point (``bspline_contract``) and the Triton path end to end: which calls take the
kernels, ``KAN_CORE_TRITON=0``, a missing Triton, and Adam steps of a small KAN through the Triton path
against the dense path. CPU tensors reach the kernels only inside ``route_cpu_tensors()`` (run by Triton's
interpreter, see conftest.py); on CUDA they go there by themselves."""

from __future__ import annotations

import contextlib
import sys

import kan_core.triton as kt
import pytest
import torch
from kan_core import KAN
from kan_core.basis import bspline as bs
from kan_core.basis import bspline_contract, uniform_grid
from kan_core.runtime import make_generator

DEV = torch.device("cuda" if torch.cuda.is_available() else "cpu")
needs_triton = pytest.mark.skipif(
    kt.triton_status() != "ok", reason=f"Triton path unavailable: {kt.triton_status()}"
)


@pytest.fixture
def calls(monkeypatch):
    """Counts the Triton autograd function's applications (wraps it, still runs it)."""
    if kt.triton_status() != "ok":
        pytest.skip(f"Triton path unavailable: {kt.triton_status()}")
    from kan_core.triton import contract as tc

    seen = []
    real = tc.TritonContract.apply

    def spy(*args):
        seen.append(args[0].shape)
        return real(*args)

    monkeypatch.setattr(tc.TritonContract, "apply", spy)
    return seen


def _operands(dtype=torch.float32, uniform=True):
    gen = torch.Generator().manual_seed(int(torch.randint(1 << 30, ())))
    grid = uniform_grid(3, 6, 2, dtype=dtype)
    if not uniform:
        grid = grid + torch.rand(grid.shape, generator=gen, dtype=dtype) * 0.05
        grid = grid.sort(-1).values
    x = torch.rand(9, 3, generator=gen, dtype=dtype) * 2 - 1
    return (
        x,
        grid,
        torch.randn(4, 3, 8, generator=gen, dtype=dtype),
        torch.randn(4, 3, generator=gen, dtype=dtype),
    )


@needs_triton
def test_routing(calls, monkeypatch):
    monkeypatch.delenv("KAN_CORE_TRITON", raising=False)
    x, grid, coef, scale = _operands()
    bspline_contract(x, grid, coef, scale, 2)
    assert calls == [], "CPU tensors outside route_cpu_tensors() must not take the Triton path"
    with kt.route_cpu_tensors():
        y = bspline_contract(x, grid, coef, scale, 2)
        assert len(calls) == 1
        f = bs.bspline_features(x, grid, 2, True).flatten(-2)  # the dense path by hand
        dense = f @ (coef * scale.unsqueeze(-1)).transpose(-1, -2).flatten(-2).T
        torch.testing.assert_close(y, dense, rtol=1e-5, atol=1e-6)
        bspline_contract(*_operands(uniform=False), 2)  # non-uniform grid: dense
        bspline_contract(*_operands(torch.float64), 2)  # float64: dense (or native on CPU)
        assert len(calls) == 1
        monkeypatch.setenv("KAN_CORE_TRITON", "0")
        assert kt.triton_status() == "disabled by KAN_CORE_TRITON=0"
        bspline_contract(x, grid, coef, scale, 2)
        assert len(calls) == 1
        assert "dense torch path (disabled by KAN_CORE_TRITON=0)" in kt.bspline_paths()["cuda"]


def test_without_triton_nothing_changes_on_cpu(monkeypatch):
    """A missing Triton: the status says so, no call takes the path (even when routed), CPU results hold."""
    monkeypatch.setitem(sys.modules, "triton", None)  # `import triton` raises ImportError
    monkeypatch.setattr(kt, "_state", {})
    monkeypatch.delenv("KAN_CORE_TRITON", raising=False)
    assert kt.triton_status().startswith("triton not importable")
    assert kt.bspline_paths()["cuda"].startswith("dense torch path (triton not importable")
    x, grid, coef, scale = _operands()
    before = bspline_contract(x, grid, coef, scale, 2)
    with kt.route_cpu_tensors():
        assert not kt.triton_local_applies(x, grid, 2, True)
        assert torch.equal(bspline_contract(x, grid, coef, scale, 2), before)


def _train(seed: int, x, target, triton: bool, lr: float = 0.02, steps: int = 5):
    """``steps`` Adam steps of a [3, 5, 2] KAN (G = 7, k = 3); returns the last loss and the parameters."""
    kan = KAN.from_widths([3, 5, 2], grid_size=7, spline_order=3, generator=make_generator(seed)).to(DEV)
    # eps 1e-3: a coefficient whose gradient is ~0 (an interval hit by few samples, its contributions
    # cancelling) then moves by lr * g / eps, continuous in g, instead of by ~lr * sign(g), which float
    # summation order alone can flip between the two paths (the test was flaky with torch's eps 1e-8)
    opt = torch.optim.Adam(kan.parameters(), lr=lr, eps=1e-3)
    for _ in range(steps):
        opt.zero_grad()
        with kt.route_cpu_tensors() if triton else contextlib.nullcontext():
            loss = (kan(x) - target).square().mean()
            loss.backward()
        opt.step()
    return loss.item(), [p.detach().cpu().clone() for p in kan.parameters()]


@needs_triton
def test_adam_steps_through_triton_equal_dense(calls, monkeypatch):
    """Five Adam steps through the Triton path (every layer) and through the dense path (native kernel
    and Triton switched off) give the same loss and parameters; a 5% different learning rate does not."""
    monkeypatch.setattr(bs, "native_local_applies", lambda *a: False)
    monkeypatch.delenv("KAN_CORE_TRITON", raising=False)
    gen = torch.Generator().manual_seed(int(torch.randint(1 << 30, ())))
    x = (torch.rand(24, 3, generator=gen) * 2.4 - 1.2).to(DEV)  # some inputs outside [-1, 1]
    target = torch.randn(24, 2, generator=gen).to(DEV)
    seed = int(torch.randint(1 << 30, ()))
    loss_t, p_t = _train(seed, x, target, triton=True)
    assert len(calls) == 5 * 2  # both layers, every step
    monkeypatch.setenv("KAN_CORE_TRITON", "0")  # dense on CUDA too
    loss_d, p_d = _train(seed, x, target, triton=False)
    _, p_wrong = _train(seed, x, target, triton=False, lr=0.021)
    assert len(calls) == 5 * 2
    assert abs(loss_t - loss_d) <= 1e-5 * abs(loss_d)
    # parameters are compared to 0.5% of one step (lr = 0.02); the 5% larger learning rate moves them by
    # ~5% of a step per step
    for a, b in zip(p_t, p_d):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    with pytest.raises(AssertionError):  # negative control
        for a, b in zip(p_t, p_wrong):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
