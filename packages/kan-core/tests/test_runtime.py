"""Tests of kan_core.runtime and kan_core.testing."""

from __future__ import annotations

import contextlib

import pytest
import torch
from kan_core import runtime
from kan_core.runtime import (
    DistEnv,
    all_gather_object,
    autocast,
    barrier,
    dist_env,
    init_distributed,
    is_main_process,
    make_generator,
    resolve_device,
    resolve_dtype,
    set_threads,
    shard,
    track_peak_memory,
)
from kan_core.testing import assert_close, devices, only_cuda, with_device

_TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture
def no_torchrun(monkeypatch):
    for var in _TORCHRUN_VARS:
        monkeypatch.delenv(var, raising=False)


# ---------------------------------------------------------------------------------------------- devices
def test_resolve_device_auto_follows_cuda_mps_cpu_order(monkeypatch, no_torchrun):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(runtime, "_mps_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")
    monkeypatch.setattr(runtime, "_mps_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("AUTO") == torch.device("cuda", 0)


def test_resolve_device_auto_uses_local_rank_under_torchrun(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert resolve_device("auto") == torch.device("cuda", 1)


def test_resolve_device_explicit():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_resolve_device_unavailable_cuda_names_the_device():
    with pytest.raises(RuntimeError, match=r"cuda:1.*CUDA is not available"):
        resolve_device("cuda:1")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        resolve_device(0)


def test_resolve_device_unavailable_mps(monkeypatch):
    monkeypatch.setattr(runtime, "_mps_available", lambda: False)
    with pytest.raises(RuntimeError, match="mps"):
        resolve_device("mps")


def test_resolve_device_rejects_garbage():
    with pytest.raises(ValueError, match="not a device name"):
        resolve_device("gpu please")
    with pytest.raises(TypeError):
        resolve_device(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        resolve_device(True)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("float32", torch.float32),
        ("fp32", torch.float32),
        ("float64", torch.float64),
        ("double", torch.float64),
        ("bfloat16", torch.bfloat16),
        ("bf16", torch.bfloat16),
        ("half", torch.float16),
        ("torch.float64", torch.float64),
        (torch.float64, torch.float64),
        (None, torch.float32),
    ],
)
def test_resolve_dtype(name, expected):
    assert resolve_dtype(name) is expected


def test_resolve_dtype_errors():
    with pytest.raises(ValueError, match="float8"):
        resolve_dtype("float8")
    with pytest.raises(ValueError, match="floating"):
        resolve_dtype(torch.int64)


# ------------------------------------------------------------------------------------------- generators
def test_make_generator_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    a = torch.randn(5, generator=make_generator(7))
    b = torch.randn(5, generator=make_generator(7))
    c = torch.randn(5, generator=make_generator(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert make_generator(0, "cpu").device == torch.device("cpu")
    with pytest.raises(TypeError, match="seed"):
        make_generator("0")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------- autocast
def test_autocast_is_noop_on_cpu_unless_asked():
    a, b = torch.randn(8, 8), torch.randn(8, 8)
    with autocast("cpu"):
        assert (a @ b).dtype == torch.float32
        assert not torch.is_autocast_enabled("cpu")
    with autocast("cpu", cpu=True):
        assert (a @ b).dtype == torch.bfloat16
    with autocast("cpu", enabled=False, cpu=True):
        assert (a @ b).dtype == torch.float32
    assert isinstance(autocast("cpu"), contextlib.nullcontext)


@only_cuda
@pytest.mark.cuda
def test_autocast_on_cuda_lowers_matmul_precision():
    a = torch.randn(8, 8, device="cuda")
    with autocast("cuda"):
        assert (a @ a).dtype in (torch.bfloat16, torch.float16)
    with autocast("cuda", dtype="float16"):
        assert (a @ a).dtype == torch.float16


# ------------------------------------------------------------------------------------------ peak memory
def _allocate(n: int, device: torch.device) -> None:
    x = torch.ones(n, n, device=device)
    y = x * 2  # two n*n float32 buffers alive at once
    del x, y


@with_device
def test_peak_memory_grows_with_allocation_size(device):
    with track_peak_memory(device) as small:
        _allocate(256, device)
    with track_peak_memory(device) as big:
        _allocate(1024, device)
    assert small.peak_bytes >= 2 * 256 * 256 * 4
    assert big.peak_bytes >= 2 * 1024 * 1024 * 4
    assert big.peak_bytes > 8 * small.peak_bytes
    if device.type == "cpu":
        assert small.method == "tensor_storages"
        # exact accounting: both buffers (plus at most a few scalars)
        assert 2 * 256 * 256 * 4 <= small.peak_bytes < 2 * 256 * 256 * 4 + 4096


def test_peak_memory_counts_simultaneous_not_cumulative():
    n = 512
    with track_peak_memory("cpu") as loop:
        for _ in range(20):
            x = torch.ones(n, n)
        del x
    # at most two buffers are alive at once (the new one is made before the old one is released)
    assert 4 * n * n <= loop.peak_bytes <= 2 * 4 * n * n + 4096
    assert loop.rss_high_water_bytes > 0


def test_peak_memory_sees_autograd_buffers():
    w = torch.randn(256, 256, requires_grad=True)
    x = torch.randn(512, 256)
    with track_peak_memory("cpu") as fwd_only:
        with torch.no_grad():
            (x @ w).tanh().sum()
    with track_peak_memory("cpu") as fwd_bwd:
        (x @ w).tanh().sum().backward()
    assert fwd_bwd.peak_bytes > fwd_only.peak_bytes
    assert fwd_bwd.peak_bytes >= 256 * 256 * 4  # the gradient of w


def test_peak_memory_filled_when_block_raises():
    with pytest.raises(ZeroDivisionError):
        with track_peak_memory("cpu") as mem:
            _x = torch.zeros(1000)
            1 / 0  # noqa: B018
    assert mem.peak_bytes >= 4000


# ---------------------------------------------------------------------------------------------- threads
def test_set_threads_returns_previous_and_validates():
    before = torch.get_num_threads()
    try:
        assert set_threads(1) == before
        assert torch.get_num_threads() == 1
        assert set_threads(None) == 1
        assert torch.get_num_threads() == 1
        with pytest.raises(ValueError):
            set_threads(0)
    finally:
        torch.set_num_threads(before)


# ------------------------------------------------------------------------------------------ distributed
def test_dist_env_without_torchrun(no_torchrun):
    env = dist_env()
    assert env == DistEnv(rank=0, world_size=1, local_rank=0, is_distributed=False)
    assert env.is_main and is_main_process()
    assert init_distributed() == env  # no-op
    assert not torch.distributed.is_initialized()
    barrier()  # no-op
    assert all_gather_object({"a": 1}) == [{"a": 1}]


def test_dist_env_reads_torchrun_variables(monkeypatch):
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "0")
    env = dist_env()
    assert (env.rank, env.world_size, env.local_rank, env.is_distributed) == (2, 4, 0, True)
    assert not is_main_process()
    assert shard(range(10)) == [2, 6]
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(ValueError, match="RANK=4"):
        dist_env()
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(ValueError, match="RANK"):
        dist_env()


def test_shard_is_a_disjoint_cover():
    items = [f"job{i}" for i in range(11)]
    parts = [shard(items, r, 3) for r in range(3)]
    assert parts[0] == ["job0", "job3", "job6", "job9"]
    assert sorted(sum(parts, [])) == sorted(items)
    assert sum(len(p) for p in parts) == len(items)
    with pytest.raises(ValueError, match="rank"):
        shard(items, 3, 3)


# ---------------------------------------------------------------------------------------------- testing
def test_devices_and_assert_close():
    assert devices()[0] == "cpu"
    assert ("cuda" in devices()) == torch.cuda.is_available()
    assert_close(torch.tensor([1.0, 2.0]), [1.0, 2.0 + 1e-7])
    assert_close(torch.tensor([1.0]), torch.tensor([1.05]), rtol=0.0, atol=0.1)
    with pytest.raises(AssertionError, match="layer 3"):
        assert_close(torch.tensor([1.0]), torch.tensor([1.5]), msg="layer 3")
    with pytest.raises(ValueError):
        assert_close(torch.tensor([1.0]), [1.0], rtol=1e-3)
