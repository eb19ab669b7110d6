"""Predictions of a trained weight-space model for new KANs (``kan ws predict``).

A checkpoint written by ``kan ws train`` (:func:`kan_ws.tasks.save_checkpoint`) reads any KAN whose edges
have the feature layout it was trained on (same basis, grid size and order); WS-KAN and the set/graph
baselines read any widths, the flat baselines (MLP, DMC) only the architecture they were trained on.

==============  ===============================================================================
task            one prediction per KAN
==============  ===============================================================================
``inr``         ``label`` (argmax) and ``probabilities`` ``(classes,)``
``sine``        ``frequency`` ``(2,)`` (in the zoo's units)
``accuracy``    ``test_accuracy``
``mask``        ``masks`` per layer ``(d_out, d_in)`` 0/1, ``scores`` (probabilities, same shapes),
                ``kept_fraction``; an edge the KAN had already pruned stays pruned
==============  ===============================================================================
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from kan_core import KAN, KANSpec, StackedKAN

__all__ = ["predict_kans", "check_readable", "write_predictions", "prediction_rows"]


def check_readable(model: torch.nn.Module, trained: KANSpec, spec: KANSpec, name: str) -> None:
    """Raise ``ValueError`` (naming ``name``) unless ``model``, trained on zoos of ``trained``, can read a KAN
    of ``spec``: its edges must mean the same (:meth:`kan_core.basis.Basis.signature` and coefficient count)
    and, for methods that read one architecture only, it must have the training zoo's edge count."""
    from kan_core.basis import get_basis

    have = (get_basis(spec.basis).signature(spec), spec.num_coefficients)
    want = (get_basis(trained.basis).signature(trained), trained.num_coefficients)
    if have != want:
        raise ValueError(
            f"{name}: a {have[0]} KAN with {have[1]} coefficients per edge; the checkpoint was trained on "
            f"{want[0]} KANs with {want[1]}"
        )
    from .models.registry import fixed_edge_count

    flat_edges = fixed_edge_count(model)
    if flat_edges is not None and spec.num_edges() != flat_edges:
        raise ValueError(
            f"{name}: {type(model).__name__} reads KANs with {flat_edges} edges only (widths "
            f"{list(trained.widths)}), this one has {spec.num_edges()} (widths {list(spec.widths)})"
        )


