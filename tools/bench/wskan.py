"""WS-KAN cost benchmark.

1. Training-epoch time of WS-KAN over zoos of KANs [2, h, h, 1] for h in {16, 32, 64, 128} against the
   number of edges per KAN, with the fitted log-log exponent (the paper's claim: O(#edges), exponent 1).
   Every zoo holds the same number of graphs, large enough that fixed per-batch overheads do not dominate.
2. Graphs per second in training and inference (h = 32).
3. Mask-prediction time (one WS-KAN forward on one KAN) against oracle pruning time (mean |activation|
   of every edge over the training data) on the same classifier KANs [64, 16, 16, 10] and 8x8 digits
   (paper: 7.2 s vs 1.6e-4 s on MNIST, a ratio of ~4.5e4).

    python tools/bench/wskan.py [--graphs 64] [--repeats 3] [--threads 2] [--quick]

Prints medians of ``--repeats`` runs and the ratios measured in this run.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch


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
    ap.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64, 128])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.graphs, args.repeats, args.widths, args.hidden = 8, 1, [8, 16], 16

    from kan_ws import WSKAN
    from kan_ws.data import graph_template

    torch.manual_seed(0)
    print(
        f"# WS-KAN hidden={args.hidden} depth={args.depth}, {args.graphs} graphs/epoch, batch {args.batch_size}, "
        f"threads={torch.get_num_threads()}"
    )
    print(
        f"{'h':>5} {'edges/KAN':>10} {'train s/epoch':>14} {'infer s/epoch':>14} {'train graphs/s':>15} "
        f"{'infer graphs/s':>15}"
    )
    xs, ys = [], []
    for h in args.widths:
        spec, feats = _zoo_feats((2, h, h, 1), args.graphs)
        t = graph_template(spec)
        model = WSKAN(
            out_dim=2, hidden=args.hidden, depth=args.depth, dropout=0.0, edge_in=feats.shape[-1], node_in=1
        )
        epoch_time(model, t, feats[: args.batch_size], args.batch_size)  # warm-up
        tr = statistics.median(epoch_time(model, t, feats, args.batch_size) for _ in range(args.repeats))
        inf = statistics.median(
            epoch_time(model, t, feats, args.batch_size, train=False) for _ in range(args.repeats)
        )
        xs.append(math.log(t.num_edges))
        ys.append(math.log(tr))
        print(
            f"{h:>5} {t.num_edges:>10} {tr:>14.3f} {inf:>14.3f} {args.graphs / tr:>15.1f} {args.graphs / inf:>15.1f}"
        )
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / max(sum((x - mx) ** 2 for x in xs), 1e-12)
    print(f"fitted log-log exponent of epoch time vs #edges: {slope:.3f} (target 1.0 +- 0.1)")

    # mask prediction vs oracle pruning on the same classifier KANs
    from kan_core import KAN, KANSpec
    from kan_core.datasets import load_dataset
    from kan_core.prune import oracle_masks
    from kan_ws.data import edge_features, make_batch

    X, _ = load_dataset("digits", split="train")
    X = X.reshape(X.shape[0], -1).float()
    spec = KANSpec((64, 16, 16, 10), grid_size=5)
    predictor = WSKAN(
        out_dim=1,
        level="edge",
        hidden=args.hidden,
        depth=args.depth,
        dropout=0.0,
        edge_in=spec.edge_feature_dim,
        node_in=1,
    ).eval()
    tmpl = graph_template(spec)
    o_times, p_times = [], []
    for i in range(3):
        kan = KAN(spec, generator=torch.Generator().manual_seed(i))
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            oracle_masks(kan, X, 0.01)
            o_times.append(time.perf_counter() - t0)
        f = edge_features(
            spec, [{k: v.detach().unsqueeze(0) for k, v in p.items()} for p in kan.layer_params()]
        )
        b = make_batch(tmpl, f)
        with torch.no_grad():
            predictor(b)
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                torch.sigmoid(predictor(b))
                p_times.append(time.perf_counter() - t0)
    # amortised: one forward over a batch of --graphs KANs (how a zoo or a service would run it)
    fb = f.repeat(args.graphs, 1, 1)
    bb = make_batch(tmpl, fb)
    with torch.no_grad():
        predictor(bb)
        amort = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            torch.sigmoid(predictor(bb))
            amort.append((time.perf_counter() - t0) / args.graphs)
    pa = statistics.median(amort)
    o, p = statistics.median(o_times), statistics.median(p_times)
    print(
        f"amortised WS-KAN mask prediction in a batch of {args.graphs} KANs: {pa:.4g} s per KAN; "
        f"ratio {o / pa:.3g}x"
    )
    print(
        f"oracle pruning ({X.shape[0]} training images): {o:.4g} s per KAN; WS-KAN mask prediction: {p:.4g} s "
        f"per KAN; ratio {o / p:.3g}x (target >= 1e4; paper: 7.2 s / 1.6e-4 s = 4.5e4 on MNIST)"
    )


if __name__ == "__main__":
    main()
