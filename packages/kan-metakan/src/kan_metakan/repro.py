"""``kan repro metakan``: the MetaKAN paper's experiments as resumable stages, tables beside its numbers.

=========  ===========================================================  ==========
stage      runs (one work item = one row)                               paper
=========  ===========================================================  ==========
feynman    :func:`~kan_metakan.tasks.feynman.run_feynman` per (eq, G)   Table 2
highdim    :func:`~kan_metakan.tasks.highdim.run_highdim` per (f, n)    Table 4
images     :func:`~kan_metakan.tasks.images.run_images` per (ds, h, G)  Table 5
conv       :func:`~kan_metakan.tasks.images.run_conv` per kind          Table 3
pde        :func:`~kan_metakan.tasks.pde.run_pde` per (eq, d)           Table 8
memory     :func:`~kan_metakan.memory.memory_rows`                      Figure 4
=========  ===========================================================  ==========

Scales: ``tiny`` (CI smoke run, seconds per stage), ``cpu`` (the ``kan metakan`` commands' CPU defaults,
about an hour on 2 cores), ``paper`` (the paper's sizes). With a budget, a stage runs its items in order
and stops before an item it has no time left for (estimated from the slowest item so far); the items not
run are listed as cuts. Training settings are the ``kan metakan`` defaults, tuned on validation runs
documented in the task modules; these stages do not search a grid.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from kan_core.repro import Stage, StageContext, pipeline_command, write_stage_report

from .experiments import CONV, PDE

__all__ = ["metakan", "STAGES", "make_plan", "build_tables", "paper_numbers"]

SCALES = ("tiny", "cpu", "paper")


def _available(name: str) -> bool:
    from kan_core.datasets import DatasetNotFoundError, load_dataset

    try:
        load_dataset(name, split="test")
    except (DatasetNotFoundError, ImportError):
        return False
    return True


def make_plan(scale: str, available: Callable[[str], bool] = _available) -> dict[str, dict[str, Any]]:
    """Per-stage settings of ``scale`` (JSON-able)."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose from {', '.join(SCALES)}")
    img = "fashion-mnist" if scale != "tiny" and available("fashion-mnist") else "digits"
    if scale == "tiny":
        return {
            "feynman": {"equations": ["I.12.5", "I.14.3"], "grids": [5], "steps": 3, "n_train": 200, "hidden": 16,
                        "prompt_dims": [1, 2], "clusters": [1, 2], "n_val": 50},
            "highdim": {"functions": ["f1", "f2", "f3"], "dims": [10], "steps": 3, "n_train": 200},
            "images": {"datasets": ["digits"], "hiddens": [[16]], "grids": [5], "epochs": 2, "max_train": 600},
            "conv": {"dataset": "digits", "kinds": ["kan", "kagn"], "channels": [4, 8, 8, 8], "epochs": 1,
                     "max_train": 300, "max_test": 200, "clusters": {"kan": 1, "kagn": 2}},
            "pde": {"equations": ["poisson", "sine-gordon"], "dims": [5], "steps": 20, "metakan_steps": 20,
                    "n_interior": 64, "metakan_n_interior": 64, "metakan_warmup": 5, "hidden_widths": [8, 8],
                    "meta_hidden": 16, "prompt_dim": PDE.prompt_dim, "clusters": PDE.clusters},
            "memory": {"hiddens": [8, 16], "grids": [5, 10], "in_features": 64, "batch": 32},
        }  # fmt: skip
    if scale == "cpu":
        return {
            "feynman": {"equations": ["I.6.20a", "I.6.20", "I.12.5", "I.13.4", "I.14.3", "I.14.4", "I.12.4",
                                      "I.15.10"], "grids": [5, 20], "steps": 20, "n_train": 1000, "hidden": 32,
                        "prompt_dims": [1, 4], "clusters": [1, 2], "n_val": 200},
            "highdim": {"functions": ["f1", "f2", "f3"], "dims": [10, 20, 50, 100], "steps": 20, "n_train": 1000},
            "images": {"datasets": [img], "hiddens": [[32], [32, 32]], "grids": [3, 5, 10], "epochs": 5,
                       "max_train": 10000},
            "conv": {"dataset": img, "kinds": ["kan", "fastkan", "kaln", "kagn"], "channels": [8, 16, 32, 32],
                     "epochs": 1, "max_train": 4000, "max_test": 1000, "clusters": dict(CONV.clusters)},
            "pde": {"equations": ["poisson", "allen-cahn", "sine-gordon"], "dims": [20], "steps": 600,
                    "metakan_steps": 2000, "n_interior": 1000, "metakan_n_interior": 500, "meta_hidden": PDE.meta_hidden,
                    "prompt_dim": PDE.prompt_dim, "clusters": PDE.clusters},
            "memory": {"hiddens": [8, 16, 32, 64], "grids": [5, 20, 80], "in_features": 784, "batch": 128},
        }  # fmt: skip
    from .tasks.feynman import FEYNMAN_WIDTHS

    return {
        "feynman": {"equations": list(FEYNMAN_WIDTHS), "grids": [5, 20], "steps": 200, "n_train": 1000, "hidden": 32,
                    "prompt_dims": [1, 4], "clusters": [1, 2], "n_val": 200},
        "highdim": {"functions": ["f1", "f2", "f3"], "dims": [10, 20, 50, 100, 500, 1000], "steps": 200,
                    "n_train": 1000},
        "images": {"datasets": [img], "hiddens": [[32], [32, 32]], "grids": [3, 5, 10], "epochs": 20,
                   "max_train": 60000},
        "conv": {"dataset": img, "kinds": ["kan", "fastkan", "kaln", "kagn"], "channels": [32, 64, 128, 512],
                 "epochs": 5, "max_train": 60000, "max_test": None, "batch_size": 128, "lr": 1e-3,
                 "clusters": dict(CONV.clusters)},
        "pde": {"equations": ["poisson", "allen-cahn", "sine-gordon"], "dims": [20, 50, 100], "steps": 600,
                "metakan_steps": 2000, "n_interior": 2000, "metakan_n_interior": 500, "meta_hidden": PDE.meta_hidden,
                "prompt_dim": PDE.prompt_dim, "clusters": PDE.clusters},
        "memory": {"hiddens": [8, 16, 32, 64, 128, 256], "grids": [5, 10, 20, 40, 80], "in_features": 784,
                   "batch": 128},
    }  # fmt: skip


