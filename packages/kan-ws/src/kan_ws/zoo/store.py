"""Zoo storage: a folder with ``manifest.json`` and ``shard-00000.safetensors`` files. No pickle.

Layout (DESIGN section 4)::

    zoo/
      manifest.json            spec, task, preset + settings, splits, shard list (with SHA-256),
                               per-model metadata (seed, label / frequency / noise, accuracy, ...)
      shard-00000.safetensors  models [0, S): stacked tensors with a leading model dim
      shard-00001.safetensors  models [S, 2S) ...

A shard holds ``layers.{l}.{name}`` (as :meth:`kan_core.layers.EdgeLayer.params`, e.g.
``layers.0.coef: (S, out, in, G + k)``), ``targets.{name}`` (sine ``frequency (S, 2)``; inr
``label (S,)``; classifier ``test_accuracy (S,)``, ``noise (S,)``) and, for classifier zoos,
``masks.{l}: (S, out, in)``; its header (one metadata key ``"zoo"``, JSON) holds the shard's index,
first model, model count, the build fingerprint, the per-model metadata and a ``digest`` (SHA-256 of the
rest of the header and of every tensor's name, dtype, shape and bytes), so a restarted build can tell an
intact shard from a damaged one without the manifest, skip it and still write the manifest. Every file is
written to a temporary name and renamed (:func:`kan_core.io.save_tensors`,
:func:`kan_core.io.atomic_write_bytes`).

The manifest follows the schema of :mod:`kan_core.zoo_format` (validated on every read). Loading
(:func:`load_zoo`) and :func:`verify_zoo` check every shard's SHA-256 against the manifest, tensor names,
shapes, dtypes, finiteness and knots, and name the bad shard and key.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from kan_core import KAN, KANSpec
from kan_core.io import atomic_write_bytes, check_layer_tensors, load_tensors, save_tensors
from kan_core.zoo_format import MANIFEST, ZOO_FORMAT, ZooError, check_sha256, sha256_file, shard_path
from kan_core.zoo_format import read_manifest as _read_manifest
from torch import Tensor

__all__ = [
    "MANIFEST",
    "ZOO_FORMAT",
    "SHARD_FORMAT",
    "TARGETS",
    "ZooError",
    "Zoo",
    "shard_name",
    "layer_shapes",
    "write_shard",
    "read_shard_header",
    "check_shard",
    "shard_digest",
    "write_manifest",
    "read_manifest",
    "load_zoo",
    "verify_zoo",
]

SHARD_FORMAT = "kan-ws-zoo-shard/1"

#: target tensors per task: name -> (dtype, trailing shape)
TARGETS: dict[str, dict[str, tuple[torch.dtype, tuple[int, ...]]]] = {
    "sine": {"frequency": (torch.float32, (2,))},
    "inr": {"label": (torch.int64, ())},
    "classifier": {"test_accuracy": (torch.float32, ()), "noise": (torch.float32, ())},
}


def shard_name(k: int) -> str:
    return f"shard-{k:05d}.safetensors"


def layer_shapes(spec: KANSpec) -> list[dict[str, tuple[int, ...]]]:
    """Per-layer tensor shapes of one model of ``spec`` (names as ``EdgeLayer.params``; nothing is
    allocated)."""
    return spec.param_shapes()


def shard_digest(tensors: dict[str, Tensor], header: dict[str, Any]) -> str:
    """SHA-256 of a shard's content: its header without ``digest`` and every tensor's name, dtype,
    shape and bytes (in name order)."""
    h = hashlib.sha256()
    h.update(json.dumps({k: v for k, v in header.items() if k != "digest"}, sort_keys=True).encode())
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"\n{name} {t.dtype} {tuple(t.shape)}\n".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def write_shard(
    path: str | os.PathLike,
    layers: Sequence[dict[str, Tensor]],
    targets: dict[str, Tensor],
    masks: Sequence[Tensor] | None,
    header: dict[str, Any],
) -> None:
    """Atomically write one shard (tensors moved to CPU; ``header`` stored as JSON)."""
    tensors: dict[str, Tensor] = {}
    for l, p in enumerate(layers):
        for k, v in p.items():
            tensors[f"layers.{l}.{k}"] = v.detach().float().cpu()
    for k, v in targets.items():
        tensors[f"targets.{k}"] = v.detach().cpu()
    if masks is not None:
        for l, m in enumerate(masks):
            tensors[f"masks.{l}"] = m.detach().float().cpu()
    head = {"format": SHARD_FORMAT, **{k: v for k, v in header.items() if k != "digest"}}
    head["digest"] = shard_digest(tensors, head)
    save_tensors(path, tensors, {"zoo": json.dumps(head, sort_keys=True)})


def read_shard_header(path: str | os.PathLike) -> dict[str, Any] | None:
    """The JSON header of a shard, or None when the file is missing or unreadable."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        h = json.loads(meta["zoo"])
    except Exception:  # missing, truncated, not safetensors, no header
        return None
    return h if h.get("format") == SHARD_FORMAT else None


