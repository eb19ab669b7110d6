"""Zoo-training throughput: the batched engine vs a per-model loop vs pykan, same Adam steps, one run.

Architecture of the sine-INR zoo (paper): KAN [2, 32, 32, 1], G=30, k=3, B-splines; data: sin(w . x) on a
32 x 32 grid of [-1, 1]^2, minibatch 128, Adam lr 0.01 (pykan: ``fit(opt="Adam", update_grid=False)``,
``symbolic_enabled=False``, ``auto_save=False``, in a temporary folder).

Prints seconds per model (for ``--steps`` steps) of each way and the ratios; ``--repeats`` runs each
measurement several times and reports medians. Also ``--presets`` times every CPU zoo preset build
and projects the paper presets from the measured per-model-step cost.

    python tools/bench/zoo.py --steps 40 --batched 64 --loop 4 --pykan 1 --repeats 3
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import statistics
import tempfile
import time

import torch
from kan_core import KAN, KANSpec
from kan_core.batched import epoch_batches, train_stacked

SPEC = KANSpec((2, 32, 32, 1), grid_size=30, spline_order=3)
PYKAN_WIDTH, PYKAN_GRID = [2, 32, 32, 1], 30


def _data(m: int, res: int = 32):
    lin = torch.linspace(-1, 1, res)
    a, b = torch.meshgrid(lin, lin, indexing="ij")
    x = torch.stack([a.reshape(-1), b.reshape(-1)], 1)
    w = 0.5 + 9.5 * torch.rand(m, 2, generator=torch.Generator().manual_seed(0))
    return x, torch.sin(w @ x.T).unsqueeze(-1)


def time_batched(m: int, steps: int, device: str) -> float:
    x, y = _data(m)
    t = time.perf_counter()
    train_stacked(SPEC, x, y, seeds=range(m), steps=steps, batch_size=128, device=device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / m


def time_loop(m: int, steps: int, device: str) -> float:
    x, y = _data(m)
    x, y = x.to(device), y.to(device)
    t = time.perf_counter()
    for i in range(m):
        kan = KAN(SPEC, generator=torch.Generator().manual_seed(i)).to(device)
        opt = torch.optim.Adam(kan.parameters(), lr=0.01)
        gen = torch.Generator().manual_seed(i)
        pending: list[torch.Tensor] = []
        for _ in range(steps):
            if not pending:
                pending = epoch_batches(x.shape[0], 128, gen)[::-1]
            idx = pending.pop().to(device)
            loss = (kan(x[idx]) - y[i][idx]).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / m


def time_pykan(m: int, steps: int, device: str) -> float:
    from kan_core.interop.pykan import preserve_global_rng

    with preserve_global_rng():
        from kan.MultKAN import MultKAN
    x, y = _data(m)
    cwd = os.getcwd()
    total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            for i in range(m):
                ds = {"train_input": x.to(device), "train_label": y[i].to(device),
                      "test_input": x.to(device), "test_label": y[i].to(device)}  # fmt: skip
                with preserve_global_rng(), contextlib.redirect_stdout(io.StringIO()):
                    model = MultKAN(width=list(PYKAN_WIDTH), grid=PYKAN_GRID, k=3, symbolic_enabled=False, auto_save=False,
                                    seed=i, device=device)  # fmt: skip
                    t = time.perf_counter()
                    model.fit(ds, opt="Adam", steps=steps, lr=0.01, batch=128, update_grid=False, log=10**9)
                    total += time.perf_counter() - t
        finally:
            os.chdir(cwd)
    return total / m


def time_presets(device: str, project_only: bool = False) -> None:
    from kan_ws.zoo import PRESETS, build_zoo

    if not project_only:
        print("\nCPU preset builds (wall time):")
    for name, p in PRESETS.items():
        if project_only or not name.endswith("-cpu"):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            try:
                out = build_zoo(p, os.path.join(tmp, "zoo"), device=device)
            except FileNotFoundError as e:
                print(f"  {name:16s} skipped: {str(e).splitlines()[0]}")
                continue
            dt = time.perf_counter() - t
        print(f"  {name:16s} {p.num_models:5d} models  {dt:7.1f} s  ({out.name})")
    print(
        "\nPaper presets (projection = models x steps x measured sec/model-step of the same architecture"
        " family on this machine, batched engine):"
    )
    for name, p in PRESETS.items():
        if not name.endswith("-paper"):
            continue
        spec = p.spec
        bsz = p.batch_size or 10**9
        n_points = {
            "sine": p.resolution**2,
            "inr": 1024 if p.dataset == "cifar10" else 784,
            "classifier": 60000,
        }[p.task]
        steps = p.epochs * math.ceil(n_points / min(bsz, n_points))
        xx = torch.rand(max(256, bsz), spec.widths[0])
        if p.task == "classifier":
            yy = torch.randint(0, spec.widths[-1], (8, xx.shape[0]))
            loss = "cross_entropy"
        else:
            yy = torch.rand(8, xx.shape[0], spec.widths[-1])
            loss = "mse"
        cost = []
        for n_steps in (2, 8):  # the difference removes init/evaluation overhead
            t = time.perf_counter()
            train_stacked(
                spec, xx, yy, seeds=range(8), steps=n_steps, batch_size=bsz, loss=loss, device=device
            )
            cost.append(time.perf_counter() - t)
        per = max(cost[1] - cost[0], 1e-9) / (8 * 6)
        total = per * steps * p.num_models
        print(f"  {name:18s} {p.num_models:6d} models x {steps:6d} steps x {per * 1e3:6.2f} ms = "
              f"{total / 3600:9.1f} hours on this machine")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batched", type=int, default=64, help="models trained by the batched engine")
    ap.add_argument("--loop", type=int, default=4, help="models trained one by one (kan-core modules)")
    ap.add_argument("--pykan", type=int, default=1, help="models trained with pykan (0 to skip)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--presets", action="store_true", help="also time every CPU preset build")
    ap.add_argument("--project", action="store_true", help="also project the paper presets' training cost")
    ap.add_argument(
        "--arch",
        choices=["paper", "cpu"],
        default="paper",
        help="paper: [2,32,32,1] G=30 (sine-paper); cpu: [2,16,16,1] G=10 (sine-cpu)",
    )
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    global SPEC, PYKAN_WIDTH, PYKAN_GRID
    if a.arch == "cpu":
        SPEC = KANSpec((2, 16, 16, 1), grid_size=10, spline_order=3)
    PYKAN_WIDTH, PYKAN_GRID = list(SPEC.widths), SPEC.grid_size
    print(f"sine-INR architecture {list(SPEC.widths)} G={SPEC.grid_size}, {a.steps} Adam steps of batch 128, "
          f"device {a.device}, {torch.get_num_threads()} threads")  # fmt: skip
    res: dict[str, list[float]] = {"batched": [], "loop": [], "pykan": []}
    for _ in range(a.repeats):
        res["batched"].append(time_batched(a.batched, a.steps, a.device))
        res["loop"].append(time_loop(a.loop, a.steps, a.device))
        if a.pykan:
            res["pykan"].append(time_pykan(a.pykan, a.steps, a.device))
    med = {k: statistics.median(v) for k, v in res.items() if v}
    for k, v in med.items():
        print(
            f"  {k:8s} {v * 1e3:9.1f} ms per model ({v / a.steps * 1e3:7.3f} ms per model-step)  runs: "
            + ", ".join(f"{x * 1e3:.1f}" for x in res[k])
        )
    print(f"  batched vs per-model loop: {med['loop'] / med['batched']:6.1f}x faster per model")
    if "pykan" in med:
        print(f"  batched vs pykan:          {med['pykan'] / med['batched']:6.1f}x faster per model")
        print(f"  per-model loop vs pykan:   {med['pykan'] / med['loop']:6.1f}x faster per model")
    if a.presets or a.project:
        time_presets(a.device, project_only=not a.presets)


if __name__ == "__main__":
    main()
