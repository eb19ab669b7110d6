"""``kan zoo export ZOO INDEX --out FILE`` (:func:`kan_ws.zoo.export.export_kan`)."""

from __future__ import annotations

import json

import click
from kan_core.cli_options import check_output_file, force_option

__all__ = ["export"]


@click.command("export")
@click.argument("zoo", type=click.Path(exists=True, file_okay=False))
@click.argument("index", type=click.IntRange(min=0))
@click.option(
    "--split",
    type=click.Choice(["train", "val", "test"]),
    default=None,
    help="Count INDEX within this split (0 = its first model; 'kan zoo info ZOO --split test' lists them); "
    "default: INDEX is the model's index in the whole zoo.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="The kan-core model file to write (.safetensors).",
)
@force_option("--out is overwritten if it exists")
def export(zoo, index, split, out, force) -> None:
    """Write model INDEX of the zoo folder ZOO as a kan-core KAN file.

    The file loads with KAN.load (and every command that takes a MODEL); its metadata holds the zoo,
    the index, the split the model belongs to, its targets (frequency, label, test accuracy, noise) and
    its per-model record from the manifest. Prints that metadata as JSON. Models of the test split were
    never seen by 'kan ws train': export those (--split test) to try a trained model on new KANs.

    Example:

    \b
        kan zoo export runs/zoos/sine-cpu 0 --split test --out sine-test0.safetensors
    """
    from .export import export_kan
    from .store import read_manifest

    if not out.endswith(".safetensors"):
        raise click.BadParameter(f"{out}: the output must be a .safetensors file", param_hint="--out")
    check_output_file(out, force=force)
    if split is not None:
        members = sorted(int(i) for i in read_manifest(zoo)["splits"].get(split, []))
        if index >= len(members):
            raise click.BadParameter(
                f"the {split} split of {zoo} holds {len(members)} models (0..{len(members) - 1}), not {index + 1}",
                param_hint="INDEX",
            )
        index = members[index]
    try:
        meta = export_kan(zoo, index, out, force=force)
    except IndexError as e:
        raise click.BadParameter(str(e), param_hint="INDEX") from e
    click.echo(json.dumps({"out": str(out), **meta}))
