"""WS-KAN cost benchmark.

1. Training-epoch time of WS-KAN over zoos of KANs [2, h, h, 1] for h in {16, 32, 64, 128} against the
   number of edges per KAN, with the fitted log-log exponent (the paper's claim: O(#edges), exponent 1).
   Every zoo holds the same number of graphs, large enough that fixed per-batch overheads do not dominate.
2. Graphs per second in training and inference (h = 32).
3. ``--compile``: training-epoch time of WS-KAN eager against the same model with its message-passing layers
   compiled (``WSKAN.compile_layers``, what ``kan repro wskan --compile`` does), interleaved round by round,
   on classifier graphs [784, 32, 32, 10] (26,432 edges, Tables 3-4); the median of the per-round ratios.
4. Mask-prediction time (one WS-KAN forward, alone or amortised in a batch) against oracle pruning time
   (every edge's activation over the whole training set) on the same classifier KANs: ``cpu`` scale is
   the demo's ([64, 16, 16, 10] on 8x8 digits), ``paper`` scale the paper's ([784, 32, 32, 10] on the
   60k Fashion-MNIST training images, WS-KAN hidden 128, depth 4); ``--pykan`` also times pykan's own
   oracle, which is what the paper timed (7.2 s vs 1.6e-4 s on MNIST, a ratio of ~4.5e4).

    python tools/bench/wskan.py [--graphs 64] [--repeats 3] [--threads 1] [--mask-scale cpu paper] [--pykan]
    python tools/bench/wskan.py --threads 1 --widths --mask-scale --compile --compile-graphs 16 --repeats 5

Prints medians of ``--repeats`` runs and the ratios measured in this run.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
from kan_core.native import machine_summary


def _zoo_feats(widths, num, seed=0):
    from kan_core import KAN, KANSpec
    from kan_ws.data import edge_features

    spec = KANSpec(tuple(widths), grid_size=10)
    kans = [KAN(spec, generator=torch.Generator().manual_seed(seed + i)) for i in range(min(num, 8))]
    layers = []
    for l in range(spec.depth):
        ps = [{k: v.detach() for k, v in kan.layer_params()[l].items()} for kan in kans]
        layers.append({k: torch.stack([p[k] for p in ps]) for k in ps[0]})
    f = edge_features(spec, layers)
    reps = math.ceil(num / f.shape[0])
    return spec, f.repeat(reps, 1, 1)[:num] * (1 + 0.01 * torch.randn(num, 1, 1))


def epoch_time(model, template, feats, batch_size, train=True):
    from kan_ws.data import make_batch

    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train(train)
    t0 = time.perf_counter()
    for s in range(0, feats.shape[0], batch_size):
        b = make_batch(template, feats[s : s + batch_size])
        if train:
            loss = model(b).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        else:
            with torch.no_grad():
                model(b)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graphs", type=int, default=64, help="graphs per epoch (same for every width)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--hidden", type=int, default=64, help="WS-KAN state width")
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument(
        "--widths", type=int, nargs="*", default=[16, 32, 64, 128], help="KAN widths h (none: skip part 1)"
    )
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    ap.add_argument(
        "--mask-scale",
        nargs="*",
        choices=sorted(MASK_SCALES),
        default=["cpu", "paper"],
        help="mask-prediction timing settings (paper: [784,32,32,10] on Fashion-MNIST's 60k images)",
    )
    ap.add_argument("--pykan", action="store_true", help="also time pykan's oracle (slow; needs pykan)")
    ap.add_argument("--compile", action="store_true", help="also time eager vs compiled WS-KAN training")
    ap.add_argument("--compile-graphs", type=int, default=16, help="classifier graphs per compile round")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(machine_summary())
    if args.quick:
        args.graphs, args.repeats, args.widths, args.hidden = 8, 1, [8, 16], 16

    from kan_ws import WSKAN
    from kan_ws.data import graph_template

    torch.manual_seed(0)
    if args.widths:
        print(
            f"# WS-KAN hidden={args.hidden} depth={args.depth}, {args.graphs} graphs/epoch, "
            f"batch {args.batch_size}, threads={torch.get_num_threads()}"
        )
        print(
            f"{'h':>5} {'edges/KAN':>10} {'train s/epoch':>14} {'infer s/epoch':>14} {'train graphs/s':>15} "
            f"{'infer graphs/s':>15}"
        )
    setups = []
    for h in args.widths:
        spec, feats = _zoo_feats((2, h, h, 1), args.graphs)
        t = graph_template(spec)
        model = WSKAN(
            out_dim=2, hidden=args.hidden, depth=args.depth, dropout=0.0, edge_in=feats.shape[-1], node_in=1
        )
        epoch_time(model, t, feats[: args.batch_size], args.batch_size)  # warm-up
        setups.append((h, t, model, feats))
    # widths interleaved within every repeat, so that load from other processes hits them alike
    train_t = {h: [] for h in args.widths}
    infer_t = {h: [] for h in args.widths}
    for _ in range(args.repeats):
        for h, t, model, feats in setups:
            train_t[h].append(epoch_time(model, t, feats, args.batch_size))
            infer_t[h].append(epoch_time(model, t, feats, args.batch_size, train=False))
    xs, ys = [], []
    for h, t, _, _ in setups:
        tr, inf = statistics.median(train_t[h]), statistics.median(infer_t[h])
        xs.append(math.log(t.num_edges))
        ys.append(math.log(tr))
        print(
            f"{h:>5} {t.num_edges:>10} {tr:>14.3f} {inf:>14.3f} {args.graphs / tr:>15.1f} {args.graphs / inf:>15.1f}"
        )
    n = len(xs)
    if n >= 2:
        mx, my = sum(xs) / n, sum(ys) / n
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / max(sum((x - mx) ** 2 for x in xs), 1e-12)
        print(f"fitted log-log exponent of epoch time vs #edges: {slope:.3f} (target 1.0 +- 0.1)")

    if args.compile:
        compile_timing(args.compile_graphs, args.batch_size, args.hidden, args.depth, args.repeats)
    for scale in args.mask_scale:
        mask_timing(scale, args.repeats, args.graphs, args.pykan)


def compile_timing(graphs: int, batch_size: int, hidden: int, depth: int, rounds: int) -> None:
    """Training-epoch time over ``graphs`` classifier KAN-graphs, eager vs compiled layers, interleaved."""
    import copy

    from kan_ws import WSKAN
    from kan_ws.data import graph_template

    spec, feats = _zoo_feats((784, 32, 32, 10), graphs)
    t = graph_template(spec)
    eager = WSKAN(out_dim=1, hidden=hidden, depth=depth, dropout=0.0, edge_in=feats.shape[-1], node_in=1)
    compiled = copy.deepcopy(eager)
    compiled.compile_layers()
    epoch_time(eager, t, feats[:batch_size], batch_size)  # warm-up
    t0 = time.perf_counter()
    epoch_time(compiled, t, feats[:batch_size], batch_size)  # compiles (training mode)
    first = time.perf_counter() - t0
    print(f"# compile: WS-KAN hidden {hidden} depth {depth}, {graphs} graphs of {t.num_edges} edges per "
          f"epoch, batch {batch_size}, threads {torch.get_num_threads()}; first compiled batch {first:.1f} s")  # fmt: skip
    print(f"{'round':>5} {'eager s':>9} {'compiled s':>11} {'eager/compiled':>15}")
    ratios = []
    for r in range(rounds):
        a = epoch_time(eager, t, feats, batch_size)
        b = epoch_time(compiled, t, feats, batch_size)
        ratios.append(a / b)
        print(f"{r:>5} {a:>9.3f} {b:>11.3f} {a / b:>15.2f}")
    print(f"median eager/compiled over {rounds} rounds: {statistics.median(ratios):.2f}")


MASK_SCALES = {
    # name: (dataset, KAN widths, grid, WS-KAN hidden, WS-KAN depth)
    "cpu": ("digits", (64, 16, 16, 10), 5, 32, 3),  # the demo's zoo and predictor
    "paper": ("fashion-mnist", (784, 32, 32, 10), 5, 128, 4),  # appendix C.2.1 zoo, C.3.2 predictor
}


def _median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def mask_timing(scale: str, repeats: int, graphs: int, with_pykan: bool) -> None:
    """Oracle pruning vs WS-KAN mask prediction on the same classifier KANs.

    The oracle needs a forward over the whole training set; WS-KAN one forward over the KAN-graph.
    Timed: our oracle (kan_core.prune, batched), optionally pykan's off-the-shelf oracle (the paper's:
    ``MultKAN`` forward over the training data in chunks of 4096, then ``attribute`` and ``prune_edge``),
    WS-KAN on one KAN, and WS-KAN amortised over a batch of ``graphs`` KANs.
    """
    from kan_core import KAN, KANSpec
    from kan_core.datasets import DatasetNotFoundError, load_dataset
    from kan_core.prune import oracle_masks
    from kan_ws import WSKAN
    from kan_ws.data import edge_features, graph_template, make_batch

    name, widths, grid, hidden, depth = MASK_SCALES[scale]
    try:
        X, _ = load_dataset(name, split="train")
    except DatasetNotFoundError as e:
        print(f"# mask timing at {scale} scale skipped: {e}")
        return
    X = X.reshape(X.shape[0], -1).float()
    spec = KANSpec(widths, grid_size=grid)
    kan = KAN(spec, generator=torch.Generator().manual_seed(0))
    tmpl = graph_template(spec)
    predictor = WSKAN(
        out_dim=1,
        level="edge",
        hidden=hidden,
        depth=depth,
        dropout=0.0,
        edge_in=spec.edge_feature_dim,
        node_in=1,
    ).eval()
    f = edge_features(spec, [{k: v.detach().unsqueeze(0) for k, v in p.items()} for p in kan.layer_params()])
    one = make_batch(tmpl, f)
    many = make_batch(tmpl, f.repeat(graphs, 1, 1))
    with torch.no_grad():
        predictor(one)  # warm-up (lazy shapes)
        t_ours = _median_time(lambda: oracle_masks(kan, X, 0.01), repeats)
        t_one = _median_time(lambda: torch.sigmoid(predictor(one)), repeats)
        t_many = _median_time(lambda: torch.sigmoid(predictor(many)), repeats) / graphs
    print(
        f"# mask timing, {scale} scale: KAN {list(widths)} G={grid} ({tmpl.num_edges} edges), oracle over "
        f"{X.shape[0]} {name} training images; WS-KAN hidden {hidden}, depth {depth}; threads "
        f"{torch.get_num_threads()}"
    )
    rows = [("oracle, kan_core (batched forward)", t_ours)]
    if with_pykan:
        try:
            from kan_core.interop.pykan import to_pykan

            pk = to_pykan(kan)
        except ImportError as e:
            print(f"# pykan oracle skipped: {e}")
        else:

            def pykan_oracle():
                with torch.no_grad():
                    for s in range(0, X.shape[0], 4096):
                        pk(X[s : s + 4096])
                pk.attribute(plot=False)
                pk.prune_edge(0.01, log_history=False)

            pk.save_act = True
            rows.append(("oracle, pykan 0.2.8 (paper's)", _median_time(pykan_oracle, max(1, repeats // 2))))
    print(f"{'method':<42} {'s per KAN':>11} {'oracle/this':>12}")
    for label, t in rows:
        print(f"{label:<42} {t:>11.4g}")
    for label, t in [("WS-KAN, one KAN per forward", t_one), (f"WS-KAN, batch of {graphs} KANs", t_many)]:
        ratios = " ".join(f"{r[1] / t:>12.3g}" for r in rows)
        print(f"{label:<42} {t:>11.4g} {ratios}")
    print("(target >= 1e4; paper: pykan oracle 7.2 s vs WS-KAN 1.6e-4 s on MNIST, a ratio of 4.5e4)")


if __name__ == "__main__":
    main()