# --------------------------------------------------------------------------------------------- stages
#: per stage, the settings that the work of one item is proportional to, in the order they are cut: each a
#: group of keys cut by the same factor (a PINN item is a KAN run and a MetaKAN run), with its floor
KNOBS: dict[str, tuple[tuple[tuple[str, ...], int], ...]] = {
    "feynman": ((("steps",), 2),),
    "highdim": ((("steps",), 2),),
    "images": ((("epochs",), 1), (("max_train",), 500)),
    "conv": ((("epochs",), 1), (("max_train",), 500)),
    "pde": ((("steps", "metakan_steps"), 20), (("n_interior", "metakan_n_interior"), 100)),
}


def scale_settings(
    settings: dict[str, Any], knobs: tuple[tuple[tuple[str, ...], int], ...], fraction: float
) -> tuple[dict, float]:
    """``settings`` with its ``knobs`` cut so one item does about ``fraction`` of its planned work.

    Knob groups are cut in order, each key to no less than the group's floor; returns ``(new settings,
    fraction reached)`` (a group's reached factor is its most cut key's).
    """
    out, reached = dict(settings), 1.0
    for keys, floor in knobs:
        left = fraction / reached
        present = [k for k in keys if out.get(k) is not None]
        if left >= 1.0 or not present:
            continue
        ratios = []
        for key in present:
            v = int(out[key])
            out[key] = min(v, max(floor, round(v * left)))
            ratios.append(out[key] / v)
        reached *= max(ratios)
    return out, reached


#: per stage, the settings that only list its items (an item's label names its place on them): they are
#: left out of an item's key, so a run over more or fewer items reuses the items it shares with another
ITEM_AXES: dict[str, tuple[str, ...]] = {
    "feynman": ("equations", "grids"),
    "highdim": ("functions", "dims"),
    "images": ("datasets", "hiddens", "grids"),
    "conv": ("kinds",),
    "pde": ("equations", "dims"),
}


def _item_path(ctx: StageContext, label: str, settings: dict[str, Any]) -> Path:
    """Where one finished item's rows are kept: keyed by its label and the settings it ran with, less the
    stage's :data:`ITEM_AXES`."""
    import hashlib

    own = {k: v for k, v in settings.items() if k not in ITEM_AXES.get(ctx.name, ())}
    key = hashlib.sha256(json.dumps([label, own], sort_keys=True).encode()).hexdigest()[:12]
    return ctx.work / "items" / f"{key}.json"


