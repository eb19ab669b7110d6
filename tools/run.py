#!/usr/bin/env python3
"""Bootstrap and run the toolkit from a fresh clone (standard library only; run with plain ``python3``).

Usage::

    python3 tools/run.py demo [ARGS...]     # the main job on embedded default data (`kan demo`)
    python3 tools/run.py test [PYTEST ARGS]  # every test path configured in pyproject.toml
    python3 tools/run.py install             # only create/update .venv

The first run creates ``.venv`` (``python3 -m venv``), installs ``torch==2.13.0`` on its own, then in one
pip call the four packages editable (kan-core with its ``pykan`` and ``triton`` extras) and the test tools. A stamp file
in ``.venv`` records a hash of the pyproject files and the requirement list, so later runs skip the install
until one of them changes. ``KAN_SKIP_INSTALL=1`` skips the install step entirely.

The exit status is the command's: pytest's failures (1), interruptions (2), internal errors (3), usage
errors (4) and "no tests collected" (5) are all passed on, never turned into success.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
STAMP = VENV / ".kan-install-stamp"
TORCH = "torch==2.13.0"
# kan-core's triton extra: the Triton kernel tests run in CI through Triton's interpreter (no GPU needed)
PACKAGES = ("kan-core[pykan,triton]", "kan-graph", "kan-metakan", "kan-ws")
TOOLS = ("pytest", "scipy", "ruff", "nox")
USAGE = "usage: python3 tools/run.py {demo,test,install} [ARGS...]"


def log(msg: str) -> None:
    print(f"[tools/run.py] {msg}", file=sys.stderr, flush=True)


def venv_exe(name: str) -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / f"{name}.exe"
    return VENV / "bin" / name


def run(cmd: list[str], **kwargs: object) -> int:
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, **kwargs)  # type: ignore[arg-type]


def check(cmd: list[str], what: str) -> None:
    code = run(cmd)
    if code != 0:
        log(f"{what} failed (exit {code}): {' '.join(str(c) for c in cmd)}")
        sys.exit(code)


def editable_args() -> list[str]:
    args: list[str] = []
    for spec in PACKAGES:
        name, _, extra = spec.partition("[")
        target = str(ROOT / "packages" / name) + (f"[{extra}" if extra else "")
        args += ["-e", target]
    return args


def stamp_value() -> str:
    digest = hashlib.sha256()
    digest.update(repr((TORCH, PACKAGES, TOOLS, sys.version_info[:2])).encode())
    for path in [ROOT / "pyproject.toml", ROOT / "VERSION", *sorted((ROOT / "packages").glob("*/pyproject.toml"))]:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_environment() -> Path:
    """Create .venv and install everything unless the stamp says it is up to date; returns its python."""
    python = venv_exe("python")
    if not python.exists():
        log(f"creating {VENV.relative_to(ROOT)} with {sys.executable} -m venv")
        check([sys.executable, "-m", "venv", str(VENV)], "creating the virtual environment")
    if os.environ.get("KAN_SKIP_INSTALL", "") in ("1", "true", "yes"):
        return python
    wanted = stamp_value()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return python
    STAMP.unlink(missing_ok=True)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
    log(f"installing {TORCH} (first, on its own)")
    check([*pip, TORCH], f"installing {TORCH}")
    log(f"installing {', '.join(PACKAGES)} (editable) and {', '.join(TOOLS)}")
    # torch is repeated so that no dependency can move it off the pinned version in this call
    check([*pip, *editable_args(), *TOOLS, TORCH], "installing the packages")
    tmp = STAMP.with_suffix(".tmp")
    tmp.write_text(wanted + "\n")
    os.replace(tmp, STAMP)
    log("environment ready")
    return python


def cmd_test(python: Path, args: list[str]) -> int:
    code = run([python, "-m", "pytest", *args])
    if code == 5:
        log("pytest collected no tests (exit 5); treating that as a failure")
    elif code != 0:
        log(f"pytest exited with {code}")
    return code


def cmd_demo(python: Path, args: list[str]) -> int:
    probe = "import sys; from kan_core.cli import command_available; sys.exit(0 if command_available('demo') else 3)"
    available = run([python, "-c", probe])
    if available not in (0, 3):
        log(f"could not import the kan CLI (exit {available})")
        return available
    kan = venv_exe("kan")
    if available == 0:
        return run([kan, "demo", *args])
    log("'kan demo' is not available in this checkout; running 'kan quickstart' instead")
    return run([kan, "quickstart", *args])


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip() if argv else USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in ("demo", "test", "install"):
        print(USAGE, file=sys.stderr)
        return 2
    python = ensure_environment()
    if command == "install":
        return 0
    if command == "test":
        return cmd_test(python, rest)
    return cmd_demo(python, rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
