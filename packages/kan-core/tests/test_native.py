"""The native local-support B-spline contraction: same function and gradients as the dense path and as
Cox-de Boor, per-model grids and shared inputs, higher derivatives, layouts, and the forced fallback."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from kan_core import KAN, KANSpec
from kan_core.basis import bspline as bs
from kan_core.basis import bspline_basis_reference, bspline_contract, uniform_grid
from kan_core.native import native_status

pytestmark = pytest.mark.skipif(
    native_status() != "ok", reason=f"native kernels unavailable: {native_status()}"
)


def _reference(x, grid, coef, scale, k):
    """Cox-de Boor features contracted densely: ``(..., B, in) -> (..., B, out)``."""
    feats = bspline_basis_reference(x, grid, k)  # (..., B, in, nb)
    return torch.einsum("...bij,...oij->...bo", feats, coef * scale.unsqueeze(-1))


def _case(kind: str, k: int, G: int, dtype=torch.float32, n_out: int = 7):
    g = torch.Generator().manual_seed(100 * k + G)
    n_in, B, M = 5, 13, 3
    nb = G + k
    if kind == "per-model":
        grid = torch.stack([uniform_grid(n_in, G, k, (-1.0 + 0.2 * m, 0.5 + 0.3 * m)) for m in range(M)])
        x = torch.rand(M, B, n_in, generator=g) * 3 - 1.5
    else:
        grid = uniform_grid(n_in, G, k, (-1.0, 1.5))
        x = torch.rand(*((1,) if kind == "shared" else ()), B, n_in, generator=g) * 3.5 - 1.75  # some outside
    lead = () if kind == "single" else (M,)
    coef = torch.randn(*lead, n_out, n_in, nb, generator=g)
    scale = torch.randn(*lead, n_out, n_in, generator=g)
    return x.to(dtype), grid.to(dtype), coef.to(dtype), scale.to(dtype)


@pytest.mark.parametrize("n_out", [7, 64])  # 64: the register-blocked backward (outputs in blocks of 32)
@pytest.mark.parametrize("kind", ["single", "shared", "per-model"])
@pytest.mark.parametrize("G", [3, 30, 200])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_native_equals_dense_and_cox_de_boor(k, G, kind, n_out):
    x, grid, coef, scale = _case(kind, k, G, n_out=n_out)
    assert bs.native_local_applies(x, grid, k, True)
    leaves = [t.clone().requires_grad_(True) for t in (x, coef, scale)]
    ours = bs._native_contract(leaves[0], grid, leaves[1], leaves[2], k)
    gy = torch.randn_like(ours)
    (ours * gy).sum().backward()
    dense_leaves = [t.clone().requires_grad_(True) for t in (x, coef, scale)]
    f = bs.bspline_features(dense_leaves[0], grid, k, True).flatten(-2)
    w = (dense_leaves[1] * dense_leaves[2].unsqueeze(-1)).transpose(-1, -2).flatten(-2)
    dense = f @ w.transpose(-1, -2)
    (dense * gy).sum().backward()
    ref = _reference(x.double(), grid.double(), coef.double(), scale.double(), k).float()
    scale_y = ref.abs().max()
    # against float64 Cox-de Boor the float32 position u = (x - t0) / h carries ~(G + k) * eps of error
    torch.testing.assert_close(ours, ref, atol=max(1e-5, 5e-7 * (G + k)) * scale_y, rtol=0)
    torch.testing.assert_close(ours, dense, atol=1e-5 * scale_y, rtol=0)
    for a, b in zip(leaves, dense_leaves):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-5 * b.grad.abs().max(), rtol=0)


def _blocked_inputs(nb: int, n_out: int, itemsize: int) -> int:
    """An input count whose coefficients (in * nb * out) just exceed the 256 KB from which the forward runs
    over blocks of inputs (``forward_blocks`` in bspline_local.h), with a partial last block."""
    return (256 * 1024) // (nb * n_out * itemsize) + 11


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("G", [3, 30, 200])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_input_blocked_forward_matches_the_float64_reference(k, G, dtype):
    """The forward over blocks of inputs (coefficients beyond L2) gives the float64 Cox-de Boor values, with
    inputs out of the grid and NaN (no non-zero basis), one model and per-model grids, outputs in whole
    register blocks (32) and not (10), on one and two threads (two split one model's batch)."""
    g = torch.Generator().manual_seed(10 * k + G)
    nb, B, M = G + k, 23, 2
    for n_out in (32, 10):
        n_in = _blocked_inputs(nb, n_out, dtype.itemsize)
        grid = torch.stack(  # float64 knots: a float32 grid is not uniform to float64 precision
            [uniform_grid(n_in, G, k, (-1.0 + 0.2 * m, 0.5 + 0.3 * m), torch.float64) for m in range(M)]
        )
        x = torch.rand(M, B, n_in, generator=g) * 3 - 1.5  # about a quarter out of the grids
        x[torch.rand(M, B, n_in, generator=g) < 0.05] = float("nan")
        coef = torch.randn(M, n_out, n_in, nb, generator=g)
        scale = torch.randn(M, n_out, n_in, generator=g)
        finite = torch.nan_to_num(x, nan=1e6)  # NaN: no non-zero basis, as far out of the grid
        ref = _reference(finite.double(), grid.double(), coef.double(), scale.double(), k)
        tol = max(1e-5, 5e-7 * nb) if dtype == torch.float32 else 1e-12
        for threads in (1, 2):
            before = torch.get_num_threads()
            torch.set_num_threads(threads)
            try:
                for lead in (slice(0, 1), slice(None)):  # one model, two models
                    args = [t[lead].to(dtype) for t in (x, grid, coef, scale)]
                    ours = bs._native_contract(*args, k).double()
                    want = ref[lead]
                    torch.testing.assert_close(ours, want, atol=tol * want.abs().max(), rtol=0)
            finally:
                torch.set_num_threads(before)


@pytest.mark.parametrize("threads", [1, 2])
def test_empty_batch(threads):
    """No samples: an empty output (the forward splits a model's batch between threads)."""
    n_in, G, k = 600, 5, 3  # coefficients beyond 256 KB: the input-blocked forward
    grid = uniform_grid(n_in, G, k)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        y = bs._native_contract(
            torch.empty(0, n_in), grid, torch.randn(32, n_in, G + k), torch.randn(32, n_in), k
        )
    finally:
        torch.set_num_threads(before)
    assert y.shape == (0, 32)


def test_outside_the_grid_only_the_base_term_remains():
    k, G = 3, 10
    grid = uniform_grid(4, G, k)
    far = torch.tensor([[-5.0, 7.0, float(grid[0, -1]) + 1e-3, float(grid[0, 0]) - 1e-3]])
    coef, scale = torch.randn(2, 4, G + k), torch.ones(2, 4)
    assert bs._native_contract(far, grid, coef, scale, k).abs().max() == 0
    x = far.clone().requires_grad_(True)
    bs._native_contract(x, grid, coef.requires_grad_(True), scale, k).sum().backward()
    assert x.grad.abs().max() == 0 and coef.grad.abs().max() == 0


@pytest.mark.parametrize("n_out", [7, 16])  # float64 blocks hold 16 outputs
@pytest.mark.parametrize("k", [1, 3, 5])
def test_gradcheck_and_gradgradcheck(k, n_out):
    x, grid, coef, scale = _case("per-model", k, 12, torch.float64, n_out=n_out)
    x, coef, scale = x[:, :4].requires_grad_(), coef.requires_grad_(), scale.requires_grad_()
    f = lambda a, c, s: bs._native_contract(a, grid, c, s, k)  # noqa: E731
    assert torch.autograd.gradcheck(f, (x, coef, scale))
    assert torch.autograd.gradgradcheck(f, (x, coef, scale))


def test_second_derivative_in_x_matches_dense_path():
    """PINNs differentiate twice in x: the native forward's double backward equals the dense path's."""
    k, G = 3, 20
    grid = uniform_grid(3, G, k)
    coef, scale = torch.randn(2, 3, G + k, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64)
    grid = grid.double()
    x = (torch.rand(9, 3, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    second = []
    for native in (True, False):
        if native:
            y = bs._native_contract(x, grid, coef, scale, k)
        else:
            f = bs.bspline_features(x, grid, k, True).flatten(-2)
            y = f @ (coef * scale.unsqueeze(-1)).transpose(-1, -2).flatten(-2).T
        (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
        (h,) = torch.autograd.grad(g.sum(), x)
        second.append(h)
    torch.testing.assert_close(second[0], second[1])
    assert second[0].abs().max() > 0  # a negative control: cubic splines have curvature


def test_kernel_layout_coefficients_are_used_in_place():
    """A coefficient tensor stored as (M, in, nb, out) behind a permuted view gives the same values and
    gets its gradient in that same layout (what the batched engine trains)."""
    x, grid, coef, scale = _case("per-model", 3, 30)
    stored = coef.permute(0, 2, 3, 1).contiguous().requires_grad_(True)
    plain = coef.clone().requires_grad_(True)
    a = bspline_contract(x, grid, stored.permute(0, 3, 1, 2), scale, 3, True)
    b = bspline_contract(x, grid, plain, scale, 3, True)
    torch.testing.assert_close(a, b)
    a.sum().backward(), b.sum().backward()
    assert stored.grad.is_contiguous()
    torch.testing.assert_close(stored.grad.permute(0, 3, 1, 2), plain.grad)


def test_kan_forward_uses_native_and_matches_the_dense_module_path():
    kan = KAN(KANSpec((4, 6, 2), grid_size=30), generator=torch.Generator().manual_seed(0))
    x = torch.rand(50, 4) * 2 - 1
    layer = kan.layers[0]
    f = bs.bspline_features(x, layer.grid, 3, True).flatten(-2)
    w = ((layer.mask * layer.scale_sp).unsqueeze(-2) * layer.coef.transpose(-1, -2)).flatten(-2)
    dense = f @ w.T + torch.nn.functional.silu(x) @ (layer.mask * layer.scale_base).T
    torch.testing.assert_close(layer(x), dense, atol=1e-6, rtol=1e-5)


def test_forced_fallback_computes_the_same_function(tmp_path):
    """KAN_CORE_NATIVE=0 turns the kernels off (no warning); the pure-torch path gives the same outputs."""
    script = textwrap.dedent(
        """
        import sys, warnings, torch
        warnings.simplefilter("error")
        from kan_core import KAN, KANSpec
        from kan_core.native import native_status
        kan = KAN(KANSpec((3, 5, 1), grid_size=20), generator=torch.Generator().manual_seed(1))
        x = torch.linspace(-1, 1, 30).unsqueeze(1).expand(30, 3) * torch.tensor([1.0, -0.5, 0.3])
        y = kan(x)
        y.sum().backward()
        torch.save({"status": native_status(), "y": y.detach(), "g": kan.layers[0].coef.grad}, sys.argv[1])
        """
    )
    outs = {}
    for flag in ("0", "1"):
        path = tmp_path / f"out{flag}.pt"
        env = {**os.environ, "KAN_CORE_NATIVE": flag, "OMP_NUM_THREADS": "1"}
        subprocess.run([sys.executable, "-c", script, str(path)], env=env, check=True)
        outs[flag] = torch.load(path)
    assert outs["0"]["status"] == "disabled by KAN_CORE_NATIVE=0"
    assert outs["1"]["status"] == "ok"
    torch.testing.assert_close(outs["0"]["y"], outs["1"]["y"], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(outs["0"]["g"], outs["1"]["g"], atol=1e-6, rtol=1e-5)


def test_unbuildable_kernels_fall_back_with_one_warning(tmp_path):
    script = textwrap.dedent(
        """
        import warnings, torch
        from kan_core import KAN, KANSpec
        from kan_core.native import native_status
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            kan = KAN(KANSpec((2, 3, 1), grid_size=10), generator=torch.Generator().manual_seed(0))
            kan(torch.rand(4, 2)); kan(torch.rand(4, 2))
        msgs = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
        assert len(msgs) == 1, msgs
        assert "native B-spline kernels unavailable" in msgs[0] and "no C compiler" in msgs[0], msgs
        assert native_status().startswith("no C compiler")
        """
    )
    env = {
        **os.environ,
        "CC": str(tmp_path / "no-such-compiler"),
        "KAN_CORE_CACHE_DIR": str(tmp_path / "cache"),
    }
    env.pop("KAN_CORE_NATIVE", None)
    subprocess.run([sys.executable, "-c", script], env=env, check=True)
    assert not (tmp_path / "cache").exists()


def test_cache_is_built_once_and_atomically(tmp_path):
    script = (
        "from kan_core.native import local_kernels, cache_dir; assert local_kernels(); print(cache_dir())"
    )
    env = {**os.environ, "KAN_CORE_CACHE_DIR": str(tmp_path)}
    env.pop("KAN_CORE_NATIVE", None)
    for _ in range(2):
        subprocess.run([sys.executable, "-c", script], env=env, check=True, capture_output=True)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 1 and files[0].startswith("bspline_local-") and files[0].endswith(".so"), files


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_layer_matches_native_cpu():
    """On CUDA the dense path runs; forward and gradients equal the CPU native kernel's."""
    x, grid, coef, scale = _case("per-model", 3, 30)
    grads = []
    for dev in ("cpu", "cuda"):
        leaves = [t.to(dev).requires_grad_(True) for t in (x, coef, scale)]
        y = bspline_contract(leaves[0], grid.to(dev), leaves[1], leaves[2], 3)
        y.square().sum().backward()
        grads.append([y.detach().cpu()] + [t.grad.cpu() for t in leaves])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_non_contiguous_coefficients_of_any_layout():
    """Coefficients that are views in neither layout (as MetaKAN generates them) give the same values and
    gradients as a contiguous copy (regression: a temporary contiguous copy was freed before the kernel
    read it)."""
    x, grid, coef, scale = _case("per-model", 3, 30)
    odd = (
        coef.transpose(-1, -2).contiguous().transpose(-1, -2).requires_grad_(True)
    )  # (M, out, nb, in) memory
    assert not odd.is_contiguous() and not odd.permute(0, 2, 3, 1).is_contiguous()
    plain = coef.clone().requires_grad_(True)
    a = bspline_contract(x, grid, odd, scale, 3, True)
    b = bspline_contract(x, grid, plain, scale, 3, True)
    torch.testing.assert_close(a, b)
    a.sum().backward(), b.sum().backward()
    torch.testing.assert_close(odd.grad, plain.grad)


_VARIANT_SCRIPT = textwrap.dedent(
    """
    import sys, torch
    from kan_core.basis import bspline as bs
    from kan_core.basis import bspline_basis_reference, uniform_grid
    from kan_core.native import kernel_isa
    assert kernel_isa() == sys.argv[1], (kernel_isa(), sys.argv[1])
    torch.set_num_threads(2)
    worst = 0.0
    for k in range(1, 6):
        for G in (3, 30, 200):
            for n_out in (7, 32, 64):
                g = torch.Generator().manual_seed(100 * k + G + n_out)
                M, B, n_in = 3, 40, 5
                grid = torch.stack([uniform_grid(n_in, G, k, (-1.0 + 0.2 * m, 0.5 + 0.3 * m)) for m in range(M)])
                x = torch.rand(M, B, n_in, generator=g) * 3 - 1.5
                coef = torch.randn(M, n_out, n_in, G + k, generator=g)
                scale = torch.randn(M, n_out, n_in, generator=g)
                gy = torch.randn(M, B, n_out, generator=g)
                outs = []
                for dt in (torch.float32, torch.float64):
                    leaves = [t.detach().to(dt).clone().requires_grad_(True) for t in (x, coef, scale)]
                    if dt == torch.float32:
                        y = bs._native_contract(leaves[0], grid, leaves[1], leaves[2], k)
                    else:  # float64 dense features for the gradients, Cox-de Boor for the values
                        f = bs.bspline_features(leaves[0], grid.double(), k, True)  # (M, B, nb, in)
                        y = torch.einsum("mbji,moij->mbo", f, leaves[1] * leaves[2].unsqueeze(-1))
                    (y * gy.to(dt)).sum().backward()
                    outs.append([y.detach().double()] + [t.grad.double() for t in leaves])
                f = bspline_basis_reference(x.double(), grid.double(), k)
                outs[1][0] = torch.einsum("mbij,moij->mbo", f, coef.double() * scale.double().unsqueeze(-1))
                for a, b in zip(*outs):
                    err = float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))
                    # the float32 position u = (x - t0) / h carries ~(G + k) eps of error
                    worst = max(worst, err / max(1e-5, 5e-7 * (G + k)))
    for k in range(1, 6):  # the forward over blocks of inputs (coefficients beyond 256 KB), NaN inputs
        for dt in (torch.float32, torch.float64):
            nb, M, B = 30 + k, 2, 24
            n_in = 256 * 1024 // (nb * 32 * dt.itemsize) + 11
            g = torch.Generator().manual_seed(k)
            grid = uniform_grid(n_in, 30, k, dtype=torch.float64)
            x = torch.rand(M, B, n_in, generator=g, dtype=torch.float64) * 3 - 1.5
            x[:, ::5, ::3] = float("nan")
            coef = torch.randn(M, 32, n_in, nb, generator=g, dtype=torch.float64)
            scale = torch.randn(M, 32, n_in, generator=g, dtype=torch.float64)
            f = bspline_basis_reference(torch.nan_to_num(x, nan=1e6), grid, k)
            want = torch.einsum("mbij,moij->mbo", f, coef * scale.unsqueeze(-1))
            y = bs._native_contract(x.to(dt), grid.to(dt), coef.to(dt), scale.to(dt), k).double()
            err = float((y - want).abs().max() / want.abs().max())
            worst = max(worst, err / (max(1e-5, 5e-7 * nb) if dt == torch.float32 else 1e-12))
    assert worst < 1, worst
    x = (torch.rand(2, 6, 4, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    grid = uniform_grid(4, 12, 3).double()
    c = torch.randn(2, 16, 4, 15, dtype=torch.float64, requires_grad=True)
    s = torch.randn(2, 16, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, d: bs._native_contract(a, grid, b, d, 3), (x, c, s))
    print(worst)
    """
)


@pytest.mark.parametrize("isa", ["avx512", "avx2", "generic"])
def test_every_isa_variant_matches_the_float64_reference(isa, tmp_path):
    """Each ISA variant this CPU can run (forced with KAN_CORE_ISA) gives the float64 Cox-de Boor values and
    gradients, k = 1..5, G in {3, 30, 200}, outputs in and out of whole register blocks, and passes gradcheck."""
    from kan_core.native import ISA_VARIANTS, runnable_isas

    if isa not in ISA_VARIANTS or isa not in runnable_isas():
        pytest.skip(f"this CPU does not run the {isa} variant (it runs {', '.join(runnable_isas())})")
    env = {**os.environ, "KAN_CORE_ISA": isa}
    env.pop("KAN_CORE_NATIVE", None)
    subprocess.run([sys.executable, "-c", _VARIANT_SCRIPT, isa], env=env, check=True)


def test_default_variant_is_the_widest_the_cpu_runs():
    from kan_core.native import kernel_isa, machine_summary, runnable_isas

    if os.environ.get("KAN_CORE_ISA", "auto") == "auto":
        assert kernel_isa() == runnable_isas()[0]
    line = machine_summary(threads=3)
    assert f"kernel ISA: {kernel_isa()}" in line and "threads: 3" in line and torch.__version__ in line


def test_forcing_a_variant_the_cpu_lacks_is_a_clear_error():
    """KAN_CORE_ISA naming a variant the CPU cannot run raises (never an illegal-instruction crash); an
    unknown name raises too. The CPU's flags are replaced by SSE2's, so the check runs on every CPU."""
    from kan_core.native import ISA_VARIANTS

    if "avx2" not in ISA_VARIANTS:
        pytest.skip("x86-64 only")
    script = textwrap.dedent(
        """
        import os, sys
        import kan_core.native as nat
        nat._cpu_signature = lambda: "fpu sse sse2"
        os.environ["KAN_CORE_ISA"] = sys.argv[1]
        try:
            nat.local_kernels()
        except (RuntimeError, ValueError) as e:
            print(type(e).__name__, e)
        else:
            raise SystemExit("no error")
        """
    )
    for isa, expected in (("avx2", "RuntimeError KAN_CORE_ISA=avx2: this CPU"), ("sse9", "ValueError")):
        out = subprocess.run(
            [sys.executable, "-c", script, isa], capture_output=True, text=True, check=True
        ).stdout
        assert out.startswith(expected), out
    out = subprocess.run(
        [sys.executable, "-c", script, "avx512"], capture_output=True, text=True, check=True
    ).stdout
    assert "lacks" in out and "avx512f" in out and "it runs generic" in out, out
