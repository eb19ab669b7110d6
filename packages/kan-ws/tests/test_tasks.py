"""Every baseline and task end to end on tiny zoos; metrics; alignment; checkpoints; downstream pruning."""

from __future__ import annotations

import math

import pytest
import torch
from kan_ws import metrics as M
from kan_ws.models import METHODS, InfeasibleError, build_model
from kan_ws.tasks import (
    align_features,
    downstream_pruning,
    evaluate_ood,
    load_checkpoint,
    make_task,
    pruning_timing,
    run_experiment,
    save_checkpoint,
)
from kan_ws.train import TrainConfig

CFG = TrainConfig(epochs=2, batch_size=8)
SMALL = {"hidden": 16, "depth": 2}


@pytest.mark.parametrize(
    "task,kind", [("sine", "sine"), ("inr", "inr"), ("accuracy", "classifier"), ("mask", "classifier")]
)
def test_every_method_runs_every_task(tiny_zoo, task, kind):
    zoo = tiny_zoo(kind, num=12, widths=(3, 4, 4, 2) if kind == "classifier" else (2, 4, 4, 1))
    for method in METHODS:
        model, data, res = run_experiment(task, zoo, method, seed=0, train_cfg=CFG, model_cfg=SMALL)
        assert res["method"] == method and res["task"] == task
        vals = {k: v for k, v in res["metrics"].items() if k not in ("threshold", "roc_auc")}
        assert vals and all(math.isfinite(v) for v in vals.values()), (method, res["metrics"])
        if task == "mask":
            assert 0.0 <= res["metrics"]["accuracy"] <= 1.0
        if task == "inr":
            assert 0.0 <= res["metrics"]["accuracy"] <= 1.0


def test_training_set_size_subset(tiny_zoo):
    zoo = tiny_zoo("sine", num=40)
    _, _, res = run_experiment("sine", zoo, "mlp", train_cfg=CFG, model_cfg=SMALL, train_size=5)
    assert res["train_size"] == 5
    with pytest.raises(ValueError, match="train_size"):
        run_experiment("sine", zoo, "mlp", train_cfg=CFG, model_cfg=SMALL, train_size=1000)


def test_settrans_infeasible_is_reported():
    with pytest.raises(InfeasibleError, match="max_edges"):
        build_model("settrans", 1, "graph", num_edges=5000, edge_dim=8, max_edges=1024)


def test_alignment_maps_permuted_copies_to_one_representative(tiny_zoo):
    from kan_graph import permute_stacked, random_permutation

    zoo = tiny_zoo("sine", widths=(2, 5, 4, 1), num=12)
    layers = zoo.layers
    perms = random_permutation(zoo.spec, torch.Generator().manual_seed(0), num_models=12)
    copy = permute_stacked(
        zoo.spec, [{k: v[:1].expand(12, *v.shape[1:]) for k, v in p.items()} for p in layers], perms
    )
    zoo2 = type(zoo)(zoo.spec, "sine", copy, zoo.targets, zoo.splits)
    data = align_features(make_task("sine", zoo2))
    # every copy of model 0 has the same aligned features
    assert torch.allclose(data.feats, data.feats[:1].expand_as(data.feats), atol=1e-6)
    raw = make_task("sine", zoo2).feats
    assert not torch.allclose(raw, raw[:1].expand_as(raw))


def test_alignment_equals_kan_graph_merge_many_on_the_zoo_parameters(tiny_zoo):
    """The "MLP + Align." features are kan-graph's MergeMany + weight matching of the zoo's parameters."""
    from kan_graph import align_stacked, merge_many
    from kan_graph.symmetry import select_stacked

    zoo = tiny_zoo("sine", widths=(3, 6, 5, 4, 2), num=40, seed=3)
    data = make_task("sine", zoo)
    al = align_features(data, max_reference_models=8)
    res = merge_many(select_stacked(zoo.spec, zoo.layers, data.splits["train"]), spec=zoo.spec, max_models=8)
    aligned, perms = align_stacked(zoo.spec, res.reference, zoo.layers)
    assert all(torch.equal(a, b) for a, b in zip(al.perms, perms))
    assert torch.equal(
        al.feats, make_task("sine", type(zoo)(zoo.spec, "sine", aligned, zoo.targets, zoo.splits)).feats
    )
    spread = [float(((f - f.mean(0)) ** 2).sum((1, 2)).mean()) for f in (data.feats, al.feats)]
    assert spread[1] < 0.85 * spread[0]  # aligned models are closer to each other


