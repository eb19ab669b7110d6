"""The same workload on two revisions of this repository, interleaved round by round (a regression check).

Times the paths above kan-core's layers that the zoo format and the kan-graph/kan-ws split go through:
``stacked_to_graphs``, ``make_batch``, ``merge_many``, ``train_stacked``, ``load_zoo`` and the
"MLP + Align." feature alignment. Each round runs one fresh interpreter per revision (alternating which
goes first), with ``PYTHONPATH`` pointing at that revision's package sources and 1 torch thread; the
figure is the median over rounds of the per-round ratio ``HEAD / base``::

    python tools/bench/revisions.py --base e5e23a5 --rounds 6

``--base`` is checked out as a temporary git worktree (removed at the end); the zoo that ``load_zoo`` and
the alignment read is a 200-model ``sine-cpu`` zoo built once by the working tree's code.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("kan-core", "kan-graph", "kan-ws", "kan-metakan")


def workload(zoo: str) -> dict[str, float]:
    """Median seconds of every timed path, in this interpreter's revision."""
    import time

    import torch
    from kan_core import KANSpec
    from kan_core.batched import init_stacked, train_stacked
    from kan_graph import merge_many, stacked_to_graphs
    from kan_ws.data import edge_features, graph_template, make_batch
    from kan_ws.tasks import align_features, make_task
    from kan_ws.zoo import load_zoo

    torch.set_num_threads(1)

    def timed(fn, reps: int) -> float:
        out = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
        return statistics.median(out)

    def layers_of(stacked):
        return stacked.layers if hasattr(stacked, "layers") else stacked

    res: dict[str, float] = {}
    spec = KANSpec((2, 32, 32, 1), grid_size=30)
    layers = layers_of(init_stacked(spec, 256, list(range(256))))
    res["stacked_to_graphs, 256 KANs [2,32,32,1] G=30"] = timed(lambda: stacked_to_graphs(spec, layers), 5)
    feats = edge_features(spec, [{k: v[:64] for k, v in p.items()} for p in layers])
    template = graph_template(spec)
    res["make_batch, 64 graphs"] = timed(lambda: make_batch(template, feats), 50)
    spec16 = KANSpec((2, 16, 16, 1), grid_size=10)
    l16 = layers_of(init_stacked(spec16, 64, list(range(64))))
    res["merge_many, 64 KANs [2,16,16,1]"] = timed(lambda: merge_many(spec16, l16, seed=0, chunk_size=16), 3)
    lin = torch.linspace(-1, 1, 16)
    a, b = torch.meshgrid(lin, lin, indexing="ij")
    x = torch.stack([a.reshape(-1), b.reshape(-1)], 1)
    y = torch.sin(5 * torch.rand(32, 2, generator=torch.Generator().manual_seed(0)) @ x.T).unsqueeze(-1)
    s10 = KANSpec((2, 32, 32, 1), grid_size=10)
    res["train_stacked, 32 KANs G=10, 40 steps"] = timed(
        lambda: train_stacked(
            s10, x, y, seeds=list(range(32)), steps=40, lr=0.01, batch_size=128, device="cpu"
        ),
        3,
    )
    res["load_zoo, 200 sine KANs"] = timed(lambda: load_zoo(zoo), 5)
    data = make_task("sine", load_zoo(zoo))
    res["align_features (MLP + Align.), 200 KANs"] = timed(lambda: align_features(data), 2)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, help="git revision to compare the working tree with")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--zoo", default=None, help="a sine zoo folder (default: build one in a temp folder)")
    ap.add_argument("--_work", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._work:
        print(json.dumps(workload(args._work)))
        return
    from kan_core.native import machine_summary

    print(machine_summary(1))  # the workloads run on 1 thread
    with tempfile.TemporaryDirectory(prefix="kan-bench-") as tmp:
        base = Path(tmp) / "base"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(base), args.base], check=True
        )
        try:
            zoo = args.zoo
            if zoo is None:
                from kan_ws.zoo import build_zoo

                zoo = str(build_zoo("sine-cpu", Path(tmp) / "zoo", models=200, device="cpu"))
            trees = {"base": base, "head": ROOT}
            ratios: dict[str, list[float]] = {}
            times: dict[str, dict[str, list[float]]] = {"base": {}, "head": {}}
            for r in range(args.rounds):
                got = {}
                for name in ("base", "head") if r % 2 == 0 else ("head", "base"):
                    src = ":".join(str(trees[name] / "packages" / p / "src") for p in PACKAGES)
                    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=src)
                    out = subprocess.run([sys.executable, __file__, "--base", args.base, "--_work", zoo], env=env,
                                         capture_output=True, text=True, check=True).stdout  # fmt: skip
                    got[name] = json.loads(out.strip().splitlines()[-1])
                for k in got["head"]:
                    ratios.setdefault(k, []).append(got["head"][k] / got["base"][k])
                    for name in got:
                        times[name].setdefault(k, []).append(got[name][k])
                print(f"round {r + 1}/{args.rounds} done", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
    print(
        f"\n| path | {args.base} s | HEAD s | HEAD / base, median of per-round ratios (range) |\n|---|---|---|---|"
    )
    for k, v in ratios.items():
        print(f"| {k} | {statistics.median(times['base'][k]):.4g} | {statistics.median(times['head'][k]):.4g} | "
              f"**{statistics.median(v):.3f}** ({min(v):.3f}-{max(v):.3f}) |")  # fmt: skip


if __name__ == "__main__":
    main()
