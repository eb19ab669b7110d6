"""The WS-KAN paper's pipeline as :class:`kan_core.repro.Stage` objects (thin over kan_ws's functions).

=============  ==============================================================  ====================
stage          does                                                            paper
=============  ==============================================================  ====================
zoo-sine       builds the sine-INR zoo                                         C.1.1
zoo-inr        builds the image-INR zoo (Fashion-MNIST where present)          C.1.1
zoo-clf        builds the label-noise classifier zoo with oracle masks         C.2.1, C.3.1
zoo-ood        builds test-image INR zoos of wider hidden layers               5.1.1
sine           frequency regression, WS-KAN + six baselines                    C.1.3 (Figure 8)
sine-sweep     the same on 100-800 training INRs                               C.1.3 (Figure 8)
inr            INR classification                                              Table 1
inr-curve      WS-KAN's test accuracy against the number of training INRs      (C.1; ours)
inr-quality    INR reconstruction PSNR at the zoo's epochs vs the paper's 1000 (C.1.1; ours)
accuracy       accuracy prediction                                             Table 3
mask           pruning-mask prediction                                         Table 4
ablation       WS-KAN without PE / without backward pass on inr/accuracy/mask  Tables 6-10
ood            the inr stage's WS-KAN on the wider INRs                        Table 2
pruning        downstream pruning by each predicted mask, time vs the oracle   Figure 5
=============  ==============================================================  ====================

Every training stage picks each method's settings on the validation split: it trains seed 0 with every
point of the plan's grid, keeps the best validation score, then trains the other seeds with it. With a
budget, a one-epoch probe per method sizes the epochs (and, if even one epoch per run does not fit, the
grid shrinks to its first point); every cut is written to the stage's record.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from kan_core.repro import Stage, StageContext, fit_count

from .plan import PAPER_INR, STAGE_WEIGHTS

__all__ = ["STAGES", "build_stage_zoo", "train_methods"]

_CLASSIFICATION_KINDS = ("classification",)


# ------------------------------------------------------------------------------------------------ zoos
def _preset(settings: dict[str, Any]) -> Any:
    from ..zoo.presets import get_preset

    p = get_preset(settings["preset"])
    over = {k: (tuple(v) if isinstance(v, list) else v) for k, v in settings.get("overrides", {}).items()}
    return p.replace(**over) if over else p


def _zoo_cuts(p: Any, models: int, epochs: int, paper_name: str) -> list[str]:
    from ..zoo.presets import get_preset

    ref = get_preset(paper_name)
    cuts = []
    if models < ref.num_models:
        cuts.append(f"{models} models (paper {ref.num_models})")
    if epochs < ref.epochs:
        cuts.append(f"{epochs} epochs per KAN (paper {ref.epochs})")
    if tuple(p.widths) != tuple(ref.widths):
        cuts.append(f"KAN {list(p.widths)} (paper {list(ref.widths)})")
    if p.grid_size != ref.grid_size:
        cuts.append(f"G={p.grid_size} (paper {ref.grid_size})")
    if p.dataset != ref.dataset:
        cuts.append(f"data set {p.dataset} (paper {ref.dataset})")
    return cuts


def _size_zoo(ctx: StageContext, p: Any, models: int, epochs: int, min_models: int) -> tuple[int, int]:
    """``(models, epochs)`` that fit ``ctx.budget_s``, from a timed one-shard, short-epoch probe build."""
    from ..zoo import build_zoo

    if ctx.budget_s is None:
        return models, epochs
    k = min(models, p.shard_size, 32)  # small: on a GPU the per-model cost is then an overestimate
    e = max(1, min(epochs, math.ceil(epochs / 100)))
    t0 = time.perf_counter()
    probe = ctx.work / f"probe-{k}x{e}"
    build_zoo(p, probe, models=k, epochs=e, device=ctx.device, seed=0)
    shutil.rmtree(probe)
    per = (time.perf_counter() - t0) / (k * e)  # seconds per model-epoch (an upper bound: fixed costs)
    left = max(ctx.budget_s - (time.perf_counter() - t0), 1.0) * 0.9
    if per * models * epochs <= left:
        return models, epochs
    shrink = math.sqrt(left / (per * models * epochs))
    n = max(min_models, min(models, int(models * shrink)))
    ep = fit_count(left, per * n, epochs, minimum=1)
    if ep == 1 and per * n > left:  # even one epoch per model does not fit: fewer models
        n = fit_count(left, per, models, minimum=min(min_models, models))
    ctx.log(f"  probe: {per * 1e3:.2f} ms per model-epoch; budget {left:.0f} s -> {n} models x {ep} epochs")
    return n, ep


def build_stage_zoo(ctx: StageContext) -> dict[str, Any]:
    """Stage ``zoo-*``: build the plan's preset (sized to the budget); returns its path and sizes."""
    from ..zoo import build_zoo

    s = ctx.settings
    p = _preset(s)
    models, epochs = _size_zoo(ctx, p, int(s["models"]), int(s["epochs"]), int(s["min_models"]))
    path = ctx.out / "zoos" / ctx.name
    build_zoo(p, path, models=models, epochs=epochs, device=ctx.device, seed=0)
    ctx.cuts.extend(_zoo_cuts(p.replace(epochs=epochs), models, epochs, s["paper_preset"]))
    return {"path": str(path), "preset": p.name, "models": models, "epochs": epochs,
            "widths": list(p.widths), "grid_size": p.grid_size, "dataset": p.dataset}  # fmt: skip


