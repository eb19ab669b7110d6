"""``kan repro``: both pipelines end to end at ``--scale tiny`` (CI), the from-source CLI, the GPU script.

The tiny runs take about 20 s (WS-KAN) and 6 s (MetaKAN) on one CPU thread.
"""

from __future__ import annotations

import json
import os
import subprocess
import sysconfig
from pathlib import Path

import pytest
from click.testing import CliRunner
from kan_core.cli import cli

WSKAN_STAGES = ["inr-curve", "inr-quality", "zoo-sine", "zoo-inr", "zoo-clf", "zoo-ood", "sine", "sine-sweep", "inr", "accuracy", "mask", "ablation", "ood",
                "pruning"]  # fmt: skip
METAKAN_STAGES = ["feynman", "highdim", "images", "conv", "pde", "memory"]


def _run(args: list[str]):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_wskan_tiny_end_to_end(tmp_path):
    out = tmp_path / "w"
    r = _run(["repro", "wskan", "--scale", "tiny", "--device", "cpu", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert sorted(p.stem for p in (out / "stages").glob("*.json")) == sorted(WSKAN_STAGES)
    inr = json.loads((out / "stages" / "inr.json").read_text())
    wsk = inr["result"]["methods"]["wskan"]
    assert len(wsk["searched"]) == 2 and wsk["selected"] in inr["settings"]["grid"]
    assert inr["seconds"] > 0 and any("epochs (paper 300)" in c for c in inr["cuts"])
    md = (out / "report" / "tables.md").read_text()
    for title in ("Table 1: INR classification", "Table 3: accuracy prediction", "Table 4: pruning-mask",
                  "Tables 6-10", "Table 2: OOD", "Figure 5: downstream pruning", "Sine-wave frequency",
                  "Sine-wave regression vs training-set size, test R^2",
                  "Sine-wave regression vs training-set size, test MSE",
                  "INR classification: WS-KAN test accuracy against the number of training INRs",
                  "INR reconstruction quality"):  # fmt: skip
        assert f"## {title}" in md
    assert md.count("**Verdict.**") == 11
    curve = json.loads((out / "stages" / "inr-curve.json").read_text())["result"]
    assert [r["train_inrs"] for r in curve["rows"]] == [8, 16] and len(curve["zoo"]["manifest_sha256"]) == 64
    quality = json.loads((out / "stages" / "inr-quality.json").read_text())["result"]
    assert quality["psnr_long"] > quality["psnr_zoo_same"]  # 60 epochs reconstruct better than 30
    assert "| WS-KAN | " in md and "| 94.30 | 0.50 |" in md  # the paper's MNIST number beside ours
    csv_lines = (out / "report" / "tables.csv").read_text().splitlines()
    assert csv_lines[0] == "table,row,column,value" and any(
        ln.startswith("inr,WS-KAN,paper MNIST") for ln in csv_lines
    )
    assert (out / "report" / "figures.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a re-run reuses every stage
    r2 = _run(["repro", "wskan", "--scale", "tiny", "--device", "cpu", "--out", str(out)])
    assert r2.exit_code == 0 and "running" not in r2.output
    assert md.split("## Table 1")[1] == (out / "report" / "tables.md").read_text().split("## Table 1")[1]
    # a training stage whose record is lost reruns from its kept runs: no training, the same numbers
    (out / "stages" / "inr.json").unlink()
    r4 = _run(["repro", "wskan", "--scale", "tiny", "--device", "cpu", "--out", str(out), "--stages", "inr"])
    assert r4.exit_code == 0 and "kept run reused" in r4.output and "epoch 1/" not in r4.output
    again = json.loads((out / "stages" / "inr.json").read_text())["result"]["methods"]
    assert again.keys() == inr["result"]["methods"].keys()
    for m, first in inr["result"]["methods"].items():
        assert again[m]["selected"] == first["selected"] and again[m]["runs"] == first["runs"]
    # the same for the sweep, whose reused runs count as resumed seconds
    sweep = json.loads((out / "stages" / "sine-sweep.json").read_text())
    (out / "stages" / "sine-sweep.json").unlink()
    r5 = _run(["repro", "wskan", "--scale", "tiny", "--device", "cpu", "--out", str(out), "--stages", "sine-sweep"])
    assert r5.exit_code == 0 and "sine/wskan n=8 seed 0" in r5.output and "epoch 1/" not in r5.output
    again = json.loads((out / "stages" / "sine-sweep.json").read_text())
    assert again["result"]["r2"] == sweep["result"]["r2"] and again["result"]["mse"] == sweep["result"]["mse"]
    assert again["result"]["seconds_resumed"] > 0 and sweep["result"]["seconds_resumed"] == 0
    # other settings in the same folder: one Error line, nothing run
    r3 = CliRunner().invoke(cli, ["repro", "wskan", "--scale", "tiny", "--device", "cpu", "--out", str(out),
                                  "--seeds", "5"])  # fmt: skip
    assert (
        r3.exit_code == 1 and r3.output.startswith("Error: ") and "use another --out or --force" in r3.output
    )


def test_metakan_tiny_end_to_end(tmp_path):
    out = tmp_path / "m"
    r = _run(["repro", "metakan", "--scale", "tiny", "--device", "cpu", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert sorted(p.stem for p in (out / "stages").glob("*.json")) == sorted(METAKAN_STAGES)
    tables = json.loads((out / "report" / "tables.json").read_text())["tables"]
    keys = [t["key"] for t in tables]
    assert keys[1:] == ["highdim", "images", "conv", "pde", "memory"]
    hd = next(t for t in tables if t["key"] == "highdim")
    assert hd["rows"][0][0] == "f1 n=10" and hd["rows"][0][7] == 101  # the paper's KAN parameters
    assert all(t["verdict"] for t in tables)


def _bare_site(tmp_path: Path) -> Path:
    """This interpreter's site-packages without the kan distributions (what a bare GPU machine has)."""
    site = Path(sysconfig.get_paths()["purelib"])
    farm = tmp_path / "site"
    farm.mkdir()
    for entry in site.iterdir():
        n = entry.name
        if (
            (n.startswith("kan_") and n.endswith(".dist-info"))
            or n.startswith("_editable_impl_")
            or n.endswith(".pth")
        ):
            continue
        (farm / n).symlink_to(entry)
    return farm


def test_kan_from_source_registers_the_entry_points(tmp_path, repo_root, python, subprocess_env):
    env = {**subprocess_env, "PYTHONPATH": str(_bare_site(tmp_path))}
    src = [str(p) for p in sorted((repo_root / "packages").glob("*/src"))]
    # negative control: the sources alone give a `kan` without entry-point commands
    probe = f"import sys; sys.path[:0] = {src!r}; from kan_core.cli import main; main(['--help'])"
    r = subprocess.run([python, "-S", "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "quickstart" in r.stdout and "repro" not in r.stdout and "metakan" not in r.stdout
    script = str(repo_root / "tools" / "kan_from_source.py")
    r = subprocess.run(
        [python, "-S", script, "repro", "--help"], env=env, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    assert "wskan" in r.stdout and "metakan" in r.stdout
    r = subprocess.run([python, "-S", script, "repro", "wskan", "--scale", "huge"], env=env, capture_output=True,
                       text=True, timeout=120)  # fmt: skip
    assert r.returncode == 2 and "'huge' is not one of 'tiny', 'cpu', 'cpu-full', 'paper'" in r.stderr


@pytest.mark.slow
def test_gpu_script_on_cpu(tmp_path, repo_root, python, subprocess_env):
    """tools/gpu_repro.sh with the CPU override at tiny scale, on a bare interpreter: 8 files at most."""
    wrapper = tmp_path / "py"
    wrapper.write_text(f'#!/bin/sh\nexec "{python}" -S "$@"\n')
    wrapper.chmod(0o755)
    out = tmp_path / "out"
    env = {**subprocess_env, "PYTHONPATH": str(_bare_site(tmp_path)), "KAN_REPRO_PYTHON": str(wrapper),
           "KAN_REPRO_DEVICE": "cpu", "KAN_REPRO_SCALE": "tiny", "KAN_REPRO_TOTAL_S": "400",
           "KAN_REPRO_WORK": str(tmp_path / "work"), "OUT": str(out), "KAN_REPRO_SKIP_TESTS": "1"}  # fmt: skip
    env.pop("KAN_DATA_ROOT", None)
    r = subprocess.run(["bash", str(repo_root / "tools" / "gpu_repro.sh")], env=env, capture_output=True, text=True,
                       timeout=600)  # fmt: skip
    assert r.returncode == 0, r.stderr
    files = sorted(p.name for p in out.iterdir())
    assert files == ["log.txt", "metakan-figures.png", "metakan-tables.csv", "metakan-tables.json", "report.md",
                     "wskan-figures.png", "wskan-tables.csv", "wskan-tables.json"]  # fmt: skip
    report = (out / "report.md").read_text()
    assert "# WS-KAN paper reproduction, scale tiny" in report and "# MetaKAN paper reproduction" in report
    assert (
        "pre-flight wskan --scale tiny: exit 0" in r.stderr and os.path.getsize(out / "wskan-figures.png") > 0
    )


def test_budget_cuts_are_recorded(tmp_path):
    """A tiny budget: the zoo probe and the epoch probe cut the plan, and the records say so."""
    out = tmp_path / "b"
    r = _run(["repro", "wskan", "--scale", "tiny", "--device", "cpu", "--out", str(out), "--stages", "inr",
              "--budget-min", "0.0001"])  # fmt: skip
    assert r.exit_code == 0, r.output
    zoo = json.loads((out / "stages" / "zoo-inr.json").read_text())
    inr = json.loads((out / "stages" / "inr.json").read_text())
    assert zoo["budget_seconds"] is not None and inr["budget_seconds"] is not None
    assert zoo["result"]["epochs"] < 30  # the plan's 30 epochs do not fit in 6 ms
    assert "inr: every grid cut to its first point (budget)" in inr["cuts"]
    assert all(m["epochs"] == 1 and len(m["searched"]) <= 1 for m in inr["result"]["methods"].values())
    m_out = tmp_path / "m"
    r = _run(["repro", "metakan", "--scale", "tiny", "--device", "cpu", "--out", str(m_out), "--stages", "images",
              "--budget-min", "0.0001"])  # fmt: skip
    assert r.exit_code == 0, r.output
    rec = json.loads((m_out / "stages" / "images.json").read_text())
    assert "epochs 2 -> 1 (budget)" in rec["cuts"] and rec["result"]["settings_used"]["max_train"] == 500