def _run_items(ctx: StageContext, items: list[Any], label: Callable[[Any], str],
               run: Callable[[Any, dict[str, Any]], list[dict[str, Any]]]) -> dict[str, Any]:  # fmt: skip
    """Run ``items`` in order (``run(item, settings) -> rows``) within ``ctx.budget_s``.

    Each finished item's rows are kept under ``ctx.work/items`` (keyed by label and settings), so an
    interrupted stage resumes at its first unfinished item (``seconds_resumed``: the resumed items' own wall
    time, which the stage record's ``seconds`` includes). With a budget: one item is timed at about 5% of
    its work (its floors permitting), the knobs of :data:`KNOBS` are cut so that every item fits, and the
    stage stops before an item it has no time for.
    """
    from kan_core.repro import git_revision, write_json_atomic

    s, knobs = ctx.settings, KNOBS.get(ctx.name, ())
    revision = git_revision()  # the code this run started with, not HEAD when an item lands
    t0 = time.perf_counter()
    if ctx.budget_s is not None and knobs and items:
        probe, w0 = scale_settings(s, knobs, 0.05)
        t1 = time.perf_counter()
        run(items[0], probe)
        per_item = (time.perf_counter() - t1) / w0  # seconds of one item at full size
        left = max(ctx.budget_s - (time.perf_counter() - t0), 0.0) * 0.9
        s, reached = scale_settings(s, knobs, min(1.0, left / (per_item * len(items))))
        ctx.log(f"  {ctx.name}: probe {per_item:.1f} s per full item; running at {reached:.2f} of the plan")
        for keys, _ in knobs:
            for key in keys:
                if key in s and s[key] != ctx.settings[key]:
                    ctx.cuts.append(f"{key} {ctx.settings[key]} -> {s[key]} (budget)")
    rows: list[dict[str, Any]] = []
    t_run, slowest, done, resumed, resumed_seconds = time.perf_counter(), 0.0, 0, 0, 0.0
    for n, item in enumerate(items, 1):
        kept = _item_path(ctx, label(item), s)
        if kept.is_file():
            item = json.loads(kept.read_text())
            rows.extend(item["rows"])
            resumed_seconds += item["seconds"]
            done, resumed = done + 1, resumed + 1
            continue
        spent = time.perf_counter() - t0
        if ctx.budget_s is not None and done > resumed and spent + slowest > ctx.budget_s:
            break
        t1 = time.perf_counter()
        new = run(item, s)
        took = time.perf_counter() - t1
        write_json_atomic(kept, {"label": label(item), "seconds": round(took, 2), "revision": revision, "rows": new})  # fmt: skip
        rows.extend(new)
        slowest = max(slowest, took)
        done += 1
        ctx.log(f"  {ctx.name} {label(item)} ({n}/{len(items)}): {took:.1f} s")
    if done < len(items):
        left_items = ", ".join(label(i) for i in items[done:])
        ctx.cuts.append(f"{done} of {len(items)} items run (budget); not run: {left_items}")
    return {"rows": rows, "items": len(items), "items_run": done, "items_resumed": resumed,
            "settings_used": s, "seconds_items": round(time.perf_counter() - t_run, 2),
            "seconds_resumed": round(resumed_seconds, 2)}  # fmt: skip