def test_mask_alignment_permutes_targets_consistently(tiny_zoo):
    zoo = tiny_zoo("classifier", widths=(3, 5, 4, 2), num=12)
    base = make_task("mask", zoo)
    al = align_features(base)
    # the mask target follows its edge: scale_base magnitude (feature 0) determines the tiny zoo's mask
    thr = [0.3 * p["scale_base"].abs().mean() for p in zoo.layers]
    assert al.perms is not None
    assert torch.equal(al.targets.sum(1), base.targets.sum(1))
    assert not torch.equal(al.feats, base.feats) or all(
        p.eq(torch.arange(p.shape[1])).all() for p in al.perms
    )
    del thr


def test_metrics():
    s = torch.tensor([0.1, 0.4, 0.35, 0.8])
    y = torch.tensor([0, 0, 1, 1])
    assert M.roc_auc(s, y) == pytest.approx(0.75)
    sk = pytest.importorskip("sklearn.metrics")
    g = torch.Generator().manual_seed(0)
    s2, y2 = torch.rand(500, generator=g), (torch.rand(500, generator=g) > 0.3).long()
    s2[:50] = 0.5  # ties
    assert M.roc_auc(s2, y2) == pytest.approx(sk.roc_auc_score(y2.numpy(), s2.numpy()), abs=1e-9)
    assert math.isnan(M.roc_auc(s2, torch.ones(500)))
    t = M.best_threshold(s, y)
    assert M.binary_accuracy(s, y, t) == 0.75
    assert M.r2(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0])) == pytest.approx(1.0)
    assert M.mean_std([1.0, 3.0]) == (2.0, 1.0)
    assert M.binned_mean(torch.tensor([0.1, 0.15, 0.9]), torch.tensor([1.0, 3.0, 5.0]), [0, 0.5, 1]) == [
        2.0,
        5.0,
    ]


def test_checkpoint_roundtrip(tiny_zoo, tmp_path):
    zoo = tiny_zoo("sine", num=16)
    for method in ("wskan", "mlp", "dmc", "deepsets", "settrans"):
        model, data, res = run_experiment("sine", zoo, method, train_cfg=CFG, model_cfg=SMALL)
        save_checkpoint(tmp_path / f"{method}.safetensors", model, data, res)
        again, header = load_checkpoint(tmp_path / f"{method}.safetensors")
        assert header["task"] == "sine" and header["model_class"] == type(model).__name__
        from kan_ws.data import make_batch

        b = make_batch(data.template, data.feats[:4])
        model.eval()
        with torch.no_grad():
            assert torch.allclose(model(b), again(b), atol=1e-6)
    raw = (tmp_path / "wskan.safetensors").read_bytes()
    assert b"pickle" not in raw[:200]


def test_downstream_pruning_and_timing(tiny_zoo):
    zoo = tiny_zoo("classifier", widths=(64, 4, 4, 10), num=20)
    models = {}
    for method in ("wskan", "mlp-align"):
        model, data, _ = run_experiment("mask", zoo, method, train_cfg=CFG, model_cfg=SMALL)
        models[method] = (model, data)
    res = downstream_pruning(models, zoo, max_models=4)
    assert set(res["methods"]) == {"original", "oracle", "wskan", "mlp-align"}
    for r in res["methods"].values():
        assert len(r["accuracy"]) == 4 and all(0 <= a <= 1 for a in r["accuracy"])
        assert len(r["accuracy_binned"]) == 5
    assert res["methods"]["original"]["kept"] == [1.0] * 4
    t = pruning_timing(*models["wskan"], zoo, repeats=2, num_models=1)
    assert t["oracle_seconds"] > 0 and t["predict_seconds"] > 0


