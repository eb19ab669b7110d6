"""The generic stage runner of ``kan repro`` (kan_core.repro): order, resume, settings checks, budget."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner
from kan_core.repro import (
    Stage,
    StageSettingsError,
    apply_overrides,
    fit_count,
    markdown_table,
    pipeline_command,
    provenance_rows,
    read_record,
    report_title,
    run_stages,
    stage_order,
    write_report,
)


def _pipeline(calls: list[str]):
    def make(name, value):
        def run(ctx):
            calls.append(name)
            ctx.cuts.append(f"{name} cut")
            return {"value": value, "deps": {k: v["value"] for k, v in ctx.results.items()},
                    "budget": ctx.budget_s, "setting": ctx.settings.get("x")}  # fmt: skip

        return run

    return [
        Stage("a", make("a", 1)),
        Stage("b", make("b", 2), depends=("a",), weight=3.0),
        Stage("c", make("c", 3), depends=("b",)),
        Stage("d", make("d", 4)),
    ]


def test_stage_order_adds_dependencies_in_pipeline_order():
    stages = _pipeline([])
    assert [s.name for s in stage_order(stages, ["c"])] == ["a", "b", "c"]
    assert [s.name for s in stage_order(stages, ["d", "a"])] == ["a", "d"]
    assert [s.name for s in stage_order(stages, None)] == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match="unknown stage\\(s\\) zz; known: a, b, c, d"):
        stage_order(stages, ["zz"])


def test_run_stages_writes_records_and_skips_finished_ones(tmp_path):
    calls: list[str] = []
    stages = _pipeline(calls)
    plan = {"b": {"x": 7}}
    ran: set[str] = set()
    recs = run_stages(
        stages, out=tmp_path, scale="tiny", device="cpu", seeds=[0], plan=plan, selected=["c"], ran=ran
    )
    assert calls == ["a", "b", "c"] and ran == {"a", "b", "c"}
    assert recs["c"]["result"]["deps"] == {"b": 2}
    assert recs["b"]["result"]["setting"] == 7 and recs["b"]["cuts"] == ["b cut"]
    on_disk = json.loads((tmp_path / "stages" / "b.json").read_text())
    assert on_disk["settings"] == {"x": 7} and on_disk["seconds"] >= 0 and on_disk["budget_seconds"] is None
    assert read_record(tmp_path, "d") is None
    # a second run resumes: finished stages are not run again, the rest is
    ran2: set[str] = set()
    recs2 = run_stages(stages, out=tmp_path, scale="tiny", device="cpu", seeds=[0], plan=plan, ran=ran2)
    assert calls == ["a", "b", "c", "d"] and ran2 == {"d"}
    assert recs2["c"] == recs["c"]


def test_other_settings_raise_unless_forced(tmp_path):
    calls: list[str] = []
    stages = _pipeline(calls)
    run_stages(stages, out=tmp_path, scale="tiny", device="cpu", seeds=[0], plan={}, selected=["a"])
    with pytest.raises(
        StageSettingsError, match="a.json was made with other settings \\(scale 'tiny', seeds \\[0\\]\\)"
    ):
        run_stages(stages, out=tmp_path, scale="tiny", device="cpu", seeds=[1], plan={}, selected=["a"])
    with pytest.raises(StageSettingsError, match="other settings"):
        run_stages(stages, out=tmp_path, scale="cpu", device="cpu", seeds=[0], plan={}, selected=["a"])
    run_stages(
        stages, out=tmp_path, scale="tiny", device="cpu", seeds=[1], plan={}, selected=["a"], force=True
    )
    assert calls == ["a", "a"] and read_record(tmp_path, "a")["seeds"] == [1]


def test_unseeded_stage_is_reused_by_other_seeds_but_not_other_settings(tmp_path):
    calls: list[str] = []
    stages = [Stage("zoo", lambda ctx: calls.append("zoo") or {}, seeded=False),
              Stage("fit", lambda ctx: calls.append("fit") or {}, depends=("zoo",))]  # fmt: skip
    run_stages(stages, out=tmp_path, scale="tiny", device="cpu", seeds=[0, 1], plan={}, selected=["fit"])
    recs = run_stages(stages, out=tmp_path, scale="tiny", device="cpu", seeds=[0], plan={}, force=False,
                      selected=["zoo"])  # fmt: skip
    assert calls == ["zoo", "fit"] and recs["zoo"]["seeds"] == [0, 1]
    # the seeded stage is not reused across seeds (negative control), the unseeded one still is
    with pytest.raises(StageSettingsError, match="fit.json was made with other settings"):
        run_stages(stages, out=tmp_path, scale="tiny", device="cpu", seeds=[0], plan={}, selected=["fit"])
    # other settings of the unseeded stage itself still raise
    with pytest.raises(StageSettingsError, match="zoo.json was made with other settings"):
        run_stages(stages, out=tmp_path, scale="tiny", device="cpu", seeds=[0], plan={"zoo": {"n": 2}},
                   selected=["zoo"])  # fmt: skip


def test_budget_is_shared_by_weight(tmp_path):
    recs = run_stages(_pipeline([]), out=tmp_path, scale="tiny", device="cpu", seeds=[0], plan={},
                      budget_s=60.0)  # fmt: skip
    # weights 1, 3, 1, 1 of 60 s: a gets 60/6; the stages take no time, so what a leaves flows on:
    # b gets 3/5 of the ~60 still left, c 1/2 of it, d (the last) all of it
    assert recs["a"]["result"]["budget"] == pytest.approx(10.0, abs=0.5)
    assert recs["b"]["result"]["budget"] == pytest.approx(36.0, abs=0.5)
    assert recs["c"]["result"]["budget"] == pytest.approx(30.0, abs=0.5)
    assert recs["d"]["result"]["budget"] == pytest.approx(60.0, abs=0.5)


def test_fit_count():
    assert fit_count(10.0, 1.0, 100) == 10
    assert fit_count(10.0, 1.0, 5) == 5
    assert fit_count(0.1, 1.0, 5, minimum=2) == 2
    assert fit_count(10.0, 0.0, 7) == 7
    with pytest.raises(ValueError, match="wanted \\(1\\) must be >= minimum \\(2\\)"):
        fit_count(1.0, 1.0, 1, minimum=2)


def test_report_files(tmp_path):
    assert markdown_table(("a", "b"), [["x", 0.5], ["y", None], ["z", 1e-5]]) == (
        "| a | b |\n|---|---|\n| x | 0.50 |\n| y | n/a |\n| z | 1e-05 |\n"
    )
    tables = [{"key": "t1", "title": "T1", "columns": ["m", "ours", "paper"], "rows": [["WS", 0.9, 0.8]],
               "verdict": "holds", "note": "n"}]  # fmt: skip
    paths = write_report(tmp_path, "Title", [["s", 1.0, None, "ran", ""]], tables)
    md = paths[0].read_text()
    assert md.startswith("# Title\n\n## Stages\n") and "## T1" in md and "**Verdict.** holds" in md
    assert paths[1].read_text().splitlines() == [
        "table,row,column,value",
        "t1,WS,ours,0.9",
        "t1,WS,paper,0.8",
    ]
    assert json.loads(paths[2].read_text())["tables"][0]["verdict"] == "holds"


def test_report_title_and_provenance_name_each_stage_scale():
    stages = [Stage("a", lambda ctx: {}), Stage("b", lambda ctx: {}), Stage("c", lambda ctx: {})]
    same = {"a": {"scale": "paper"}, "b": {"scale": "paper"}}
    assert report_title("X paper", "paper", same) == "X paper reproduction, scale paper"
    mixed = {"a": {"scale": "paper"}, "b": {"scale": "cpu"}, "c": {"scale": "paper"}}
    assert report_title("X paper", "paper", mixed) == "X paper reproduction, scales cpu (b); paper (a, c)"
    prov = {"command": "kan repro x", "revision": "abc", "cpu": "AMD EPYC", "cpus": 2, "threads": 1, "finished": "t"}
    rows = provenance_rows(stages, {"b": {"scale": "cpu", "provenance": prov}, "c": {"scale": "paper"}})
    assert rows == [
        ["b", "cpu", "kan repro x", "abc", "AMD EPYC (2 CPUs)", 1, "t"],
        ["c", "paper", "not recorded", "not recorded", "not recorded", None, None],
    ]


def test_pipeline_command_errors_and_report_only(tmp_path):
    calls: list[str] = []
    written: list[set[str]] = []

    def report(folder, scale, stages, records, ran):
        written.append(set(records))
        return write_report(folder, "R", [], [])

    cmd = pipeline_command("demo", help_text="x", stages=lambda: _pipeline(calls), plan=lambda s: {},
                           report=report, default_seeds={"tiny": "0", "cpu": "0", "paper": "0"})  # fmt: skip
    group = click.Group("g", commands={"demo": cmd})
    r = CliRunner().invoke(group, ["demo", "--out", str(tmp_path), "--stages", "a,zz", "--device", "cpu"])
    assert r.exit_code == 2 and "unknown stage(s) zz; known: a, b, c, d" in r.output and not calls
    r = CliRunner().invoke(group, ["demo", "--out", str(tmp_path), "--seeds", "0,x", "--device", "cpu"])
    assert r.exit_code == 2 and "expected comma-separated integers, got '0,x'" in r.output
    r = CliRunner().invoke(group, ["demo", "--out", str(tmp_path), "--stages", "a", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert calls == ["a"] and written == [{"a"}]
    r = CliRunner().invoke(group, ["demo", "--out", str(tmp_path), "--report-only", "--device", "cpu"])
    assert r.exit_code == 0 and calls == ["a"] and written[-1] == {"a"}
    r = CliRunner().invoke(group, ["demo", "--out", str(tmp_path), "--seeds", "3", "--device", "cpu"])
    assert r.exit_code == 1 and r.output.startswith("Error: ") and "--force" in r.output


def test_apply_overrides_changes_a_copy_and_notes_the_scale_value():
    plan = {"pde": {"dims": [20, 50, 100], "steps": 600}, "memory": {}}
    new, notes = apply_overrides(plan, ["pde.dims=[20, 50]", 'pde.steps=10'])
    assert new["pde"] == {"dims": [20, 50], "steps": 10} and plan["pde"]["dims"] == [20, 50, 100]
    assert notes == {"pde": ["dims [20, 50] set by --set (the scale's plan: [20, 50, 100])",
                             "steps 10 set by --set (the scale's plan: 600)"]}  # fmt: skip
    assert apply_overrides(plan, []) == (plan, {})
    with pytest.raises(ValueError, match=r"expected STAGE.KEY=VALUE, got 'pde=3'"):
        apply_overrides(plan, ["pde=3"])
    with pytest.raises(ValueError, match=r"stage 'memory' has no settings at this scale; stages with settings: pde"):
        apply_overrides(plan, ["memory.x=1"])
    with pytest.raises(ValueError, match=r"stage 'pde' has no setting 'dim'; its settings: dims, steps"):
        apply_overrides(plan, ["pde.dim=1"])
    with pytest.raises(ValueError, match=r"'pde.steps=ten': the value must be JSON"):
        apply_overrides(plan, ["pde.steps=ten"])


def test_pipeline_command_set_reaches_the_stage_and_its_record(tmp_path):
    calls: list[str] = []

    def report(folder, scale, stages, records, ran):
        return write_report(folder, "R", [], [])

    cmd = pipeline_command("demo", help_text="x", stages=lambda: _pipeline(calls), plan=lambda s: {"b": {"x": 7}},
                           report=report, default_seeds={"tiny": "0", "cpu": "0", "paper": "0"})  # fmt: skip
    group = click.Group("g", commands={"demo": cmd})
    out = tmp_path / "run"
    r = CliRunner().invoke(group, ["demo", "--out", str(out), "--set", "b.y=1", "--device", "cpu"])
    assert r.exit_code == 2 and "stage 'b' has no setting 'y'; its settings: x" in r.output
    assert not calls and not out.exists()  # rejected before any work or folder
    r = CliRunner().invoke(group, ["demo", "--out", str(out), "--stages", "b", "--set", "b.x=9", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    rec = read_record(out, "b")
    assert rec["result"]["setting"] == 9 and rec["settings"] == {"x": 9}
    assert rec["cuts"] == ["x 9 set by --set (the scale's plan: 7)", "b cut"]
    # the scale's own plan is another setting: the record is not reused without --force
    r = CliRunner().invoke(group, ["demo", "--out", str(out), "--stages", "b", "--device", "cpu"])
    assert r.exit_code == 1 and "--force" in r.output


def test_pipeline_compile_option_reaches_the_stages_but_not_their_settings(tmp_path):
    seen: list[bool] = []

    def stages():
        return [Stage("a", lambda ctx: seen.append(ctx.compile) or {"value": 1})]

    def report(folder, scale, stages, records, ran):
        return write_report(folder, "R", [], [])

    seeds = {"tiny": "0"}
    with_opt = pipeline_command("demo", help_text="x", stages=stages, plan=lambda s: {}, report=report,
                                default_seeds=seeds, compiles="the demo's layers")  # fmt: skip
    without = pipeline_command("plain", help_text="x", stages=stages, plan=lambda s: {}, report=report,
                               default_seeds=seeds)  # fmt: skip
    group = click.Group("g", commands={"demo": with_opt, "plain": without})
    r = CliRunner().invoke(group, ["demo", "--out", str(tmp_path / "x"), "--compile", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert seen == [True] and "torch.compile the demo's layers" in CliRunner().invoke(group, ["demo", "--help"]).output
    rec = read_record(tmp_path / "x", "a")
    assert rec["settings"] == {}  # the record's command line (sys.argv) is what says --compile
    # how a stage ran is no setting: the record made with --compile is reused without it
    r = CliRunner().invoke(group, ["demo", "--out", str(tmp_path / "x"), "--device", "cpu"])
    assert r.exit_code == 0 and seen == [True]
    r = CliRunner().invoke(group, ["demo", "--out", str(tmp_path / "y"), "--device", "cpu"])
    assert r.exit_code == 0 and seen == [True, False]
    r = CliRunner().invoke(group, ["plain", "--out", str(tmp_path / "z"), "--compile", "--device", "cpu"])
    assert r.exit_code == 2 and "No such option '--compile'" in r.output
