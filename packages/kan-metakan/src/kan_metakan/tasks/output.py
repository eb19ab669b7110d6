"""Writing experiment results: a CSV table and a PNG figure (atomically), and a printable table."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kan_core.io import atomic_write_bytes
from kan_core.io import write_figure as write_png

__all__ = ["write_csv", "write_figure", "format_table"]


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Rows (same keys) -> CSV file."""
    if not rows:
        raise ValueError(f"no result rows to write to {path}")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0].keys()))
    w.writeheader()
    w.writerows(rows)
    atomic_write_bytes(path, buf.getvalue().encode())
    return path


def write_figure(path: Path, draw: Callable[[Any], None], figsize=(6, 4)) -> Path:
    """Call ``draw(fig)`` on a new matplotlib figure (Agg) and save it as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=figsize)
    try:
        draw(fig)
        fig.tight_layout()
        write_png(fig, path, dpi=100)
    finally:
        plt.close(fig)
    return path


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Plain-text table of the rows."""
    if not rows:
        return "(no rows)"
    keys = list(rows[0].keys())

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    cells = [[fmt(r.get(k, "")) for k in keys] for r in rows]
    width = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    line = "  ".join(k.ljust(w) for k, w in zip(keys, width))
    return "\n".join(
        [line, "-" * len(line)] + ["  ".join(c.ljust(w) for c, w in zip(row, width)) for row in cells]
    )
