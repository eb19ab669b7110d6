"""Shared options and checks of every ``kan`` command (all packages use these; nothing here imports torch
at import time, so ``kan --help`` stays fast).

* :func:`device_option` -- ``--device`` (default ``auto``), resolved while the command line is parsed, so
  ``--device cuda`` on a machine without CUDA fails before any work or folder creation.
* :func:`threads_option`, :func:`quiet_option`, :func:`force_option`, :func:`seed_option`.
* :data:`POSITIVE`, :data:`NON_NEGATIVE`, :data:`POSITIVE_FLOAT`, :data:`NON_NEGATIVE_FLOAT`,
  :data:`PROBABILITY` -- click types for counts, sizes, rates.
* :func:`check_output_file`, :func:`check_output_folder` -- refuse to overwrite what the command did not
  make (unless ``--force``) and unwritable places, before work starts.
* :func:`progress` -- a progress bar on stderr, shown only on a terminal and without ``--quiet``.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

__all__ = [
    "POSITIVE",
    "NON_NEGATIVE",
    "POSITIVE_FLOAT",
    "NON_NEGATIVE_FLOAT",
    "PROBABILITY",
    "DEVICE_CHOICES",
    "check_device",
    "device_option",
    "threads_option",
    "quiet_option",
    "force_option",
    "seed_option",
    "apply_threads",
    "check_output_file",
    "check_output_folder",
    "progress",
    "show_progress",
    "EpochProgress",
]

POSITIVE = click.IntRange(min=1)
NON_NEGATIVE = click.IntRange(min=0)
POSITIVE_FLOAT = click.FloatRange(min=0, min_open=True)
NON_NEGATIVE_FLOAT = click.FloatRange(min=0)
PROBABILITY = click.FloatRange(min=0, max=1)
DEVICE_CHOICES = "auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps."


def check_device(ctx: click.Context | None, param: click.Parameter | None, value: Any) -> Any:
    """Click callback: ``value`` must name a device that exists here; returns it normalised (a string).

    ``auto`` is kept as ``auto`` (under ``torchrun`` each rank resolves it to its own GPU later).
    """
    if value is None or (ctx is not None and ctx.resilient_parsing):
        return value
    text = str(value).strip().lower()
    from . import runtime  # imports torch: only when a command actually runs

    try:
        runtime.resolve_device(text)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None
    return text


def device_option(default: str = "auto", what: str = "Device") -> Callable:
    """``--device``, checked against this machine; its help reads ``"{what}: auto (CUDA, ...) ..."``."""
    return click.option(
        "--device",
        default=default,
        show_default=True,
        callback=check_device,
        metavar="DEVICE",
        help=f"{what}: {DEVICE_CHOICES}",
    )


def threads_option(default: int | None = None, help: str | None = None) -> Callable:  # noqa: A002
    text = help or "torch intra-op CPU threads (default: torch's choice; 1 is fastest on a busy machine)."
    return click.option(
        "--threads", type=POSITIVE, default=default, show_default=default is not None, help=text
    )


def apply_threads(threads: int | None) -> None:
    """Set torch's intra-op thread count when ``threads`` is given."""
    if threads is not None:
        from .runtime import set_threads

        set_threads(threads)


def quiet_option() -> Callable:
    return click.option(
        "--quiet", "-q", is_flag=True, help="No progress bars or per-epoch lines (results are still printed)."
    )


def force_option(what: str = "--out") -> Callable:
    return click.option(
        "--force", is_flag=True, help=f"Overwrite {what} even if it holds files this command did not write."
    )


def seed_option(help: str = "Base seed of every random choice (data, initialisation, order).") -> Callable:  # noqa: A002
    return click.option("--seed", type=int, default=0, show_default=True, help=help)


def _writable_ancestor(path: Path, option: str) -> None:
    """``path`` can be created: its nearest existing ancestor is a writable folder."""
    p = path.absolute()
    while not p.exists():
        p = p.parent
    if not p.is_dir():
        raise click.BadParameter(f"{path}: {p} is a file, not a folder", param_hint=option)
    if not os.access(p, os.W_OK | os.X_OK):
        raise click.BadParameter(f"{path}: no permission to write in {p}", param_hint=option)


def check_output_file(path: str | os.PathLike | None, *, force: bool, option: str = "--out") -> None:
    """Refuse (``click.BadParameter`` naming ``option``) an output file that exists without ``--force``,
    is a folder, or cannot be created."""
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise click.BadParameter(f"{p} is a folder; expected a file name", param_hint=option)
    if p.exists() and not force:
        raise click.BadParameter(f"{p} already exists; pass --force to overwrite it", param_hint=option)
    _writable_ancestor(p, option)


def check_output_folder(
    path: str | os.PathLike,
    *,
    force: bool,
    owned: Callable[[Path], bool] | None = None,
    option: str = "--out",
) -> None:
    """Refuse an output folder that is a file, cannot be created, or already holds entries this command
    did not write (``owned(entry)`` is false for one of them) unless ``force``. An empty or missing
    folder is always accepted. Raises ``click.BadParameter`` naming ``option`` and a foreign entry."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise click.BadParameter(f"{p} is a file; expected a folder", param_hint=option)
    _writable_ancestor(p, option)
    if not p.is_dir() or force:
        return
    foreign = sorted(e.name for e in p.iterdir() if owned is None or not owned(e))
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        what = "is not empty" if owned is None else "already holds files this command did not write"
        raise click.BadParameter(
            f"{p} {what} ({shown}); choose an empty or new folder, or pass --force", param_hint=option
        )


def show_progress(quiet: bool = False) -> bool:
    """Progress bars are drawn only on a terminal (stderr) and never with ``--quiet``."""
    if quiet:
        return False
    stream = sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)())


def progress(
    iterable: Iterable | None = None, *, length: int | None = None, label: str = "", quiet: bool = False
) -> Any:
    """``click.progressbar`` on stderr showing items done, or a silent one (same interface: ``update``,
    iteration, context manager) when :func:`show_progress` is false."""
    visible = show_progress(quiet)
    return click.progressbar(
        iterable,
        length=length,
        label=label,
        file=sys.stderr if visible else io.StringIO(),
        show_pos=True,
        show_eta=True,
    )


class EpochProgress:
    """A progress bar over ``total`` epochs fed by a training loop's per-epoch log lines.

    Use as a context manager; :meth:`log` is the ``log`` callback: each call advances the bar by one
    and shows the line's text. Silent when :func:`show_progress` is false.
    """

    def __init__(self, total: int, label: str = "", quiet: bool = False) -> None:
        self._last = ""
        self._bar = progress(length=total, label=label, quiet=quiet)
        self._bar.item_show_func = lambda _item: self._last or None

    def __enter__(self) -> EpochProgress:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._bar.__exit__(*exc)

    def log(self, line: str) -> None:
        self._last = line
        self._bar.update(1)
