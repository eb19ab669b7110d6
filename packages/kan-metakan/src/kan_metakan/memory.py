"""Peak training memory of KANs vs MetaKANs (the paper's Figure 4), measured with kan-core's runtime."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["training_peak_bytes", "build_model", "memory_rows"]

MODES = ("kan", "metakan", "metakan-efficient")


def _static_bytes(model: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))


def training_peak_bytes(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 2, device: Any = "cpu"
) -> int:
    """Peak bytes of ``steps`` AdamW training steps (cross-entropy): parameters and buffers (alive before)
    plus the peak of everything created inside (activations, gradients, optimizer state), measured by
    :func:`kan_core.runtime.track_peak_memory` (CUDA allocator; on CPU its tensor-storage substitute)."""
    from kan_core.runtime import track_peak_memory

    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    with track_peak_memory(device) as mem:
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            opt.step()
    return _static_bytes(model) + int(mem.peak_bytes)


def build_model(
    mode: str,
    widths: Sequence[int],
    grid_size: int,
    hidden: int,
    seed: int = 0,
    block_elems: int | None = None,
) -> nn.Module:
    """``kan`` (plain kan-core KAN), ``metakan`` (``memory_efficient=False``: every per-edge intermediate
    kept for backward) or ``metakan-efficient`` (``memory_efficient=True``, :mod:`kan_metakan.lean`: column
    chunks generated and recomputed one at a time; ``block_elems`` bounds a chunk)."""
    from kan_core import KAN

    from .models import MetaKAN

    g = torch.Generator().manual_seed(seed)
    if mode == "kan":
        return KAN.from_widths(list(widths), grid_size=grid_size, spline_order=3, generator=g)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    m = MetaKAN.from_widths(
        list(widths), grid_size=grid_size, spline_order=3, hidden=hidden, generator=g, memory_efficient=False
    )
    return m.set_memory_efficient(mode == "metakan-efficient", block_elems)


def memory_rows(
    *,
    widths_list: Sequence[Sequence[int]],
    grid_sizes: Sequence[int],
    hidden: int = 32,
    batch: int = 128,
    device: Any = "cpu",
    seed: int = 0,
    modes: Sequence[str] = MODES,
) -> list[dict[str, Any]]:
    """One row per (widths, G): connections, meta-learner hidden size, peak MiB per mode and ratios to the
    KAN (``{mode}_ratio``, when ``kan`` is among ``modes``)."""
    rows = []
    g = torch.Generator().manual_seed(seed)
    for widths in widths_list:
        for G in grid_sizes:
            x = (torch.rand(batch, widths[0], generator=g) * 2 - 1).to(device)
            y = torch.randint(0, widths[-1], (batch,), generator=g).to(device)
            row: dict[str, Any] = {
                "widths": "-".join(map(str, widths)),
                "connections": sum(a * b for a, b in zip(widths[:-1], widths[1:])),
                "G": G,
                "meta_hidden": hidden,
            }
            for mode in modes:
                model = build_model(mode, widths, G, hidden, seed).to(device)
                row[f"{mode}_MiB"] = training_peak_bytes(model, x, y, device=device) / 2**20
            for mode in modes:
                if mode != "kan" and "kan_MiB" in row:
                    row[f"{mode}_ratio"] = row[f"{mode}_MiB"] / row["kan_MiB"]
            rows.append(row)
    return rows
