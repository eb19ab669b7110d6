"""The version of an installed kan distribution, or of its source tree when it runs uninstalled."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

__all__ = ["distribution_version"]


def distribution_version(dist: str, package_init: str) -> str:
    """``dist``'s installed version; from a source tree without an install (``PYTHONPATH=packages/*/src``,
    as on a GPU machine where nothing can be installed) the ``VERSION`` file beside its ``pyproject.toml``,
    which links to the repository's one version."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return (Path(package_init).resolve().parents[2] / "VERSION").read_text().strip()
