"""The shared, GPU-aware runtime: devices, dtypes, generators, autocast, memory, threads, distributed.

Everything a script or CLI needs to run the same code on a laptop CPU, a GPU box or under ``torchrun``:

* :func:`resolve_device` -- ``"auto"`` picks CUDA, then Apple MPS, then the CPU; an explicit device that is
  not available raises a :class:`RuntimeError` naming it.
* :func:`resolve_dtype` -- one spelling policy for dtypes (``"float32"``, ``"fp64"``, ``"bf16"``, ...).
* :func:`make_generator` -- seeding is always through an explicit :class:`torch.Generator`; nothing in this
  package touches the global RNG.
* :func:`autocast` -- mixed precision on CUDA; a no-op on the CPU unless asked for.
* :func:`track_peak_memory` -- peak bytes held during a block (CUDA allocator statistics on GPU, live tensor
  storages on the CPU, see its docstring).
* :func:`set_threads` / :func:`get_threads` -- intra-op thread count.
* :class:`DistEnv`, :func:`dist_env`, :func:`init_distributed`, :func:`shard`, :func:`barrier`,
  :func:`all_gather_object`, :func:`is_main_process`, :func:`destroy_distributed` -- thin helpers over
  ``torch.distributed`` that are no-ops when the process was not started by ``torchrun``.

No function here prints, writes files or seeds global state.
"""

from __future__ import annotations

import contextlib
import os
import resource
import sys
import threading
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

__all__ = [
    "DeviceLike",
    "resolve_device",
    "resolve_dtype",
    "make_generator",
    "autocast",
    "PeakMemory",
    "track_peak_memory",
    "set_threads",
    "get_threads",
    "DistEnv",
    "dist_env",
    "init_distributed",
    "destroy_distributed",
    "shard",
    "barrier",
    "all_gather_object",
    "is_main_process",
]

DeviceLike = str | torch.device | int | None
T = TypeVar("T")


# --------------------------------------------------------------------------------------------- devices
def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(device: DeviceLike = "auto") -> torch.device:
    """Turn a user's device request into an available :class:`torch.device`.

    Args:
        device: ``"auto"`` or ``None`` (CUDA if available, then MPS, then CPU; under ``torchrun`` the CUDA
            device is ``cuda:LOCAL_RANK``), a string such as ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``,
            a :class:`torch.device`, or an int (a CUDA ordinal).

    Raises:
        ValueError: the string is not a device name.
        RuntimeError: the device exists as a name but is not available on this machine.
    """
    if device is None or (isinstance(device, str) and device.strip().lower() == "auto"):
        if torch.cuda.is_available():
            env = dist_env()
            index = env.local_rank % torch.cuda.device_count() if env.is_distributed else 0
            return torch.device("cuda", index)
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if isinstance(device, bool):
        raise TypeError(f"device must be a string, torch.device or int, got {device!r}")
    if isinstance(device, int):
        device = torch.device("cuda", device)
    elif isinstance(device, str):
        try:
            device = torch.device(device.strip().lower())
        except RuntimeError as exc:
            raise ValueError(
                f"device={device!r} is not a device name; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
            ) from exc
    elif not isinstance(device, torch.device):
        raise TypeError(f"device must be a string, torch.device or int, got {type(device).__name__}")

    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device={str(device)!r} was requested but CUDA is not available "
                f"(torch {torch.__version__}, built with CUDA {torch.version.cuda}); use --device cpu or auto"
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise RuntimeError(f"device={str(device)!r} was requested but only {count} CUDA device(s) exist")
    elif device.type == "mps":
        if not _mps_available():
            raise RuntimeError(f"device={str(device)!r} was requested but Apple MPS is not available here")
    elif device.type not in ("cpu", "meta"):
        # xpu, hpu, ... : accept when torch reports the backend as available.
        backend = getattr(torch, device.type, None)
        if backend is None or not getattr(backend, "is_available", lambda: False)():
            raise RuntimeError(f"device={str(device)!r} was requested but is not available on this machine")
    return device


# ---------------------------------------------------------------------------------------------- dtypes
_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
    "single": torch.float32,
    "float64": torch.float64,
    "fp64": torch.float64,
    "double": torch.float64,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
}


def resolve_dtype(dtype: str | torch.dtype | None = None) -> torch.dtype:
    """The dtype policy: parameters and data are ``float32`` unless asked otherwise.

    Args:
        dtype: ``None`` (float32), a :class:`torch.dtype`, or a name: ``"float32"``/``"fp32"``,
            ``"float64"``/``"fp64"``/``"double"``, ``"bfloat16"``/``"bf16"``, ``"float16"``/``"fp16"``/``"half"``
            (also ``"torch.float32"``).

    Raises:
        ValueError: an unknown name or a non-floating dtype (KAN parameters must be floating point).
    """
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        result = dtype
    elif isinstance(dtype, str):
        key = dtype.strip().lower().removeprefix("torch.")
        if key not in _DTYPES:
            raise ValueError(f"dtype={dtype!r} is not known; use one of {sorted(set(_DTYPES))}")
        result = _DTYPES[key]
    else:
        raise TypeError(f"dtype must be a string or torch.dtype, got {type(dtype).__name__}")
    if not result.is_floating_point:
        raise ValueError(f"dtype={dtype!r} is not a floating-point dtype")
    return result


