"""Forward+backward speed of a B-spline KAN against an equal-FLOP matmul and against pykan, in one run.

Model: widths [784, 32, 32, 10], batch 128, 2 threads. For every (G, k) it times one training-style
iteration (forward, ``sum().backward()``) of

* ours:   ``kan_core.KAN``;
* matmul: per layer ``(B, in*(G+k)) @ (in*(G+k), out) + (B, in) @ (in, out)`` with gradients on the
  weights and on the inputs of hidden layers (the spline term's flattened-basis contraction and the
  base term, without computing any basis);
* pykan:  ``kan.MultKAN(symbolic_enabled=False, auto_save=False, save_act=False)``, run in a temporary
  directory.

Prints ms per iteration (median of ``--repeats`` timings) and the ratios ours/matmul (target <= 2) and
pykan/ours (target >= 20).

Usage: ``python tools/bench/layer.py [--repeats 30] [--no-pykan] [--threads 2]``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable

import torch

WIDTHS = [784, 32, 32, 10]
BATCH = 128
CONFIGS = [(5, 3), (10, 3), (5, 2), (5, 1)]


def median_ms(
    steps: dict[str, Callable[[], None]], repeats: int, warmup: int = 3, stat: str = "median"
) -> dict[str, float]:
    """Median (or min) ms per call of every step; the steps are timed interleaved, so load changes hit
    all alike. ``min`` is the robust choice on a busy machine."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - t0)
    agg = statistics.median if stat == "median" else min
    return {name: 1e3 * agg(t) for name, t in times.items()}


def ours_step(G: int, k: int, x: torch.Tensor) -> Callable[[], None]:
    from kan_core import KAN

    kan = KAN.from_widths(WIDTHS, grid_size=G, spline_order=k, generator=torch.Generator().manual_seed(0))
    params = list(kan.parameters())

    def step() -> None:
        for p in params:
            p.grad = None
        kan(x).sum().backward()

    return step


def matmul_step(G: int, k: int, x: torch.Tensor) -> Callable[[], None]:
    g = torch.Generator().manual_seed(0)
    layers = []
    for l, (d_in, d_out) in enumerate(zip(WIDTHS[:-1], WIDTHS[1:])):
        hidden = l > 0
        f = torch.rand(BATCH, d_in * (G + k), generator=g).requires_grad_(hidden)
        b = (x if l == 0 else torch.randn(BATCH, d_in, generator=g)).detach().requires_grad_(hidden)
        ws = (torch.randn(d_in * (G + k), d_out, generator=g) * 0.01).requires_grad_(True)
        wb = (torch.randn(d_in, d_out, generator=g) * 0.01).requires_grad_(True)
        layers.append((f, b, ws, wb))
    leaves = [t for layer in layers for t in layer if t.requires_grad]

    def step() -> None:
        for t in leaves:
            t.grad = None
        out = sum((f @ ws + b @ wb).sum() for f, b, ws, wb in layers)
        out.backward()

    return step


def pykan_step(G: int, k: int, x: torch.Tensor) -> Callable[[], None]:
    from kan import MultKAN

    model = MultKAN(
        width=list(WIDTHS), grid=G, k=k, seed=0, symbolic_enabled=False, auto_save=False, save_act=False
    )
    params = list(model.parameters())

    def step() -> None:
        for p in params:
            p.grad = None
        model(x).sum().backward()

    return step


@contextlib.contextmanager
def in_temp_dir():
    old = os.getcwd()
    with tempfile.TemporaryDirectory() as d:
        os.chdir(d)
        try:
            yield
        finally:
            os.chdir(old)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--pykan-repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-pykan", action="store_true")
    ap.add_argument("--stat", choices=["median", "min"], default="median", help="statistic over the repeats")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.rand(BATCH, WIDTHS[0], generator=torch.Generator().manual_seed(1)) * 2 - 1

    have_pykan = not args.no_pykan
    if have_pykan:
        try:
            import kan  # noqa: F401
        except ImportError:
            have_pykan = False

    print(
        f"KAN {WIDTHS}, batch {BATCH}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"{args.stat} of {args.repeats} (pykan {args.pykan_repeats})"
    )
    print(
        f"{'G,k':>6} {'ours ms':>9} {'matmul ms':>10} {'pykan ms':>9} {'ours/matmul':>12} {'pykan/ours':>11}"
    )
    for G, k in CONFIGS:
        t = median_ms(
            {"ours": ours_step(G, k, x), "matmul": matmul_step(G, k, x)}, args.repeats, stat=args.stat
        )
        t_ours, t_mm = t["ours"], t["matmul"]
        if have_pykan:
            with in_temp_dir():
                t_py = median_ms(
                    {"pykan": pykan_step(G, k, x)}, args.pykan_repeats, warmup=1, stat=args.stat
                )["pykan"]
            py, ratio_py = f"{t_py:9.2f}", f"{t_py / t_ours:11.1f}"
        else:
            py, ratio_py = f"{'-':>9}", f"{'-':>11}"
        print(f"{G:>3},{k:<2} {t_ours:9.2f} {t_mm:10.2f} {py} {t_ours / t_mm:12.2f} {ratio_py}")


if __name__ == "__main__":
    main()
