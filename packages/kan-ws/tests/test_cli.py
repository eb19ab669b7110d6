"""CLI paths: kan ws train/eval/table/plot, DDP under torchrun, kan prune --predict (kan-core and pykan), demo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from kan_ws.cli import group, prune
from kan_ws.tasks import run_experiment, save_checkpoint
from kan_ws.train import TrainConfig


@pytest.fixture(scope="module")
def sine_zoo_dir(tmp_path_factory) -> Path:
    from kan_ws.zoo import build_zoo

    out = tmp_path_factory.mktemp("zoo") / "sine"
    build_zoo("sine-cpu", out, models=10, epochs=1, device="cpu", seed=0)
    return out


def _train_args(zoo: Path, out: Path, method: str = "wskan") -> list[str]:
    return [
        "train",
        "--task",
        "sine",
        "--zoo",
        str(zoo),
        "--model",
        method,
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--hidden",
        "16",
        "--depth",
        "2",
        "--out",
        str(out),
        "--quiet",
    ]


def test_ws_train_eval_table_plot(sine_zoo_dir, tmp_path):
    r = CliRunner()
    for method, seed, more in (("wskan", "0", []), ("wskan", "1", []), ("mlp", "0", ["--compile"])):
        res = r.invoke(group, _train_args(sine_zoo_dir, tmp_path) + ["--seed", seed, "--model", method, *more])
        assert res.exit_code == 0, res.output
    saved = json.loads((tmp_path / "sine-wskan-s0.json").read_text())
    assert saved["method"] == "wskan" and "mse" in saved["metrics"]
    assert not saved["train_config"]["compile"]
    # --compile reaches the training config (the MLP has nothing to compile and runs eagerly)
    assert json.loads((tmp_path / "sine-mlp-s0.json").read_text())["train_config"]["compile"]
    res = r.invoke(
        group,
        [
            "eval",
            "--checkpoint",
            str(tmp_path / "sine-wskan-s0.safetensors"),
            "--zoo",
            str(sine_zoo_dir),
            "--out",
            str(tmp_path / "eval.json"),
        ],
    )
    assert res.exit_code == 0, res.output
    ev = json.loads((tmp_path / "eval.json").read_text())
    assert ev["metrics"]["mse"] == pytest.approx(saved["metrics"]["mse"], rel=1e-4)
    res = r.invoke(group, ["table", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "| WS-KAN | 2 |" in res.output and "| MLP | 1 |" in res.output
    res = r.invoke(group, ["plot", str(tmp_path / "empty-does-not-exist"), "--out", str(tmp_path / "fig")])
    assert res.exit_code != 0
    (tmp_path / "empty").mkdir()
    res = r.invoke(group, ["plot", str(tmp_path / "empty"), "--out", str(tmp_path / "fig")])
    assert res.exit_code != 0  # nothing plottable: a clear usage error, not a crash
    assert "nothing to plot" in res.output


@pytest.mark.distributed
def test_ws_train_under_torchrun_two_processes(sine_zoo_dir, tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    if torchrun is None:
        pytest.fail("torchrun not found next to the interpreter")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [torchrun, "--standalone", "--nproc-per-node", "2", "-m", "kan_ws.cli"] + _train_args(
        sine_zoo_dir, tmp_path
    )
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / "sine-wskan-s0.json").read_text())
    assert res["world_size"] == 2
    assert (tmp_path / "sine-wskan-s0.safetensors").is_file()


def _mask_predictor(tmp_path: Path, tiny_zoo) -> Path:
    zoo = tiny_zoo("classifier", widths=(3, 4, 2), num=16, grid_size=3)
    model, data, res = run_experiment(
        "mask",
        zoo,
        "wskan",
        train_cfg=TrainConfig(epochs=1, batch_size=8),
        model_cfg={"hidden": 16, "depth": 2},
    )
    path = tmp_path / "mask.safetensors"
    save_checkpoint(path, model, data, res)
    return path


def test_prune_predict_kan_core_model(tmp_path, tiny_zoo):
    from kan_core import KAN, KANSpec

    ckpt = _mask_predictor(tmp_path, tiny_zoo)
    kan = KAN(KANSpec((3, 4, 2), grid_size=3), generator=torch.Generator().manual_seed(7))
    kan.save(tmp_path / "k.safetensors")
    res = CliRunner().invoke(
        prune,
        [
            str(tmp_path / "k.safetensors"),
            "--checkpoint",
            str(ckpt),
            "--out",
            str(tmp_path / "p.safetensors"),
            "--threshold",
            "0.5",
        ],
    )
    assert res.exit_code == 0, res.output
    pruned = KAN.load(tmp_path / "p.safetensors")
    kept = json.loads(res.output.strip().splitlines()[-1])["kept_fraction"]
    masks = torch.cat([l.mask.flatten() for l in pruned.layers])
    assert set(masks.unique().tolist()) <= {0.0, 1.0}
    assert float(masks.mean()) == pytest.approx(kept)
    # a predictor for other edge features is refused clearly
    other = KAN(KANSpec((3, 4, 2), grid_size=6))
    other.save(tmp_path / "o.safetensors")
    res = CliRunner().invoke(
        prune,
        [
            str(tmp_path / "o.safetensors"),
            "--checkpoint",
            str(ckpt),
            "--out",
            str(tmp_path / "x.safetensors"),
        ],
    )
    assert res.exit_code != 0 and "trained on" in res.output
    # so is a KAN of another basis, even with edge features of the same length (6 coefficients)
    cheb = KAN(KANSpec((3, 4, 2), basis="chebyshev", degree=5), generator=torch.Generator().manual_seed(1))
    cheb.save(tmp_path / "c.safetensors")
    res = CliRunner().invoke(
        prune,
        [
            str(tmp_path / "c.safetensors"),
            "--checkpoint",
            str(ckpt),
            "--out",
            str(tmp_path / "y.safetensors"),
        ],
    )
    assert res.exit_code != 0
    assert (
        "a chebyshev(degree=5) KAN with 6 coefficients per edge; the checkpoint was trained on "
        "bspline(grid_size=3, spline_order=3) KANs with 6" in " ".join(res.output.split())
    )
    assert not (tmp_path / "y.safetensors").exists()


@pytest.mark.pykan
def test_prune_predict_pykan_checkpoint(tmp_path, tiny_zoo):
    pytest.importorskip("kan")
    from kan import MultKAN
    from kan_core import KAN
    from kan_core.interop import from_pykan
    from kan_core.interop.pykan import preserve_global_rng

    ckpt = _mask_predictor(tmp_path, tiny_zoo)
    with preserve_global_rng():
        model = MultKAN(width=[3, 4, 2], grid=3, k=3, seed=1, auto_save=False, ckpt_path=str(tmp_path / "pk"))
    model.saveckpt(str(tmp_path / "mark"))
    assert (tmp_path / "mark_state").is_file() and (tmp_path / "mark_config.yml").is_file()
    res = CliRunner().invoke(
        prune,
        [str(tmp_path / "mark"), "--checkpoint", str(ckpt), "--out", str(tmp_path / "pruned.safetensors")],
    )
    assert res.exit_code == 0, res.output
    pruned = KAN.load(tmp_path / "pruned.safetensors")
    ref = from_pykan(model)
    for a, b in zip(pruned.layers, ref.layers):  # same function parameters, masks from the predictor
        assert torch.allclose(a.coef, b.coef) and torch.allclose(a.scale_base, b.scale_base)
    x = torch.rand(8, 3) * 2 - 1
    full = torch.cat([l.mask.flatten() for l in pruned.layers])
    if bool((full == 1).all()):
        assert torch.allclose(pruned(x), ref(x), atol=1e-5)


def test_demo_quick_cli(tmp_path):
    from kan_ws.demo import demo

    res = CliRunner().invoke(demo, ["--quick", "--out", str(tmp_path / "d")])
    assert res.exit_code == 0, res.output
    for task in ("sine", "accuracy", "mask"):
        assert f"### {task}" in res.output
    assert "| WS-KAN |" in res.output and "| MLP + Align. |" in res.output
    assert (tmp_path / "d" / "figures" / "pruning.png").is_file()
    assert (tmp_path / "d" / "tables.md").is_file()
    # per-method overrides reach the models: WS-KAN runs without dropout, the baselines keep theirs
    res_dir = tmp_path / "d" / "results"
    assert json.loads((res_dir / "accuracy-wskan-s0.json").read_text())["model_config"]["dropout"] == 0.0
    assert json.loads((res_dir / "accuracy-mlp-s0.json").read_text())["model_config"]["dropout"] == 0.2
    # per-method, per-task training overrides (quick budget: DeepSets 2 epochs and MLP lr 5e-4 on accuracy)
    cfg = {
        stem: json.loads((res_dir / f"{stem}.json").read_text())["train_config"]
        for stem in ("accuracy-deepsets-s0", "sine-deepsets-s0", "accuracy-mlp-s0", "mask-mlp-s0")
    }
    assert cfg["accuracy-deepsets-s0"]["epochs"] == 2 and cfg["sine-deepsets-s0"]["epochs"] == 1
    assert cfg["accuracy-mlp-s0"]["lr"] == 5e-4 and cfg["mask-mlp-s0"]["lr"] == 1e-3


def test_sweep_runs_get_as_many_steps_as_a_full_run(tmp_path, tiny_zoo):
    """Training-set-size sweep: a subset of n models trains round(E * N / n) epochs (same optimiser steps)."""
    from dataclasses import replace

    from kan_ws.demo import BUDGETS, run_demo, sweep_epochs_for

    assert sweep_epochs_for(12, 240, 100) == 29 and sweep_epochs_for(12, 240, 200) == 14
    assert sweep_epochs_for(12, 240, 240) == 12 and sweep_epochs_for(1, 10, 1000) == 1
    with pytest.raises(ValueError, match="positive"):
        sweep_epochs_for(12, 240, 0)
    zoo = tiny_zoo("sine", num=24)  # 12 training models
    budget = replace(BUDGETS["quick"], tasks=("sine",), methods=("mlp",), sweep=(3, 6), sweep_epochs=2)
    run_demo(tmp_path / "d", budget=budget, zoos={"sine": zoo})
    res_dir = tmp_path / "d" / "results"
    epochs = {
        n: json.loads((res_dir / f"sine-mlp-s0-n{n}.json").read_text())["train_config"]["epochs"]
        for n in (3, 6)
    }
    assert epochs == {3: 8, 6: 4}
    assert json.loads((res_dir / "sine-mlp-s0.json").read_text())["train_config"]["epochs"] == 1
