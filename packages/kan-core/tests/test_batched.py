"""The batched many-KAN engine: same init, same trajectories as per-model training, chunk-independent."""

from __future__ import annotations

import pytest
import torch
from kan_core import KAN, KANSpec
from kan_core.batched import (
    derive_seed,
    epoch_batches,
    estimate_model_bytes,
    evaluate_stacked,
    init_stacked,
    load_into_kan,
    plan_chunk_size,
    predict_stacked,
    train_stacked,
)

SPEC = KANSpec((2, 5, 1), grid_size=5, spline_order=3)
M, N = 6, 40
SEEDS = [100 + i for i in range(M)]


def _data(out=1, classes=None):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(N, 2, generator=g) * 2 - 1
    if classes:
        return x, torch.randint(0, classes, (M, N), generator=g)
    freq = torch.arange(1, M + 1, dtype=torch.float32).view(M, 1, 1)
    return x, torch.sin(freq * x.sum(-1, keepdim=True)).expand(M, N, out).contiguous()


def _train_one(spec, seed, x, y, steps, batch_size, loss="mse", opt="adam", wd=0.0):
    """The reference: one KAN module, torch.optim on its parameters, the same minibatch sampler."""
    kan = KAN(spec, generator=torch.Generator().manual_seed(seed))
    cls = torch.optim.Adam if opt == "adam" else torch.optim.AdamW
    optim = cls(kan.parameters(), lr=1e-2, weight_decay=wd)
    gen = torch.Generator().manual_seed(seed)
    pending: list[torch.Tensor] = []
    for _ in range(steps):
        if not pending:
            pending = epoch_batches(x.shape[0], batch_size, gen)[::-1]
        idx = pending.pop()
        pred = kan(x[idx])
        if loss == "mse":
            val = (pred - y[idx]).pow(2).mean()
        else:
            val = torch.nn.functional.cross_entropy(pred, y[idx])
        optim.zero_grad()
        val.backward()
        optim.step()
    return kan


def test_init_stacked_matches_kan_constructor():
    layers = init_stacked(SPEC, 3, [7, 8, 9])
    for i, s in enumerate([7, 8, 9]):
        ref = KAN(SPEC, generator=torch.Generator().manual_seed(s))
        for l, p in enumerate(ref.layer_params()):
            for k, v in p.items():
                assert torch.equal(layers[l][k][i], v.detach()), (l, k)
    assert not torch.equal(layers[0]["coef"][0], layers[0]["coef"][1])  # seeds matter


def test_batched_equals_per_model_training_minibatch():
    x, y = _data()
    res = train_stacked(SPEC, x, y, seeds=SEEDS, steps=15, batch_size=16, device="cpu")
    for i in range(M):
        ref = _train_one(SPEC, SEEDS[i], x, y[i], 15, 16)
        for l, p in enumerate(ref.layer_params()):
            for k in ("coef", "scale_base", "scale_sp"):
                torch.testing.assert_close(res.layers[l][k][i], p[k].detach(), atol=2e-5, rtol=1e-4)
    # training did something, and each model reports its own loss
    assert (res.metrics["loss"] < res.metrics["initial_loss"]).all()


@pytest.mark.parametrize(
    "spec",
    [
        KANSpec((2, 4, 1), basis="rbf", grid_size=6),
        KANSpec((2, 4, 1), basis="chebyshev", degree=3),
        KANSpec((2, 4, 1), basis="legendre", degree=3),
        KANSpec((2, 4, 1), basis="gram", degree=3),  # per-model beta against shared inputs (used to crash)
        KANSpec((2, 4, 1), basis="wavelet"),
        KANSpec((2, 4, 1), grid_size=30),  # the native local kernel at G = 30
    ],
    ids=lambda s: f"{s.basis}-G{s.grid_size}",
)
def test_every_basis_trains_batched_as_per_model(spec):
    x, y = _data()
    res = train_stacked(spec, x, y[:3], seeds=SEEDS[:3], steps=8, batch_size=16, device="cpu")
    for i in (0, 2):
        ref = _train_one(spec, SEEDS[i], x, y[i], 8, 16)
        for l, p in enumerate(ref.layer_params()):
            for k, v in p.items():
                torch.testing.assert_close(res.layers[l][k][i], v.detach(), atol=2e-5, rtol=1e-4)


