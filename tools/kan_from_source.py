#!/usr/bin/env python3
"""Run the ``kan`` command line from this working tree, with nothing installed (standard library only).

``kan``'s subcommands (``kan ws``, ``kan repro wskan``...) come from entry points, which exist only once
the packages are installed. On a machine where nothing can be installed (the GPU host), this script puts
``packages/*/src`` first on ``sys.path`` and writes, into a temporary folder also put on ``sys.path``,
one ``<dist>-<version>.dist-info`` per package holding its ``METADATA`` and the ``entry_points.txt`` read
from its ``pyproject.toml``: exactly what an installation leaves for :mod:`importlib.metadata` to find.
Then it runs ``kan_core.cli.main``. Dependencies (torch, click, ...) must already be importable.

Usage::

    python3 tools/kan_from_source.py repro wskan --scale tiny --device cuda
    python3 tools/kan_from_source.py --list-entry-points      # what it would register, then exit
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def read_pyproject(path: Path) -> tuple[str, str, dict[str, dict[str, str]]]:
    """``(name, version, {group: {name: "module:attr"}})`` of one package's ``pyproject.toml``."""
    import tomllib

    with open(path, "rb") as f:
        data = tomllib.load(f)
    project = data.get("project", {})
    version = project.get("version")
    if version is None and "version" in project.get("dynamic", []):
        version = (path.parent / "VERSION").read_text().strip()  # hatch reads the same file (one version)
    if "name" not in project or version is None:
        raise SystemExit(f"error: {path}: [project] needs a name and a version (static or from VERSION)")
    groups = dict(project.get("entry-points", {}))
    if project.get("scripts"):
        groups["console_scripts"] = dict(project["scripts"])
    return project["name"], str(version), groups


def write_dist_info(folder: Path, name: str, version: str, groups: dict[str, dict[str, str]]) -> Path:
    """One ``.dist-info`` folder (``METADATA``, ``entry_points.txt``) for distribution ``name``."""
    info = folder / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = []
    for group, eps in groups.items():
        lines.append(f"[{group}]")
        lines += [f"{k} = {v}" for k, v in eps.items()]
        lines.append("")
    (info / "entry_points.txt").write_text("\n".join(lines))
    return info


def packages() -> list[Path]:
    found = sorted(p for p in (ROOT / "packages").glob("*/pyproject.toml"))
    if not found:
        raise SystemExit(f"error: no packages/*/pyproject.toml under {ROOT}")
    return found


def setup(meta_dir: Path) -> list[tuple[str, str, dict[str, dict[str, str]]]]:
    """Put every package's ``src`` and its dist-info on ``sys.path``; returns what was registered."""
    found = []
    for pyproject in packages():
        name, version, groups = read_pyproject(pyproject)
        write_dist_info(meta_dir, name, version, groups)
        found.append((name, version, groups))
        sys.path.insert(0, str(pyproject.parent / "src"))
    sys.path.insert(0, str(meta_dir))
    return found


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="kan-from-source-") as tmp:
        found = setup(Path(tmp))
        if argv[:1] == ["--list-entry-points"]:
            for name, version, groups in found:
                for group, eps in groups.items():
                    for k, v in eps.items():
                        print(f"{name} {version} [{group}] {k} = {v}")
            return 0
        from kan_core.cli import main as kan_main

        try:
            kan_main(argv)
        except SystemExit as e:  # click ends with SystemExit; keep its status
            return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
