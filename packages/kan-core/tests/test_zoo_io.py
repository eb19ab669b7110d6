"""The one zoo reader/writer (kan_core.zoo_io): round trips, the shard header digest, and every fault named
with the shard and tensor, in the documented order."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import torch
from kan_core import KAN, KANSpec, StackedKAN
from kan_core.io import load_tensors, save_tensors
from kan_core.zoo_format import MANIFEST, SHARD_FORMAT, ZOO_FORMAT, ZooError, sha256_file, shard_name
from kan_core.zoo_io import (
    layer_tensors,
    parse_shard_header,
    read_shard,
    read_shard_header,
    read_zoo,
    shard_digest,
    write_manifest,
    write_shard,
)

SPEC = KANSpec((2, 3, 1), grid_size=3, spline_order=2)
COUNTS = (2, 3)
EXPECTED = {"targets.y": (torch.float32, (2,)), "targets.label": (torch.int64, ())}


def _models(m: int = sum(COUNTS)) -> StackedKAN:
    kans = [KAN(SPEC, generator=torch.Generator().manual_seed(i)) for i in range(m)]
    return StackedKAN.from_kans(kans)


def _others(start: int, count: int) -> dict[str, torch.Tensor]:
    idx = torch.arange(start, start + count)
    return {"targets.y": idx[:, None].float().repeat(1, 2), "targets.label": idx % 3}


def _complete_manifest(n: int) -> dict:
    return {
        "format": ZOO_FORMAT,
        "preset": "unit",
        "task": "unit",
        "config": {},
        "spec": SPEC.to_dict(),
        "seed": 0,
        "num_models": n,
        "shard_size": max(COUNTS),
        "fingerprint": "f" * 32,
        "has_masks": False,
        "targets": ["label", "y"],
        "shards": [],
        "splits": {"train": list(range(n))},
        "models": [{"index": i} for i in range(n)],
    }


@pytest.fixture
def zoo(tmp_path) -> tuple[Path, StackedKAN]:
    """A complete two-shard zoo written with the shared writer (shard headers with digests)."""
    models = _models()
    folder = tmp_path / "zoo"
    folder.mkdir()
    manifest = _complete_manifest(models.num_models)
    start = 0
    for k, count in enumerate(COUNTS):
        tensors = {**layer_tensors(models.select(slice(start, start + count))), **_others(start, count)}
        write_shard(folder / shard_name(k), tensors, {"shard": k, "count": count})
        manifest["shards"].append({"file": shard_name(k), "start": start, "count": count})
        start += count
    write_manifest(folder, manifest)
    return folder, models


def _rehash(folder: Path) -> None:
    """Make the manifest agree with the shards as they are now (a careless tool)."""
    m = json.loads((folder / MANIFEST).read_text())
    for s in m["shards"]:
        s["sha256"] = sha256_file(folder / s["file"])
    (folder / MANIFEST).write_text(json.dumps(m))


def _edit(path: Path, fn, *, keep_meta: bool = True) -> None:
    tensors, meta = load_tensors(path)
    fn(tensors)
    save_tensors(path, tensors, meta if keep_meta else {})


# ------------------------------------------------------------------------------------------ round trips
def test_round_trip_complete_zoo(zoo):
    folder, models = zoo
    z = read_zoo(folder, expected=EXPECTED, layer_dtype=torch.float32, verify_digest=True)
    assert len(z) == 5 and z.spec == SPEC and isinstance(z.models, StackedKAN)
    for got, want in zip(z.models.layers, models.layers):
        assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    assert sorted(z.tensors) == ["targets.label", "targets.y"]
    assert torch.equal(z.tensors["targets.label"], torch.arange(5) % 3)
    assert [s.path.name for s in z.shards] == ["shard-00000.safetensors", "shard-00001.safetensors"]
    assert [s.count for s in z.shards] == [2, 3]
    second = z.shards[1]
    assert torch.equal(second.tensors["layers.0.coef"], models[0]["coef"][2:5])
    assert second.tensors["targets.y"].data_ptr() == z.tensors["targets.y"][2:].data_ptr()  # a view
    assert sorted(second.other_tensors) == ["targets.label", "targets.y"]
    assert second.header["format"] == SHARD_FORMAT and second.header["shard"] == 1
    assert second.header["digest"] == shard_digest(load_tensors(second.path)[0], second.header)
    assert list(second.metadata) == ["zoo"] and json.loads(second.metadata["zoo"]) == second.header
    assert z.manifest["shards"][1]["sha256"] == sha256_file(folder / "shard-00001.safetensors")


def test_manifest_bytes_and_return_value(zoo, tmp_path):
    folder, _ = zoo
    m = json.loads((folder / MANIFEST).read_text())
    assert (folder / MANIFEST).read_text() == json.dumps(m, indent=1, sort_keys=True) + "\n"
    given = {**m, "shards": [{k: v for k, v in s.items() if k != "sha256"} for s in m["shards"]]}
    written = write_manifest(folder, given)
    assert written == m and "sha256" not in given["shards"][0]  # a copy is written, the input is untouched


def test_minimal_zoo_keeps_any_other_tensors_and_metadata(tmp_path):
    models = _models(4)
    folder = tmp_path / "min"
    folder.mkdir()
    extras = [{"freq": torch.ones(2, 2), "scalar": torch.tensor(1.0)}, {"freq": torch.zeros(2, 2)}]
    for k, extra in enumerate(extras):
        save_tensors(folder / f"s{k}.safetensors", {**layer_tensors(models.select(slice(2 * k, 2 * k + 2))),
                                                    **extra}, {"note": str(k)})  # fmt: skip
    manifest = {"spec": SPEC.to_json(), "num_models": 4,
                "shards": [{"file": f"s{k}.safetensors", "count": 2} for k in range(2)]}  # fmt: skip
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ZooError, match=r"manifest.json: missing key\(s\)"):
        read_zoo(folder)  # complete form by default
    z = read_zoo(folder, complete=False)
    assert len(z) == 4 and list(z.tensors) == ["freq"] and z.tensors["freq"].shape == (4, 2)
    assert "scalar" in z.shards[0].tensors and "scalar" not in z.shards[1].tensors
    assert z.shards[0].header is None and z.shards[1].metadata == {"note": "1"}
    written = write_manifest(folder, manifest, complete=False)  # hashes added to a minimal manifest
    assert [s["sha256"] for s in written["shards"]] == [
        sha256_file(folder / f"s{k}.safetensors") for k in (0, 1)
    ]


# ----------------------------------------------------------------------------------------- the header
def test_write_shard_header_gets_format_and_fresh_digest(tmp_path):
    tensors = {**layer_tensors(_models(2)), "targets.y": torch.zeros(2, 2)}
    meta = write_shard(tmp_path / "a.safetensors", tensors, {"format": "other", "digest": "stale", "k": 1},
                       metadata={"note": "x"})  # fmt: skip
    head = read_shard_header(tmp_path / "a.safetensors")
    assert head["format"] == SHARD_FORMAT and head["k"] == 1 and head["digest"] == shard_digest(tensors, head)
    assert meta == load_tensors(tmp_path / "a.safetensors")[1] and meta["note"] == "x"
    with pytest.raises(ValueError, match="metadata key 'zoo' is the shard header"):
        write_shard(tmp_path / "b.safetensors", tensors, {"k": 1}, metadata={"zoo": "{}"})
    assert not (tmp_path / "b.safetensors").exists()
    write_shard(tmp_path / "c.safetensors", tensors, None, metadata={"note": "y"})
    assert load_tensors(tmp_path / "c.safetensors")[1] == {"note": "y"}
    assert read_shard_header(tmp_path / "c.safetensors") is None


def test_shard_digest_covers_names_dtypes_shapes_and_bytes():
    t = {"a": torch.arange(4.0), "b": torch.zeros(2, 2)}
    h = {"x": 1}
    d = shard_digest(t, h)
    assert d == shard_digest(t, {**h, "digest": "anything"})  # the digest is not part of itself
    assert d == shard_digest(dict(reversed(t.items())), h)  # name order, not insertion order
    assert d != shard_digest({**t, "a": torch.arange(4.0) + 1}, h)
    assert d != shard_digest({**t, "a": torch.arange(4.0).double()}, h)
    assert d != shard_digest({**t, "b": torch.zeros(4)}, h)
    assert d != shard_digest({"c": t["a"], "b": t["b"]}, h)
    assert d != shard_digest(t, {"x": 2})


def test_parse_shard_header_refuses_other_content(tmp_path):
    assert parse_shard_header({}) is None
    assert parse_shard_header({"zoo": "not json"}) is None
    assert parse_shard_header({"zoo": "[1, 2]"}) is None
    assert parse_shard_header({"zoo": json.dumps({"format": "someone-else/1"})}) is None
    assert parse_shard_header({"zoo": json.dumps({"format": SHARD_FORMAT, "a": 1})}) == {
        "format": SHARD_FORMAT, "a": 1,
    }  # fmt: skip
    assert read_shard_header(tmp_path / "missing.safetensors") is None
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    assert read_shard_header(tmp_path / "junk.safetensors") is None


# ---------------------------------------------------------------------------------------------- faults
S1 = "shard-00001.safetensors"


def _nan_layer(t):
    t["layers.1.coef"][0, 0, 0, 0] = float("nan")


FAULTS = [
    # (id, damage to shard 1, rehash the manifest, message after the shard path)
    ("bad-hash", lambda p: p.write_bytes(p.read_bytes()[:-4] + b"\0\0\0\0"), False,
     r": SHA-256 [0-9a-f]{16}\.\.\. does not match the manifest \([0-9a-f]{16}\.\.\.\); the shard was modified"),
    ("missing-file", lambda p: p.unlink(), False, r": shard file is missing$"),
    ("missing-tensor", lambda p: _edit(p, lambda t: t.pop("targets.y")), True,
     r": tensors do not match the zoo \(missing \['targets.y'\], unexpected \[\]\)$"),
    ("missing-layer", lambda p: _edit(p, lambda t: t.pop("layers.0.grid")), True,
     r": tensors do not match the zoo \(missing \['layers.0.grid'\], unexpected \[\]\)$"),
    ("unexpected-tensor", lambda p: _edit(p, lambda t: t.update(extra=torch.zeros(3))), True,
     r": tensors do not match the zoo \(missing \[\], unexpected \['extra'\]\)$"),
    ("wrong-dtype", lambda p: _edit(p, lambda t: t.update({"targets.label": t["targets.label"].int()})), True,
     r": tensor targets.label has dtype torch.int32, expected torch.int64$"),
    ("wrong-layer-dtype", lambda p: _edit(p, lambda t: t.update({"layers.0.coef": t["layers.0.coef"].double()})),
     True, r": tensor layers.0.coef has dtype torch.float64, expected torch.float32$"),
    ("wrong-shape", lambda p: _edit(p, lambda t: t.update({"targets.y": torch.zeros(3, 3)})), True,
     r": tensor targets.y has shape \(3, 3\), expected \(3, 2\)$"),
    ("wrong-count", lambda p: _edit(p, lambda t: t.update({k: v[:2] for k, v in t.items()})), True,
     r": tensor layers.0.scale_base has shape \(2, 3, 2\), expected \(3, 3, 2\)$"),  # first in param order
    ("nan-layer", lambda p: _edit(p, _nan_layer), True, r": tensor layers.1.coef holds non-finite values$"),
    ("inf-target", lambda p: _edit(p, lambda t: t["targets.y"].fill_(float("inf"))), True,
     r": tensor targets.y holds non-finite values$"),
    ("tied-knots", lambda p: _edit(p, lambda t: t["layers.1.grid"][0, 0, 4].copy_(t["layers.1.grid"][0, 0, 3])),
     True, r": tensor layers.1.grid has a degenerate grid"),
    ("truncated", lambda p: p.write_bytes(p.read_bytes()[:50]), True, r": not a readable safetensors file"),
]  # fmt: skip


@pytest.mark.parametrize(("damage", "rehash", "message"), [pytest.param(*f[1:], id=f[0]) for f in FAULTS])
def test_every_fault_is_named_with_the_shard_and_tensor(zoo, damage, rehash, message):
    folder, _ = zoo
    damage(folder / S1)
    if rehash:
        _rehash(folder)
    with pytest.raises(ZooError) as e:
        read_zoo(folder, expected=EXPECTED, layer_dtype=torch.float32)
    assert str(e.value).startswith(str(folder / S1) + ":"), str(e.value)
    assert re.search(message, str(e.value)), str(e.value)


def test_bad_digest_and_missing_header(zoo):
    folder, _ = zoo
    _edit(folder / S1, lambda t: t["layers.1.coef"].add_(0.5))  # plausible, finite: the old header kept
    _rehash(folder)
    read_zoo(folder, expected=EXPECTED)  # no digest check asked: the content checks pass
    with pytest.raises(ZooError, match=rf"^{folder / S1}: content does not match the digest in its header"):
        read_zoo(folder, expected=EXPECTED, verify_digest=True)
    _edit(folder / S1, lambda t: None, keep_meta=False)
    with pytest.raises(ZooError, match=rf"^{folder / S1}: no shard header \(metadata 'zoo' with format"):
        read_shard(folder / S1, SPEC, 3, verify_digest=True)


def test_hash_is_checked_first_and_can_be_skipped(zoo):
    folder, _ = zoo
    _edit(folder / S1, _nan_layer)
    with pytest.raises(ZooError, match="SHA-256"):
        read_zoo(folder)
    with pytest.raises(ZooError, match="layers.1.coef holds non-finite"):
        read_zoo(folder, check_hash=False)


def test_path_escape_is_refused_before_any_file_is_read(zoo, tmp_path):
    folder, _ = zoo
    m = json.loads((folder / MANIFEST).read_text())
    m["shards"][0]["file"] = "../zoo/shard-00000.safetensors"
    (folder / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(ZooError, match=r"manifest.json: shards\[0\]: shard file '../zoo/shard-00000.safetensors' "
                                       r"leaves the zoo folder"):  # fmt: skip
        read_zoo(folder)
    before = (folder / MANIFEST).read_bytes()
    with pytest.raises(ZooError, match="leaves the zoo folder"):
        write_manifest(folder, m)
    assert (folder / MANIFEST).read_bytes() == before


def test_write_manifest_validates_before_writing(zoo):
    folder, _ = zoo
    m = json.loads((folder / MANIFEST).read_text())
    before = (folder / MANIFEST).read_bytes()
    with pytest.raises(ZooError, match=r"manifest.json: shards hold 5 models, key 'num_models' says 6"):
        write_manifest(folder, {**m, "num_models": 6})
    with pytest.raises(ZooError, match=rf"^{folder / 'shard-00007.safetensors'}: shard file is missing$"):
        write_manifest(
            folder, {**m, "shards": [*m["shards"], {"file": shard_name(7), "start": 5, "count": 1}]}
        )
    assert (folder / MANIFEST).read_bytes() == before
    assert not [p for p in os.listdir(folder) if p.endswith(".tmp")]


def test_callers_check_runs_last(zoo):
    folder, _ = zoo
    seen = []

    def check(path, tensors):
        seen.append(path.name)
        if int(tensors["targets.label"].max()) > 1:
            raise ZooError(f"{path}: label too large")

    with pytest.raises(ZooError, match=rf"^{folder / S1}: label too large$"):
        read_zoo(folder, expected=EXPECTED, check=check)
    assert seen == ["shard-00000.safetensors", S1]
    _edit(folder / S1, _nan_layer)
    _rehash(folder)
    seen.clear()
    with pytest.raises(ZooError, match="non-finite"):
        read_zoo(folder, expected=EXPECTED, check=check)
    assert seen == ["shard-00000.safetensors"]  # shard 1 failed its own checks first
