"""``kan zoo ...``: build, inspect, verify and list model zoos (torch is imported inside commands)."""

from __future__ import annotations

import io
import sys

import click

__all__ = ["group"]


@click.group(name="zoo", help="Model zoos of trained KANs (WS-KAN paper, appendix C).")
def group() -> None:
    pass


@group.command("list")
def list_presets() -> None:
    """List the zoo presets."""
    from .presets import PRESETS

    for p in PRESETS.values():
        click.echo(f"{p.name:18s} {p.task:10s} {p.num_models:6d} x {list(p.widths)} G={p.grid_size}  {p.doc}")


@group.command("build")
@click.argument("preset")
@click.option(
    "--out", required=True, type=click.Path(file_okay=False), help="zoo folder (resumed if present)"
)
@click.option("--models", type=int, default=None, help="number of models (default: the preset's)")
@click.option("--data-root", type=click.Path(), default=None, help="folder searched first for datasets")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:1, mps")
@click.option("--seed", type=int, default=0, show_default=True, help="base seed of every model's randomness")
@click.option("--shard-size", type=int, default=None, help="models per shard (default: the preset's)")
@click.option("--epochs", type=int, default=None, help="override the preset's training epochs")
@click.option("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
def build(preset, out, models, data_root, device, seed, shard_size, epochs, threads) -> None:
    """Build (or resume) the zoo PRESET in --out. Runs sharded under torchrun."""
    import time

    import torch

    from .build import build_zoo, plan_shards
    from .presets import get_preset

    if threads:
        torch.set_num_threads(threads)
    try:
        p = get_preset(preset)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="PRESET") from e
    n = models if models is not None else p.num_models
    total = len(plan_shards(n, shard_size or p.shard_size))
    try:
        from kan_core.runtime import dist_env

        env = dist_env()
        mine = len(range(env.rank, total, env.world_size))
        show = env.rank == 0
    except ImportError:  # pragma: no cover
        mine, show = total, True
    t0 = time.perf_counter()
    with click.progressbar(length=mine, label=f"{p.name}: {n} models, {total} shards",
                           file=None if show else io.StringIO()) as bar:  # fmt: skip
        path = build_zoo(p, out, models=models, data_root=data_root, device=device, seed=seed,
                         progress=bar.update, shard_size=shard_size, epochs=epochs)  # fmt: skip
    if show:
        click.echo(f"built {path} in {time.perf_counter() - t0:.1f} s")


@group.command("info")
@click.argument("path", type=click.Path(exists=True, file_okay=False))
def info(path) -> None:
    """Summarise a zoo folder (from its manifest)."""
    import statistics

    from .store import ZooError, read_manifest

    try:
        m = read_manifest(path)
    except ZooError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"preset:   {m['preset']}  (task {m['task']}, seed {m['seed']})")
    click.echo(f"spec:     widths {m['spec']['widths']}, basis {m['spec']['basis']}, G={m['spec']['grid_size']}, "
               f"k={m['spec']['spline_order']}")  # fmt: skip
    click.echo(f"models:   {m['num_models']} in {len(m['shards'])} shards of <= {m['shard_size']}")
    click.echo("splits:   " + ", ".join(f"{k} {len(v)}" for k, v in sorted(m["splits"].items())))
    click.echo(f"targets:  {', '.join(m['targets'])}" + ("  + oracle masks" if m["has_masks"] else ""))
    for key in ("final_mse", "psnr", "test_accuracy", "noise", "kept_fraction"):
        vals = [md[key] for md in m["models"] if key in md]
        if vals:
            click.echo(
                f"{key + ':':13s} mean {statistics.fmean(vals):.4g}  min {min(vals):.4g}  max {max(vals):.4g}"
            )


@group.command("verify")
@click.argument("path", type=click.Path(exists=True, file_okay=False))
def verify(path) -> None:
    """Check every shard (hash, names, shapes, dtypes, finiteness); exit 1 naming any bad shard."""
    from .store import verify_zoo

    problems = verify_zoo(path)
    if problems:
        for msg in problems:
            click.echo(f"BAD {msg}", err=True)
        sys.exit(1)
    click.echo(f"OK {path}")


from .export_cli import export  # noqa: E402 - the command lives in its own module

group.add_command(export)
