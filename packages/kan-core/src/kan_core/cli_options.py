"""Shared options and checks of every ``kan`` command (all packages use these; nothing here imports torch
at import time, so ``kan --help`` stays fast).

* :func:`device_option` -- ``--device`` (default ``auto``), resolved while the command line is parsed, so
  ``--device cuda`` on a machine without CUDA fails before any work or folder creation.
* :func:`threads_option`, :func:`quiet_option`, :func:`force_option`, :func:`seed_option`.
* :data:`POSITIVE`, :data:`NON_NEGATIVE`, :data:`POSITIVE_FLOAT`, :data:`NON_NEGATIVE_FLOAT`,
  :data:`PROBABILITY` -- click types for counts, sizes, rates.
* :func:`check_output_file`, :func:`check_output_folder` -- refuse to overwrite what the command did not
  make (unless ``--force``) and unwritable places, before work starts.
* :func:`checkpoint_option`, :func:`models_option` -- the one way to name a checkpoint and models.
* :func:`lock_output` -- one writer per output folder; :func:`free_path` -- a rerun's numbered file.
* :func:`progress` -- :class:`kan_core.progress.Progress`: a bar on a terminal, else log lines with ETA.

Each shared option has ONE help text (the ``*_HELP`` constants; ``--force`` adds what it replaces), and
``tests/test_cli_options.py`` walks every command to check it.
"""

from __future__ import annotations

import os
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
    "compile_option",
    "apply_threads",
    "check_output_file",
    "check_output_folder",
    "progress",
    "show_progress",
    "EpochProgress",
    "DEVICE_HELP",
    "THREADS_HELP",
    "QUIET_HELP",
    "LOG_FILE_HELP",
    "SEED_HELP",
    "FORCE_HELP",
    "CHECKPOINT_HELP",
    "MODELS_HELP",
    "checkpoint_option",
    "models_option",
    "parse_models",
    "logging_options",
    "lock_output",
    "free_path",
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


DEVICE_HELP = f"Device: {DEVICE_CHOICES}"
THREADS_HELP = (
    "CPU threads of torch; 0: torch's choice (one per core). The toolkit's tensors are small: 1 is as "
    "fast on an idle machine and much faster on a busy one. Default: $KAN_THREADS, else 1."
)
QUIET_HELP = "No progress on stderr (errors and results are still printed; --log-file still gets it)."
LOG_FILE_HELP = "Also append the progress lines, with timestamps, to this file."
SEED_HELP = "Base seed: every random choice (data, initialisation, order) derives from it."
FORCE_HELP = "Replace earlier results instead of keeping them"
CHECKPOINT_HELP = "A checkpoint written by 'kan ws train' (.safetensors)."
MODELS_HELP = "Models of the zoo: indices and ranges like 0,3,5-9 (default: all)."


def device_option(default: str = "auto") -> Callable:
    """``--device``, checked against this machine while the command line is parsed."""
    return click.option(
        "--device",
        default=default,
        show_default=True,
        callback=check_device,
        metavar="DEVICE",
        help=DEVICE_HELP,
    )


def _apply_threads_callback(ctx: click.Context, _param: click.Parameter, value: int | None) -> int:
    """Set torch's thread count for the command (restored when it ends); 0 leaves torch's choice."""
    if value is None:
        value = 0
    if ctx.resilient_parsing or value == 0:
        return value
    from .runtime import set_threads

    previous = set_threads(value)
    ctx.call_on_close(lambda: set_threads(previous))
    return value


def threads_option() -> Callable:
    """``--threads N`` (default ``$KAN_THREADS`` or 1; 0 = torch's choice), applied while parsing."""
    return click.option(
        "--threads",
        type=NON_NEGATIVE,
        default=1,
        envvar="KAN_THREADS",
        show_default=False,
        metavar="N",
        callback=_apply_threads_callback,
        help=THREADS_HELP,
    )


def apply_threads(threads: int | None) -> None:
    """Set torch's intra-op thread count when ``threads`` is given and not 0."""
    if threads:
        from .runtime import set_threads

        set_threads(threads)


def _logging_callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if ctx.resilient_parsing:
        return value
    settings = ctx.meta.setdefault("kan.logging", {"quiet": False, "log_file": None})
    settings["quiet" if param.name == "quiet" else "log_file"] = value
    from .progress import configure_logging, reset_logging

    configure_logging(quiet=settings["quiet"], log_file=settings["log_file"])
    if not settings.get("close_registered"):
        settings["close_registered"] = True
        ctx.call_on_close(reset_logging)
    return value


def quiet_option() -> Callable:
    """``--quiet/-q`` and ``--log-file PATH``: they set up the ``kan`` logger (see ``kan_core.progress``)."""

    def decorate(f: Callable) -> Callable:
        f = click.option(
            "--log-file",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            expose_value=False,
            callback=_logging_callback,
            help=LOG_FILE_HELP,
        )(f)
        return click.option("--quiet", "-q", is_flag=True, callback=_logging_callback, help=QUIET_HELP)(f)

    return decorate


