"""Files: stacked zoo folders (read/write, for alignment) and saved KAN-graph datasets. No pickle.

Zoo folder: the format of :mod:`kan_core.zoo_format` (described there), read and written through
:mod:`kan_core.zoo_io` like ``kan_ws.zoo`` does (kan-graph does not import kan-ws). kan-graph accepts a
minimal manifest (``spec``, ``shards``, ``num_models``) and any per-model tensors besides the layers
(targets, masks), which it carries over when it rewrites a zoo.

Graph dataset (``save_graph_batch``): one safetensors file with the batched graph tensors and, in its
header, JSON metadata (``format``, ``encoding``, ``specs``, the per-graph node/edge/layer counts), plus a
``<file>.json`` sidecar with the same metadata for humans.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from kan_core import KANSpec
from kan_core.io import atomic_write_bytes, load_tensors, save_tensors
from kan_core.zoo_format import ZOO_FORMAT, read_manifest
from kan_core.zoo_io import parse_shard_header, read_shards, write_manifest, write_shard
from torch import Tensor

__all__ = [
    "StackedZoo",
    "read_stacked_zoo",
    "write_stacked_zoo",
    "rewritten_fingerprint",
    "save_graph_batch",
    "load_graph_batch",
    "GRAPH_FORMAT",
]

GRAPH_FORMAT = "kan-graph/1"
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
    """Read a zoo folder's manifest and shards into stacked per-layer tensors (leading model dim), with
    :func:`kan_core.zoo_io.read_shards` (minimal manifests accepted; every listed SHA-256 checked). The layer
    tensors of a zoo whose manifest has ``kan zoo build``'s ``format`` must be float32 (as ``kan zoo
    verify`` checks), those of other zoos one floating dtype in every shard.

    Raises:
        ZooError (a ``ValueError``): a manifest that does not fit :mod:`kan_core.zoo_format`'s schema
            (names the key), a missing or modified shard (SHA-256), or a shard whose tensors do not fit the
            spec, its count, or hold non-finite values (names the shard and tensor).
    """
    manifest, spec = read_manifest(path, complete=False)
    # a zoo in kan zoo build's format holds float32 layers (as kan zoo verify checks); other zoos any one
    # floating dtype
    layer_dtype = torch.float32 if manifest.get("format") == ZOO_FORMAT else None
    z = read_shards(path, manifest, spec, layer_dtype=layer_dtype)
    return StackedZoo(
        z.path,
        z.manifest,
        z.spec,
        [s.path.name for s in z.shards],
        [s.count for s in z.shards],
        z.models.layers,
        [(s.other_tensors, s.metadata) for s in z.shards],
    )


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
    ``perms`` like the edges so that they stay attached to their edges. Shards are written with
    :func:`kan_core.zoo_io.write_shard`: a shard header (``kan zoo build`` zoos) is kept with its digest
    recomputed for the new content, other header metadata is carried over as it is. ``manifest.json`` is
    written last by :func:`kan_core.zoo_io.write_manifest`, with the ``sha256`` of every shard (added
    where a minimal manifest had none). A build ``fingerprint`` (manifest and shard headers) becomes
    :func:`rewritten_fingerprint` of it: the content is no longer what that build makes, so a resumed
    ``kan zoo build`` over the folder refuses it instead of taking its shards as its own; nothing else in
    the manifest changes. ``extra_files`` maps extra
    file names to their bytes. ``out`` must not exist yet or be empty (see :func:`kan_core.io.staged_folder`
    to build it beside its place and move it in when complete).
    """
    from .symmetry import take_along

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
                        t = take_along(t, -2, perms[l][start : start + size], 2)
                    if l >= 1:
                        t = take_along(t, -1, perms[l - 1][start : start + size], 2)
            tensors[key] = t
        header = parse_shard_header(meta)
        if header is not None and isinstance(header.get("fingerprint"), str):
            header["fingerprint"] = rewritten_fingerprint(header["fingerprint"])
        others = {k: v for k, v in meta.items() if k != "zoo"} if header is not None else meta
        write_shard(out / name, tensors, header, metadata=others)
        start += size
    for fname, data in (extra_files or {}).items():
        atomic_write_bytes(out / fname, data)
    manifest = dict(zoo.manifest)
    if isinstance(manifest.get("fingerprint"), str):
        manifest["fingerprint"] = rewritten_fingerprint(manifest["fingerprint"])
    write_manifest(out, manifest, complete=False)
    return out


def rewritten_fingerprint(fingerprint: str) -> str:
    """The build fingerprint of a zoo whose models :func:`write_stacked_zoo` rewrote (32 hex digits,
    derived from the source's, never equal to a fingerprint ``kan zoo build`` computes for a preset)."""
    return hashlib.sha256(f"{fingerprint}|rewritten by kan_graph.io.write_stacked_zoo".encode()).hexdigest()[:32]


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
