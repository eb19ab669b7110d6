"""``kan ws ...`` (train / eval / table / plot) and ``kan prune --predict``.

Examples::

    kan ws train --task sine --zoo runs/zoos/sine-cpu --model wskan --seed 0 --epochs 40 --out runs/ws
    torchrun --nproc-per-node 2 -m kan_ws.cli train --task sine --zoo ... --model wskan --out runs/ws
    kan ws eval --checkpoint runs/ws/sine-wskan-s0.safetensors --zoo runs/zoos/sine-cpu
    kan ws table runs/ws
    kan ws plot runs/ws --out runs/ws/figures
    kan prune --predict runs/ws/mask-wskan-s0.safetensors my_kan.safetensors --out pruned.safetensors
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

__all__ = ["group", "prune", "load_any_kan", "load_pykan_checkpoint", "write_json"]


def write_json(path: str | Path, obj: Any) -> None:
    """Atomic JSON write (NaN written as null)."""
    from kan_core.io import atomic_write_bytes

    from .tasks import _nan_to_none

    atomic_write_bytes(path, (json.dumps(_nan_to_none(obj), indent=2, sort_keys=True) + "\n").encode())


def _load_zoo(path: str):
    from .zoo import load_zoo

    return load_zoo(path)


@click.group(name="ws")
def group() -> None:
    """Weight-space learning on KAN zoos: WS-KAN and the six baselines."""


@group.command()
@click.option("--task", required=True, type=click.Choice(["inr", "sine", "accuracy", "mask"]))
@click.option(
    "--zoo", "zoo_dir", required=True, type=click.Path(exists=True, file_okay=False), help="Zoo folder."
)
@click.option(
    "--model",
    "method",
    default="wskan",
    show_default=True,
    type=click.Choice(
        ["wskan", "wskan-nope", "wskan-nobidir", "mlp", "mlp-aug", "mlp-align", "dmc", "deepsets", "settrans"]
    ),
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--epochs", default=50, show_default=True, type=int)
@click.option("--batch-size", default=32, show_default=True, type=int)
@click.option("--lr", default=1e-3, show_default=True, type=float)
@click.option("--weight-decay", default=0.01, show_default=True, type=float)
@click.option("--hidden", default=128, show_default=True, type=int)
@click.option("--depth", default=4, show_default=True, type=int)
@click.option("--dropout", default=0.2, show_default=True, type=float)
@click.option("--train-size", default=None, type=int, help="Random subset of the training split.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:1, auto.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--quiet", is_flag=True)
def train(
    task,
    zoo_dir,
    method,
    seed,
    epochs,
    batch_size,
    lr,
    weight_decay,
    hidden,
    depth,
    dropout,
    train_size,
    device,
    out,
    quiet,
) -> None:
    """Train one model on one task; writes <task>-<model>-s<seed>.json and .safetensors into --out.

    Runs unchanged under ``torchrun --nproc-per-node N`` (DistributedDataParallel, gloo on CPU).
    """
    from kan_core.runtime import init_distributed, resolve_device

    from .tasks import run_experiment, save_checkpoint
    from .train import TrainConfig

    env = init_distributed(device if device != "auto" else None)
    dev = resolve_device(device)
    if dev.type == "cuda" and env.is_distributed:
        import torch

        dev = torch.device("cuda", env.local_rank)
    zoo = _load_zoo(zoo_dir)
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay)
    model_cfg = {"hidden": hidden, "depth": depth, "dropout": dropout}
    if method == "settrans":
        model_cfg["hidden"] = min(hidden, 64)
    log = None if quiet else (lambda s: click.echo(f"[{task}/{method}/s{seed}] {s}", err=True))
    model, data, result = run_experiment(
        task,
        zoo,
        method,
        seed=seed,
        train_cfg=cfg,
        model_cfg=model_cfg,
        device=dev,
        train_size=train_size,
        log=log,
    )
    result.update(zoo=str(zoo_dir), world_size=env.world_size)
    if env.rank == 0:
        outp = Path(out)
        outp.mkdir(parents=True, exist_ok=True)
        stem = f"{task}-{method}-s{seed}" + (f"-n{train_size}" if train_size else "")
        write_json(outp / f"{stem}.json", result)
        save_checkpoint(outp / f"{stem}.safetensors", model.cpu(), data, result)
        click.echo(json.dumps({"task": task, "method": method, "seed": seed, **result["metrics"]}))
    if env.is_distributed:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()


@group.command(name="eval")
@click.option("--checkpoint", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--zoo", "zoo_dir", required=True, type=click.Path(exists=True, file_okay=False))
@click.option(
    "--split", default="test", show_default=True, type=click.Choice(["train", "val", "test", "all"])
)
@click.option("--device", default="cpu", show_default=True)
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="Write the metrics JSON here.")
def eval_cmd(checkpoint, zoo_dir, split, device, out) -> None:
    """Evaluate a trained checkpoint on a zoo (any width for WS-KAN: out-of-distribution evaluation)."""
    import dataclasses

    import torch
    from kan_core.runtime import resolve_device

    from .tasks import align_features, evaluate, load_checkpoint, make_task

    dev = resolve_device(device)
    model, header = load_checkpoint(checkpoint, dev)
    data = make_task(header["task"], _load_zoo(zoo_dir))
    if header["result"].get("method") == "mlp-align":
        data = align_features(data)
    stats = header.get("targets") or {}
    if stats:
        data = dataclasses.replace(
            data, target_mean=torch.tensor(stats["target_mean"]), target_std=torch.tensor(stats["target_std"])
        )
    if split == "all":
        data = dataclasses.replace(data, splits={**data.splits, "all": torch.arange(len(data))})
    thr = header["result"].get("metrics", {}).get("threshold")
    metrics = evaluate(model, data, split, device=dev, threshold=thr)
    res = {
        "checkpoint": str(checkpoint),
        "zoo": str(zoo_dir),
        "split": split,
        "widths": list(data.template.widths),
        "metrics": metrics,
    }
    if out:
        write_json(out, res)
    click.echo(json.dumps(res))


@group.command()
@click.option(
    "--checkpoint",
    "checkpoints",
    required=True,
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="Trained WS-KAN checkpoints (repeat: one per seed/method).",
)
@click.option(
    "--zoo",
    "zoos",
    required=True,
    multiple=True,
    type=click.Path(exists=True, file_okay=False),
    help="Zoos of KANs of other hidden widths (repeat).",
)
@click.option("--device", default="cpu", show_default=True)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="ood.json (read by kan ws plot).")
def ood(checkpoints, zoos, device, out) -> None:
    """Out-of-distribution evaluation of trained models on zoos of wider KANs (all their models)."""
    import torch

    from .tasks import evaluate_ood, load_checkpoint

    loaded = {z: _load_zoo(z) for z in zoos}
    results: dict[str, dict[str, list]] = {}
    metric = None
    for c in checkpoints:
        model, header = load_checkpoint(c, device)
        task = header["task"]
        stats = header.get("targets") or {}
        train = None
        if stats:
            from types import SimpleNamespace

            train = SimpleNamespace(
                target_mean=torch.tensor(stats["target_mean"]), target_std=torch.tensor(stats["target_std"])
            )
        by_h = {int(z.spec.widths[1]): z for z in loaded.values()}
        skipped: dict[int, str] = {}
        res = evaluate_ood(model, task, by_h, device=device, train_data=train, skipped=skipped)
        metric = {"inr": "accuracy", "mask": "roc_auc"}.get(task, "mse")
        method = header["result"].get("method", "wskan")
        for h, why in skipped.items():
            click.echo(f"{c}: skipped h={h}: {why}", err=True)
        for h, m in res.items():
            results.setdefault(method, {}).setdefault(str(h), []).append(m)
    write_json(out, {"metric": metric, "results": results})
    click.echo(json.dumps({"metric": metric, "results": results}))


@group.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="Also write the table (Markdown).")
def table(paths, out) -> None:
    """A paper-style table (mean +- std over seeds) from result JSON files or folders holding them.

    With --out PATH the table is written three times beside each other: PATH's stem with .md (Markdown),
    .csv (one line per task, zoo, training-set size and method) and .json (the same records).
    """
    from .plots import collect_results, results_table, write_table

    rows = collect_results(paths)
    if not rows:
        raise click.UsageError(f"no result JSON files (with 'task', 'method', 'metrics') under {list(paths)}")
    click.echo(results_table(rows))
    if out:
        for suffix in (".md", ".csv", ".json"):
            write_table(rows, Path(out).with_suffix(suffix))


@group.command()
@click.argument("results", type=click.Path(exists=True, file_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False))
def plot(results, out) -> None:
    """PNG figures from a results folder: test metrics per method and learning curves of every
    `kan ws train` run, pruning trade-off, sine training-set-size curve, OOD curve."""
    from .plots import plot_all

    written = plot_all(results, out)
    if not written:
        raise click.UsageError(
            f"nothing to plot in {results} (needs kan ws train result JSONs, pruning.json or ood.json)"
        )
    for p in written:
        click.echo(p)


# ---------------------------------------------------------------------------------------------- prune
def load_pykan_checkpoint(path: str | Path):
    """A pykan ``saveckpt`` checkpoint as a kan-core KAN (:func:`kan_core.interop.load_pykan_checkpoint`);
    unreadable files become a usage error naming the file."""
    from kan_core.interop import load_pykan_checkpoint as _load

    try:
        return _load(path)
    except ValueError as e:
        raise click.BadParameter(str(e)) from e


def load_any_kan(path: str | Path):
    """A kan-core ``.safetensors`` KAN or a pykan checkpoint."""
    from kan_core import KAN

    p = Path(path)
    if p.suffix == ".safetensors":
        return KAN.load(p)
    return load_pykan_checkpoint(p)


@click.command(name="prune")
@click.option(
    "--predict",
    "predict_args",
    nargs=2,
    required=True,
    type=(click.Path(exists=True), str),
    metavar="CHECKPOINT MODEL",
    help="A trained mask predictor (kan ws train --task mask) and a KAN (.safetensors or pykan ckpt).",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Pruned KAN (.safetensors).")
@click.option(
    "--threshold", default=None, type=float, help="Probability threshold (default: the validation one)."
)
@click.option("--device", default="cpu", show_default=True)
def prune(predict_args, out, threshold, device) -> None:
    """Prune a KAN in one forward pass of a trained mask predictor (no data needed)."""
    import time

    import torch
    from kan_core.prune import apply_masks, kept_fraction

    from .data import edge_features, graph_template, make_batch
    from .tasks import _layer_masks, load_checkpoint

    ckpt, model_path = predict_args
    predictor, header = load_checkpoint(ckpt, device)
    if header.get("task") != "mask":
        raise click.BadParameter(f"{ckpt} was trained for task {header.get('task')!r}, not 'mask'")
    kan = load_any_kan(model_path)
    spec = kan.spec
    if spec.basis != "bspline":
        raise click.BadParameter(
            f"{model_path}: mask predictors read B-spline KANs, this one is {spec.basis!r}"
        )
    feats = edge_features(
        spec, [{k: v.detach().unsqueeze(0) for k, v in p.items()} for p in kan.layer_params()]
    )
    want = predictor.config().get("edge_in") or predictor.config().get("edge_dim")
    if want is not None and feats.shape[-1] != want:
        raise click.BadParameter(
            f"{model_path}: edge features have {feats.shape[-1]} entries (grid_size + k + 2), the predictor "
            f"was trained on {want}"
        )
    batch = make_batch(graph_template(spec), feats.to(device))
    thr = threshold if threshold is not None else header["result"].get("metrics", {}).get("threshold", 0.5)
    t0 = time.perf_counter()
    with torch.no_grad():
        scores = torch.sigmoid(predictor(batch)).reshape(1, -1).cpu()
    seconds = time.perf_counter() - t0
    masks = [
        m[0] * layer.mask.detach().cpu()
        for m, layer in zip(_layer_masks(spec.widths, (scores > thr).float()), kan.layers)
    ]
    apply_masks(kan, masks)
    kept = float(kept_fraction(masks))
    meta = dict(getattr(kan, "metadata", {}) or {})
    meta.update(pruned_by=str(ckpt), threshold=float(thr), kept_fraction=kept)
    kan.save(out, metadata=meta)
    click.echo(
        json.dumps(
            {"out": str(out), "kept_fraction": kept, "threshold": float(thr), "predict_seconds": seconds}
        )
    )


from .commands import predict, prune_eval  # noqa: E402 - new commands live in their own module

group.add_command(predict)
group.add_command(prune_eval)

if __name__ == "__main__":  # python -m kan_ws.cli train ... (torchrun entry)
    group(sys.argv[1:])
