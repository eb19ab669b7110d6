import hashlib
import json

import torch
from click.testing import CliRunner
from kan_core.functional import kan_forward
from kan_core.io import load_tensors, save_tensors
from kan_graph import permute_stacked, random_permutation, to_graph
from kan_graph.cli import group
from kan_graph.io import load_graph_batch, read_stacked_zoo
from kg_testutils import random_kan, stack


def _write_zoo(path, m_per_shard=(5, 4), basis="bspline"):
    """A tiny zoo in the documented format: manifest.json + shard-XXXXX.safetensors with layers.{l}.{name}."""
    kans = [random_kan(basis, widths=(2, 6, 5, 1), seed=s) for s in range(sum(m_per_shard))]
    spec = kans[0].spec
    layers = permute_stacked(
        spec, stack(kans), random_permutation(spec, torch.Generator().manual_seed(0), num_models=len(kans))
    )
    path.mkdir()
    start = 0
    for s, m in enumerate(m_per_shard):
        t = {f"layers.{l}.{k}": v[start : start + m] for l, p in enumerate(layers) for k, v in p.items()}
        t["frequency"] = torch.arange(start, start + m, dtype=torch.float32)[:, None].repeat(1, 2)
        t.update(
            {
                f"masks.{l}": (layers[l]["coef"][start : start + m, ..., 0] > 0).float()
                for l in range(spec.depth)
            }
        )
        save_tensors(path / f"shard-{s:05d}.safetensors", t, {"shard": str(s)})
        start += m

    shards = [
        {"file": f"shard-{s:05d}.safetensors", "count": m,
         "sha256": hashlib.sha256((path / f"shard-{s:05d}.safetensors").read_bytes()).hexdigest()}
        for s, m in enumerate(m_per_shard)
    ]  # fmt: skip
    manifest = {"spec": spec.to_dict(), "task": "sine", "num_models": sum(m_per_shard), "shards": shards}
    (path / "manifest.json").write_text(json.dumps(manifest))
    return spec, layers


