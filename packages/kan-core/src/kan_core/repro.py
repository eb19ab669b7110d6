"""``kan repro``: papers' pipelines as resumable, budgeted stages (the generic part).

A pipeline is an ordered list of :class:`Stage` objects. :func:`run_stages` runs the selected ones (and the
ones they depend on) in order; each writes ``<out>/stages/<name>.json`` holding its result dictionary, its
wall time, its budget, the settings it ran with and what it cut against the paper. A stage whose record is
already there with the same settings is skipped (so an interrupted run resumes at the first unfinished
stage); a record made with other settings is an error unless ``force`` is set.

Budget: with ``budget_s`` set, each stage is given ``remaining * weight / (weights of the stages still to
run)`` seconds, so time a stage leaves unused flows to the next ones. The stage sizes its own work from
that number (:func:`fit_count` is the usual arithmetic) and reports its cuts.

The ``repro`` click group lives here; packages add their pipelines to it through the ``kan.repro`` entry
point group (``wskan = "kan_ws.repro.cli:wskan"``), loaded lazily like ``kan``'s own subcommands. This
module imports neither torch nor any sibling package.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from .cli_options import (
    compile_option,
    device_option,
    force_option,
    lock_output,
    quiet_option,
    threads_option,
)

__all__ = [
    "Stage",
    "StageContext",
    "StageSettingsError",
    "run_stages",
    "stage_order",
    "stage_depends",
    "read_record",
    "fit_count",
    "write_json_atomic",
    "provenance",
    "provenance_rows",
    "report_title",
    "write_stage_report",
    "repro",
    "ENTRY_POINT_GROUP",
]

ENTRY_POINT_GROUP = "kan.repro"


class StageSettingsError(RuntimeError):
    """A stage's record on disk was made with other settings (scale, seeds, plan)."""


@dataclass(frozen=True)
class Stage:
    """One resumable step of a pipeline.

    Attributes:
        name: file-name-safe identifier (``zoo-sine``); depends: names of stages whose results it reads.
        run: ``run(ctx) -> dict`` (JSON-able); it may append to ``ctx.cuts``. A stage that resumes work
            kept by an interrupted run reports that work's seconds as ``"seconds_resumed"``; the record's
            ``seconds`` include them.
        weight: its share of the budget, relative to the other stages'.
        doc: one line for ``--help`` and the report.
        seeded: whether its result depends on the run's seeds; an unseeded stage's record (a zoo, which
            has its own seed) is reused by runs with other ``--seeds``.
    """

    name: str
    run: Callable[[StageContext], dict[str, Any]]
    depends: tuple[str, ...] = ()
    weight: float = 1.0
    doc: str = ""
    seeded: bool = True


@dataclass
class StageContext:
    """What a running stage sees.

    Attributes:
        out: the run folder; work: ``out/work/<stage>`` (scratch and checkpoints, created on demand).
        settings: this stage's plan (the scale's values, JSON-able); results: finished stages' results.
        budget_s: seconds this stage may take (``None``: no budget, run the plan as it is).
        compile: ``torch.compile`` what the pipeline can compile (``--compile``): how it runs, not what it
            computes, so it is no setting of the stage (its record's command line says it).
    """

    name: str
    out: Path
    scale: str
    device: str
    seeds: tuple[int, ...]
    settings: dict[str, Any]
    results: dict[str, dict[str, Any]]
    budget_s: float | None
    log: Callable[[str], None]
    cuts: list[str] = field(default_factory=list)
    compile: bool = False

    @property
    def work(self) -> Path:
        path = self.out / "work" / self.name
        path.mkdir(parents=True, exist_ok=True)
        return path


