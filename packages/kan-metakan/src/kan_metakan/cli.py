"""``kan metakan ...``: the MetaKAN paper's experiments (each prints a table, writes a CSV and a PNG)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click
from kan_core.cli_options import (
    POSITIVE,
    POSITIVE_FLOAT,
    device_option,
    force_option,
    free_path,
    lock_output,
    progress,
    quiet_option,
    seed_option,
    threads_option,
)

from .experiments import CONV, FEYNMAN, HIGHDIM, IMAGES, PDE, SYMBOLIC, csv

__all__ = ["group"]


def _ints(text: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError as e:
        raise click.BadParameter(f"expected comma-separated integers, got {text!r}") from e


def _strs(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _positive_ints(ctx: click.Context, param: click.Parameter, text: str) -> list[int]:
    """Callback: a non-empty comma-separated list of integers >= 1."""
    try:
        vals = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {text!r}", ctx, param) from None
    if not vals or any(v < 1 for v in vals):
        raise click.BadParameter(f"expected comma-separated integers >= 1, got {text!r}", ctx, param)
    return vals


def _clusters_per_kind(ctx: click.Context, param: click.Parameter, text: str) -> int | dict[str, int]:
    """Callback: one number of meta-learners (``4``) or one per kind (``kan=4,fastkan=2``), each >= 1."""
    from .conv import CONV_KINDS

    text = text.strip()
    if text.isdigit() and int(text) >= 1:
        return int(text)
    out: dict[str, int] = {}
    for part in _strs(text):
        kind, eq, num = part.partition("=")
        if not eq or kind.strip() not in CONV_KINDS or not num.strip().isdigit() or int(num) < 1:
            raise click.BadParameter(f"expected an integer >= 1 or KIND=C pairs with KIND in "
                                     f"{','.join(sorted(CONV_KINDS))} and C >= 1 (e.g. kan=4,fastkan=2), got "
                                     f"{text!r}", ctx, param)  # fmt: skip
        out[kind.strip()] = int(num)
    if not out:
        raise click.BadParameter(f"expected an integer >= 1 or KIND=C pairs, got {text!r}", ctx, param)
    return out


def _names(known: Callable[[], Iterable[str]], allow_all: bool = False) -> Callable:
    """Callback factory: a non-empty comma-separated list of names, each one of ``known()``."""

    def check(ctx: click.Context, param: click.Parameter, text: str) -> list[str]:
        vals = _strs(text)
        choices = list(known())
        if allow_all and vals == ["all"]:
            return choices
        bad = [v for v in vals if v not in choices]
        if not vals or bad:
            raise click.BadParameter(
                f"unknown {bad or text!r}; choose from {', '.join(choices)}"
                + (" or 'all'" if allow_all else ""),
                ctx,
                param,
            )
        return vals

    return check


def _feynman_names() -> list[str]:
    from .tasks.feynman import FEYNMAN_WIDTHS

    return list(FEYNMAN_WIDTHS)


def _highdim_names() -> list[str]:
    from .tasks.highdim import FUNCTIONS

    return list(FUNCTIONS)


def _pde_names() -> list[str]:
    from .tasks.pde import EQUATIONS

    return list(EQUATIONS)


def _conv_names() -> list[str]:
    from .conv import CONV_KINDS

    return list(CONV_KINDS)


def _dataset_names() -> list[str]:
    from kan_core.datasets import DATASETS

    return list(DATASETS)


_MODELS = _names(lambda: ("kan", "metakan"))


def _setup(device: str, seed: int, out: Path, name: str, force: bool):
    from kan_core.cli_options import check_output_folder
    from kan_core.runtime import resolve_device

    check_output_folder(out, force=True)  # shared by the experiments: only its type and access
    lock_output(out)
    return resolve_device(device)


def _rows(
    run: Callable[..., list], grid: list[tuple], label: str, quiet: bool, per_model: bool = False
) -> list[dict[str, Any]]:
    """``run(*item)`` for every item of ``grid`` (the experiment's own loop order), one progress step
    each; the rows concatenated. With ``per_model`` the last entry of each item is one model name and
    consecutive items differing only in it fill one row (the experiment's row of all its models)."""
    rows: list[dict[str, Any]] = []
    with progress(length=len(grid), label=label, unit="run", quiet=quiet) as bar:
        previous = None
        for item in grid:
            got = run(*item)
            if per_model and previous == item[:-1]:
                for row, more in zip(rows[-len(got) :], got):
                    row.update(more)
            else:
                rows += got
            previous = item[:-1]
            bar.update(1)
    return rows


def _finish(out: Path, name: str, rows, draw) -> None:
    from .tasks.output import format_table, write_csv, write_figure

    out.mkdir(parents=True, exist_ok=True)
    click.echo(format_table(rows))
    force = bool(click.get_current_context().params.get("force"))
    target = free_path(out / f"{name}.csv", force=force, companions=(".png",))  # a rerun: NAME-run2.csv
    csv_path = write_csv(target, rows)
    png_path = write_figure(target.with_suffix(".png"), lambda fig: draw(fig, rows))
    click.echo(f"wrote {csv_path} and {png_path}")


def _bars(fig, rows, label_keys, a_key, b_key, ylabel, log=False):
    ax = fig.add_subplot(111)
    labels = [" ".join(str(r[k]) for k in label_keys) for r in rows]
    xs = range(len(rows))
    ax.bar([i - 0.2 for i in xs], [r[a_key] for r in rows], 0.4, label=a_key)
    ax.bar([i + 0.2 for i in xs], [r[b_key] for r in rows], 0.4, label=b_key)
    ax.set_xticks(list(xs), labels, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.legend()


common = [
    click.option(
        "--out",
        "out",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("runs/metakan"),
        show_default=True,
        help="Output folder: <experiment>.csv and <experiment>.png are written into it; a rerun writes "
        "<experiment>-run2.csv/.png and so on beside them.",
    ),
    device_option(),
    seed_option(),
    threads_option(),
    force_option("this experiment's <experiment>.csv and .png in --out are overwritten"),
    quiet_option(),
]


def with_common(f):
    for opt in reversed(common):
        f = opt(f)
    return f


@click.group(name="metakan")
def group() -> None:
    """MetaKAN experiments (Zhao et al., ICML 2025).

    \b
    Examples:
      kan metakan feynman --equations I.12.5 --out runs/metakan
      kan metakan pde --equations poisson --dims 2 --steps 100 --threads 1 --out runs/metakan
    """


@group.command()
@with_common
@click.option(
    "--equations",
    default=csv(FEYNMAN.equations),
    show_default=True,
    callback=_names(_feynman_names, allow_all=True),
    help="Comma-separated Feynman equation names; 'all' = Table 2.",
)
@click.option(
    "--grids",
    default=csv(FEYNMAN.grid_sizes),
    show_default=True,
    callback=_positive_ints,
    help="Grid sizes G.",
)
@click.option(
    "--steps", default=FEYNMAN.steps, show_default=True, type=POSITIVE, help="LBFGS steps (paper-like: 200)."
)
@click.option(
    "--hidden", default=FEYNMAN.hidden, show_default=True, type=POSITIVE, help="Meta-learner hidden width."
)
@click.option(
    "--n-train", default=FEYNMAN.n_train, show_default=True, type=POSITIVE, help="Train (and test) points."
)
@click.option(
    "--prompt-dims",
    default=csv(FEYNMAN.prompt_dims),
    show_default=True,
    callback=_positive_ints,
    help="MetaKAN prompt dimensions to choose from on validation (several need --n-val > 0).",
)
@click.option(
    "--n-val",
    default=FEYNMAN.n_val,
    show_default=True,
    type=click.IntRange(min=0),
    help="Training points held out to choose the prompt dimension (both models fit the rest).",
)
@click.option(
    "--clusters",
    default=csv(FEYNMAN.clusters),
    show_default=True,
    callback=_positive_ints,
    help="MetaKAN meta-learner counts C to choose from on validation with the prompt dimension (Algorithm 2; "
    "capped at each structure's number of layers).",
)
def feynman(out, device, seed, threads, force, quiet, equations, grids, steps, hidden, n_train, prompt_dims,
            n_val, clusters):  # fmt: skip
    """Feynman equations: KAN vs MetaKAN test MSE and parameters (LBFGS, lr 1).

    \b
    Example:
      kan metakan feynman --equations I.12.5 --grids 5 --steps 50 --out runs/metakan
      kan metakan feynman --equations I.12.5 --prompt-dims 1,4 --clusters 1,2 --n-val 200 --out runs/metakan
    """
    if n_val >= n_train:
        raise click.BadParameter(f"must be below --n-train ({n_train}), got {n_val}", param_hint="--n-val")
    if len(prompt_dims) * len(clusters) > 1 and n_val == 0:
        raise click.BadParameter(f"choosing among {len(prompt_dims)} prompt dimensions x {len(clusters)} cluster "
                                 "counts needs --n-val > 0", param_hint="--prompt-dims/--clusters")  # fmt: skip
    dev = _setup(device, seed, out, "feynman", force)
    from .tasks.feynman import run_feynman

    rows = _rows(
        lambda eq, g: run_feynman([eq], [g], steps=steps, hidden=hidden, n_train=n_train, n_test=n_train,
                                  prompt_dims=prompt_dims, n_val=n_val, clusters=clusters, seed=seed,
                                  device=dev),  # fmt: skip
        list(itertools.product(equations, grids)),
        "feynman: equations x grids",
        quiet,
    )
    _finish(
        out,
        "feynman",
        rows,
        lambda fig, r: _bars(fig, r, ("equation", "G"), "kan_mse", "metakan_mse", "test MSE", log=True),
    )


@group.command()
@with_common
@click.option(
    "--functions",
    default=csv(HIGHDIM.functions),
    show_default=True,
    callback=_names(_highdim_names),
    help="Test functions.",
)
@click.option(
    "--dims",
    default=csv(HIGHDIM.dims),
    show_default=True,
    callback=_positive_ints,
    help="Input dimensions n (paper: 10,20,50,100,500,1000).",
)
@click.option("--steps", default=HIGHDIM.steps, show_default=True, type=POSITIVE, help="LBFGS steps.")
@click.option("--grid-size", default=HIGHDIM.grid_size, show_default=True, type=POSITIVE, help="Grid size G.")
@click.option(
    "--n-train", default=HIGHDIM.n_train, show_default=True, type=POSITIVE, help="Train (and test) points."
)
def highdim(out, device, seed, threads, force, quiet, functions, dims, steps, grid_size, n_train):
    """f1-f3 on [n, 1, 1] KANs vs MetaKANs.

    \b
    Example:
      kan metakan highdim --functions f1 --dims 10,20 --out runs/metakan
    """
    dev = _setup(device, seed, out, "highdim", force)
    from .tasks.highdim import run_highdim

    rows = _rows(
        lambda f, n: run_highdim(
            [f], [n], grid_size=grid_size, steps=steps, n_train=n_train, n_test=n_train, seed=seed, device=dev
        ),
        list(itertools.product(functions, dims)),
        "highdim: functions x dims",
        quiet,
    )
    _finish(
        out,
        "highdim",
        rows,
        lambda fig, r: _bars(fig, r, ("function", "n"), "kan_mse", "metakan_mse", "test MSE", log=True),
    )


@group.command()
@with_common
@click.option(
    "--datasets",
    default=csv(IMAGES.datasets),
    show_default=True,
    callback=_names(_dataset_names),
    help="Comma-separated: digits, mnist, fashion-mnist, ...",
)
@click.option(
    "--hiddens",
    default=csv(IMAGES.hiddens, ";"),
    show_default=True,
    help="';'-separated hidden lists, e.g. '32;32,32'.",
)
@click.option(
    "--grids",
    default=csv(IMAGES.grid_sizes),
    show_default=True,
    callback=_positive_ints,
    help="Grid sizes (paper: 3,5,10).",
)
@click.option("--epochs", default=IMAGES.epochs, show_default=True, type=POSITIVE, help="Training epochs.")
@click.option(
    "--meta-hidden",
    default=IMAGES.meta_hidden,
    show_default=True,
    type=POSITIVE,
    help="Meta-learner hidden width.",
)
@click.option("--max-train", default=IMAGES.max_train, type=POSITIVE, help="Use the first N training images.")
@click.option(
    "--data-root",
    default=None,
    type=click.Path(exists=True, file_okay=False),
    help="Folder searched first for datasets.",
)
@click.option(
    "--lr-prompt",
    default=IMAGES.lr_prompt,
    show_default=True,
    type=POSITIVE_FLOAT,
    help="AdamW lr of the prompts.",
)
@click.option(
    "--lr-meta",
    default=IMAGES.lr_meta,
    show_default=True,
    type=POSITIVE_FLOAT,
    help="AdamW lr of the meta-learner.",
)
@click.option(
    "--prompt-dim",
    default=IMAGES.prompt_dim,
    show_default=True,
    type=POSITIVE,
    help="Prompt (layer embedding) size.",
)
@click.option(
    "--models", default=csv(IMAGES.models), show_default=True, callback=_MODELS, help="kan and/or metakan."
)
def images(
    out,
    device,
    seed,
    threads,
    force,
    quiet,
    datasets,
    hiddens,
    grids,
    epochs,
    meta_hidden,
    max_train,
    data_root,
    lr_prompt,
    lr_meta,
    prompt_dim,
    models,
):
    """MLP-KAN image classification: KAN vs MetaKAN accuracy and parameters.

    \b
    Example:
      kan metakan images --datasets digits --hiddens '32;32,32' --grids 3,5 --out runs/metakan
    """
    hid = [_ints(h) for h in hiddens.split(";") if h.strip()]
    if not hid or any(w < 1 for h in hid for w in h) or any(not h for h in hid):
        raise click.BadParameter(
            f"expected ';'-separated lists of widths >= 1, got {hiddens!r}", param_hint="--hiddens"
        )
    dev = _setup(device, seed, out, "images", force)
    from .tasks.images import run_images

    model_names = models
    rows = _rows(
        lambda ds, h, g, model: run_images(
            [ds],
            [h],
            [g],
            epochs=epochs,
            meta_hidden=meta_hidden,
            max_train=max_train,
            data_root=data_root,
            seed=seed,
            device=dev,
            lr_prompt=lr_prompt,
            lr_meta=lr_meta,
            prompt_dim=prompt_dim,
            models=[model],
        ),
        list(itertools.product(datasets, hid, grids, model_names)),
        "images: models trained",
        quiet,
        per_model=True,
    )
    if len(model_names) == 2:  # as run_images gives it when it trains both models itself
        for r in rows:
            r["param_ratio"] = r["metakan_params"] / r["kan_params"]
    keys = [f"{m}_acc" for m in model_names]
    _finish(
        out,
        "images",
        rows,
        lambda fig, r: _bars(fig, r, ("dataset", "hidden", "G"), keys[0], keys[-1], "test accuracy (%)"),
    )


@group.command()
@with_common
@click.option(
    "--dataset",
    default=CONV.dataset,
    show_default=True,
    type=click.Choice(["digits", "mnist", "fashion-mnist", "kmnist", "cifar10", "cifar100", "svhn"]),
    help="Image dataset.",
)
@click.option(
    "--kinds", default=csv(CONV.kinds), show_default=True, callback=_names(_conv_names), help="KA-conv kinds."
)
@click.option(
    "--channels",
    default=csv(CONV.channels),
    show_default=True,
    callback=_positive_ints,
    help="Channels per layer (paper 4-layer: 32,64,128,512).",
)
@click.option("--epochs", default=CONV.epochs, show_default=True, type=POSITIVE, help="Training epochs.")
@click.option("--batch-size", default=CONV.batch, show_default=True, type=POSITIVE, help="Images per batch.")
@click.option(
    "--lr",
    default=CONV.lr,
    show_default=True,
    type=POSITIVE_FLOAT,
    help="Learning rate of the plain KA-convs.",
)
@click.option(
    "--lr-prompt",
    default=CONV.lr_prompt,
    show_default=True,
    type=POSITIVE_FLOAT,
    help="Learning rate of the prompts.",
)
@click.option(
    "--lr-meta",
    default=CONV.lr_meta,
    show_default=True,
    type=POSITIVE_FLOAT,
    help="Learning rate of the meta-learners.",
)
@click.option(
    "--clusters",
    default=csv(CONV.clusters),
    show_default=True,
    callback=_clusters_per_kind,
    help="Meta-learners (layer clusters) of the Meta networks: one number for every kind, or KIND=C per kind "
    "(every kind of --kinds listed; defaults chosen on held-out training images).",
)
@click.option(
    "--max-train",
    default=CONV.max_train,
    show_default=True,
    type=POSITIVE,
    help="Use the first N training images.",
)
@click.option(
    "--max-test", default=CONV.max_test, show_default=True, type=POSITIVE, help="Use the first N test images."
)
@click.option(
    "--data-root",
    default=None,
    type=click.Path(exists=True, file_okay=False),
    help="Folder searched first for datasets.",
)
def conv(
    out,
    device,
    seed,
    threads,
    force,
    quiet,
    dataset,
    kinds,
    channels,
    epochs,
    batch_size,
    lr,
    lr_prompt,
    lr_meta,
    clusters,
    max_train,
    max_test,
    data_root,
):
    """4-layer KA-conv networks, plain vs Meta.

    \b
    Example:
      kan metakan conv --dataset digits --kinds kagn,kaln --channels 4,8,8,8 --out runs/metakan
      kan metakan conv --kinds kan,fastkan --clusters kan=4,fastkan=2 --out runs/metakan
    """
    missing = [k for k in kinds if isinstance(clusters, dict) and k not in clusters]
    if missing:
        raise click.BadParameter(f"no number of meta-learners for kind(s) {','.join(missing)} of --kinds",
                                 param_hint="--clusters")  # fmt: skip
    dev = _setup(device, seed, out, "conv", force)
    from .tasks.images import run_conv

    rows = _rows(
        lambda kind: run_conv(
            dataset,
            [kind],
            channels,
            epochs=epochs,
            batch=batch_size,
            lr=lr,
            lr_prompt=lr_prompt,
            lr_meta=lr_meta,
            clusters=clusters,
            max_train=max_train,
            max_test=max_test,
            data_root=data_root,
            seed=seed,
            device=dev,
        ),
        [(k,) for k in kinds],
        "conv: kinds",
        quiet,
    )
    _finish(
        out,
        "conv",
        rows,
        lambda fig, r: _bars(fig, r, ("kind",), "plain_acc", "meta_acc", "test accuracy (%)"),
    )


@group.command()
@with_common
@click.option(
    "--equations",
    default=csv(PDE.equations),
    show_default=True,
    callback=_names(_pde_names),
    help="Comma-separated PDEs.",
)
@click.option(
    "--dims",
    default=csv(PDE.dims),
    show_default=True,
    callback=_positive_ints,
    help="Dimensions d (paper: 20,50,100).",
)
@click.option(
    "--steps",
    default=PDE.steps,
    show_default=True,
    type=POSITIVE,
    help="Adam steps of the KAN (cosine schedule).",
)
@click.option(
    "--metakan-steps",
    default=PDE.metakan_steps,
    show_default=True,
    type=POSITIVE,
    help="Adam steps of the MetaKAN.",
)
@click.option(
    "--lbfgs-steps",
    default=PDE.lbfgs_steps,
    show_default=True,
    type=click.IntRange(min=0),
    help="LBFGS steps after Adam, on one fixed sample of points (no gain measured).",
)
@click.option(
    "--n-interior",
    default=PDE.n_interior,
    show_default=True,
    type=POSITIVE,
    help="KAN: fresh points per step; paper: 2000-12000.",
)
@click.option(
    "--metakan-n-interior",
    default=PDE.metakan_n_interior,
    show_default=True,
    type=POSITIVE,
    help="MetaKAN: fresh points per step.",
)
@click.option(
    "--metakan-warmup",
    default=PDE.metakan_warmup,
    show_default=True,
    type=click.IntRange(min=0),
    help="MetaKAN: linear lr warm-up steps.",
)
@click.option(
    "--basis",
    default=PDE.basis,
    show_default=True,
    type=click.Choice(["bspline", "rbf", "chebyshev", "legendre", "gram", "wavelet"]),
    help="KAN basis; bspline and rbf use the forward Laplacian.",
)
@click.option("--grid-size", default=PDE.grid_size, show_default=True, type=POSITIVE, help="Grid size G.")
@click.option("--lr", default=PDE.lr, show_default=True, type=POSITIVE_FLOAT, help="Adam lr of the KAN.")
@click.option(
    "--lr-prompt", default=PDE.lr_prompt, show_default=True, type=POSITIVE_FLOAT, help="MetaKAN prompts' lr."
)
@click.option(
    "--lr-meta",
    default=PDE.lr_meta,
    show_default=True,
    type=POSITIVE_FLOAT,
    help="MetaKAN meta-learner's lr.",
)
@click.option(
    "--hidden-widths",
    default=csv(PDE.widths_hidden),
    show_default=True,
    callback=_positive_ints,
    help="KAN hidden layers [d, ..., 1].",
)
@click.option(
    "--meta-hidden",
    default=PDE.meta_hidden,
    show_default=True,
    type=POSITIVE,
    help="Meta-learner hidden width.",
)
@click.option(
    "--prompt-dim",
    default=PDE.prompt_dim,
    show_default=True,
    type=POSITIVE,
    help="Prompt (layer embedding) size.",
)
@click.option(
    "--clusters",
    default=PDE.clusters,
    show_default=True,
    type=POSITIVE,
    help="MetaKAN meta-learners (layer clusters).",
)
@click.option(
    "--models", default=csv(PDE.models), show_default=True, callback=_MODELS, help="kan and/or metakan."
)
def pde(
    out,
    device,
    seed,
    threads,
    force,
    quiet,
    equations,
    dims,
    steps,
    metakan_steps,
    lbfgs_steps,
    n_interior,
    metakan_n_interior,
    metakan_warmup,
    basis,
    grid_size,
    lr,
    lr_prompt,
    lr_meta,
    hidden_widths,
    meta_hidden,
    prompt_dim,
    clusters,
    models,
):
    """PINNs on the unit ball (hard boundary condition): relative L2 error.

    \b
    Example:
      kan metakan pde --equations poisson --dims 20 --steps 300 --out runs/metakan
    """
    dev = _setup(device, seed, out, "pde", force)
    from .tasks.pde import run_pde

    model_names = models
    rows = _rows(
        lambda d, eq, model: run_pde(
            [eq],
            [d],
            basis=basis,
            grid_size=grid_size,
            steps=steps,
            metakan_steps=metakan_steps,
            lbfgs_steps=lbfgs_steps,
            n_interior=n_interior,
            metakan_n_interior=metakan_n_interior,
            metakan_warmup=metakan_warmup,
            lr=lr,
            lr_prompt=lr_prompt,
            lr_meta=lr_meta,
            seed=seed,
            device=dev,
            widths_hidden=hidden_widths,
            meta_hidden=meta_hidden,
            prompt_dim=prompt_dim,
            clusters=clusters,
            models=[model],
        ),
        list(itertools.product(dims, equations, model_names)),
        "pde: models trained",
        quiet,
        per_model=True,
    )
    keys = [f"{m}_rel_l2" for m in model_names]
    _finish(
        out,
        "pde",
        rows,
        lambda fig, r: _bars(fig, r, ("equation", "d"), keys[0], keys[-1], "relative L2", log=True),
    )


@group.command()
@with_common
@click.option(
    "--hiddens",
    default="8,16,32",
    show_default=True,
    callback=_positive_ints,
    help="Connections sweep: [784, h, 10].",
)
@click.option(
    "--grids",
    default="5,20,80",
    show_default=True,
    callback=_positive_ints,
    help="Grid sweep on [784, 32, 10].",
)
@click.option(
    "--batch", default=128, show_default=True, type=POSITIVE, help="Batch size of the measured step."
)
@click.option(
    "--meta-hidden", default=32, show_default=True, type=POSITIVE, help="Meta-learner hidden width."
)
@click.option(
    "--in-features", default=784, show_default=True, type=POSITIVE, help="Input width (784: MNIST-sized)."
)
def memory(out, device, seed, threads, force, quiet, hiddens, grids, batch, meta_hidden, in_features):
    """Peak training memory, KAN vs MetaKAN (plain and memory-efficient), vs connections and vs G.

    \b
    Example:
      kan metakan memory --hiddens 8,16 --grids 5,20 --out runs/metakan
    """
    dev = _setup(device, seed, out, "memory", force)
    from .memory import memory_rows

    n0 = in_features
    rows = memory_rows(
        widths_list=[[n0, h, 10] for h in hiddens],
        grid_sizes=[5],
        hidden=meta_hidden,
        batch=batch,
        device=dev,
        seed=seed,
    )
    rows += [
        r
        for r in memory_rows(
            widths_list=[[n0, 32, 10]],
            grid_sizes=grids,
            hidden=meta_hidden,
            batch=batch,
            device=dev,
            seed=seed,
        )
        if not (r["G"] == 5 and 32 in hiddens)
    ]

    def draw(fig, rows):
        for k, (key, sub) in enumerate(
            (
                ("connections", [r for r in rows if r["G"] == 5]),
                ("G", [r for r in rows if r["widths"] == f"{n0}-32-10"]),
            )
        ):
            ax = fig.add_subplot(1, 2, k + 1)
            sub = sorted(sub, key=lambda r: r[key])
            for mode in ("kan", "metakan", "metakan-efficient"):
                ax.plot([r[key] for r in sub], [r[f"{mode}_MiB"] for r in sub], marker="o", label=mode)
            ax.set_xlabel(key)
            ax.set_ylabel("peak MiB")
            ax.legend(fontsize=7)

    _finish(out, "memory", rows, draw)


@group.command()
@with_common
@click.option(
    "--steps", default=SYMBOLIC.steps, show_default=True, type=POSITIVE, help="Full-batch Adam steps."
)
@click.option(
    "--n-train",
    default=SYMBOLIC.n_train,
    show_default=True,
    type=POSITIVE,
    help="Fitting points (pykan's fits scale with it).",
)
@click.option(
    "--lib", default=csv(SYMBOLIC.lib), show_default=True, help="pykan symbolic library (comma-separated)."
)
def symbolic(out, device, seed, threads, force, quiet, steps, n_train, lib):
    """Fit a tiny MetaKAN on x1*x2, export to pykan, print pykan's symbolic formula.

    \b
    Example:
      kan metakan symbolic --steps 300 --out runs/metakan
    """
    _setup(device, seed, out, "symbolic", force)
    try:
        from .tasks.symbolic import run_symbolic

        res = run_symbolic(steps=steps, seed=seed, n_train=n_train, lib=tuple(_strs(lib)))
    except ImportError as e:
        raise click.ClickException(
            f"pykan interop is unavailable ({e}); install it with: pip install 'kan-metakan[pykan]'"
        ) from None
    click.echo(f"MetaKAN fit MSE {res['mse']:.3g}; pykan symbolic formula: {res['formula']}")
    rows = [res]

    def draw(fig, rows):
        ax = fig.add_subplot(111)
        ax.axis("off")
        ax.text(0.02, 0.5, rows[0]["formula"][:200], fontsize=8, wrap=True)

    _finish(out, "symbolic", rows, draw)
