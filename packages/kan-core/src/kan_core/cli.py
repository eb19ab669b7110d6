"""The ``kan`` command line: one root group, subcommands found through entry points and loaded lazily.

Each package registers its commands in its ``pyproject.toml``::

    [project.entry-points."kan.commands"]
    graph = "kan_graph.cli:group"

``kan --help`` lists them without importing them (and so without importing torch); a command is imported
only when it is run or asked for its own help. A command whose module is missing or fails to import still
appears in the listing, marked unavailable, and reports the import error only when invoked.

Built-in commands: ``kan info`` (environment report) and ``kan quickstart`` (a 20-second KAN fit).

Error boundary: the root group runs every command (its own and every package's) inside
:meth:`KanGroup.invoke`, which turns the exceptions a user can cause -- bad values (``ValueError``, e.g. a
``ZooError``), missing files, permissions, a full disk (``OSError``) -- into one ``Error: ...`` line on
stderr and exit status 1. Anything else becomes one line naming the exception type plus a hint. The full
traceback is shown only with ``kan --debug ...`` or ``KAN_DEBUG=1``.
"""

from __future__ import annotations

import ast
import errno
import importlib.util
import os
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import click

from .cli_options import POSITIVE, POSITIVE_FLOAT, device_option, quiet_option, seed_option, threads_option

__all__ = [
    "ENTRY_POINT_GROUP",
    "KanGroup",
    "UnavailableCommand",
    "cli",
    "main",
    "command_available",
    "describe_error",
]

_TRUE = {"1", "true", "yes", "on"}

ENTRY_POINT_GROUP = "kan.commands"
#: Commands of the sibling packages, and the package that brings each (for a hint when it is missing).
KNOWN_COMMANDS = {
    "graph": "kan-graph",
    "metakan": "kan-metakan",
    "ws": "kan-ws",
    "zoo": "kan-ws",
    "demo": "kan-ws",
    "prune": "kan-ws",
}
_KAN_DISTRIBUTIONS = ("kan-core", "kan-graph", "kan-metakan", "kan-ws")
_OTHER_DISTRIBUTIONS = ("torch", "torch-geometric", "numpy", "scipy", "safetensors", "click", "pykan")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


class UnavailableCommand(click.Command):
    """Stands in for an entry-point command that could not be loaded; fails with the reason when run.

    Attributes:
        entry_point: the :class:`importlib.metadata.EntryPoint` that failed.
        error: the exception raised while loading it.
    """

    def __init__(self, name: str, entry_point: metadata.EntryPoint, error: BaseException) -> None:
        self.entry_point = entry_point
        self.error = error
        reason = f"{type(error).__name__}: {error}"
        super().__init__(
            name,
            callback=self._fail,
            help=f"Unavailable: could not load {entry_point.value!r} ({reason}).",
            short_help=f"(unavailable: {type(error).__name__}; run 'kan {name}' for details)",
            add_help_option=False,
            context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        )

    def _fail(self) -> None:
        dist = _entry_point_dist(self.entry_point)
        origin = f" (declared by {dist})" if dist else ""
        raise click.ClickException(
            f"command {self.name!r}{origin} could not be loaded from {self.entry_point.value!r}: "
            f"{type(self.error).__name__}: {self.error}"
        )


def _entry_point_dist(ep: metadata.EntryPoint) -> str | None:
    dist = getattr(ep, "dist", None)
    return None if dist is None else dist.metadata["Name"]


