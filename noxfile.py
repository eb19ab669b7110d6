"""nox sessions: per-package tests, installs from wheels, cross-package tests, lint, docs, demo.

    nox -s tests            # every package in its own venv (editable, only it and its sibling dependencies)
    nox -s "tests(package='kan-graph')"
    nox -s wheel            # every package ALONE from built wheels in a fresh venv: tests + smoke command
    nox -s "wheel(package='kan-ws')"
    nox -s cross lint docs demo

Each session installs torch==2.13.0 first, on its own, so that no dependency resolves another build.

The ``wheel`` sessions are the check that each package's metadata is true: the four wheels are built
(``pip wheel --no-deps``) into ``.nox/wheelhouse``, and one package is installed by name with
``--find-links`` into a venv that is created anew, so only what that package declares is there (plus
pytest and the package's ``test`` extra). Its tests then run against the installed wheel, followed by a
smoke command that exercises its command line.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests", "cross", "lint"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).resolve().parent
TORCH = "torch==2.13.0"
# package -> sibling packages it depends on (see each packages/<name>/pyproject.toml)
SIBLINGS = {
    "kan-core": [],
    "kan-graph": ["kan-core"],
    "kan-metakan": ["kan-core"],
    "kan-ws": ["kan-core", "kan-graph"],
}
EXTRAS = {"kan-core": "[pykan,test]"}  # kan-core's tests exercise the pykan interop
TEST_DEPS = ["pytest", "scipy"]
WHEELHOUSE = ROOT / ".nox" / "wheelhouse"
DOCS_DEPS = ["mkdocs>=1.6,<2", "mkdocs-material>=9.5,<10", "mkdocstrings[python]>=0.26"]

# What each wheel session runs after the tests, in a temporary folder: proof that the installed command
# line works with only the declared dependencies.
SMOKE = {
    "kan-core": [
        ["kan", "info"],
        ["kan", "quickstart", "--steps", "20"],
        ["python", "-c", "from kan_core import KAN; KAN.from_widths([2, 3, 1]).save('m.safetensors')"],
        [
            "python",
            "-c",
            "from kan_core.datasets import load_dataset; print(load_dataset('digits')[0].shape)",
        ],
    ],
    "kan-graph": [
        ["python", "-c", "from kan_core import KAN; KAN.from_widths([2, 3, 1]).save('m.safetensors')"],
        ["kan", "graph", "convert", "m.safetensors", "--out", "g.safetensors"],
    ],
    "kan-metakan": [
        ["kan", "metakan", "images", "--epochs", "1", "--max-train", "300", "--out", "metakan"],
    ],
    "kan-ws": [
        ["kan", "demo", "--quick", "--out", "demo"],
        ["kan", "zoo", "export", "demo/zoos/sine-cpu", "0", "--out", "sine0.safetensors", "--force"],
        [
            "kan",
            "ws",
            "predict",
            "--checkpoint",
            "demo/results/sine-wskan-s0.safetensors",
            "sine0.safetensors",
            "--out",
            "p.csv",
            "--force",
        ],
        ["kan", "ws", "table", "demo/results", "--out", "table.md"],
        ["kan", "ws", "plot", "demo/results", "--out", "figures"],
    ],
}


PLOT_SMOKE = ["kan", "plot", "m.safetensors", "--out", "plots"]


def _editable(names: list[str]) -> list[str]:
    args: list[str] = []
    for name in names:
        args += ["-e", f"packages/{name}{EXTRAS.get(name, '')}"]
    return args


def _install(session: nox.Session, names: list[str], *extra: str) -> None:
    session.install(TORCH)
    session.install(*_editable(names), *extra, TORCH)


_built: list[bool] = []


def _build_wheels(session: nox.Session) -> Path:
    """The four wheels in WHEELHOUSE (built once per nox run)."""
    if not _built:
        shutil.rmtree(WHEELHOUSE, ignore_errors=True)
        session.run(
            "python", "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(WHEELHOUSE),
            *(str(ROOT / "packages" / name) for name in SIBLINGS),
        )  # fmt: skip
        _built.append(True)
    return WHEELHOUSE


@nox.session
@nox.parametrize("package", list(SIBLINGS))
def tests(session: nox.Session, package: str) -> None:
    """One package's unit tests with only that package and its sibling dependencies installed (editable)."""
    _install(session, [*SIBLINGS[package], package], *TEST_DEPS)
    session.run("python", "-m", "pytest", f"packages/{package}/tests", *session.posargs)


@nox.session(reuse_venv=False)
@nox.parametrize("package", list(SIBLINGS))
def wheel(session: nox.Session, package: str) -> None:
    """One package ALONE, installed by name from the built wheels into a fresh venv: tests + smoke command."""
    wheelhouse = _build_wheels(session)
    session.install(TORCH)
    session.install("--find-links", str(wheelhouse), f"{package}[test]", TORCH)
    session.run("python", "tools/check_wheel_install.py", package, *SIBLINGS[package])
    session.run("python", "-m", "pytest", "-q", f"packages/{package}/tests", *session.posargs)
    tmp = session.create_tmp()
    with session.chdir(tmp):
        for cmd in SMOKE[package]:
            session.run(*cmd)
        if package == "kan-core":  # plotting: a clear error without the extra, plots with it
            failed = session.run(*PLOT_SMOKE, success_codes=[1], silent=True)
            if "pip install 'kan-core[plot]'" not in (failed or ""):
                session.error(f"kan plot without matplotlib did not name the plot extra: {failed!r}")
            session.install("--find-links", str(wheelhouse), "kan-core[plot]", TORCH)
            session.run(*PLOT_SMOKE)


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
def docs(session: nox.Session) -> None:
    """The documentation site (mkdocs.yml -> site/), warnings as errors. mkdocstrings reads the sources
    statically; the hook docs/hooks/cli_help.py writes each command's --help into the command pages, so
    the four packages are installed (editable, torch first). ``nox -s docs -- serve`` serves it on http://127.0.0.1:8000 instead."""
    session.install(TORCH)
    session.install(*(f"-e{ROOT / 'packages' / name}" for name in SIBLINGS), *DOCS_DEPS, TORCH)
    session.env["NO_MKDOCS_2_WARNING"] = "1"
    if session.posargs[:1] == ["serve"]:
        session.run("mkdocs", "serve", *session.posargs[1:])
    else:
        session.run("mkdocs", "build", "--strict", "--site-dir", "site", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """The main job on embedded default data: `kan demo`."""
    _install(session, list(SIBLINGS))
    session.run("kan", "demo", *session.posargs)