def _expected(
    spec: KANSpec, task: str, count: int, has_masks: bool
) -> dict[str, tuple[torch.dtype, tuple[int, ...]]]:
    exp: dict[str, tuple[torch.dtype, tuple[int, ...]]] = {}
    for l, p in enumerate(layer_shapes(spec)):
        for k, shape in p.items():
            exp[f"layers.{l}.{k}"] = (torch.float32, (count, *shape))
    for k, (dt, shape) in TARGETS[task].items():
        exp[f"targets.{k}"] = (dt, (count, *shape))
    if has_masks:
        for l, (o, i) in enumerate(spec.layer_shapes()):
            exp[f"masks.{l}"] = (torch.float32, (count, o, i))
    return exp


def check_shard(
    path: Path,
    spec: KANSpec,
    task: str,
    count: int,
    has_masks: bool,
    sha256: str | None = None,
    *,
    verify_digest: bool = False,
) -> dict[str, Tensor]:
    """Load a shard and check it; raises :class:`ZooError` naming the shard (and the tensor).

    ``sha256``: the manifest's hash of the file; ``verify_digest``: recompute the header's ``digest``
    (what a resumed build uses, before any manifest exists).
    """
    name = path.name
    if not path.is_file():
        raise ZooError(f"{name}: shard file is missing ({path})")
    if sha256 is not None:
        check_sha256(path, sha256)
    try:
        tensors, meta = load_tensors(path)
    except ValueError as e:
        raise ZooError(f"{name}: unreadable shard ({e})") from e
    if verify_digest:
        try:
            header = json.loads(meta["zoo"])
        except (KeyError, ValueError) as e:
            raise ZooError(f"{name}: no readable 'zoo' header ({e})") from e
        if not isinstance(header, dict) or header.get("digest") != shard_digest(tensors, header):
            raise ZooError(f"{name}: content does not match the digest in its header (damaged shard)")
    exp = _expected(spec, task, count, has_masks)
    missing, extra = sorted(set(exp) - set(tensors)), sorted(set(tensors) - set(exp))
    if missing or extra:
        raise ZooError(f"{name}: tensors do not match the zoo (missing {missing}, unexpected {extra})")
    for k, (dt, shape) in exp.items():
        t = tensors[k]
        if t.dtype != dt:
            raise ZooError(f"{name}: tensor {k} has dtype {t.dtype}, expected {dt}")
        if tuple(t.shape) != shape:
            raise ZooError(f"{name}: tensor {k} has shape {tuple(t.shape)}, expected {shape}")
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ZooError(f"{name}: tensor {k} holds non-finite values")
    try:
        check_layer_tensors(spec, tensors, name, models=count)
    except ValueError as e:
        raise ZooError(str(e)) from e
    if task == "inr" and tensors["targets.label"].numel() and int(tensors["targets.label"].min()) < 0:
        raise ZooError(f"{name}: tensor targets.label holds negative class labels")
    return tensors


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Add every shard's SHA-256 and write ``manifest.json`` atomically (call only on shards that were
    just written or checked)."""
    for s in manifest["shards"]:
        s["sha256"] = sha256_file(folder / s["file"])
    atomic_write_bytes(folder / MANIFEST, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """``folder/manifest.json``, validated against :mod:`kan_core.zoo_format`'s schema (complete form)
    and this package's tasks; raises :class:`ZooError` naming the file and key."""
    m, _ = _read_manifest(folder, complete=True)
    where = Path(folder) / MANIFEST
    if m["task"] not in TARGETS:
        raise ZooError(f"{where}: key 'task' is {m['task']!r}, expected one of {sorted(TARGETS)}")
    if sorted(m["targets"]) != sorted(TARGETS[m["task"]]):
        raise ZooError(f"{where}: key 'targets' is {m['targets']}, a {m['task']} zoo has {sorted(TARGETS[m['task']])}")
    if m["has_masks"] != (m["task"] == "classifier"):
        raise ZooError(f"{where}: key 'has_masks' is {m['has_masks']}, a {m['task']} zoo has {m['task'] == 'classifier'}")
    return m