def _static_help(ep: metadata.EntryPoint) -> str | None:
    """The first line of an entry-point command's help, read from its source without importing it.

    Looks for ``help="..."`` in its ``@click.group``/``@click.command`` decorator of the function named by the entry point, then for its
    docstring; None when the source cannot be found or parsed.
    """
    module, _, attr = ep.value.partition(":")
    attr = attr.strip()
    parts = module.strip().split(".")
    try:
        spec = importlib.util.find_spec(parts[0])  # the top-level package is located, not imported
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    base = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts[1:])
    source = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
    try:
        tree = ast.parse(source.read_text())
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == attr:
            for dec in node.decorator_list:
                func = getattr(dec, "func", None)
                name = getattr(func, "attr", None) or getattr(func, "id", None)
                if name not in ("group", "command"):
                    continue  # options' help= is not the command's
                for kw in getattr(dec, "keywords", []):
                    if (
                        kw.arg == "help"
                        and isinstance(kw.value, ast.Constant)
                        and isinstance(kw.value.value, str)
                    ):
                        return kw.value.value.strip().splitlines()[0]
            doc = ast.get_docstring(node)
            return doc.strip().splitlines()[0] if doc else None
    return None


def describe_error(exc: BaseException) -> str:
    """One line saying what went wrong: the file (when the exception has one) and the reason."""
    if isinstance(exc, OSError) and exc.strerror:
        where = exc.filename if exc.filename is not None else None
        reason = exc.strerror
        if exc.errno == errno.ENOSPC:
            reason = "no space left on device"
        elif isinstance(exc, PermissionError):
            reason = "permission denied"
        elif isinstance(exc, FileNotFoundError):
            reason = "no such file or folder"
        return f"{where}: {reason}" if where is not None else reason
    text = str(exc).strip()
    if isinstance(exc, KeyError) and exc.args:
        text = f"missing key {exc.args[0]!r}"
    return " ".join(text.split()) or type(exc).__name__


def _debug_requested(ctx: click.Context) -> bool:
    if ctx.params.get("debug"):
        return True
    return os.environ.get("KAN_DEBUG", "").strip().lower() in _TRUE


class KanGroup(click.Group):
    """A :class:`click.Group` whose extra commands come lazily from the ``kan.commands`` entry points.

    Built-in commands (added with :meth:`add_command`) take precedence over entry points of the same name;
    of duplicate entry points the first one found wins.
    """

    def __init__(
        self,
        *args: Any,
        entry_point_group: str = ENTRY_POINT_GROUP,
        known: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.entry_point_group = entry_point_group
        self.known = dict(KNOWN_COMMANDS if known is None else known)
        self._eps: dict[str, metadata.EntryPoint] | None = None
        self._loaded: dict[str, click.Command] = {}

    def entry_points(self) -> dict[str, metadata.EntryPoint]:
        """Name -> entry point for the group (read once, without importing anything)."""
        if self._eps is None:
            found: dict[str, metadata.EntryPoint] = {}
            for ep in metadata.entry_points(group=self.entry_point_group):
                found.setdefault(ep.name, ep)
            self._eps = found
        return self._eps

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self.entry_points()))

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; expected errors become one ``Error:`` line (see the module docstring)."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except (ValueError, OSError) as exc:
            if _debug_requested(ctx):
                raise
            raise click.ClickException(describe_error(exc)) from None
        except KeyboardInterrupt:
            if _debug_requested(ctx):
                raise
            raise click.ClickException("interrupted") from None
        except Exception as exc:  # noqa: BLE001 - the boundary: anything else is one line too
            if _debug_requested(ctx):
                raise
            raise click.ClickException(
                f"unexpected {type(exc).__name__}: {describe_error(exc)} "
                "(run 'kan --debug ...' or set KAN_DEBUG=1 for the traceback)"
            ) from None

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name in self._loaded:
            return self._loaded[cmd_name]
        ep = self.entry_points().get(cmd_name)
        if ep is None:
            package = self.known.get(cmd_name)
            if package is not None and not ctx.resilient_parsing:
                raise click.UsageError(
                    f"'{ctx.command_path} {cmd_name}' comes with the {package} package, which is not installed "
                    f"here; install it with: pip install {package}",
                    ctx,
                )
            return None
        try:
            obj = ep.load()
            if not isinstance(obj, click.Command):
                raise TypeError(f"{ep.value} is a {type(obj).__name__}, not a click command")
            command: click.Command = obj
        except Exception as exc:  # noqa: BLE001 - any import failure must leave the CLI usable
            command = UnavailableCommand(cmd_name, ep, exc)
        self._loaded[cmd_name] = command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Like click's, but entry-point commands are listed without importing them."""
        rows = []
        for name in self.list_commands(ctx):
            if name in self.commands or name in self._loaded:
                cmd = self.commands.get(name) or self._loaded[name]
                if cmd.hidden:
                    continue
                text = cmd.get_short_help_str(limit=formatter.width - 6 - len(name))
            else:
                text = _static_help(self.entry_points()[name]) or f"See '{ctx.command_path} {name} --help'."
            rows.append((name, text))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    parts = [f"{d} {v}" for d in _KAN_DISTRIBUTIONS if (v := _version(d))]
    click.echo(", ".join(parts) or "kan-core (not installed as a distribution)")
    ctx.exit()