def build_ood_zoos(ctx: StageContext) -> dict[str, Any]:
    """Stage ``zoo-ood``: test-image INR zoos of every hidden width of the plan."""
    from ..zoo import build_zoo

    s = ctx.settings
    base = _preset(s["inr"])
    models, epochs = int(s["models"]), int(s["epochs"])
    if ctx.budget_s is not None:  # cost grows with the edges: size on the widest
        widest = base.replace(
            widths=(2, max(s["widths"]), max(s["widths"]), base.widths[-1]), splits=(0, 0, 1)
        )
        models, epochs = _size_zoo(ctx, widest, models, epochs, min_models=min(10, models))
        models = max(1, models // len(s["widths"]))
    zoos = {}
    for h in s["widths"]:
        p = base.replace(name=f"{base.name}-ood-h{h}", widths=(2, h, h, base.widths[-1]), splits=(0, 0, models),
                         epochs=epochs)  # fmt: skip
        path = ctx.out / "zoos" / f"ood-h{h}"
        build_zoo(p, path, models=models, epochs=epochs, device=ctx.device, seed=0)
        zoos[str(h)] = str(path)
    paper = s["paper_widths"]
    if max(s["widths"]) < max(paper):
        ctx.cuts.append(f"hidden widths {s['widths']} (paper 32 -> {paper})")
    ctx.cuts.append(f"{models} test INRs per width, {epochs} epochs (paper 10000, 1000)")
    digests = {h: _zoo_used({"path": path})["manifest_sha256"] for h, path in zoos.items()}
    return {"zoos": zoos, "manifest_sha256": digests, "models": models, "epochs": epochs,
            "train_width": base.widths[1]}  # fmt: skip


# ------------------------------------------------------------------------------------------------ training
def _load(path: str) -> Any:
    from ..zoo import load_zoo

    return load_zoo(path)


def _zoo_used(zrec: dict[str, Any]) -> dict[str, Any]:
    """A zoo stage's result plus the SHA-256 of its ``manifest.json`` (which holds every shard's SHA-256): a
    rerun that built the same zoo shows the same digest."""
    import hashlib

    digest = hashlib.sha256((Path(zrec["path"]) / "manifest.json").read_bytes()).hexdigest()
    return {**zrec, "manifest_sha256": digest}


def _score_better(kind: str, a: float, b: float) -> bool:
    return a > b if kind in _CLASSIFICATION_KINDS else a < b


#: marks an ``inr-curve`` row whose ``best_epoch`` counts from 1; rows written before epochs counted from 1
#: (kept per-size files, finished stage records) lack it and count from 0
EPOCHS_FROM_ONE = {"epoch_numbering": "from 1"}


def best_epoch_from_one(row: dict[str, Any]) -> int:
    """``row["best_epoch"]`` counted from 1, also for a row written when epochs counted from 0."""
    legacy = row.get("epoch_numbering") != EPOCHS_FROM_ONE["epoch_numbering"]
    return int(row["best_epoch"]) + (1 if legacy else 0)


def _selection_score(model, data, device) -> float:
    """The score ``fit`` selected the kept model's epoch by (validation, training scale), recomputed from the
    kept model; grid points are compared by it too, so the reported ``best_val`` (raw units) never changes
    which settings are selected."""
    from ..train import predict

    return data.selection_score(predict(model, data, data.splits["val"], device=device))


def _one_run(task, data, method, cfg, seed, epochs, batch, device, settrans_max_edges, train_size=None, log=None,
             compile=False):  # fmt: skip
    from ..tasks import run_experiment
    from ..train import TrainConfig

    mcfg = {"hidden": cfg["hidden"], "depth": cfg["depth"], "dropout": cfg["dropout"]}
    if method == "settrans":  # one attention head, at most 2 blocks: as `kan demo` (attention is the cost)
        mcfg.update(max_edges=settrans_max_edges, depth=min(cfg["depth"], 2), heads=1)
    tcfg = TrainConfig(epochs=epochs, batch_size=batch, lr=cfg["lr"], compile=compile)
    return run_experiment(task, None, method, seed=seed, train_cfg=tcfg, model_cfg=mcfg, device=device, data=data,
                          train_size=train_size, log=log)  # fmt: skip


def _zoo_id(zoo) -> str:
    """A zoo's identity in kept-run keys: preset, config, seed and size."""
    return json.dumps([zoo.preset, zoo.config, zoo.seed, len(zoo)], sort_keys=True, default=str)


def _kept_run(ctx: StageContext, zoo_id: str, task, data, method, cfg, seed, epochs, batch, settrans_max_edges,
              save: bool = False, train_size: int | None = None) -> tuple[dict[str, Any], Path | None, bool]:  # fmt: skip
    """:func:`_one_run`'s result plus its ``selection_score`` (:func:`_selection_score`), kept under
    ``ctx.work/runs/`` (with the model's checkpoint when ``save``) and keyed by everything the run depends on
    (``zoo_id``: the zoo's identity), so that an interrupted stage resumes at its first unfinished run.
    ``train_size``: train on that many of the training models (a random subset, as :func:`_one_run`).
    Returns ``(result, checkpoint path or None, whether the run was kept from before)``."""
    import hashlib

    from kan_core.repro import write_json_atomic

    from ..tasks import save_checkpoint

    ident = [zoo_id, task, method, cfg, seed, epochs, batch, settrans_max_edges, str(ctx.device)]
    if train_size is not None:  # full-set runs keep the keys they had before subsets existed
        ident.append(train_size)
    what = f"{task}/{method}" + ("" if train_size is None else f" n={train_size}")
    key = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:16]
    kept, ckpt = ctx.work / "runs" / f"{key}.json", ctx.work / "runs" / f"{key}.safetensors"
    if kept.is_file() and (not save or ckpt.is_file()):
        ctx.log(f"  {what} seed {seed} {cfg}: kept run reused")
        return json.loads(kept.read_text()), ckpt if save else None, True
    model, _, res = _one_run(task, data, method, cfg, seed, epochs, batch, ctx.device, settrans_max_edges,
                             train_size=train_size, log=lambda msg: ctx.log(f"  {what} seed {seed}: {msg}"),
                             compile=ctx.compile)  # fmt: skip
    res = {**res, "selection_score": _selection_score(model, data, ctx.device)}
    if save:
        save_checkpoint(ckpt, model.cpu(), data, res)
    write_json_atomic(kept, res)
    return res, ckpt if save else None, False


