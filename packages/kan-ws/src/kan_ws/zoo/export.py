"""Taking one KAN out of a zoo as a kan-core model file (``kan zoo export``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["export_kan", "model_record"]


def model_record(zoo: Any, index: int) -> dict[str, Any]:
    """What the zoo knows about model ``index``: preset, split, targets, per-model metadata (JSON-ready)."""
    split = next((name for name, idx in zoo.splits.items() if index in idx.tolist()), None)
    targets = {k: v[index].tolist() for k, v in zoo.targets.items()}
    return {
        "preset": zoo.preset,
        "task": zoo.task,
        "index": index,
        "split": split,
        "targets": targets,
        "model": dict(zoo.meta[index]) if zoo.meta else {},
    }


def export_kan(
    zoo_dir: str | os.PathLike, index: int, out: str | os.PathLike, *, force: bool = False
) -> dict:
    """Write model ``index`` of the zoo folder ``zoo_dir`` to ``out`` (kan-core ``.safetensors``).

    The file's metadata (``KAN.load(out).metadata``) holds :func:`model_record` plus ``"zoo": zoo_dir``,
    so a target (frequency, label, test accuracy, noise) travels with the model.

    Returns:
        the metadata written.

    Raises:
        IndexError: ``index`` outside ``0..M-1`` (the message gives ``M``).
        FileExistsError: ``out`` exists and ``force`` is off.
        ValueError: ``out`` does not end in ``.safetensors``; a bad zoo (from :func:`kan_ws.zoo.load_zoo`).
    """
    out = Path(out)
    if out.suffix != ".safetensors":
        raise ValueError(f"{out}: the output must be a .safetensors file")
    if out.exists() and not force:
        raise FileExistsError(f"{out} already exists; allow overwriting it (--force on the command line)")
    from .store import load_zoo

    zoo = load_zoo(zoo_dir)
    if not 0 <= index < len(zoo):
        raise IndexError(
            f"index {index} is outside zoo {zoo_dir}, which holds {len(zoo)} models (0..{len(zoo) - 1})"
        )
    meta = {"zoo": str(zoo_dir), **model_record(zoo, index)}
    zoo.kan(index).save(out, metadata=meta)
    return meta