def _seed_summary(rows: list[dict[str, Any]], keys: tuple[str, ...], metrics: tuple[str, ...]) -> list[dict]:
    """Rows of several seeds folded into one per ``keys``: each metric's mean (the column the tables read),
    its sample standard deviation (``<metric>_std``) and per-seed values (``<metric>_seeds``)."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    out = []
    for group in groups.values():
        row = {k: v for k, v in group[0].items() if k not in metrics and k != "seed"}
        row["seeds"] = [r["seed"] for r in group]
        for m in metrics:
            vals = [float(r[m]) for r in group if _ok(r.get(m))]
            if not vals:
                continue
            mean = sum(vals) / len(vals)
            row[m] = mean
            row[f"{m}_seeds"] = vals
            row[f"{m}_std"] = (
                math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
            )
        out.append(row)
    return out


def _feynman(ctx: StageContext) -> dict[str, Any]:
    from .tasks.feynman import run_feynman

    s = ctx.settings
    try:
        import kan.feynman  # noqa: F401  (pykan provides the equations)
    except ImportError as e:
        ctx.cuts.append("not run: pykan (kan-core[pykan]) is not installed")
        return {"rows": [], "skipped": f"pykan not importable ({e})"}
    items = [(eq, g) for g in s["grids"] for eq in s["equations"]]
    res = _run_items(ctx, items, lambda i: f"{i[0]} G={i[1]}", lambda i, z: run_feynman(
        [i[0]], [i[1]], steps=z["steps"], hidden=z["hidden"], n_train=z["n_train"], n_test=z["n_train"],
        prompt_dims=z.get("prompt_dims", [1]), clusters=z.get("clusters", [1]), n_val=z.get("n_val", 0),
        seed=ctx.seeds[0],
        device=ctx.device))  # fmt: skip
    if s.get("n_val", 0):
        ctx.cuts.append(f"both models fit {s['n_train'] - s['n_val']} of the {s['n_train']} training points; the "
                        f"other {s['n_val']} choose MetaKAN's prompt dimension from {s['prompt_dims']} and its number of "
                        f"meta-learners from {s.get('clusters', [1])} (paper: all points, dim z 1, one meta-learner)")  # fmt: skip
    if s["steps"] < 200:
        ctx.cuts.append(f"{s['steps']} LBFGS steps (paper: pykan's 200-step fits)")
    if len(s["equations"]) < 17:
        ctx.cuts.append(f"{len(s['equations'])} of 17 equations")
    return res


def _highdim(ctx: StageContext) -> dict[str, Any]:
    from .tasks.highdim import run_highdim

    s = ctx.settings
    items = [(f, n) for n in s["dims"] for f in s["functions"]]
    res = _run_items(ctx, items, lambda i: f"{i[0]} n={i[1]}", lambda i, z: run_highdim(
        [i[0]], [i[1]], steps=z["steps"], n_train=z["n_train"], n_test=z["n_train"], seed=ctx.seeds[0],
        device=ctx.device))  # fmt: skip
    if max(s["dims"]) < 1000:
        ctx.cuts.append(f"dimensions {s['dims']} (paper up to 1000)")
    return res


def _images(ctx: StageContext) -> dict[str, Any]:
    """Every (data set, hidden, G) row for each of ``ctx.seeds``; the table reads the seeds' means."""
    from .tasks.images import run_images

    s = ctx.settings
    items = [(seed, d, tuple(h), g) for seed in ctx.seeds for d in s["datasets"] for h in s["hiddens"]
             for g in s["grids"]]  # fmt: skip

    def one(i, z):
        rows = run_images([i[1]], [list(i[2])], [i[3]], epochs=z["epochs"], max_train=z["max_train"], seed=i[0],
                          device=ctx.device)  # fmt: skip
        return [{**r, "seed": i[0]} for r in rows]

    res = _run_items(ctx, items, lambda i: f"seed {i[0]} {i[1]} {list(i[2])} G={i[3]}", one)
    res["rows_per_seed"] = res["rows"]
    res["rows"] = _seed_summary(res["rows"], ("dataset", "hidden", "G"), ("kan_acc", "metakan_acc"))
    if s["max_train"] < 60000:
        ctx.cuts.append(f"at most {s['max_train']} training images")
    ctx.cuts.append(
        f"{s['epochs']} epochs; data sets {s['datasets']} (paper: SVHN, F-MNIST, K-MNIST, MNIST, CIFAR)"
    )
    return res


def _conv(ctx: StageContext) -> dict[str, Any]:
    from .tasks.images import run_conv

    s = ctx.settings
    kw = {k: s[k] for k in ("batch_size", "lr", "clusters") if k in s}
    if "batch_size" in kw:
        kw["batch"] = kw.pop("batch_size")
    res = _run_items(ctx, list(s["kinds"]), str, lambda k, z: run_conv(
        s["dataset"], [k], s["channels"], epochs=z["epochs"], max_train=z["max_train"], max_test=s["max_test"],
        seed=ctx.seeds[0], device=ctx.device, **kw))  # fmt: skip
    if s["channels"] != [32, 64, 128, 512]:
        ctx.cuts.append(f"channels {s['channels']} (paper 32-64-128-512)")
    if s["max_train"] < 60000:
        ctx.cuts.append(
            f"at most {s['max_train']} training / {s['max_test']} test images, {s['epochs']} epoch(s)"
        )
    return res


