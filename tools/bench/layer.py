"""Forward+backward speed of a B-spline KAN against an equal-FLOP matmul, inkan and pykan, interleaved.

Model: widths [784, 32, 32, 10], batch 128. For every thread count in ``--threads`` and every (G, k) it
times one training-style iteration (forward, ``sum().backward()``) of

* ours:   ``kan_core.KAN`` (the native local kernel where it applies, else dense features + GEMM);
* matmul: per layer ``(B, in*(G+k)) @ (in*(G+k), out) + (B, in) @ (in, out)`` with gradients on the
  weights and on the inputs of hidden layers: the dense formulation's own FLOPs, no basis evaluation;
* inkan:  ``inkan.KANNetwork`` (PyPI ``inkan``, its defaults: local basis, ``torch.compile``), when
  installed (``pip install --no-deps inkan``);
* pykan:  ``kan.MultKAN(symbolic_enabled=False, auto_save=False, save_act=False)`` in a temporary
  directory, in the first ``--pykan-rounds`` rounds (it is slow).

Each round runs every way ``--iters`` times per configuration, one after the other, so load changes hit
all alike; the figures are medians over rounds of per-round times and of per-round ratios. Targets:
ours/matmul <= 1.5 (must reach 2.0).

``--crossover`` instead measures, per order k and per shape (this layer's first layer, and a 32 -> 32
layer of 32 stacked models), the smallest number of bases from which the native local contraction beats
dense features + matmul (see ``kan_core.basis.bspline.native_local_applies``).

``--cpu-time`` (with ``--threads 1``) times the calling thread's CPU time instead of wall time, for a
machine that other work keeps busy (a process waiting for a core then does not count).

Usage: ``python tools/bench/layer.py [--threads 1,2] [--rounds 7] [--no-pykan] [--crossover] [--cpu-time]``
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
from kan_core.native import machine_summary

WIDTHS = [784, 32, 32, 10]
BATCH = 128
CONFIGS = [(5, 1), (5, 2), (5, 3), (10, 3), (30, 3)]


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


def inkan_step(G: int, k: int, x: torch.Tensor) -> Callable[[], None]:
    from inkan.network import KANNetwork

    model = KANNetwork(list(WIDTHS), grid_size=G, spline_order=k)
    params = list(model.parameters())

    def step() -> None:
        for p in params:
            p.grad = None
        model(x).sum().backward()

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


def _available(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


#: the clock of _time: wall time, or with --cpu-time the calling thread's CPU time (one thread only: on a
#: busy machine it leaves out the time the process waits for a core)
CLOCK: list[Callable[[], float]] = [time.perf_counter]


def _time(step: Callable[[], None], iters: int) -> float:
    t = CLOCK[0]()
    for _ in range(iters):
        step()
    return (CLOCK[0]() - t) / iters


def compare(args: argparse.Namespace) -> None:
    x = torch.rand(BATCH, WIDTHS[0], generator=torch.Generator().manual_seed(1)) * 2 - 1
    ways: dict[str, Callable[[int, int, torch.Tensor], Callable[[], None]]] = {
        "ours": ours_step,
        "matmul": matmul_step,
    }
    if not args.no_inkan and _available("inkan"):
        ways["inkan"] = inkan_step
    with_pykan = not args.no_pykan and _available("kan")
    if with_pykan:
        ways["pykan"] = pykan_step
    threads = [int(t) for t in args.threads.split(",")]
    with in_temp_dir():
        steps: dict[tuple[int, int], dict[str, Callable[[], None]]] = {}
        for G, k in CONFIGS:
            steps[(G, k)] = {}
            for name, make in ways.items():
                try:
                    steps[(G, k)][name] = make(G, k, x)
                except ValueError as e:  # e.g. inkan supports k = 3 only
                    print(f"  {name} skipped at G={G}, k={k}: {e}")
        for per in steps.values():  # warm-up: native build, torch.compile, allocator
            for step in per.values():
                for _ in range(2):
                    step()
        times: dict[tuple[int, int, int], dict[str, list[float]]] = {
            (t, G, k): {name: [] for name in ways} for t in threads for G, k in CONFIGS
        }
        for r in range(args.rounds):
            for t in threads:
                torch.set_num_threads(t)
                for G, k in CONFIGS:
                    for name, step in steps[(G, k)].items():
                        if name == "pykan" and r >= args.pykan_rounds:
                            continue
                        times[(t, G, k)][name].append(_time(step, 1 if name == "pykan" else args.iters))
    print(
        f"KAN {WIDTHS}, batch {BATCH}, torch {torch.__version__}, {args.rounds} rounds x {args.iters} iterations "
        f"(pykan: {args.pykan_rounds} x 1); ms per iteration and ratios, medians over rounds"
    )
    print(f"{'thr':>3} {'G,k':>6} " + " ".join(f"{n + ' ms':>10}" for n in ways) + f" {'ours/matmul':>12}"
          + "".join(f" {n + '/ours':>11}" for n in ways if n not in ("ours", "matmul")))  # fmt: skip
    for (t, G, k), tt in times.items():
        med = {n: f"{statistics.median(v) * 1e3:10.3f}" if v else f"{'-':>10}" for n, v in tt.items()}
        ratio = statistics.median(o / m for o, m in zip(tt["ours"], tt["matmul"]))
        others = [
            f"{statistics.median(o / u for o, u in zip(tt[n], tt['ours'])):11.1f}" if tt[n] else f"{'-':>11}"
            for n in ways
            if n not in ("ours", "matmul")
        ]
        print(f"{t:>3} {G:>3},{k:<2} " + " ".join(med[n] for n in ways) + f" {ratio:12.2f}"
              + "".join(f" {o}" for o in others))  # fmt: skip


def _native_and_dense(
    m: int, n_in: int, n_out: int, nb: int, k: int
) -> tuple[Callable[[], None], Callable[[], None]]:
    """Forward+backward of one spline term, through the native kernel and through dense features."""
    from kan_core.basis import bspline as bs
    from kan_core.basis import uniform_grid

    grid = uniform_grid(n_in, nb - k, k)
    x = (torch.rand(m, BATCH, n_in) * 2 - 1).requires_grad_(True)
    c = torch.randn(m, n_out, n_in, nb, requires_grad=True)
    s = torch.randn(m, n_out, n_in, requires_grad=True)

    def native() -> None:
        bs._native_contract(x, grid, c, s, k).sum().backward()

    def dense() -> None:
        f = bs.bspline_features(x, grid, k, True).flatten(-2)
        w = (c * s.unsqueeze(-1)).transpose(-1, -2).flatten(-2)
        (f @ w.transpose(-1, -2)).sum().backward()

    return native, dense


def crossover(args: argparse.Namespace) -> None:
    """Smallest G + k per order at which the native local contraction beats dense features + matmul."""
    from kan_core.native import native_status

    if native_status() != "ok":
        raise SystemExit(f"native kernels unavailable: {native_status()}")
    torch.set_num_threads(int(args.threads.split(",")[0]))
    shapes = {"784->32, 1 model": (1, 784, 32), "32->32, 32 models": (32, 32, 32)}
    print(f"native local vs dense (fwd+bwd), {torch.get_num_threads()} threads, ratio native/dense per G + k")
    for name, (m, n_in, n_out) in shapes.items():
        for k in range(1, 6):
            row = []
            for nb in range(k + 2, 8 * (k + 1) + 1, max(1, (k + 1) // 2)):
                native, dense = _native_and_dense(m, n_in, n_out, nb, k)
                native(), dense()
                tn, td = [], []
                for _ in range(args.rounds):
                    tn.append(_time(native, args.iters))
                    td.append(_time(dense, args.iters))
                row.append((nb, statistics.median(a / b for a, b in zip(tn, td))))
            wins = [nb for nb, r in row if r < 1]
            print(f"  {name:18s} k={k}: first win at G+k={wins[0] if wins else '-':>3}  "
                  + " ".join(f"{nb}:{r:.2f}" for nb, r in row))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--iters", type=int, default=5, help="iterations per way, configuration and round")
    ap.add_argument("--pykan-rounds", type=int, default=2)
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--no-pykan", action="store_true")
    ap.add_argument("--no-inkan", action="store_true")
    ap.add_argument("--crossover", action="store_true", help="measure the native/dense crossover instead")
    ap.add_argument(
        "--cpu-time",
        action="store_true",
        help="time the thread's CPU time instead of wall time (1 thread only)",
    )
    args = ap.parse_args()
    if args.cpu_time:
        if args.threads.split(",") != ["1"]:
            raise SystemExit("--cpu-time measures one thread: pass --threads 1")
        CLOCK[0] = time.thread_time
    print(machine_summary(args.threads.split(",")[0] if args.crossover else args.threads))
    crossover(args) if args.crossover else compare(args)


if __name__ == "__main__":
    main()
