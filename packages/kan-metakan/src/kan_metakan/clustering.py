"""Layer clustering for deep MetaKANs (the paper's Algorithm 2), deterministic.

Algorithm 2 runs k-means on the per-layer output-channel sizes ``n = [n_1, ..., n_L]`` and returns, for
every cluster ``c``, the interval ``(min L_c, max L_c)`` of the layers it holds. Lloyd's k-means depends on
its random start; in one dimension the *optimal* k-means partition is computable exactly: its clusters are
contiguous runs of the sorted values, so a dynamic programme over the sorted list minimises the
within-cluster sum of squares. We use that, so the result is deterministic and optimal.

Ties: values are sorted stably by (size, layer index); among partitions of equal cost the DP keeps the
one whose last split is earliest (strict ``<``). When ``C`` exceeds the number of distinct sizes (the paper
uses C = 7 on eight layers with five sizes) equal sizes are split into runs of consecutive layers, so every
cluster is non-empty. Clusters are numbered by their first layer.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "kmeans_1d",
    "cluster_layers",
    "cluster_intervals",
    "PAPER_4_LAYER_CHANNELS",
    "PAPER_8_LAYER_CHANNELS",
]

#: Channel progressions of the paper's KA-conv networks (section 4.2.1). The 8-layer list is printed as
#: ``[2, 64, ...]`` in the paper text (the first entry may have lost a digit in extraction: 32); both
#: spellings give the same clusters for C = 1, 3, 5.
PAPER_4_LAYER_CHANNELS: tuple[int, ...] = (32, 64, 128, 512)
PAPER_8_LAYER_CHANNELS: tuple[int, ...] = (2, 64, 128, 512, 1024, 1024, 1024, 1024)


def kmeans_1d(values: Sequence[float], k: int) -> list[int]:
    """Exact (globally optimal) 1-D k-means; returns a label in ``0..k-1`` per value.

    Labels are ordered by the first index (layer) of each cluster.
    """
    n = len(values)
    if not 1 <= k <= n:
        raise ValueError(f"number of clusters must be in 1..{n} (one per layer at most), got {k}")
    order = sorted(range(n), key=lambda i: (float(values[i]), i))
    v = [float(values[i]) for i in order]
    pre, pre2 = [0.0], [0.0]
    for x in v:
        pre.append(pre[-1] + x)
        pre2.append(pre2[-1] + x * x)

    def sse(a: int, b: int) -> float:  # values v[a:b]
        s, s2, m = pre[b] - pre[a], pre2[b] - pre2[a], b - a
        return max(0.0, s2 - s * s / m)

    inf = float("inf")
    cost = [[inf] * (n + 1) for _ in range(k + 1)]
    arg = [[0] * (n + 1) for _ in range(k + 1)]
    cost[0][0] = 0.0
    for c in range(1, k + 1):
        for b in range(c, n + 1):
            for a in range(c - 1, b):
                val = cost[c - 1][a] + sse(a, b)
                if val < cost[c][b] - 1e-9 * max(1.0, abs(val)):
                    cost[c][b], arg[c][b] = val, a
    sorted_labels = [0] * n
    b = n
    for c in range(k, 0, -1):
        a = arg[c][b]
        for t in range(a, b):
            sorted_labels[t] = c - 1
        b = a
    raw = [0] * n
    for pos, i in enumerate(order):
        raw[i] = sorted_labels[pos]
    first: dict[int, int] = {}
    for i, lab in enumerate(raw):
        first.setdefault(lab, i)
    rank = {lab: r for r, lab in enumerate(sorted(first, key=first.__getitem__))}
    return [rank[lab] for lab in raw]


def cluster_layers(out_channels: Sequence[int], clusters: int) -> list[int]:
    """Algorithm 2's labels: cluster index of every layer from its output-channel size."""
    return kmeans_1d([float(c) for c in out_channels], clusters)


def cluster_intervals(out_channels: Sequence[int], clusters: int) -> list[tuple[int, int]]:
    """Algorithm 2's output: ``[(l_start, l_end)]`` per cluster (inclusive, 0-based layer indices)."""
    labels = cluster_layers(out_channels, clusters)
    out = []
    for c in range(clusters):
        members = [l for l, lab in enumerate(labels) if lab == c]
        out.append((min(members), max(members)))
    return out
