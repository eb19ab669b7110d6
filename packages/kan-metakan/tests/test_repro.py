"""``kan repro metakan``: plans, the paper's numbers as data, tables and verdicts from rows."""

from __future__ import annotations

import pytest
from kan_metakan.repro import STAGES, build_tables, make_plan, paper_numbers


def test_paper_numbers_and_plans():
    p = paper_numbers()["tables"]
    assert p["feynman"]["rows"]["I.12.5"]["G5"] == [1.32e-3, 57, 1.16e-4, 30]
    assert p["highdim"]["rows"]["f2"]["50"][1] is None  # printed 'NA'
    assert p["pde"]["rows"]["poisson"]["20"] == [5.24e-4, 24480, 2.96e-3, 4137]
    assert p["images"]["rows"]["FMNIST|32"]["G3"] == [177898, 84.59, 27456, 87.28]
    names = {s.name for s in STAGES}
    for scale in ("tiny", "cpu", "paper"):
        assert set(make_plan(scale, available=lambda n: False)) == names
    assert make_plan("cpu", available=lambda n: True)["images"]["datasets"] == ["fashion-mnist"]
    assert make_plan("paper", available=lambda n: False)["pde"]["dims"] == [20, 50, 100]
    with pytest.raises(ValueError, match="unknown scale 'x'"):
        make_plan("x")


def test_feynman_table_counts_wins_against_the_paper():
    rows = [
        {
            "equation": "I.12.5",
            "G": 5,
            "kan_mse": 1e-3,
            "metakan_mse": 1e-4,
            "kan_params": 60,
            "metakan_params": 30,
        },
        {
            "equation": "I.14.3",
            "G": 5,
            "kan_mse": 1e-4,
            "metakan_mse": 1e-3,
            "kan_params": 80,
            "metakan_params": 40,
        },
    ]
    (t,) = build_tables({"feynman": {"result": {"rows": rows}}})
    assert t["rows"][0] == ["I.12.5 G=5", 1e-3, 1e-4, 60, 30, 1.32e-3, 1.16e-4, 57, 30]
    assert "in 1 of 2 rows" in t["verdict"] and "paper 2 of 2" in t["verdict"]
    assert "The same winner as the paper's in 1 of 2 rows." in t["verdict"]  # I.14.3: ours KAN, paper MetaKAN
    assert "median 0.50" in t["verdict"]


def test_feynman_rows_name_the_metakan_settings_chosen_on_validation():
    row = {"equation": "I.12.5", "G": 20, "kan_mse": 1e-3, "metakan_mse": 1e-4, "kan_params": 60, "metakan_params": 30}
    chosen = {**row, "metakan_prompt_dim": 4, "metakan_clusters": 2}
    older = {**row, "metakan_prompt_dim": 4}  # records from before the cluster choice
    (t,) = build_tables({"feynman": {"result": {"rows": [chosen, older, row]}}})
    assert [r[0] for r in t["rows"]] == ["I.12.5 G=20 (dim z 4, C 2)", "I.12.5 G=20 (dim z 4)", "I.12.5 G=20"]


def test_memory_verdict():
    rows = [{"widths": "64-8-10", "connections": 592, "G": 5, "kan_MiB": 2.0, "metakan_MiB": 1.5,
             "metakan-efficient_MiB": 1.0},
            {"widths": "64-64-10", "connections": 4736, "G": 5, "kan_MiB": 9.0, "metakan_MiB": 4.0,
             "metakan-efficient_MiB": 2.0}]  # fmt: skip
    (t,) = build_tables({"memory": {"result": {"rows": rows}}})
    assert "below the KAN in 2 of 2 settings and at or below the plain MetaKAN in 2 of 2; the saving grows" in t[
        "verdict"
    ]
    assert t["rows"][1][5] == 2.0 / 9.0 and "Against G" not in t["verdict"]
    # a grid sweep at one width: the ratio per G and whether it falls; an efficient peak above the plain one
    sweep = [{"widths": "64-64-10", "connections": 4736, "G": g, "kan_MiB": k, "metakan_MiB": 4.0,
              "metakan-efficient_MiB": e} for g, k, e in ((10, 12.0, 3.0), (20, 20.0, 4.5))]  # fmt: skip
    (t,) = build_tables({"memory": {"result": {"rows": rows + sweep}}})
    assert "at or below the plain MetaKAN in 3 of 4" in t["verdict"]
    assert "ratio is 0.222 at G=5, 0.250 at G=10, 0.225 at G=20: not falling at every step." in t["verdict"]
    sweep[1]["metakan-efficient_MiB"] = 4.0
    (t,) = build_tables({"memory": {"result": {"rows": rows + sweep[1:]}}})
    assert "ratio is 0.222 at G=5, 0.200 at G=20: falling at every step." in t["verdict"]


