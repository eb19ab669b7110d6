"""Package metadata against the source: every import is declared, every declared dependency is imported,
one version and one license for all four packages."""

from __future__ import annotations

import ast
import importlib
import re
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("kan-core", "kan-graph", "kan-metakan", "kan-ws")
# import name -> distribution name, where they differ
DIST_OF = {"kan": "pykan", "yaml": "pyyaml", "sklearn": "scikit-learn"}


def _pyproject(package: str) -> dict:
    return tomllib.loads((ROOT / "packages" / package / "pyproject.toml").read_text())


def _dist(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imports(package: str) -> dict[str, list[str]]:
    """Third-party top-level import name -> files importing it, for every module under src/."""
    found: dict[str, list[str]] = {}
    src = ROOT / "packages" / package / "src"
    own = package.replace("-", "_")
    for path in sorted(src.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in (own, "__future__"):
                    continue
                found.setdefault(DIST_OF.get(top, top).lower().replace("_", "-"), []).append(
                    str(path.relative_to(ROOT))
                )
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_every_import_is_declared_and_every_dependency_imported(package):
    meta = _pyproject(package)["project"]
    required = {_dist(r) for r in meta["dependencies"]}
    optional = {_dist(r) for reqs in meta.get("optional-dependencies", {}).values() for r in reqs}
    # an extra that pulls a sibling with its own extra (kan-core[pykan]) declares what that extra holds
    for reqs in meta.get("optional-dependencies", {}).values():
        for r in reqs:
            m = re.match(r"kan-core\[(\w+)\]", r)
            if m:
                optional |= {
                    _dist(x) for x in _pyproject("kan-core")["project"]["optional-dependencies"][m[1]]
                }
    imported = _imports(package)
    undeclared = {d: files for d, files in imported.items() if d not in required | optional}
    assert not undeclared, f"{package} imports packages its pyproject.toml does not declare: {undeclared}"
    unused = required - set(imported)
    assert not unused, f"{package} declares dependencies it never imports: {sorted(unused)}"


def test_one_version_source():
    version = (ROOT / "VERSION").read_text().strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+(\.dev\d+|rc\d+)?", version)
    for package in PACKAGES:
        meta = _pyproject(package)
        assert "version" not in meta["project"] and meta["project"]["dynamic"] == ["version"]
        assert meta["tool"]["hatch"]["version"]["path"] == "VERSION"
        assert (ROOT / "packages" / package / "VERSION").read_text() == (ROOT / "VERSION").read_text()
        assert importlib.import_module(package.replace("-", "_")).__version__ == version


def test_license_and_readme_per_package():
    license_text = (ROOT / "LICENSE").read_text()
    assert license_text.startswith("MIT License")
    for package in PACKAGES:
        meta = _pyproject(package)["project"]
        assert meta["license"] == "MIT" and meta["license-files"] == ["LICENSE"]
        assert (ROOT / "packages" / package / "LICENSE").read_text() == license_text
        readme = (ROOT / "packages" / package / meta["readme"]).read_text()
        assert readme.startswith(f"# {package}") and "pip install" in readme