def write_json_atomic(path: Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=False, allow_nan=True)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def cpu_model() -> str:
    """The CPU's model name as the OS reports it (``/proc/cpuinfo`` on Linux, else :mod:`platform`)."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def git_revision(path: str | os.PathLike | None = None) -> str:
    """The git commit of the checkout holding ``path`` (this file's by default), ``-dirty`` appended when the
    tracked files differ from it; ``"unknown"`` outside a git checkout (an installed wheel)."""
    import subprocess

    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev + ("-dirty" if dirty else "")


def provenance(command: Sequence[str] | None = None) -> dict[str, Any]:
    """Where and how a stage ran: the command line, git revision, CPU model, CPU count, torch's thread
    count and version (imports torch)."""
    import shlex
    import sys

    import torch

    argv = list(sys.argv[1:] if command is None else command)
    return {
        "command": "kan " + shlex.join(argv) if command is None else shlex.join(argv),
        "revision": git_revision(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def _settings_key(scale: str, seeds: Sequence[int], settings: dict[str, Any]) -> str:
    blob = json.dumps({"scale": scale, "seeds": list(seeds), "settings": settings}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def record_path(out: Path, name: str) -> Path:
    return Path(out) / "stages" / f"{name}.json"


def read_record(out: Path, name: str) -> dict[str, Any] | None:
    """The record of stage ``name`` under ``out``, or ``None`` when it has not finished."""
    path = record_path(out, name)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise StageSettingsError(f"{path}: not valid JSON ({e}); delete it to rerun the stage") from e


def stage_depends(stage: Stage, plan: dict[str, dict[str, Any]] | None = None) -> tuple[str, ...]:
    """The stages ``stage`` reads: ``plan[stage.name]["depends"]`` where the plan names them (a scale may
    feed a stage from another stage), else ``stage.depends``."""
    return tuple((plan or {}).get(stage.name, {}).get("depends", stage.depends))


def stage_order(
    stages: Sequence[Stage], selected: Sequence[str] | None, plan: dict[str, dict[str, Any]] | None = None
) -> list[Stage]:
    """The stages to consider, in pipeline order: ``selected`` (all when ``None``) plus their dependencies
    (:func:`stage_depends` under ``plan``).

    Raises:
        ValueError: an unknown name in ``selected`` or in a stage's ``depends``.
    """
    by_name = {s.name: s for s in stages}
    if selected is None:
        return list(stages)
    unknown = [n for n in selected if n not in by_name]
    if unknown:
        raise ValueError(f"unknown stage(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
    need: set[str] = set()

    def add(name: str) -> None:
        if name in need:
            return
        if name not in by_name:
            raise ValueError(f"stage dependency {name!r} is not a stage of this pipeline")
        need.add(name)
        for dep in stage_depends(by_name[name], plan):
            add(dep)

    for name in selected:
        add(name)
    return [s for s in stages if s.name in need]


def fit_count(budget_s: float, seconds_per_unit: float, wanted: int, minimum: int = 1) -> int:
    """How many units of ``seconds_per_unit`` fit in ``budget_s``: in ``[minimum, wanted]``."""
    if wanted < minimum:
        raise ValueError(f"wanted ({wanted}) must be >= minimum ({minimum})")
    if seconds_per_unit <= 0 or math.isinf(budget_s):
        return wanted
    return max(minimum, min(wanted, int(budget_s // seconds_per_unit)))


def run_stages(
    stages: Sequence[Stage],
    *,
    out: str | os.PathLike,
    scale: str,
    device: str,
    seeds: Sequence[int],
    plan: dict[str, dict[str, Any]],
    selected: Sequence[str] | None = None,
    budget_s: float | None = None,
    force: bool = False,
    log: Callable[[str], None] = lambda _msg: None,
    ran: set[str] | None = None,
    provenance: dict[str, Any] | None = None,
    notes: dict[str, list[str]] | None = None,
    compile: bool = False,
) -> dict[str, dict[str, Any]]:
    """Run ``stages`` (those ``selected`` and their dependencies); returns ``{name: record}``.

    Args:
        plan: per-stage settings of the scale (``plan[name]``; a stage without one gets ``{}``).
        budget_s: total seconds for the stages that still have to run (``None``: no budget).
        force: rerun stages whose records were made with other settings instead of raising.
        ran: when given, the names of the stages that ran (were not skipped) are added to it.
        provenance: kept in each record of a stage that runs (see :func:`provenance`); the start and end
            times (UTC) are added to it.
        notes: per stage, lines put first in its record's ``cuts`` (e.g. settings a user changed from the
            scale's plan, see :func:`apply_overrides`).
        compile: passed to every stage as ``StageContext.compile``.

    Raises:
        StageSettingsError: a finished stage's record has other settings and ``force`` is off.
    """
    out = Path(out)
    todo = stage_order(stages, selected, plan)
    records: dict[str, dict[str, Any]] = {}
    pending: list[Stage] = []
    for st in todo:
        rec = read_record(out, st.name)
        # an unseeded stage's record is checked against the seeds it was made with
        key_seeds = seeds if st.seeded or rec is None else rec.get("seeds", [])
        key = _settings_key(scale, key_seeds, plan.get(st.name, {}))
        if rec is not None and rec.get("settings_key") == key:
            records[st.name] = rec
            continue
        if rec is not None and not force:
            raise StageSettingsError(
                f"{record_path(out, st.name)} was made with other settings (scale {rec.get('scale')!r}, "
                f"seeds {rec.get('seeds')}); use another --out or --force to rerun it"
            )
        pending.append(st)
    t_start = time.perf_counter()
    for i, st in enumerate(pending):
        stage_budget = None
        if budget_s is not None:
            left = max(0.0, budget_s - (time.perf_counter() - t_start))
            weights = sum(s.weight for s in pending[i:])
            stage_budget = left * st.weight / weights if weights > 0 else left
        settings = plan.get(st.name, {})
        ctx = StageContext(
            name=st.name,
            out=out,
            scale=scale,
            device=device,
            seeds=tuple(seeds),
            settings=settings,
            results={d: records[d]["result"] for d in stage_depends(st, plan) if d in records},
            budget_s=stage_budget,
            log=log,
            cuts=list((notes or {}).get(st.name, [])),
            compile=compile,
        )
        budget_txt = "" if stage_budget is None else f" (budget {stage_budget:.0f} s)"
        log(f"stage {st.name}: running{budget_txt}")
        t0, started = time.perf_counter(), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        result = st.run(ctx)
        # work an earlier, interrupted invocation did and this one reused counts towards the stage's time
        seconds = time.perf_counter() - t0 + float(result.get("seconds_resumed", 0.0))
        where = {**(provenance or {}), "started": started,
                 "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}  # fmt: skip
        rec = {
            "stage": st.name,
            "doc": st.doc,
            "scale": scale,
            "device": device,
            "seeds": list(seeds),
            "settings": settings,
            "settings_key": _settings_key(scale, seeds, settings),
            "seconds": round(seconds, 2),
            "budget_seconds": None if stage_budget is None else round(stage_budget, 1),
            "cuts": ctx.cuts,
            "provenance": where,
            "result": result,
        }
        write_json_atomic(record_path(out, st.name), rec)
        records[st.name] = rec
        if ran is not None:
            ran.add(st.name)
        log(f"stage {st.name}: done in {seconds:.1f} s")
    return records


# ------------------------------------------------------------------------------------------- the CLI group
def _group_class() -> type[click.Group]:
    from .cli import KanGroup

    return KanGroup


@click.group(
    name="repro",
    cls=_group_class(),
    entry_point_group=ENTRY_POINT_GROUP,
    context_settings={"help_option_names": ["-h", "--help"]},
)
def repro() -> None:
    """Reproduce a paper's experiments as resumable, budgeted stages, with tables beside its numbers.

    \b
    Examples:
      kan repro wskan --scale tiny --out runs/wskan-tiny
      kan repro metakan --scale cpu --budget-min 60 --out runs/metakan-cpu
      kan repro wskan --scale paper --device cuda --budget-min 8 --stages zoo-inr,inr
    """


# ------------------------------------------------------------------------------------------- reports
def _cell(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        if math.isnan(v):
            return "n/a"
        return f"{v:.3g}" if (abs(v) < 1e-2 or abs(v) >= 1e4) and v != 0 else f"{v:.2f}"
    return str(v)


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub Markdown table; floats get 3 significant digits below 0.01, else 2 decimals."""
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    return head + "".join("| " + " | ".join(_cell(v) for v in r) + " |\n" for r in rows)


PROVENANCE_COLUMNS = ("stage", "scale", "command", "revision", "CPU", "threads", "finished (UTC)")


def write_report(folder: str | os.PathLike, title: str, stages_rows: Sequence[Sequence[Any]],
                 tables: Sequence[dict[str, Any]], runs: Sequence[Sequence[Any]] = ()) -> list[Path]:  # fmt: skip
    """Write ``tables.md``, ``tables.csv`` (long: table, row, column, value) and ``tables.json``.

    Each table is ``{"key", "title", "columns", "rows", "verdict"}`` (``rows``: lists, first cell the row
    label); ``stages_rows``: ``(stage, seconds, budget, status, cuts)`` rows for the timing table; ``runs``:
    :data:`PROVENANCE_COLUMNS` rows (:func:`provenance_rows`) saying where each stage ran.
    """
    import csv
    import io

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    heads = ("stage", "wall s", "budget s", "status", "cut against the paper")
    md = [f"# {title}", "## Stages", markdown_table(heads, stages_rows)]
    if runs:
        md += ["## Where each stage ran", markdown_table(PROVENANCE_COLUMNS, runs)]
    for t in tables:
        md += [f"## {t['title']}", markdown_table(t["columns"], t["rows"])]
        if t.get("note"):
            md.append(t["note"])
        md.append(f"**Verdict.** {t['verdict']}")
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("table", "row", "column", "value"))
    for t in tables:
        for r in t["rows"]:
            for c, v in zip(t["columns"][1:], r[1:]):
                w.writerow((t["key"], r[0], c, "" if v is None else v))
    paths = [folder / "tables.md", folder / "tables.csv", folder / "tables.json"]
    for path, text in zip(paths[:2], ("\n\n".join(m.rstrip("\n") for m in md) + "\n", buf.getvalue())):
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    write_json_atomic(
        paths[2],
        {
            "title": title,
            "stages": [list(r) for r in stages_rows],
            "runs": [dict(zip(PROVENANCE_COLUMNS, r)) for r in runs],
            "tables": list(tables),
        },
    )
    return paths


