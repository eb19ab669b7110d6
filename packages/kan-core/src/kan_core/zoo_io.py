"""The one reader and writer of zoo folders (the format described in :mod:`kan_core.zoo_format`).

``kan_ws.zoo`` (task-aware: it names its target and mask tensors) and ``kan_graph.io`` (any extra tensors,
carried over) both call this module.

Reading (:func:`read_zoo` = :func:`~kan_core.zoo_format.read_manifest` + :func:`read_shards`; one shard:
:func:`read_shard`) checks, in this order, so that the first fault found is always the same one: the
manifest against the schema; then for each shard its path (inside the folder), its SHA-256 against the
manifest (optional), that it loads, its header digest (optional), the tensor names (the spec's
``layers.{l}.{name}`` and, when the caller names them, exactly its other tensors), then tensor by tensor
the dtype, the shape (leading dim = the shard's model count) and finiteness; then the finiteness of every
other floating tensor, the B-spline knots (:func:`kan_core.io.check_knots`) and last the caller's
own check. The shards are then concatenated along the model dim. Every error is a
:class:`~kan_core.zoo_format.ZooError` whose message starts with the manifest or shard path and names the
key or tensor.

Writing: :func:`write_shard` (atomic; the shard header gets the format and a digest of the content being
written) and :func:`write_manifest` (the SHA-256 of every listed shard, validated, atomic; call it last).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .io import atomic_write_bytes, check_knots, load_tensors, save_tensors
from .spec import KANSpec
from .stacked import StackedKAN
from .zoo_format import (
    MANIFEST,
    SHARD_FORMAT,
    ZooError,
    check_sha256,
    read_manifest,
    sha256_file,
    shard_path,
    validate_manifest,
)

__all__ = [
    "ExpectedTensors",
    "ShardCheck",
    "ZooShard",
    "ZooContents",
    "shard_digest",
    "parse_shard_header",
    "read_shard_header",
    "layer_tensors",
    "check_shard_tensors",
    "check_shard_digest",
    "read_shard",
    "read_shards",
    "read_zoo",
    "write_shard",
    "write_manifest",
]

#: tensor name -> (dtype, shape of one model); the reader puts the shard's model count in front
ExpectedTensors = Mapping[str, tuple[torch.dtype, tuple[int, ...]]]
#: a caller's last check of one shard: ``check(shard path, its tensors)``, raising :class:`ZooError`
ShardCheck = Callable[[Path, dict[str, Tensor]], None]


def shard_digest(tensors: Mapping[str, Tensor], header: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a shard's content: ``header`` without ``digest`` (JSON, sorted keys) and every
    tensor's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    h.update(json.dumps({k: v for k, v in header.items() if k != "digest"}, sort_keys=True).encode())
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"\n{name} {t.dtype} {tuple(t.shape)}\n".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def parse_shard_header(metadata: Mapping[str, str]) -> dict[str, Any] | None:
    """The shard header in a safetensors file's metadata (the JSON object under ``"zoo"`` whose
    ``format`` is :data:`~kan_core.zoo_format.SHARD_FORMAT`), or None when there is none."""
    try:
        header = json.loads(metadata["zoo"])
    except (KeyError, TypeError, ValueError):
        return None
    return header if isinstance(header, dict) and header.get("format") == SHARD_FORMAT else None


def read_shard_header(path: str | os.PathLike) -> dict[str, Any] | None:
    """The shard header of the file ``path`` (tensors are not loaded), or None when the file is missing,
    unreadable or has no shard header."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception:  # missing, truncated, not safetensors: safetensors raises several types
        return None
    return parse_shard_header(meta)


def layer_tensors(layers: Any) -> dict[str, Tensor]:
    """Per-layer dicts (or a :class:`~kan_core.StackedKAN`) as the flat ``layers.{l}.{name}`` tensors of a
    shard."""
    return {f"layers.{l}.{k}": v for l, p in enumerate(layers) for k, v in p.items()}