@torch.no_grad()
def predict_kans(
    checkpoint: str | os.PathLike,
    kans: Sequence[KAN],
    *,
    names: Sequence[str] | None = None,
    threshold: float | None = None,
    task: str | None = None,
    device: Any = "cpu",
) -> dict[str, Any]:
    """Run the trained model of ``checkpoint`` on every KAN of ``kans``.

    Args:
        checkpoint: a ``kan ws train`` checkpoint (``.safetensors``).
        kans: KANs to read (any widths the model can read; see the module docstring).
        names: one label per KAN for the output (default ``"0"``, ``"1"``, ...).
        threshold: mask task only: keep an edge when its probability exceeds this (default: the
            threshold chosen on the validation split at training time, else 0.5).
        task: when given, refuse a checkpoint trained for another task (before reading any KAN).
        device: where the model runs.

    Returns:
        ``{"checkpoint", "task", "method", "threshold" (mask), "predictions": [{"model": name, ...}]}``.

    Raises:
        ValueError: not a kan-ws checkpoint, an ``mlp-align`` checkpoint (it needs its zoo's alignment
            reference: use ``kan ws eval``), or a KAN the model cannot read (the message names it).
    """
    from .checkpoints import load_checkpoint
    from .data import edge_features, graph_template, make_batch
    from .downstream import layer_masks
    from .models import InfeasibleError

    names = [str(i) for i in range(len(kans))] if names is None else list(names)
    if len(names) != len(kans):
        raise ValueError(f"{len(names)} names for {len(kans)} KANs")
    model, header = load_checkpoint(checkpoint, device)
    if task is not None and header["task"] != task:
        raise ValueError(f"{checkpoint} was trained for task {header['task']!r}, not {task!r}")
    task, result = header["task"], header["result"]
    method = result.get("method", header["model_class"])
    if method == "mlp-align":
        raise ValueError(
            f"{checkpoint}: an mlp-align model reads KANs aligned to its training zoo, which the checkpoint "
            "does not hold; evaluate it on a zoo with `kan ws eval`"
        )
    out: dict[str, Any] = {"checkpoint": str(checkpoint), "task": task, "method": method}
    if task == "mask":
        thr = threshold if threshold is not None else result.get("metrics", {}).get("threshold", 0.5)
        out["threshold"] = float(thr)
    stats = header.get("targets") or {}
    preds = []
    for kan, name in zip(kans, names):
        check_readable(model, KANSpec.from_json(header["spec"]), kan.spec, name)
        spec = kan.spec
        feats = edge_features(spec, StackedKAN.from_kans([kan]).to("cpu").layers)
        try:
            raw = model(make_batch(graph_template(spec), feats.to(device))).float().cpu()
        except InfeasibleError as e:
            raise ValueError(f"{name}: {e}") from e
        row: dict[str, Any] = {"model": name, "widths": list(spec.widths)}
        if task == "inr":
            prob = torch.softmax(raw.reshape(-1), 0)
            row.update(label=int(prob.argmax()), probabilities=prob.tolist())
        elif task in ("sine", "accuracy"):
            value = raw.reshape(-1)
            if stats:
                value = value * torch.tensor(stats["target_std"]) + torch.tensor(stats["target_mean"])
            if task == "sine":
                row["frequency"] = value.tolist()
            else:
                row["test_accuracy"] = float(value[0])
        else:
            scores = torch.sigmoid(raw.reshape(1, -1))
            keep = (scores > out["threshold"]).float()
            masks = [
                m[0] * layer.mask.detach().cpu()
                for m, layer in zip(layer_masks(spec.widths, keep), kan.layers)
            ]
            kept = sum(float(m.sum()) for m in masks) / spec.num_edges()
            row.update(
                kept_fraction=kept,
                masks=[m.int().tolist() for m in masks],
                scores=[s[0].tolist() for s in layer_masks(spec.widths, scores)],
            )
        preds.append(row)
    out["predictions"] = preds
    return out


def prediction_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Flat CSV rows: one per KAN (inr/sine/accuracy), or one per edge (mask: layer, out, in, score, keep)."""
    rows: list[dict[str, Any]] = []
    for p in result["predictions"]:
        base = {"model": p["model"], "widths": "-".join(map(str, p["widths"]))}
        if "masks" in p:
            for l, (mask, score) in enumerate(zip(p["masks"], p["scores"])):
                for o, (mrow, srow) in enumerate(zip(mask, score)):
                    for i, (m, s) in enumerate(zip(mrow, srow)):
                        rows.append({**base, "layer": l, "out": o, "in": i, "score": s, "keep": m})
        elif "probabilities" in p:
            probs = {f"p{c}": v for c, v in enumerate(p["probabilities"])}
            rows.append({**base, "label": p["label"], **probs})
        elif "frequency" in p:
            rows.append({**base, **{f"frequency{j}": v for j, v in enumerate(p["frequency"])}})
        else:
            rows.append({**base, "test_accuracy": p["test_accuracy"]})
    return rows


def write_predictions(result: dict[str, Any], path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write :func:`predict_kans` output as ``.json`` (all of it) or ``.csv`` (:func:`prediction_rows`).

    Raises:
        ValueError: another suffix. FileExistsError: ``path`` exists and ``force`` is off.
    """
    from kan_core.io import atomic_write_bytes

    path = Path(path)
    if path.suffix not in (".json", ".csv"):
        raise ValueError(f"{path}: write predictions to a .json or .csv file")
    if path.exists() and not force:
        raise FileExistsError(f"{path} already exists; allow overwriting it (--force on the command line)")
    if path.suffix == ".json":
        data = json.dumps(result, indent=2) + "\n"
    else:
        rows = prediction_rows(result)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        data = buf.getvalue()
    atomic_write_bytes(path, data.encode())
    return path