def stage_rows(stages: Sequence[Stage], records: dict[str, dict[str, Any]], ran: set[str]) -> list[list[Any]]:
    """Rows of the report's stage table (stages without a record are listed as not run)."""
    rows = []
    for st in stages:
        rec = records.get(st.name)
        if rec is None:
            rows.append([st.name, None, None, "not run", ""])
            continue
        status = "ran" if st.name in ran else "reused"
        rows.append([st.name, rec["seconds"], rec["budget_seconds"], status, "; ".join(rec["cuts"])])
    return rows


def provenance_rows(stages: Sequence[Stage], records: dict[str, dict[str, Any]]) -> list[list[Any]]:
    """:data:`PROVENANCE_COLUMNS` rows of the finished stages (records made before provenance was kept
    say "not recorded")."""
    rows = []
    for st in stages:
        rec = records.get(st.name)
        if rec is None:
            continue
        p = rec.get("provenance") or {}
        cpu = f"{p['cpu']} ({p.get('cpus')} CPUs)" if "cpu" in p else "not recorded"
        rows.append([st.name, rec.get("scale"), p.get("command", "not recorded"), p.get("revision", "not recorded"),
                     cpu, p.get("threads"), p.get("finished")])  # fmt: skip
    return rows


def report_title(paper: str, scale: str, records: dict[str, dict[str, Any]]) -> str:
    """``"<paper> reproduction, scale <scale>"``; when the finished stages ran at other scales (a report
    assembled from records of several runs), the title names each scale and the stages that ran at it."""
    by_scale: dict[str, list[str]] = {}
    for name, rec in records.items():
        by_scale.setdefault(str(rec.get("scale", scale)), []).append(name)
    if set(by_scale) <= {scale}:
        return f"{paper} reproduction, scale {scale}"
    parts = [f"{s} ({', '.join(names)})" for s, names in sorted(by_scale.items())]
    return f"{paper} reproduction, scales {'; '.join(parts)}"