@dataclass
class Zoo:
    """A loaded model zoo: ``M`` KANs of one spec as stacked tensors.

    Attributes:
        spec: the architecture; task: ``"sine"``, ``"inr"`` or ``"classifier"``; preset: its name.
        layers: per-layer dicts of stacked tensors, leading dim ``M`` (``coef: (M, out, in, n)``, ...).
        targets: sine ``frequency (M, 2)``; inr ``label (M,)`` long; classifier ``test_accuracy (M,)``,
            ``noise (M,)``.
        masks: classifier zoos: oracle masks ``(M, out, in)`` per layer; else None.
        meta: per-model metadata dicts; splits: ``"train"/"val"/"test"`` long index tensors.
    """

    spec: KANSpec
    task: str
    layers: list[dict[str, Tensor]]
    targets: dict[str, Tensor]
    masks: list[Tensor] | None
    meta: list[dict[str, Any]]
    splits: dict[str, Tensor]
    preset: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    seed: int = 0

    def __len__(self) -> int:
        return int(self.layers[0]["coef"].shape[0])

    @property
    def dataset(self) -> str | None:
        """The image dataset the zoo was built from (None for sine zoos)."""
        return self.config.get("dataset")

    def kan(self, i: int) -> KAN:
        """Model ``i`` as a :class:`kan_core.KAN` (a copy)."""
        return KAN.from_params(self.spec, [{k: v[i] for k, v in p.items()} for p in self.layers])

    def subset(self, indices: Sequence[int] | Tensor) -> Zoo:
        """The models ``indices`` (in that order); splits keep the selected members, renumbered."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        pos = {int(j): n for n, j in enumerate(idx.tolist())}
        splits = {
            k: torch.tensor([pos[int(j)] for j in v.tolist() if int(j) in pos], dtype=torch.long)
            for k, v in self.splits.items()
        }
        return Zoo(
            spec=self.spec,
            task=self.task,
            layers=[{k: v[idx] for k, v in p.items()} for p in self.layers],
            targets={k: v[idx] for k, v in self.targets.items()},
            masks=None if self.masks is None else [m[idx] for m in self.masks],
            meta=[self.meta[int(j)] for j in idx.tolist()],
            splits=splits,
            preset=self.preset,
            config=dict(self.config),
            seed=self.seed,
        )

    def to(self, device: Any) -> Zoo:
        return Zoo(
            spec=self.spec,
            task=self.task,
            layers=[{k: v.to(device) for k, v in p.items()} for p in self.layers],
            targets={k: v.to(device) for k, v in self.targets.items()},
            masks=None if self.masks is None else [m.to(device) for m in self.masks],
            meta=self.meta,
            splits=self.splits,
            preset=self.preset,
            config=self.config,
            seed=self.seed,
        )


def load_zoo(path: str | os.PathLike, *, check_hash: bool = True) -> Zoo:
    """Read a zoo folder; raises :class:`ZooError` naming the manifest key or the bad shard (hash, names,
    shapes, dtypes, finiteness, knots)."""
    folder = Path(path)
    m = read_manifest(folder)
    spec = KANSpec.from_dict(m["spec"])
    task, has_masks = m["task"], bool(m["has_masks"])
    parts = []
    for s in m["shards"]:
        parts.append(check_shard(shard_path(folder, s["file"]), spec, task, int(s["count"]), has_masks,
                                 s["sha256"] if check_hash else None))  # fmt: skip
    cat = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
    layers = [
        {k.split(".", 2)[2]: v for k, v in cat.items() if k.startswith(f"layers.{l}.")}
        for l in range(spec.depth)
    ]
    targets = {k[len("targets.") :]: v for k, v in cat.items() if k.startswith("targets.")}
    masks = [cat[f"masks.{l}"] for l in range(spec.depth)] if has_masks else None
    splits = {k: torch.tensor(v, dtype=torch.long) for k, v in m["splits"].items()}
    return Zoo(spec, task, layers, targets, masks, m["models"], splits, m["preset"], m["config"], m["seed"])


def verify_zoo(path: str | os.PathLike) -> list[str]:
    """Every problem found in a zoo folder (empty list: the zoo is sound): the manifest against the
    schema (keys, types, split indices, shard paths), then every shard (hash, names, shapes, dtypes,
    finiteness, knots)."""
    folder = Path(path)
    try:
        m = read_manifest(folder)
    except ZooError as e:
        return [str(e)]
    spec = KANSpec.from_dict(m["spec"])
    problems = []
    for s in m["shards"]:
        try:
            check_shard(shard_path(folder, s["file"]), spec, m["task"], int(s["count"]), bool(m["has_masks"]),
                        s["sha256"])  # fmt: skip
        except ZooError as e:
            problems.append(str(e))
    return problems