# ------------------------------------------------------------------------------------------ generators
def make_generator(seed: int, device: DeviceLike = None) -> torch.Generator:
    """A fresh :class:`torch.Generator` seeded with ``seed`` on ``device`` (default: CPU).

    Pass it to every random call (``torch.randn(..., generator=g)``, ``KAN(spec, generator=g)``) so that
    results depend on the seed and on nothing global.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {seed!r}")
    dev = torch.device("cpu") if device is None else resolve_device(device)
    gen = torch.Generator(device=dev)
    gen.manual_seed(seed)
    return gen


# ---------------------------------------------------------------------------------------------- autocast
def autocast(
    device: DeviceLike,
    enabled: bool = True,
    *,
    dtype: str | torch.dtype | None = None,
    cpu: bool = False,
) -> contextlib.AbstractContextManager[Any]:
    """Mixed-precision context for ``device``.

    On CUDA this is :func:`torch.autocast` with ``dtype`` (default bfloat16 where supported, else float16).
    On the CPU and MPS it is a :func:`contextlib.nullcontext` unless ``cpu=True`` (then CPU autocast with
    bfloat16 by default), because CPU autocast is usually slower than float32 for KAN-sized matmuls.

    Args:
        device: the device the block runs on (anything :func:`resolve_device` accepts).
        enabled: ``False`` always gives a no-op context.
        dtype: the low-precision dtype (see :func:`resolve_dtype`).
        cpu: opt in to autocast on non-CUDA devices.
    """
    dev = resolve_device(device)
    if not enabled:
        return contextlib.nullcontext()
    if dev.type == "cuda":
        if dtype is None:
            low = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            low = resolve_dtype(dtype)
        return torch.autocast("cuda", dtype=low)
    if cpu and dev.type in ("cpu", "mps"):
        return torch.autocast(dev.type, dtype=resolve_dtype(dtype) if dtype is not None else torch.bfloat16)
    return contextlib.nullcontext()


# ----------------------------------------------------------------------------------------- peak memory
@dataclass
class PeakMemory:
    """Result of :func:`track_peak_memory`; fields are filled when the ``with`` block exits.

    Attributes:
        device: the device measured.
        method: ``"cuda_max_memory_allocated"`` or ``"tensor_storages"`` (see :func:`track_peak_memory`).
        peak_bytes: the most bytes held at once by allocations made during the block, above what was
            allocated when the block started.
        start_bytes: bytes allocated on the device when the block started (CUDA only; 0 on the CPU).
        rss_high_water_bytes: the process's resident-set high-water mark at exit (``getrusage``; 0 where
            unavailable). Informative only: it never decreases and includes everything the process did.
    """

    device: torch.device
    method: str
    peak_bytes: int = 0
    start_bytes: int = 0
    rss_high_water_bytes: int = 0

    @property
    def peak_mib(self) -> float:
        return self.peak_bytes / 2**20


class _StorageTracker:
    """Counts bytes of tensor storages created while active; peak = max of the live total.

    Installed as a ``TorchDispatchMode``: every op's outputs are inspected, each new storage is counted once
    and a ``weakref.finalize`` on the storage subtracts it when the storage is freed (torch keeps one Python
    object per live storage, so the finalizer fires when the memory is released, views included).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[int, int] = {}
        self.current = 0
        self.peak = 0
        self.active = True

    def _free(self, key: int) -> None:
        with self._lock:
            nbytes = self._live.pop(key, None)
            if nbytes is not None:
                self.current -= nbytes

    def observe(self, out: Any) -> None:
        from torch.utils._pytree import tree_flatten

        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor) or t.device.type == "meta":
                continue
            try:
                storage = t.untyped_storage()
            except (RuntimeError, NotImplementedError):  # sparse / nested tensors without one storage
                continue
            key, nbytes = storage._cdata, storage.nbytes()
            with self._lock:
                old = self._live.get(key)
                if old is None:
                    self._live[key] = nbytes
                    self.current += nbytes
                    weakref.finalize(storage, self._free, key)
                elif old != nbytes:  # resize_ of a storage created in the block
                    self._live[key] = nbytes
                    self.current += nbytes - old
                self.peak = max(self.peak, self.current)

    def mode(self) -> Any:
        from torch.utils._python_dispatch import TorchDispatchMode

        tracker = self

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
                out = func(*args, **(kwargs or {}))
                tracker.observe(out)
                return out

        return _Mode()


def _rss_high_water_bytes() -> int:
    try:
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except (OSError, ValueError):  # pragma: no cover - exotic platforms
        return 0
    return int(maxrss) if sys.platform == "darwin" else int(maxrss) * 1024  # macOS: bytes, Linux: KiB


