"""Fault tests of `kan zoo build`: killed with SIGKILL at random points and resumed, it ends byte for byte
equal to an uninterrupted build; a damaged shard is rebuilt on resume, never blessed by a new manifest hash.
"""

from __future__ import annotations

import hashlib
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from kan_core.cli import cli
from kan_core.io import load_tensors, save_tensors

ARGS = [
    "sine-cpu",
    "--models",
    "6",
    "--shard-size",
    "2",
    "--epochs",
    "20",
    "--device",
    "cpu",
    "--threads",
    "1",
]


def _cmd(out: Path) -> list[str]:
    return [sys.executable, "-m", "kan_ws.zoo.cli", "build", *ARGS, "--out", str(out), "--quiet"]


def _files(folder: Path) -> dict[str, bytes]:
    """Every entry of the folder (hidden temporaries included) with its bytes."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, float]:
    """An uninterrupted build and how long it took."""
    import os

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = tmp_path_factory.mktemp("ref") / "zoo"
    t0 = time.perf_counter()
    done = subprocess.run(_cmd(out), env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out, time.perf_counter() - t0


def test_sigkill_at_random_points_then_resume_is_byte_identical(reference, tmp_path, subprocess_env):
    ref, seconds = reference
    rng = random.Random(2026)
    out = tmp_path / "zoo"
    kills = 0
    for _ in range(3):
        proc = subprocess.Popen(
            _cmd(out), env=subprocess_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(0.1, 0.7) * seconds)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        if out.exists() and not (out / "manifest.json").exists():
            # a killed build never looks finished to a reader
            from kan_ws.zoo import ZooError, load_zoo

            with pytest.raises(ZooError, match="no manifest"):
                load_zoo(out)
    assert kills >= 1
    done = subprocess.run(_cmd(out), env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert _files(out) == _files(ref)


def _rehash(folder: Path, shard: str) -> None:
    """What a careless tool would do: make the manifest agree with the damaged shard."""
    m = json.loads((folder / "manifest.json").read_text())
    for s in m["shards"]:
        if s["file"] == shard:
            s["sha256"] = hashlib.sha256((folder / shard).read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(m, indent=1, sort_keys=True) + "\n")


def _flip_data_byte(p: Path) -> None:
    raw = bytearray(p.read_bytes())
    raw[-5] ^= 0x01  # inside the tensor data: the header still parses
    p.write_bytes(bytes(raw))


def _edit_tensor(p: Path) -> None:
    tensors, meta = load_tensors(p)
    tensors["layers.1.coef"][0, 0, 0, 0] += 0.5  # plausible, finite, right shape
    save_tensors(p, tensors, meta)


@pytest.mark.parametrize(
    ("damage", "manifest"),
    [
        ("flip", "keep"),  # manifest hash catches it
        ("flip", "rehash"),  # header digest catches it
        ("flip", "delete"),  # an interrupted build: only the digest is left
        ("edit", "rehash"),
        ("edit", "delete"),
    ],
)
def test_resume_rebuilds_a_damaged_shard(reference, tmp_path, damage, manifest):
    import shutil

    ref, _ = reference
    out = tmp_path / "zoo"
    shutil.copytree(ref, out)
    shard = "shard-00001.safetensors"
    (_flip_data_byte if damage == "flip" else _edit_tensor)(out / shard)
    if manifest == "rehash":
        _rehash(out, shard)
    elif manifest == "delete":
        (out / "manifest.json").unlink()
    keep = (out / "shard-00000.safetensors").stat().st_mtime_ns
    res = CliRunner().invoke(cli, ["zoo", "build", *ARGS, "--out", str(out), "--quiet"])  # in-process: faster
    assert res.exit_code == 0, res.output
    assert _files(out) == _files(ref)  # rebuilt shard and manifest are the uninterrupted build's
    assert (out / "shard-00000.safetensors").stat().st_mtime_ns == keep  # the intact shard was skipped
    res = CliRunner().invoke(cli, ["zoo", "verify", str(out)])
    assert res.exit_code == 0 and "OK" in res.output, res.output
