"""``kan repro wskan``: plans, the paper's numbers as data, and the verdict arithmetic."""

from __future__ import annotations

import math

import pytest
from kan_ws.repro.plan import make_plan
from kan_ws.repro.report import build_tables, check_order, kendall_tau, paper_column, paper_numbers
from kan_ws.repro.stages import STAGES


def test_paper_numbers_are_transcribed_with_table_and_row():
    p = paper_numbers()["tables"]
    assert p["inr"]["title"].startswith("Table 1") and p["inr"]["rows"]["wskan"][1] == [84.6, 0.6]
    assert p["accuracy_mse"]["rows"]["mlp"][0] == [14.58, 0.02]
    assert p["mask_roc_auc"]["rows"]["wskan"][2] == [99.46, 0.09]
    assert p["ood"]["rows"]["MNIST"][4] == [57.1, 6.1]
    assert p["ablation_accuracy_r2"]["rows"]["wskan-nope"][0] == [96.00, 0.35]
    for t in p.values():
        for row in t["rows"].values():
            assert len(row) == len(t["columns"])


def test_plans_name_existing_stages_and_fall_back_to_digits():
    names = {s.name for s in STAGES}
    for scale in ("tiny", "cpu", "cpu-full", "paper"):
        plan = make_plan(scale, available=lambda name: False)
        assert set(plan) == names
        assert plan["zoo-inr"]["preset"].startswith("digits") and plan["inr"]["dataset"] == "digits"
        for name in ("sine", "inr", "accuracy", "mask"):
            assert plan[name]["grid"] and plan[name]["zoo"] in names
    fm = make_plan("cpu", available=lambda name: name == "fashion-mnist")
    assert fm["zoo-inr"]["preset"] == "fmnist-inr-cpu-large" and fm["zoo-ood"]["widths"][0] == 16
    assert make_plan("paper", available=lambda n: True)["zoo-inr"]["preset"] == "fmnist-inr-paper"
    full = make_plan("cpu-full", available=lambda n: True)
    assert full["zoo-inr"]["preset"] == "fmnist-inr-paper" and full["zoo-inr"]["models"] == 22000
    assert (
        full["zoo-inr"]["overrides"]["splits"] == (10000, 2000, 10000) and full["zoo-sine"]["models"] == 1000
    )
    assert make_plan("tiny", available=lambda n: True)["zoo-inr"]["preset"] == "digits-inr-cpu"
    # Tables 3-4: the paper's six methods (no SetTrans) at the paper's data scale, all seven below it
    six = ["wskan", "deepsets", "mlp-align", "dmc", "mlp-aug", "mlp"]
    assert full["accuracy"]["methods"] == six and full["mask"]["save"] == six
    assert full["zoo-clf"]["preset"] == "fmnist-clf-paper" and full["zoo-clf"]["epochs"] == 1
    assert "settrans" in make_plan("cpu", available=lambda n: True)["mask"]["methods"]
    with pytest.raises(ValueError, match="unknown scale 'huge'; choose from tiny, cpu, cpu-full, paper"):
        make_plan("huge")


def test_order_checks_and_kendall_tau():
    vals = {"wskan": 0.9, "settrans": 0.8, "mlp": 0.1}
    assert check_order(vals, ("wskan", "settrans", "mlp"), True) is True
    assert check_order(vals, ("mlp", "wskan"), True) is False
    assert check_order(vals, ("mlp", "wskan"), False) is True
    assert check_order(vals, ("wskan", "dmc"), True) is None
    assert kendall_tau(["a", "b", "c"], ["a", "b", "c"]) == 1.0
    assert kendall_tau(["a", "b", "c"], ["c", "b", "a"]) == -1.0
    assert math.isnan(kendall_tau(["a"], ["a", "b"]))
    assert paper_column("fashion-mnist") == "F-MNIST" and paper_column("digits") == "MNIST"


def _method(acc, cfg=None):
    cfg = cfg or {"hidden": 32, "depth": 3, "dropout": 0.0, "lr": 2e-3}
    return {"mean": {"accuracy": acc}, "std": {"accuracy": 0.01}, "selected": cfg, "epochs": 5,
            "searched": [{"config": cfg, "val": acc}, {"config": cfg, "val": acc - 0.1}], "batch_size": 32}  # fmt: skip