def _pde(ctx: StageContext) -> dict[str, Any]:
    from .tasks.pde import run_pde

    s = ctx.settings
    keys = ("steps", "metakan_steps", "n_interior", "metakan_n_interior", "metakan_warmup", "meta_hidden",
            "prompt_dim", "clusters")

    def one(item, z):
        kw = {k: z[k] for k in keys if k in z}
        if "hidden_widths" in z:
            kw["widths_hidden"] = z["hidden_widths"]
        if "metakan_warmup" in kw and "metakan_steps" in kw:  # warm-up shorter than the run
            kw["metakan_warmup"] = min(kw["metakan_warmup"], kw["metakan_steps"] // 4)
        return run_pde([item[0]], [item[1]], seed=ctx.seeds[0], device=ctx.device, **kw)

    items = [(eq, d) for d in s["dims"] for eq in s["equations"]]
    res = _run_items(ctx, items, lambda i: f"{i[0]} d={i[1]}", one)
    if s["dims"] != [20, 50, 100]:
        ctx.cuts.append(f"d in {s['dims']} (paper 20, 50, 100)")
    if (s.get("prompt_dim", PDE.prompt_dim), s.get("clusters", PDE.clusters)) != (1, 1):
        ctx.cuts.append(f"MetaKAN prompt dimension {s.get('prompt_dim', PDE.prompt_dim)} and "
                        f"{s.get('clusters', PDE.clusters)} meta-learners (the paper's parameter counts imply "
                        "dimension 1 and one meta-learner of hidden width 128)")  # fmt: skip
    return res


def _memory(ctx: StageContext) -> dict[str, Any]:
    from .memory import memory_rows

    s = ctx.settings
    n0 = s["in_features"]
    rows = memory_rows(widths_list=[[n0, h, 10] for h in s["hiddens"]], grid_sizes=[5], batch=s["batch"],
                       device=ctx.device, seed=ctx.seeds[0])  # fmt: skip
    rows += memory_rows(widths_list=[[n0, 64, 10]], grid_sizes=[g for g in s["grids"] if g != 5] or [5],
                        batch=s["batch"], device=ctx.device, seed=ctx.seeds[0])  # fmt: skip
    if not str(ctx.device).startswith("cuda"):
        ctx.cuts.append("peak memory measured on CPU (the substitute of kan_core.runtime), not CUDA")
    return {"rows": rows}


STAGES: list[Stage] = [
    Stage("feynman", _feynman, (), 1.0, "Feynman equations, KAN vs MetaKAN (Table 2)"),
    Stage("highdim", _highdim, (), 1.0, "f1-f3 on [n, 1, 1] (Table 4)"),
    Stage("images", _images, (), 2.0, "MLP-KAN image classification (Table 5)"),
    Stage("conv", _conv, (), 2.0, "4-layer KA-conv networks (Table 3)"),
    Stage("pde", _pde, (), 2.0, "PINNs on the unit ball (Table 8)"),
    Stage("memory", _memory, (), 0.3, "peak training memory (Figure 4)"),
]


# --------------------------------------------------------------------------------------------- report
def paper_numbers() -> dict[str, Any]:
    """The transcribed tables (``paper_numbers.json``)."""
    return json.loads(resources.files(__package__).joinpath("paper_numbers.json").read_text())


_IMG = {"fashion-mnist": "FMNIST", "mnist": "MNIST", "kmnist": "KMNIST", "digits": "MNIST", "svhn": "SVHN",
        "cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}  # fmt: skip
_CONV = {
    "mnist": "MNIST",
    "fashion-mnist": "MNIST",
    "digits": "MNIST",
    "cifar10": "CIFAR-10",
    "cifar100": "CIFAR-100",
}


def _ok(v: Any) -> bool:
    return isinstance(v, (int, float)) and not (isinstance(v, float) and (math.isnan(v) or math.isinf(v)))


def _pair_verdict(what: str, pairs_ours: list[tuple[Any, Any]], pairs_paper: list[tuple[Any, Any]],
                  params: list[tuple[Any, Any]], higher_better: bool) -> str:  # fmt: skip
    def wins(pairs):
        ok = [(k, m) for k, m in pairs if _ok(k) and _ok(m)]
        return sum((m > k) if higher_better else (m <= k) for k, m in ok), len(ok)

    w, n = wins(pairs_ours)
    both = [(o, p) for o, p in zip(pairs_ours, pairs_paper) if _ok(p[0]) and _ok(p[1])]
    pw, pn = wins([p for _, p in both])
    ow, on = wins([o for o, _ in both])
    ratios = sorted(m / k for k, m in params if _ok(k) and _ok(m) and k)
    parts = [
        f"MetaKAN {'beats' if higher_better else 'matches or beats'} the KAN on {what} in {w} of {n} rows."
    ]
    if pn:
        parts.append(f"On the {pn} rows the paper also reports: ours {ow} of {on}, paper {pw} of {pn}.")
        same = sum(wins([o])[0] == wins([p])[0] for o, p in both if _ok(o[0]) and _ok(o[1]))
        parts.append(f"The same winner as the paper's in {same} of {pn} rows.")
    if ratios:
        med = ratios[len(ratios) // 2]
        parts.append(
            f"MetaKAN/KAN trainable parameters: median {med:.2f} (range {ratios[0]:.2f}-{ratios[-1]:.2f})."
        )
    return " ".join(parts)


def _ours(r: dict[str, Any], kan: str, metakan: str) -> tuple[Any, Any, Any, Any]:
    """Our row's ``(KAN metric, MetaKAN metric, KAN params, MetaKAN params)`` (missing values: None)."""
    return r.get(kan), r.get(metakan), r.get("kan_params"), r.get("metakan_params")


def _comparison(key: str, title: str, columns: list[str], items: list[tuple[str, tuple, tuple]], what: str,
                higher_better: bool, note: str) -> dict[str, Any]:  # fmt: skip
    """One KAN-vs-MetaKAN table: ``items`` are ``(label, ours, paper)``, each of ``ours``/``paper`` being
    ``(KAN metric, MetaKAN metric, KAN params, MetaKAN params)``; the verdict compares both pairs."""
    rows = [[label, *ours, *paper] for label, ours, paper in items]
    verdict = _pair_verdict(what, [o[:2] for _, o, _ in items], [p[:2] for _, _, p in items],
                            [o[2:] for _, o, _ in items], higher_better)  # fmt: skip
    return {"key": key, "title": title, "columns": columns, "rows": rows, "verdict": verdict, "note": note}


def _seed_note(rows: list[dict[str, Any]], metrics: tuple[str, ...]) -> str:
    """ " Ours: mean of seeds [..]; sample standard deviation per row ..." for rows folded by
    :func:`_seed_summary` (empty for single-seed rows)."""
    if not rows or len(rows[0].get("seeds", [])) < 2:
        return ""
    spreads = "; ".join(
        f"[{r['hidden']}] G={r['G']} " + " / ".join(f"{r.get(m + '_std', float('nan')):.2f}" for m in metrics)
        for r in rows
    )
    return f" Ours: mean of seeds {rows[0]['seeds']}; standard deviation ({' / '.join(metrics)}): {spreads}."


def build_tables(records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The comparison tables of every finished stage."""
    paper = paper_numbers()["tables"]
    res = {k: r["result"] for k, r in records.items()}
    tables = []
    if res.get("feynman", {}).get("rows"):
        p = paper["feynman"]["rows"]
        items = []
        for r in res["feynman"]["rows"]:
            pv = p.get(r["equation"], {}).get(f"G{r['G']}", [None] * 4)
            items.append(
                (
                    f"{r['equation']} G={r['G']}"
                    + (f" (dim z {r['metakan_prompt_dim']}" if "metakan_prompt_dim" in r else "")
                    + (f", C {r['metakan_clusters']}" if "metakan_clusters" in r else "")
                    + (")" if "metakan_prompt_dim" in r else ""),
                    _ours(r, "kan_mse", "metakan_mse"),
                    (pv[0], pv[2], pv[1], pv[3]),
                )
            )
        tables.append(_comparison("feynman", "Table 2: Feynman equations, test MSE and trainable parameters",
                                  ["equation", "ours KAN MSE", "ours MetaKAN MSE", "ours KAN params",
                                   "ours MetaKAN params", "paper KAN MSE", "paper MetaKAN MSE", "paper KAN params",
                                   "paper MetaKAN params"], items, "test MSE", False,
                                  "Paper at G=5: MetaKAN lower MSE in 11 of 17; at G=20 in 13 of 16 (its text)."))  # fmt: skip
    if res.get("highdim", {}).get("rows"):
        p = paper["highdim"]["rows"]
        items = []
        for r in res["highdim"]["rows"]:
            pv = p.get(r["function"], {}).get(str(r["n"]), [None] * 4)
            items.append(
                (
                    f"{r['function']} n={r['n']}",
                    _ours(r, "kan_mse", "metakan_mse"),
                    (pv[1], pv[3], pv[0], pv[2]),
                )
            )
        tables.append(_comparison("highdim", "Table 4: high-dimensional functions on [n, 1, 1], MSE and parameters",
                                  ["function", "ours KAN MSE", "ours MetaKAN MSE", "ours KAN params",
                                   "ours MetaKAN params", "paper KAN MSE", "paper MetaKAN MSE", "paper KAN params",
                                   "paper MetaKAN params"], items, "test MSE", False, ""))  # fmt: skip
    if res.get("images", {}).get("rows"):
        p = paper["images"]["rows"]
        items = []
        for r in res["images"]["rows"]:
            pv = p.get(f"{_IMG.get(r['dataset'], r['dataset'])}|{r['hidden']}", {}).get(
                f"G{r['G']}", [None] * 4
            )
            items.append((f"{r['dataset']} [{r['hidden']}] G={r['G']}", _ours(r, "kan_acc", "metakan_acc"),
                          (pv[1], pv[3], pv[0], pv[2])))  # fmt: skip
        ds = res["images"]["rows"][0]["dataset"]
        tables.append(_comparison("images", "Table 5: MLP-KAN image classification, test accuracy (%) and parameters",
                                  ["setting", "ours KAN acc", "ours MetaKAN acc", "ours KAN params",
                                   "ours MetaKAN params", "paper KAN acc", "paper MetaKAN acc", "paper KAN params",
                                   "paper MetaKAN params"], items, "test accuracy", True,
                                  f"Ours on {ds}, compared with the paper's {_IMG.get(ds, ds)} rows"
                                  + (" (closest: ours are 8x8 digits)." if ds == "digits" else ".")
                                  + _seed_note(res["images"]["rows"], ("kan_acc", "metakan_acc"))))  # fmt: skip
    if res.get("conv", {}).get("rows"):
        p = paper["conv"]["rows"]
        ds = res["conv"]["rows"][0]["dataset"]
        col = _CONV.get(ds, "MNIST")
        items = []
        for r in res["conv"]["rows"]:
            a = p.get(f"{r['kind']}|plain", {}).get(col, [None] * 3)
            b = p.get(f"{r['kind']}|meta", {}).get(col, [None] * 3)
            ours = (r["plain_acc"], r["meta_acc"], r["plain_params"], r["meta_params"])
            label = r["kind"] + (f" (Meta C {r['meta_clusters']})" if "meta_clusters" in r else "")
            items.append((label, ours, (a[0], b[0], a[2], b[2])))
        tables.append(_comparison("conv", "Table 3 (4 layers): KA-conv networks, test accuracy (%) and parameters",
                                  ["kind", "ours plain acc", "ours Meta acc", "ours plain params", "ours Meta params",
                                   f"paper {col} plain acc", f"paper {col} Meta acc", "paper plain params",
                                   "paper Meta params"], items, "test accuracy", True,
                                  f"Ours on {ds}; the paper has no such column, compared with its {col} column."
                                  if _IMG.get(ds) != col else ""))  # fmt: skip
        gaps = [(r["kind"], r["plain_acc"] - r["meta_acc"]) for r in res["conv"]["rows"]]
        tables[-1]["verdict"] += (f" Meta within 2 points of its plain twin in {sum(g <= 2 for _, g in gaps)} of "
                                  f"{len(gaps)} kinds (plain minus Meta: "
                                  + ", ".join(f"{k} {g:+.2f}" for k, g in gaps) + ").")  # fmt: skip
    if res.get("pde", {}).get("rows"):
        p = paper["pde"]["rows"]
        items = []
        for r in res["pde"]["rows"]:
            pv = p.get(r["equation"], {}).get(str(r["d"]), [None] * 4)
            items.append((f"{r['equation']} d={r['d']}", _ours(r, "kan_rel_l2", "metakan_rel_l2"),
                          (pv[0], pv[2], pv[1], pv[3])))  # fmt: skip
        tables.append(_comparison("pde", "Table 8: PINNs on the unit ball, relative L2 error and parameters",
                                  ["equation", "ours KAN rel L2", "ours MetaKAN rel L2", "ours KAN params",
                                   "ours MetaKAN params", "paper KAN", "paper MetaKAN", "paper KAN params",
                                   "paper MetaKAN params"], items, "relative L2 error", False,
                                  "Paper: MetaKAN within a small factor of the KAN with ~6x fewer parameters."))  # fmt: skip
    if res.get("memory", {}).get("rows"):
        mem = res["memory"]["rows"]
        rows = [[f"{r['widths']} G={r['G']}", r["connections"], r["kan_MiB"], r["metakan_MiB"],
                 r["metakan-efficient_MiB"], r["metakan-efficient_MiB"] / r["kan_MiB"]] for r in mem]  # fmt: skip
        lower = sum(r[4] < r[2] for r in rows)
        not_above_plain = sum(r[4] <= r[3] for r in rows)
        by_conn = sorted((r for r in mem if r["G"] == 5), key=lambda r: r["connections"])
        grows = len(by_conn) > 1 and (by_conn[-1]["kan_MiB"] - by_conn[-1]["metakan-efficient_MiB"]) > (
            by_conn[0]["kan_MiB"] - by_conn[0]["metakan-efficient_MiB"]
        )
        swept = {r["widths"] for r in mem if r["G"] != 5}
        by_g = sorted((r for r in mem if r["widths"] in swept), key=lambda r: r["G"])
        ratios = [(r["G"], r["metakan-efficient_MiB"] / r["kan_MiB"]) for r in by_g]
        falls = all(b[1] < a[1] for a, b in zip(ratios, ratios[1:]))
        trend = ""
        if len(ratios) > 1:
            trend = (f" Against G ({', '.join(sorted(swept))}) the efficient / KAN ratio is "
                     + ", ".join(f"{v:.3f} at G={g}" for g, v in ratios)
                     + f": {'falling' if falls else 'not falling'} at every step.")  # fmt: skip
        verdict = (f"The memory-efficient MetaKAN peaks below the KAN in {lower} of {len(rows)} settings and at or "
                   f"below the plain MetaKAN in {not_above_plain} of {len(rows)}; the saving "
                   f"{'grows' if grows else 'does not grow'} with the number of connections.{trend} (Paper, Figure "
                   "4: lower everywhere, growing with connections and grid size.)")  # fmt: skip
        tables.append({"key": "memory", "title": "Figure 4: peak training memory (MiB)",
                       "columns": ["setting", "connections", "KAN MiB", "MetaKAN MiB", "MetaKAN (efficient) MiB",
                                   "efficient / KAN"],
                       "rows": rows, "verdict": verdict, "note": "The paper gives these as curves only."})  # fmt: skip
    return tables


def _figure(path: Path, tables: list[dict[str, Any]]) -> Path | None:
    """One panel per table in ``path`` (``None``, and no file, without tables)."""
    if not tables:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from kan_core.io import panel_grid, write_figure

    fig, axes = panel_grid(len(tables))
    for ax, t in zip(axes, tables):
        labels = [str(r[0]) for r in t["rows"]]
        xs = range(len(labels))
        if t["key"] == "memory":
            for j, name in ((2, "KAN"), (3, "MetaKAN"), (4, "MetaKAN efficient")):
                ax.plot(list(xs), [r[j] for r in t["rows"]], marker="o", label=name)
        else:
            series = [("ours KAN", 1), ("ours Meta", 2), ("paper KAN", 5), ("paper Meta", 6)]
            for k, (name, j) in enumerate(series):
                ax.bar(
                    [x - 0.3 + 0.2 * k for x in xs],
                    [r[j] if _ok(r[j]) else 0 for r in t["rows"]],
                    0.2,
                    label=name,
                )
            if t["key"] in ("feynman", "highdim", "pde"):
                ax.set_yscale("log")
        ax.set_xticks(list(xs), labels, rotation=45, ha="right", fontsize=6)
        ax.set_title(re.split(r",(?![^\[]*\])", t["title"])[0], fontsize=8)  # up to a comma outside [..]
        ax.legend(fontsize=6)
    fig.tight_layout()
    write_figure(fig, path, dpi=110)
    plt.close(fig)
    return path


def _report(folder: Path, scale: str, stages: list[Stage], records: dict[str, dict[str, Any]],
            ran: set[str]) -> list[Path]:  # fmt: skip
    tables = build_tables(records)
    paths = write_stage_report(folder, "MetaKAN paper", scale, stages, records, ran, tables)
    fig = _figure(Path(folder) / "figures.png", tables)
    return paths + ([fig] if fig else [])


metakan = pipeline_command(
    "metakan",
    help_text="""The MetaKAN paper (ICML 2025): Feynman, high-dim functions, images, KA-convs, PDEs, memory.

    Stages: feynman, highdim, images, conv, pde, memory. Each runs its work items in order and, with
    --budget-min, stops before an item it cannot fit (listed as a cut). Writes report/tables.{md,csv,json}
    and report/figures.png, each table beside the paper's numbers with a verdict. The images stage runs
    every seed of --seeds and reports their mean and spread; the others run the first seed.

    \b
    Examples:
      kan repro metakan --scale tiny --out runs/metakan-tiny
      kan repro metakan --scale cpu --budget-min 60 --stages images,pde
    """,
    stages=lambda: list(STAGES),
    plan=make_plan,
    report=_report,
    default_seeds={"tiny": "0", "cpu": "0", "paper": "0,1,2"},
)
