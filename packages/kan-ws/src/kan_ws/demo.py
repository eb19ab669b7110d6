"""``kan demo``: the README's main job at CPU scale.

Builds (or reuses) the ``sine-cpu`` INR zoo and the ``digits-clf-cpu`` classifier zoo with oracle masks,
trains WS-KAN, its two ablations and the six baselines on sine-frequency regression (plus the
training-set-size sweep), accuracy prediction and pruning-mask prediction over 3 seeds, evaluates
downstream pruning and its time against the oracle, prints paper-style tables and writes the figures.
Everything lands in ``--out``; finished runs are skipped when the command is run again (resumable).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import click
from kan_core.cli_options import (
    check_output_folder,
    device_option,
    force_option,
    lock_output,
    quiet_option,
    seed_option,
    threads_option,
)

from .models import REGISTRY, get_method, method_names

__all__ = ["demo", "DemoBudget", "BUDGETS", "run_demo", "sweep_epochs_for", "demo_entry"]

#: what ``kan demo`` writes at the top of its --out folder (anything else there is not the demo's)
_DEMO_ENTRIES = ("zoos", "results", "figures", "tables.md")


def demo_entry(path: Path) -> bool:
    """True for the entries a demo run writes at the top of its folder (and their temporary files)."""
    return path.name in _DEMO_ENTRIES or (path.name.startswith(".tables.md.") and path.name.endswith(".tmp"))


@dataclass(frozen=True)
class DemoBudget:
    """Sizes of one demo setting (the full one fits ~15 minutes on 2 CPU cores, zoo builds included)."""

    zoo_models: int | None  # None: the preset's own size
    zoo_epochs: dict[str, int | None]  # per preset; None: the preset's own
    seeds: tuple[int, ...]
    epochs: dict[str, int]
    hidden: int
    depth: int
    batch_size: int
    lr: float
    sweep: tuple[int, ...]
    sweep_epochs: int  # at the full training-set size; see :func:`sweep_epochs_for`
    methods: tuple[str, ...]
    ablations: tuple[str, ...]
    prune_models: int
    settrans_max_edges: int
    model_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: tuple[str, ...] = ("sine", "accuracy", "mask")
    sweep_methods: tuple[str, ...] | None = None  # None: every method of ``methods``
    # method -> task -> TrainConfig fields that replace the budget's (epochs, lr, batch_size, ...)
    train_overrides: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)


_WSKAN_NO_DROPOUT = {m: {"dropout": 0.0} for m in ("wskan", "wskan-nope", "wskan-nobidir")}
_ALL = method_names("baseline", "wskan")
BUDGETS = {
    "full": DemoBudget(
        zoo_models=None,
        zoo_epochs={},
        seeds=(0, 1, 2),
        epochs={"sine": 25, "accuracy": 12, "mask": 6},
        hidden=32,
        depth=3,
        batch_size=32,
        lr=2e-3,
        sweep=(100, 200, 500, 800),
        sweep_epochs=12,
        methods=_ALL,
        ablations=("wskan-nope", "wskan-nobidir"),
        prune_models=100,
        settrans_max_edges=512,
        model_overrides={
            "settrans": {"hidden": 32, "depth": 2, "heads": 1},
            # WS-KAN without dropout: with 12-25 epochs on 150-240 training models, dropout inside every
            # per-edge message only lengthens the initial plateau (accuracy R^2 0.67 +- 0.16 -> 0.89 +- 0.02
            # over 3 seeds; sine 0.947 -> 0.965; mask unchanged)
            **_WSKAN_NO_DROPOUT,
        },
        # SetTrans is left out of the training-set-size sweep: its attention costs ~170 s of the 15 minutes
        sweep_methods=tuple(m for m in _ALL if m != "settrans"),
        train_overrides={
            # DeepSets is still improving at epoch 12 on accuracy prediction (R^2 0.10 +- 0.11 at 12 epochs,
            # 0.52 +- 0.03 at 36, best epochs 33-36); 24 more epochs cost ~20 s of the 15 minutes
            "deepsets": {"accuracy": {"epochs": 36}},
            # flat MLPs on 14,400 inputs: AdamW at 2e-3 moves every first-layer weight coherently and the
            # training loss spikes (2.7 at epoch 2), so validation picks epoch 1-2; 5e-4 trains smoothly
            # (R^2, 3 seeds: MLP 0.20 -> 0.27, + Aug. 0.75 -> 0.76, + Align. -0.03 +- 0.74 -> 0.52 +- 0.15)
            **{m: {"accuracy": {"lr": 5e-4}} for m in ("mlp", "mlp-aug", "mlp-align")},
        },
    ),
    "quick": DemoBudget(
        zoo_models=16,
        zoo_epochs={"sine-cpu": 1, "digits-clf-cpu": 1},
        seeds=(0,),
        epochs={"sine": 1, "accuracy": 1, "mask": 1},
        hidden=16,
        depth=2,
        batch_size=8,
        lr=1e-3,
        sweep=(),
        sweep_epochs=1,
        methods=_ALL,
        ablations=(),
        prune_models=3,
        settrans_max_edges=512,
        model_overrides={"settrans": {"hidden": 16, "depth": 1}, **_WSKAN_NO_DROPOUT},
        train_overrides={"deepsets": {"accuracy": {"epochs": 2}}, "mlp": {"accuracy": {"lr": 5e-4}}},
    ),
}

_TASK_ZOO = {"sine": "sine", "accuracy": "clf", "mask": "clf"}


def sweep_epochs_for(epochs: int, full_size: int, train_size: int) -> int:
    """Epochs of a training-set-size sweep run: as many optimiser steps as ``epochs`` on the full set.

    A fixed epoch count would give a 100-model subset 2.4x fewer steps than the 240-model set and mix
    "less data" with "less training" (WS-KAN on 100 sine INRs: R^2 0.19 at 12 epochs, 0.92 at 29).
    """
    if train_size <= 0 or full_size <= 0:
        raise ValueError(f"sweep sizes must be positive, got full_size={full_size}, train_size={train_size}")
    return max(1, round(epochs * full_size / train_size))


def _echo(msg: str) -> None:
    from kan_core.progress import log

    log(msg)


def _build(
    preset: str, out: Path, budget: DemoBudget, device: str, seed: int, _log: Callable[[str], None]
) -> Any:
    from .zoo import build_zoo, load_zoo

    t0 = time.perf_counter()
    path = build_zoo(
        preset,
        out / "zoos" / preset,
        models=budget.zoo_models,
        device=device,
        seed=seed,
        epochs=budget.zoo_epochs.get(preset),
    )
    zoo = load_zoo(path)
    _log(
        f"zoo {preset}: {len(zoo)} models of widths {list(zoo.spec.widths)} ready in {time.perf_counter() - t0:.1f} s"
    )
    return zoo


def run_demo(
    out: str | Path,
    *,
    budget: DemoBudget,
    device: str = "cpu",
    seed: int = 0,
    zoos: dict[str, Any] | None = None,
    log: Callable[[str], None] | None = _echo,
) -> dict[str, Any]:
    """Run the whole demo; returns ``{"tables": str, "figures": [...], "pruning": {...}, "seconds": float}``.

    ``zoos`` may supply ready zoos ``{"sine": zoo, "clf": zoo}`` (tests); otherwise they are built.
    ``log`` receives one line per step (zoo ready, run finished, ...); None: silent.
    """
    _log: Callable[[str], None] = log or (lambda _msg: None)
    import torch

    from .checkpoints import write_json
    from .models import InfeasibleError
    from .plots import collect_results, plot_all, results_table
    from .tasks import (
        align_features,
        downstream_pruning,
        load_checkpoint,
        make_task,
        pruning_timing,
        run_experiment,
        save_checkpoint,
    )
    from .train import TrainConfig

    t_start = time.perf_counter()
    out = Path(out)
    res_dir = out / "results"
    res_dir.mkdir(parents=True, exist_ok=True)
    if zoos is None:
        zoos = {
            "sine": _build("sine-cpu", out, budget, device, seed, _log),
            "clf": _build("digits-clf-cpu", out, budget, device, seed, _log),
        }
    mask_models: dict[str, tuple[torch.nn.Module, Any]] = {}
    timings: dict[str, float] = {}

    def one(task: str, method: str, s: int, data: Any, epochs: int, train_size: int | None = None) -> None:
        stem = f"{task}-{method}-s{s}" + (f"-n{train_size}" if train_size else "")
        jpath, cpath = res_dir / f"{stem}.json", res_dir / f"{stem}.safetensors"
        if jpath.is_file() and cpath.is_file():
            if task == "mask" and s == budget.seeds[0] and train_size is None:
                mask_models[method] = (load_checkpoint(cpath, device)[0], data)
            return
        mcfg = {"hidden": budget.hidden, "depth": budget.depth, **budget.model_overrides.get(method, {})}
        if get_method(method).edge_limited:
            mcfg["max_edges"] = budget.settrans_max_edges
        cfg = TrainConfig(epochs=epochs, batch_size=budget.batch_size, lr=budget.lr)
        if train_size is None:  # the sweep keeps the budget's settings
            cfg = replace(cfg, **budget.train_overrides.get(method, {}).get(task, {}))
        t0 = time.perf_counter()
        try:
            model, data_, result = run_experiment(
                task,
                None,
                method,
                seed=s + seed,
                train_cfg=cfg,
                model_cfg=mcfg,
                device=device,
                train_size=train_size,
                data=data,
            )
        except InfeasibleError as e:
            _log(f"  {stem}: skipped ({e})")
            return
        result.update(zoo="sine-cpu" if task == "sine" else "digits-clf-cpu", seed=s)
        write_json(jpath, result)
        save_checkpoint(cpath, model.cpu(), data_, result)
        dt = time.perf_counter() - t0
        timings[stem] = dt
        short = ", ".join(
            f"{k}={v:.4g}" for k, v in result["metrics"].items() if k in ("mse", "r2", "accuracy", "roc_auc")
        )
        _log(f"  {stem}: {short} ({dt:.1f} s, best epoch {result['best_epoch']}/{cfg.epochs})")
        if task == "mask" and s == budget.seeds[0] and train_size is None:
            mask_models[method] = (model, data_)

    methods = tuple(budget.methods) + tuple(budget.ablations)
    for task in budget.tasks:
        zoo = zoos[_TASK_ZOO[task]]
        base = make_task(task, zoo)
        aligned = None
        _log(f"task {task}: {len(base)} models, {base.template.num_edges} edges per KAN")
        for method in methods:
            data = base
            if get_method(method).align:
                if aligned is None:
                    t0 = time.perf_counter()
                    aligned = align_features(base)
                    _log(f"  MergeMany alignment of {len(base)} models: {time.perf_counter() - t0:.1f} s")
                data = aligned
            for s in budget.seeds:
                one(task, method, s, data, budget.epochs[task])
        if task == "sine" and budget.sweep:
            ntr = len(base.splits["train"])
            sizes = [n for n in budget.sweep if n < ntr]
            for method in budget.sweep_methods or budget.methods:
                data = aligned if get_method(method).align else base
                for n in sizes:
                    for s in budget.seeds:
                        one(
                            task, method, s, data, sweep_epochs_for(budget.sweep_epochs, ntr, n), train_size=n
                        )

    # downstream pruning (first seed's predictors) and timing against the oracle
    pruning = None
    if mask_models:
        t0 = time.perf_counter()
        pruning = downstream_pruning(mask_models, zoos["clf"], max_models=budget.prune_models, device=device)
        timing = (
            pruning_timing(mask_models["wskan"][0], mask_models["wskan"][1], zoos["clf"])
            if "wskan" in mask_models
            else None
        )
        write_json(res_dir / "pruning.json", {"pruning": pruning, "timing": timing})
        _log(f"downstream pruning of {pruning['num_models']} classifiers: {time.perf_counter() - t0:.1f} s")
        if timing:
            _log(
                f"pruning time per model: oracle {timing['oracle_seconds']:.3g} s vs WS-KAN {timing['predict_seconds']:.3g} s "
                f"({timing['speedup']:.3g}x)"
            )
    tables = results_table(collect_results([res_dir]))
    figures = plot_all(res_dir, out / "figures")
    from kan_core.io import atomic_write_bytes

    atomic_write_bytes(out / "tables.md", tables.encode())
    return {
        "tables": tables,
        "figures": [str(f) for f in figures],
        "pruning": pruning,
        "seconds": time.perf_counter() - t_start,
        "run_seconds": timings,
    }


def _pruning_summary(pruning: dict[str, Any]) -> str:
    import math

    lines = [
        "### downstream pruning (mean over test classifiers)",
        "",
        "| method | test accuracy | weights kept |",
        "|---|---|---|",
    ]
    for name, r in pruning["methods"].items():
        acc = sum(r["accuracy"]) / len(r["accuracy"])
        kept = sum(r["kept"]) / len(r["kept"])
        label = {"original": "Original KAN", "oracle": "Oracle prune"}.get(
            name, REGISTRY[name].display if name in REGISTRY else name
        )
        lines.append(
            f"| {label} | {acc * 100:.1f}% | {kept * 100:.1f}% |"
            if not math.isnan(acc)
            else f"| {label} | n/a | n/a |"
        )
    return "\n".join(lines) + "\n"


@click.command(name="demo")
@click.option(
    "--out",
    default="kan-demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for zoos, checkpoints, results and figures (reused: finished steps are skipped).",
)
@device_option()
@seed_option()
@click.option("--quick", is_flag=True, help="A tiny setting (< 60 s) for smoke tests.")
@threads_option()
@force_option(
    "--out is used although it holds files the demo did not write (finished steps are still reused)"
)
@quiet_option()
def demo(out, device, seed, quick, threads, force, quiet) -> None:
    """Build the CPU zoos, train WS-KAN and six baselines on three weight-space tasks, print tables, plot.

    Resumable: run it again with the same --out and finished steps are skipped.

    \b
    Examples:
      kan demo --quick --out runs/demo-quick
      kan demo --out runs/demo --threads 1
    """
    from kan_core.runtime import resolve_device

    check_output_folder(out, force=force, owned=demo_entry)
    dev = str(resolve_device(device))
    budget = BUDGETS["quick" if quick else "full"]
    t0 = time.perf_counter()
    lock_output(out)
    res = run_demo(out, budget=budget, device=dev, seed=seed, log=_echo)
    click.echo(res["tables"])
    if res["pruning"]:
        click.echo(_pruning_summary(res["pruning"]))
        timing_path = Path(out) / "results" / "pruning.json"
        timing = json.loads(timing_path.read_text()).get("timing")
        if timing:
            click.echo(
                f"pruning time per model: oracle {timing['oracle_seconds']:.3g} s, WS-KAN forward "
                f"{timing['predict_seconds']:.3g} s ({timing['speedup']:.3g}x faster)\n"
            )
    for f in res["figures"]:
        click.echo(f"figure: {f}")
    click.echo(f"total: {time.perf_counter() - t0:.1f} s; results in {Path(out) / 'results'}")
