"""The Triton local-support B-spline kernels against the float64 Cox-de Boor reference and the dense path.

Without CUDA the kernels run on CPU tensors through Triton's interpreter (``TRITON_INTERPRET=1``, set by
this folder's conftest.py before the kernels are defined); with CUDA the same tests run compiled kernels
on CUDA tensors (``tools/gpu_triton.sh``). Every buffer the kernels fill by plain stores is poisoned with
NaN first (``contract._alloc``), so an element left unwritten fails the comparison; inputs are drawn
afresh for every check, some outside the grid.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("triton", reason="Triton is not installed (pip install 'kan-core[triton]')")

from kan_core.basis import bspline_basis_reference, uniform_grid  # noqa: E402
from kan_core.triton import contract as tc  # noqa: E402
from kan_core.triton import route_cpu_tensors  # noqa: E402

DEV = torch.device("cuda" if torch.cuda.is_available() else "cpu")
TOL = 2e-5  # relative L2 error of float32 results against float64


def tol(G: int, k: int) -> float:
    """Float32 positions ``u = (x - t0) / h`` carry ~``(G + k)`` eps of error (as in test_native.py)."""
    return max(TOL, 5e-7 * (G + k))


def rel_err(a: torch.Tensor, ref: torch.Tensor) -> float:
    """``||a - ref|| / ||ref||`` in float64; NaN anywhere gives NaN (which fails every ``<=``)."""
    a, ref = a.detach().double().cpu(), ref.detach().double().cpu()
    return float((a - ref).norm() / ref.norm().clamp_min(1e-300))


@pytest.fixture(autouse=True)
def poisoned(monkeypatch):
    """Buffers the kernels must fill completely start as NaN."""

    def alloc(*shape, dtype, device):
        return torch.full(shape, float("nan"), dtype=dtype, device=device)

    monkeypatch.setattr(tc, "_alloc", alloc)


def make_case(kind: str, k: int, G: int, gen: torch.Generator, M=2, B=11, n_in=2, n_out=4):
    """``x, grid, coef, scale`` for ``single`` (one model), ``shared`` (M models, one x and one grid) or
    ``per-model`` (M models, per-model x and grids); x reaches past both ends of the grid."""
    if kind == "per-model":
        grid = torch.stack([uniform_grid(n_in, G, k, (-1.0 + 0.2 * m, 0.5 + 0.3 * m)) for m in range(M)])
        x = torch.rand(M, B, n_in, generator=gen) * 3 - 1.5
    else:
        grid = uniform_grid(n_in, G, k, (-1.0, 1.5))
        x = torch.rand(B, n_in, generator=gen) * 3.5 - 1.75
    lead = () if kind == "single" else (M,)
    coef = torch.randn(*lead, n_out, n_in, G + k, generator=gen)
    scale = torch.randn(*lead, n_out, n_in, generator=gen)
    return x, grid, coef, scale


def reference(x, grid, coef, scale, k):
    """Float64 Cox-de Boor features contracted densely: ``(..., B, in) -> (..., B, out)``."""
    feats = bspline_basis_reference(x, grid, k)  # (..., B, in, nb)
    return torch.einsum("...bij,...oij->...bo", feats, coef * scale.unsqueeze(-1))


def run_both(x, grid, coef, scale, k, plan=None, dtype=torch.float32):
    """Output and gradients (x, coef, scale) of the Triton path and of the float64 reference, for one
    random output gradient ``gy`` (returned third)."""
    leaves = [t.detach().to(DEV, dtype).clone().requires_grad_(True) for t in (x, coef, scale)]
    with route_cpu_tensors():
        y = tc.contract(leaves[0], grid.to(DEV, dtype), leaves[1], leaves[2], k, plan)
    gy = torch.randn(y.shape, generator=torch.Generator().manual_seed(int(torch.randint(1 << 30, ())))).to(y)
    y.backward(gy)
    ref_leaves = [t.detach().double().requires_grad_(True) for t in (x, coef, scale)]
    ref = reference(ref_leaves[0], grid.double(), ref_leaves[1], ref_leaves[2], k)
    ref.backward(gy.double().cpu())
    return [y, *(t.grad for t in leaves)], [ref, *(t.grad for t in ref_leaves)], gy


def dense(x, grid, coef, scale, k, gy):
    """Output and gradients (x, coef, scale) of kan-core's dense float32 path (features + matmul) for the
    output gradient ``gy``."""
    from kan_core.basis import bspline_features

    leaves = [t.detach().clone().requires_grad_(True) for t in (x, coef, scale)]
    f = bspline_features(leaves[0], grid, k, True).flatten(-2)
    w = (leaves[1] * leaves[2].unsqueeze(-1)).transpose(-1, -2).flatten(-2)
    y = f @ w.transpose(-1, -2)
    y.backward(gy.cpu().float())
    return [y, *(t.grad for t in leaves)]


# k x G x (single, one stacked kind): 30 cases; the stacked kind alternates between shared and per-model
CASES = [(k, G, kind) for k in range(1, 6) for G in (3, 30, 200) for kind in ("single", "stacked")]


@pytest.mark.parametrize("k,G,kind", CASES)
def test_matches_cox_de_boor_and_dense(k, G, kind):
    gen = torch.Generator().manual_seed(int(torch.randint(1 << 30, ())))
    if kind == "stacked":
        kind = ("shared", "per-model")[(k + G) % 2]
    x, grid, coef, scale = make_case(kind, k, G, gen)
    ours, ref, gy = run_both(x, grid, coef, scale, k)
    for name, a, b, d in zip(
        ("y", "grad x", "grad coef", "grad scale"), ours, ref, dense(x, grid, coef, scale, k, gy)
    ):
        assert a.shape == b.shape == d.shape, name
        assert rel_err(a, b) <= tol(G, k), f"{name} vs Cox-de Boor: {rel_err(a, b):.2e}"
        assert rel_err(a, d) <= tol(G, k), f"{name} vs the dense path: {rel_err(a, d):.2e}"
    assert (ours[2].cpu()[ref[2] == 0] == 0).all(), "coefficients outside every support got a gradient"


@pytest.mark.parametrize("k", [4])
def test_many_blocks_and_chunks(k):
    """Small blocks: several sample and output blocks, input chunks (partial outputs), sample chunks
    (partial scale gradients, atomics across programs) and ragged edges."""
    gen = torch.Generator().manual_seed(int(torch.randint(1 << 30, ())))
    x, grid, coef, scale = make_case("per-model", k, 13, gen, M=2, B=21, n_in=3, n_out=5)
    plan = tc.Plan(block_b=16, block_o=4, i_chunk=2, bwd_block_b=16, b_chunk=16)
    ours, ref, _ = run_both(x, grid, coef, scale, k, plan)
    for name, a, b in zip(("y", "grad x", "grad coef", "grad scale"), ours, ref):
        assert rel_err(a, b) <= TOL, f"{name}: {rel_err(a, b):.2e}"


def test_knots_edges_and_nan():
    """Inputs exactly on knots, on the last knot (outside: half-open), far outside, and NaN: no basis."""
    k, G = 3, 4
    grid = uniform_grid(2, G, k, (-1.0, 1.0))  # knots -2.5, -2, ..., 2.5 (spacing 0.5)
    col = torch.tensor([-2.5, -2.0, -1.0, 0.0, 0.5, 2.0, 2.4999, 2.5, 7.0, -9.0, float("nan")])
    x = torch.stack([col, col.flip(0)], -1)
    gen = torch.Generator().manual_seed(int(torch.randint(1 << 30, ())))
    coef, scale = torch.randn(3, 2, G + k, generator=gen), torch.randn(3, 2, generator=gen)
    ours, ref, _ = run_both(x, grid, coef, scale, k)
    ref[0] = torch.nan_to_num(ref[0])
    ref[1] = torch.nan_to_num(ref[1])  # d/dx at NaN: no basis, 0
    for name, a, b in zip(("y", "grad x", "grad coef", "grad scale"), ours, ref):
        assert rel_err(a, b) <= TOL, f"{name}: {rel_err(a, b):.2e}"


def test_negative_control():
    """The comparison can fail: one wrong coefficient inside the support, or the wrong order, is caught."""
    gen = torch.Generator().manual_seed(int(torch.randint(1 << 30, ())))
    k = 3
    x, grid, coef, scale = make_case("single", k, 30, gen)
    x[0, 0] = grid[0, k] + 0.37 * (grid[0, k + 1] - grid[0, k])  # in interval k: bases 0..k are non-zero
    wrong = coef.clone()
    wrong[0, 0, 1] += 1.0
    with route_cpu_tensors():
        y = tc.contract(x.to(DEV), grid.to(DEV), coef.to(DEV), scale.to(DEV), k).cpu()
        y_wrong = tc.contract(x.to(DEV), grid.to(DEV), wrong.to(DEV), scale.to(DEV), k).cpu()
        y_order = tc.contract(
            x.to(DEV), grid[:, 1:-1].to(DEV), coef[..., :-1].to(DEV), scale.to(DEV), k - 1
        ).cpu()
    ref = reference(x.double(), grid.double(), coef.double(), scale.double(), k)
    assert rel_err(y, ref) <= TOL
    assert rel_err(y_wrong, ref) > 100 * TOL
    assert rel_err(y_order, ref) > 100 * TOL


def test_bf16_inputs_accumulate_in_float32():
    gen = torch.Generator().manual_seed(int(torch.randint(1 << 30, ())))
    k = 3
    x, grid, coef, scale = make_case("shared", k, 30, gen, B=16, n_in=8)
    xb, cb, sb = (t.bfloat16() for t in (x, coef, scale))
    ours, ref, _ = run_both(xb.float(), grid, cb.float(), sb.float(), k, dtype=torch.bfloat16)
    assert ours[0].dtype == torch.bfloat16 and ours[2].dtype == torch.bfloat16
    # bf16 inputs and outputs (8-bit mantissa): ~4e-3 relative per rounding
    for name, a, b in zip(("y", "grad x", "grad coef", "grad scale"), ours, ref):
        assert rel_err(a, b) <= 1.5e-2, f"{name}: {rel_err(a, b):.2e}"


def test_double_backward_uses_dense_twin():
    """``create_graph=True`` (PINN-style second derivatives in x) differentiates the dense twin."""
    gen = torch.Generator().manual_seed(int(torch.randint(1 << 30, ())))
    k = 3
    x, grid, coef, scale = make_case("single", k, 7, gen)
    xs = [x.to(DEV).requires_grad_(True), x.double().requires_grad_(True)]
    with route_cpu_tensors():
        y = tc.contract(xs[0], grid.to(DEV), coef.to(DEV), scale.to(DEV), k)
    ref = reference(xs[1], grid.double(), coef.double(), scale.double(), k)
    (g,) = torch.autograd.grad(y.sum(), xs[0], create_graph=True)
    (gr,) = torch.autograd.grad(ref.sum(), xs[1], create_graph=True)
    assert rel_err(g, gr) <= TOL
    (h,) = torch.autograd.grad(g.square().sum(), xs[0])
    (hr,) = torch.autograd.grad(gr.square().sum(), xs[1])
    assert rel_err(h, hr) <= 1e-4


@pytest.mark.parametrize(
    "M,B,I,O", [(1, 1024, 784, 32), (1, 1024, 32, 10), (1000, 128, 32, 1), (3, 7, 5, 130)]
)
def test_gpu_plans_cover_every_input_and_sample(monkeypatch, M, B, I, O):
    """The CUDA block plans (an H100's 132 multiprocessors): power-of-two blocks, chunks that cover every
    input and sample exactly once, grid dimensions within CUDA's limits."""
    monkeypatch.setattr(tc, "_sm_count", lambda device: 132)
    p = tc.make_plan(M, B, I, O, torch.device("cuda"))
    for block in (p.block_b, p.block_o, p.bwd_block_b):
        assert block >= 2 and block & (block - 1) == 0
    n_ic, n_bc = -(-I // p.i_chunk), -(-B // p.b_chunk)
    assert (n_ic - 1) * p.i_chunk < I <= n_ic * p.i_chunk
    assert (n_bc - 1) * p.b_chunk < B <= n_bc * p.b_chunk and p.b_chunk % p.bwd_block_b == 0
    assert M * n_ic <= 65535 and -(-O // p.block_o) <= 65535 and n_bc <= 65535
    assert n_ic <= -(-I // 4)  # at most one input chunk per 4 inputs
