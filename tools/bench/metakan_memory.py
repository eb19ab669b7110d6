"""Peak training memory and step time: KAN vs MetaKAN, plain and memory-efficient.

Memory is measured with ``kan_core.runtime.track_peak_memory`` (CUDA allocator peak on GPU; on CPU its
documented tensor-storage substitute) over two AdamW steps on batches of 128, plus the bytes of parameters
and buffers. Every figure is printed as a ratio to the plain KAN measured in the same run, median of
``--repeats`` runs (seeds 0, 1, ...):

* headline: ``[784, 32, 10]`` at G = 80 (target: memory-efficient MetaKAN <= 0.25x KAN);
* curve 1: vs connections, ``[784, h, 10]`` at G = 5;
* curve 2: vs grid size on ``[784, 32, 10]`` (the efficient MetaKAN's ratio must fall with G);
* curve 3: vs the meta-learner's hidden size at G = 80 - the plain path keeps ``E * hidden`` activations
  for backward, the memory-efficient one does not (flat curve);
* how many of the rows above have the memory-efficient MetaKAN at or below the plain one (must be all);
* speed: median AdamW step time (untracked) of the plain and the memory-efficient MetaKAN, as a ratio.

    python tools/bench/metakan_memory.py [--device cpu] [--repeats 3] [--quick] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from kan_core.native import machine_summary
from kan_metakan.memory import MODES, build_model, memory_rows


def _median_rows(widths, grids, hidden, args):
    runs = [
        memory_rows(
            widths_list=[widths],
            grid_sizes=grids,
            hidden=hidden,
            batch=args.batch,
            device=args.device,
            seed=r,
        )
        for r in range(args.repeats)
    ]
    out = []
    for i, G in enumerate(grids):
        med = {m: statistics.median(run[i][f"{m}_MiB"] for run in runs) for m in MODES}
        ratios = {m: statistics.median(run[i][f"{m}_MiB"] / run[i]["kan_MiB"] for run in runs) for m in MODES}
        out.append((widths, runs[0][i]["connections"], G, hidden, med, ratios))
    return out


def _print(rows) -> None:
    print(
        f"{'widths':>12} {'conn':>7} {'G':>3} {'hid':>4} "
        + " ".join(f"{m + ' MiB':>22}" for m in MODES)
        + "   median ratio vs KAN"
    )
    for widths, conn, G, hidden, med, ratios in rows:
        r = " ".join(f"{m}={ratios[m]:.3f}" for m in MODES if m != "kan")
        print(
            f"{'-'.join(map(str, widths)):>12} {conn:>7} {G:>3} {hidden:>4} "
            + " ".join(f"{med[m]:>22.2f}" for m in MODES)
            + f"   {r}",
            flush=True,
        )


def _step_ms(mode, G, args, steps: int = 5) -> float:
    model = build_model(mode, [784, 32, 10], G, args.hidden).to(args.device)
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(args.batch, 784, generator=g) * 2 - 1).to(args.device)
    y = torch.randint(0, 10, (args.batch,), generator=g).to(args.device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    times = []
    for _ in range(steps + 1):
        if args.device != "cpu":
            torch.cuda.synchronize()
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        if args.device != "cpu":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=32, help="meta-learner hidden size")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: unchanged)")
    ap.add_argument("--quick", action="store_true", help="only the G = 80 headline and the speed ratio")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(machine_summary())

    head = _median_rows([784, 32, 10], [80], args.hidden, args)
    print("== headline: [784, 32, 10], G = 80")
    _print(head)
    r = head[0][5]
    print(
        f"HEADLINE G=80 peak ratio vs KAN (median of {args.repeats}): "
        f"metakan-efficient={r['metakan-efficient']:.3f} (target <= 0.25), metakan-plain={r['metakan']:.3f}"
    )
    rows = list(head)
    if not args.quick:
        print("== curve 1: vs connections, [784, h, 10], G = 5")
        curve = [row for h in (8, 16, 32, 64) for row in _median_rows([784, h, 10], [5], args.hidden, args)]
        _print(curve)
        print("== curve 2: vs grid size, [784, 32, 10]")
        grid_curve = _median_rows([784, 32, 10], [5, 10, 20, 40, 80], args.hidden, args)
        _print(grid_curve)
        print("== curve 3: vs meta-learner hidden size, [784, 32, 10], G = 80")
        hid_curve = [row for hid in (16, 64, 256) for row in _median_rows([784, 32, 10], [80], hid, args)]
        _print(hid_curve)
        rows += curve + grid_curve + hid_curve
        falls = [r[5]["metakan-efficient"] for r in grid_curve if r[2] >= 10]
        print(
            f"efficient/KAN ratio falls with G from G=10 on: {all(a > b for a, b in zip(falls, falls[1:]))}"
        )
    ok = sum(r[4]["metakan-efficient"] <= r[4]["metakan"] for r in rows)
    print(f"memory-efficient <= plain MetaKAN in {ok} of {len(rows)} rows")
    print("== speed: median AdamW step (ms), [784, 32, 10], untracked")
    for G in (5, 80):
        ms = {m: statistics.median(_step_ms(m, G, args) for _ in range(args.repeats)) for m in MODES}
        print(
            f"G={G:>3}: kan {ms['kan']:.1f}  metakan-plain {ms['metakan']:.1f}  "
            f"metakan-efficient {ms['metakan-efficient']:.1f}  "
            f"efficient/plain = {ms['metakan-efficient'] / ms['metakan']:.2f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