def test_scale_settings_cuts_knobs_in_order_down_to_their_floors():
    from kan_metakan.repro import scale_settings

    knobs = ((("epochs",), 1), (("max_train",), 500))
    s = {"epochs": 10, "max_train": 10000, "other": 3}
    assert scale_settings(s, knobs, 1.0) == (s, 1.0)
    half, r = scale_settings(s, knobs, 0.5)
    assert half == {"epochs": 5, "max_train": 10000, "other": 3} and r == 0.5
    tiny, r = scale_settings(s, knobs, 0.01)  # epochs to its floor first, then the data
    assert tiny["epochs"] == 1 and tiny["max_train"] == 1000 and r == pytest.approx(0.01)
    floor, r = scale_settings(s, knobs, 1e-6)
    assert floor["epochs"] == 1 and floor["max_train"] == 500 and r == pytest.approx(0.005)


def test_scale_settings_cuts_a_group_together():
    from kan_metakan.repro import KNOBS, scale_settings

    s = {"steps": 600, "metakan_steps": 2000, "n_interior": 1000, "metakan_n_interior": 500}
    half, r = scale_settings(s, KNOBS["pde"], 0.5)
    assert (
        half == {"steps": 300, "metakan_steps": 1000, "n_interior": 1000, "metakan_n_interior": 500}
        and r == 0.5
    )
    low, r = scale_settings(s, KNOBS["pde"], 0.001)
    assert low == {"steps": 20, "metakan_steps": 20, "n_interior": 100, "metakan_n_interior": 100}


def test_items_are_reused_by_a_run_over_more_items(tmp_path):
    pytest.importorskip("kan.feynman")
    from kan_core.repro import apply_overrides, run_stages

    plan = make_plan("tiny", available=lambda n: False)
    one, _ = apply_overrides(plan, ['feynman.equations=["I.12.5"]'])
    kw = dict(out=tmp_path, scale="tiny", device="cpu", seeds=[0], selected=["feynman"], force=True)
    first = run_stages(STAGES, plan=one, **kw)["feynman"]["result"]
    both = run_stages(STAGES, plan=plan, **kw)["feynman"]["result"]
    assert both["items_resumed"] == 1 and both["items_run"] == 2  # run: done in all, resumed included
    assert both["rows"][0] == first["rows"][0] and both["rows"][1]["equation"] == "I.14.3"
    # another setting of the items themselves is not reused (negative control)
    fewer_steps, _ = apply_overrides(plan, ["feynman.steps=2"])
    again = run_stages(STAGES, plan=fewer_steps, **kw)["feynman"]["result"]
    assert again["items_resumed"] == 0


def test_kept_items_name_the_revision_the_run_started_with(tmp_path, monkeypatch):
    """A commit landing while a long stage runs must not be credited with the items finished after it."""
    import json

    import kan_core.repro
    from kan_core.repro import run_stages

    heads = iter(f"rev{i}" for i in range(100))
    monkeypatch.setattr(kan_core.repro, "git_revision", lambda path=None: next(heads))
    plan = make_plan("tiny", available=lambda n: False)
    run_stages(STAGES, plan=plan, out=tmp_path, scale="tiny", device="cpu", seeds=[0], selected=["highdim"])
    kept = [json.loads(p.read_text()) for p in sorted((tmp_path / "work" / "highdim" / "items").glob("*.json"))]
    assert len(kept) == 3 and len({k["revision"] for k in kept}) == 1  # negative control: heads differ per call


def test_pde_stage_builds_the_metakan_its_settings_name(tmp_path):
    from kan_core.repro import apply_overrides, run_stages
    from kan_metakan.counting import count_trainable
    from kan_metakan.models import MetaKAN

    plan = make_plan("tiny", available=lambda n: False)
    plan, _ = apply_overrides(plan, ['pde.equations=["poisson"]', "pde.prompt_dim=1", "pde.clusters=1",
                                     "pde.steps=1", "pde.metakan_steps=1"])  # fmt: skip
    rec = run_stages(STAGES, plan=plan, out=tmp_path, scale="tiny", device="cpu", seeds=[0], selected=["pde"])["pde"]
    (row,) = rec["result"]["rows"]
    want = MetaKAN.from_widths([5, 8, 8, 1], grid_size=5, hidden=16, prompt_dim=1, clusters=1)
    assert row["metakan_params"] == count_trainable(want)
    # negative control: the tiny plan's own prompt dimension 4 and 3 meta-learners give another count
    assert count_trainable(MetaKAN.from_widths([5, 8, 8, 1], grid_size=5, hidden=16, prompt_dim=4, clusters=3)) != (
        row["metakan_params"]
    )
    assert not any("prompt dimension" in c for c in rec["cuts"])


def test_conv_verdict_gives_each_meta_networks_gap_to_its_plain_twin():
    rows = [{"dataset": "fashion-mnist", "kind": k, "plain_acc": a, "meta_acc": b, "plain_params": 100,
             "meta_params": 20, "meta_clusters": c} for k, a, b, c in (("kan", 88.6, 86.8, 1), ("kaln", 88.0, 85.5, 4))]  # fmt: skip
    (t,) = build_tables({"conv": {"result": {"rows": rows}}})
    assert [r[0] for r in t["rows"]] == ["kan (Meta C 1)", "kaln (Meta C 4)"]
    assert t["verdict"].endswith("Meta within 2 points of its plain twin in 1 of 2 kinds (plain minus Meta: kan +1.80, kaln +2.50).")
