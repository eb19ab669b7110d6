"""Bases: agreement with pykan and with references, partition of unity, analytic gradients, model dims."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from kan_core.basis import (
    WAVELET_FUNCTIONS,
    bspline_basis,
    bspline_basis_reference,
    bspline_derivative_reference,
    chebyshev_basis,
    extend_grid,
    gram_basis,
    gram_beta_init,
    grid_is_uniform,
    legendre_basis,
    rbf_basis,
    rbf_centers,
    uniform_grid,
)

ORDERS = [(5, 1), (5, 2), (4, 3), (7, 3), (3, 4)]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _random_grid(n_in: int, G: int, k: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    """Strictly increasing, clearly non-uniform knots ``(n_in, G + 2k + 1)``."""
    steps = torch.rand(n_in, G + 2 * k, generator=_gen(seed), dtype=dtype) * 0.9 + 0.1
    return torch.cat([torch.zeros(n_in, 1, dtype=dtype), steps.cumsum(-1)], -1) - 1.5


def _x_for(grid: torch.Tensor, B: int, seed: int, margin: float = 0.2) -> torch.Tensor:
    lo, hi = grid[:, 0] - margin, grid[:, -1] + margin
    return lo + (hi - lo) * torch.rand(B, grid.shape[0], generator=_gen(seed), dtype=grid.dtype)


@pytest.mark.parametrize("G,k", ORDERS)
def test_bspline_matches_pykan_on_nonuniform_grid(G, k):
    spline = pytest.importorskip("kan.spline")
    grid = _random_grid(3, G, k, seed=G * 10 + k)
    assert not grid_is_uniform(grid)
    x = _x_for(grid, 200, seed=1)
    ref = spline.B_batch(x, grid, k=k)
    torch.testing.assert_close(bspline_basis_reference(x, grid, k), ref, atol=1e-12, rtol=0)
    torch.testing.assert_close(bspline_basis(x, grid, k, uniform=False), ref, atol=1e-12, rtol=0)
    torch.testing.assert_close(bspline_basis(x, grid, k), ref, atol=1e-12, rtol=0)  # auto-detected


@pytest.mark.parametrize("G,k", ORDERS)
def test_bspline_matches_pykan_on_uniform_grid(G, k):
    spline = pytest.importorskip("kan.spline")
    grid = spline.extend_grid(torch.linspace(-1, 1, G + 1, dtype=torch.float64)[None].expand(2, -1), k)
    torch.testing.assert_close(uniform_grid(2, G, k, dtype=torch.float64), grid, atol=1e-14, rtol=0)
    x = _x_for(grid, 150, seed=2)
    torch.testing.assert_close(
        bspline_basis(x, grid, k, uniform=True), spline.B_batch(x, grid, k=k), atol=1e-12, rtol=0
    )


@pytest.mark.parametrize("G,k", ORDERS)
def test_partition_of_unity_inside_domain(G, k):
    grid = _random_grid(4, G, k, seed=3)
    lo, hi = grid[:, k], grid[:, -k - 1]
    x = lo + (hi - lo) * torch.rand(300, 4, generator=_gen(4), dtype=torch.float64)
    s = bspline_basis(x, grid, k, uniform=False).sum(-1)
    torch.testing.assert_close(s, torch.ones_like(s), atol=1e-12, rtol=0)
    ug = uniform_grid(4, G, k, dtype=torch.float64)
    xu = torch.rand(300, 4, generator=_gen(5), dtype=torch.float64) * 2 - 1
    s = bspline_basis(xu, ug, k, uniform=True).sum(-1)
    torch.testing.assert_close(s, torch.ones_like(s), atol=1e-12, rtol=0)
    # negative control: outside the extended grid every basis is zero
    far = torch.full((5, 4), 50.0, dtype=torch.float64)
    assert bspline_basis(far, grid, k).abs().max() == 0


@pytest.mark.parametrize("G,k", ORDERS)
def test_uniform_fast_path_equals_reference_and_general(G, k):
    grid = uniform_grid(3, G, k, grid_range=(-2.0, 1.0), dtype=torch.float64)
    assert grid_is_uniform(grid)
    x = _x_for(grid, 400, seed=6, margin=0.5)
    x[0] = grid[:, 0]  # exactly on the first and last knot and on an interior knot
    x[1] = grid[:, -1]
    x[2] = grid[:, k + 1]
    ref = bspline_basis_reference(x, grid, k)
    fast = bspline_basis(x, grid, k, uniform=True)
    general = bspline_basis(x, grid, k, uniform=False)
    torch.testing.assert_close(fast, ref, atol=1e-12, rtol=0)
    torch.testing.assert_close(general, ref, atol=1e-12, rtol=0)


@pytest.mark.parametrize("uniform", [True, False])
@pytest.mark.parametrize("G,k", ORDERS)
def test_bspline_derivative_matches_reference(G, k, uniform):
    grid = uniform_grid(2, G, k, dtype=torch.float64) if uniform else _random_grid(2, G, k, seed=7)
    x = _x_for(grid, 100, seed=8).requires_grad_(True)
    w = torch.randn(x.shape[0], 2, G + k, generator=_gen(9), dtype=torch.float64)
    (bspline_basis(x, grid, k, uniform=uniform) * w).sum().backward()
    expect = (bspline_derivative_reference(x.detach(), grid, k) * w).sum(-1)
    torch.testing.assert_close(x.grad, expect, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("uniform", [True, False])
@pytest.mark.parametrize("G,k", [(5, 1), (4, 2), (5, 3)])
def test_bspline_gradcheck(G, k, uniform):
    grid = uniform_grid(3, G, k, dtype=torch.float64) if uniform else _random_grid(3, G, k, seed=10)
    x = _x_for(grid, 6, seed=11).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: bspline_basis(t, grid, k, uniform=uniform), (x,))


def test_bspline_grid_gets_no_gradient_and_validates():
    grid = uniform_grid(2, 5, 3, dtype=torch.float64).requires_grad_(True)
    x = torch.rand(4, 2, dtype=torch.float64, generator=_gen(0), requires_grad=True)
    bspline_basis(x, grid, 3).sum().backward()
    assert grid.grad is None and x.grad is not None
    with pytest.raises(ValueError, match="knots"):
        bspline_basis(x, uniform_grid(2, 5, 3)[:, :7], 3)


@pytest.mark.parametrize("uniform", [True, False])
def test_bspline_leading_model_dims(uniform):
    M, G, k = 3, 5, 3
    if uniform:
        grids = torch.stack(
            [uniform_grid(4, G, k, grid_range=(-1.0 - m, 1.0 + m), dtype=torch.float64) for m in range(M)]
        )
    else:
        grids = torch.stack([_random_grid(4, G, k, seed=20 + m) for m in range(M)])
    x = torch.randn(M, 30, 4, generator=_gen(12), dtype=torch.float64)
    out = bspline_basis(x, grids, k, uniform=uniform)
    assert out.shape == (M, 30, 4, G + k)
    for m in range(M):
        torch.testing.assert_close(out[m], bspline_basis_reference(x[m], grids[m], k), atol=1e-12, rtol=0)
    # shared grid broadcast against a leading model dim of x, and gradients summed back to x's shape
    xs = x.clone().requires_grad_(True)
    shared = bspline_basis(xs, grids[0], k, uniform=uniform)
    torch.testing.assert_close(shared[1], bspline_basis_reference(x[1], grids[0], k), atol=1e-12, rtol=0)
    shared.sum().backward()
    assert xs.grad.shape == x.shape


def test_extend_grid_and_uniform_detection():
    g = torch.tensor([[0.0, 1.0, 3.0]], dtype=torch.float64)
    torch.testing.assert_close(
        extend_grid(g, 2), torch.tensor([[-3.0, -1.5, 0.0, 1.0, 3.0, 4.5, 6.0]], dtype=torch.float64)
    )
    assert grid_is_uniform(uniform_grid(3, 5, 3))
    assert not grid_is_uniform(_random_grid(3, 5, 3, seed=1))


def test_rbf_values_and_gradcheck():
    c = rbf_centers(5, (-1.0, 1.0), dtype=torch.float64)
    x = torch.randn(7, 3, generator=_gen(1), dtype=torch.float64)
    out = rbf_basis(x, c)
    assert out.shape == (7, 3, 5)
    torch.testing.assert_close(out, torch.exp(-(((x[..., None] - c) / 0.5) ** 2)))
    torch.testing.assert_close(rbf_basis(c[None, 2:3], c)[0, 0, 2], torch.tensor(1.0, dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda t: rbf_basis(t, c), (x.requires_grad_(True),))


def test_chebyshev_is_cos_of_multiple_angle_and_gradcheck():
    x = torch.randn(20, 3, generator=_gen(2), dtype=torch.float64)
    out = chebyshev_basis(x, 5)
    theta = torch.acos(torch.tanh(x))
    expect = torch.stack([torch.cos(n * theta) for n in range(6)], -1)
    torch.testing.assert_close(out, expect, atol=1e-12, rtol=0)
    assert torch.autograd.gradcheck(lambda t: chebyshev_basis(t, 4), (x[:4].clone().requires_grad_(True),))


def test_legendre_matches_numpy_and_gradcheck():
    x = torch.randn(20, 2, generator=_gen(3), dtype=torch.float64)
    out = legendre_basis(x, 4)
    t = np.tanh(x.numpy())
    for n in range(5):
        ref = np.polynomial.legendre.legval(t, [0] * n + [1])
        np.testing.assert_allclose(out[..., n].numpy(), ref, atol=1e-12)
    assert torch.autograd.gradcheck(lambda u: legendre_basis(u, 4), (x[:4].clone().requires_grad_(True),))


def test_gram_initial_beta_is_monic_legendre_and_gradcheck():
    deg = 4
    x = torch.randn(15, 2, generator=_gen(4), dtype=torch.float64)
    beta = gram_beta_init(deg, dtype=torch.float64)
    out = gram_basis(x, beta, deg)
    leg = legendre_basis(x, deg)
    for n in range(deg + 1):
        lead = math.factorial(2 * n) / (2**n * math.factorial(n) ** 2)  # leading coefficient of P_n
        torch.testing.assert_close(out[..., n], leg[..., n] / lead, atol=1e-12, rtol=0)
    xg = x[:4].clone().requires_grad_(True)
    bg = beta.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda u, b: gram_basis(u, b, deg), (xg, bg))
    # per-model beta (leading dim M)
    betas = torch.stack([beta, beta * 2])
    xm = torch.randn(2, 5, 2, generator=_gen(5), dtype=torch.float64)
    om = gram_basis(xm, betas, deg)
    torch.testing.assert_close(om[1], gram_basis(xm[1], beta * 2, deg))
    assert torch.autograd.gradcheck(
        lambda u, b: gram_basis(u, b, deg), (xm.requires_grad_(True), betas.requires_grad_(True))
    )


@pytest.mark.parametrize("name", sorted(WAVELET_FUNCTIONS))
def test_wavelets_zero_mean_and_gradcheck(name):
    f = WAVELET_FUNCTIONS[name]
    t = torch.linspace(-12, 12, 20001, dtype=torch.float64)
    dt = float(t[1] - t[0])
    mean = float(f(t).sum()) * dt
    assert abs(mean) < 2e-3, f"{name} should be (nearly) zero-mean, got {mean}"
    if name == "mexican_hat":
        assert abs(float((f(t) ** 2).sum()) * dt - 1.0) < 1e-6  # unit L2 norm
    x = torch.randn(6, generator=_gen(6), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(f, (x,))


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("uniform", [True, False])
def test_bspline_second_derivative_gradgradcheck(k, uniform):
    """PINNs differentiate twice: the B-spline backward must itself be differentiable."""
    from kan_core.basis import bspline_features, uniform_grid

    gen = torch.Generator().manual_seed(3)
    grid = uniform_grid(3, 5, k, dtype=torch.float64)
    if not uniform:
        grid = grid + 0.05 * torch.rand(grid.shape, generator=gen, dtype=torch.float64).cumsum(-1)
    x = (torch.rand(4, 3, generator=gen, dtype=torch.float64) * 1.8 - 0.9).requires_grad_()
    assert torch.autograd.gradgradcheck(lambda v: bspline_features(v, grid, k, uniform), (x,))


def test_kan_laplacian_matches_finite_differences():
    from kan_core import KAN

    kan = KAN.from_widths(
        [2, 3, 1],
        grid_size=5,
        spline_order=3,
        dtype=torch.float64,
        generator=torch.Generator().manual_seed(0),
    )
    x = torch.tensor([[0.13, -0.41]], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(kan(x).sum(), x, create_graph=True)
    d2 = torch.autograd.grad(g[0, 0], x)[0][0, 0]
    h = 1e-4
    e = torch.tensor([[h, 0.0]], dtype=torch.float64)
    with torch.no_grad():
        fd = (kan(x + e) - 2 * kan(x) + kan(x - e)).item() / h**2
    assert abs(d2.item() - fd) < 1e-4 * max(1.0, abs(fd))


@pytest.mark.parametrize("grid_size", [5, 30])
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_uniform_dense_and_local_paths_match_reference(grid_size, k):
    """Small G uses the dense closed form, large G scatters the k + 1 non-zero values: both exact."""
    from kan_core.basis import bspline_features, uniform_grid

    gen = torch.Generator().manual_seed(grid_size * 10 + k)
    grid = uniform_grid(5, grid_size, k, (-0.7, 1.3), dtype=torch.float64)
    x = torch.rand(2, 9, 5, generator=gen, dtype=torch.float64) * 3.0 - 1.2  # some outside the grid
    ref = bspline_basis_reference(x, grid, k).transpose(-1, -2)
    got = bspline_features(x, grid, k, uniform=True)
    assert got.shape == (2, 9, grid_size + k, 5)
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-12)
    xg = x[0].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda v: bspline_features(v, grid, k, uniform=True), (xg,))
