"""``kan ws predict`` and ``kan ws prune-eval``: command lines over :mod:`kan_ws.predict` and
:mod:`kan_ws.prune_eval` (registered on the ``kan ws`` group in :mod:`kan_ws.cli`)."""

from __future__ import annotations

import json

import click
from kan_core.cli_options import (
    PROBABILITY,
    checkpoint_option,
    device_option,
    force_option,
    lock_output,
    quiet_option,
    threads_option,
)

__all__ = ["predict", "prune_eval"]


@click.command("predict")
@checkpoint_option()
@click.argument("models", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--out",
    default=None,
    type=click.Path(dir_okay=False),
    help="Write the predictions here: .json (everything) or .csv (a row per KAN; per edge for masks). "
    "Default: print JSON.",
)
@click.option(
    "--threshold",
    default=None,
    type=PROBABILITY,
    help="Mask task: keep edges whose probability exceeds this (default: the one chosen on validation).",
)
@device_option()
@threads_option()
@force_option("--out is overwritten if it exists")
@quiet_option()
def predict(checkpoint, models, out, threshold, device, threads, force, quiet) -> None:
    """Predict a property or a pruning mask of each KAN in MODELS with a trained --checkpoint.

    The checkpoint is a `kan ws train` checkpoint (WS-KAN or a baseline). Each MODEL is a KAN file kan-core
    writes (.safetensors, e.g. from `kan zoo export`) or a pykan checkpoint (PREFIX_state or
    PREFIX_config.yml; needs the pykan extra). The prediction follows the checkpoint's task: inr -> class
    label and probabilities, sine -> frequency, accuracy -> test accuracy, mask -> a 0/1 mask per layer
    and the kept fraction.

    Example:

    \b
        kan ws predict --checkpoint runs/ws/accuracy-wskan-s0.safetensors a.safetensors b.safetensors \\
            --out pred.csv
    """
    from kan_core.interop import load_any_kan
    from kan_core.runtime import resolve_device

    from .predict import predict_kans, write_predictions

    if out is not None and not out.endswith((".json", ".csv")):
        raise click.BadParameter(f"{out}: must end in .json or .csv", param_hint="--out")
    from kan_core.cli_options import check_output_file

    check_output_file(out, force=force)
    try:
        kans = [load_any_kan(m) for m in models]
        result = predict_kans(
            checkpoint, kans, names=list(models), threshold=threshold, device=resolve_device(device)
        )
        if out is not None:
            write_predictions(result, out, force=force)
    except (ValueError, FileExistsError, ImportError) as e:
        raise click.ClickException(str(e)) from e
    if out is None:
        click.echo(json.dumps(result))
    else:
        click.echo(json.dumps({"out": str(out), "task": result["task"], "models": len(kans)}))


@click.command("prune-eval")
@checkpoint_option(multiple=True)
@click.option(
    "--zoo",
    "zoo_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="The classifier zoo (with oracle masks) whose test models are pruned.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for pruning.json, pruning.csv and pruning.png; when it already holds them, a rerun "
    "writes OUT-run2 and so on beside it.",
)
@click.option(
    "--max-models",
    default=100,
    show_default=True,
    type=click.IntRange(min=1),
    help="Prune the first N test models of the zoo.",
)
@click.option(
    "--data-root",
    default=None,
    type=click.Path(file_okay=False),
    help="Folder searched first for the zoo's image data set.",
)
@device_option()
@threads_option()
@force_option("pruning.json, pruning.csv and pruning.png in --out are overwritten")
@quiet_option()
def prune_eval(checkpoints, zoo_dir, out, max_models, data_root, device, threads, force, quiet) -> None:
    """Downstream pruning: prune a zoo's test classifiers with trained mask predictors and score them.

    For every --checkpoint, next to the unpruned models and the zoo's oracle masks: test accuracy and
    fraction of kept weights per label-noise bin, written as pruning.json (also read by `kan ws plot`),
    pruning.csv (a row per method and bin) and pruning.png (the paper's figure 5). Prints a summary.

    Example:

    \b
        kan ws prune-eval --checkpoint runs/mask/mask-wskan-s0.safetensors \\
            --zoo runs/zoos/digits-clf-cpu --out runs/prune
    """
    from pathlib import Path

    from kan_core.cli_options import check_output_folder, free_path
    from kan_core.runtime import resolve_device

    from .prune_eval import OUTPUT_FILES
    from .prune_eval import prune_eval as run

    check_output_folder(out, force=True)  # only its type and access; earlier results are kept (below)
    if not force and any((Path(out) / f).exists() for f in OUTPUT_FILES):
        kept, out = out, str(free_path(Path(out)))
        click.echo(f"{kept} already holds pruning results; they are kept and these go to {out}", err=True)
    lock_output(out)
    try:
        res = run(
            checkpoints,
            zoo_dir,
            out,
            max_models=max_models,
            data_root=data_root,
            device=resolve_device(device),
            force=force,
        )
    except (ValueError, FileExistsError) as e:
        raise click.ClickException(str(e)) from e
    summary = {
        name: {
            "accuracy": sum(r["accuracy"]) / len(r["accuracy"]),
            "kept": sum(r["kept"]) / len(r["kept"]),
        }
        for name, r in res["methods"].items()
    }
    click.echo(json.dumps({"out": str(out), "models": res["num_models"], "mean": summary}))
