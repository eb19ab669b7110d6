"""MetaKAN's generated B-spline coefficients go through kan-core's Triton kernels (CUDA's path; on CPU
through Triton's interpreter inside ``route_cpu_tensors()``): same output and gradients as the dense path."""

from __future__ import annotations

import kan_core.triton as kt
import pytest
import torch
from kan_metakan import MetaKAN

pytestmark = pytest.mark.skipif(
    kt.triton_status() != "ok", reason=f"Triton path unavailable: {kt.triton_status()}"
)
DEV = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def test_generated_coefficients_take_the_triton_kernel(monkeypatch):
    from kan_core.basis import bspline as bs
    from kan_core.triton import contract as tc

    seen = []
    real = tc.TritonContract.apply
    monkeypatch.setattr(tc.TritonContract, "apply", lambda *a: seen.append(1) or real(*a))
    monkeypatch.setattr(bs, "native_local_applies", lambda *a: False)  # CPU reference: the dense path
    monkeypatch.delenv("KAN_CORE_TRITON", raising=False)
    seed = int(torch.randint(1 << 30, ()))
    x = (torch.rand(10, 3, generator=torch.Generator().manual_seed(seed)) * 2 - 1).to(DEV)
    results = []
    for triton in (True, False):
        if not triton:
            monkeypatch.setenv("KAN_CORE_TRITON", "0")
        m = MetaKAN.from_widths(
            [3, 4, 2],
            grid_size=6,
            hidden=8,
            memory_efficient=False,
            generator=torch.Generator().manual_seed(seed),
        ).to(DEV)
        with kt.route_cpu_tensors():
            y = m(x)
            y.square().sum().backward()
        results.append((y.detach().cpu(), [p.grad.cpu() for p in m.parameters()]))
    assert len(seen) == 2  # both layers, Triton run only
    (y_t, g_t), (y_d, g_d) = results
    torch.testing.assert_close(y_t, y_d, rtol=1e-5, atol=1e-6)
    for a, b in zip(g_t, g_d):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
