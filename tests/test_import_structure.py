"""Module dependencies that must stay one-way (no import cycles, not even lazy or TYPE_CHECKING ones)."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest


def _imported_modules(module: str) -> set[str]:
    """Absolute names of every module ``module``'s source imports, at any depth of its code."""
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    tree = ast.parse(Path(spec.origin).read_text())
    package = module.rsplit(".", 1)[0] if not spec.origin.endswith("__init__.py") else module
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return out


@pytest.mark.parametrize(
    "low, high",
    [
        ("kan_core.io", "kan_core.model"),
        ("kan_metakan.lean", "kan_metakan.prompts"),
    ],
)
def test_lower_module_does_not_import_the_higher_one(low, high):
    assert high not in _imported_modules(low), f"{low} imports {high}: an import cycle"


def test_the_check_sees_imports_inside_functions():
    """Negative controls: imports at module level, relative ones and ones inside functions are all seen."""
    assert "kan_core.io" in _imported_modules("kan_core.model")
    assert "kan_core.io" in _imported_modules("kan_core.plot")  # a function-level `from .io import ...`
    assert "kan_core.basis.registry" in _imported_modules("kan_core.functional")
    assert "kan_core.model" in _imported_modules("kan_core.batched")
