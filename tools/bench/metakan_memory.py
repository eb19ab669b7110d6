"""Peak training memory: KAN vs MetaKAN (plain and memory-efficient) vs connections and vs grid size G.

Measured with ``kan_core.runtime.track_peak_memory`` (CUDA allocator peak on GPU; on CPU its documented
tensor-storage substitute) over two AdamW steps, plus the bytes of parameters and buffers. Prints each
figure as a ratio to the plain KAN measured in the same run; the headline is the ratio at G = 80 on
[784, 32, 10], batch 128 (target: MetaKAN <= 0.3x KAN). ``--repeats`` runs give the median.

    python tools/bench/metakan_memory.py [--device cpu] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import statistics

import torch
from kan_metakan.memory import MODES, memory_rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=32, help="meta-learner hidden size")
    ap.add_argument("--quick", action="store_true", help="only the G = 80 headline")
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    configs = [([784, 32, 10], [80])]
    if not args.quick:
        configs = [([784, h, 10], [5]) for h in (8, 16, 32, 64)] + [([784, 32, 10], [20, 40, 80])]
    print(
        f"{'widths':>12} {'conn':>7} {'G':>3} "
        + " ".join(f"{m + ' MiB':>22}" for m in MODES)
        + "   ratios vs KAN"
    )
    for widths, grids in configs:
        runs = [
            memory_rows(
                widths_list=[widths],
                grid_sizes=grids,
                hidden=args.hidden,
                batch=args.batch,
                device=args.device,
                seed=r,
            )
            for r in range(args.repeats)
        ]
        for i, G in enumerate(grids):
            med = {m: statistics.median(run[i][f"{m}_MiB"] for run in runs) for m in MODES}
            ratios = " ".join(f"{m}={med[m] / med['kan']:.3f}" for m in MODES if m != "kan")
            print(
                f"{'-'.join(map(str, widths)):>12} {runs[0][i]['connections']:>7} {G:>3} "
                + " ".join(f"{med[m]:>22.2f}" for m in MODES)
                + f"   {ratios}"
            )


if __name__ == "__main__":
    main()
