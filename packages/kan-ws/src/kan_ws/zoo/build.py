"""Building a zoo: sharded, resumable, deterministic, runnable under ``torchrun``.

:func:`build_zoo` splits the ``M`` models into shards of ``S`` and trains each shard with
:func:`kan_core.batched.train_stacked`. Model ``i``'s initialisation (``derive_seed(seed, i, "init")``),
minibatch order (``"batch"``) and data (frequency, image, label noise) depend only on ``seed`` and ``i``,
so a shard's content does not depend on which process or run built it. A shard that is already on disk
with the same build fingerprint, an intact content digest and (when a manifest exists) the manifest's
SHA-256 is skipped, which makes an interrupted build resumable; a damaged one is rebuilt (its hash is never
copied into the manifest as it is), and rebuilding in the same environment gives byte-identical files.
While any shard is being (re)built there is no manifest, so no reader takes the folder for a zoo. Under ``torchrun`` rank ``r`` of ``W`` builds shards
``r::W``; after a barrier rank 0 writes ``manifest.json`` (the zoo is complete only once it exists).
The folder format is :mod:`kan_core.zoo_format`'s; shards and manifest go through :mod:`kan_ws.zoo.store`
and :mod:`kan_core.zoo_io`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kan_core import runtime
from kan_core.batched import derive_seed, train_stacked

from .presets import Preset, get_preset, zoo_splits
from .store import (
    MANIFEST,
    ZOO_FORMAT,
    ZooError,
    check_shard,
    read_manifest,
    read_shard_header,
    shard_name,
    write_manifest,
    write_shard,
)

__all__ = ["build_zoo", "make_task", "fingerprint", "plan_shards"]


def make_task(preset: Preset, num_models: int, seed: int, data_root: Any = None):
    """The task object (inputs, targets, evaluation, splits) of ``preset``."""
    if preset.task == "sine":
        from .sine import SineTask

        return SineTask(preset, num_models, seed, data_root)
    if preset.task == "inr":
        from .inr import InrTask

        return InrTask(preset, num_models, seed, data_root)
    from .classifiers import ClassifierTask

    return ClassifierTask(preset, num_models, seed, data_root)


def fingerprint(preset: Preset, num_models: int, seed: int) -> str:
    """Hash of everything that determines the zoo's content (settings, model count, seed)."""
    blob = json.dumps({"format": ZOO_FORMAT, "config": preset.config(), "models": num_models, "seed": seed},
                      sort_keys=True)  # fmt: skip
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def plan_shards(num_models: int, shard_size: int) -> list[tuple[int, int]]:
    """``(start, count)`` of every shard."""
    return [(s, min(shard_size, num_models - s)) for s in range(0, num_models, shard_size)]


def _remove_stale_temps(folder: Path, names: list[str]) -> None:
    """Delete temporary files left by a killed writer of these shards (``.<name>.*.tmp``)."""
    for name in names:
        for tmp in folder.glob(f".{name}.*.tmp"):
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass


