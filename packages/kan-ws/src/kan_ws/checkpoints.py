"""Checkpoints of trained weight-space models (safetensors + JSON header, no pickle) and result JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from .task_data import TaskData

__all__ = ["save_checkpoint", "load_checkpoint", "write_json", "nan_to_none"]


def save_checkpoint(path: str | Path, model: torch.nn.Module, data: TaskData, result: dict[str, Any]) -> None:
    """Write ``path`` (.safetensors: state dict; JSON header: model class/config, task, spec, targets stats)."""
    from kan_core.io import save_tensors

    tensors = {k: v for k, v in model.state_dict().items()}
    extra = {}
    if data.target_mean is not None:
        extra = {"target_mean": data.target_mean.tolist(), "target_std": data.target_std.tolist()}
    meta = {
        "format": "kan-ws/checkpoint-1",
        "model_class": type(model).__name__,
        "model_config": json.dumps(model.config()),
        "task": data.task,
        "spec": data.spec.to_json(),
        "result": json.dumps({k: v for k, v in result.items() if k != "history"}),
        "targets": json.dumps(extra),
    }
    save_tensors(path, tensors, meta)


def load_checkpoint(path: str | Path, device: Any = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild a model saved by :func:`save_checkpoint`; returns ``(model, header)`` (no pickle)."""
    from kan_core.io import load_tensors

    from .models import model_from_config

    tensors, meta = load_tensors(path)
    if meta.get("format") != "kan-ws/checkpoint-1":
        raise ValueError(f"{path}: not a kan-ws checkpoint (format {meta.get('format')!r})")
    try:
        header = {
            k: (json.loads(v) if k in ("model_config", "result", "targets") else v) for k, v in meta.items()
        }
        model = model_from_config(meta["model_class"], header["model_config"])
        missing = [k for k in ("task", "result") if k not in header]
        if missing:
            raise KeyError(missing[0])
    except (KeyError, ValueError, TypeError) as e:
        raise ValueError(
            f"{path}: checkpoint header is incomplete or not JSON ({type(e).__name__}: {e})"
        ) from e
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:
        raise ValueError(
            f"{path}: checkpoint tensors do not fit its model ({' '.join(str(e).split())[:300]})"
        ) from e
    return model.to(device).eval(), header


def nan_to_none(x: Any) -> Any:
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: nan_to_none(v) for k, v in x.items()}
    if isinstance(x, list):
        return [nan_to_none(v) for v in x]
    return x


def write_json(path: str | Path, obj: Any) -> None:
    """Atomic JSON write (NaN written as null)."""
    from kan_core.io import atomic_write_bytes

    atomic_write_bytes(path, (json.dumps(nan_to_none(obj), indent=2, sort_keys=True) + "\n").encode())
