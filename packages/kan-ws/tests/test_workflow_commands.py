"""kan zoo export, kan ws predict, kan ws prune-eval, kan ws plot after a plain train, kan ws table outputs:
CliRunner on real (tiny) zoos and checkpoints, checked against the Python API they wrap."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from kan_core import KAN, KANSpec
from kan_ws.cli import group as ws
from kan_ws.tasks import load_checkpoint, make_task
from kan_ws.train import predict as raw_predict
from kan_ws.zoo import PRESETS, build_zoo, load_zoo
from kan_ws.zoo.cli import group as zoo_group

PNG = b"\x89PNG\r\n\x1a\n"
TINY_INR = PRESETS["digits-inr-cpu"].replace(
    name="tiny-inr", widths=(2, 4, 4, 1), grid_size=5, epochs=5, shard_size=3
)
TINY_CLF = PRESETS["digits-clf-cpu"].replace(
    name="tiny-clf", widths=(64, 4, 4, 10), grid_size=3, epochs=2, shard_size=8
)


def _ok(result):
    assert result.exit_code == 0, result.output
    return result


def _train(zoo: Path, out: Path, task: str, method: str = "wskan", seed: int = 0) -> Path:
    args = [
        "train",
        "--task",
        task,
        "--zoo",
        str(zoo),
        "--model",
        method,
        "--seed",
        str(seed),
        "--epochs",
        "3",
    ]
    args += ["--batch-size", "4", "--hidden", "16", "--depth", "2", "--out", str(out), "--quiet"]
    _ok(CliRunner().invoke(ws, args))
    return out / f"{task}-{method}-s{seed}.safetensors"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A sine zoo and a digits classifier zoo, a few trained checkpoints on them (module-wide)."""
    root = tmp_path_factory.mktemp("wf")
    sine = build_zoo("sine-cpu", root / "sine", models=10, epochs=1, device="cpu", seed=0)
    clf = build_zoo(TINY_CLF, root / "clf", models=16, device="cpu", seed=0)
    inr = build_zoo(TINY_INR, root / "inr", models=9, device="cpu", seed=0)
    ws_dir = root / "ws"
    ckpts = {
        "sine-wskan-0": _train(sine, ws_dir, "sine", seed=0),
        "sine-wskan-1": _train(sine, ws_dir, "sine", seed=1),
        "sine-mlp-0": _train(sine, ws_dir, "sine", method="mlp"),
        "mask-wskan-0": _train(clf, root / "mask", "mask"),
        "inr-wskan-0": _train(inr, root / "inr-ws", "inr"),
    }
    return {"root": root, "sine": Path(sine), "clf": Path(clf), "inr": Path(inr), "ws": ws_dir, **ckpts}


# ------------------------------------------------------------------------------------------- zoo export
def test_zoo_export_round_trip(runs, tmp_path):
    zoo = load_zoo(runs["sine"])
    out = tmp_path / "m3.safetensors"
    res = _ok(CliRunner().invoke(zoo_group, ["export", str(runs["sine"]), "3", "--out", str(out)]))
    printed = json.loads(res.output)
    kan = KAN.load(out)
    x = torch.rand(50, 2) * 2 - 1
    torch.testing.assert_close(kan(x), zoo.kan(3)(x), rtol=0, atol=0)
    assert kan.metadata["index"] == 3 and kan.metadata["zoo"] == str(runs["sine"])
    assert kan.metadata["targets"]["frequency"] == zoo.targets["frequency"][3].tolist()
    split = next(k for k, v in zoo.splits.items() if 3 in v.tolist())
    assert kan.metadata["split"] == split == printed["split"]
    again = CliRunner().invoke(zoo_group, ["export", str(runs["sine"]), "3", "--out", str(out)])
    assert again.exit_code == 2
    assert (
        f"Error: Invalid value for --out: {out} already exists; pass --force to overwrite it" in again.output
    )
    _ok(CliRunner().invoke(zoo_group, ["export", str(runs["sine"]), "4", "--out", str(out), "--force"]))
    assert KAN.load(out).metadata["index"] == 4
    bad = CliRunner().invoke(
        zoo_group, ["export", str(runs["sine"]), "10", "--out", str(tmp_path / "x.safetensors")]
    )
    assert (
        bad.exit_code == 2
        and "index 10 is outside zoo" in bad.output
        and "holds 10 models (0..9)" in bad.output
    )
    assert not (tmp_path / "x.safetensors").exists()