def _mean_std(values: list[float]) -> tuple[float, float]:
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    m = sum(values) / n
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return m, sd


def _fit_epochs(ctx, task, plans, epochs, batch, settrans_max_edges, skipped) -> int:
    """One epoch count for every method that fits ``ctx.budget_s`` (each method timed over one epoch).

    When even one epoch per run does not fit, every grid is cut to its first point (in ``plans``).
    Methods that cannot run are recorded in ``skipped``.
    """
    from ..models import InfeasibleError

    t_start = time.perf_counter()
    per_epoch: dict[str, float] = {}
    for method, (data, points) in plans.items():
        t0 = time.perf_counter()
        try:
            _one_run(task, data, method, points[0], ctx.seeds[0], 1, batch, ctx.device, settrans_max_edges,
                     compile=ctx.compile)
        except InfeasibleError as e:
            skipped[method] = str(e)
            ctx.log(f"  {task}/{method}: skipped ({e})")
            continue
        per_epoch[method] = time.perf_counter() - t0
    left = max(ctx.budget_s - (time.perf_counter() - t_start), 0.0)
    extra_seeds = len(ctx.seeds) - 1

    def cost(grid_points: bool) -> float:  # seconds of one epoch of every run
        return sum(t * ((len(plans[m][1]) if grid_points else 1) + extra_seeds) for m, t in per_epoch.items())

    ep = fit_count(left, cost(True), epochs, minimum=1)
    if cost(True) > left and any(len(p[1]) > 1 for p in plans.values()):
        for m, (data, points) in plans.items():
            plans[m] = (data, points[:1])
        ctx.cuts.append(f"{task}: every grid cut to its first point (budget)")
        ep = fit_count(left, cost(False), epochs, minimum=1)
    if ep < epochs:
        ctx.cuts.append(f"{task}: {ep} epochs for every method (plan {epochs}; budget)")
    ctx.log(f"  {task}: one epoch of every method {sum(per_epoch.values()):.1f} s -> {ep} epochs")
    return ep