@click.group(cls=KanGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show versions.",
)
@click.option(
    "--debug",
    is_flag=True,
    help="Show the full Python traceback of an error (same as KAN_DEBUG=1).",
)
def cli(debug: bool) -> None:
    """Kolmogorov-Arnold Networks toolkit: KAN layers, model zoos, weight-space learning, MetaKAN.

    Commands that compute take --device (default auto: CUDA, then MPS, then the CPU) and --threads;
    long ones report progress on stderr (a bar on a terminal, else a line per epoch/shard/stage with
    elapsed time and ETA; --quiet silences it, --log-file PATH keeps a copy). Only the installed
    packages' commands are listed; a known command of a package that is not installed says which one
    to install. Errors are one line; add --debug for the traceback.

    \b
    Examples:
      kan quickstart
      kan info --json
    """
    from .progress import configure_logging, reset_logging

    configure_logging()
    click.get_current_context().call_on_close(reset_logging)


def command_available(name: str) -> bool:
    """True when ``kan NAME`` exists and its module loads (used by ``tools/run.py demo``)."""
    ctx = click.Context(cli)
    try:
        cmd = cli.get_command(ctx, name)
    except click.UsageError:  # a sibling package's command, not installed
        return False
    return cmd is not None and not isinstance(cmd, UnavailableCommand)


# ------------------------------------------------------------------------------------------------ info
@cli.command()
@device_option()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def info(device: str, as_json: bool) -> None:
    """Versions, device, threads and CUDA availability of this installation.

    \b
    Example:
      kan info --json
    """
    import json
    import platform

    import torch

    from . import runtime
    from .native import cache_dir, native_status
    from .triton import bspline_paths, triton_status

    try:
        resolved = str(runtime.resolve_device(device))
    except (RuntimeError, ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc), param_hint="--device") from exc
    env = runtime.dist_env()
    report: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {d: _version(d) for d in _KAN_DISTRIBUTIONS + _OTHER_DISTRIBUTIONS},
        "torch": torch.__version__,
        "device": resolved,
        "threads": runtime.get_threads(),
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if torch.cuda.is_available()
        else [],
        "mps_available": runtime._mps_available(),
        "native_bspline": native_status(),
        "triton_bspline": triton_status(),
        "bspline_paths": bspline_paths(),
        "distributed": {"rank": env.rank, "world_size": env.world_size, "local_rank": env.local_rank},
        "commands": cli.list_commands(click.get_current_context()),
    }
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"python      {report['python']} ({report['platform']})")
    click.echo(f"torch       {report['torch']}  (CUDA build: {report['cuda_version']})")
    for dist, ver in report["packages"].items():
        if dist != "torch":
            click.echo(f"  {dist:<16}{ver or 'not installed'}")
    click.echo(f"device      {resolved}  (requested: {device})")
    click.echo(f"threads     {report['threads']}")
    cuda = ", ".join(report["cuda_devices"]) if report["cuda_available"] else "not available"
    click.echo(f"cuda        {cuda}")
    click.echo(f"mps         {'available' if report['mps_available'] else 'not available'}")
    native = report["native_bspline"]
    click.echo(f"native      {f'B-spline kernel ok (cache {cache_dir()})' if native == 'ok' else native}")
    click.echo(f"b-splines   {'; '.join(f'{dev}: {path}' for dev, path in report['bspline_paths'].items())}")
    click.echo(f"distributed rank {env.rank} of {env.world_size}")
    click.echo(f"commands    {', '.join(report['commands'])}")


