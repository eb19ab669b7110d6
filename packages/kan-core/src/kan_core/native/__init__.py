"""Native CPU kernels, compiled from C on first use and loaded with :mod:`ctypes`.

The only kernel today is the local-support B-spline contraction (``bspline_local.c``, see
:func:`kan_core.basis.bspline.bspline_contract`). It needs nothing but a C compiler (``$CC``, else ``cc``
or ``gcc``): no torch headers, no pybind11, no ninja, so it builds in well under a second. The shared
library is cached per source, compiler and CPU under ``$KAN_CORE_CACHE_DIR`` (default
``$XDG_CACHE_HOME/kan-core``, i.e. ``~/.cache/kan-core``), written to a temporary name and renamed, so
concurrent processes never load a half-written file. It links the OpenMP runtime that torch already
loaded, so its threads are torch's (``torch.get_num_threads()``).

The kernel is built for the vector width the CPU has: on x86-64 one of three ISA variants of the same
source, chosen at run time from the CPU's flags (``/proc/cpuinfo``):

* ``avx512``: ``-march=x86-64-v4 -mprefer-vector-width=512``, 64-byte vectors (zmm registers; GCC's
  ``-march=native`` on Intel server cores prefers 256-bit vectors, so it is never relied on);
* ``avx2``: ``-march=x86-64-v3`` (AVX2 + FMA), 32-byte vectors (ymm);
* ``generic``: ``-march=x86-64`` (SSE2), 16-byte vectors; the only variant on other architectures
  (built there with ``-march=native``).

``KAN_CORE_ISA=avx512|avx2|generic`` forces a variant (tests use it to check that every variant computes
the same numbers); forcing one that this CPU cannot run raises a :class:`RuntimeError` naming the missing
flags instead of crashing on an illegal instruction. :func:`kernel_isa` says which variant runs and
:func:`machine_summary` gives the one line every benchmark prints first.

Where it cannot be built (no compiler, an unwritable cache) callers fall back to the pure-torch paths,
and one :class:`RuntimeWarning` says why. ``KAN_CORE_NATIVE=0`` disables it on purpose (no warning);
CI uses that to exercise the fallback.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ISA_VARIANTS",
    "build_variant",
    "cache_dir",
    "cpu_model",
    "kernel_isa",
    "local_kernels",
    "machine_summary",
    "native_status",
    "runnable_isas",
]

_SOURCE = Path(__file__).with_name("bspline_local.c")
_SOURCES = (_SOURCE, _SOURCE.with_suffix(".h"))
# -fassociative-math (with the two flags it needs) lets the dot products vectorise; no -ffinite-math-only,
# the kernels test for NaN inputs. -fno-math-errno: sqrt is an instruction (fused Adam), never a libm call.
_FLAGS = (
    "-O3", "-fopenmp", "-fPIC", "-shared", "-std=gnu11",
    "-fno-trapping-math", "-fno-signed-zeros", "-fassociative-math", "-fno-math-errno",
)  # fmt: skip
_X86 = platform.machine().lower() in ("x86_64", "amd64")


@dataclass(frozen=True)
class _Variant:
    name: str
    flags: tuple[str, ...]  # code generation flags besides _FLAGS
    cpu_flags: tuple[str, ...]  # /proc/cpuinfo flags the generated code may use
    vector_bytes: int


# the x86-64-v3 / v4 levels: every flag their -march lets GCC emit code for
_V3 = ("avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe", "abm")
_V4 = (*_V3, "avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl")
#: ISA variants of the kernel on this architecture, widest first (x86-64: avx512, avx2, generic)
ISA_VARIANTS: dict[str, _Variant] = (
    {
        "avx512": _Variant(
            "avx512",
            ("-march=x86-64-v4", "-mtune=native", "-mprefer-vector-width=512", "-DKAN_VBYTES=64"),
            _V4,
            64,
        ),
        "avx2": _Variant("avx2", ("-march=x86-64-v3", "-mtune=native", "-DKAN_VBYTES=32"), _V3, 32),
        "generic": _Variant("generic", ("-march=x86-64", "-mtune=native", "-DKAN_VBYTES=16"), (), 16),
    }
    if _X86
    else {"generic": _Variant("generic", ("-march=native", "-DKAN_VBYTES=16"), (), 16)}
)
_lock = threading.Lock()
_state: dict[str, object] = {}


def cache_dir() -> Path:
    """Where compiled kernels are kept: ``$KAN_CORE_CACHE_DIR``, else ``$XDG_CACHE_HOME/kan-core``."""
    env = os.environ.get("KAN_CORE_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kan-core"


def _compiler() -> str | None:
    cc = os.environ.get("CC")
    if cc:
        return shutil.which(cc)
    return shutil.which("cc") or shutil.which("gcc")


def _cpuinfo_field(*names: str) -> str:
    """The value of the first ``/proc/cpuinfo`` line whose key is one of ``names`` ('' where there is none)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in names:
                    return value.strip()
    except OSError:
        pass
    return ""