def write_stage_report(folder: str | os.PathLike, paper: str, scale: str, stages: Sequence[Stage],
                       records: dict[str, dict[str, Any]], ran: set[str], tables: Sequence[dict[str, Any]]) -> list[Path]:  # fmt: skip
    """:func:`write_report` with the title, stage table and provenance rows taken from the stage records."""
    return write_report(folder, report_title(paper, scale, records), stage_rows(stages, records, ran), tables,
                        provenance_rows(stages, records))  # fmt: skip


# ------------------------------------------------------------------------------------------- one command
def _parse_list(text: str, cast: Callable[[str], Any], what: str) -> list[Any]:
    try:
        items = [cast(t.strip()) for t in text.split(",") if t.strip()]
    except ValueError as e:
        raise click.BadParameter(f"expected comma-separated {what}, got {text!r}") from e
    if not items:
        raise click.BadParameter(f"expected at least one {what[:-1]}, got {text!r}")
    return items


def apply_overrides(
    plan: dict[str, dict[str, Any]], assignments: Sequence[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    """``plan`` with each ``STAGE.KEY=VALUE`` of ``assignments`` applied (VALUE is JSON: ``[20, 50]``, ``0.5``,
    ``"x"``); returns the new plan (``plan`` is not changed) and, per stage, one note per change naming the
    scale's value, for the stage record's cuts. Only keys the scale's plan already has can be set, so a
    typo fails before any work starts.

    Raises:
        ValueError: an assignment is malformed, names a stage or key the plan does not have, or its value
            is not JSON.
    """
    new = json.loads(json.dumps(plan))
    notes: dict[str, list[str]] = {}
    for text in assignments:
        target, eq, raw = text.partition("=")
        stage, dot, key = target.partition(".")
        if not (eq and dot and stage and key):
            raise ValueError(f"expected STAGE.KEY=VALUE, got {text!r}")
        if stage not in new or not new[stage]:
            with_settings = ", ".join(n for n, v in new.items() if v)
            raise ValueError(f"{text!r}: stage {stage!r} has no settings at this scale; stages with settings: "
                             f"{with_settings}")  # fmt: skip
        if key not in new[stage]:
            raise ValueError(f"{text!r}: stage {stage!r} has no setting {key!r}; its settings: "
                             f"{', '.join(sorted(new[stage]))}")  # fmt: skip
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as e:
            raise ValueError(f"{text!r}: the value must be JSON (e.g. [20, 50], 0.5, \"x\"): {e.msg}") from e
        old = new[stage][key]
        new[stage][key] = value
        notes.setdefault(stage, []).append(
            f"{key} {json.dumps(value)} set by --set (the scale's plan: {json.dumps(old)})"
        )
    return new, notes


def pipeline_command(
    name: str,
    *,
    help_text: str,
    stages: Callable[[], list[Stage]],
    plan: Callable[[str], dict[str, dict[str, Any]]],
    report: Callable[[Path, str, list[Stage], dict[str, dict[str, Any]], set[str]], list[Path]],
    default_seeds: dict[str, str],
    scale_help: str = "tiny: CI smoke run; cpu: about an hour on 2 cores; paper: the paper's sizes (GPU).",
    compiles: str | None = None,
) -> click.Command:
    """A ``kan repro NAME`` command running ``stages()`` with ``plan(scale)``, then ``report(...)``.

    ``report(out, scale, stages, records, ran)`` writes the tables and figures and returns their paths.
    ``default_seeds`` maps each scale the pipeline knows (the ``--scale`` choices, in order) to its seeds.
    ``compiles``: what ``--compile`` compiles (its help; ``StageContext.compile``); ``None``: no such option.
    """

    seeds_help = "; ".join(f"{k} {v}" for k, v in default_seeds.items())

    @click.command(name=name, help=help_text)
    @click.option(
        "--scale",
        type=click.Choice(list(default_seeds)),
        default="tiny",
        show_default=True,
        help=scale_help,
    )
    @device_option()
    @click.option(
        "--out",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help=f"Run folder (default runs/repro-{name}-SCALE); finished stages in it are skipped.",
    )
    @click.option(
        "--budget-min",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        help="Minutes for the stages still to run; each stage sizes its work to its share.",
    )
    @click.option(
        "--stages", "only", default=None, help="Comma-separated stages to run (with what they need)."
    )
    @click.option("--seeds", default=None, help=f"Comma-separated seeds (default: {seeds_help}).")
    @click.option(
        "--set",
        "assignments",
        multiple=True,
        metavar="STAGE.KEY=VALUE",
        help="Change one setting of the scale's plan (VALUE is JSON, e.g. --set pde.dims=[20,50]); "
        "repeatable. The stage record lists each change among its cuts.",
    )
    @force_option(
        "stages of --out whose records were made with other settings are rerun and their records replaced"
    )
    @click.option(
        "--report-only", is_flag=True, help="Run nothing; write the report from the finished stages."
    )
    @threads_option()
    @quiet_option()
    def command(scale, device, out, budget_min, only, seeds, assignments, force, report_only, threads,
                quiet, compile_=False) -> None:  # fmt: skip
        from .progress import Progress
        from .runtime import resolve_device

        all_stages = stages()
        names = [s.name for s in all_stages]
        selected = None
        if only is not None:
            selected = _parse_list(only, str, "stage names")
            bad = [n for n in selected if n not in names]
            if bad:
                raise click.BadParameter(f"unknown stage(s) {', '.join(bad)}; known: {', '.join(names)}",
                                         param_hint="--stages")  # fmt: skip
        seed_list = _parse_list(seeds or default_seeds[scale], int, "integers")
        try:
            dev = str(resolve_device(device))
        except (RuntimeError, ValueError, TypeError) as exc:
            raise click.BadParameter(str(exc), param_hint="--device") from exc
        try:
            stage_plan, notes = apply_overrides(plan(scale), assignments)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--set") from exc
        folder = out or Path("runs") / f"repro-{name}-{scale}"
        lock_output(folder)
        todo = stage_order(all_stages, selected, stage_plan)
        bar = Progress(len(todo), f"repro {name}", unit="stage", quiet=quiet)

        def log(msg: str) -> None:
            from .progress import log as log_line

            log_line(msg)
            if msg.startswith("stage ") and ": done in " in msg:  # one stage finished: elapsed, ETA
                bar.update(1, msg.split(": ", 1)[0])

        t0 = time.perf_counter()
        ran: set[str] = set()
        try:
            if not report_only:
                budget_s = None if budget_min is None else budget_min * 60
                with bar:
                    run_stages(all_stages, out=folder, scale=scale, device=dev, seeds=seed_list,
                               plan=stage_plan, selected=selected, budget_s=budget_s, force=force, log=log,
                               ran=ran, provenance=provenance(), notes=notes, compile=compile_)  # fmt: skip
        except StageSettingsError as e:
            raise click.ClickException(str(e)) from e
        done = {n: read_record(folder, n) for n in names}
        paths = report(folder / "report", scale, all_stages, {k: v for k, v in done.items() if v}, ran)
        click.echo((folder / "report" / "tables.md").read_text())
        for p in paths:
            click.echo(f"wrote {p}")
        click.echo(f"total {time.perf_counter() - t0:.1f} s; stage records in {folder / 'stages'}")

    return command if compiles is None else compile_option(compiles)(command)
