"""WS-KAN reads zoos of any basis: sine-frequency regression on zoos that differ only in their basis.

Builds the ``sine-cpu`` preset with ``--models`` KANs once per basis (B-spline G=10, RBF with 10 centres,
Chebyshev degree 8 and 3), trains WS-KAN on each with the same settings and seeds, and prints test R² per
seed, their mean, and the zoo's own mean fit MSE (how well that basis' KANs fit their sines)::

    python tools/mixed_basis.py --out runs/mixed-basis --models 200 --epochs 30 --batch-size 16 --seeds 0 1 2

Zoos are built under ``--out`` (resumed when present); the table is printed and written to
``--out/mixed_basis.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

BASES = {
    "B-spline G=10": ("bspline", {}),
    "RBF, 10 centres": ("rbf", {"grid_size": 10}),
    "Chebyshev degree 8": ("chebyshev", {"degree": 8}),
    "Chebyshev degree 3": ("chebyshev", {"degree": 3}),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("runs/mixed-basis"))
    ap.add_argument("--models", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import torch
    from kan_ws.tasks import run_experiment
    from kan_ws.train import TrainConfig
    from kan_ws.zoo import build_zoo, load_zoo, with_basis

    torch.set_num_threads(args.threads)
    rows = []
    for label, (basis, kw) in BASES.items():
        folder = args.out / f"sine-{basis}-{'-'.join(f'{k}{v}' for k, v in kw.items()) or 'default'}"
        build_zoo(with_basis("sine-cpu", basis, **kw), folder, models=args.models, device="cpu")
        zoo = load_zoo(folder)
        fit = statistics.fmean(m["final_mse"] for m in zoo.meta)
        r2 = []
        for seed in args.seeds:
            cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size)
            _, _, res = run_experiment(
                "sine", zoo, "wskan", seed=seed, train_cfg=cfg, model_cfg={"hidden": args.hidden, "depth": args.depth}
            )
            r2.append(float(res["metrics"]["r2"]))
        rows.append({"zoo": label, "r2": r2, "mean_r2": statistics.fmean(r2), "zoo_fit_mse": fit})
        print(f"| {label} | {' / '.join(f'{v:.3f}' for v in r2)} | **{rows[-1]['mean_r2']:.3f}** | {fit:.1e} |",
              flush=True)
    (args.out / "mixed_basis.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                            "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
