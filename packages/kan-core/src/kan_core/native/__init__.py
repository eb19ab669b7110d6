"""Native CPU kernels, compiled from C on first use and loaded with :mod:`ctypes`.

The only kernel today is the local-support B-spline contraction (``bspline_local.c``, see
:func:`kan_core.basis.bspline.bspline_contract`). It needs nothing but a C compiler (``$CC``, else ``cc``
or ``gcc``): no torch headers, no pybind11, no ninja, so it builds in well under a second. The shared
library is cached per source, compiler and CPU under ``$KAN_CORE_CACHE_DIR`` (default
``$XDG_CACHE_HOME/kan-core``, i.e. ``~/.cache/kan-core``), written to a temporary name and renamed, so
concurrent processes never load a half-written file. It links the OpenMP runtime that torch already
loaded, so its threads are torch's (``torch.get_num_threads()``).

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
from pathlib import Path

__all__ = ["local_kernels", "native_status", "cache_dir"]

_SOURCE = Path(__file__).with_name("bspline_local.c")
_SOURCES = (_SOURCE, _SOURCE.with_suffix(".h"))
# -fassociative-math (with the two flags it needs) lets the dot products vectorise; no -ffinite-math-only,
# the kernels test for NaN inputs.
_FLAGS = (
    "-O3", "-march=native", "-fopenmp", "-fPIC", "-shared", "-std=gnu11",
    "-fno-trapping-math", "-fno-signed-zeros", "-fassociative-math",
)  # fmt: skip
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


def _cpu_signature() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    return line
    except OSError:
        pass
    return platform.processor()


def _build(cc: str) -> Path:
    version = subprocess.run([cc, "--version"], capture_output=True, text=True, check=False).stdout
    key = hashlib.sha256(
        "\0".join([*(p.read_text() for p in _SOURCES), cc, version, " ".join(_FLAGS), _cpu_signature(), platform.machine()]).encode()
    ).hexdigest()[:16]
    target = cache_dir() / f"bspline_local-{key}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        proc = subprocess.run([cc, *_FLAGS, "-o", tmp, str(_SOURCE)], capture_output=True, text=True, check=False)
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
        tr = getattr(lib, f"kan_transpose_{suffix}")
        tr.argtypes = [p, p, i64, i64, i64, i32]
        tr.restype = None
    lib.kan_local_max_order.restype = i32


def local_kernels() -> ctypes.CDLL | None:
    """The loaded local B-spline kernels, or ``None`` where they are disabled or cannot be built."""
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
                try:
                    import torch  # noqa: F401  (loads the OpenMP runtime the kernels link against)

                    lib = ctypes.CDLL(str(_build(cc)))
                    _declare(lib)
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
