"""Zoo-training throughput of the batched engine, against its references, interleaved round by round.

Architecture of the sine-INR zoo (paper): KAN [2, 32, 32, 1], k=3, B-splines, for every G in ``--grids``;
data: sin(w . x) on a 32 x 32 grid of [-1, 1]^2, minibatch 128, Adam lr 0.01. Every round times, per
G and in this order,

* batched:  ``train_stacked`` of ``--models`` KANs for ``--steps`` steps (initialisation and the two
  evaluations included), divided by models x steps; on CPU the coefficients' Adam step is fused into the
  native backward (``kan_core.native.optim``);
* unfused:  the same with ``fuse_optimizer=False`` (``torch.optim.Adam(fused=True)`` for every tensor);
* bmm:      the equal-FLOP dense reference, one training step of the same models as plain batched
  matmuls: per layer ``(M, B, in*(G+k)) @ (M, in*(G+k), out) + (M, B, in) @ (M, in, out)``, forward and
  backward (weight gradients, input gradients of hidden layers), no basis evaluation, no optimiser;
* loop:     ``--loop`` KANs trained one after the other as kan-core modules with ``torch.optim.Adam``;
* pykan:    ``--pykan`` KANs with pykan's ``fit(opt="Adam")`` (``symbolic_enabled=False``,
  ``auto_save=False``, in a temporary folder), in the first ``--pykan-rounds`` rounds only.

It prints per-model-step times and the medians over rounds of the per-round ratios. ``--project``
then projects the paper presets' zoo training on this machine from the measured batched cost of each
preset's own architecture.

    python tools/bench/zoo.py --threads 1 --rounds 5
    python tools/bench/zoo.py --threads 1 --grids 30 --project
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
from collections.abc import Callable

import torch
from kan_core import KAN, KANSpec
from kan_core.batched import epoch_batches, train_stacked
from kan_core.native import machine_summary

WIDTHS = (2, 32, 32, 1)
BATCH = 128


def _data(m: int, res: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    lin = torch.linspace(-1, 1, res)
    a, b = torch.meshgrid(lin, lin, indexing="ij")
    x = torch.stack([a.reshape(-1), b.reshape(-1)], 1)
    w = 0.5 + 9.5 * torch.rand(m, 2, generator=torch.Generator().manual_seed(0))
    return x, torch.sin(w @ x.T).unsqueeze(-1)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def batched_step(spec: KANSpec, m: int, steps: int, device: str, fuse: bool = True) -> Callable[[], float]:
    x, y = _data(m)

    def run() -> float:
        t = time.perf_counter()
        train_stacked(
            spec, x, y, seeds=range(m), steps=steps, batch_size=BATCH, device=device, fuse_optimizer=fuse
        )
        _sync(device)
        return (time.perf_counter() - t) / (m * steps)

    return run


def bmm_step(spec: KANSpec, m: int, steps: int, device: str) -> Callable[[], float]:
    g = torch.Generator().manual_seed(0)
    nb = spec.num_coefficients
    layers = []
    for l, (d_out, d_in) in enumerate(spec.layer_shapes()):
        hidden = l > 0
        f = torch.rand(m, BATCH, d_in * nb, generator=g).to(device).requires_grad_(hidden)
        b = torch.rand(m, BATCH, d_in, generator=g).to(device).requires_grad_(hidden)
        ws = (torch.randn(m, d_in * nb, d_out, generator=g) * 0.01).to(device).requires_grad_(True)
        wb = (torch.randn(m, d_in, d_out, generator=g) * 0.01).to(device).requires_grad_(True)
        layers.append((f, b, ws, wb))
    leaves = [t for layer in layers for t in layer if t.requires_grad]

    def run() -> float:
        t = time.perf_counter()
        for _ in range(steps):
            for leaf in leaves:
                leaf.grad = None
            sum((f @ ws + b @ wb).sum() for f, b, ws, wb in layers).backward()
        _sync(device)
        return (time.perf_counter() - t) / (m * steps)

    return run


def loop_step(spec: KANSpec, m: int, steps: int, device: str) -> Callable[[], float]:
    x, y = _data(m)
    x, y = x.to(device), y.to(device)

    def run() -> float:
        t = time.perf_counter()
        for i in range(m):
            kan = KAN(spec, generator=torch.Generator().manual_seed(i)).to(device)
            opt = torch.optim.Adam(kan.parameters(), lr=0.01)
            gen = torch.Generator().manual_seed(i)
            pending: list[torch.Tensor] = []
            for _ in range(steps):
                if not pending:
                    pending = epoch_batches(x.shape[0], BATCH, gen)[::-1]
                idx = pending.pop().to(device)
                loss = (kan(x[idx]) - y[i][idx]).pow(2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        _sync(device)
        return (time.perf_counter() - t) / (m * steps)

    return run


def pykan_step(spec: KANSpec, m: int, steps: int, device: str) -> Callable[[], float]:
    from kan_core.interop.pykan import preserve_global_rng

    with preserve_global_rng():
        from kan.MultKAN import MultKAN
    x, y = _data(m)

    def run() -> float:
        total = 0.0
        cwd = os.getcwd()
        with tempfile.TemporaryDirectory() as tmp:
            os.chdir(tmp)
            try:
                for i in range(m):
                    ds = {"train_input": x.to(device), "train_label": y[i].to(device),
                          "test_input": x.to(device), "test_label": y[i].to(device)}  # fmt: skip
                    with (
                        preserve_global_rng(),
                        contextlib.redirect_stdout(io.StringIO()),
                        contextlib.redirect_stderr(io.StringIO()),
                    ):
                        model = MultKAN(width=list(spec.widths), grid=spec.grid_size, k=spec.spline_order,
                                        symbolic_enabled=False, auto_save=False, seed=i, device=device)  # fmt: skip
                        t = time.perf_counter()
                        model.fit(
                            ds, opt="Adam", steps=steps, lr=0.01, batch=BATCH, update_grid=False, log=10**9
                        )
                        total += time.perf_counter() - t
            finally:
                os.chdir(cwd)
        return total / (m * steps)

    return run


def project_presets(device: str, models: int = 32) -> None:
    """Paper presets: models x steps x the batched per-model-step cost of each preset's architecture."""
    from kan_ws.zoo import PRESETS

    print("\nPaper presets, projected zoo training on this machine (batched engine, "
          f"{models} models per measurement, difference of 25 and 5 steps):")  # fmt: skip
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
        xx = torch.rand(max(256, min(bsz, n_points)), spec.widths[0])
        if p.task == "classifier":
            yy, loss = torch.randint(0, spec.widths[-1], (models, xx.shape[0])), "cross_entropy"
        else:
            yy, loss = torch.rand(models, xx.shape[0], spec.widths[-1]), "mse"
        cost = []
        for n_steps in (2, 5, 25):  # a warm-up; the difference of the last two removes initialisation
            t = time.perf_counter()
            train_stacked(
                spec, xx, yy, seeds=range(models), steps=n_steps, batch_size=bsz, loss=loss, device=device
            )
            _sync(device)
            cost.append(time.perf_counter() - t)
        per = max(cost[2] - cost[1], 1e-9) / (models * 20)
        total = per * steps * p.num_models
        print(f"  {name:20s} {p.num_models:6d} models x {steps:6d} steps x {per * 1e3:7.3f} ms = "
              f"{total / 3600:8.2f} h")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grids", default="5,10,30,100", help="comma-separated grid sizes G")
    ap.add_argument("--steps", type=int, default=30, help="optimiser steps per timed run")
    ap.add_argument("--models", type=int, default=32, help="models trained by the batched engine")
    ap.add_argument("--loop", type=int, default=2, help="models trained one by one (kan-core modules)")
    ap.add_argument("--pykan", type=int, default=1, help="models trained with pykan (0 to skip)")
    ap.add_argument("--pykan-rounds", type=int, default=2, help="rounds that include pykan")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--project", action="store_true", help="also project the paper presets' training cost")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(machine_summary())
    grids = [int(g) for g in a.grids.split(",")]
    have_pykan = a.pykan > 0
    if have_pykan:
        try:
            import kan  # noqa: F401
        except ImportError:
            have_pykan = False
    print(f"KAN {list(WIDTHS)}, k=3, batch {BATCH}, {a.steps} Adam steps, {a.models} batched models, device "
          f"{a.device}, {torch.get_num_threads()} threads, torch {torch.__version__}, {a.rounds} rounds")  # fmt: skip
    ways: dict[int, dict[str, Callable[[], float]]] = {}
    for G in grids:
        spec = KANSpec(WIDTHS, grid_size=G, spline_order=3)
        ways[G] = {
            "batched": batched_step(spec, a.models, a.steps, a.device),
            "unfused": batched_step(spec, a.models, a.steps, a.device, fuse=False),
            "bmm": bmm_step(spec, a.models, a.steps, a.device),
            "loop": loop_step(spec, a.loop, a.steps, a.device),
        }
        if have_pykan:
            ways[G]["pykan"] = pykan_step(spec, a.pykan, a.steps, a.device)
        for name, run in ways[G].items():  # warm-up (builds the native kernel, fills caches)
            if name != "pykan":
                run()
    times: dict[int, dict[str, list[float]]] = {G: {name: [] for name in ways[G]} for G in grids}
    for r in range(a.rounds):
        for G in grids:
            for name, run in ways[G].items():
                if name == "pykan" and r >= a.pykan_rounds:
                    continue
                times[G][name].append(run())
    print(f"\n{'G':>4} {'batched ms':>11} {'bmm ms':>8} {'loop ms':>8} {'pykan ms':>9} "
          f"{'batched/bmm':>12} {'loop/batched':>13} {'pykan/batched':>14}   (per model-step)")  # fmt: skip
    per_g = {}
    for G in grids:
        t = times[G]
        med = {name: statistics.median(v) * 1e3 for name, v in t.items() if v}
        ratio_bmm = statistics.median(b / m for b, m in zip(t["batched"], t["bmm"]))
        ratio_loop = statistics.median(lp / b for lp, b in zip(t["loop"], t["batched"]))
        per_g[G] = med["batched"]
        row = f"{G:>4} {med['batched']:11.4f} {med['bmm']:8.4f} {med['loop']:8.4f}"
        row += f" {med.get('pykan', float('nan')):9.2f} {ratio_bmm:12.2f} {ratio_loop:13.1f}"
        if t.get("pykan"):
            row += f" {statistics.median(p / b for p, b in zip(t['pykan'], t['batched'])):14.0f}"
        print(row)
    print("unfused/batched (the fused optimiser's gain): " + ", ".join(
        f"G={G} {statistics.median(u / b for u, b in zip(times[G]['unfused'], times[G]['batched'])):.2f}"
        for G in grids))  # fmt: skip
    if 10 in per_g and 100 in per_g:
        unf = [a100 / a10 for a10, a100 in zip(times[10]["unfused"], times[100]["unfused"])]
        print(f"unfused step time G=100 / G=10: {statistics.median(unf):.2f}")
        ratios = [a100 / a10 for a10, a100 in zip(times[10]["batched"], times[100]["batched"])]
        print(
            f"\nbatched step time G=100 / G=10: {statistics.median(ratios):.2f} (median of per-round ratios)"
        )
    if a.project:
        project_presets(a.device, a.models)


if __name__ == "__main__":
    main()
