"""``kan metakan ...``: the MetaKAN paper's experiments (each prints a table, writes a CSV and a PNG)."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["group"]


def _ints(text: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError as e:
        raise click.BadParameter(f"expected comma-separated integers, got {text!r}") from e


def _strs(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _setup(device: str, seed: int):
    import torch
    from kan_core.runtime import resolve_device

    torch.manual_seed(seed)  # CLI only: fixes any sampling not driven by an explicit generator
    return resolve_device(device)


def _finish(out: Path, name: str, rows, draw) -> None:
    from .tasks.output import format_table, write_csv, write_figure

    out.mkdir(parents=True, exist_ok=True)
    click.echo(format_table(rows))
    csv_path = write_csv(out / f"{name}.csv", rows)
    png_path = write_figure(out / f"{name}.png", lambda fig: draw(fig, rows))
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
        help="output directory",
    ),
    click.option("--device", default="cpu", show_default=True, help="cpu, cuda, mps or auto"),
    click.option("--seed", default=0, show_default=True, type=int),
]


def with_common(f):
    for opt in reversed(common):
        f = opt(f)
    return f


@click.group(name="metakan")
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="torch intra-op threads (default: torch's); 1 is much faster on a busy machine",
)
def group(threads) -> None:
    """MetaKAN experiments (Zhao et al., ICML 2025)."""
    if threads is not None:
        from kan_core.runtime import set_threads

        set_threads(threads)


@group.command()
@with_common
@click.option(
    "--equations", default="I.6.20a,I.12.5,I.13.4", show_default=True, help="comma-separated; 'all' = Table 2"
)
@click.option("--grids", default="5,20", show_default=True)
@click.option("--steps", default=20, show_default=True, help="LBFGS steps (paper-like: 200)")
@click.option("--hidden", default=32, show_default=True)
@click.option("--n-train", default=1000, show_default=True)
def feynman(out, device, seed, equations, grids, steps, hidden, n_train):
    """Feynman equations: KAN vs MetaKAN test MSE and parameters (LBFGS, lr 1)."""
    dev = _setup(device, seed)
    from .tasks.feynman import FEYNMAN_WIDTHS, run_feynman

    eqs = list(FEYNMAN_WIDTHS) if equations == "all" else _strs(equations)
    rows = run_feynman(
        eqs, _ints(grids), steps=steps, hidden=hidden, n_train=n_train, n_test=n_train, seed=seed, device=dev
    )
    _finish(
        out,
        "feynman",
        rows,
        lambda fig, r: _bars(fig, r, ("equation", "G"), "kan_mse", "metakan_mse", "test MSE", log=True),
    )


@group.command()
@with_common
@click.option("--functions", default="f1,f2,f3", show_default=True)
@click.option("--dims", default="10,20", show_default=True, help="paper: 10,20,50,100,500,1000")
@click.option("--steps", default=20, show_default=True)
@click.option("--grid-size", default=5, show_default=True)
@click.option("--n-train", default=1000, show_default=True)
def highdim(out, device, seed, functions, dims, steps, grid_size, n_train):
    """f1-f3 on [n, 1, 1] KANs vs MetaKANs."""
    dev = _setup(device, seed)
    from .tasks.highdim import run_highdim

    rows = run_highdim(
        _strs(functions),
        _ints(dims),
        grid_size=grid_size,
        steps=steps,
        n_train=n_train,
        n_test=n_train,
        seed=seed,
        device=dev,
    )
    _finish(
        out,
        "highdim",
        rows,
        lambda fig, r: _bars(fig, r, ("function", "n"), "kan_mse", "metakan_mse", "test MSE", log=True),
    )


@group.command()
@with_common
@click.option("--datasets", default="digits", show_default=True, help="digits, mnist, fashion-mnist, ...")
@click.option(
    "--hiddens", default="32", show_default=True, help="';'-separated hidden lists, e.g. '32;32,32'"
)
@click.option("--grids", default="5", show_default=True, help="paper: 3,5,10")
@click.option("--epochs", default=5, show_default=True)
@click.option("--meta-hidden", default=32, show_default=True)
@click.option("--max-train", default=None, type=int, help="use the first N training images")
@click.option("--data-root", default=None)
@click.option("--lr-prompt", default=3e-2, show_default=True, help="AdamW lr of the prompts")
@click.option("--lr-meta", default=3e-3, show_default=True, help="AdamW lr of the meta-learner")
@click.option("--prompt-dim", default=1, show_default=True)
@click.option("--models", default="kan,metakan", show_default=True)
def images(
    out,
    device,
    seed,
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
    """MLP-KAN image classification: KAN vs MetaKAN accuracy and parameters."""
    dev = _setup(device, seed)
    from .tasks.images import run_images

    hid = [_ints(h) for h in hiddens.split(";") if h.strip()]
    model_names = _strs(models)
    rows = run_images(
        _strs(datasets),
        hid,
        _ints(grids),
        epochs=epochs,
        meta_hidden=meta_hidden,
        max_train=max_train,
        data_root=data_root,
        seed=seed,
        device=dev,
        lr_prompt=lr_prompt,
        lr_meta=lr_meta,
        prompt_dim=prompt_dim,
        models=model_names,
    )
    keys = [f"{m}_acc" for m in model_names]
    _finish(
        out,
        "images",
        rows,
        lambda fig, r: _bars(fig, r, ("dataset", "hidden", "G"), keys[0], keys[-1], "test accuracy (%)"),
    )


@group.command()
@with_common
@click.option("--dataset", default="fashion-mnist", show_default=True)
@click.option("--kinds", default="kan,fastkan,kaln,kagn", show_default=True)
@click.option("--channels", default="8,16,32,32", show_default=True, help="paper 4-layer: 32,64,128,512")
@click.option("--epochs", default=1, show_default=True)
@click.option("--batch-size", default=32, show_default=True)
@click.option("--lr", default=1e-2, show_default=True, help="plain KA-convs")
@click.option("--lr-prompt", default=3e-2, show_default=True)
@click.option("--lr-meta", default=3e-3, show_default=True)
@click.option("--clusters", default=1, show_default=True)
@click.option("--max-train", default=4000, show_default=True, type=int)
@click.option("--max-test", default=1000, show_default=True, type=int)
@click.option("--data-root", default=None)
def conv(
    out,
    device,
    seed,
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
    """4-layer KA-conv networks, plain vs Meta."""
    dev = _setup(device, seed)
    from .tasks.images import run_conv

    rows = run_conv(
        dataset,
        _strs(kinds),
        _ints(channels),
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
    )
    _finish(
        out,
        "conv",
        rows,
        lambda fig, r: _bars(fig, r, ("kind",), "plain_acc", "meta_acc", "test accuracy (%)"),
    )


@group.command()
@with_common
@click.option("--equations", default="poisson,allen-cahn,sine-gordon", show_default=True)
@click.option("--dims", default="20", show_default=True, help="paper: 20,50,100")
@click.option("--steps", default=600, show_default=True, help="Adam steps of the KAN (cosine schedule)")
@click.option("--metakan-steps", default=2000, show_default=True, help="Adam steps of the MetaKAN")
@click.option(
    "--lbfgs-steps",
    default=0,
    show_default=True,
    help="LBFGS steps after Adam, on one fixed sample of points (no gain measured)",
)
@click.option(
    "--n-interior", default=1000, show_default=True, help="KAN: fresh points per step; paper: 2000-12000"
)
@click.option("--metakan-n-interior", default=500, show_default=True, help="MetaKAN: fresh points per step")
@click.option("--metakan-warmup", default=200, show_default=True, help="MetaKAN: linear lr warm-up steps")
@click.option(
    "--basis", default="bspline", show_default=True, help="bspline or rbf use the forward Laplacian"
)
@click.option("--grid-size", default=5, show_default=True)
@click.option("--lr", default=1e-2, show_default=True, help="Adam lr of the KAN")
@click.option("--lr-prompt", default=3e-2, show_default=True, help="MetaKAN prompts' lr")
@click.option("--lr-meta", default=4e-3, show_default=True, help="MetaKAN meta-learner's lr")
@click.option("--hidden-widths", default="32,32,32", show_default=True, help="KAN hidden layers [d, ..., 1]")
@click.option("--meta-hidden", default=128, show_default=True)
@click.option("--prompt-dim", default=4, show_default=True)
@click.option("--clusters", default=3, show_default=True, help="MetaKAN meta-learners (layer clusters)")
@click.option("--models", default="kan,metakan", show_default=True)
def pde(
    out,
    device,
    seed,
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
    """PINNs on the unit ball (hard boundary condition): relative L2 error."""
    dev = _setup(device, seed)
    from .tasks.pde import run_pde

    model_names = _strs(models)
    rows = run_pde(
        _strs(equations),
        _ints(dims),
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
        widths_hidden=_ints(hidden_widths),
        meta_hidden=meta_hidden,
        prompt_dim=prompt_dim,
        clusters=clusters,
        models=model_names,
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
@click.option("--hiddens", default="8,16,32", show_default=True, help="connections sweep: [784, h, 10]")
@click.option("--grids", default="5,20,80", show_default=True, help="grid sweep on [784, 32, 10]")
@click.option("--batch", default=128, show_default=True)
@click.option("--meta-hidden", default=32, show_default=True)
@click.option("--in-features", default=784, show_default=True, help="input width (784: MNIST-sized)")
def memory(out, device, seed, hiddens, grids, batch, meta_hidden, in_features):
    """Peak training memory, KAN vs MetaKAN (plain and memory-efficient), vs connections and vs G."""
    dev = _setup(device, seed)
    from .memory import memory_rows

    n0 = in_features
    rows = memory_rows(
        widths_list=[[n0, h, 10] for h in _ints(hiddens)],
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
            grid_sizes=_ints(grids),
            hidden=meta_hidden,
            batch=batch,
            device=dev,
            seed=seed,
        )
        if not (r["G"] == 5 and 32 in _ints(hiddens))
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
@click.option("--steps", default=500, show_default=True, help="full-batch Adam steps")
@click.option("--n-train", default=500, show_default=True, help="fitting points (pykan's fits scale with it)")
@click.option("--lib", default="x,x^2,sin,exp", show_default=True, help="pykan symbolic library")
def symbolic(out, device, seed, steps, n_train, lib):
    """Fit a tiny MetaKAN on x1*x2, export to pykan, print pykan's symbolic formula."""
    _setup(device, seed)
    try:
        from .tasks.symbolic import run_symbolic

        res = run_symbolic(steps=steps, seed=seed, n_train=n_train, lib=tuple(_strs(lib)))
    except ImportError as e:
        click.echo(f"symbolic: skipped, pykan interop unavailable ({e}); pip install 'kan-metakan[pykan]'")
        return
    click.echo(f"MetaKAN fit MSE {res['mse']:.3g}; pykan symbolic formula: {res['formula']}")
    rows = [res]

    def draw(fig, rows):
        ax = fig.add_subplot(111)
        ax.axis("off")
        ax.text(0.02, 0.5, rows[0]["formula"][:200], fontsize=8, wrap=True)

    _finish(out, "symbolic", rows, draw)
