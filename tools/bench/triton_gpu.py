"""The Triton B-spline path against the dense path on a CUDA device: time per training step and peak memory.

Two workloads, each for every G in ``--grids`` (k = 3), each through both paths (``KAN_CORE_TRITON`` is
read on every call, so the same process switches between them):

* ``mlp784``: KAN [784, 32, 32, 10], batch 1024, one step = forward, cross-entropy, backward, Adam step
  (random inputs in [-1, 1] and random labels; never zeros). Median of ``--reps`` steps timed with CUDA
  events after ``--warmup`` steps (Triton's compilation stays out).
* ``zoo``: the sine-paper zoo engine, ``kan_core.batched.train_stacked`` of ``--models`` KANs [2, 32, 32, 1]
  on sin(w . x) over a 32 x 32 grid of [-1, 1]^2, minibatch 128, Adam lr 0.01, all models in one chunk.
  Per step: (time of ``--zoo-steps`` steps - time of 2 steps) / (``--zoo-steps`` - 2), so initialisation
  and evaluation cancel out.

Peak memory is ``torch.cuda.max_memory_allocated`` over the timed region; ``state`` is the bytes of the
parameters, gradients and Adam's two moments (4x the parameters), which grow with G + k on any path,
and ``above state`` the peak minus it (what a local-support kernel keeps flat in G). The first line printed
names the device and the torch and Triton versions; the table comes last. ``--json`` writes every figure.

    python3 tools/bench/triton_gpu.py --json $OUT/bench.json
    # dry run of the script's logic on a CPU, tiny sizes, Triton through its interpreter:
    TRITON_INTERPRET=1 python3 tools/bench/triton_gpu.py --grids 5,30 --mlp-widths 6,4,3 --batch 16 \
        --models 3 --zoo-widths 2,3,1 --reps 1 --warmup 1 --zoo-steps 3
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time

import torch

MiB = 2**20
DEV = torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _sync() -> None:
    if DEV.type == "cuda":
        torch.cuda.synchronize()


def _reset_peak() -> None:
    if DEV.type == "cuda":
        torch.cuda.reset_peak_memory_stats()


def _peak() -> int:
    """Peak CUDA allocation since the last reset (0 on a CPU dry run)."""
    return torch.cuda.max_memory_allocated() if DEV.type == "cuda" else 0


def _route(path: str):
    """CPU dry runs send the Triton path through the interpreter (test-only routing)."""
    import contextlib

    from kan_core.triton import route_cpu_tensors

    return route_cpu_tensors() if DEV.type == "cpu" and path == "triton" else contextlib.nullcontext()


def _set_path(path: str) -> None:
    os.environ["KAN_CORE_TRITON"] = "1" if path == "triton" else "0"


class _Counter:
    """Counts applications of the Triton autograd function (proof of which path ran)."""

    def __init__(self) -> None:
        from kan_core.triton import contract as tc

        self.calls = 0
        self._tc, self._real = tc, tc.TritonContract.apply

        def spy(*args):
            self.calls += 1
            return self._real(*args)

        tc.TritonContract.apply = spy


def bench_mlp(G: int, path: str, args, counter: _Counter) -> dict:
    from kan_core import KAN
    from kan_core.runtime import make_generator

    _set_path(path)
    widths = [int(w) for w in args.mlp_widths.split(",")]
    kan = KAN.from_widths(widths, grid_size=G, spline_order=3, generator=make_generator(0)).to(DEV)
    opt = torch.optim.Adam(kan.parameters(), lr=1e-3)
    g = torch.Generator(device=DEV).manual_seed(1)
    xs = [torch.rand(args.batch, widths[0], device=DEV, generator=g) * 2 - 1 for _ in range(4)]  # rotated
    ys = [torch.randint(0, widths[-1], (args.batch,), device=DEV, generator=g) for _ in range(4)]

    def step(i: int) -> None:
        opt.zero_grad(set_to_none=True)
        with _route(path):
            torch.nn.functional.cross_entropy(kan(xs[i % 4]), ys[i % 4]).backward()
        opt.step()

    for i in range(args.warmup):
        step(i)
    _sync()
    state = 4 * sum(p.numel() * p.element_size() for p in kan.parameters())
    _reset_peak()
    calls0, times = counter.calls, []
    for i in range(args.reps):
        if DEV.type == "cuda":
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            step(i)
            b.record()
            torch.cuda.synchronize()
            times.append(a.elapsed_time(b))
        else:
            t = time.perf_counter()
            step(i)
            times.append((time.perf_counter() - t) * 1e3)
    peak = _peak()
    return {
        "ms_per_step": statistics.median(times),
        "ms_spread": [min(times), max(times)],
        "peak_mib": peak / MiB,
        "state_mib": state / MiB,
        "triton_calls_per_step": (counter.calls - calls0) / args.reps,
    }


_ZOO_INIT: dict[int, object] = {}


def bench_zoo(G: int, path: str, args, counter: _Counter) -> dict:
    from kan_core import KANSpec
    from kan_core.batched import init_stacked, train_stacked

    _set_path(path)
    M = args.models
    spec = KANSpec(tuple(int(w) for w in args.zoo_widths.split(",")), grid_size=G, spline_order=3)
    if G not in _ZOO_INIT:  # per-model initialisation once per G (CPU), shared by both paths
        _ZOO_INIT.clear()
        _ZOO_INIT[G] = init_stacked(spec, M, range(M)).to(DEV)
    layers = _ZOO_INIT[G]
    side = torch.linspace(-1, 1, 32)
    x = torch.cartesian_prod(side, side)  # (1024, 2)
    w = torch.rand(M, 2, generator=torch.Generator().manual_seed(0)) * 9.5 + 0.5
    y = torch.sin(x @ w.T).T.unsqueeze(-1).contiguous()  # (M, 1024, 1)

    def run(steps: int) -> tuple[float, int]:
        _sync()
        _reset_peak()
        t = time.perf_counter()
        with _route(path):
            train_stacked(
                spec, x, y, layers=layers, steps=steps, lr=0.01, batch_size=128, chunk_size=M, device=DEV
            )
        _sync()
        return time.perf_counter() - t, _peak()

    run(2)  # warm-up: compilation, allocator
    calls0 = counter.calls
    shorts, longs = [], []
    for _ in range(2):  # per step = (long - short) / (steps - 2); the smaller of two runs of each
        shorts.append(run(2)[0])
        t, peak = run(args.zoo_steps)
        longs.append(t)
    n_params = sum(math.prod(s) for shapes in spec.param_shapes() for s in shapes.values()) * M
    return {
        "ms_per_step": (min(longs) - min(shorts)) / (args.zoo_steps - 2) * 1e3,
        "peak_mib": peak / MiB,
        "state_mib": 4 * 4 * n_params / MiB,
        "triton_calls_per_run": (counter.calls - calls0) / 4,  # > 0 only on the Triton path
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grids", default="5,30,100,200")
    ap.add_argument("--cases", default="mlp784,zoo")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--models", type=int, default=1000)
    ap.add_argument("--zoo-steps", type=int, default=22)
    ap.add_argument("--json", default=None)
    ap.add_argument("--mlp-widths", default="784,32,32,10")
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--zoo-widths", default="2,32,32,1")
    args = ap.parse_args()
    import triton
    from kan_core.triton import bspline_paths

    name = torch.cuda.get_device_name() if DEV.type == "cuda" else "cpu (dry run: Triton's interpreter)"
    print(f"device {name} | torch {torch.__version__} | triton {triton.__version__}", flush=True)
    print(f"paths: {bspline_paths()}", flush=True)
    counter = _Counter()
    rows = []
    for case in args.cases.split(","):
        fn = {"mlp784": bench_mlp, "zoo": bench_zoo}[case]
        for G in (int(g) for g in args.grids.split(",")):
            for path in ("triton", "dense"):
                try:
                    r = fn(G, path, args, counter)
                except torch.cuda.OutOfMemoryError as exc:
                    r = {"error": f"OOM: {str(exc).splitlines()[0]}"}
                torch.cuda.empty_cache()
                rows.append({"case": case, "G": G, "path": path, **r})
                print(json.dumps(rows[-1]), flush=True)
    os.environ.pop("KAN_CORE_TRITON", None)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    # table: per case and G, both paths, the time ratio, and peak memory relative to the smallest G
    print(
        f"\n{'case':<8}{'G':>5}{'path':>8}{'ms/step':>10}{'peak MiB':>10}{'state':>9}{'above':>9}{'t/dense':>9}{'peak/G0':>9}"
    )
    for case in args.cases.split(","):
        mine = [r for r in rows if r["case"] == case]
        for path in ("triton", "dense"):
            base = next((r for r in mine if r["path"] == path and "error" not in r), None)
            for r in (r for r in mine if r["path"] == path):
                if "error" in r:
                    print(f"{case:<8}{r['G']:>5}{path:>8}  {r['error'][:60]}")
                    continue
                dense = next(
                    (d for d in mine if d["G"] == r["G"] and d["path"] == "dense" and "error" not in d), None
                )
                ratio = f"{r['ms_per_step'] / dense['ms_per_step']:.2f}" if dense else "-"
                grow = f"{r['peak_mib'] / base['peak_mib']:.2f}" if base and base["peak_mib"] else "-"
                above = r["peak_mib"] - r["state_mib"]
                print(
                    f"{case:<8}{r['G']:>5}{path:>8}{r['ms_per_step']:>10.2f}{r['peak_mib']:>10.0f}"
                    f"{r['state_mib']:>9.0f}{above:>9.0f}{ratio:>9}{grow:>9}"
                )
    print("targets (issue 21): peak at G=200 <= 1.2x peak at G=5 (Triton); t/dense at G=30 <= 0.5")


if __name__ == "__main__":
    main()
