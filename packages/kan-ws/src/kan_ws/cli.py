"""``kan ws ...`` (train / eval / table / plot) and ``kan prune --predict``.

Examples::

    kan ws train --task sine --zoo runs/zoos/sine-cpu --model wskan --seed 0 --epochs 40 --out runs/ws
    torchrun --nproc-per-node 2 -m kan_ws.cli train --task sine --zoo ... --model wskan --out runs/ws
    kan ws eval --checkpoint runs/ws/sine-wskan-s0.safetensors --zoo runs/zoos/sine-cpu
    kan ws table runs/ws
    kan ws plot runs/ws --out runs/ws/figures
    kan prune my_kan.safetensors --checkpoint runs/ws/mask-wskan-s0.safetensors --out pruned.safetensors
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from kan_core.cli_options import (
    NON_NEGATIVE_FLOAT,
    POSITIVE,
    POSITIVE_FLOAT,
    PROBABILITY,
    EpochProgress,
    check_output_file,
    check_output_folder,
    checkpoint_option,
    compile_option,
    device_option,
    force_option,
    free_path,
    lock_output,
    quiet_option,
    seed_option,
    threads_option,
)

from .checkpoints import write_json
from .models import REGISTRY, get_method, method_names
from .task_kinds import TASKS, get_task

__all__ = ["group", "prune", "load_any_kan", "load_pykan_checkpoint", "write_json", "check_zoo_task"]


def _load_zoo(path: str):
    from .zoo import load_zoo

    return load_zoo(path)


def check_zoo_task(
    zoo_dir: str | Path, task: str, splits: tuple[str, ...] = (), option: str = "--zoo"
) -> dict[str, int]:
    """Refuse (``click.BadParameter``) a zoo whose kind does not fit ``task`` or whose ``splits`` are
    empty, from its manifest alone (before anything is loaded or trained); returns the split sizes."""
    from .zoo.store import read_manifest

    m = read_manifest(zoo_dir)
    kind = m["task"]
    wanted = get_task(task).zoo_kinds
    if kind not in wanted:
        raise click.BadParameter(
            f"{zoo_dir} is a {kind!r} zoo; task {task!r} needs a {'/'.join(wanted)!r} zoo", param_hint=option
        )
    sizes = {k: len(v) for k, v in m["splits"].items()}
    empty = [k for k in splits if not sizes.get(k)]
    if empty:
        shown = ", ".join(f"{k} {n}" for k, n in sorted(sizes.items()))
        raise click.BadParameter(
            f"{zoo_dir}: split {empty[0]!r} is empty ({m['num_models']} models: {shown}); metrics on it would "
            "mean nothing, build the zoo with more models",
            param_hint=option,
        )
    return sizes


@click.group(name="ws")
def group() -> None:
    """Weight-space learning on KAN zoos: WS-KAN and the six baselines.

    \b
    Examples:
      kan ws train --task sine --zoo runs/zoos/sine-cpu --model wskan --out runs/ws
      kan ws table runs/ws
    """


@group.command()
@click.option(
    "--task",
    required=True,
    type=click.Choice(list(TASKS)),
    help="inr: image class of an INR; sine: frequencies of a sine INR; accuracy: a classifier's test "
    "accuracy; mask: its oracle pruning mask (per edge).",
)
@click.option(
    "--zoo",
    "zoo_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Zoo folder (kan zoo build) of the kind the task needs.",
)
@click.option(
    "--model",
    "method",
    default="wskan",
    show_default=True,
    type=click.Choice(list(method_names("wskan", "ablation") + method_names("baseline"))),
    help="WS-KAN, its ablations (no positional encoding / no backward messages) or a baseline.",
)
@seed_option()
@click.option("--epochs", default=50, show_default=True, type=POSITIVE, help="Training epochs (>= 1).")
@click.option("--batch-size", default=32, show_default=True, type=POSITIVE, help="Zoo models per batch.")
@click.option("--lr", default=1e-3, show_default=True, type=POSITIVE_FLOAT, help="AdamW learning rate.")
@click.option(
    "--weight-decay", default=0.01, show_default=True, type=NON_NEGATIVE_FLOAT, help="AdamW weight decay."
)
@click.option("--hidden", default=128, show_default=True, type=POSITIVE, help="Hidden width of the model.")
@click.option("--depth", default=4, show_default=True, type=POSITIVE, help="Layers (message-passing rounds).")
@click.option(
    "--dropout",
    default=0.2,
    show_default=True,
    type=click.FloatRange(0, 1, max_open=True),
    help="Dropout probability in [0, 1).",
)
@click.option("--train-size", default=None, type=POSITIVE, help="Random subset of the training split.")
@compile_option("WS-KAN's message-passing layers (other models run eagerly)")
@device_option()
@threads_option()
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Results folder: <task>-<model>-s<seed>.json and .safetensors are written into it; a rerun "
    "writes <...>-run2.json and so on beside them.",
)
@force_option("this run's <task>-<model>-s<seed>.json and .safetensors in --out are overwritten")
@quiet_option()
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
    compile_,
    device,
    out,
    threads,
    force,
    quiet,
) -> None:
    """Train one model on one task; writes <task>-<model>-s<seed>.json and .safetensors into --out.

    The JSON holds the test metrics, the selected epoch ``best_epoch`` (counted from 1, as the per-epoch
    lines count) with its validation score ``best_val``, and a per-epoch ``history``; validation scores are
    in the units of the task's test metric (``val_metric``: raw MSE for sine and accuracy, accuracy for
    inr, BCE loss for mask).

    Runs unchanged under ``torchrun --nproc-per-node N`` (DistributedDataParallel, gloo on CPU).

    \b
    Examples:
      kan ws train --task sine --zoo runs/zoos/sine-cpu --model wskan --epochs 40 --out runs/ws
      torchrun --nproc-per-node 2 -m kan_ws.cli train --task sine --zoo runs/zoos/sine-cpu --out runs/ws
    """
    from kan_core.runtime import init_distributed, resolve_device

    from .tasks import run_experiment, save_checkpoint
    from .train import TrainConfig

    stem = f"{task}-{method}-s{seed}" + (f"-n{train_size}" if train_size else "")
    check_output_folder(out, force=True)  # a results folder is shared by runs: only its type and access
    result_path = free_path(Path(out) / f"{stem}.json", force=force, companions=(".safetensors",))
    sizes = check_zoo_task(zoo_dir, task, ("train", "val", "test"))
    if train_size is not None and train_size > sizes["train"]:
        raise click.BadParameter(
            f"{train_size} is more than the zoo's {sizes['train']} training models", param_hint="--train-size"
        )
    env = init_distributed(device if device != "auto" else None)
    if env.rank == 0:
        lock_output(out)
    dev = resolve_device(device)
    if dev.type == "cuda" and env.is_distributed:
        import torch

        dev = torch.device("cuda", env.local_rank)
    zoo = _load_zoo(zoo_dir)
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, compile=compile_)
    model_cfg = {"hidden": hidden, "depth": depth, "dropout": dropout}
    cap = get_method(method).max_hidden
    if cap is not None:
        model_cfg["hidden"] = min(hidden, cap)
    with EpochProgress(epochs, label=f"{task}/{method}/s{seed}", quiet=quiet or env.rank != 0) as bar:
        model, data, result = run_experiment(
            task,
            zoo,
            method,
            seed=seed,
            train_cfg=cfg,
            model_cfg=model_cfg,
            device=dev,
            train_size=train_size,
            log=bar.log,
        )
    result.update(zoo=str(zoo_dir), world_size=env.world_size)
    if env.rank == 0:
        result_path.parent.mkdir(parents=True, exist_ok=True)
        write_json(result_path, result)
        save_checkpoint(result_path.with_suffix(".safetensors"), model.cpu(), data, result)
        click.echo(
            json.dumps(
                {"task": task, "method": method, "seed": seed, **result["metrics"], "out": str(result_path)}
            )
        )
    if env.is_distributed:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()


@group.command(name="eval")
@checkpoint_option()
@click.option(
    "--zoo",
    "zoo_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Zoo folder of the kind the checkpoint's task needs.",
)
@click.option(
    "--split",
    default="test",
    show_default=True,
    type=click.Choice(["train", "val", "test", "all"]),
    help="Which of the zoo's splits to evaluate on (all: every model).",
)
@device_option()
@threads_option()
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="Write the metrics JSON here.")
@force_option("--out is overwritten if it exists")
@quiet_option()
def eval_cmd(checkpoint, zoo_dir, split, device, threads, out, force, quiet) -> None:
    """Evaluate a trained checkpoint on a zoo (any width for WS-KAN: out-of-distribution evaluation).

    \b
    Example:
      kan ws eval --checkpoint runs/ws/sine-wskan-s0.safetensors --zoo runs/zoos/sine-cpu --split test
    """
    import dataclasses

    import torch
    from kan_core.runtime import resolve_device

    from .tasks import align_features, evaluate, load_checkpoint, make_task

    check_output_file(out, force=force)
    dev = resolve_device(device)
    model, header = load_checkpoint(checkpoint, dev)
    check_zoo_task(zoo_dir, header["task"], () if split == "all" else (split,))
    data = make_task(header["task"], _load_zoo(zoo_dir))
    trained = REGISTRY.get(header["result"].get("method"))
    if trained is not None and trained.align:
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
@checkpoint_option(multiple=True)
@click.option(
    "--zoo",
    "zoos",
    required=True,
    multiple=True,
    type=click.Path(exists=True, file_okay=False),
    help="Zoos of KANs of other hidden widths (repeat).",
)
@device_option()
@threads_option()
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="ood.json (read by kan ws plot).")
@force_option("--out is overwritten if it exists")
@quiet_option()
def ood(checkpoints, zoos, device, threads, out, force, quiet) -> None:
    """Out-of-distribution evaluation of trained models on zoos of wider KANs (all their models).

    \b
    Example:
      kan ws ood --checkpoint runs/ws/inr-wskan-s0.safetensors --zoo runs/zoos/h48 --zoo runs/zoos/h64 \\
          --out runs/ws/ood.json
    """
    import torch
    from kan_core.runtime import resolve_device

    from .tasks import evaluate_ood, load_checkpoint

    check_output_file(out, force=force)
    device = resolve_device(device)
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
@click.option(
    "--out", default=None, type=click.Path(dir_okay=False),
    help="Also write the table: PATH's stem with .md, .csv and .json.",
)  # fmt: skip
@force_option("the three table files of --out are overwritten if they exist")
def table(paths, out, force) -> None:
    """A paper-style table (mean +- std over seeds) from result JSON files or folders holding them.

    With --out PATH the table is written three times beside each other: PATH's stem with .md (Markdown),
    .csv (one line per task, zoo, training-set size and method) and .json (the same records).

    \b
    Example:
      kan ws table runs/ws --out runs/ws/table.md
    """
    from .plots import collect_results, results_table, write_table

    if out:
        for suffix in (".md", ".csv", ".json"):
            check_output_file(Path(out).with_suffix(suffix), force=force)
    rows = collect_results(paths)
    if not rows:
        raise click.UsageError(f"no result JSON files (with 'task', 'method', 'metrics') under {list(paths)}")
    click.echo(results_table(rows))
    if out:
        for suffix in (".md", ".csv", ".json"):
            write_table(rows, Path(out).with_suffix(suffix))


@group.command()
@click.argument("results", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for the PNG figures; when it already holds figures, a rerun writes into OUT-run2 and so on.",
)
@force_option("the PNG figures in --out are overwritten")
def plot(results, out, force) -> None:
    """PNG figures from a results folder: test metrics per method and learning curves of every
    `kan ws train` run, pruning trade-off, sine training-set-size curve, OOD curve.

    \b
    Example:
      kan ws plot runs/ws --out runs/ws/figures
    """
    from .plots import plot_all

    check_output_folder(out, force=force, owned=lambda e: e.is_file() and e.suffix == ".png")
    if not force and Path(out).is_dir() and any(Path(out).glob("*.png")):
        out = str(free_path(Path(out), force=False))
        click.echo(
            f"{Path(out).name}: the figures of the earlier run are kept; writing these to {out}", err=True
        )
    lock_output(out)
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
    """A kan-core ``.safetensors`` KAN or a pykan checkpoint (:func:`kan_core.interop.load_any_kan`)."""
    from kan_core.interop import load_any_kan as load

    return load(path)


@click.command(name="prune")
@click.argument("model_path", metavar="MODEL", type=click.Path())
@checkpoint_option()
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Pruned KAN (.safetensors).")
@click.option(
    "--threshold",
    default=None,
    type=PROBABILITY,
    help="Probability threshold in [0, 1] (default: the one chosen on the validation split).",
)
@device_option()
@threads_option()
@force_option("--out is overwritten if it exists")
def prune(model_path, checkpoint, out, threshold, device, threads, force) -> None:
    """Prune a KAN in one forward pass of a trained mask predictor (no data needed).

    MODEL is a KAN (.safetensors or a pykan checkpoint); --checkpoint a mask predictor from
    'kan ws train --task mask'.

    \b
    Example:
      kan prune my_kan.safetensors --checkpoint runs/ws/mask-wskan-s0.safetensors --out pruned.safetensors
    """
    import time

    import torch
    from kan_core.prune import apply_masks, kept_fraction
    from kan_core.runtime import resolve_device

    from .predict import predict_kans

    ckpt = checkpoint
    check_output_file(out, force=force)
    kan = load_any_kan(model_path)
    t0 = time.perf_counter()
    try:
        res = predict_kans(
            ckpt, [kan], names=[model_path], threshold=threshold, task="mask", device=resolve_device(device)
        )
    except ValueError as e:
        raise click.BadParameter(str(e)) from e
    seconds = time.perf_counter() - t0
    thr = res["threshold"]
    masks = [torch.tensor(m, dtype=torch.float32) for m in res["predictions"][0]["masks"]]
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

if __name__ == "__main__":  # python -m kan_ws.cli train ... (torchrun entry), through kan's error boundary
    from kan_core.cli import main

    main(["ws", *sys.argv[1:]])