# ------------------------------------------------------------------------------------------ quickstart
@cli.command()
@device_option()
@seed_option()
@click.option("--steps", default=600, show_default=True, type=POSITIVE, help="Adam steps.")
@click.option("--lr", default=0.02, show_default=True, type=POSITIVE_FLOAT, help="Adam learning rate.")
@click.option("--points", default=3000, show_default=True, type=click.IntRange(min=10), help="Train points.")
@click.option("--grid-size", default=5, show_default=True, type=POSITIVE, help="B-spline grid intervals G.")
@threads_option()
@click.option("--log-every", default=100, show_default=True, type=POSITIVE, help="Log RMSE every N steps.")
@quiet_option()
def quickstart(
    device: str,
    seed: int,
    steps: int,
    lr: float,
    points: int,
    grid_size: int,
    threads: int,
    log_every: int,
    quiet: bool,
) -> None:
    """Fit a [2, 5, 1] B-spline KAN to f(x, y) = exp(sin(pi x) + y^2) with Adam.

    Full-batch training on uniform points in [-1, 1]^2; prints train/test RMSE as it goes and the RMSE of
    always predicting the training mean, for scale.

    \b
    Example:
      kan quickstart --steps 300 --seed 1
    """
    import math
    import time

    import torch

    from . import runtime
    from .model import KAN

    try:
        dev = runtime.resolve_device(device)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc), param_hint="--device") from exc
    from .progress import format_seconds, log

    gen = runtime.make_generator(seed)

    def target(x: torch.Tensor) -> torch.Tensor:  # (B, 2) -> (B, 1)
        return torch.exp(torch.sin(math.pi * x[:, :1]) + x[:, 1:] ** 2)

    n_test = max(points // 3, 10)
    x = torch.rand(points + n_test, 2, generator=gen) * 2 - 1
    y = target(x)
    x, y = x.to(dev), y.to(dev)
    x_train, y_train, x_test, y_test = x[:points], y[:points], x[points:], y[points:]
    model = KAN.from_widths([2, 5, 1], grid_size=grid_size, spline_order=3, generator=gen).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr * 0.05)

    def rmse(xs: torch.Tensor, ys: torch.Tensor) -> float:
        with torch.no_grad():
            return float((model(xs) - ys).pow(2).mean().sqrt())

    baseline = float((y_test - y_train.mean()).pow(2).mean().sqrt())
    n_params = sum(p.numel() for p in model.parameters())
    click.echo(
        f"KAN [2, 5, 1], B-spline G={grid_size} k=3, {n_params} parameters, {points} train / {n_test} test "
        f"points, device {dev}, seed {seed}"
    )
    click.echo(f"mean-predictor test RMSE {baseline:.4f}")
    start = time.perf_counter()
    for step in range(1, steps + 1):
        opt.zero_grad(set_to_none=True)
        loss = (model(x_train) - y_train).pow(2).mean()
        loss.backward()
        opt.step()
        sched.step()
        if step % log_every == 0 or step == steps:
            done = time.perf_counter() - start
            log(
                f"step {step:5d}/{steps}  train RMSE {rmse(x_train, y_train):.4f}  "
                f"test RMSE {rmse(x_test, y_test):.4f} | {format_seconds(done)} elapsed, "
                f"ETA {format_seconds(done / step * (steps - step))}"
            )
    elapsed = time.perf_counter() - start
    train_rmse, test_rmse = rmse(x_train, y_train), rmse(x_test, y_test)
    click.echo(
        f"final: train RMSE {train_rmse:.4f}  test RMSE {test_rmse:.4f}  "
        f"({baseline / max(test_rmse, 1e-12):.1f}x better than the mean predictor, {elapsed:.1f} s)"
    )


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point (``kan``)."""
    return cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="kan")