def check_shard_tensors(
    where: Any,
    spec: KANSpec,
    count: int,
    tensors: Mapping[str, Tensor],
    *,
    expected: ExpectedTensors | None = None,
    layer_dtype: torch.dtype | None = None,
) -> None:
    """Check the tensors of a shard of ``count`` models of ``spec``; raises :class:`ZooError` starting
    with ``where`` and naming the tensor.

    Args:
        expected: the shard's other tensors (name -> dtype, shape of one model); then the shard must hold
            exactly the layer tensors and these. None: any other tensors (only their finiteness is checked).
        layer_dtype: the dtype of every ``layers.*`` tensor; None: any floating-point dtype.
    """
    want: dict[str, tuple[torch.dtype | None, tuple[int, ...]]] = {
        f"layers.{l}.{name}": (layer_dtype, (count, *shape))
        for l, p in enumerate(spec.param_shapes())
        for name, shape in p.items()
    }
    for name, (dtype, shape) in (expected or {}).items():
        want.setdefault(name, (dtype, (count, *shape)))
    present = set(tensors) if expected is not None else {k for k in tensors if k.startswith("layers.")}
    missing, extra = sorted(set(want) - present), sorted(present - set(want))
    if missing or extra:
        raise ZooError(f"{where}: tensors do not match the zoo (missing {missing}, unexpected {extra})")
    for name, (dtype, shape) in want.items():
        t = tensors[name]
        if dtype is None and not t.is_floating_point():
            raise ZooError(f"{where}: tensor {name} has dtype {t.dtype}, expected a floating-point dtype")
        if dtype is not None and t.dtype != dtype:
            raise ZooError(f"{where}: tensor {name} has dtype {t.dtype}, expected {dtype}")
        if tuple(t.shape) != shape:
            raise ZooError(f"{where}: tensor {name} has shape {tuple(t.shape)}, expected {shape}")
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ZooError(f"{where}: tensor {name} holds non-finite values")
    for name, t in tensors.items():
        if name not in want and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ZooError(f"{where}: tensor {name} holds non-finite values")
    for name in want:  # names, dtypes, shapes and finiteness are checked above; what is left: the knots
        if name.startswith("layers.") and name.endswith(".grid") and tensors[name].shape[-1] > 1:
            try:
                check_knots(tensors[name], name, where)
            except ValueError as e:
                raise ZooError(str(e)) from e


@dataclass(frozen=True)
class ZooShard:
    """One shard as read.

    Attributes:
        path: the file; count: its models ``S``.
        tensors: every tensor by name (``layers.{l}.{name}: (S, ...)`` and the others).
        metadata: the safetensors header metadata as stored (strings).
        header: the parsed shard header (``metadata["zoo"]``), or None when it has none.
    """

    path: Path
    count: int
    tensors: dict[str, Tensor]
    metadata: dict[str, str]
    header: dict[str, Any] | None

    @property
    def other_tensors(self) -> dict[str, Tensor]:
        """The tensors that are not ``layers.*`` (targets, masks, ...)."""
        return {k: v for k, v in self.tensors.items() if not k.startswith("layers.")}


@dataclass(frozen=True)
class ZooContents:
    """A zoo folder as read: ``M`` models over all shards.

    Attributes:
        path: the folder; manifest: the parsed ``manifest.json``; spec: the models' architecture.
        models: the ``M`` models' stacked layer tensors (``coef: (M, out, in, n)``, ...).
        tensors: the other tensors that every shard holds with a leading dim of its model count and equal
            trailing shape and dtype, concatenated: ``(M, ...)``.
        shards: every shard in manifest order; its concatenated tensors are views into the ones above.
    """

    path: Path
    manifest: dict[str, Any]
    spec: KANSpec
    models: StackedKAN
    tensors: dict[str, Tensor]
    shards: list[ZooShard]

    def __len__(self) -> int:
        return self.models.num_models