def build_zoo(
    preset: str | Preset,
    out: str | os.PathLike,
    *,
    models: int | None = None,
    data_root: Any = None,
    device: Any = "auto",
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    shard_size: int | None = None,
    epochs: int | None = None,
    max_memory_bytes: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Build (or resume) the zoo ``preset`` in the folder ``out``; returns ``out``.

    Args:
        preset: a name of :data:`~kan_ws.zoo.presets.PRESETS` or a :class:`Preset`.
        models: number of models (default ``preset.num_models``); splits scale proportionally.
        data_root: where datasets are searched first (see :func:`kan_core.datasets.load_dataset`).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...; under torchrun on CUDA each rank uses its local GPU.
        seed: base seed; model ``i``'s randomness derives from ``(seed, i)``.
        progress: called with a shard's model count after each shard of this rank (built or skipped).
        shard_size, epochs: override the preset's.
        max_memory_bytes: memory budget of one training chunk (default: see ``kan_core.batched``).
        overwrite: rebuild shards of a different zoo found in ``out`` instead of refusing.

    Raises:
        ZooError: ``out`` holds shards of a different zoo (other preset, seed or model count) and
            ``overwrite`` is false.
    """
    p = get_preset(preset)
    if shard_size is not None:
        p = p.replace(shard_size=int(shard_size))
    if epochs is not None:
        p = p.replace(epochs=int(epochs))
    num_models = int(models) if models is not None else p.num_models
    if num_models < 1:
        raise ValueError(f"models must be >= 1, got {num_models}")
    folder = Path(out)
    # a new zoo needs its data: find a missing dataset before the folder is created
    task = None if folder.exists() else make_task(p, num_models, seed, data_root)
    folder.mkdir(parents=True, exist_ok=True)
    fp = fingerprint(p, num_models, seed)
    env = runtime.init_distributed(device)
    rank, world = env.rank, env.world_size
    if env.is_distributed:
        import torch

        if torch.cuda.is_available() and str(device) in ("auto", "cuda"):
            device = f"cuda:{env.local_rank % torch.cuda.device_count()}"
    shards = plan_shards(num_models, p.shard_size)
    mine = list(range(len(shards)))[rank::world]
    _remove_stale_temps(folder, [shard_name(k) for k in mine] + ([MANIFEST] if rank == 0 else []))
    hashes = _manifest_hashes(folder, fp)
    spec = p.spec
    for k in mine:
        start, count = shards[k]
        path = folder / shard_name(k)
        header = read_shard_header(path)
        if header is not None:
            if header.get("fingerprint") != fp and not overwrite:
                raise ZooError(f"{path}: belongs to a different zoo (fingerprint {header.get('fingerprint')}, "
                               f"this build {fp}); use an empty folder or overwrite it (--force)")  # fmt: skip
            if header.get("fingerprint") == fp:
                try:
                    check_shard(path, spec, p.task, count, p.task == "classifier", hashes.get(path.name),
                                verify_digest=True)  # fmt: skip
                    if progress is not None:
                        progress(count)
                    continue
                except ZooError:
                    pass  # damaged: rebuild it
        (folder / MANIFEST).unlink(missing_ok=True)  # the zoo is incomplete until this build finishes
        if task is None:
            task = make_task(p, num_models, seed, data_root)
        idx = list(range(start, start + count))
        y, targets, meta = task.targets(idx)
        n = task.x.shape[0]
        steps_per_epoch = 1 if p.batch_size is None or p.batch_size >= n else math.ceil(n / p.batch_size)
        res = train_stacked(
            spec, task.x, y,
            seeds=[derive_seed(seed, i, "init") for i in idx],
            batch_seeds=[derive_seed(seed, i, "batch") for i in idx],
            steps=p.epochs * steps_per_epoch, lr=p.lr, optimizer=p.optimizer, batch_size=p.batch_size,
            loss=task.loss, device=device, max_memory_bytes=max_memory_bytes,
        )  # fmt: skip
        extra, masks, meta2 = task.finish(res.layers, idx, res, device)
        targets.update(extra)
        models_meta = [
            {"index": i, "seed": derive_seed(seed, i, "init"), **a, **b} for i, a, b in zip(idx, meta, meta2)
        ]
        head = {"fingerprint": fp, "shard": k, "start": start, "count": count, "models": models_meta}
        write_shard(path, res.layers, targets, masks, head)
        if progress is not None:
            progress(count)
    runtime.barrier()
    if rank == 0:
        _write_manifest(folder, p, num_models, seed, fp, shards)
    runtime.barrier()
    return folder


def _manifest_hashes(folder: Path, fp: str) -> dict[str, str]:
    """Shard name -> SHA-256 from an existing manifest of this same build (empty when there is none, it
    does not fit the schema or belongs to another build)."""
    if not (folder / MANIFEST).is_file():
        return {}
    try:
        m = read_manifest(folder)
    except (OSError, ZooError):
        return {}
    return {s["file"]: s["sha256"] for s in m["shards"]} if m["fingerprint"] == fp else {}


def _write_manifest(
    folder: Path, p: Preset, num_models: int, seed: int, fp: str, shards: list[tuple[int, int]]
) -> None:
    models: list[dict[str, Any]] = []
    entries = []
    for k, (start, count) in enumerate(shards):
        path = folder / shard_name(k)
        h = read_shard_header(path)
        if h is None or h.get("fingerprint") != fp or h.get("count") != count:
            raise ZooError(
                f"{path}: shard missing or incomplete after the build; run the build again to finish it"
            )
        models.extend(h["models"])
        entries.append({"file": shard_name(k), "start": start, "count": count})
    manifest = {
        "format": ZOO_FORMAT,
        "preset": p.name,
        "task": p.task,
        "config": p.config(),
        "spec": p.spec.to_dict(),
        "seed": seed,
        "num_models": num_models,
        "shard_size": p.shard_size,
        "fingerprint": fp,
        "has_masks": p.task == "classifier",
        "targets": sorted(_target_names(p.task)),
        "shards": entries,
        "splits": zoo_splits(p, num_models, seed),
        "models": models,
    }
    write_manifest(folder, manifest)


def _target_names(task: str) -> list[str]:
    from .store import TARGETS

    return list(TARGETS[task])