@contextlib.contextmanager
def track_peak_memory(device: DeviceLike = "auto") -> Iterator[PeakMemory]:
    """Measure the peak memory used by the code inside the ``with`` block.

    Example::

        with track_peak_memory("cuda") as mem:
            loss = model(x).pow(2).mean(); loss.backward()
        print(mem.peak_bytes)

    * **CUDA**: ``torch.cuda.reset_peak_memory_stats`` before, ``max_memory_allocated`` after (with a
      synchronize on both sides); ``peak_bytes = max_memory_allocated - memory_allocated_at_start``.
    * **CPU / MPS (documented substitute)**: there is no allocator high-water mark, so a
      ``TorchDispatchMode`` records the size of every tensor storage created inside the block and when it is
      freed; ``peak_bytes`` is the largest total of such storages alive at once. It counts every tensor made
      by torch ops, autograd included (saved activations, gradients), and nothing else (Python objects,
      allocator caching, numpy arrays). Storages that existed before the block and were freed inside it are
      not subtracted, so the figure is an upper bound of the true increase. Every op goes through a Python
      hook while tracking, so time what you measure separately.

    The yielded :class:`PeakMemory` is filled when the block exits (also when it raises).
    """
    dev = resolve_device(device)
    if dev.type == "cuda":
        result = PeakMemory(device=dev, method="cuda_max_memory_allocated")
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        result.start_bytes = int(torch.cuda.memory_allocated(dev))
        try:
            yield result
        finally:
            torch.cuda.synchronize(dev)
            result.peak_bytes = max(0, int(torch.cuda.max_memory_allocated(dev)) - result.start_bytes)
            result.rss_high_water_bytes = _rss_high_water_bytes()
        return

    result = PeakMemory(device=dev, method="tensor_storages")
    tracker = _StorageTracker()
    try:
        with tracker.mode():
            yield result
    finally:
        result.peak_bytes = int(tracker.peak)
        result.rss_high_water_bytes = _rss_high_water_bytes()


# --------------------------------------------------------------------------------------------- threads
def get_threads() -> int:
    """The number of intra-op threads torch uses."""
    return int(torch.get_num_threads())


def set_threads(n: int | None) -> int:
    """Set torch's intra-op thread count; returns the previous count. ``None`` leaves it unchanged."""
    previous = get_threads()
    if n is None:
        return previous
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads must be a positive int, got {n!r}")
    torch.set_num_threads(n)
    return previous


# ------------------------------------------------------------------------------------------ distributed
@dataclass(frozen=True)
class DistEnv:
    """Where this process stands in a ``torchrun`` job (rank 0 of 1 when not started by torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    is_distributed: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name}={raw!r} is not an integer") from exc


def _dist_initialized() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def dist_env() -> DistEnv:
    """Read torchrun's ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (or the live process group's values)."""
    if _dist_initialized():
        import torch.distributed as dist

        rank, world = dist.get_rank(), dist.get_world_size()
        return DistEnv(rank, world, _env_int("LOCAL_RANK", rank), world > 1)
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"inconsistent torchrun environment: RANK={rank}, WORLD_SIZE={world}")
    return DistEnv(rank=rank, world_size=world, local_rank=local, is_distributed=world > 1)


def init_distributed(device: DeviceLike = None) -> DistEnv:
    """Join the process group when started by ``torchrun``; a no-op otherwise (and when already joined).

    The backend is ``nccl`` when ``device`` resolves to CUDA (the process's CUDA device is set to
    ``cuda:LOCAL_RANK``) and ``gloo`` otherwise. Rendezvous uses torchrun's ``MASTER_ADDR``/``MASTER_PORT``.
    """
    env = dist_env()
    if not env.is_distributed or _dist_initialized():
        return env
    import torch.distributed as dist

    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed support")
    dev = resolve_device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(env.local_rank % torch.cuda.device_count())
        backend = "nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend=backend, init_method="env://", rank=env.rank, world_size=env.world_size)
    return dist_env()


def destroy_distributed() -> None:
    """Leave the process group if one was joined (no-op otherwise)."""
    if _dist_initialized():
        import torch.distributed as dist

        dist.destroy_process_group()


def shard(items: Iterable[T], rank: int | None = None, world_size: int | None = None) -> list[T]:
    """Round-robin share of a work list for one rank: ``list(items)[rank::world_size]``.

    ``rank``/``world_size`` default to :func:`dist_env`'s. The shards of all ranks are disjoint and cover
    ``items``; item ``i`` goes to rank ``i % world_size``.
    """
    if rank is None or world_size is None:
        env = dist_env()
        rank = env.rank if rank is None else rank
        world_size = env.world_size if world_size is None else world_size
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"shard needs 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
    return list(items)[rank::world_size]


def barrier() -> None:
    """Wait for every rank (no-op without a process group)."""
    if _dist_initialized():
        import torch.distributed as dist

        dist.barrier()


def all_gather_object(obj: T) -> list[T]:
    """Every rank's ``obj`` (picklable), in rank order; ``[obj]`` without a process group."""
    if not _dist_initialized():
        return [obj]
    import torch.distributed as dist

    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def is_main_process() -> bool:
    """True on rank 0 (and in every non-distributed process)."""
    return dist_env().rank == 0
