"""Zoo storage for kan-ws: the zoo kinds (tasks), their tensors, and the :class:`Zoo` they load into.

The folder format (manifest, shards, shard header and digest) is described in :mod:`kan_core.zoo_format`
and read and written by :mod:`kan_core.zoo_io`; this module adds what a kan-ws zoo holds besides the layers.
A shard of ``S`` models of a ``task`` holds ``targets.{name}`` (:data:`TARGETS`: sine ``frequency (S, 2)``;
inr ``label (S,)``, no negative labels; classifier ``test_accuracy (S,)``, ``noise (S,)``) and, for
classifier zoos, ``masks.{l}: (S, out, in)``; layer tensors and masks are float32. Its shard header
(written by :func:`kan_ws.zoo.build.build_zoo`) records the shard index, first model, model count, build
fingerprint and per-model metadata.

:func:`load_zoo`, :func:`verify_zoo` and :func:`check_shard` check a zoo in the order of
:mod:`kan_core.zoo_io` (manifest, then per shard: SHA-256, names, dtypes, shapes, finiteness, knots, labels)
and name the bad shard and key.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from kan_core import KAN, KANSpec, StackedKAN
from kan_core.zoo_format import MANIFEST, SHARD_FORMAT, ZOO_FORMAT, ZooError, shard_name, shard_path
from kan_core.zoo_format import read_manifest as _read_manifest
from kan_core.zoo_io import (
    ExpectedTensors,
    check_shard_digest,
    layer_tensors,
    read_shard,
    read_shard_header,
    read_shards,
    shard_digest,
    write_manifest,
)
from kan_core.zoo_io import write_shard as _write_shard
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
    "expected_tensors",
    "write_shard",
    "read_shard_header",
    "check_shard",
    "shard_digest",
    "write_manifest",
    "read_manifest",
    "load_zoo",
    "verify_zoo",
]

#: target tensors per task: name -> (dtype, trailing shape)
TARGETS: dict[str, dict[str, tuple[torch.dtype, tuple[int, ...]]]] = {
    "sine": {"frequency": (torch.float32, (2,))},
    "inr": {"label": (torch.int64, ())},
    "classifier": {"test_accuracy": (torch.float32, ()), "noise": (torch.float32, ())},
}


def layer_shapes(spec: KANSpec) -> list[dict[str, tuple[int, ...]]]:
    """Per-layer tensor shapes of one model of ``spec`` (names as ``EdgeLayer.params``; nothing is
    allocated)."""
    return spec.param_shapes()


def expected_tensors(spec: KANSpec, task: str, has_masks: bool) -> ExpectedTensors:
    """The tensors a ``task`` zoo's shard holds besides its layers: name -> (dtype, shape of one model)."""
    exp: dict[str, tuple[torch.dtype, tuple[int, ...]]] = {
        f"targets.{k}": (dt, shape) for k, (dt, shape) in TARGETS[task].items()
    }
    if has_masks:
        for l, (o, i) in enumerate(spec.layer_shapes()):
            exp[f"masks.{l}"] = (torch.float32, (o, i))
    return exp


def _check_labels(path: Path, tensors: dict[str, Tensor]) -> None:
    label = tensors["targets.label"]
    if label.numel() and int(label.min()) < 0:
        raise ZooError(f"{path}: tensor targets.label holds negative class labels")


def _shard_options(spec: KANSpec, task: str, has_masks: bool) -> dict[str, Any]:
    """The :func:`kan_core.zoo_io.read_shard` options that check a ``task`` zoo's shard."""
    return {
        "expected": expected_tensors(spec, task, has_masks),
        "layer_dtype": torch.float32,
        "check": _check_labels if task == "inr" else None,
    }


