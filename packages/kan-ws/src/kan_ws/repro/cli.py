"""``kan repro wskan``: the WS-KAN paper's pipeline (registered in the ``kan.repro`` entry point group)."""

from __future__ import annotations

from kan_core.repro import pipeline_command

__all__ = ["wskan"]


def _stages():
    from .stages import STAGES

    return list(STAGES)


def _plan(scale: str):
    from .plan import make_plan

    return make_plan(scale)


def _report(*args):
    from .report import write_wskan_report

    return write_wskan_report(*args)


wskan = pipeline_command(
    "wskan",
    help_text="""The WS-KAN paper (ICLR 2026): zoos, WS-KAN and six baselines, ablations, OOD, pruning.

    Stages: zoo-sine, zoo-inr, zoo-clf, zoo-ood, sine, sine-sweep, inr, accuracy, mask, ablation, ood,
    pruning. Each
    training stage picks every method's settings on validation from a small grid (appendix C, trimmed)
    and reports what it searched and selected. Writes report/tables.{md,csv,json} and report/figures.png.

    \b
    Examples:
      kan repro wskan --scale tiny --out runs/wskan-tiny
      kan repro wskan --scale cpu --budget-min 60
      kan repro wskan --scale paper --device cuda --budget-min 6
    """,
    stages=_stages,
    plan=_plan,
    report=_report,
    default_seeds={"tiny": "0", "cpu": "0,1,2", "cpu-full": "0,1,2", "paper": "0,1,2"},
    scale_help="tiny: CI smoke run; cpu: about an hour on 2 cores; cpu-full: the paper's data sizes and KAN "
    "architectures, with INR epochs and weight-space training cut to fit a 2-core CPU (hours, stage by stage); "
    "paper: the paper's sizes (GPU).",
    compiles="WS-KAN's message-passing layers in every training stage (the baselines run eagerly); a "
    "finished run of an earlier invocation is reused either way",
)