def check_shard_digest(path: Any, tensors: Mapping[str, Tensor], header: Mapping[str, Any] | None) -> None:
    """Raise :class:`ZooError` (starting with ``path``) unless the shard ``header`` exists and its digest
    is that of ``tensors`` and the rest of the header."""
    if header is None:
        raise ZooError(f"{path}: no shard header (metadata 'zoo' with format {SHARD_FORMAT!r})")
    if header.get("digest") != shard_digest(tensors, header):
        raise ZooError(f"{path}: content does not match the digest in its header (damaged shard)")


def read_shard(
    path: str | os.PathLike,
    spec: KANSpec,
    count: int,
    *,
    sha256: str | None = None,
    verify_digest: bool = False,
    expected: ExpectedTensors | None = None,
    layer_dtype: torch.dtype | None = None,
    check: ShardCheck | None = None,
) -> ZooShard:
    """Load and check one shard file of ``count`` models of ``spec`` (the order is in the module doc).

    Args:
        sha256: the manifest's hash of the file (not checked when None).
        verify_digest: recompute the shard header's digest (the header must exist).
        expected, layer_dtype: see :func:`check_shard_tensors`.
        check: the caller's last check.

    Raises:
        ZooError: starting with ``path``, naming what does not fit.
    """
    path = Path(path)
    if not path.is_file():
        raise ZooError(f"{path}: shard file is missing")
    if sha256 is not None:
        check_sha256(path, sha256)
    try:
        tensors, metadata = load_tensors(path)
    except ValueError as e:
        raise ZooError(str(e)) from e
    header = parse_shard_header(metadata)
    if verify_digest:
        check_shard_digest(path, tensors, header)
    check_shard_tensors(path, spec, count, tensors, expected=expected, layer_dtype=layer_dtype)
    if check is not None:
        check(path, tensors)
    return ZooShard(path, count, tensors, dict(metadata), header)


def _concatenate(
    folder: Path, manifest: dict[str, Any], spec: KANSpec, shards: list[ZooShard]
) -> ZooContents:
    first = shards[0].tensors
    for s in shards[1:]:  # each shard fits the spec (read_shard); the layers must also share one dtype
        for name, t0 in first.items():
            if name.startswith("layers.") and s.tensors[name].dtype != t0.dtype:
                raise ZooError(
                    f"{s.path}: tensor {name} has dtype {s.tensors[name].dtype}, expected {t0.dtype} as in "
                    f"{shards[0].path.name} (every shard of a zoo holds its layer tensors in one dtype)"
                )

    def stackable(name: str) -> bool:
        t0 = first[name]
        return all(
            name in s.tensors
            and s.tensors[name].dim() >= 1
            and s.tensors[name].shape[0] == s.count
            and s.tensors[name].shape[1:] == t0.shape[1:]
            and s.tensors[name].dtype == t0.dtype
            for s in shards
        )

    names = [k for k in first if stackable(k)]
    cat = {k: torch.cat([s.tensors[k] for s in shards]) if len(shards) > 1 else first[k] for k in names}
    views, start = [], 0
    for s in shards:
        views.append(replace(s, tensors={**s.tensors, **{k: cat[k][start : start + s.count] for k in names}}))
        start += s.count
    models = StackedKAN(
        spec, [{k: cat[f"layers.{l}.{k}"] for k in p} for l, p in enumerate(spec.param_shapes())]
    )
    other = {k: v for k, v in cat.items() if not k.startswith("layers.")}
    return ZooContents(folder, manifest, spec, models, other, views)


