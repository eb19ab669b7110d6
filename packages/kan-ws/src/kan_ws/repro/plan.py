"""What ``kan repro wskan`` runs at each scale: zoos, training grids, epochs (the WS-KAN paper, appendix C).

``tiny``: a CI smoke run (about a minute on one CPU thread): 6-wide INRs of 8x8 digits, 2-3 epochs.
``cpu``: the largest setting this toolkit's 2-core reference machine does in about an hour: the CPU zoo
presets (Fashion-MNIST INRs when the data set is on disk, else 8x8 digits), 3 seeds, a 4-point grid.
``cpu-full``: the paper's data sizes and KAN architectures (Fashion-MNIST INRs [2,32,32,1] of 10,000
training, 2,000 validation and all 10,000 test images; 1,000 sine INRs [2,32,32,1] at G=30), with the
INR epochs and the weight-space models' size and epochs cut to what a 2-core CPU does in about an hour a
stage (measured: one epoch of WS-KAN, hidden 128, depth 4, dropout 0.2 over 10,000 INRs of [2,32,32,1] is about 10
minutes there; hidden 64, depth 3, no dropout about 3). Its ``inr-curve`` stage is WS-KAN's learning
curve in the number of training INRs.
``paper``: the appendix's zoos and training settings; on a GPU, ``--budget-min`` then cuts the number of
zoo models and epochs to what fits, and the report says what was cut.

The training grid is appendix C's (hidden {128, 32}, layers {4, 1}, lr {1e-3, 5e-3, 1e-4}, dropout 0.2)
trimmed to what each scale affords, plus the no-dropout, hidden-64 setting that won on the CPU zoos.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..models.registry import method_names

__all__ = ["SCALES", "STAGE_WEIGHTS", "PAPER_INR", "make_plan", "inr_dataset", "dataset_available"]

SCALES = ("tiny", "cpu", "cpu-full", "paper")
ALL_METHODS = method_names("baseline", "wskan")
#: the methods of the paper's Tables 3-4 (it runs no SetTrans on the 26,432-edge classifiers), WS-KAN first
#: so that a stage stopped part way has the method the tables are about (on the cpu-full zoo WS-KAN took
#: 51 of the accuracy stage's 70 minutes, DMC 11, DeepSets 5)
PAPER_CLF_METHODS = ("wskan", "deepsets", "mlp-align", "dmc", "mlp-aug", "mlp")

#: share of a --budget-min each stage gets (relative)
STAGE_WEIGHTS = {
    "zoo-sine": 1.0,
    "zoo-inr": 3.0,
    "zoo-clf": 3.0,
    "zoo-ood": 1.0,
    "sine": 1.0,
    "sine-sweep": 1.0,
    "inr": 2.0,
    "inr-curve": 1.0,
    "inr-quality": 0.3,
    "accuracy": 2.0,
    "mask": 2.0,
    "ablation": 1.5,
    "ood": 0.2,
    "pruning": 0.5,
}


#: the paper's INR-classification training (appendix C.1.2): WS-KAN and every baseline
PAPER_INR = {"epochs": 300, "batch_size": 128, "hidden": 128, "depth": 4, "dropout": 0.2, "lr": [1e-3, 1e-4]}


def dataset_available(name: str) -> bool:
    """True when :func:`kan_core.datasets.load_dataset` finds ``name`` on disk (never downloads)."""
    from kan_core.datasets import DatasetNotFoundError, load_dataset

    try:
        load_dataset(name, split="test")
    except (DatasetNotFoundError, ImportError):
        return False
    return True


def inr_dataset(scale: str, available: Callable[[str], bool]) -> str:
    """The image data set of the INR zoos: Fashion-MNIST where present (tiny: always 8x8 digits)."""
    if scale != "tiny" and available("fashion-mnist"):
        return "fashion-mnist"
    return "digits"


def _grid(*rows: tuple[int, int, float, float]) -> list[dict[str, Any]]:
    return [{"hidden": h, "depth": d, "dropout": p, "lr": lr} for h, d, p, lr in rows]


def _zoo(preset: str, models: int, epochs: int, min_models: int, paper: str, **overrides: Any) -> dict:
    return {"preset": preset, "models": models, "epochs": epochs, "min_models": min_models,
            "overrides": overrides, "paper_preset": paper}  # fmt: skip


def _train(task: str, zoo: str, epochs: int, batch: int, grid: list[dict], paper: dict, **kw: Any) -> dict:
    # SetTrans searches only the grid's first point: measured at cpu scale on sine (4 points, 4 heads, on a
    # loaded 2-core machine) it took 392 s of the stage's 587 s (30-45 s a run; WS-KAN 18-25 s, DeepSets 3-5 s)
    kw.setdefault("grid_limit", {"settrans": 1})
    return {"task": task, "zoo": zoo, "epochs": epochs, "batch_size": batch, "grid": grid,
            "methods": list(kw.pop("methods", ALL_METHODS)), "settrans_max_edges": kw.pop("settrans_max_edges", 2048),
            "paper": paper, **kw}  # fmt: skip


def make_plan(scale: str, available: Callable[[str], bool] = dataset_available) -> dict[str, dict[str, Any]]:
    """Per-stage settings of ``scale`` (JSON-able; part of each stage's record)."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose from {', '.join(SCALES)}")
    ds = inr_dataset(scale, available)
    fm = ds == "fashion-mnist"
    paper_inr = dict(PAPER_INR)
    paper_clf = {"epochs": 100, "batch_size": 32, "hidden": [128, 32], "depth": [4, 1], "dropout": 0.2,
                 "lr": [1e-3, 5e-3, 1e-4]}  # fmt: skip
    paper_sine = {"epochs": 200, "batch_size": 128, "hidden": 128, "depth": 4, "dropout": 0.2, "lr": 1e-3}
    if scale == "tiny":
        h = 6
        zoos = {
            "zoo-sine": _zoo("sine-cpu", 40, 20, 40, "sine-paper", widths=(2, h, h, 1), grid_size=5,
                             resolution=8, shard_size=40),
            "zoo-inr": _zoo("digits-inr-cpu", 60, 30, 60, "fmnist-inr-paper", widths=(2, h, h, 1), grid_size=5,
                            shard_size=60),
            "zoo-clf": _zoo("digits-clf-cpu", 48, 2, 48, "fmnist-clf-paper", widths=(64, h, h, 10),
                            shard_size=48),
            "zoo-ood": {"widths": [h, 9, 12], "models": 12, "epochs": 30, "paper_widths": [48, 64, 80, 96]},
        }  # fmt: skip
        grid = _grid((16, 2, 0.0, 2e-3), (16, 2, 0.2, 1e-3))
        epochs = {"sine": 3, "inr": 3, "accuracy": 2, "mask": 2}
        batch = 8
        prune_models = 8
    elif scale == "cpu":
        zoos = {
            "zoo-sine": _zoo("sine-cpu", 300, 150, 100, "sine-paper"),
            "zoo-inr": _zoo("fmnist-inr-cpu-large" if fm else "digits-inr-cpu", 1500 if fm else 300,
                            40 if fm else 300, 200, "fmnist-inr-paper"),
            "zoo-clf": _zoo("digits-clf-cpu", 200, 10, 100, "fmnist-clf-paper"),
            "zoo-ood": {"widths": [16, 24, 32, 40, 48], "models": 100, "epochs": 40 if fm else 300,
                        "paper_widths": [48, 64, 80, 96]},
        }  # fmt: skip
        grid = _grid((32, 3, 0.0, 2e-3), (64, 3, 0.0, 2e-3), (64, 3, 0.0, 1e-3), (32, 3, 0.2, 1e-3))
        epochs = {"sine": 25, "inr": 30, "accuracy": 12, "mask": 6}
        batch = 32
        prune_models = 100
    elif scale == "cpu-full":
        zoos = {
            "zoo-sine": _zoo("sine-paper", 1000, 200, 200, "sine-paper"),
            "zoo-inr": _zoo("fmnist-inr-paper" if fm else "digits-inr-cpu", 22000 if fm else 300, 30 if fm else 300,
                            500, "fmnist-inr-paper", splits=(10000, 2000, 10000) if fm else (150, 50, 100)),
            # one epoch over all 60,000 images: 1,000 KANs [784,32,32,10] in 51 minutes on 2 threads
            "zoo-clf": _zoo("fmnist-clf-paper" if fm else "digits-clf-cpu", 1000 if fm else 200, 1 if fm else 10,
                            200, "fmnist-clf-paper"),
            "zoo-ood": {"widths": [32, 48, 64, 80, 96] if fm else [16, 24, 32, 40, 48], "models": 1000 if fm else 100,
                        "epochs": 30 if fm else 300, "paper_widths": [48, 64, 80, 96]},
        }  # fmt: skip
        grid = _grid((64, 3, 0.0, 2e-3))
        # Tables 3-4: one WS-KAN epoch (hidden 64, depth 3) over the 750 training and 125 validation
        # classifiers of 26,432 edges took 8.3 minutes on 2 threads (0.55 s per KAN); the accuracy stage
        # at six epochs took 70 minutes, resumable method by method (each finished run is kept)
        epochs = {"sine": 30, "inr": 10, "accuracy": 6, "mask": 6}
        batch = 32
        prune_models = 100
    else:
        inr_preset = "fmnist-inr-paper" if fm else "digits-inr-cpu"
        zoos = {
            "zoo-sine": _zoo("sine-paper", 1000, 1000, 200, "sine-paper"),
            "zoo-inr": _zoo(inr_preset, 25000 if fm else 300, 1000 if fm else 300, 500, "fmnist-inr-paper"),
            "zoo-clf": _zoo("fmnist-clf-paper" if fm else "digits-clf-cpu", 4000 if fm else 200,
                            100 if fm else 10, 200, "fmnist-clf-paper"),
            "zoo-ood": {"widths": [32, 48, 64, 80, 96] if fm else [16, 24, 32, 40, 48],
                        "models": 10000 if fm else 100, "epochs": 1000 if fm else 300,
                        "paper_widths": [48, 64, 80, 96]},
        }  # fmt: skip
        grid = _grid((128, 4, 0.2, 1e-3), (128, 4, 0.2, 1e-4), (64, 3, 0.0, 2e-3))
        epochs = {"sine": 200, "inr": 300, "accuracy": 100, "mask": 100}
        batch = 128
        prune_models = 100
    clf_batch = 32 if scale != "tiny" else batch
    plan: dict[str, dict[str, Any]] = dict(zoos)
    plan["zoo-ood"]["inr"] = {"preset": zoos["zoo-inr"]["preset"], "overrides": zoos["zoo-inr"]["overrides"]}
    plan["zoo-inr"]["dataset"] = ds
    plan["sine"] = _train("sine", "zoo-sine", epochs["sine"], batch, grid, paper_sine)
    plan["sine-sweep"] = {"sizes": [8, 16] if scale == "tiny" else [100, 200, 500, 800]}
    plan["inr"] = _train("inr", "zoo-inr", epochs["inr"], batch, grid, paper_inr, dataset=ds, save=["wskan"])
    plan["inr-curve"] = {
        "sizes": [8, 16] if scale == "tiny" else [1000, 2500, 5000, 10000],
        "method": "wskan",
        "config": {"hidden": 64, "depth": 3, "dropout": 0.0, "lr": 2e-3},
        "epochs": epochs["inr"],
        "min_passes": 24 if scale == "tiny" else 30000,  # small sizes: at least this many INR passes
        "batch_size": batch,
    }
    plan["inr-quality"] = {"inr": plan["zoo-ood"]["inr"], "models": 8 if scale == "tiny" else 100,
                           "epochs": 60 if scale == "tiny" else 1000}  # fmt: skip
    clf_methods = PAPER_CLF_METHODS if scale in ("cpu-full", "paper") else ALL_METHODS
    plan["accuracy"] = _train("accuracy", "zoo-clf", epochs["accuracy"], clf_batch, grid, paper_clf,
                              methods=clf_methods)  # fmt: skip
    plan["mask"] = _train(
        "mask", "zoo-clf", epochs["mask"], clf_batch, grid, paper_clf, methods=clf_methods, save=list(clf_methods)
    )
    plan["ablation"] = {"tasks": ["inr", "accuracy", "mask"], "methods": list(method_names("ablation"))}
    # cpu-full trains no 7-method inr stage: Table 2 reads the learning curve's WS-KAN on all training INRs
    plan["ood"] = {"depends": ["inr-curve", "zoo-ood"]} if scale == "cpu-full" else {}
    plan["pruning"] = {"max_models": prune_models, "timing_models": 3}
    return plan