def test_batched_equals_per_model_cross_entropy_adamw_full_batch():
    spec = KANSpec((2, 4, 3), grid_size=4)
    x, y = _data(classes=3)
    res = train_stacked(
        spec,
        x,
        y,
        seeds=SEEDS,
        steps=10,
        loss="cross_entropy",
        optimizer="adamw",
        weight_decay=0.1,
        device="cpu",
    )
    for i in (0, M - 1):
        ref = _train_one(spec, SEEDS[i], x, y[i], 10, None, loss="cross_entropy", opt="adamw", wd=0.1)
        torch.testing.assert_close(
            res.layers[1]["coef"][i], ref.layers[1].coef.detach(), atol=2e-5, rtol=1e-4
        )
    acc = res.metrics["accuracy"]
    assert acc.shape == (M,) and ((acc >= 0) & (acc <= 1)).all()


def test_result_independent_of_chunking():
    x, y = _data()
    whole = train_stacked(SPEC, x, y, seeds=SEEDS, steps=12, batch_size=8, device="cpu")
    chunked = train_stacked(SPEC, x, y, seeds=SEEDS, steps=12, batch_size=8, device="cpu", chunk_size=2)
    assert whole.chunk_size == M and chunked.chunk_size == 2
    for a, b in zip(whole.layers, chunked.layers):
        for k in a:
            torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(whole.metrics["loss"], chunked.metrics["loss"], atol=1e-6, rtol=1e-5)


def test_memory_budget_sets_chunk_size():
    x, y = _data()
    per = estimate_model_bytes(SPEC, N, data_bytes=y[0].numel() * 4)
    res = train_stacked(SPEC, x, y, seeds=SEEDS, steps=1, device="cpu", max_memory_bytes=3 * per)
    assert res.chunk_size == 3
    assert plan_chunk_size(10, 100, 50) == 1 and plan_chunk_size(10, 100, 10**9) == 10
    assert estimate_model_bytes(SPEC, 256) > estimate_model_bytes(SPEC, 16)


def test_models_do_not_interact():
    """Negative control for gradient mixing: changing model 0's targets leaves model 1 unchanged."""
    x, y = _data()
    a = train_stacked(SPEC, x, y, seeds=SEEDS, steps=5, device="cpu")
    y2 = y.clone()
    y2[0] = -y2[0]
    b = train_stacked(SPEC, x, y2, seeds=SEEDS, steps=5, device="cpu")
    torch.testing.assert_close(a.layers[0]["coef"][1:], b.layers[0]["coef"][1:], atol=1e-6, rtol=1e-5)
    assert not torch.allclose(a.layers[0]["coef"][0], b.layers[0]["coef"][0])


def test_per_model_inputs_and_prediction_helpers():
    x, y = _data()
    xs = x.unsqueeze(0).repeat(M, 1, 1)
    shared = train_stacked(SPEC, x, y, seeds=SEEDS, steps=3, batch_size=10, device="cpu")
    own = train_stacked(SPEC, xs, y, seeds=SEEDS, steps=3, batch_size=10, device="cpu")
    torch.testing.assert_close(shared.layers[0]["coef"], own.layers[0]["coef"], atol=1e-6, rtol=1e-5)
    pred = predict_stacked(SPEC, shared.layers, x, batch_size=7)
    kan = load_into_kan(SPEC, shared.layers, 2)
    torch.testing.assert_close(pred[2], kan(x).detach(), atol=1e-6, rtol=1e-5)
    ev = evaluate_stacked(SPEC, shared.layers, x, y, batch_size=9)
    torch.testing.assert_close(ev["loss"], shared.metrics["loss"], atol=1e-6, rtol=1e-5)


