#!/usr/bin/env python3
"""Check one package installed from its wheel (run inside the venv of a ``nox -s wheel`` session).

    python tools/check_wheel_install.py PACKAGE [ALLOWED_SIBLING ...]

Fails (exit 1, one line saying why) unless: the package is imported from site-packages (not the source
tree), its wheel holds the LICENSE, its long description is its README (Markdown), and no sibling
package other than the allowed ones is installed.
"""

from __future__ import annotations

import importlib
import sys
from importlib import metadata

SIBLINGS = {"kan-core", "kan-graph", "kan-metakan", "kan-ws"}


def main(package: str, allowed: list[str]) -> str:
    module = importlib.import_module(package.replace("-", "_"))
    if "site-packages" not in (module.__file__ or ""):
        raise SystemExit(f"{package} is imported from {module.__file__}, not from an installed wheel")
    dist = metadata.distribution(package)
    if not any(str(f).endswith("licenses/LICENSE") for f in dist.files or []):
        raise SystemExit(f"{package}: no LICENSE in the wheel's metadata folder")
    if dist.metadata["Description-Content-Type"] != "text/markdown" or not str(
        dist.metadata["Description"]
    ).startswith(f"# {package}"):
        raise SystemExit(f"{package}: the long description is not its README.md")
    installed = {d.metadata["Name"] for d in metadata.distributions()}
    extra = sorted((SIBLINGS & installed) - {package, *allowed})
    if extra:
        raise SystemExit(f"{package}: siblings it does not need were installed: {extra}")
    return f"{package} {module.__version__} from {module.__file__}: LICENSE, README, no extra siblings"


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    print(main(sys.argv[1], sys.argv[2:]))