logging_options = quiet_option


def force_option(what: str) -> Callable:
    """``--force``; its help is the shared sentence plus ``what`` it replaces in this command."""
    return click.option("--force", is_flag=True, help=f"{FORCE_HELP}: {what}")


def compile_option(what: str) -> Callable:
    """``--compile``: ``torch.compile`` ``what`` (a flag; the same results to float rounding, faster after a
    one-time compilation)."""
    return click.option(
        "--compile",
        "compile_",
        is_flag=True,
        help=f"torch.compile {what}: the same functions with their element-wise work fused; faster after a "
        "one-time compilation of some seconds (needs the C++ compiler torch's inductor uses; torch keeps the "
        "compiled code in its cache folder, $TORCHINDUCTOR_CACHE_DIR, by default under the temporary folder).",
    )


def seed_option() -> Callable:
    return click.option("--seed", type=int, default=0, show_default=True, help=SEED_HELP)


def checkpoint_option(*, multiple: bool = False, required: bool = True) -> Callable:
    """``--checkpoint PATH`` (repeatable with ``multiple``): the one way to name a trained model; the
    value is ``checkpoint`` (a string), or ``checkpoints`` (a tuple) with ``multiple``."""
    return click.option(
        "--checkpoint",
        "checkpoints" if multiple else "checkpoint",
        type=click.Path(exists=True, dir_okay=False),
        required=required,
        multiple=multiple,
        help=CHECKPOINT_HELP + (" Repeat for several." if multiple else ""),
    )


def parse_models(text: str | None, *, option: str = "--models") -> list[int] | None:
    """``"0,3,5-9"`` -> ``[0, 3, 5, 6, 7, 8, 9]``; ``None`` -> ``None`` (all)."""
    if text is None:
        return None
    out: list[int] = []
    for part in (t.strip() for t in str(text).split(",")):
        if not part:
            continue
        lo, dash, hi = part.partition("-")
        try:
            a = int(lo)
            b = int(hi) if dash else a
        except ValueError:
            raise click.BadParameter(
                f"{part!r} is not an index or a range like 5-9", param_hint=option
            ) from None
        if a < 0 or b < a:
            raise click.BadParameter(f"{part!r}: indices start at 0 and ranges go up", param_hint=option)
        out.extend(range(a, b + 1))
    if not out:
        raise click.BadParameter("expected at least one index", param_hint=option)
    return out


def models_option() -> Callable:
    """``--models 0,3,5-9``: the one way to name models of a zoo (parsed to a list of indices)."""
    return click.option(
        "--models",
        "models",
        default=None,
        metavar="INDICES",
        callback=lambda ctx, param, value: value if ctx.resilient_parsing else parse_models(value),
        help=MODELS_HELP,
    )


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
    _writable_ancestor(p.parent if p.exists() else p, option)


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
    from .progress import is_terminal

    return not quiet and is_terminal()


def progress(
    iterable: Iterable | None = None,
    *,
    length: int | None = None,
    label: str = "",
    quiet: bool = False,
    unit: str = "step",
) -> Any:
    """A :class:`kan_core.progress.Progress`: a bar on a terminal, rate-bounded log lines with elapsed
    time and ETA otherwise (same interface as ``click.progressbar``: ``update``, iteration, ``with``)."""
    from .progress import Progress

    return Progress(length, label, unit=unit, iterable=iterable, quiet=quiet)


def EpochProgress(total: int, label: str = "", quiet: bool = False) -> Any:  # noqa: N802 - kept name
    """Progress over ``total`` epochs; its ``log(line)`` is a training loop's per-epoch callback."""
    from .progress import Progress

    return Progress(total, label, unit="epoch", quiet=quiet)


def lock_output(folder: str | os.PathLike, option: str = "--out") -> Path:
    """Hold ``folder``'s one-writer lock (:func:`kan_core.locks.folder_lock`) until the command ends;
    a folder another live run holds is refused (exit 2) naming the folder and that run's PID."""
    from .locks import FolderBusyError, folder_lock

    ctx = click.get_current_context()
    try:
        return ctx.with_resource(folder_lock(folder))
    except FolderBusyError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param_hint=option) from None


def free_path(path: str | os.PathLike, *, force: bool = False, companions: Iterable[str] = ()) -> Path:
    """Where a run writes ``path`` without losing an earlier run: ``path`` itself when it (and its
    ``companions``, other suffixes of the same stem) does not exist or ``force`` is on; else the first of
    ``STEM-run2.SUFFIX``, ``STEM-run3.SUFFIX``, ... that is free (Lightning's ``version_N``, beside it)."""
    p = Path(path)
    suffixes = (p.suffix, *companions)

    def taken(candidate: Path) -> bool:
        return any(candidate.with_suffix(s).exists() for s in suffixes)

    if force or not taken(p):
        return p
    n = 2
    while taken(p.with_name(f"{p.stem}-run{n}{p.suffix}")):
        n += 1
    return p.with_name(f"{p.stem}-run{n}{p.suffix}")