def read_shards(
    folder: str | os.PathLike,
    manifest: dict[str, Any],
    spec: KANSpec,
    *,
    check_hash: bool = True,
    verify_digest: bool = False,
    expected: ExpectedTensors | None = None,
    layer_dtype: torch.dtype | None = None,
    check: ShardCheck | None = None,
) -> ZooContents:
    """Read every shard of a validated ``manifest`` (from :func:`~kan_core.zoo_format.read_manifest`) with
    :func:`read_shard` and concatenate them. ``check_hash``: check each shard's ``sha256`` where the
    manifest lists one; the other arguments as for :func:`read_shard`."""
    folder = Path(folder)
    shards = [
        read_shard(
            shard_path(folder, entry["file"]),
            spec,
            entry["count"],
            sha256=entry.get("sha256") if check_hash else None,
            verify_digest=verify_digest,
            expected=expected,
            layer_dtype=layer_dtype,
            check=check,
        )
        for entry in manifest["shards"]
    ]
    return _concatenate(folder, manifest, spec, shards)


def read_zoo(
    folder: str | os.PathLike,
    *,
    complete: bool = True,
    check_hash: bool = True,
    verify_digest: bool = False,
    expected: ExpectedTensors | None = None,
    layer_dtype: torch.dtype | None = None,
    check: ShardCheck | None = None,
) -> ZooContents:
    """Read and check a zoo folder: its manifest (``complete`` or minimal form) and every shard (see
    :func:`read_shards`).

    Example::

        z = read_zoo("runs/zoos/sine-cpu", expected={"targets.frequency": (torch.float32, (2,))})
        z.models.num_models, z.tensors["targets.frequency"].shape   # M, (M, 2)
    """
    manifest, spec = read_manifest(folder, complete=complete)
    return read_shards(
        folder,
        manifest,
        spec,
        check_hash=check_hash,
        verify_digest=verify_digest,
        expected=expected,
        layer_dtype=layer_dtype,
        check=check,
    )


def write_shard(
    path: str | os.PathLike,
    tensors: Mapping[str, Tensor],
    header: Mapping[str, Any] | None = None,
    *,
    metadata: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Atomically write one shard; returns the metadata written.

    Args:
        tensors: every tensor by name (``layers.{l}.{name}`` and the others; see :func:`layer_tensors`),
            stored on the CPU in their dtype.
        header: the shard header's content; stored under ``"zoo"`` with ``format``
            :data:`~kan_core.zoo_format.SHARD_FORMAT` and the digest of what is written (a ``format`` or
            ``digest`` in it is replaced). None: no shard header.
        metadata: further safetensors header entries, stored as given (without a ``"zoo"`` key when
            ``header`` is given).
    """
    flat = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    meta = dict(metadata or {})
    if header is not None:
        if "zoo" in meta:
            raise ValueError(f"{path}: metadata key 'zoo' is the shard header; pass it as header")
        head = {"format": SHARD_FORMAT, **{k: v for k, v in header.items() if k not in ("format", "digest")}}
        head["digest"] = shard_digest(flat, head)
        meta["zoo"] = json.dumps(head, sort_keys=True)
    save_tensors(path, flat, meta)
    return meta


def write_manifest(folder: str | os.PathLike, manifest: Mapping[str, Any], *, complete: bool = True) -> dict:
    """Write ``folder/manifest.json`` atomically: a copy of ``manifest`` with the SHA-256 of every listed
    shard file (which must exist), validated (``complete`` or minimal form) before anything is written.
    Call it after the last shard is written. Returns the manifest written.

    Raises:
        ZooError: a listed shard is missing or outside the folder, or the manifest does not fit the schema.
    """
    folder = Path(folder)
    m = copy.deepcopy(dict(manifest))
    for entry in m.get("shards") if isinstance(m.get("shards"), list) else []:
        if isinstance(entry, dict) and "file" in entry:
            path = shard_path(folder, entry["file"])
            if not path.is_file():
                raise ZooError(f"{path}: shard file is missing")
            entry["sha256"] = sha256_file(path)
    validate_manifest(m, folder, complete=complete)
    atomic_write_bytes(folder / MANIFEST, (json.dumps(m, indent=1, sort_keys=True) + "\n").encode())
    return m
