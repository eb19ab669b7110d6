"""One writer per output folder: an advisory ``fcntl.flock`` lock on a small file beside the folder.

``folder_lock("runs/zoo")`` holds ``runs/.zoo.kan-lock`` (beside, not inside, so the folder's content,
its validation and its atomic replacement are untouched) for the duration of a ``with`` block. A second
holder fails at once with :class:`FolderBusyError`, which names the folder and the process that holds it.
The kernel drops a ``flock`` when its process dies, so the lock of a dead process is taken over without
any clean-up; the file's recorded PID is then only informative and is rewritten.

On systems without ``fcntl`` (Windows) the lock is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["FolderBusyError", "folder_lock", "lock_path"]

_log = logging.getLogger("kan.lock")


class FolderBusyError(RuntimeError):
    """Another live process holds the folder's lock.

    Attributes:
        folder: the folder asked for.
        holder: what the lock file says about its holder (``"PID 123 on host"``), or ``"unknown"``.
    """

    def __init__(self, folder: Path, holder: str) -> None:
        self.folder = folder
        self.holder = holder
        super().__init__(
            f"{folder} is in use by another run ({holder}); wait for it to finish or use another folder"
        )


def lock_path(folder: str | os.PathLike) -> Path:
    """The lock file of ``folder``: ``.<name>.kan-lock`` in its parent."""
    p = Path(folder).absolute()
    return p.parent / f".{p.name}.kan-lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder(text: str) -> str:
    parts = text.split()
    if len(parts) >= 2 and parts[0].isdigit():
        return f"PID {parts[0]} on {parts[1]}"
    return "unknown"


@contextmanager
def folder_lock(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold the advisory lock of ``folder`` (see the module docstring); yields the lock file's path.

    Raises:
        FolderBusyError: another live process holds it.
    """
    path = lock_path(folder)
    if fcntl is None:  # pragma: no cover
        yield path
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 200, 0).decode(errors="replace")
            os.close(fd)
            raise FolderBusyError(Path(folder), _holder(text)) from None
        try:  # the file may have been removed and recreated between open and flock: lock the current one
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        old = os.pread(fd, 200, 0).decode(errors="replace").split()
        if old and old[0].isdigit() and int(old[0]) != os.getpid() and not _alive(int(old[0])):
            _log.info("%s: took over the lock of process %s, which no longer runs", folder, old[0])
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        yield path
    finally:
        try:
            os.unlink(path)  # removed while still held: a waiting opener sees another inode and retries
        except OSError:
            pass
        os.close(fd)
