"""Files: stacked zoo folders (read/write, for alignment) and saved KAN-graph datasets. No pickle.

Zoo folder (the format of :mod:`kan_core.zoo_format`, shared with ``kan_ws.zoo``; kan-graph reads it
directly and does not import kan-ws): ``manifest.json`` (validated against that schema; at least
``spec``, ``shards`` and ``num_models``) and the shards it lists. Each shard holds the stacked parameters
of its models as ``layers.{l}.{name}`` (leading model dim, names as
:meth:`kan_core.layers.EdgeLayer.params`) plus any other tensors (targets, masks), which are carried over.
Reading checks every listed SHA-256, shapes, finiteness and knots.

Graph dataset (``save_graph_batch``): one safetensors file with the batched graph tensors and, in its
header, JSON metadata (``format``, ``encoding``, ``specs``, the per-graph node/edge/layer counts), plus a
``<file>.json`` sidecar with the same metadata for humans.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from kan_core import KANSpec
from kan_core.io import atomic_write_bytes, check_layer_tensors, load_tensors, save_tensors
from kan_core.zoo_format import MANIFEST, ZooError, check_sha256, read_manifest, shard_path
from torch import Tensor

__all__ = [
    "StackedZoo",
    "read_stacked_zoo",
    "write_stacked_zoo",
    "save_graph_batch",
    "load_graph_batch",
    "GRAPH_FORMAT",
]

GRAPH_FORMAT = "kan-graph/1"
_LAYER_RE = re.compile(r"^layers\.(\d+)\.(\w+)$")
_EDGE_RE = re.compile(r"^(\w+)\.(\d+)$")


@dataclass
class StackedZoo:
    """A zoo folder read as stacked tensors.

    Attributes:
        path: the folder; manifest: the parsed ``manifest.json``; spec: its architecture.
        shard_names: shard file names in order; shard_sizes: models per shard.
        layers: per-layer stacked tensors over all shards, ``(M, ...)``.
        shards: per shard, its non-layer tensors and its safetensors header metadata.
    """

    path: Path
    manifest: dict
    spec: KANSpec
    shard_names: list[str]
    shard_sizes: list[int]
    layers: list[dict[str, Tensor]]
    shards: list[tuple[dict[str, Tensor], dict[str, str]]]

    def __len__(self) -> int:
        return sum(self.shard_sizes)


def read_stacked_zoo(path: str | Path) -> StackedZoo:
    """Read a zoo folder's manifest and shards into stacked per-layer tensors (leading model dim).

    Raises:
        ZooError (a ``ValueError``): a manifest that does not fit :mod:`kan_core.zoo_format`'s schema
            (names the key), a missing or modified shard (SHA-256), or a shard whose tensors do not fit the
            spec, its count, or hold non-finite values (names the shard and tensor).
    """
    path = Path(path)
    manifest, spec = read_manifest(path, complete=False)
    names = [e["file"] for e in manifest["shards"]]
    per_shard_layers: list[list[dict[str, Tensor]]] = []
    shards, sizes = [], []
    for entry in manifest["shards"]:
        name, count = entry["file"], entry["count"]
        where = path / name
        if "sha256" in entry:
            check_sha256(shard_path(path, name), entry["sha256"])
        tensors, meta = load_tensors(shard_path(path, name))
        try:
            layers = check_layer_tensors(spec, tensors, where, models=count)
        except ValueError as e:
            raise ZooError(str(e)) from e
        rest = {k: t for k, t in tensors.items() if _LAYER_RE.match(k) is None}
        for key, t in rest.items():
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise ZooError(f"{where}: tensor {key} holds non-finite values")
        per_shard_layers.append(layers)
        shards.append((rest, meta))
        sizes.append(count)
    layers = [
        {k: torch.cat([s[l][k] for s in per_shard_layers]) for k in per_shard_layers[0][l]}
        for l in range(spec.depth)
    ]
    return StackedZoo(path, manifest, spec, names, sizes, layers, shards)


def write_stacked_zoo(
    zoo: StackedZoo,
    out: str | Path,
    layers: Sequence[dict[str, Tensor]],
    perms: Sequence[Tensor] | None = None,
    extra_files: dict[str, bytes] | None = None,
) -> Path:
    """Write ``zoo`` with new stacked ``layers`` (same shard names and sizes) to the folder ``out``.

    Non-layer tensors are carried over unchanged, except per-edge tensors named ``{name}.{l}`` with
    shape ``(M, out_l, in_l)`` (e.g. oracle pruning masks ``masks.{l}``), which are permuted with
    ``perms`` like the edges so that they stay attached to their edges. Every file is written atomically;
    ``manifest.json`` is written last, with the ``sha256`` of every listed shard (``kan_ws.zoo`` manifests)
    recomputed for the new shard files; nothing else in the manifest changes. ``extra_files`` maps extra
    file names to their bytes. ``out`` must not exist yet or be empty (see :func:`kan_core.io.staged_folder`
    to build it beside its place and move it in when complete).
    """
    from .symmetry import _take

    out = Path(out)
    if out.resolve() == zoo.path.resolve():
        raise ValueError(f"{out}: output folder must differ from the input zoo")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out}: the output folder for the aligned zoo exists and is not empty")
    out.mkdir(parents=True, exist_ok=True)
    spec = zoo.spec
    shapes = spec.layer_shapes()
    start = 0
    for name, size, (rest, meta) in zip(zoo.shard_names, zoo.shard_sizes, zoo.shards):
        tensors = {
            f"layers.{l}.{k}": v[start : start + size] for l, p in enumerate(layers) for k, v in p.items()
        }
        for key, t in rest.items():
            mt = _EDGE_RE.match(key)
            if perms is not None and mt is not None and int(mt.group(2)) < spec.depth:
                l = int(mt.group(2))
                if t.dim() == 3 and tuple(t.shape) == (size, *shapes[l]):
                    if l + 1 <= spec.depth - 1:
                        t = _take(t, -2, perms[l][start : start + size], 2)
                    if l >= 1:
                        t = _take(t, -1, perms[l - 1][start : start + size], 2)
            tensors[key] = t
        save_tensors(out / name, tensors, dict(meta))
        start += size
    for fname, data in (extra_files or {}).items():
        atomic_write_bytes(out / fname, data)
    manifest = copy.deepcopy(zoo.manifest)
    for entry in manifest.get("shards", []) if isinstance(manifest.get("shards"), list) else []:
        if isinstance(entry, dict) and "sha256" in entry and "file" in entry:
            entry["sha256"] = hashlib.sha256((out / entry["file"]).read_bytes()).hexdigest()
    atomic_write_bytes(out / MANIFEST, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
    return out


_NODE_KEYS = ("x", "node_layer", "node_pe", "node_grid", "node_affine")
_EDGE_KEYS = ("edge_attr", "edge_mask", "edge_layer", "edge_pe")


def save_graph_batch(path: str | Path, batch) -> None:
    """Save a :class:`~torch_geometric.data.Batch` of KAN-graphs (safetensors + JSON, atomic)."""
    path = Path(path)
    n = batch.num_graphs
    ptr = batch.ptr.cpu()
    eptr = batch._slice_dict["edge_index"].cpu()
    lptr = batch._slice_dict["layer_beta"].cpu() if "layer_beta" in batch else None
    specs = list(batch.spec)
    encodings = list(batch.encoding)
    tensors = {k: batch[k] for k in (*_NODE_KEYS, *_EDGE_KEYS) if k in batch}
    # edge_index stored per graph (without node offsets) so a subset can be read back independently
    tensors["edge_index"] = batch.edge_index - ptr[:-1].to(batch.edge_index.device).repeat_interleave(
        eptr.diff()
    )
    tensors["ptr"], tensors["edge_ptr"] = ptr, eptr
    if lptr is not None:
        tensors["layer_beta"], tensors["layer_ptr"] = batch.layer_beta, lptr
    info = {
        "format": GRAPH_FORMAT,
        "num_graphs": n,
        "encodings": sorted(set(encodings)),
        "specs": sorted(set(specs)),
        "feature_dim": int(batch.edge_attr.shape[1]),
    }
    meta = {
        "format": GRAPH_FORMAT,
        "info": json.dumps(info),
        "spec_per_graph": json.dumps(specs),
        "encoding_per_graph": json.dumps(encodings),
    }
    save_tensors(path, tensors, meta)
    atomic_write_bytes(path.with_name(path.name + ".json"), (json.dumps(info, indent=2) + "\n").encode())


def load_graph_batch(path: str | Path):
    """Read a file written by :func:`save_graph_batch` back into a ``Batch`` (same tensors and slices)."""
    from torch_geometric.data import Batch, Data

    tensors, meta = load_tensors(path)
    if meta.get("format") != GRAPH_FORMAT:
        raise ValueError(
            f"{path}: not a kan-graph dataset (format {meta.get('format')!r}, expected {GRAPH_FORMAT!r})"
        )
    try:
        specs = json.loads(meta["spec_per_graph"])
        encs = json.loads(meta["encoding_per_graph"])
        missing = sorted({"ptr", "edge_ptr", "edge_index", *_NODE_KEYS, *_EDGE_KEYS} - set(tensors))
    except (KeyError, ValueError) as e:
        raise ValueError(f"{path}: header of a kan-graph dataset is incomplete or not JSON ({e})") from e
    if missing:
        raise ValueError(f"{path}: kan-graph dataset lacks tensors {missing}")
    ptr, eptr = tensors["ptr"].tolist(), tensors["edge_ptr"].tolist()
    lptr = tensors["layer_ptr"].tolist() if "layer_ptr" in tensors else None
    graphs = []
    for g in range(len(specs)):
        a, b, c, d = ptr[g], ptr[g + 1], eptr[g], eptr[g + 1]
        fields = {k: tensors[k][a:b] for k in _NODE_KEYS}
        fields.update({k: tensors[k][c:d] for k in _EDGE_KEYS})
        data = Data(
            x=fields["x"],
            edge_index=tensors["edge_index"][:, c:d],
            edge_attr=fields["edge_attr"],
            edge_mask=fields["edge_mask"],
            edge_layer=fields["edge_layer"],
            edge_pe=fields["edge_pe"],
            node_layer=fields["node_layer"],
            node_pe=fields["node_pe"],
            node_grid=fields["node_grid"],
            node_affine=fields["node_affine"],
        )
        if lptr is not None:
            data.layer_beta = tensors["layer_beta"][lptr[g] : lptr[g + 1]]
        data.spec, data.encoding = specs[g], encs[g]
        graphs.append(data)
    return Batch.from_data_list(graphs)
