"""Every ```python block of the getting-started pages runs (in an empty folder, pages in order)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGES = sorted((Path(__file__).resolve().parent.parent / "docs" / "getting-started").glob("*.md"))
NEEDS = {
    "from kan_core.interop import": "kan",
    "kan_ws": "kan_ws",
    "kan_metakan": "kan_metakan",
    "kan_graph": "kan_graph",
}


def _blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)


def test_pages_have_examples():
    assert [p.stem for p in PAGES] == ["kan-core", "kan-graph", "kan-metakan", "kan-ws"]
    assert all(_blocks(p) for p in PAGES)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_python_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for code in _blocks(page):
        for marker, module in NEEDS.items():
            if marker in code:
                pytest.importorskip(module)
        scope: dict = {}  # every block is self-contained: it runs on its own
        exec(compile(code, f"{page.name}", "exec"), scope)  # noqa: S102 - our own documentation
