"""``kan zoo export ZOO INDEX --out FILE`` (:func:`kan_ws.zoo.export.export_kan`)."""

from __future__ import annotations

import json

import click

__all__ = ["export"]


@click.command("export")
@click.argument("zoo", type=click.Path(exists=True, file_okay=False))
@click.argument("index", type=click.IntRange(min=0))
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="The kan-core model file to write (.safetensors).",
)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
def export(zoo, index, out, force) -> None:
    """Write model INDEX of the zoo folder ZOO as a kan-core KAN file.

    The file loads with KAN.load (and every command that takes a MODEL); its metadata holds the zoo,
    the index, the split the model belongs to, its targets (frequency, label, test accuracy, noise) and
    its per-model record from the manifest. Prints that metadata as JSON.

    Example:

    \b
        kan zoo export runs/zoos/sine-cpu 0 --out sine0.safetensors
    """
    from .export import export_kan

    try:
        meta = export_kan(zoo, index, out, force=force)
    except (IndexError, FileExistsError, ValueError) as e:
        raise click.ClickException(str(e)) from e
    click.echo(json.dumps({"out": str(out), **meta}))