def train_methods(
    ctx: StageContext,
    task: str,
    zoo: Any,
    methods: list[str],
    *,
    grid: list[dict[str, Any]],
    epochs: int,
    batch: int,
    settrans_max_edges: int,
    save: list[str] = (),
    fixed: dict[str, dict[str, Any]] | None = None,
    grid_limit: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Grid search on seed 0 and training over ``ctx.seeds`` of each method on ``task``.

    ``fixed``: method -> settings to use without a search (the ablations take WS-KAN's);
    ``grid_limit``: method -> how many of the grid's first points it searches (default all). Returns
    ``{"methods": {m: {"searched", "selected", "epochs", "runs", "mean", "std"}}, "skipped": {m: why}}``.
    """
    from ..models import InfeasibleError
    from ..tasks import align_features, make_task

    grid_limit = grid_limit or {}
    base = make_task(task, zoo)
    zoo_id = _zoo_id(zoo)
    aligned = None
    out: dict[str, Any] = {"methods": {}, "skipped": {}, "train_models": len(base.splits["train"]),
                           "edges_per_kan": base.template.num_edges}  # fmt: skip
    plans: dict[str, tuple[Any, list[dict[str, Any]]]] = {}  # method -> (its data, its grid points)
    for method in methods:
        data = base
        if method == "mlp-align":
            if aligned is None:
                t0 = time.perf_counter()
                aligned = align_features(base)
                out["alignment_seconds"] = round(time.perf_counter() - t0, 2)
            data = aligned
        pts = (
            [fixed[method]] if fixed and method in fixed else list(grid)[: grid_limit.get(method, len(grid))]
        )
        plans[method] = (data, pts)
    ep = epochs
    if ctx.budget_s is not None:
        ep = _fit_epochs(ctx, task, plans, epochs, batch, settrans_max_edges, out["skipped"])
    for method in methods:
        if method in out["skipped"]:
            continue
        t_method = time.perf_counter()
        data, points = plans[method]
        try:
            searched, best = [], None
            for cfg in points:
                res, ckpt, _ = _kept_run(ctx, zoo_id, task, data, method, cfg, ctx.seeds[0], ep, batch,
                                      settrans_max_edges, save=method in save)  # fmt: skip
                searched.append({"config": cfg, "val": res["best_val"], "best_epoch": res["best_epoch"]})
                if best is None or _score_better(data.kind, res["selection_score"], best[2]["selection_score"]):
                    best = (cfg, ckpt, res)
        except InfeasibleError as e:
            out["skipped"][method] = str(e)
            ctx.log(f"  {task}/{method}: skipped ({e})")
            continue
        cfg, ckpt, res = best
        runs = [res]
        if ckpt is not None:
            shutil.copyfile(ckpt, ctx.work / f"{method}-s{ctx.seeds[0]}.safetensors")
        for seed in ctx.seeds[1:]:
            runs.append(_kept_run(ctx, zoo_id, task, data, method, cfg, seed, ep, batch, settrans_max_edges)[0])
        metrics = sorted({k for r in runs for k, v in r["metrics"].items() if isinstance(v, (int, float))})
        stats = {k: _mean_std([float(r["metrics"][k]) for r in runs]) for k in metrics}
        out["methods"][method] = {
            "searched": searched if len(points) > 1 or not fixed else [],
            "selected": cfg,
            "selection": "fixed (WS-KAN's selected settings)" if fixed and method in fixed else "best validation",
            "epochs": ep,
            "batch_size": batch,
            "runs": [{"seed": r["seed"], "metrics": r["metrics"], "best_epoch": r["best_epoch"],
                      "train_seconds": round(r["train_seconds"], 2), "num_params": r["num_params"]} for r in runs],
            "mean": {k: v[0] for k, v in stats.items()},
            "std": {k: v[1] for k, v in stats.items()},
            "seconds": round(time.perf_counter() - t_method, 2),
        }  # fmt: skip
        short = ", ".join(
            f"{k} {stats[k][0]:.4g}" for k in ("accuracy", "r2", "roc_auc", "mse") if k in stats
        )
        ctx.log(f"  {task}/{method}: {short} (selected {cfg}, {ep} epochs)")
    return out


def _paper_cuts(ctx: StageContext, s: dict[str, Any], methods: dict[str, Any]) -> None:
    p = s["paper"]
    eps = sorted({m["epochs"] for m in methods.values()})
    if eps and max(eps) < p["epochs"]:
        ctx.cuts.append(f"{'/'.join(map(str, eps))} epochs (paper {p['epochs']})")
    if len(ctx.seeds) < 3:
        ctx.cuts.append(f"{len(ctx.seeds)} seed(s) (paper 3)")
    hid = sorted({g["hidden"] for g in s["grid"]})
    ph = p["hidden"] if isinstance(p["hidden"], list) else [p["hidden"]]
    if max(hid) < max(ph):
        ctx.cuts.append(f"hidden {hid} (paper {ph})")


def train_stage(ctx: StageContext) -> dict[str, Any]:
    """Stages ``sine``, ``inr``, ``accuracy``, ``mask``."""
    s = ctx.settings
    zrec = ctx.results[s["zoo"]]
    zoo = _load(zrec["path"])
    res = train_methods(ctx, s["task"], zoo, list(s["methods"]), grid=s["grid"], epochs=int(s["epochs"]),
                        batch=int(s["batch_size"]), settrans_max_edges=int(s["settrans_max_edges"]),
                        save=s.get("save", []), grid_limit=s.get("grid_limit"))  # fmt: skip
    _paper_cuts(ctx, s, res["methods"])
    res.update(task=s["task"], zoo=_zoo_used(zrec), checkpoints=str(ctx.work))
    return res


def ablation_stage(ctx: StageContext) -> dict[str, Any]:
    """Stage ``ablation``: the two WS-KAN ablations at WS-KAN's selected settings of each task."""
    s = ctx.settings
    out = {}
    for task in s["tasks"]:
        tres = ctx.results[task]
        if "wskan" not in tres["methods"]:
            out[task] = {"skipped": "WS-KAN did not run in this task"}
            continue
        sel = tres["methods"]["wskan"]
        zoo = _load(tres["zoo"]["path"])
        fixed = {m: sel["selected"] for m in s["methods"]}
        share = None if ctx.budget_s is None else ctx.budget_s / len(s["tasks"])
        sub = replace(ctx, budget_s=share) if share is not None else ctx
        res = train_methods(sub, task, zoo, list(s["methods"]), grid=[sel["selected"]], epochs=sel["epochs"],
                            batch=sel["batch_size"], settrans_max_edges=0, fixed=fixed)  # fmt: skip
        res["methods"]["wskan"] = sel
        out[task] = res
    return out


def sine_sweep_stage(ctx: StageContext) -> dict[str, Any]:
    """Stage ``sine-sweep``: each method of the ``sine`` stage, at its selected settings, trained on random
    subsets of the training INRs (C.1.3, Figure 8), with as many optimiser steps as on the full set.
    With a budget, sizes run smallest first and the stage stops before a size it has no time left for."""
    from ..demo import sweep_epochs_for
    from ..tasks import align_features, make_task

    sres = ctx.results["sine"]
    zoo = _load(sres["zoo"]["path"])
    zoo_id = _zoo_id(zoo)
    base = make_task("sine", zoo)
    ntr = len(base.splits["train"])
    sizes = sorted(n for n in ctx.settings["sizes"] if n < ntr)
    aligned = align_features(base) if "mlp-align" in sres["methods"] else None
    r2: dict[str, dict[str, list[float]]] = {m: {} for m in sres["methods"]}
    mse: dict[str, dict[str, list[float]]] = {m: {} for m in sres["methods"]}
    t0, slowest, done, resumed = time.perf_counter(), 0.0, [], 0.0
    for n in sizes:
        spent = time.perf_counter() - t0
        if ctx.budget_s is not None and done and spent + slowest > ctx.budget_s:
            break
        t1 = time.perf_counter()
        for method, mres in sres["methods"].items():
            data = aligned if method == "mlp-align" else base
            ep = sweep_epochs_for(mres["epochs"], ntr, n)
            got = [
                _kept_run(ctx, zoo_id, "sine", data, method, mres["selected"], seed, ep, mres["batch_size"], 4096,
                          train_size=n)
                for seed in ctx.seeds
            ]  # fmt: skip
            resumed += sum(r["train_seconds"] for r, _, was_kept in got if was_kept)
            runs = [r for r, _, _ in got]
            r2[method][str(n)] = [r["metrics"]["r2"] for r in runs]
            mse[method][str(n)] = [r["metrics"]["mse"] for r in runs]
        slowest = max(slowest, time.perf_counter() - t1)
        done.append(n)
        ctx.log(f"  sine-sweep n={n}: {time.perf_counter() - t1:.1f} s")
    if len(done) < len(sizes):
        ctx.cuts.append(f"training-set sizes {done} of {sizes} (budget)")
    if [n for n in (100, 200, 500, 800) if n not in done]:
        ctx.cuts.append(f"sizes {done} + the full {ntr} (paper 100, 200, 500, 800)")
    full = {m: [r["metrics"]["r2"] for r in mres["runs"]] for m, mres in sres["methods"].items()}
    mse_full = {m: [r["metrics"]["mse"] for r in mres["runs"]] for m, mres in sres["methods"].items()}
    return {"sizes": done, "full_size": ntr, "r2": r2, "r2_full": full, "mse": mse, "mse_full": mse_full,
            "seconds_resumed": round(resumed, 2)}  # fmt: skip


def inr_curve_stage(ctx: StageContext) -> dict[str, Any]:
    """Stage ``inr-curve``: one method at fixed settings, seed ``ctx.seeds[0]``, trained on random subsets of
    the ``zoo-inr`` training INRs of growing size, tested on every test INR: whether the number of training
    INRs limits the accuracy. Each size trains ``max(epochs, ceil(min_passes / n))`` epochs, so small sets
    are not held back by too few optimiser steps. Each finished size is kept in ``ctx.work`` (a rerun resumes),
    with its model's checkpoint (``<method>-n<size>-s<seed>-<key>.safetensors``).
    """
    import hashlib

    from kan_core.repro import write_json_atomic

    from ..tasks import make_task, save_checkpoint

    s = ctx.settings
    zrec = ctx.results["zoo-inr"]
    data = make_task("inr", _load(zrec["path"]))
    ntr = len(data.splits["train"])
    sizes = [n for n in s["sizes"] if n <= ntr]
    if len(sizes) < len(s["sizes"]):
        ctx.cuts.append(f"training sizes {sizes} (the zoo has {ntr} training INRs)")
    c, paper = s["config"], PAPER_INR
    ctx.cuts.append(f"{s['method']} h{c['hidden']} d{c['depth']} p{c['dropout']} lr {c['lr']:g}, batch {s['batch_size']}, "
                    f"at least {s['epochs']} epochs (paper h{paper['hidden']} d{paper['depth']} p{paper['dropout']}, "
                    f"batch {paper['batch_size']}, {paper['epochs']} epochs); one seed (paper 3)")  # fmt: skip
    seed, rows, resumed = ctx.seeds[0], [], 0.0
    key = hashlib.sha256(json.dumps([s, zrec], sort_keys=True).encode()).hexdigest()[:12]
    for n in sizes:
        kept = ctx.work / f"n{n}-s{seed}-{key}.json"
        if kept.is_file():
            row = json.loads(kept.read_text())
            rows.append({**row, "best_epoch": best_epoch_from_one(row), **EPOCHS_FROM_ONE})
            resumed += row["train_seconds"]
            ctx.log(f"  inr-curve n={n}: kept ({rows[-1]['accuracy']:.4f})")
            continue
        epochs = max(int(s["epochs"]), math.ceil(int(s["min_passes"]) / n))
        model, _, res = _one_run("inr", data, s["method"], s["config"], seed, epochs, int(s["batch_size"]),
                                 ctx.device, 2048, train_size=n if n < ntr else None,
                                 log=lambda msg, n=n: ctx.log(f"  inr-curve n={n}: {msg}"), compile=ctx.compile)  # fmt: skip
        save_checkpoint(ctx.work / f"{s['method']}-n{n}-s{seed}-{key}.safetensors", model.cpu(), data, res)
        row = {"train_inrs": n, "epochs": epochs, "accuracy": res["metrics"]["accuracy"], "best_val": res["best_val"],
               "best_epoch": res["best_epoch"], **EPOCHS_FROM_ONE,
               "train_seconds": round(res["train_seconds"], 1)}  # fmt: skip
        write_json_atomic(kept, row)
        rows.append(row)
        ctx.log(f"  inr-curve n={n}: test accuracy {row['accuracy']:.4f} ({row['train_seconds']:.0f} s)")
    return {"method": s["method"], "config": s["config"], "seed": seed, "min_passes": int(s["min_passes"]),
            "val_inrs": len(data.splits["val"]), "test_inrs": len(data.splits["test"]), "rows": rows,
            "zoo": _zoo_used(zrec), "checkpoints": str(ctx.work), "key": key,
            "seconds_resumed": resumed}  # fmt: skip


def inr_quality_stage(ctx: StageContext) -> dict[str, Any]:
    """Stage ``inr-quality``: what the INR-epoch cut costs in reconstruction. Rebuilds the zoo's first
    ``models`` training-image INRs (same images, same seeds) with ``epochs`` epochs (the paper's 1000) and
    compares their mean PSNR with the same INRs in ``zoo-inr`` and with the whole zoo's mean."""
    from ..zoo import build_zoo

    s = ctx.settings
    zrec = ctx.results["zoo-inr"]
    zoo = _load(zrec["path"])
    n, epochs = int(s["models"]), int(s["epochs"])
    p = _preset(s["inr"]).replace(splits=(n, 0, 0), epochs=epochs)
    long = _load(str(build_zoo(p, ctx.out / "zoos" / "inr-quality", models=n, epochs=epochs, device=ctx.device,
                               seed=0)))  # fmt: skip

    def mean_psnr(z: Any, k: int) -> float:
        return sum(float(m["psnr"]) for m in z.meta[:k]) / k

    return {"models": n, "epochs": epochs, "zoo_epochs": zrec["epochs"], "psnr_long": mean_psnr(long, n),
            "psnr_zoo_same": mean_psnr(zoo, n), "psnr_zoo_all": mean_psnr(zoo, len(zoo)),
            "zoo": _zoo_used(zrec)}  # fmt: skip


def _ood_source(ctx: StageContext) -> tuple[Path, float, dict[str, Any]]:
    """The WS-KAN the ``ood`` stage reads: ``(checkpoint, its in-distribution test accuracy, its zoo)``: the
    ``inr`` stage's seed-0 model, or (a plan with ``depends`` naming ``inr-curve``) the curve's largest."""
    if "inr-curve" in ctx.results:
        cur = ctx.results["inr-curve"]
        last = cur["rows"][-1]
        name = f"{cur['method']}-n{last['train_inrs']}-s{cur['seed']}-{cur['key']}.safetensors"
        return Path(cur["checkpoints"]) / name, last["accuracy"], cur["zoo"]
    inr = ctx.results["inr"]
    acc = inr["methods"]["wskan"]["runs"][0]["metrics"]["accuracy"]
    return Path(inr["checkpoints"]) / f"wskan-s{ctx.seeds[0]}.safetensors", acc, inr["zoo"]


def ood_stage(ctx: StageContext) -> dict[str, Any]:
    """Stage ``ood``: a WS-KAN trained on the ``zoo-inr`` INRs (:func:`_ood_source`) evaluated on every
    ``zoo-ood`` width."""
    from ..tasks import evaluate_ood, load_checkpoint

    ckpt, in_dist, zoo = _ood_source(ctx)
    if not ckpt.is_file():
        return {"skipped": f"no WS-KAN checkpoint at {ckpt}"}
    model, _ = load_checkpoint(ckpt, ctx.device)
    zoos = {int(h): _load(p) for h, p in ctx.results["zoo-ood"]["zoos"].items()}
    skipped: dict[int, str] = {}
    res = evaluate_ood(model, "inr", zoos, device=ctx.device, skipped=skipped)
    return {"accuracy": {str(h): r["accuracy"] for h, r in res.items()}, "skipped": {str(k): v for k, v in skipped.items()},
            "train_width": ctx.results["zoo-ood"]["train_width"], "in_distribution_test_accuracy": in_dist,
            "checkpoint": ckpt.name, "dataset": zoo.get("dataset"),
            "test_models": {str(h): len(z) for h, z in zoos.items()}}  # fmt: skip


def pruning_stage(ctx: StageContext) -> dict[str, Any]:
    """Stage ``pruning``: downstream accuracy / kept weights of test classifiers pruned by each method's
    seed-0 mask predictor (threshold from validation), and the time of one WS-KAN forward vs the oracle."""
    from ..tasks import align_features, downstream_pruning, load_checkpoint, make_task, pruning_timing

    mres = ctx.results["mask"]
    zoo = _load(mres["zoo"]["path"])
    base = make_task("mask", zoo)
    models = {}
    for method in mres["methods"]:
        ckpt = Path(mres["checkpoints"]) / f"{method}-s{ctx.seeds[0]}.safetensors"
        if ckpt.is_file():
            data = align_features(base) if method == "mlp-align" else base
            models[method] = (load_checkpoint(ckpt, ctx.device)[0], data)
    s = ctx.settings
    pr = downstream_pruning(models, zoo, max_models=int(s["max_models"]), device=ctx.device)
    timing = None
    if "wskan" in models:  # both timed on the CPU, where the oracle runs
        model, data = models["wskan"]
        timing = pruning_timing(model.cpu(), data, zoo, num_models=int(s["timing_models"]))
        timing["device"] = "cpu"
    if pr["num_models"] < 100:
        ctx.cuts.append(f"{pr['num_models']} test classifiers pruned (paper 100)")
    return {"pruning": pr, "timing": timing}


STAGES: list[Stage] = [
    Stage("zoo-sine", build_stage_zoo, (), STAGE_WEIGHTS["zoo-sine"], "sine-wave INR zoo (C.1.1)", seeded=False),
    Stage("zoo-inr", build_stage_zoo, (), STAGE_WEIGHTS["zoo-inr"], "image INR zoo (C.1.1)", seeded=False),
    Stage("zoo-clf", build_stage_zoo, (), STAGE_WEIGHTS["zoo-clf"], "label-noise classifier zoo, oracle masks", seeded=False),
    Stage("zoo-ood", build_ood_zoos, (), STAGE_WEIGHTS["zoo-ood"], "wider test-image INR zoos (5.1.1)", seeded=False),
    Stage("sine", train_stage, ("zoo-sine",), STAGE_WEIGHTS["sine"], "sine frequency regression (Figure 8)"),
    Stage("sine-sweep", sine_sweep_stage, ("sine",), STAGE_WEIGHTS["sine-sweep"],
          "training-set-size sweep on sine (Figure 8)"),
    Stage("inr", train_stage, ("zoo-inr",), STAGE_WEIGHTS["inr"], "INR classification (Table 1)"),
    Stage("inr-curve", inr_curve_stage, ("zoo-inr",), STAGE_WEIGHTS["inr-curve"],
          "WS-KAN accuracy vs training INRs"),
    Stage("inr-quality", inr_quality_stage, ("zoo-inr",), STAGE_WEIGHTS["inr-quality"],
          "INR reconstruction PSNR: zoo epochs vs the paper's 1000"),
    Stage("accuracy", train_stage, ("zoo-clf",), STAGE_WEIGHTS["accuracy"], "accuracy prediction (Table 3)"),
    Stage("mask", train_stage, ("zoo-clf",), STAGE_WEIGHTS["mask"], "pruning-mask prediction (Table 4)"),
    Stage("ablation", ablation_stage, ("inr", "accuracy", "mask"), STAGE_WEIGHTS["ablation"],
          "WS-KAN ablations (Tables 6-10)"),
    Stage("ood", ood_stage, ("inr", "zoo-ood"), STAGE_WEIGHTS["ood"], "OOD widths (Table 2)"),  # cpu-full: inr-curve
    Stage("pruning", pruning_stage, ("mask",), STAGE_WEIGHTS["pruning"], "downstream pruning and timing (Figure 5)"),
]  # fmt: skip
