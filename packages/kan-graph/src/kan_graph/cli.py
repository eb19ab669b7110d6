"""``kan graph``: convert KANs or zoos to KAN-graphs, align zoos (torch is imported inside commands)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from kan_core.cli_options import (
    POSITIVE,
    POSITIVE_FLOAT,
    check_output_file,
    check_output_folder,
    device_option,
    force_option,
    free_path,
    lock_output,
    progress,
    quiet_option,
    seed_option,
    threads_option,
)

__all__ = ["group"]


@click.group(name="graph")
def group() -> None:
    """KAN-graphs (WS-KAN) and weight-space alignment of KAN zoos.

    \b
    Examples:
      kan graph convert my_kan.safetensors
      kan graph align runs/zoos/sine-cpu --out runs/zoos/sine-aligned
    """


def _device(device: str):
    from kan_core.runtime import resolve_device

    return resolve_device(device)


@group.command("convert")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Save the graph dataset here (safetensors + a .json sidecar).",
)
@click.option(
    "--encoding",
    type=click.Choice(["raw", "functional"]),
    default="raw",
    show_default=True,
    help="Edge features: raw parameters, or the edge function sampled on its domain.",
)
@click.option(
    "--num-points", type=POSITIVE, default=32, show_default=True, help="Samples per edge (functional)."
)
@click.option(
    "--derivative",
    type=click.Choice(["none", "autograd", "fd"]),
    default="none",
    show_default=True,
    help="Also sample each edge function's derivative (functional encoding).",
)
@device_option()
@threads_option()
@force_option("--out and its .json sidecar are overwritten if they exist")
@quiet_option()
def convert(
    path: Path,
    out: Path | None,
    encoding: str,
    num_points: int,
    derivative: str,
    device: str,
    threads: int,
    force: bool,
    quiet: bool,
) -> None:
    """Convert a saved KAN (.safetensors) or a zoo folder to KAN-graphs and print statistics.

    \b
    Examples:
      kan graph convert my_kan.safetensors
      kan graph convert runs/zoos/sine-cpu --encoding functional --out graphs.safetensors
    """
    import torch
    from kan_core import KAN

    from .graph import EDGE_PE_VOCAB, NODE_PE_VOCAB, kans_to_batch, stacked_to_graphs
    from .io import read_stacked_zoo, save_graph_batch

    check_output_file(out, force=force)
    if out is not None:
        check_output_file(out.with_name(out.name + ".json"), force=force)
    dev = _device(device)
    deriv = False if derivative == "none" else derivative
    kw = {"encoding": encoding, "num_points": num_points, "derivative": deriv}
    if path.is_dir():
        zoo = read_stacked_zoo(path)
        layers = [{k: v.to(dev) for k, v in p.items()} for p in zoo.layers]
        batch = stacked_to_graphs(zoo.spec, layers, **kw)
        source = f"zoo {path} ({len(zoo)} models, widths {list(zoo.spec.widths)}, basis {zoo.spec.basis})"
    else:
        kan = KAN.load(path, device=dev)
        batch = kans_to_batch([kan], **kw)
        source = f"KAN {path} (widths {list(kan.spec.widths)}, basis {kan.spec.basis})"
    n = batch.num_graphs
    click.echo(f"source:          {source}")
    click.echo(f"graphs:          {n}")
    click.echo(f"nodes:           {batch.num_nodes} ({batch.num_nodes // max(n, 1)} per graph)")
    click.echo(f"edges:           {batch.num_edges} ({batch.num_edges // max(n, 1)} per graph)")
    click.echo(f"edge features:   {batch.edge_attr.shape[1]} ({encoding})")
    click.echo(f"node features:   x {batch.x.shape[1]}, node_grid {batch.node_grid.shape[1]}, node_affine 2")
    click.echo(
        f"PE vocab:        node {NODE_PE_VOCAB} ({int(torch.unique(batch.node_pe).numel())} used), "
        f"edge {EDGE_PE_VOCAB} ({int(torch.unique(batch.edge_pe).numel())} used)"
    )
    click.echo(f"edge mask:       {float(batch.edge_mask.float().mean()):.3f} kept")
    if out is not None:
        save_graph_batch(out, batch.to("cpu"))
        click.echo(f"saved:           {out} (+ {out.name}.json)")


@group.command("align")
@click.argument("zoo_path", metavar="ZOO", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the aligned zoo (same format); when it already holds a zoo, a rerun writes OUT-run2 "
    "and so on beside it.",
)
@click.option(
    "--reference",
    default="merge-many",
    show_default=True,
    help="'merge-many' (MergeMany on a random subset) or the index of a model of the zoo.",
)
@click.option(
    "--features",
    type=click.Choice(["raw", "functional"]),
    default="raw",
    show_default=True,
    help="Edge features matched ('functional' for B-splines whose grids differ).",
)
@click.option("--max-models", type=POSITIVE, default=1000, show_default=True, help="MergeMany subset size.")
@click.option("--tol", type=POSITIVE_FLOAT, default=1e-3, show_default=True, help="MergeMany tolerance.")
@click.option("--max-iter", type=POSITIVE, default=100, show_default=True, help="Weight-matching sweeps.")
@device_option()
@threads_option()
@seed_option()
@force_option("the content of --out is replaced")
@quiet_option()
def align_cmd(
    zoo_path: Path,
    out: Path,
    reference: str,
    features: str,
    max_models: int,
    tol: float,
    max_iter: int,
    device: str,
    threads: int,
    seed: int,
    force: bool,
    quiet: bool,
) -> None:
    """Align every model of the zoo ZOO to one reference and write the aligned zoo to --out.

    The aligned zoo is built beside --out and moved into place only when complete.

    \b
    Examples:
      kan graph align runs/zoos/sine-cpu --out runs/zoos/sine-aligned
      kan graph align runs/zoos/sine-cpu --out runs/zoos/sine-aligned --reference 0 --force
    """
    from kan_core.io import save_tensors, staged_folder

    from .align import align_stacked, merge_many
    from .io import read_stacked_zoo, write_stacked_zoo

    if out.exists() and out.resolve() == zoo_path.resolve():
        raise click.BadParameter("must differ from the input zoo", param_hint="--out")
    check_output_folder(out, force=True)  # only its type and access: a full folder is kept (below)
    if not force and out.is_dir() and any(out.iterdir()):
        kept = out
        out = free_path(out)
        click.echo(f"{kept} already holds files; they are kept and this run writes {out}", err=True)
    lock_output(out)
    if reference != "merge-many":
        try:
            int(reference)
        except ValueError:
            raise click.BadParameter(
                f"expected 'merge-many' or a model index, got {reference!r}", param_hint="--reference"
            ) from None
    dev = _device(device)
    zoo = read_stacked_zoo(zoo_path)
    spec, m = zoo.spec, len(zoo)
    layers = [{k: v.to(dev) for k, v in p.items()} for p in zoo.layers]
    info: dict = {"reference": reference, "features": features, "seed": seed, "models": m}
    if reference == "merge-many":
        click.echo(f"MergeMany on {min(m, max_models)} of {m} models (tol {tol:g})")

        from kan_core.progress import log

        def report(r: int, rel: float) -> None:
            log(f"MergeMany round {r}: relative change of the mean {rel:.2e}")

        res = merge_many(
            spec,
            layers,
            max_models=max_models,
            tol=tol,
            max_iter=max_iter,
            features=features,
            seed=seed,
            progress=report,
        )
        ref = res.reference
        info.update(
            rounds=res.rounds,
            converged=res.converged,
            stopped_by=res.stopped_by,
            history=res.history,
            subset=[int(i) for i in res.indices],
        )
    else:
        idx = int(reference)
        if not 0 <= idx < m:
            raise click.BadParameter(
                f"index {idx} out of range for a zoo of {m} models", param_hint="--reference"
            )
        ref = [{k: v[idx] for k, v in p.items()} for p in layers]
        info["index"] = idx
    with progress(length=m, label="aligning models", unit="model", quiet=quiet) as bar:
        aligned, perms = align_stacked(
            spec,
            ref,
            layers,
            features=features,
            max_iter=max_iter,
            seed=seed,
            chunk_size=256,
            progress=bar.update,
        )
    aligned = [{k: v.cpu() for k, v in p.items()} for p in aligned]
    perms = [p.cpu() for p in perms]
    tensors = {f"reference.layers.{l}.{k}": v for l, p in enumerate(ref) for k, v in p.items()}
    tensors.update({f"perms.{h + 1}": p for h, p in enumerate(perms)})
    empty = out.is_dir() and not any(out.iterdir())
    with staged_folder(out, replace=force or empty) as stage:
        write_stacked_zoo(
            zoo,
            stage,
            aligned,
            perms,
            extra_files={"alignment.json": (json.dumps(info, indent=2) + "\n").encode()},
        )
        save_tensors(
            stage / "alignment.safetensors",
            tensors,
            {"format": "kan-graph-alignment/1", "spec": spec.to_json()},
        )
    moved = sum(int((p != p.new_tensor(range(p.shape[1]))).any(1).sum()) for p in perms) if perms else 0
    click.echo(
        f"aligned zoo written to {out} ({m} models; {moved} hidden-layer permutations not the identity)"
    )
