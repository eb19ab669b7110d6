"""``kan plot MODEL --out DIR``: draw every learned edge function of a KAN (:mod:`kan_core.plot`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .cli_options import device_option, force_option, threads_option

__all__ = ["plot"]


@click.command(name="plot")
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for layer0.png, layer1.png, ... (created if missing); when it already holds figures, "
    "a rerun writes OUT-run2 and so on beside it.",
)
@click.option(
    "--points",
    default=200,
    show_default=True,
    type=click.IntRange(min=2),
    help="Sample points per edge function.",
)
@click.option(
    "--max-edges",
    default=1024,
    show_default=True,
    type=click.IntRange(min=1),
    help="Skip layers with more edges than this (each edge is one panel).",
)
@device_option()
@threads_option()
@force_option("the layer PNGs in --out are overwritten")
def plot(model, out, points, max_edges, device, threads, force) -> None:
    """Draw every edge function of every layer of MODEL, one PNG per layer (pykan-style grid).

    MODEL is a KAN file kan-core writes (.safetensors, any basis) or a pykan checkpoint
    (PREFIX_state or PREFIX_config.yml; needs the pykan extra). Each panel shows phi(x) over its input's
    domain (B-splines: the grid's span; other bases: the spec's grid_range); pruned edges are dashed.
    Needs matplotlib: pip install 'kan-core[plot]'.

    Example:

    \b
        kan plot model.safetensors --out plots/
    """
    from .plot import PLOT_EXTRA_HINT

    try:
        import matplotlib  # noqa: F401 - checked before any work
    except ImportError as e:
        raise click.ClickException(PLOT_EXTRA_HINT) from e
    from .cli_options import free_path, lock_output
    from .interop import load_any_kan
    from .plot import plot_activations
    from .runtime import resolve_device

    out_dir = Path(out)
    if not force and out_dir.is_dir() and any(out_dir.glob("*.png")):
        out = free_path(out_dir)
        click.echo(f"{out_dir} already holds figures; they are kept and these go to {out}", err=True)
    lock_output(out)
    try:
        kan = load_any_kan(model).to(resolve_device(device))
        written, skipped = plot_activations(kan, out, num_points=points, max_edges=max_edges, force=force)
    except (ValueError, FileExistsError, ImportError) as e:
        raise click.ClickException(str(e)) from e
    for note in skipped:
        click.echo(note, err=True)
    click.echo(json.dumps({"model": str(model), "written": [str(p) for p in written], "skipped": skipped}))
