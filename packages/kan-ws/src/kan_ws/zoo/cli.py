"""``kan zoo ...``: build, inspect, verify and list model zoos (torch is imported inside commands)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click
from kan_core.cli_options import (
    POSITIVE,
    check_output_folder,
    device_option,
    force_option,
    lock_output,
    progress,
    quiet_option,
    seed_option,
    threads_option,
)

__all__ = ["group", "zoo_entry"]

_ZOO_ENTRY = re.compile(
    r"^(manifest\.json|shard-\d{5}\.safetensors|\.shard-\d{5}\.safetensors\..*\.tmp|\.manifest\.json\..*\.tmp)$"
)


def zoo_entry(path: Path) -> bool:
    """True for the files a zoo build writes (manifest, shards and their temporary files)."""
    return path.is_file() and _ZOO_ENTRY.match(path.name) is not None


def _preset(ctx: click.Context, param: click.Parameter, value: str):
    from .presets import get_preset

    try:
        return get_preset(value)
    except ValueError as e:
        raise click.BadParameter(str(e), ctx=ctx, param=param) from None


def _basis(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from kan_core.basis import get_basis

    try:
        return get_basis(value).name
    except ValueError as e:
        raise click.BadParameter(str(e), ctx=ctx, param=param) from None


def _with_basis(preset, basis: str | None, degree: int | None, grid_size: int | None, wavelet: str | None):
    """``preset`` on ``basis`` with the given hyper-parameters (usage errors name the option)."""
    from .presets import with_basis

    if basis is None:
        given = [name for name, v in (("--degree", degree), ("--wavelet", wavelet)) if v is not None]
        if given:
            verb = "needs" if len(given) == 1 else "need"
            raise click.UsageError(f"{' and '.join(given)} {verb} --basis (the preset's KANs are B-splines)")
        return preset if grid_size is None else preset.replace(grid_size=grid_size)
    try:
        return with_basis(preset, basis, degree=degree, grid_size=grid_size, wavelet=wavelet)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--basis/--degree/--grid-size/--wavelet") from None


@click.group(name="zoo")
def group() -> None:
    """Model zoos of trained KANs (WS-KAN paper, appendix C).

    \b
    Examples:
      kan zoo list
      kan zoo build sine-cpu --out runs/zoos/sine-cpu
      kan zoo verify runs/zoos/sine-cpu
    """


@group.command("list")
def list_presets() -> None:
    """List the zoo presets (name, task, size, widths, grid).

    \b
    Example:
      kan zoo list
    """
    from .presets import PRESETS

    for p in PRESETS.values():
        click.echo(f"{p.name:18s} {p.task:10s} {p.num_models:6d} x {list(p.widths)} G={p.grid_size}  {p.doc}")


@group.command("build")
@click.argument("preset", callback=_preset)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Zoo folder: created, or resumed when it holds an unfinished build of the same zoo.",
)
@click.option("--models", type=POSITIVE, default=None, help="Number of models (default: the preset's).")
@click.option(
    "--data-root",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Folder searched first for the preset's image dataset.",
)
@device_option()
@seed_option()
@click.option("--shard-size", type=POSITIVE, default=None, help="Models per shard (default: the preset's).")
@click.option(
    "--epochs", type=POSITIVE, default=None, help="Training epochs per model (default: the preset's)."
)
@click.option(
    "--basis",
    default=None,
    callback=_basis,
    help="Edge basis of the zoo's KANs: a registered basis name, e.g. bspline, chebyshev, legendre, gram, rbf, "
    "wavelet (default: the preset's B-splines).",
)
@click.option("--degree", type=click.IntRange(min=0), default=None, help="Polynomial degree (with --basis).")
@click.option(
    "--grid-size", type=POSITIVE, default=None, help="Grid intervals / RBF centres (default: the preset's)."
)
@click.option("--wavelet", default=None, help="Wavelet family for --basis wavelet (e.g. mexican_hat).")
@threads_option()
@force_option(
    "shards in --out that belong to another zoo are rebuilt (a matching build is resumed without it)"
)
@quiet_option()
def build(
    preset, out, models, data_root, device, seed, shard_size, epochs, basis, degree, grid_size, wavelet, threads,
    force, quiet,
) -> None:  # fmt: skip
    """Build (or resume) the zoo PRESET in --out. Runs sharded under torchrun.

    A killed build resumes where it stopped; damaged shards are rebuilt. The zoo is complete once
    manifest.json exists.

    \b
    Examples:
      kan zoo build sine-cpu --out runs/zoos/sine-cpu
      kan zoo build digits-clf-cpu --out runs/zoos/clf --models 64 --threads 1
      kan zoo build sine-cpu --basis chebyshev --degree 4 --out runs/zoos/sine-cheb
      torchrun --nproc-per-node 2 -m kan_ws.zoo.cli build sine-paper --out runs/zoos/sine
    """
    import time

    from .build import build_zoo, plan_shards

    p = _with_basis(preset, basis, degree, grid_size, wavelet)
    check_output_folder(out, force=force, owned=zoo_entry)
    lock_output(out)
    n = models if models is not None else p.num_models
    shards = plan_shards(n, shard_size or p.shard_size)
    from kan_core.runtime import dist_env

    env = dist_env()
    mine = sum(count for _, count in shards[env.rank :: env.world_size])
    show = env.rank == 0
    t0 = time.perf_counter()
    with progress(
        length=mine, label=f"zoo {p.name}", unit="model", quiet=quiet or not show
    ) as bar:
        path = build_zoo(p, out, models=models, data_root=data_root, device=device, seed=seed,
                         progress=bar.update, shard_size=shard_size, epochs=epochs,
                         overwrite=force)  # fmt: skip
    if show:
        click.echo(f"built {path} in {time.perf_counter() - t0:.1f} s")


def _ranges(indices: list[int]) -> str:
    """``[0, 1, 2, 5, 7, 8]`` -> ``"0-2,5,7-8"`` (the form --models and the docs use)."""
    parts: list[str] = []
    for i in sorted(indices):
        if parts and i == int(parts[-1].split("-")[-1]) + 1:
            parts[-1] = f"{parts[-1].split('-')[0]}-{i}"
        else:
            parts.append(str(i))
    return ",".join(parts)


@group.command("info")
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--split",
    type=click.Choice(["train", "val", "test"]),
    default=None,
    help="Also list the zoo indices of this split's models (test: the held-out ones).",
)
def info(path, split) -> None:
    """Summarise a zoo folder (from its validated manifest).

    \b
    Examples:
      kan zoo info runs/zoos/sine-cpu
      kan zoo info runs/zoos/sine-cpu --split test
    """
    import statistics

    from .store import read_manifest

    m = read_manifest(path)
    click.echo(f"preset:   {m['preset']}  (task {m['task']}, seed {m['seed']})")
    click.echo(f"spec:     widths {m['spec']['widths']}, basis {m['spec']['basis']}, G={m['spec']['grid_size']}, "
               f"k={m['spec']['spline_order']}")  # fmt: skip
    click.echo(f"models:   {m['num_models']} in {len(m['shards'])} shards of <= {m['shard_size']}")
    click.echo("splits:   " + ", ".join(f"{k} {len(v)}" for k, v in sorted(m["splits"].items())))
    click.echo(f"targets:  {', '.join(m['targets'])}" + ("  + oracle masks" if m["has_masks"] else ""))
    for key in ("final_mse", "psnr", "test_accuracy", "noise", "kept_fraction"):
        vals = [md[key] for md in m["models"] if isinstance(md.get(key), (int, float))]
        if vals:
            click.echo(
                f"{key + ':':13s} mean {statistics.fmean(vals):.4g}  min {min(vals):.4g}  max {max(vals):.4g}"
            )
    if split is not None:
        members = [int(i) for i in m["splits"].get(split, [])]
        click.echo(f"{split} models ({len(members)}; zoo indices): {_ranges(members) or 'none'}")
        if members:
            click.echo(f"  export one: kan zoo export {path} 0 --split {split} --out {split}0.safetensors")


@group.command("verify")
@click.argument("path", type=click.Path(exists=True, file_okay=False))
def verify(path) -> None:
    """Check the manifest (keys, types, splits, shard paths) and every shard (hash, names, shapes,
    dtypes, finiteness, knots); exit 1 naming every problem.

    \b
    Example:
      kan zoo verify runs/zoos/sine-cpu
    """
    from .store import verify_zoo

    problems = verify_zoo(path)
    if problems:
        for msg in problems:
            click.echo(f"BAD {msg}", err=True)
        raise click.ClickException(f"{path}: {len(problems)} problem(s) found; the zoo is not sound")
    click.echo(f"OK {path}")


from .export_cli import export  # noqa: E402 - the command lives in its own module

group.add_command(export)

if (
    __name__ == "__main__"
):  # python -m kan_ws.zoo.cli build ... (torchrun entry), through kan's error boundary
    from kan_core.cli import main

    main(["zoo", *sys.argv[1:]])
