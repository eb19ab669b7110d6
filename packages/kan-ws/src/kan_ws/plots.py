"""Result tables and figures (matplotlib, Agg backend; PNG files).

* :func:`results_table` - a paper-style table: one block per (task, zoo, training-set size), one row per
  method in the paper's order, ``mean +- std`` over seeds for every metric.
* :func:`plot_pruning` - the paper's figure 5: accuracy and kept-weight fraction of pruned classifiers per
  label-noise bin for every method, the oracle and the unpruned models, and oracle vs predicted time.
* :func:`plot_sine_curve` - test MSE against the number of training INRs (paper figure 8).
* :func:`plot_ood` - metric against the hidden width of the input KANs (paper table 2 as a curve).
* :func:`plot_learning_curves` - training loss and validation score per epoch of every ``kan ws train`` run.
* :func:`plot_results` - test metrics per method (mean +- std over seeds), one panel per task and metric.
* :func:`results_records` / :func:`write_table` - the table of :func:`results_table` as flat records, written
  as Markdown, CSV or JSON.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kan_core.io import write_figure

from .metrics import mean_std
from .models import REGISTRY, method_names
from .task_kinds import TASK_REGISTRY

__all__ = [
    "METHOD_ORDER",
    "collect_results",
    "results_table",
    "plot_pruning",
    "plot_sine_curve",
    "plot_ood",
    "plot_learning_curves",
    "plot_results",
    "plot_all",
    "results_records",
    "write_table",
]

METHOD_ORDER = method_names()
_METRICS = {name: t.metrics for name, t in TASK_REGISTRY.items()}
_ARROW = {"accuracy": "^", "r2": "^", "roc_auc": "^", "mse": "v"}


def _display(method: str) -> str:
    return REGISTRY[method].display if method in REGISTRY else method


def _check_result(path: Path, d: dict[str, Any]) -> None:
    """A run-result JSON has string task/method and metrics mapping names to numbers (or null)."""
    for key in ("task", "method"):
        if not isinstance(d[key], str):
            raise ValueError(f"{path}: {key!r} must be a string, got {type(d[key]).__name__}")
    metrics = d["metrics"]
    if not isinstance(metrics, dict):
        raise ValueError(
            f"{path}: 'metrics' must be an object of metric name -> number, got {type(metrics).__name__}"
        )
    bad = [k for k, v in metrics.items() if isinstance(v, (str, bool))]
    if bad:
        raise ValueError(f"{path}: metric {bad[0]!r} must be a number or null, got {metrics[bad[0]]!r}")


def collect_results(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Every run-result JSON (keys task/method/seed/metrics) in ``paths`` (files or folders, recursive).

    Reruns of one run (``kan ws train`` writes ``STEM-run2.json`` beside ``STEM.json``) count once: of
    results with the same task, zoo, training-set size, method and seed the newest file is kept."""
    found: dict[tuple, tuple[float, dict[str, Any]]] = {}
    for p in paths:
        p = Path(p)
        files = sorted(p.rglob("*.json")) if p.is_dir() else [p]
        for f in files:
            try:
                d = json.loads(f.read_text())
                mtime = f.stat().st_mtime
            except (OSError, json.JSONDecodeError):
                continue
            if isinstance(d, dict) and {"task", "method", "metrics"} <= set(d):
                _check_result(f, d)
                key = (d["task"], str(d.get("zoo", "")), d.get("train_size"), d["method"], d.get("seed"), str(f)
                       if d.get("seed") is None else "")  # fmt: skip
                if key not in found or mtime >= found[key][0]:
                    found[key] = (mtime, d)
    return [d for _, d in found.values()]


def _fmt(m: float, s: float) -> str:
    if math.isnan(m):
        return "n/a"
    scale = 1.0 if abs(m) >= 0.01 or m == 0 else 1.0
    return f"{m * scale:.4g} +- {s * scale:.2g}"