def test_bad_arguments_are_named():
    x, y = _data()
    with pytest.raises(ValueError, match="loss"):
        train_stacked(SPEC, x, y, seeds=SEEDS, steps=1, loss="l1")
    with pytest.raises(ValueError, match="leading model dim"):
        train_stacked(SPEC, x, y[:2], seeds=SEEDS, steps=1)
    with pytest.raises(ValueError, match="exactly one"):
        train_stacked(SPEC, x, y, steps=1)


def test_derive_seed_is_stable():
    assert derive_seed(0, 0, "init") == derive_seed(0, 0, "init")
    assert derive_seed(0, 1, "init") != derive_seed(0, 0, "init") != derive_seed(1, 0, "init")
    assert 0 <= derive_seed(123, 45, "x") < 2**63


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cpu_and_cuda_agree():
    x, y = _data()
    cpu = train_stacked(SPEC, x, y, seeds=SEEDS, steps=10, batch_size=16, device="cpu")
    gpu = train_stacked(SPEC, x, y, seeds=SEEDS, steps=10, batch_size=16, device="cuda")
    for a, b in zip(cpu.layers, gpu.layers):
        for k in a:
            torch.testing.assert_close(a[k], b[k].cpu(), atol=1e-4, rtol=1e-3)


def _fused_and_unfused(opt, wd, dtype, steps=100):
    spec = KANSpec((2, 5, 3), grid_size=7, spline_order=3)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 2, generator=g) * 2 - 1
    y = torch.randn(4, 64, 3, generator=g)
    kw = dict(
        seeds=range(4), steps=steps, batch_size=16, lr=0.01, optimizer=opt, weight_decay=wd, dtype=dtype
    )
    return [train_stacked(spec, x, y, fuse_optimizer=f, device="cpu", **kw).layers for f in (True, False)]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("opt,wd", [("adam", 0.0), ("adam", 0.1), ("adamw", 0.1)])
def test_fused_optimiser_equals_torch_optim_over_100_steps(opt, wd, dtype):
    """The coefficients' Adam/AdamW step fused into the native backward follows torch.optim's trajectory:
    to 1e-10 in float64 over 100 minibatch steps, to float32 rounding (amplified by Adam's normalisation)
    in float32. Every trained tensor is compared, the coefficients and the tensors torch.optim still steps."""
    from kan_core.native import native_status

    if native_status() != "ok":
        pytest.skip(f"native kernels unavailable: {native_status()}")
    fused, plain = _fused_and_unfused(opt, wd, dtype)
    tol = 1e-10 if dtype == torch.float64 else 2e-3
    for a, b in zip(fused, plain):
        for name in ("coef", "scale_sp", "scale_base"):
            assert (a[name] - b[name]).abs().max() <= tol * b[name].abs().max(), (name, opt, wd)
    assert (fused[0]["coef"] - _fused_and_unfused(opt, wd, dtype, steps=0)[0][0]["coef"]).abs().max() > 1e-3


def test_fused_optimiser_negative_control():
    """The comparison above can fail: AdamW's decoupled decay fused against Adam's L2 decay unfused differ."""
    from kan_core.native import native_status

    if native_status() != "ok":
        pytest.skip(f"native kernels unavailable: {native_status()}")
    fused_w, _ = _fused_and_unfused("adamw", 0.1, torch.float64, steps=30)
    _, plain_l2 = _fused_and_unfused("adam", 0.1, torch.float64, steps=30)
    diff = (fused_w[1]["coef"] - plain_l2[1]["coef"]).abs().max()
    assert diff > 1e-3 * plain_l2[1]["coef"].abs().max()


def test_fused_adam_insists_on_one_update_per_step():
    from kan_core.native.optim import FusedAdam

    p = torch.zeros(2, 3, 4, 5)
    opt = FusedAdam([p], lr=0.1)
    opt.begin_step()
    with pytest.raises(RuntimeError, match="got no update in step 1"):
        opt.end_step()  # no backward ran
    with pytest.raises(ValueError, match="only one FusedAdam"):
        FusedAdam([p], lr=0.1)
    opt.close()
    with pytest.raises(ValueError, match="must not require grad"):
        FusedAdam([p.clone().requires_grad_(True)], lr=0.1)
