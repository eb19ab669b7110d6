"""nox sessions: per-package tests, cross-package tests, lint, demo.

    nox -s tests            # every package in its own venv (only it and its sibling dependencies)
    nox -s "tests(package='kan-graph')"
    nox -s cross lint demo

Each session installs torch==2.13.0 first, on its own, so that no dependency resolves another build.
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests", "cross", "lint"]
nox.options.reuse_existing_virtualenvs = True

TORCH = "torch==2.13.0"
# package -> sibling packages it depends on (see each packages/<name>/pyproject.toml)
SIBLINGS = {
    "kan-core": [],
    "kan-graph": ["kan-core"],
    "kan-metakan": ["kan-core"],
    "kan-ws": ["kan-core", "kan-graph"],
}
EXTRAS = {"kan-core": "[pykan]"}  # kan-core's tests exercise the pykan interop
TEST_DEPS = ["pytest", "scipy"]


def _editable(names: list[str]) -> list[str]:
    args: list[str] = []
    for name in names:
        args += ["-e", f"packages/{name}{EXTRAS.get(name, '')}"]
    return args


def _install(session: nox.Session, names: list[str], *extra: str) -> None:
    session.install(TORCH)
    session.install(*_editable(names), *extra, TORCH)


@nox.session
@nox.parametrize("package", list(SIBLINGS))
def tests(session: nox.Session, package: str) -> None:
    """One package's unit tests with only that package and its sibling dependencies installed."""
    _install(session, [*SIBLINGS[package], package], *TEST_DEPS)
    session.run("python", "-m", "pytest", f"packages/{package}/tests", *session.posargs)


@nox.session
def cross(session: nox.Session) -> None:
    """Cross-package and CLI tests (tests/) with all four packages installed."""
    _install(session, list(SIBLINGS), *TEST_DEPS)
    session.run("python", "-m", "pytest", "tests", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check over the repository (configuration in pyproject.toml)."""
    session.install("ruff")
    session.run("ruff", "check", ".", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """The main job on embedded default data: `kan demo`."""
    _install(session, list(SIBLINGS))
    session.run("kan", "demo", *session.posargs)