def results_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table(s), mean +- std over seeds; methods in the paper's order."""
    blocks: dict[tuple, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        key = (r["task"], Path(str(r.get("zoo", ""))).name, int(r.get("train_size") or 0))
        blocks[key][r["method"]].append(r)
    out = []
    for (task, zoo, n), by_method in sorted(blocks.items()):
        metrics = _METRICS.get(task, tuple(next(iter(by_method.values()))[0]["metrics"]))
        head = f"### {task}" + (f" on {zoo}" if zoo else "") + (f" (train n={n})" if n else "")
        cols = " | ".join(f"{m} ({_ARROW.get(m, '')})" for m in metrics)
        lines = [head, "", f"| method | seeds | {cols} |", "|---|---|" + "---|" * len(metrics)]
        order = [m for m in METHOD_ORDER if m in by_method] + sorted(set(by_method) - set(METHOD_ORDER))
        for m in order:
            rs = by_method[m]
            cells = []
            for k in metrics:
                vals = [
                    float(r["metrics"].get(k)) if r["metrics"].get(k) is not None else math.nan for r in rs
                ]
                cells.append(_fmt(*mean_std(vals)))
            lines.append(f"| {_display(m)} | {len(rs)} | " + " | ".join(cells) + " |")
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


def _blocks(rows: list[dict[str, Any]]) -> dict[tuple, dict[str, list[dict]]]:
    """``(task, zoo name, train size) -> method -> runs``."""
    blocks: dict[tuple, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        key = (r["task"], Path(str(r.get("zoo", ""))).name, int(r.get("train_size") or 0))
        blocks[key][r["method"]].append(r)
    return blocks


def _method_order(methods: Iterable[str]) -> list[str]:
    methods = set(methods)
    return [m for m in METHOD_ORDER if m in methods] + sorted(methods - set(METHOD_ORDER))


def _metric_values(runs: list[dict[str, Any]], key: str) -> list[float]:
    return [float(r["metrics"][key]) if r["metrics"].get(key) is not None else math.nan for r in runs]


def results_records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The table as flat records: ``task, zoo, train_size, method, seeds, <metric>_mean, <metric>_std``."""
    records = []
    for (task, zoo, n), by_method in sorted(_blocks(rows).items()):
        metrics = _METRICS.get(task, tuple(next(iter(by_method.values()))[0]["metrics"]))
        for m in _method_order(by_method):
            rec: dict[str, Any] = {
                "task": task,
                "zoo": zoo,
                "train_size": n,
                "method": m,
                "seeds": len(by_method[m]),
            }
            for k in metrics:
                mean, std = mean_std(_metric_values(by_method[m], k))
                rec[f"{k}_mean"], rec[f"{k}_std"] = mean, std
            records.append(rec)
    return records


def write_table(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Write the results table to ``path`` in the format its suffix names: ``.md``, ``.csv`` or ``.json``.

    CSV has one line per (task, zoo, train size, method) and the union of the metric columns (empty where
    a task has no such metric); JSON is the list of :func:`results_records` (NaN as null).
    """
    import csv
    import io

    from kan_core.io import atomic_write_bytes

    path = Path(path)
    if path.suffix == ".md":
        text = results_table(rows)
    elif path.suffix == ".json":
        records = [
            {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in results_records(rows)
        ]
        text = json.dumps(records, indent=2) + "\n"
    elif path.suffix == ".csv":
        records = results_records(rows)
        fields = list(dict.fromkeys(k for r in records for k in r))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(records)
        text = buf.getvalue()
    else:
        raise ValueError(f"{path}: a results table is written as .md, .csv or .json")
    atomic_write_bytes(path, text.encode())
    return path


def _pct(values: list[float | None]) -> list[float]:
    """Percentages; ``None`` (NaN written to JSON as null, e.g. an empty noise bin) becomes NaN."""
    return [math.nan if v is None else 100.0 * v for v in values]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_pruning(pruning: dict[str, Any], path: str | Path, timing: dict[str, float] | None = None) -> Path:
    """Figure 5 of the paper from :func:`kan_ws.tasks.downstream_pruning` output (averaged over seeds)."""
    plt = _plt()
    bins = pruning["bins"]
    centers = [(a + b) / 2 * 100 for a, b in zip(bins[:-1], bins[1:])]
    ncols = 3 if timing else 2
    fig, axes = plt.subplots(1, ncols, figsize=(5 * ncols, 4))
    for name, r in pruning["methods"].items():
        style = {"original": "k--", "oracle": "k-"}.get(name, "o-")
        label = {"original": "Original KAN", "oracle": "Oracle prune"}.get(name, _display(name))
        axes[0].plot(centers, _pct(r["accuracy_binned"]), style, label=label)
        if name != "original":
            axes[1].plot(centers, _pct(r["kept_binned"]), style, label=label)
    chance = 100.0 / pruning.get("num_classes", 10)
    axes[0].axhline(chance, color="grey", ls=":", label="Random classifier")
    for ax, yl, t in (
        (axes[0], "Test accuracy (%)", "(a) Downstream prune accuracy"),
        (axes[1], "Weights kept (%)", "(b) Kept weights"),
    ):
        ax.set_xlabel("Noisy labels (%)")
        ax.set_ylabel(yl)
        ax.set_title(t)
        ax.set_xlim(0, 100)
    axes[0].legend(fontsize=7)
    if timing:
        ax = axes[2]
        vals = [timing["oracle_seconds"], timing["predict_seconds"]]
        ax.bar(["Oracle prune", "WS-KAN"], vals, color=["grey", "tab:blue"])
        ax.set_yscale("log")
        for i, v in enumerate(vals):
            ax.text(i, v, f"{v:.2g} s", ha="center", va="bottom")
        ax.set_ylabel("Time (s, log scale)")
        ax.set_title(f"(c) Prune timing ({timing['oracle_seconds'] / timing['predict_seconds']:.0f}x)")
    fig.tight_layout()
    write_figure(fig, path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_sine_curve(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Test MSE on frequency regression against the training-set size, per method (mean +- std)."""
    plt = _plt()
    data: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r["task"] == "sine":
            data[r["method"]][int(r["train_size"])].append(float(r["metrics"]["mse"]))
    fig, ax = plt.subplots(figsize=(6, 4))
    for m in [m for m in METHOD_ORDER if m in data]:
        ns = sorted(data[m])
        ms = [mean_std(data[m][n]) for n in ns]
        ax.errorbar(ns, [a for a, _ in ms], yerr=[s for _, s in ms], marker="o", capsize=3, label=_display(m))
    ax.set_yscale("log")
    ax.set_xlabel("Number of train samples")
    ax.set_ylabel("MSE (log scale)")
    ax.set_title("Sine-wave INRs: frequency regression")
    ax.legend(fontsize=7)
    fig.tight_layout()
    write_figure(fig, path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_ood(ood: dict[str, dict[str, list[dict[str, float]]]], path: str | Path, metric: str) -> Path:
    """``ood[method][h] = [metrics per seed]`` -> metric against hidden width ``h``."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for m, by_h in ood.items():
        hs = sorted(by_h, key=int)
        ms = [mean_std([float(d[metric]) for d in by_h[h]]) for h in hs]
        ax.errorbar(
            [int(h) for h in hs],
            [a for a, _ in ms],
            yerr=[s for _, s in ms],
            marker="o",
            capsize=3,
            label=_display(m),
        )
    ax.set_xlabel("Hidden width h of the input KANs (trained on the smallest)")
    ax.set_ylabel(metric)
    ax.set_title("Out-of-distribution generalisation to wider KANs")
    ax.legend(fontsize=7)
    fig.tight_layout()
    write_figure(fig, path, dpi=120)
    plt.close(fig)
    return Path(path)


def _save(fig: Any, plt: Any, path: str | Path) -> Path:
    fig.tight_layout()
    write_figure(fig, path, dpi=120)
    plt.close(fig)
    return Path(path)


def _run_label(r: dict[str, Any]) -> str:
    n = f" n={r['train_size']}" if r.get("train_size") else ""
    return f"{_display(r['method'])} s{r.get('seed', 0)}{n}"


def plot_learning_curves(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Per task (one column each): training loss (top) and the validation score (bottom) against the epoch,
    one line per run that recorded a ``history`` (every ``kan ws train`` run does)."""
    plt = _plt()
    by_task: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        if r.get("history"):
            by_task[r["task"]].append(r)
    if not by_task:
        raise ValueError("no run with a training history (the 'history' of kan ws train's result JSON)")
    tasks = sorted(by_task)
    fig, axes = plt.subplots(2, len(tasks), figsize=(5 * len(tasks), 7), squeeze=False)
    for c, task in enumerate(tasks):
        order = _method_order({r["method"] for r in by_task[task]})
        runs = sorted(
            by_task[task], key=lambda r: (order.index(r["method"]), r.get("seed", 0), _run_label(r))
        )
        for r in runs:
            shift = 1 if r["history"][0]["epoch"] == 0 else 0  # a result file from when epochs counted from 0
            epochs = [h["epoch"] + shift for h in r["history"]]
            axes[0][c].plot(
                epochs, [h["train_loss"] for h in r["history"]], marker="o", ms=3, label=_run_label(r)
            )
            axes[1][c].plot(epochs, [h["val"] for h in r["history"]], marker="o", ms=3, label=_run_label(r))
        axes[0][c].set_title(f"{task}: training loss")
        axes[0][c].set_yscale("log")
        axes[1][c].set_title(f"{task}: validation {runs[0].get('val_metric', 'score')}")
        for ax in (axes[0][c], axes[1][c]):
            ax.set_xlabel("epoch")
            ax.legend(fontsize=6)
    return _save(fig, plt, path)


def plot_results(rows: list[dict[str, Any]], path: str | Path) -> Path:
    """Bars of every test metric per method (mean +- std over seeds), one panel per (task, zoo, n, metric)."""
    plt = _plt()
    panels = []
    for (task, zoo, n), by_method in sorted(_blocks(rows).items()):
        for k in _METRICS.get(task, tuple(next(iter(by_method.values()))[0]["metrics"])):
            panels.append(
                (f"{task}" + (f" on {zoo}" if zoo else "") + (f" (n={n})" if n else ""), k, by_method)
            )
    if not panels:
        raise ValueError("no run results to plot")
    cols = min(3, len(panels))
    nrows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(5 * cols, 3.6 * nrows), squeeze=False)
    for ax, (title, k, by_method) in zip([a for row in axes for a in row], panels):
        order = _method_order(by_method)
        stats = [mean_std(_metric_values(by_method[m], k)) for m in order]
        ax.bar(
            range(len(order)), [s[0] for s in stats], yerr=[s[1] for s in stats], capsize=3, color="tab:blue"
        )
        ax.set_xticks(range(len(order)), [_display(m) for m in order], rotation=30, ha="right", fontsize=7)
        ax.set_title(f"{title}: {k} ({_ARROW.get(k, '')})", fontsize=9)
    for ax in [a for row in axes for a in row][len(panels) :]:
        ax.axis("off")
    return _save(fig, plt, path)


def plot_all(results: str | Path, out: str | Path) -> list[Path]:
    """Every figure whose inputs exist under ``results``: results.png and learning_curves.png from the run
    JSONs of ``kan ws train``, pruning.png (pruning.json), sine_curve.png (a sine sweep), ood.png (ood.json)."""
    results, out = Path(results), Path(out)
    written = []
    runs = collect_results([results])
    if runs:
        written.append(plot_results(runs, out / "results.png"))
    if any(r.get("history") for r in runs):
        written.append(plot_learning_curves(runs, out / "learning_curves.png"))
    pr = results / "pruning.json"
    if pr.is_file():
        d = json.loads(pr.read_text())
        written.append(plot_pruning(d["pruning"], out / "pruning.png", d.get("timing")))
    rows = collect_results([results])
    if len({int(r.get("train_size") or 0) for r in rows if r["task"] == "sine"}) > 1:
        written.append(plot_sine_curve(rows, out / "sine_curve.png"))
    ood = results / "ood.json"
    if ood.is_file():
        d = json.loads(ood.read_text())
        written.append(plot_ood(d["results"], out / "ood.png", d["metric"]))
    return written
