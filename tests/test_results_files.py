"""The committed results of long runs (``results/<paper>/``) parse and say how they were made.

Each results folder holds the report of ``kan repro`` (``tables.json``, ``tables.md``, ``tables.csv``), the
stage records it was built from (``stages/<stage>.json``), records its README quotes beside them
(``earlier/``, ``variants/``) and a ``README.md``. Every stage record must name
the command that made it, the git revision, the CPU and the thread count, and the report must list the
same stages, so a reader can rerun any one of them.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

RESULTS = Path(__file__).resolve().parent.parent / "results"
FOLDERS = sorted(p for p in RESULTS.iterdir() if p.is_dir()) if RESULTS.is_dir() else []
REVISION = re.compile(r"^[0-9a-f]{40}(-dirty)?$")


def test_results_folders_exist():
    assert {p.name for p in FOLDERS} >= {"metakan", "wskan"}, f"no committed results under {RESULTS}"


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_stage_records_name_command_revision_cpu(folder):
    records = sorted((folder / "stages").glob("*.json"))
    assert records, f"{folder}: no stages/*.json"
    # records a README quotes beside the report's: earlier runs and runs of another configuration
    records += sorted(folder.glob("earlier/*.json")) + sorted(folder.glob("variants/*.json"))
    for path in records:
        rec = json.loads(path.read_text())
        prov = rec.get("provenance") or {}
        assert prov.get("command", "").startswith("kan repro "), f"{path}: no 'kan repro' command"
        assert REVISION.match(prov.get("revision", "")), f"{path}: revision {prov.get('revision')!r}"
        assert prov.get("cpu") and isinstance(prov.get("threads"), int), f"{path}: CPU/threads missing"
        assert isinstance(rec.get("seconds"), (int, float)) and rec["seconds"] > 0, f"{path}: no wall time"
        assert rec["result"] and not rec["result"].get("skipped"), f"{path}: a finished stage without a result"
        zoo = rec["result"].get("zoo")
        if zoo is not None:  # a stage trained on a model zoo names the zoo it read (zoos stay out of git)
            assert re.fullmatch(r"[0-9a-f]{64}", zoo.get("manifest_sha256", "")), f"{path}: no zoo digest"


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_report_parses_and_matches_the_records(folder):
    report = json.loads((folder / "tables.json").read_text())
    stages = {p.stem for p in (folder / "stages").glob("*.json")}
    assert {r["stage"] for r in report["runs"]} == stages, "report and stage records disagree"
    for run in report["runs"]:
        assert run["command"].startswith("kan repro ") and REVISION.match(run["revision"])
    assert report["tables"], "a report without tables"
    for table in report["tables"]:
        assert table["verdict"]
        for row in table["rows"]:
            assert len(row) == len(table["columns"]), f"{table['key']}: ragged row {row[0]}"
    with open(folder / "tables.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["table", "row", "column", "value"] and len(rows) > 1
    md = (folder / "tables.md").read_text()
    assert "## Where each stage ran" in md and all(t["title"] in md for t in report["tables"])


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_readme_names_each_stage_and_its_command(folder):
    text = (folder / "README.md").read_text()
    for run in json.loads((folder / "tables.json").read_text())["runs"]:
        assert run["stage"] in text, f"{folder / 'README.md'} does not mention stage {run['stage']}"
    assert "kan repro" in text and "Verdict" in text