def _cpu_signature() -> str:
    return _cpuinfo_field("flags", "Features") or platform.processor()


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :func:`platform.processor` says."""
    return _cpuinfo_field("model name", "Model", "Hardware") or platform.processor() or platform.machine()


def runnable_isas() -> list[str]:
    """The ISA variants this CPU can run, widest first (the first is the one chosen by default)."""
    flags = set(_cpu_signature().split())
    return [name for name, v in ISA_VARIANTS.items() if flags.issuperset(v.cpu_flags)]


def _chosen_variant() -> _Variant:
    """The variant ``KAN_CORE_ISA`` forces, else the widest this CPU runs; an unknown name or a variant the
    CPU cannot run raises (loading it would die on an illegal instruction)."""
    forced = os.environ.get("KAN_CORE_ISA", "").strip().lower()
    if not forced or forced == "auto":
        return ISA_VARIANTS[runnable_isas()[0]]
    if forced not in ISA_VARIANTS:
        raise ValueError(f"KAN_CORE_ISA={forced!r}: choose one of {', '.join(ISA_VARIANTS)} or auto")
    variant = ISA_VARIANTS[forced]
    missing = sorted(set(variant.cpu_flags) - set(_cpu_signature().split()))
    if missing:
        raise RuntimeError(
            f"KAN_CORE_ISA={forced}: this CPU ({cpu_model()}) lacks {', '.join(missing)}; "
            f"it runs {', '.join(runnable_isas())}"
        )
    return variant


def _build(cc: str, variant: _Variant) -> Path:
    version = subprocess.run([cc, "--version"], capture_output=True, text=True, check=False).stdout
    flags = [*_FLAGS, *variant.flags]
    key = hashlib.sha256(
        "\0".join(
            [
                *(p.read_text() for p in _SOURCES),
                cc,
                version,
                " ".join(flags),
                _cpu_signature(),
                platform.machine(),
            ]
        ).encode()
    ).hexdigest()[:16]
    target = cache_dir() / f"bspline_local-{variant.name}-{key}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        proc = subprocess.run(
            [cc, *flags, "-o", tmp, str(_SOURCE), "-lm"], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{Path(cc).name} failed: {proc.stderr.strip().splitlines()[-1:]}")
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _declare(lib: ctypes.CDLL) -> None:
    p, i64, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
    for suffix in ("f32", "f64"):
        fwd = getattr(lib, f"kan_local_forward_{suffix}")
        fwd.argtypes = [p] * 6 + [i64] * 5 + [i32, i64, i64, p, i32]
        fwd.restype = None
        bwd = getattr(lib, f"kan_local_backward_{suffix}")
        bwd.argtypes = [p] * 9 + [i64] * 5 + [i32, i64, i64, p, p, i32]
        bwd.restype = None
        fused = getattr(lib, f"kan_local_backward_adam_{suffix}")
        fused.argtypes = [p] * 8 + [i64] * 5 + [i32, i64, i64, p, p, i32, p, p, p]
        fused.restype = None
        tr = getattr(lib, f"kan_transpose_{suffix}")
        tr.argtypes = [p, p, i64, i64, i64, i32]
        tr.restype = None
    lib.kan_local_max_order.restype = i32
    lib.kan_local_vector_bytes.restype = i32


def build_variant(isa: str) -> Path:
    """Build (or find in the cache) the shared library of ISA variant ``isa`` and return its path, whether
    or not this CPU can run it (``tools/bench/kernel_isa.py`` disassembles every variant)."""
    cc = _compiler()
    if cc is None:
        raise RuntimeError("no C compiler found (set CC)")
    if isa not in ISA_VARIANTS:
        raise ValueError(f"unknown ISA variant {isa!r}: choose one of {', '.join(ISA_VARIANTS)}")
    return _build(cc, ISA_VARIANTS[isa])


def local_kernels() -> ctypes.CDLL | None:
    """The loaded local B-spline kernels (the ISA variant of :func:`kernel_isa`), or ``None`` where they are
    disabled or cannot be built. Raises where ``KAN_CORE_ISA`` names a variant this CPU cannot run."""
    if "lib" in _state:
        return _state["lib"]  # type: ignore[return-value]
    with _lock:
        if "lib" in _state:
            return _state["lib"]  # type: ignore[return-value]
        lib, reason = None, "ok"
        if os.environ.get("KAN_CORE_NATIVE", "1").strip().lower() in ("0", "false", "no", "off"):
            reason = "disabled by KAN_CORE_NATIVE=0"
        else:
            cc = _compiler()
            if cc is None:
                reason = "no C compiler found (set CC)"
            else:
                variant = _chosen_variant()  # raises on a forced variant this CPU cannot run
                try:
                    import torch  # noqa: F401  (loads the OpenMP runtime the kernels link against)

                    lib = ctypes.CDLL(str(_build(cc, variant)))
                    _declare(lib)
                    if lib.kan_local_vector_bytes() != variant.vector_bytes:
                        raise RuntimeError(
                            f"{variant.name} kernel built with {lib.kan_local_vector_bytes()}-byte vectors"
                        )
                    _state["isa"] = variant.name
                except (OSError, RuntimeError, subprocess.SubprocessError) as e:
                    lib, reason = None, f"build failed: {e}"
            if lib is None:
                warnings.warn(
                    f"kan_core: native B-spline kernels unavailable ({reason}); using the pure-torch path",
                    RuntimeWarning,
                    stacklevel=3,
                )
        _state["lib"], _state["reason"] = lib, reason
        return lib


def native_status() -> str:
    """``"ok"`` when the kernels are loaded, else the reason they are not (builds them if needed)."""
    local_kernels()
    return str(_state["reason"])


def kernel_isa() -> str:
    """The ISA variant of the loaded kernel (``"avx512"``, ``"avx2"``, ``"generic"``), or ``"none"`` where the
    pure-torch path runs (see :func:`native_status`)."""
    local_kernels()
    return str(_state.get("isa", "none"))


def machine_summary(threads: int | str | None = None) -> str:
    """One line naming where a measurement runs: CPU model, the kernel's ISA variant and vector width, the
    thread count (default ``torch.get_num_threads()``; a benchmark sweeping several passes them as text,
    e.g. ``"1,2"``) and the torch version; every ``tools/bench`` script prints it first."""
    import torch

    isa = kernel_isa()
    kernel = (
        f"{isa} ({ISA_VARIANTS[isa].vector_bytes * 8}-bit vectors)"
        if isa in ISA_VARIANTS
        else f"none: {native_status()}"
    )
    n = torch.get_num_threads() if threads is None else threads
    return f"cpu: {cpu_model()} | kernel ISA: {kernel} | threads: {n} | torch {torch.__version__}"
