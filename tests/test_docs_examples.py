"""Every code block of README.md, docs/index.md, docs/install.md and docs/getting-started/*.md runs as written.

Pages run one by one, each in its own empty folder, and their blocks in order, each in its own process, so
a block sees the files the blocks above it wrote (``kan plot model.safetensors`` after the block that saved
it). A ```python block runs as a script with this interpreter; a ```bash, ```sh or ```console block runs in
``/bin/bash`` under ``set -euo pipefail`` with this interpreter's ``bin/`` (the repository's venv) first on
``PATH`` (in a console block only the ``$ `` lines are commands, the others are their output). Children get
one thread each (``OMP_NUM_THREADS=1``), as the timings in the prose are given.

A block that cannot run in a test is marked in the Markdown by an HTML comment as the last non-blank line
before its opening fence, with the reason:

    <!-- docs-test: skip: installs packages from PyPI -->

Reasons: it installs packages, downloads, needs a GPU, or runs for more than about a minute on the
project's 2-core machine. A skip without a reason, another ``docs-test`` comment, or one that is not right
before a block fails :func:`test_skip_markers_name_a_reason`.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [
    ROOT / "README.md",
    ROOT / "docs" / "index.md",
    ROOT / "docs" / "install.md",
    *sorted((ROOT / "docs" / "getting-started").glob("*.md")),
]
RUN = {"python": "python", "bash": "shell", "sh": "shell", "console": "console"}
#: seconds one block may take; generous, the prose's timings are for an idle machine and CI may be busy
BLOCK_TIMEOUT = 900
#: a python block importing the key needs the value importable (the page's other blocks are skipped)
NEEDS = {"from kan import": "kan", "kan_ws": "kan_ws", "kan_metakan": "kan_metakan", "kan_graph": "kan_graph"}
_FENCE = re.compile(r"^```(\S*)\s*$")
_MARKER = re.compile(r"^<!--\s*docs-test\b(.*?)-->\s*$")
_SKIP = re.compile(r"^:\s*skip\s*:\s*(\S.*?)\s*$")


@dataclass(frozen=True)
class Block:
    lang: str
    code: str
    line: int  # 1-based line of the opening fence
    skip: str | None  # the reason, when marked


def parse(page: Path) -> tuple[list[Block], list[str]]:
    """The fenced blocks of ``page`` and the problems of its ``docs-test`` markers."""
    lines = page.read_text().splitlines()
    blocks: list[Block] = []
    problems: list[str] = []
    pending: tuple[int, str | None] | None = None  # (line, skip reason) of a marker awaiting its block
    i = 0
    while i < len(lines):
        text = lines[i]
        marker = _MARKER.match(text.strip())
        fence = _FENCE.match(text)
        if marker:
            if pending is not None:
                problems.append(f"{page.name}:{pending[0]}: docs-test marker is not right before a block")
            reason = _SKIP.match(marker.group(1))
            if reason is None:
                problems.append(
                    f"{page.name}:{i + 1}: write a docs-test marker as '<!-- docs-test: skip: REASON -->' "
                    f"with a reason, got {text.strip()!r}"
                )
            pending = (i + 1, reason.group(1) if reason else None)
        elif fence:
            end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), len(lines))
            blocks.append(
                Block(fence.group(1), "\n".join(lines[i + 1 : end]) + "\n", i + 1, pending and pending[1])
            )
            pending = None
            i = end
        elif text.strip() and pending is not None:
            problems.append(f"{page.name}:{pending[0]}: docs-test marker is not right before a block")
            pending = None
        i += 1
    if pending is not None:
        problems.append(f"{page.name}:{pending[0]}: docs-test marker is not right before a block")
    return blocks, problems


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def _command(block: Block) -> list[str] | str:
    kind = RUN[block.lang]
    if kind == "python":
        return [sys.executable, "-c", block.code]
    code = block.code
    if kind == "console":
        code = "\n".join(ln[2:] for ln in code.splitlines() if ln.startswith("$ ")) + "\n"
    return "set -euo pipefail\n" + code


def _ids(page: Path) -> str:
    return str(page.relative_to(ROOT))


def test_pages_have_runnable_blocks():
    assert [p.stem for p in PAGES[3:]] == ["kan-core", "kan-graph", "kan-metakan", "kan-ws"]
    for page in PAGES:
        blocks, _ = parse(page)
        assert blocks, page
        unknown = {b.lang for b in blocks} - set(RUN)
        assert not unknown, f"{_ids(page)}: blocks in {sorted(unknown)}; name the language (python, bash)"
    runnable = {_ids(p): sum(b.skip is None for b in parse(p)[0]) for p in PAGES}
    assert all(runnable[k] for k in ("README.md", "docs/getting-started/kan-core.md")), runnable


def test_skip_markers_name_a_reason(tmp_path):
    problems = [p for page in PAGES for p in parse(page)[1]]
    assert not problems, "\n".join(problems)
    # negative control: the parser finds a skip without a reason, a stray marker, and reads a good one
    bad = tmp_path / "bad.md"
    bad.write_text(
        "<!-- docs-test: skip -->\n```bash\nls\n```\n<!-- docs-test: skip: slow -->\ntext\n"
        "<!-- docs-test: skip: downloads -->\n\n```python\nx = 1\n```\n"
    )
    blocks, found = parse(bad)
    assert len(found) == 2 and "with a reason" in found[0] and "not right before a block" in found[1]
    assert [b.skip for b in blocks] == [None, "downloads"] and blocks[1].line == 9


@pytest.mark.parametrize("page", PAGES, ids=_ids)
def test_page_runs(page, tmp_path):
    blocks, problems = parse(page)
    assert not problems, "\n".join(problems)
    env = _env()
    for block in blocks:
        if block.skip is not None:
            continue
        where = f"{_ids(page)}:{block.line} ({block.lang})"
        if block.lang == "python":
            for marker, module in NEEDS.items():
                if marker in block.code and importlib.util.find_spec(module) is None:
                    pytest.skip(f"{where} needs {module}, which is not installed")
        cmd = _command(block)
        try:
            res = subprocess.run(
                cmd,
                shell=isinstance(cmd, str),
                executable="/bin/bash" if isinstance(cmd, str) else None,
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=BLOCK_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"{where} ran longer than {BLOCK_TIMEOUT} s; mark it '<!-- docs-test: skip: ... -->'")
        assert res.returncode == 0, (
            f"{where} failed (exit {res.returncode}):\n{block.code}\n--- stdout\n{res.stdout[-3000:]}\n"
            f"--- stderr\n{res.stderr[-3000:]}"
        )