def test_ood_on_wider_kans(tiny_zoo):
    zoo = tiny_zoo("sine", widths=(2, 4, 4, 1), num=20)
    model, data, _ = run_experiment("sine", zoo, "wskan", train_cfg=CFG, model_cfg=SMALL)
    wide = {6: tiny_zoo("sine", widths=(2, 6, 6, 1), num=8), 8: tiny_zoo("sine", widths=(2, 8, 8, 1), num=8)}
    res = evaluate_ood(model, "sine", wide, train_data=data)
    assert set(res) == {6, 8} and all(math.isfinite(r["mse"]) for r in res.values())


def test_ood_skips_widths_a_model_cannot_read(tiny_zoo):
    """Flat models read one architecture and SetTrans has an edge limit: those widths are skipped with a
    reason, the others are evaluated (one `kan ws ood` run covers every checkpoint)."""
    zoo = tiny_zoo("sine", widths=(2, 4, 4, 1), num=20)
    wide = {4: tiny_zoo("sine", widths=(2, 4, 4, 1), num=8), 8: tiny_zoo("sine", widths=(2, 8, 8, 1), num=8)}
    mlp, data, _ = run_experiment("sine", zoo, "mlp", train_cfg=CFG, model_cfg=SMALL)
    skipped: dict[int, str] = {}
    res = evaluate_ood(mlp, "sine", wide, train_data=data, skipped=skipped)
    assert (
        set(res) == {4}
        and set(skipped) == {8}
        and "FlatMLP reads KANs with 28 edges only, h=8 has 88" in skipped[8]
    )
    st, data, _ = run_experiment("sine", zoo, "settrans", train_cfg=CFG, model_cfg={**SMALL, "max_edges": 40})
    skipped = {}
    res = evaluate_ood(st, "sine", wide, train_data=data, skipped=skipped)
    assert set(res) == {4} and "max_edges=40" in skipped[8]


def test_task_zoo_mismatch_is_a_clear_error(tiny_zoo):
    with pytest.raises(ValueError, match="classifier"):
        make_task("mask", tiny_zoo("sine", num=8))


def test_training_is_a_function_of_the_seed_not_of_the_global_rng(tiny_zoo):
    """Dropout masks must not depend on the caller's global RNG state (the demo runs many fits in a row)."""
    zoo = tiny_zoo("sine", num=24)
    cfg = TrainConfig(epochs=3, batch_size=8)
    mcfg = {"hidden": 16, "depth": 2, "dropout": 0.5}

    def train(global_seed: int, seed: int = 0):
        torch.manual_seed(global_seed)
        before = torch.random.get_rng_state()
        model, _, res = run_experiment("sine", zoo, "wskan", seed=seed, train_cfg=cfg, model_cfg=mcfg)
        assert torch.equal(torch.random.get_rng_state(), before)  # the caller's RNG is left untouched
        return res["metrics"]["mse"], [p.detach().clone() for p in model.parameters()]

    mse_a, params_a = train(1)
    mse_b, params_b = train(2)
    assert mse_a == mse_b
    assert all(torch.equal(a, b) for a, b in zip(params_a, params_b))
    # negative control: another training seed gives another model
    mse_c, params_c = train(1, seed=1)
    assert not all(torch.equal(a, b) for a, b in zip(params_a, params_c))


