"""Benchmark kan-graph: KAN-graph conversion of a zoo shard and MergeMany alignment.

1. KAN-graphs per second for a stacked [2,32,32,1] G=30 k=3 zoo shard (default 512 models):
   vectorised ``stacked_to_graphs`` vs a per-model loop of ``to_graph`` + ``Batch.from_data_list``
   (both give the same Batch; checked), and the ratio. Also the functional encoding (vectorised).
2. Wall time of ``merge_many`` on 1000 such models (random initialisations; timing only), and of
   ``align_stacked`` of the 1000 models to the resulting reference.

Median of ``--repeats`` runs. Usage::

    python tools/bench/graph.py [--models 512] [--merge-models 1000] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from kan_core import KANSpec
from kan_core.batched import init_stacked
from kan_core.native import machine_summary
from kan_graph import align_stacked, merge_many, stacked_to_graphs, to_graph
from torch_geometric.data import Batch


def _median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _kans(spec: KANSpec, layers, m: int):
    from kan_core import KAN

    out = []
    for i in range(m):
        k = KAN(spec, generator=torch.Generator().manual_seed(0))
        k.load_layer_params([{n: v[i] for n, v in p.items()} for p in layers])
        out.append(k)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", type=int, default=512)
    ap.add_argument("--merge-models", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--merge-repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(machine_summary())
    spec = KANSpec((2, 32, 32, 1), grid_size=30, spline_order=3)
    m = args.models
    layers = init_stacked(spec, m, list(range(m)))
    kans = _kans(spec, layers, m)
    print(
        f"spec {list(spec.widths)} G={spec.grid_size} k={spec.spline_order}; {m} models; threads={args.threads}"
    )

    t_vec, fast = _median_time(lambda: stacked_to_graphs(spec, layers), args.repeats)
    t_loop, slow = _median_time(lambda: Batch.from_data_list([to_graph(k) for k in kans]), args.repeats)
    same = all(torch.equal(fast[k], slow[k]) for k in slow.keys() if isinstance(slow[k], torch.Tensor))
    print(f"convert raw, vectorised stacked_to_graphs : {t_vec * 1e3:8.1f} ms  {m / t_vec:10.0f} graphs/s")
    print(f"convert raw, loop to_graph+from_data_list : {t_loop * 1e3:8.1f} ms  {m / t_loop:10.0f} graphs/s")
    print(f"ratio vectorised/loop                     : {t_loop / t_vec:8.1f}x  (identical batches: {same})")
    t_fun, _ = _median_time(
        lambda: stacked_to_graphs(spec, layers, encoding="functional", num_points=32), args.repeats
    )
    print(f"convert functional (32 points), vectorised: {t_fun * 1e3:8.1f} ms  {m / t_fun:10.0f} graphs/s")

    n = args.merge_models
    zoo = init_stacked(spec, n, list(range(10_000, 10_000 + n)))
    t_mm, res = _median_time(
        lambda: merge_many(spec, zoo, max_models=1000, tol=1e-3, seed=0), args.merge_repeats
    )
    print(
        f"merge_many on {n} models (tol 1e-3)     : {t_mm:8.2f} s  ({res.rounds} rounds, converged={res.converged})"
    )
    t_al, _ = _median_time(lambda: align_stacked(spec, res.reference, zoo), args.merge_repeats)
    print(f"align_stacked of {n} models to reference : {t_al:8.2f} s  ({n / t_al:.0f} models/s)")


if __name__ == "__main__":
    main()
