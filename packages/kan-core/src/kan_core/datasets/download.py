"""Verified, atomic downloads.

:func:`download_file` streams a URL into a temporary file beside the destination while hashing it,
compares the SHA-256 with the expected one and only then renames it into place; on a mismatch (or any
error) the temporary file is removed, so a bad download never leaves a file behind.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

__all__ = ["ChecksumError", "sha256_file", "download_file"]


class ChecksumError(ValueError):
    """A downloaded file's SHA-256 differs from the expected one."""


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def download_file(url: str, dest: str | os.PathLike, sha256: str, *, timeout: float = 60.0) -> Path:
    """Fetch ``url`` into ``dest`` if ``dest`` is not already there with the right SHA-256.

    Raises:
        ChecksumError: the download's SHA-256 is not ``sha256`` (nothing is written).
        OSError: network or file errors (nothing is written).
    """
    dest = Path(dest)
    sha256 = sha256.lower()
    if dest.is_file() and sha256_file(dest) == sha256:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        if hasattr(os, "fchmod"):
            from ..io import file_mode

            os.fchmod(fd, file_mode())
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310
            while block := resp.read(1 << 20):
                h.update(block)
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        got = h.hexdigest()
        if got != sha256:
            raise ChecksumError(f"{url}: SHA-256 {got} does not match the expected {sha256}; file discarded")
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return dest