@pytest.mark.parametrize("task,kind", [("sine", "sine"), ("accuracy", "classifier")])
def test_result_reports_raw_validation_and_epochs_from_one(tiny_zoo, tmp_path, task, kind):
    """best_val and history[*].val are in the test metric's units (raw MSE, not standardised), epochs
    count from 1, and best_epoch names the history entry whose val is best_val."""
    from kan_ws.train import predict

    zoo = tiny_zoo(kind, num=32, widths=(3, 4, 4, 2) if kind == "classifier" else (2, 4, 4, 1))
    cfg = TrainConfig(epochs=5, batch_size=4, lr=3e-3)
    model, data, res = run_experiment(task, zoo, "mlp", seed=0, train_cfg=cfg, model_cfg=SMALL)
    save_checkpoint(tmp_path / "m.safetensors", model, data, res)
    again, header = load_checkpoint(tmp_path / "m.safetensors")
    vidx = data.splits["val"]
    raw_pred = data.unnormalize(predict(again, data, vidx))
    raw_mse = M.mse(raw_pred, data.targets[vidx])
    standardised = M.mse(predict(again, data, vidx), data.train_targets()[vidx])
    assert res["val_metric"] == "mse"
    assert res["best_val"] == pytest.approx(raw_mse, rel=1e-5)
    assert header["result"]["best_val"] == res["best_val"]
    assert standardised != pytest.approx(raw_mse, rel=1e-2)  # the two scales differ on this zoo
    assert [h["epoch"] for h in res["history"]] == [1, 2, 3, 4, 5]
    assert 1 <= res["best_epoch"] <= cfg.epochs and header["result"]["best_epoch"] == res["best_epoch"]
    assert res["history"][res["best_epoch"] - 1]["val"] == res["best_val"]
    if data.out_dim == 1:  # one output: raw and standardised MSE order the epochs alike
        assert res["best_val"] == min(h["val"] for h in res["history"])


def test_selection_is_on_the_standardised_score(tiny_zoo):
    """The kept epoch minimises the standardised validation MSE, as before results were reported in raw
    units, even where one output's raw scale is 1000x the other's (raw MSE would all but ignore one)."""
    from dataclasses import replace

    from kan_ws.models import build_model
    from kan_ws.train import fit, predict

    data = make_task("sine", tiny_zoo("sine", num=32))
    scale = torch.tensor([1.0, 1000.0])
    data = replace(data, targets=data.targets * scale, target_mean=data.target_mean * scale,
                   target_std=data.target_std * scale)  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_model("mlp", data.out_dim, data.level, num_edges=data.template.num_edges,
                            edge_dim=data.feats.shape[-1], **SMALL)  # fmt: skip
    scores = []  # each epoch's standardised validation MSE, recomputed from the model after the epoch
    res = fit(
        model,
        data,
        TrainConfig(epochs=6, batch_size=4, lr=3e-3),
        log=lambda _line: scores.append(data.selection_score(predict(model, data, data.splits["val"]))),
    )
    assert len(scores) == 6 and res.best_epoch == 1 + min(range(6), key=scores.__getitem__)
    assert res.best_selection == pytest.approx(min(scores), rel=1e-6)
    assert res.best_val == res.history[res.best_epoch - 1]["val"]


def test_compiled_wskan_trains_as_the_eager_one(tiny_zoo, tmp_path):
    """``TrainConfig(compile=True)`` compiles WS-KAN's layers (dropout 0: inductor draws its own dropout
    masks) and trains to the same parameters to float rounding; its checkpoint loads into an eager model."""
    zoo = tiny_zoo("sine", num=16)
    mcfg = {"hidden": 16, "depth": 2, "dropout": 0.0}

    def train(compile_: bool):
        cfg = TrainConfig(epochs=2, batch_size=8, compile=compile_)
        return run_experiment("sine", zoo, "wskan", seed=0, train_cfg=cfg, model_cfg=mcfg)

    eager, data, res_e = train(False)
    compiled, _, res_c = train(True)
    assert all(layer._compiled_call_impl is not None for layer in compiled.layers)
    assert all(layer._compiled_call_impl is None for layer in eager.layers)
    for (name, a), (_, b) in zip(eager.state_dict().items(), compiled.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)
    assert res_c["metrics"]["mse"] == pytest.approx(res_e["metrics"]["mse"], rel=1e-3)
    save_checkpoint(tmp_path / "c.safetensors", compiled, data, res_c)
    loaded, _ = load_checkpoint(tmp_path / "c.safetensors")
    assert all(layer._compiled_call_impl is None for layer in loaded.layers)
    batch = data.feats[:4]
    from kan_ws.data import make_batch

    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(make_batch(data.template, batch)),
                                   compiled.eval()(make_batch(data.template, batch)), rtol=1e-4, atol=1e-5)  # fmt: skip