def test_inr_table_and_verdict_from_numbers():
    zoo = {"models": 100, "widths": [2, 16, 16, 1], "dataset": "fashion-mnist"}
    res = {"methods": {"mlp": _method(0.4), "mlp-aug": _method(0.5), "mlp-align": _method(0.6),
                       "settrans": _method(0.7), "wskan": _method(0.8)},
           "skipped": {"dmc": "too wide"}, "zoo": zoo}  # fmt: skip
    rec = {"result": res, "scale": "cpu", "seeds": [0, 1, 2]}
    (t,) = build_tables({"inr": rec})
    assert t["columns"][3] == "paper F-MNIST acc %"
    wsk = next(r for r in t["rows"] if r[0] == "WS-KAN")
    assert wsk[1] == pytest.approx(80.0) and wsk[3] == 84.6 and "best of 2 on val" in wsk[5]
    assert next(r for r in t["rows"] if r[0] == "DMC")[5] == "skipped: too wide"
    assert wsk[2] == pytest.approx(1.0)
    one = _method(0.3)  # one seed and one setting: no spread, no search
    one.update(runs=[{"seed": 0}], searched=one["searched"][:1])
    (t1,) = build_tables({"inr": {**rec, "result": {**res, "methods": {**res["methods"], "mlp": one}}}})
    mlp = next(r for r in t1["rows"] if r[0] == "MLP")
    assert mlp[2] is None and mlp[5].endswith("(the only setting: no search)")
    v = t["verdict"]
    assert "WS-KAN ranks 1 of 5" in v and "(paper: 1 of 7)" in v
    assert "'WS-KAN > SetTrans' holds." in v and "'MLP + Align. > MLP + Aug. > MLP' holds." in v
    # negative control: swap two baselines and the claimed ordering no longer holds
    res["methods"]["mlp"] = _method(0.55)
    (t2,) = build_tables({"inr": rec})
    assert "'MLP + Align. > MLP + Aug. > MLP' does not hold." in t2["verdict"]


def test_cpu_full_ood_reads_the_learning_curve_not_the_inr_stage():
    from kan_core.repro import stage_depends, stage_order

    full = make_plan("cpu-full", available=lambda n: True)
    assert [s.name for s in stage_order(STAGES, ["ood"], full)] == ["zoo-inr", "zoo-ood", "inr-curve", "ood"]
    cpu = make_plan("cpu", available=lambda n: True)
    assert [s.name for s in stage_order(STAGES, ["ood"], cpu)] == ["zoo-inr", "zoo-ood", "inr", "ood"]
    ood = next(s for s in STAGES if s.name == "ood")
    assert stage_depends(ood, cpu) == ("inr", "zoo-ood") and stage_depends(ood, None) == ood.depends


def test_curve_table_counts_epochs_from_one_also_for_rows_written_from_zero():
    """inr-curve rows count best_epoch from 1 (as fit does); a row from before (no "epoch_numbering",
    counted from 0: a kept per-size file or a finished stage record) is shifted once, a new one never."""
    from kan_ws.repro.stages import EPOCHS_FROM_ONE, best_epoch_from_one

    new = {"train_inrs": 16, "epochs": 5, "accuracy": 0.5, "best_val": 0.4, "best_epoch": 5, **EPOCHS_FROM_ONE,
           "train_seconds": 1.0}  # fmt: skip
    legacy = {**{k: v for k, v in new.items() if k != "epoch_numbering"}, "train_inrs": 8, "best_epoch": 4}
    assert best_epoch_from_one(new) == 5 and best_epoch_from_one(legacy) == 5
    curve = {"method": "wskan", "config": {"hidden": 8, "depth": 2, "dropout": 0.0, "lr": 1e-3}, "seed": 0,
             "min_passes": 30, "val_inrs": 4, "test_inrs": 4, "rows": [legacy, new],
             "zoo": {"dataset": "digits"}}  # fmt: skip
    (table,) = build_tables({"inr-curve": {"result": curve}})
    col = table["columns"].index("best epoch")
    assert [row[col] for row in table["rows"]] == [5, 5]


def test_sweep_tables_pick_the_best_per_size_by_each_metric_and_draw(tmp_path):
    from kan_ws.repro.report import _figure

    r2 = {"wskan": {"100": [0.9, 0.8], "200": [0.95]}, "deepsets": {"100": [0.7], "200": [0.97]}}
    mse = {"wskan": {"100": [0.1, 0.3], "200": [0.05]}, "deepsets": {"100": [0.4], "200": [0.08]}}
    res = {"sizes": [100, 200], "full_size": 800, "r2": r2, "mse": mse,
           "r2_full": {"wskan": [0.99], "deepsets": [0.98]}, "mse_full": {"wskan": [0.01], "deepsets": [0.02]}}  # fmt: skip
    records = {"sine-sweep": {"result": res}}
    t_r2, t_mse = build_tables(records)
    assert t_r2["columns"] == ["method", "n=100", "n=200", "n=800 (all)"]
    ws = next(r for r in t_r2["rows"] if r[0] == "WS-KAN")
    assert ws[1:] == pytest.approx([0.85, 0.95, 0.99])
    # R^2: the highest wins (DeepSets at 200); MSE: the lowest (WS-KAN at 200, negative control of the max)
    assert "WS-KAN has the best R^2 at 2 of 3" in t_r2["verdict"] and "200: DeepSets" in t_r2["verdict"]
    assert t_mse["key"] == "sine-sweep-mse" and "WS-KAN has the best MSE at 3 of 3" in t_mse["verdict"]
    # a record from before the sweep kept MSE gives the R^2 table alone
    old = {k: v for k, v in res.items() if not k.startswith("mse")}
    assert [t["key"] for t in build_tables({"sine-sweep": {"result": old}})] == ["sine-sweep"]
    assert _figure(tmp_path / "f.png", records, [t_r2, t_mse]).is_file()