def test_convert_kan_file_and_zoo(tmp_path):
    kan = random_kan("bspline", widths=(2, 6, 5, 1), seed=0)
    kan.save(tmp_path / "k.safetensors")
    r = CliRunner().invoke(group, ["convert", str(tmp_path / "k.safetensors")])
    assert r.exit_code == 0, r.output
    assert "nodes:           14" in r.output and "edges:           47" in r.output
    assert "edge features:   10 (raw)" in r.output and "PE vocab:        node 2064" in r.output

    spec, layers = _write_zoo(tmp_path / "zoo")
    out = tmp_path / "graphs.safetensors"
    r = CliRunner().invoke(
        group,
        [
            "convert",
            str(tmp_path / "zoo"),
            "--out",
            str(out),
            "--encoding",
            "functional",
            "--num-points",
            "8",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "graphs:          9" in r.output and "edge features:   8 (functional)" in r.output
    assert (tmp_path / "graphs.safetensors.json").is_file()
    batch = load_graph_batch(out)
    assert batch.num_graphs == 9
    kan3 = random_kan("bspline", widths=(2, 6, 5, 1), seed=0)
    kan3.load_layer_params([{k: v[3] for k, v in p.items()} for p in layers])
    want = to_graph(kan3, encoding="functional", num_points=8)
    got = batch.get_example(3)
    assert torch.equal(got.edge_index, want.edge_index) and torch.equal(got.node_grid, want.node_grid)
    assert torch.allclose(got.edge_attr, want.edge_attr, atol=1e-5)


def test_convert_bad_path(tmp_path):
    from kan_core.cli import cli

    (tmp_path / "empty").mkdir()
    r = CliRunner().invoke(cli, ["graph", "convert", str(tmp_path / "empty")])
    assert r.exit_code == 1 and "manifest.json" in r.output


def _recast(zoo, shard: int, dtype, fmt: str | None = None) -> None:
    """Cast shard ``shard``'s coefficients to ``dtype`` and re-hash it (a sound manifest, a foreign dtype)."""
    path = zoo / f"shard-{shard:05d}.safetensors"
    t, meta = load_tensors(path)
    save_tensors(path, {k: v.to(dtype) if k.endswith(".coef") else v for k, v in t.items()}, meta)
    manifest = json.loads((zoo / "manifest.json").read_text())
    manifest["shards"][shard]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    if fmt is not None:
        manifest["format"] = fmt
    (zoo / "manifest.json").write_text(json.dumps(manifest))


def test_convert_and_align_name_a_shard_of_another_dtype(tmp_path):
    from kan_core.cli import cli

    _write_zoo(tmp_path / "mixed")
    _recast(tmp_path / "mixed", 1, torch.float64)  # shard 0 float32, shard 1 float64
    _write_zoo(tmp_path / "f64")
    for s in (0, 1):
        _recast(tmp_path / "f64", s, torch.float64, fmt="kan-ws-zoo/1")  # kan zoo build's format: float32
    shard = "shard-00001.safetensors"
    cases = [
        ("mixed", f"{shard}: tensor layers.0.coef has dtype torch.float64, expected torch.float32 as in "
                  "shard-00000.safetensors (every shard of a zoo holds its layer tensors in one dtype)"),
        ("f64", "shard-00000.safetensors: tensor layers.0.coef has dtype torch.float64, expected torch.float32"),
    ]  # fmt: skip
    for name, message in cases:
        for args in (
            ["convert", str(tmp_path / name)],
            ["align", str(tmp_path / name), "--out", str(tmp_path / "x")],
        ):
            r = CliRunner().invoke(cli, ["graph", *args])
            lines = r.output.strip().splitlines()
            assert r.exit_code == 1 and len(lines) == 1, r.output
            assert lines[0] == f"Error: {tmp_path / name}/{message}", r.output
    # negative control: one dtype in every shard of a zoo without kan zoo build's format still reads
    _recast(tmp_path / "mixed", 0, torch.float64)
    assert read_stacked_zoo(tmp_path / "mixed").layers[0]["coef"].dtype == torch.float64


def test_align_zoo(tmp_path):
    spec, layers = _write_zoo(tmp_path / "zoo")
    for ref in ("merge-many", "2"):
        out = tmp_path / f"aligned-{ref}"
        r = CliRunner().invoke(
            group, ["align", str(tmp_path / "zoo"), "--out", str(out), "--reference", ref, "--seed", "1"]
        )
        assert r.exit_code == 0, r.output
        assert sorted(p.name for p in out.glob("shard-*")) == [
            "shard-00000.safetensors",
            "shard-00001.safetensors",
        ]
        src, dst = read_stacked_zoo(tmp_path / "zoo"), read_stacked_zoo(out)
        assert dst.shard_sizes == [5, 4] and dst.spec == spec

        for entry in dst.manifest["shards"]:  # shard hashes refreshed, everything else unchanged
            assert entry["sha256"] == hashlib.sha256((out / entry["file"]).read_bytes()).hexdigest()
        strip = [{k: v for k, v in e.items() if k != "sha256"} for e in dst.manifest["shards"]]
        assert strip == [{k: v for k, v in e.items() if k != "sha256"} for e in src.manifest["shards"]]
        assert {k: v for k, v in dst.manifest.items() if k != "shards"} == {
            k: v for k, v in src.manifest.items() if k != "shards"
        }
        x = torch.rand(32, 2, generator=torch.Generator().manual_seed(0))
        assert torch.allclose(kan_forward(x, dst.layers, spec), kan_forward(x, src.layers, spec), atol=1e-5)
        info = json.loads((out / "alignment.json").read_text())
        assert info["reference"] == ref and info["models"] == 9
        t0, meta = load_tensors(out / "shard-00000.safetensors")
        s0, _ = load_tensors(tmp_path / "zoo" / "shard-00000.safetensors")
        assert meta["shard"] == "0" and torch.equal(t0["frequency"], s0["frequency"])
        # per-edge masks move with their edges
        for l in range(spec.depth):
            assert torch.equal(t0[f"masks.{l}"], (t0[f"layers.{l}.coef"][..., 0] > 0).float())
        if ref == "2":  # the reference model itself is left in place
            for l in range(spec.depth):
                assert torch.equal(dst.layers[l]["coef"][2], src.layers[l]["coef"][2])
    r = CliRunner().invoke(
        group, ["align", str(tmp_path / "zoo"), "--out", str(tmp_path / "x"), "--reference", "99"]
    )
    assert r.exit_code != 0 and "out of range" in r.output


def test_write_stacked_zoo_recomputes_the_shard_header_digest(tmp_path):
    """A shard header (format + digest of the content, as `kan zoo build` writes it) is rewritten with the
    digest of the permuted content; other metadata is carried over; a minimal manifest gains shard hashes."""
    from kan_core.zoo_io import read_shard, read_shard_header, shard_digest, write_shard
    from kan_graph.io import write_stacked_zoo

    kans = [random_kan("bspline", widths=(2, 4, 1), seed=s) for s in range(3)]
    spec, layers = kans[0].spec, stack(kans)
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    tensors = {f"layers.{l}.{k}": v for l, p in enumerate(layers) for k, v in p.items()}
    tensors["masks.0"] = (layers[0]["coef"][..., 0] > 0).float()
    write_shard(zoo / "s.safetensors", tensors, {"count": 3, "note": "kept"}, metadata={"other": "x"})
    (zoo / "manifest.json").write_text(
        json.dumps({"spec": spec.to_dict(), "num_models": 3, "shards": [{"file": "s.safetensors", "count": 3}]})
    )
    src = read_stacked_zoo(zoo)
    perms = random_permutation(spec, torch.Generator().manual_seed(0), num_models=3)
    out = write_stacked_zoo(src, tmp_path / "out", permute_stacked(spec, src.layers, perms), perms)
    before, after = read_shard_header(zoo / "s.safetensors"), read_shard_header(out / "s.safetensors")
    new_tensors, meta = load_tensors(out / "s.safetensors")
    assert after["digest"] == shard_digest(new_tensors, after) != before["digest"]
    assert after["note"] == "kept" and meta["other"] == "x"
    read_shard(out / "s.safetensors", spec, 3, verify_digest=True)
    m = json.loads((out / "manifest.json").read_text())
    assert m["shards"] == [{"file": "s.safetensors", "count": 3,
                            "sha256": hashlib.sha256((out / "s.safetensors").read_bytes()).hexdigest()}]  # fmt: skip
    assert torch.equal(new_tensors["masks.0"], (new_tensors["layers.0.coef"][..., 0] > 0).float())
