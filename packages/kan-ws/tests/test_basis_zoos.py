"""Zoos of every registered basis: presets with a basis, ``kan zoo build --basis``, WS-KAN and the baselines
on such zoos, ``kan ws predict`` and ``kan prune --predict`` on their models; B-spline zoos unchanged."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from kan_core import KAN, KANSpec
from kan_core.basis import basis_names
from kan_ws.cli import group as ws
from kan_ws.cli import prune
from kan_ws.zoo import PRESETS, build_zoo, load_zoo, verify_zoo, with_basis
from kan_ws.zoo.build import fingerprint
from kan_ws.zoo.classifiers import classifier_data
from kan_ws.zoo.cli import group as zoo_group

TINY_CLF = PRESETS["digits-clf-cpu"].replace(
    name="tiny-clf", widths=(64, 4, 4, 10), grid_size=3, epochs=2, shard_size=8
)
TINY_INR = PRESETS["digits-inr-cpu"].replace(
    name="tiny-inr", widths=(2, 4, 4, 1), grid_size=5, epochs=5, shard_size=3
)
BASIS_FIELDS = ("basis", "degree", "wavelet")


def _ok(result):
    assert result.exit_code == 0, result.output
    return result


def _train(zoo: Path, out: Path, task: str, method: str = "wskan", epochs: int = 2) -> dict:
    args = ["train", "--task", task, "--zoo", str(zoo), "--model", method, "--epochs", str(epochs)]
    args += ["--batch-size", "4", "--hidden", "8", "--depth", "1", "--device", "cpu", "--out", str(out)]
    _ok(CliRunner().invoke(ws, [*args, "--quiet"]))
    return json.loads((out / f"{task}-{method}-s0.json").read_text())


def _export(zoo: Path, i: int, out: Path) -> Path:
    _ok(CliRunner().invoke(zoo_group, ["export", str(zoo), str(i), "--out", str(out)]))
    return out


# ------------------------------------------------------------------------------------------- presets
def test_bspline_presets_keep_their_config_and_fingerprint():
    for p in PRESETS.values():
        assert p.basis == "bspline" and p.spec.basis == "bspline"
        assert not set(BASIS_FIELDS) & set(p.config()), p.name
        assert with_basis(p, "bspline").config() == p.config()
    # the fingerprints B-spline zoos had before presets named a basis (so existing zoos still resume/verify)
    assert fingerprint(PRESETS["sine-cpu"], 300, 0) == "ed8c655a2f0d54bea1325ab94d456d68"
    assert fingerprint(PRESETS["digits-clf-cpu"], 64, 3) == "f7876b608b4acd3a72a6a2c4b9d6f1e6"


def test_with_basis_changes_only_the_basis_and_its_hyperparameters():
    base = PRESETS["sine-cpu"]
    cheb = with_basis("sine-cpu", "chebyshev", degree=5)
    assert (cheb.spec.basis, cheb.spec.degree, cheb.spec.num_coefficients) == ("chebyshev", 5, 6)
    assert cheb.spec.widths == base.spec.widths
    cfg = cheb.config()
    assert (cfg["basis"], cfg["degree"], cfg["wavelet"]) == ("chebyshev", 5, "mexican_hat")
    assert {k: v for k, v in cfg.items() if k not in BASIS_FIELDS} == base.config()
    assert fingerprint(cheb, 300, 0) != fingerprint(base, 300, 0)
    assert fingerprint(cheb, 300, 0) != fingerprint(with_basis("sine-cpu", "chebyshev", degree=4), 300, 0)
    rbf = with_basis(base, "rbf", grid_size=7)
    assert (rbf.spec.basis, rbf.spec.num_coefficients, rbf.grid_size) == ("rbf", 7, 7)
    wav = with_basis(base, "wavelet", wavelet="morlet")
    assert wav.spec.wavelet == "morlet" and wav.config()["wavelet"] == "morlet"
    with pytest.raises(ValueError, match="unknown basis 'nope'; registered bases: "):
        with_basis(base, "nope")
    with pytest.raises(ValueError, match=r"preset 'sine-cpu': KANSpec.degree must be >= 0, got -1"):
        with_basis(base, "chebyshev", degree=-1)
    with pytest.raises(ValueError, match=r"preset 'x': KANSpec.basis must be one of"):
        base.replace(name="x", basis="nope")


def test_zoo_build_cli_basis_options(tmp_path):
    runner = CliRunner()
    res = runner.invoke(zoo_group, ["build", "sine-cpu", "--degree", "4", "--out", str(tmp_path / "a")])
    assert res.exit_code == 2 and "--degree needs --basis" in res.output
    res = runner.invoke(zoo_group, ["build", "sine-cpu", "--basis", "nope", "--out", str(tmp_path / "b")])
    assert res.exit_code == 2 and "unknown basis 'nope'" in res.output
    res = runner.invoke(
        zoo_group,
        ["build", "sine-cpu", "--basis", "wavelet", "--wavelet", "haar?", "--out", str(tmp_path / "c")],
    )
    assert res.exit_code == 2 and "KANSpec.wavelet must be one of" in res.output
    assert not any(tmp_path.iterdir())  # refused before any folder was created
    out = tmp_path / "cheb"
    args = ["build", "sine-cpu", "--basis", "chebyshev", "--degree", "4", "--models", "4", "--epochs", "1"]
    _ok(runner.invoke(zoo_group, [*args, "--device", "cpu", "--out", str(out), "--quiet"]))
    zoo = load_zoo(out)
    assert (zoo.spec.basis, zoo.spec.degree, zoo.layers[0]["coef"].shape) == ("chebyshev", 4, (4, 16, 2, 5))
    assert zoo.config["basis"] == "chebyshev" and verify_zoo(out) == []
    # the same zoo from Python is the same bytes
    again = build_zoo(
        with_basis("sine-cpu", "chebyshev", degree=4), tmp_path / "py", models=4, epochs=1, device="cpu"
    )
    for f in ("manifest.json", "shard-00000.safetensors"):
        assert (out / f).read_bytes() == (again / f).read_bytes()


# ------------------------------------------------------------------------------------------- every basis
@pytest.mark.parametrize("basis", basis_names())
def test_every_basis_through_build_train_predict_prune(basis, tmp_path):
    """Classifier, sine and INR zoos of ``basis``; WS-KAN on each task; predict and prune with the result."""
    clf = build_zoo(with_basis(TINY_CLF, basis), tmp_path / "clf", models=16, device="cpu")
    sine = build_zoo(with_basis("sine-cpu", basis), tmp_path / "sine", models=8, epochs=1, device="cpu")
    inr = build_zoo(with_basis(TINY_INR, basis), tmp_path / "inr", models=6, device="cpu")
    for folder in (clf, sine, inr):
        assert verify_zoo(folder) == [] and load_zoo(folder).spec.basis == basis
    zoo = load_zoo(clf)
    assert zoo.masks is not None and 0 < float(torch.stack([m.mean() for m in zoo.masks]).mean()) <= 1

    res = _train(sine, tmp_path / "ws", "sine")
    assert res["zoo"] == str(sine) and math.isfinite(res["metrics"]["r2"])
    assert 0.0 <= _train(inr, tmp_path / "ws", "inr")["metrics"]["accuracy"] <= 1.0
    assert 0.0 <= _train(clf, tmp_path / "ws", "mask")["metrics"]["roc_auc"] <= 1.0

    ckpt = tmp_path / "ws" / "mask-wskan-s0.safetensors"
    model = _export(clf, 3, tmp_path / "m.safetensors")
    pred = json.loads(
        _ok(
            CliRunner().invoke(ws, ["predict", "--checkpoint", str(ckpt), str(model), "--threshold", "0.5"])
        ).output
    )
    masks = pred["predictions"][0]["masks"]
    pruned = tmp_path / "pruned.safetensors"
    args = [
        str(model),
        "--checkpoint",
        str(ckpt),
        "--out",
        str(pruned),
        "--threshold",
        "0.5",
        "--device",
        "cpu",
    ]
    out = json.loads(_ok(CliRunner().invoke(prune, args)).output)
    kan = KAN.load(pruned)
    assert kan.spec == load_zoo(clf).spec
    assert [layer.mask.int().tolist() for layer in kan.layers] == masks
    assert out["kept_fraction"] == pytest.approx(pred["predictions"][0]["kept_fraction"])
    # the pruned model runs; it computes the original one unless edges were removed
    x = torch.randn(5, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        same = torch.allclose(kan(x), KAN.load(model)(x))
    assert same == all(v == 1 for m in masks for row in m for v in row)

    args = ["prune-eval", "--checkpoint", str(ckpt), "--zoo", str(clf), "--out", str(tmp_path / "pe")]
    summary = json.loads(
        _ok(CliRunner().invoke(ws, [*args, "--device", "cpu"])).output.strip().splitlines()[-1]
    )
    assert summary["models"] == len(load_zoo(clf).splits["test"])
    assert (
        set(summary["mean"]) == {"original", "oracle", "wskan"} and summary["mean"]["original"]["kept"] == 1.0
    )

    sine_ckpt = tmp_path / "ws" / "sine-wskan-s0.safetensors"
    sine_model = _export(sine, 1, tmp_path / "s.safetensors")
    got = json.loads(
        _ok(CliRunner().invoke(ws, ["predict", "--checkpoint", str(sine_ckpt), str(sine_model)])).output
    )
    assert len(got["predictions"][0]["frequency"]) == 2


@pytest.fixture(scope="module")
def cheb_sine(tmp_path_factory):
    root = tmp_path_factory.mktemp("cheb")
    return build_zoo(with_basis("sine-cpu", "chebyshev"), root / "sine", models=12, epochs=1, device="cpu")


@pytest.mark.parametrize("method", ["mlp", "mlp-aug", "mlp-align", "dmc", "deepsets", "settrans"])
def test_baselines_train_on_a_chebyshev_zoo(method, cheb_sine, tmp_path):
    res = _train(cheb_sine, tmp_path, "sine", method=method, epochs=1)
    assert res["method"] == method and res["task"] == "sine" and math.isfinite(res["metrics"]["r2"])


def test_prune_refuses_a_model_of_another_basis_or_degree(tmp_path):
    zoo = build_zoo(with_basis(TINY_CLF, "chebyshev"), tmp_path / "clf", models=8, device="cpu")
    _train(zoo, tmp_path / "ws", "mask", epochs=1)
    ckpt = str(tmp_path / "ws" / "mask-wskan-s0.safetensors")
    x, y = classifier_data(load_zoo(zoo), "train")  # the preset is rebuilt from the manifest's config
    assert x.shape == (len(y), 64)
    other = tmp_path / "bspline.safetensors"
    KAN(KANSpec((64, 4, 4, 10), grid_size=3)).save(other)
    res = CliRunner().invoke(
        prune, [str(other), "--checkpoint", ckpt, "--out", str(tmp_path / "p1.safetensors")]
    )
    assert res.exit_code == 2
    out = " ".join(res.output.split())
    assert (
        "a bspline(grid_size=3, spline_order=3) KAN with 6 coefficients per edge; the checkpoint was trained on "
        "chebyshev(degree=3) KANs with 4" in out
    )
    deg5 = tmp_path / "cheb5.safetensors"
    KAN(KANSpec((64, 4, 4, 10), basis="chebyshev", degree=5)).save(deg5)
    res = CliRunner().invoke(
        prune, [str(deg5), "--checkpoint", ckpt, "--out", str(tmp_path / "p2.safetensors")]
    )
    assert res.exit_code == 2
    assert (
        "a chebyshev(degree=5) KAN with 6 coefficients per edge; the checkpoint was trained on "
        "chebyshev(degree=3) KANs with 4" in " ".join(res.output.split())
    )
    assert not (tmp_path / "p1.safetensors").exists() and not (tmp_path / "p2.safetensors").exists()