def write_shard(
    path: str | os.PathLike,
    layers: Sequence[dict[str, Tensor]],
    targets: dict[str, Tensor],
    masks: Sequence[Tensor] | None,
    header: dict[str, Any],
) -> None:
    """Atomically write one shard of a kan-ws zoo (layers and masks as float32, targets as given, on the
    CPU; ``header`` as the shard header) with :func:`kan_core.zoo_io.write_shard`."""
    tensors = {k: v.detach().float().cpu() for k, v in layer_tensors(layers).items()}
    tensors.update({f"targets.{k}": v.detach().cpu() for k, v in targets.items()})
    for l, m in enumerate(masks or ()):
        tensors[f"masks.{l}"] = m.detach().float().cpu()
    _write_shard(path, tensors, header)


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
    """Load a shard and check it (:func:`kan_core.zoo_io.read_shard` with this task's tensors); returns
    its tensors by name. Raises :class:`ZooError` naming the shard (and the tensor).

    ``sha256``: the manifest's hash of the file; ``verify_digest``: recompute the header's ``digest``
    (what a resumed build uses, before any manifest exists).
    """
    shard = read_shard(
        path, spec, count, sha256=sha256, verify_digest=verify_digest, **_shard_options(spec, task, has_masks)
    )
    return shard.tensors


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """``folder/manifest.json``, validated against :mod:`kan_core.zoo_format`'s schema (complete form)
    and this package's tasks; raises :class:`ZooError` naming the file and key."""
    m, _ = _read_manifest(folder, complete=True)
    where = Path(folder) / MANIFEST
    if m["task"] not in TARGETS:
        raise ZooError(f"{where}: key 'task' is {m['task']!r}, expected one of {sorted(TARGETS)}")
    if sorted(m["targets"]) != sorted(TARGETS[m["task"]]):
        raise ZooError(
            f"{where}: key 'targets' is {m['targets']}, a {m['task']} zoo has {sorted(TARGETS[m['task']])}"
        )
    if m["has_masks"] != (m["task"] == "classifier"):
        raise ZooError(
            f"{where}: key 'has_masks' is {m['has_masks']}, a {m['task']} zoo has {m['task'] == 'classifier'}"
        )
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
    def models(self) -> StackedKAN:
        """The zoo's KANs as one :class:`kan_core.StackedKAN` (the tensors of ``layers``, not copies)."""
        return StackedKAN(self.spec, self.layers)

    @property
    def dataset(self) -> str | None:
        """The image dataset the zoo was built from (None for sine zoos)."""
        return self.config.get("dataset")

    def kan(self, i: int) -> KAN:
        """Model ``i`` as a :class:`kan_core.KAN` (a copy)."""
        return self.models.kan(i)

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
            layers=self.models.select(idx).layers,
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
            layers=self.models.to(device).layers,
            targets={k: v.to(device) for k, v in self.targets.items()},
            masks=None if self.masks is None else [m.to(device) for m in self.masks],
            meta=self.meta,
            splits=self.splits,
            preset=self.preset,
            config=self.config,
            seed=self.seed,
        )


def load_zoo(path: str | os.PathLike, *, check_hash: bool = True) -> Zoo:
    """Read a zoo folder (:func:`kan_core.zoo_io.read_shards`); raises :class:`ZooError` naming the
    manifest key or the bad shard (hash, names, dtypes, shapes, finiteness, knots, labels)."""
    folder = Path(path)
    m = read_manifest(folder)
    spec = KANSpec.from_dict(m["spec"])
    task, has_masks = m["task"], bool(m["has_masks"])
    z = read_shards(folder, m, spec, check_hash=check_hash, **_shard_options(spec, task, has_masks))
    targets = {k[len("targets.") :]: v for k, v in z.tensors.items() if k.startswith("targets.")}
    masks = [z.tensors[f"masks.{l}"] for l in range(spec.depth)] if has_masks else None
    splits = {k: torch.tensor(v, dtype=torch.long) for k, v in m["splits"].items()}
    return Zoo(
        spec, task, z.models.layers, targets, masks, m["models"], splits, m["preset"], m["config"], m["seed"]
    )


def verify_zoo(path: str | os.PathLike) -> list[str]:
    """Every problem found in a zoo folder (empty list: the zoo is sound): the manifest against the
    schema (keys, types, split indices, shard paths), then every shard (hash, names, dtypes, shapes,
    finiteness, knots, labels and, last, its header digest: a shard changed and re-hashed into the
    manifest is caught even when its values are plausible)."""
    folder = Path(path)
    try:
        m = read_manifest(folder)
    except ZooError as e:
        return [str(e)]
    spec = KANSpec.from_dict(m["spec"])
    options = _shard_options(spec, m["task"], bool(m["has_masks"]))
    problems = []
    for s in m["shards"]:
        try:
            shard = read_shard(shard_path(folder, s["file"]), spec, s["count"], sha256=s["sha256"], **options)
            check_shard_digest(shard.path, shard.tensors, shard.header)  # last: content faults come first
        except ZooError as e:
            problems.append(str(e))
    return problems
