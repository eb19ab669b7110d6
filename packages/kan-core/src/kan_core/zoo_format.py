"""The model-zoo folder format, described and validated here for every reader and writer.

This docstring is the one description of the format; :mod:`kan_core.zoo_io` reads and writes it (shards,
hashes, digests, tensor checks) and ``kan_ws.zoo`` and ``kan_graph.io`` call that module. Layout::

    zoo/
      manifest.json              the schema below; written last (the zoo is complete once it exists)
      shard-00000.safetensors    models [0, S): stacked tensors with a leading model dim
      shard-00001.safetensors    models [S, 2S) ...

**Shards** (:func:`shard_name`) hold, for their ``S`` models, ``layers.{l}.{name}`` with the shapes of
``spec.param_shapes()`` after the model dim (``layers.0.coef: (S, out, in, n)``, names as
:meth:`kan_core.layers.EdgeLayer.params`), plus any other per-model tensors a zoo kind defines (kan-ws:
``targets.{name}`` and, for classifier zoos, ``masks.{l}: (S, out, in)``). Every floating tensor is finite;
B-spline grids have increasing knots. The safetensors header may hold the shard header: one metadata key
``"zoo"`` whose value is a JSON object with ``"format": "kan-ws-zoo-shard/1"`` (:data:`SHARD_FORMAT`),
whatever the writer records (``kan zoo build``: shard index, first model, model count, build fingerprint,
per-model metadata) and ``"digest"``: the SHA-256 of the rest of that object (JSON, sorted keys) and of
every tensor's name, dtype, shape and bytes in name order (:func:`kan_core.zoo_io.shard_digest`). The
digest lets a resumed build tell an intact shard from a damaged one before any manifest exists; every
writer recomputes it. Other header keys are the writer's own and are carried over unchanged.

**The manifest** is a JSON object:

============  ==========================  ============================================================
key           type                        meaning
============  ==========================  ============================================================
spec          object (or its JSON text)   the :class:`~kan_core.KANSpec` of every model
shards        list of objects             ``{"file": name inside the folder, "count": models >= 1,
                                          "start": first model, "sha256": 64 hex digits}``
num_models    int >= 1                    sum of the shards' counts
format        ``"kan-ws-zoo/1"``          zoos built by ``kan zoo build``
task          str                         what the targets are (``"sine"``, ``"inr"``, ...)
splits        object: name -> [int]       model indices in ``[0, num_models)``, no repeats
models        list of objects             per-model metadata, one per model
preset, fingerprint                       str
config                                    object
seed, shard_size                          int (shard_size >= 1)
has_masks                                 bool
targets                                   list of str
============  ==========================  ============================================================

A *complete* manifest (what ``kan zoo build`` writes and ``kan_ws`` reads) has every key above and a
``sha256`` and ``start`` for every shard; a minimal one (accepted by ``kan_graph``) needs only ``spec``,
``shards`` and ``num_models``. Every key that is present is checked either way. The file is written as
``json.dumps(manifest, indent=1, sort_keys=True)`` plus a newline. Errors are :class:`ZooError` (a
``ValueError``) naming the manifest and the key, or the shard file and the tensor.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from .spec import KANSpec

__all__ = [
    "MANIFEST",
    "ZOO_FORMAT",
    "SHARD_FORMAT",
    "shard_name",
    "ZooError",
    "sha256_file",
    "validate_manifest",
    "read_manifest",
    "shard_path",
    "check_sha256",
]

MANIFEST = "manifest.json"
ZOO_FORMAT = "kan-ws-zoo/1"
SHARD_FORMAT = "kan-ws-zoo-shard/1"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")

_TYPES: dict[str, tuple[type, ...]] = {
    "format": (str,),
    "preset": (str,),
    "task": (str,),
    "config": (dict,),
    "spec": (dict,),
    "seed": (int,),
    "num_models": (int,),
    "shard_size": (int,),
    "fingerprint": (str,),
    "has_masks": (bool,),
    "targets": (list,),
    "shards": (list,),
    "splits": (dict,),
    "models": (list,),
}
COMPLETE_KEYS = tuple(_TYPES)
MINIMAL_KEYS = ("spec", "shards", "num_models")


class ZooError(ValueError):
    """A zoo folder or one of its shards is missing, incomplete or corrupt (the message names it)."""


def shard_name(k: int) -> str:
    """The file name of shard ``k`` (``shard-00000.safetensors``, ...)."""
    return f"shard-{k:05d}.safetensors"


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _type_ok(key: str, v: Any) -> bool:
    if key == "spec" and isinstance(v, str):
        return True  # minimal manifests may hold the spec's JSON text
    if _TYPES[key] == (int,):
        return _is_int(v)
    return isinstance(v, _TYPES[key])


def shard_path(folder: str | os.PathLike, name: Any, where: Any = None) -> Path:
    """``folder / name`` for a shard file name that stays inside ``folder`` (no absolute paths, no
    ``..``, no links out of it); raises :class:`ZooError` otherwise."""
    folder = Path(folder)
    where = where if where is not None else folder / MANIFEST
    if not isinstance(name, str) or not name or Path(name).is_absolute() or "\\" in name:
        raise ZooError(f"{where}: shard file {name!r} must be a file name inside the zoo folder")
    path = folder / name
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        raise ZooError(f"{where}: shard file {name!r} leaves the zoo folder {folder}") from None
    if ".." in Path(name).parts:
        raise ZooError(f"{where}: shard file {name!r} leaves the zoo folder {folder}")
    return path


def validate_manifest(m: Any, folder: str | os.PathLike, *, complete: bool = True) -> KANSpec:
    """Check a parsed manifest of the zoo in ``folder`` against the schema above; returns its spec.

    Raises:
        ZooError: naming ``folder/manifest.json`` and the first bad key.
    """
    folder = Path(folder)
    where = folder / MANIFEST
    if not isinstance(m, dict):
        raise ZooError(f"{where}: the manifest must be a JSON object, found {type(m).__name__}")
    required = COMPLETE_KEYS if complete else MINIMAL_KEYS
    missing = [k for k in required if k not in m]
    if missing:
        raise ZooError(f"{where}: missing key(s) {missing}")
    for key in _TYPES:
        if key in m and not _type_ok(key, m[key]):
            want = "/".join(t.__name__ for t in _TYPES[key])
            raise ZooError(
                f"{where}: key {key!r} must be {want}, found {type(m[key]).__name__} {m[key]!r:.60}"
            )
    if "format" in m and m["format"] != ZOO_FORMAT:
        raise ZooError(f"{where}: format {m['format']!r}, expected {ZOO_FORMAT!r}")
    try:
        spec = KANSpec.from_json(m["spec"]) if isinstance(m["spec"], str) else KANSpec.from_dict(m["spec"])
    except (TypeError, ValueError) as e:
        raise ZooError(f"{where}: key 'spec' is not a valid KANSpec ({e})") from e
    n = m["num_models"]
    if n < 1:
        raise ZooError(f"{where}: key 'num_models' must be >= 1, found {n}")
    if "shard_size" in m and m["shard_size"] < 1:
        raise ZooError(f"{where}: key 'shard_size' must be >= 1, found {m['shard_size']}")
    shards = m["shards"]
    if not shards:
        raise ZooError(f"{where}: key 'shards' lists no shard")
    seen: set[str] = set()
    start = 0
    for k, s in enumerate(shards):
        at = f"{where}: shards[{k}]"
        if not isinstance(s, dict):
            raise ZooError(f"{at} must be an object, found {type(s).__name__}")
        for key in ("file", "count") + (("start", "sha256") if complete else ()):
            if key not in s:
                raise ZooError(f"{at} has no {key!r}")
        shard_path(folder, s["file"], at)
        if s["file"] in seen:
            raise ZooError(f"{at}: file {s['file']!r} is listed twice")
        seen.add(s["file"])
        if not _is_int(s["count"]) or s["count"] < 1:
            raise ZooError(f"{at}: 'count' must be an int >= 1, found {s['count']!r}")
        if "start" in s and s["start"] != start:
            raise ZooError(f"{at}: 'start' is {s['start']!r}, expected {start} (the models before it)")
        if "sha256" in s and not (isinstance(s["sha256"], str) and _HEX64.match(s["sha256"])):
            raise ZooError(f"{at}: 'sha256' must be 64 lowercase hex digits, found {s['sha256']!r:.80}")
        start += s["count"]
    if start != n:
        raise ZooError(f"{where}: shards hold {start} models, key 'num_models' says {n}")
    for name, idx in (m.get("splits") or {}).items():
        if not isinstance(idx, list) or not all(_is_int(i) for i in idx):
            raise ZooError(f"{where}: splits[{name!r}] must be a list of model indices")
        bad = [i for i in idx if not 0 <= i < n]
        if bad:
            raise ZooError(f"{where}: splits[{name!r}] names models {bad[:5]} outside [0, {n - 1}]")
        if len(set(idx)) != len(idx):
            raise ZooError(f"{where}: splits[{name!r}] repeats a model index")
    if "models" in m:
        if len(m["models"]) != n or not all(isinstance(md, dict) for md in m["models"]):
            raise ZooError(
                f"{where}: key 'models' must hold one object per model ({n}), found {len(m['models'])}"
            )
    if "targets" in m and not all(isinstance(t, str) for t in m["targets"]):
        raise ZooError(f"{where}: key 'targets' must be a list of names")
    return spec


def read_manifest(folder: str | os.PathLike, *, complete: bool = True) -> tuple[dict[str, Any], KANSpec]:
    """Read and validate ``folder/manifest.json``; returns ``(manifest, spec)``."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise ZooError(f"{folder}: not a folder")
    if not path.is_file():
        raise ZooError(f"{path}: no manifest (not a zoo folder, or its build has not finished)")
    try:
        m = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise ZooError(f"{path}: manifest is not valid JSON ({e})") from e
    return m, validate_manifest(m, folder, complete=complete)


def check_sha256(path: Path, expected: str) -> None:
    """Raise :class:`ZooError` naming ``path`` when it is missing or its SHA-256 is not ``expected``."""
    if not path.is_file():
        raise ZooError(f"{path}: shard file is missing")
    got = sha256_file(path)
    if got != expected:
        raise ZooError(
            f"{path}: SHA-256 {got[:16]}... does not match the manifest ({expected[:16]}...); "
            "the shard was modified or truncated"
        )
