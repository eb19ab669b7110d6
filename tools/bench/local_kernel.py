"""Where the native local B-spline kernel's time goes, and its forward against another revision's.

``profile`` (default): for the ``tools/bench/layer.py`` model (KAN [784, 32, 32, 10], batch 128) at each
(G, k) it times, interleaved round by round, the whole net's forward and its backward
(``y.sum().backward()``), the first layer's forward and backward, and the first layer's raw kernel calls
(``kan_local_forward`` / ``kan_local_backward`` on the same operands); it prints medians over rounds and
each part's share of the whole net's forward+backward (median of per-round ratios).

``--base REV`` (or ``--base-lib`` a kernel already built): the kernel of revision ``REV``, built like this
tree's (``git show REV:...`` of ``bspline_local.c/.h``, this machine's ISA variant); the profile then runs
every part with both kernels, round by round in alternating order, and gives the ratio working tree /
base per part. With ``--kernels`` it times the two forward kernels alone on the same operands instead:
the net's three layers at each (G, k) and a 32 -> 32 layer of 32 stacked models.

Times are the calling thread's CPU time (``time.thread_time``), so run it with one thread (the default).

Usage: ``python tools/bench/local_kernel.py [--rounds 9] [--base main] [--kernels]``
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from kan_core import KAN, native
from kan_core.basis import bspline as bs
from kan_core.basis import uniform_grid
from kan_core.native import ISA_VARIANTS, _declare, kernel_isa, local_kernels, machine_summary

ROOT = Path(__file__).resolve().parents[2]
NATIVE = "packages/kan-core/src/kan_core/native"
WIDTHS = [784, 32, 32, 10]
BATCH = 128
CONFIGS = [(5, 1), (5, 3), (10, 3), (30, 3)]
PROFILE_CONFIGS = [(5, 3), (10, 3)]


def _time(fn: Callable[[], object], iters: int) -> float:
    """Seconds per call of the calling thread's CPU time (one thread: a busy machine's waits do not count)."""
    t = time.thread_time()
    for _ in range(iters):
        fn()
    return (time.thread_time() - t) / iters


def _kernel_args(m: int, n_in: int, n_out: int, G: int, k: int, seed: int = 0):
    """Operands of one spline term in the kernel's layouts: x (M, B, in), t0 / inv_h (1, in),
    c (M, in, nb, out), s (M, in, out), y (M, B, out), gy, gc, gs, gx; C, D the piece tables."""
    g = torch.Generator().manual_seed(seed)
    nb = G + k
    grid = uniform_grid(n_in, G, k).unsqueeze(0)
    K = grid.shape[-1]
    t0 = grid[..., 0].contiguous()
    inv_h = ((K - 1) / (grid[..., -1] - grid[..., 0])).contiguous()
    x = torch.rand(m, BATCH, n_in, generator=g) * 2 - 1
    c = torch.randn(m, n_in, nb, n_out, generator=g)
    s = torch.randn(m, n_in, n_out, generator=g)
    C, D = bs._piece_tables(k, torch.float32)
    return {
        "x": x, "t0": t0, "ih": inv_h, "c": c, "s": s, "y": torch.empty(m, BATCH, n_out),
        "gy": torch.randn(m, BATCH, n_out, generator=g), "gc": torch.empty_like(c), "gs": torch.empty_like(s),
        "gx": torch.empty(m, n_in, BATCH), "C": C, "D": D, "dims": (m, BATCH, n_in, nb, n_out, k),
    }  # fmt: skip


def _forward(lib: ctypes.CDLL, a: dict) -> Callable[[], None]:
    m, B, n_in, nb, n_out, k = a["dims"]
    p = {n: t.data_ptr() for n, t in a.items() if isinstance(t, torch.Tensor)}
    threads = torch.get_num_threads()
    return lambda: lib.kan_local_forward_f32(
        p["x"], p["t0"], p["ih"], p["c"], p["s"], p["y"], m, B, n_in, nb, n_out, k, B * n_in, 0, p["C"], threads
    )  # fmt: skip


def _backward(lib: ctypes.CDLL, a: dict) -> Callable[[], None]:
    m, B, n_in, nb, n_out, k = a["dims"]
    p = {n: t.data_ptr() for n, t in a.items() if isinstance(t, torch.Tensor)}
    threads = torch.get_num_threads()
    return lambda: lib.kan_local_backward_f32(
        p["x"], p["t0"], p["ih"], p["c"], p["s"], p["gy"], p["gc"], p["gs"], p["gx"],
        m, B, n_in, nb, n_out, k, B * n_in, 0, p["C"], p["D"], threads,
    )  # fmt: skip


def _net_parts(G: int, k: int, x: torch.Tensor) -> dict[str, Callable[[], object]]:
    """Timed parts of one training-style iteration, in the order they must run (each backward consumes the
    graph its forward left); the kernel parts call whichever library ``kan_core.native`` has loaded."""
    kan = KAN.from_widths(WIDTHS, grid_size=G, spline_order=k, generator=torch.Generator().manual_seed(0))
    params = list(kan.parameters())
    layer0 = kan.layers[0]
    state: dict[str, torch.Tensor] = {}

    def net_fwd() -> None:
        for p in params:
            p.grad = None
        state["y"] = kan(x).sum()

    def layer_fwd() -> None:
        state["y0"] = layer0(x).sum()

    a = _kernel_args(1, WIDTHS[0], WIDTHS[1], G, k)
    return {
        "net fwd": net_fwd,
        "net bwd": lambda: state.pop("y").backward(),
        "layer0 fwd": layer_fwd,
        "layer0 bwd": lambda: state.pop("y0").backward(),
        "layer0 kernel fwd": lambda: _forward(native._state["lib"], a)(),
        "layer0 kernel bwd": lambda: _backward(native._state["lib"], a)(),
    }


def profile(args: argparse.Namespace) -> None:
    """Per (G, k): ms of each part (median over rounds) and its share of the net's forward+backward; with a
    base kernel also the ratio working tree / base per part (median of per-round ratios)."""
    x = torch.rand(BATCH, WIDTHS[0], generator=torch.Generator().manual_seed(1)) * 2 - 1
    libs = {"tree": local_kernels()}
    if args.base:
        libs["base"] = _base_lib(args)
    parts = {key: _net_parts(*key, x) for key in PROFILE_CONFIGS}
    times = {(key, lib): {n: [] for n in per} for key, per in parts.items() for lib in libs}
    for r in range(args.rounds + 1):  # round 0: warm-up
        for key, per in parts.items():
            for name_lib in list(libs) if r % 2 else list(libs)[::-1]:
                native._state["lib"] = libs[name_lib]
                acc = dict.fromkeys(per, 0.0)
                for _ in range(args.iters):
                    for name, fn in per.items():
                        acc[name] += _time(fn, 1) / args.iters
                if r:
                    for name, t in acc.items():
                        times[(key, name_lib)][name].append(t)
    native._state["lib"] = libs["tree"]
    print(
        f"{args.rounds} rounds x {args.iters} iterations; ms (median over rounds), share of the net's fwd+bwd"
    )
    for ((G, k), name_lib), tt in times.items():
        total = [f + b for f, b in zip(tt["net fwd"], tt["net bwd"])]
        cells = []
        for name, v in tt.items():
            share = statistics.median(a / t for a, t in zip(v, total))
            cell = f"{name} {statistics.median(v) * 1e3:6.3f} ({share:4.0%}"
            if name_lib == "tree" and "base" in libs:
                base = times[((G, k), "base")][name]
                cell += f", tree/base {statistics.median(a / b for a, b in zip(v, base)):.2f}"
            cells.append(cell + ")")
        print(f"G={G:>2} k={k} {name_lib:>4}: " + " | ".join(cells))


def _base_lib(args: argparse.Namespace) -> ctypes.CDLL:
    """The base kernel: ``--base-lib`` (already built), else revision ``--base`` built like this tree's."""
    path = args.base_lib
    if path is None:
        d = Path(tempfile.mkdtemp(prefix="kan-base-kernel-"))
        for name in ("bspline_local.c", "bspline_local.h"):
            src = subprocess.run(
                ["git", "-C", str(ROOT), "show", f"{args.base}:{NATIVE}/{name}"],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
            (d / name).write_text(src)
        variant = ISA_VARIANTS[kernel_isa()]
        path = d / "base.so"
        flags = [*native._FLAGS, *variant.flags]
        subprocess.run(
            [native._compiler(), *flags, "-o", str(path), str(d / "bspline_local.c"), "-lm"], check=True
        )
    lib = ctypes.CDLL(str(path))
    _declare(lib)
    return lib


def against_base(args: argparse.Namespace) -> None:
    ours, base = local_kernels(), _base_lib(args)
    shapes = [(1, 784, 32), (1, 32, 32), (1, 32, 10), (32, 32, 32)]
    print(f"forward kernel, working tree / {args.base}: median over {args.rounds} rounds of per-round ratios")
    for G, k in CONFIGS:
        cells = []
        for m, n_in, n_out in shapes:
            a = _kernel_args(m, n_in, n_out, G, k)
            fo, fb = _forward(ours, a), _forward(base, a)
            fo(), fb()
            y_ours = a["y"].clone()
            fb()
            err = float((y_ours - a["y"]).abs().max() / a["y"].abs().max())
            to, tb = [], []
            for r in range(args.rounds):
                first, second = (fo, fb) if r % 2 == 0 else (fb, fo)
                t1, t2 = _time(first, args.iters), _time(second, args.iters)
                to.append(t1 if first is fo else t2)
                tb.append(t2 if first is fo else t1)
            ratio = statistics.median(a / b for a, b in zip(to, tb))
            cells.append(
                f"{m}x{n_in}->{n_out} {ratio:4.2f} ({statistics.median(tb) * 1e3:.3f} ms, err {err:.0e})"
            )
        print(f"G={G:>2} k={k}: " + " | ".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--base", default=None, help="compare with the kernel of this git revision")
    ap.add_argument("--base-lib", default=None, help="the base kernel, already built (a .so)")
    ap.add_argument("--kernels", action="store_true", help="compare the forward kernels alone (needs a base)")
    args = ap.parse_args()
    if args.base_lib and not args.base:
        args.base = args.base_lib
    torch.set_num_threads(1)
    print(machine_summary())
    (against_base if args.kernels else profile)(args)


if __name__ == "__main__":
    main()