# ------------------------------------------------------------------------------------------- predict
def _export(zoo: Path, i: int, folder: Path) -> Path:
    out = folder / f"{zoo.name}-{i}.safetensors"
    _ok(CliRunner().invoke(zoo_group, ["export", str(zoo), str(i), "--out", str(out)]))
    return out


def test_predict_sine_matches_the_api_json_and_csv(runs, tmp_path):
    files = [_export(runs["sine"], i, tmp_path) for i in (1, 7)]
    ckpt = runs["sine-wskan-0"]
    _ok(
        CliRunner().invoke(
            ws, ["predict", "--checkpoint", str(ckpt), *map(str, files), "--out", str(tmp_path / "p.json")]
        )
    )
    got = json.loads((tmp_path / "p.json").read_text())
    assert got["task"] == "sine" and got["method"] == "wskan"
    model, header = load_checkpoint(ckpt)
    data = make_task("sine", load_zoo(runs["sine"]))
    stats = header["targets"]
    want = raw_predict(model, data, torch.tensor([1, 7])) * torch.tensor(stats["target_std"]) + torch.tensor(
        stats["target_mean"]
    )
    for row, w, f in zip(got["predictions"], want, files):
        assert row["model"] == str(f) and row["widths"] == [2, 16, 16, 1]
        assert row["frequency"] == pytest.approx(w.tolist(), abs=1e-5)
    _ok(
        CliRunner().invoke(
            ws, ["predict", "--checkpoint", str(ckpt), *map(str, files), "--out", str(tmp_path / "p.csv")]
        )
    )
    with open(tmp_path / "p.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["model", "widths", "frequency0", "frequency1"]
    assert [float(r["frequency1"]) for r in rows] == pytest.approx([w[1].item() for w in want], abs=1e-5)


def test_predict_inr_class_probabilities(runs, tmp_path):
    files = [_export(runs["inr"], i, tmp_path) for i in (0, 8)]
    ckpt = runs["inr-wskan-0"]
    res = _ok(CliRunner().invoke(ws, ["predict", "--checkpoint", str(ckpt), *map(str, files)]))
    got = json.loads(res.output)["predictions"]
    model, _ = load_checkpoint(ckpt)
    probs = torch.softmax(
        raw_predict(model, make_task("inr", load_zoo(runs["inr"])), torch.tensor([0, 8])), -1
    )
    for row, p in zip(got, probs):
        assert row["probabilities"] == pytest.approx(p.tolist(), abs=1e-6)
        assert row["label"] == int(p.argmax()) and sum(row["probabilities"]) == pytest.approx(1.0)
    _ok(
        CliRunner().invoke(
            ws, ["predict", "--checkpoint", str(ckpt), *map(str, files), "--out", str(tmp_path / "p.csv")]
        )
    )
    with open(tmp_path / "p.csv") as fh:
        rows = list(csv.DictReader(fh))
    classes = len(got[0]["probabilities"])
    assert list(rows[0]) == ["model", "widths", "label", *(f"p{c}" for c in range(classes))]
    assert [int(r["label"]) for r in rows] == [g["label"] for g in got]


def test_predict_mask_equals_prune(runs, tmp_path):
    model_file = _export(runs["clf"], 2, tmp_path)
    ckpt = runs["mask-wskan-0"]
    res = _ok(
        CliRunner().invoke(ws, ["predict", "--checkpoint", str(ckpt), str(model_file), "--threshold", "0.5"])
    )
    pred = json.loads(res.output)["predictions"][0]
    assert [len(m) for m in pred["masks"]] == [4, 4, 10] and [len(m[0]) for m in pred["masks"]] == [64, 4, 4]
    flat = [v for m in pred["masks"] for row in m for v in row]
    assert set(flat) <= {0, 1} and pred["kept_fraction"] == pytest.approx(sum(flat) / len(flat))
    scores = [v for s in pred["scores"] for row in s for v in row]
    assert [int(s > 0.5) for s in scores] == flat  # the zoo's models have no pruned edges of their own
    from kan_ws.cli import prune

    pruned = tmp_path / "pruned.safetensors"
    out = _ok(
        CliRunner().invoke(
            prune, [str(model_file), "--checkpoint", str(ckpt), "--out", str(pruned), "--threshold", "0.5"]
        )
    )
    assert json.loads(out.output)["kept_fraction"] == pytest.approx(pred["kept_fraction"])
    assert [m.int().tolist() for m in (layer.mask for layer in KAN.load(pruned).layers)] == pred["masks"]
    _ok(
        CliRunner().invoke(
            ws, ["predict", "--checkpoint", str(ckpt), str(model_file), "--out", str(tmp_path / "m.csv")]
        )
    )
    with open(tmp_path / "m.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 64 * 4 + 4 * 4 + 4 * 10 and list(rows[0])[2:] == [
        "layer",
        "out",
        "in",
        "score",
        "keep",
    ]


def test_predict_refusals(runs, tmp_path):
    other = tmp_path / "g7.safetensors"
    KAN(KANSpec((2, 16, 16, 1), grid_size=7)).save(other)
    res = CliRunner().invoke(ws, ["predict", "--checkpoint", str(runs["sine-wskan-0"]), str(other)])
    assert res.exit_code == 1
    assert (
        "a bspline(grid_size=7, spline_order=3) KAN with 10 coefficients per edge; the checkpoint was trained "
        "on bspline(grid_size=10, spline_order=3) KANs with 13" in " ".join(res.output.split())
    )
    wide = tmp_path / "wide.safetensors"
    KAN(KANSpec((2, 24, 16, 1), grid_size=10)).save(wide)
    res = CliRunner().invoke(ws, ["predict", "--checkpoint", str(runs["sine-mlp-0"]), str(wide)])
    assert res.exit_code == 1 and "FlatMLP reads KANs with 304 edges only" in res.output
    res = _ok(
        CliRunner().invoke(ws, ["predict", "--checkpoint", str(runs["sine-wskan-0"]), str(wide)])
    )  # WS-KAN reads any width
    assert json.loads(res.output)["predictions"][0]["widths"] == [2, 24, 16, 1]
    res = CliRunner().invoke(
        ws,
        ["predict", "--checkpoint", str(runs["sine-wskan-0"]), str(wide), "--out", str(tmp_path / "p.txt")],
    )
    assert res.exit_code == 2 and "must end in .json or .csv" in res.output
    (tmp_path / "p.json").write_text("mine")
    res = CliRunner().invoke(
        ws,
        ["predict", "--checkpoint", str(runs["sine-wskan-0"]), str(wide), "--out", str(tmp_path / "p.json")],
    )
    assert (
        res.exit_code == 2 and "already exists" in res.output and (tmp_path / "p.json").read_text() == "mine"
    )


# ------------------------------------------------------------------------------------------- prune-eval
def test_prune_eval(runs, tmp_path):
    out = tmp_path / "prune"
    args = [
        "prune-eval",
        "--checkpoint",
        str(runs["mask-wskan-0"]),
        "--zoo",
        str(runs["clf"]),
        "--out",
        str(out),
    ]
    res = _ok(CliRunner().invoke(ws, args + ["--device", "cpu"]))
    summary = json.loads(res.output)
    zoo = load_zoo(runs["clf"])
    test = zoo.splits["test"]
    assert summary["models"] == len(test)
    saved = json.loads((out / "pruning.json").read_text())["pruning"]
    assert set(saved["methods"]) == {"original", "oracle", "wskan"}
    assert saved["methods"]["original"]["kept"] == [1.0] * len(test)
    oracle_kept = torch.cat([m[test].reshape(len(test), -1) for m in zoo.masks], 1).mean(1)
    assert saved["methods"]["oracle"]["kept"] == pytest.approx(oracle_kept.tolist())
    assert saved["methods"]["original"]["accuracy"] == pytest.approx(
        zoo.targets["test_accuracy"][test].tolist(), abs=1e-6
    )
    with open(out / "pruning.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 * 5 and list(rows[0]) == [
        "method",
        "noise_low",
        "noise_high",
        "models",
        "accuracy",
        "kept",
    ]
    assert sum(int(r["models"]) for r in rows if r["method"] == "wskan") == len(test)
    assert (out / "pruning.png").read_bytes()[:8] == PNG
    first = (out / "pruning.json").read_text()
    again = CliRunner().invoke(ws, args)  # a rerun keeps the first results and writes beside them
    assert again.exit_code == 0, again.output
    assert f"{out} already holds pruning results; they are kept and these go to {out}-run2" in again.stderr
    assert (out / "pruning.json").read_text() == first and (
        tmp_path / "prune-run2" / "pruning.json"
    ).is_file()
    res = CliRunner().invoke(
        ws,
        [
            "prune-eval",
            "--checkpoint",
            str(runs["sine-wskan-0"]),
            "--zoo",
            str(runs["clf"]),
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert res.exit_code == 1 and "trained for task 'sine'; prune-eval needs 'mask' predictors" in res.output


# ------------------------------------------------------------------------------------------- plot / table
def test_plot_after_plain_train(runs, tmp_path):
    saved = json.loads((runs["ws"] / "sine-wskan-s0.json").read_text())
    assert [h["epoch"] for h in saved["history"]] == [1, 2, 3] and saved["val_metric"] == "mse"
    res = _ok(CliRunner().invoke(ws, ["plot", str(runs["ws"]), "--out", str(tmp_path / "fig")]))
    assert res.output.split() == [
        str(tmp_path / "fig" / "results.png"),
        str(tmp_path / "fig" / "learning_curves.png"),
    ]
    for name in ("results.png", "learning_curves.png"):
        assert (tmp_path / "fig" / name).read_bytes()[:8] == PNG


def test_train_json_reports_raw_validation_mse_and_epochs_from_one(runs):
    """kan ws train's JSON: best_val is the raw-unit validation MSE of the saved model (the units of the
    test mse beside it), best_epoch counts from 1 and names the history entry holding best_val."""
    saved = json.loads((runs["ws"] / "sine-wskan-s0.json").read_text())
    model, _ = load_checkpoint(runs["sine-wskan-0"])
    data = make_task("sine", load_zoo(runs["sine"]))
    vidx = data.splits["val"]
    pred = data.unnormalize(raw_predict(model, data, vidx))
    raw_mse = float(((pred - data.targets[vidx]) ** 2).mean())
    assert saved["best_val"] == pytest.approx(raw_mse, rel=1e-5)
    assert 1 <= saved["best_epoch"] <= 3
    entry = saved["history"][saved["best_epoch"] - 1]
    assert entry["epoch"] == saved["best_epoch"] and entry["val"] == saved["best_val"]


def test_table_writes_markdown_csv_json(runs, tmp_path):
    _ok(CliRunner().invoke(ws, ["table", str(runs["ws"]), "--out", str(tmp_path / "t.md")]))
    md = (tmp_path / "t.md").read_text()
    assert "| WS-KAN | 2 |" in md and "| MLP | 1 |" in md
    records = json.loads((tmp_path / "t.json").read_text())
    by_method = {r["method"]: r for r in records}
    runs_mse = [
        json.loads((runs["ws"] / f"sine-wskan-s{s}.json").read_text())["metrics"]["mse"] for s in (0, 1)
    ]
    assert by_method["wskan"]["seeds"] == 2 and by_method["wskan"]["mse_mean"] == pytest.approx(
        sum(runs_mse) / 2
    )
    assert list(by_method) == ["mlp", "wskan"]  # the paper's order
    with open(tmp_path / "t.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["method"] for r in rows] == ["mlp", "wskan"]
    assert float(rows[1]["mse_mean"]) == pytest.approx(by_method["wskan"]["mse_mean"])
    assert list(rows[0])[:5] == ["task", "zoo", "train_size", "method", "seeds"]


def test_predict_reads_a_pykan_checkpoint(runs, tmp_path, monkeypatch):
    pytest.importorskip("kan")
    from kan import MultKAN
    from kan_core.interop import from_pykan

    monkeypatch.chdir(tmp_path)
    model = MultKAN(
        width=[2, 16, 16, 1],
        grid=10,
        k=3,
        seed=3,
        auto_save=False,
        symbolic_enabled=False,
        ckpt_path=str(tmp_path),
    )
    model.saveckpt(str(tmp_path / "pk"))
    mine = tmp_path / "mine.safetensors"
    from_pykan(model).save(mine)
    ckpt = str(runs["sine-wskan-0"])
    from_ckpt = json.loads(
        _ok(CliRunner().invoke(ws, ["predict", "--checkpoint", ckpt, str(tmp_path / "pk_state")])).output
    )
    from_file = json.loads(_ok(CliRunner().invoke(ws, ["predict", "--checkpoint", ckpt, str(mine)])).output)
    assert from_ckpt["predictions"][0]["frequency"] == pytest.approx(
        from_file["predictions"][0]["frequency"], abs=1e-6
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "mine.safetensors",
        "pk_cache_data",
        "pk_config.yml",
        "pk_state",
    ]
