"""Saving and loading KANs: tensors in safetensors, spec and metadata as JSON in its header. No pickle."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .spec import KANSpec

FORMAT = "kan-core/1"

__all__ = ["save_kan", "load_kan", "atomic_write_bytes", "save_tensors", "load_tensors", "FORMAT"]


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def save_tensors(path: str | os.PathLike, tensors: dict[str, Tensor], metadata: dict[str, str]) -> None:
    """Atomically write a safetensors file."""
    from safetensors.torch import save

    data = save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, metadata=metadata)
    atomic_write_bytes(path, data)


def load_tensors(path: str | os.PathLike) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Read a safetensors file; raises ``ValueError`` naming ``path`` when it is missing or corrupt."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises several error types for corrupt files
        raise ValueError(f"{path}: not a readable safetensors file ({e})") from e
    return tensors, meta


def save_kan(kan: Any, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> None:
    """Write ``kan`` (a :class:`~kan_core.KAN`) as ``layers.{l}.{name}`` tensors plus JSON header."""
    tensors = {f"layers.{l}.{k}": v for l, p in enumerate(kan.layer_params()) for k, v in p.items()}
    meta = {"format": FORMAT, "spec": kan.spec.to_json(), "metadata": json.dumps(metadata or {})}
    save_tensors(path, tensors, meta)


def load_kan(path: str | os.PathLike, device: Any = None) -> Any:
    """Read a KAN written by :func:`save_kan`, checking format, names, shapes and finiteness."""
    from .model import KAN

    tensors, meta = load_tensors(path)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not a kan-core KAN file (format {meta.get('format')!r}, expected {FORMAT!r})")
    try:
        spec = KANSpec.from_json(meta["spec"])
    except (KeyError, ValueError, TypeError) as e:
        raise ValueError(f"{path}: bad or missing spec in header ({e})") from e
    dtype = next(iter(tensors.values())).dtype if tensors else None
    kan = KAN(spec, dtype=dtype, generator=torch.Generator().manual_seed(0))
    expected = {f"layers.{l}.{k}": v for l, p in enumerate(kan.layer_params()) for k, v in p.items()}
    missing, extra = set(expected) - set(tensors), set(tensors) - set(expected)
    if missing or extra:
        raise ValueError(f"{path}: tensors do not match its spec (missing {sorted(missing)}, unexpected {sorted(extra)})")
    for name, t in tensors.items():
        if tuple(t.shape) != tuple(expected[name].shape):
            raise ValueError(f"{path}: tensor {name} has shape {tuple(t.shape)}, spec expects {tuple(expected[name].shape)}")
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise ValueError(f"{path}: tensor {name} holds non-finite values")
    per_layer: list[dict[str, Tensor]] = [{} for _ in range(spec.depth)]
    for name, t in tensors.items():
        _, l, k = name.split(".", 2)
        per_layer[int(l)][k] = t
    kan.load_layer_params(per_layer)
    kan.metadata = json.loads(meta.get("metadata", "{}"))
    return kan.to(device) if device is not None else kan
