"""Progress reporting of every ``kan`` command: one mechanism, through Python's :mod:`logging`.

Library code reports progress by calling a callback or :func:`log`; it never prints. Commands wrap
their long loops in :class:`Progress`, which

* on a terminal (stderr is a TTY) draws a ``click`` progress bar on stderr;
* otherwise (output redirected: a cluster job, ``nohup``, CI) logs one line per unit of work -- epoch,
  shard, model, stage -- at a bounded rate: at most one line a second (units finishing faster are
  summed into the next line), and at least one a minute (a heartbeat line while a long unit runs);
* says the projected total time once the first unit is done, and gives every line the elapsed time
  and, from the first unit on, an ETA.

Every line goes to the ``kan`` logger. :func:`configure_logging` (called by the root ``kan`` group and
by ``--quiet`` / ``--log-file`` of each command) sends it to stderr, unless ``--quiet``, and also to a
log file when ``--log-file PATH`` is given (with timestamps; the file receives the lines even while a
bar is drawn on the terminal, and even with ``--quiet``).

Example (no terminal, so lines)::

    >>> import logging
    >>> with Progress(3, "training", unit="epoch") as p:  # doctest: +SKIP
    ...     for epoch in range(3):
    ...         p.update(1, f"loss {0.5 / (epoch + 1):.3f}")
    training: epoch 1/3 loss 0.500 | 0:00:01 elapsed, ETA 0:00:02
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "LOGGER_NAME",
    "Progress",
    "configure_logging",
    "format_seconds",
    "get_logger",
    "is_terminal",
    "log",
    "reset_logging",
]

LOGGER_NAME = "kan"
MIN_INTERVAL_S = 1.0  # at most one progress line a second
HEARTBEAT_S = 60.0  # at least one a minute
_OURS = "_kan_handler"


def get_logger(name: str | None = None) -> logging.Logger:
    """The ``kan`` logger (or its child ``kan.NAME``)."""
    return logging.getLogger(LOGGER_NAME if not name else f"{LOGGER_NAME}.{name}")


def log(msg: str, *args: Any) -> None:
    """Log one INFO line on the ``kan`` logger (stderr and ``--log-file`` when a command set them up)."""
    get_logger().info(msg, *args)


def format_seconds(seconds: float) -> str:
    """``H:MM:SS`` (``0:00:07``); negative or non-finite values are shown as ``?``."""
    if not seconds >= 0 or seconds == float("inf"):
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def is_terminal() -> bool:
    """True when stderr is a terminal (then a bar is drawn instead of lines)."""
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the record (test runners swap it); drops the
    progress lines that a bar on the terminal already shows."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "kan_bar", False):
            return
        self.setStream(sys.stderr)
        super().emit(record)


def reset_logging() -> None:
    """Remove (and close) the handlers :func:`configure_logging` installed."""
    logger = get_logger()
    for h in list(logger.handlers):
        if getattr(h, _OURS, False):
            logger.removeHandler(h)
            h.close()


def configure_logging(*, quiet: bool = False, log_file: str | os.PathLike | None = None) -> None:
    """Send the ``kan`` logger's INFO lines to stderr (only warnings with ``quiet``) and, when
    ``log_file`` is given, append them with timestamps to that file too. Replaces an earlier setup."""
    reset_logging()
    logger = get_logger()
    logger.setLevel(logging.INFO)
    logger.propagate = False
    err = _StderrHandler()
    err.setLevel(logging.WARNING if quiet else logging.INFO)
    err.setFormatter(logging.Formatter("%(message)s"))
    setattr(err, _OURS, True)
    logger.addHandler(err)
    if log_file is not None:
        path = Path(log_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(path, mode="a", encoding="utf-8")
        fh.setLevel(logging.INFO)
        fh.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%Y-%m-%d %H:%M:%S"))
        setattr(fh, _OURS, True)
        logger.addHandler(fh)


class Progress:
    """Progress over ``total`` units (``None``: unknown): a bar on a terminal, rate-bounded log lines
    otherwise (see the module docstring). A context manager; also iterable when given ``iterable``.

    Args:
        total: number of units (epochs, models, shards, stages).
        label: what is being done, first on every line.
        unit: the unit's name in lines (``epoch 3/20``).
        quiet: draw no bar (lines still reach a ``--log-file``; stderr drops them under ``--quiet``).
        bar: force the bar on or off (default: on when stderr is a terminal and not ``quiet``).
        min_interval: seconds between two lines at least (the last unit is always reported).
        heartbeat: a line after this many seconds without one, while a unit is still running.
        clock: the time source (tests pass a fake one).
    """

    def __init__(
        self,
        total: int | None,
        label: str = "",
        *,
        unit: str = "step",
        iterable: Iterable | None = None,
        quiet: bool = False,
        bar: bool | None = None,
        min_interval: float = MIN_INTERVAL_S,
        heartbeat: float | None = HEARTBEAT_S,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger | None = None,
    ) -> None:
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except TypeError:
                total = None
        self.total = total
        self.label = label
        self.unit = unit
        self.done = 0
        self.iterable = iterable
        self._clock = clock
        self._min_interval = min_interval
        self._heartbeat = heartbeat
        self._logger = logger or get_logger("progress")
        self._bar_on = (not quiet and is_terminal()) if bar is None else bar
        self._bar: Any = None
        self._text = ""
        self._start = clock()
        self._last_line = self._start
        self._projected = False
        self._first: tuple[float, int] | None = None  # (time, units) when the first update came
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ context
    def __enter__(self) -> Progress:
        self._start = self._clock()
        self._last_line = self._start
        if self._bar_on:
            import click

            self._bar = click.progressbar(
                length=self.total, label=self.label, file=sys.stderr, show_pos=True, show_eta=True
            )
            self._bar.item_show_func = lambda _item: self._text or None
            self._bar.__enter__()
        if self._heartbeat:
            self._thread = threading.Thread(target=self._beat, name="kan-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def __iter__(self) -> Iterator[Any]:
        if self.iterable is None:
            raise TypeError("Progress was not given an iterable")
        for item in self.iterable:
            yield item
            self.update(1)

    # ------------------------------------------------------------------ reporting
    def elapsed(self) -> float:
        return self._clock() - self._start

    def eta(self) -> float | None:
        """Seconds left (``None`` before the first unit): from the units after the first when there are
        some (the first often carries set-up time), else from the first."""
        if not self.done or self.total is None:
            return None
        left = max(self.total - self.done, 0)
        if self._first is not None and self.done > self._first[1]:
            t0, n0 = self._first
            return (self._clock() - t0) / (self.done - n0) * left
        return self.elapsed() / self.done * left

    def _position(self) -> str:
        unit = f"{self.unit} " if self.unit else ""
        return f"{unit}{self.done}/{self.total}" if self.total is not None else f"{unit}{self.done}"

    def _emit(self, msg: str) -> None:
        self._logger.info(msg, extra={"kan_bar": self._bar is not None})
        self._last_line = self._clock()

    def update(self, n: int = 1, text: str = "") -> None:
        """``n`` more units done; ``text`` (e.g. the epoch's losses) is shown with them."""
        with self._lock:
            self.done += n
            if text:
                self._text = text
            if self._bar is not None:
                self._bar.update(n)
            now = self._clock()
            if self._first is None:
                self._first = (now, self.done)
            eta = self.eta()
            head = f"{self.label}: " if self.label else ""
            if not self._projected and self.done > 0 and self.total is not None and self.total > self.done:
                self._projected = True
                per = self.elapsed() / self.done
                self._emit(
                    f"{head}{self._position()} done after {format_seconds(per)}; projected total "
                    f"{format_seconds(per * self.total)} (ETA {format_seconds(eta or 0.0)})"
                )
                return
            last = self.total is not None and self.done >= self.total
            if not last and now - self._last_line < self._min_interval:
                return
            tail = f"{format_seconds(self.elapsed())} elapsed"
            if eta is not None and not last:
                tail += f", ETA {format_seconds(eta)}"
            if text and self.unit and text.startswith(f"{self.unit} "):
                body = text  # the caller's line already says "epoch 3/20 ..."
            else:
                body = self._position() + (f" {text}" if text else "")
            self._emit(f"{head}{body} | {tail}")

    def log(self, line: str) -> None:
        """One unit done, described by ``line`` (the ``log`` callback of a training loop)."""
        self.update(1, line)

    def _beat(self) -> None:
        assert self._heartbeat is not None
        while not self._stop.wait(min(self._heartbeat, 5.0)):
            with self._lock:
                if self._clock() - self._last_line < self._heartbeat:
                    continue
                head = f"{self.label}: " if self.label else ""
                nxt = self.done + 1
                where = f"{self.unit} {nxt}/{self.total}" if self.total is not None else f"{self.unit} {nxt}"
                eta = self.eta()
                tail = f", ETA {format_seconds(eta)}" if eta is not None else ""
                self._emit(f"{head}still working on {where} | {format_seconds(self.elapsed())} elapsed{tail}")
