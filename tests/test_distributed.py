"""Two CPU processes under torchrun (gloo): the runtime's distributed helpers end to end."""

from __future__ import annotations

import json
import subprocess

import pytest

pytestmark = pytest.mark.distributed


def test_torchrun_gloo_all_reduce_and_shard(python, repo_root, subprocess_env):
    cmd = [
        python,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--standalone",
        str(repo_root / "tests" / "_dist_job.py"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=subprocess_env, timeout=120, cwd=repo_root)
    assert proc.returncode == 0, f"torchrun failed:\n{proc.stdout}\n{proc.stderr}"
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, proc.stdout  # only rank 0 reports
    result = json.loads(lines[0][len("RESULT ") :])
    assert result["world_size"] == 2 and result["is_distributed"] is True
    assert result["all_reduce"] == 3.0  # (0 + 1) + (1 + 1)
    shards = {entry["rank"]: entry["shard"] for entry in result["shards"]}
    assert shards == {0: [0, 2, 4, 6, 8], 1: [1, 3, 5, 7, 9]}
