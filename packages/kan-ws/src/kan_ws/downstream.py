"""Downstream pruning with predicted masks (paper figure 5) and its timing against oracle pruning."""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import Tensor

from . import metrics as M
from .data import make_batch, permute_edge_features
from .evaluation import evaluate
from .task_data import TaskData, zoo_dataset_name
from .train import predict

__all__ = ["downstream_pruning", "pruning_timing", "classifier_inputs", "predicted_masks", "layer_masks"]


def layer_masks(widths: tuple[int, ...], flat: Tensor) -> list[Tensor]:
    """Split ``(M, E)`` edge values into per-layer ``(M, out, in)`` tensors."""
    out, off = [], 0
    for l in range(len(widths) - 1):
        n = widths[l] * widths[l + 1]
        out.append(flat[:, off : off + n].reshape(flat.shape[0], widths[l + 1], widths[l]))
        off += n
    return out


def _flat_inputs(X: Tensor) -> Tensor:
    return X.reshape(X.shape[0], -1).float()


def classifier_inputs(zoo: Any, split: str = "test", data_root: Any = None) -> tuple[Tensor, Tensor]:
    """``(X (N, d_0), y (N,))`` a classifier zoo was trained (``"train"``) or evaluated (``"test"``) on.

    Real zoos reproduce their preset's preprocessing (:func:`kan_ws.zoo.classifiers.classifier_data`);
    other zoo-like objects name a data set that :func:`kan_core.datasets.load_dataset` reads and flattens.
    """
    if getattr(zoo, "config", None):
        from .zoo.classifiers import classifier_data

        X, y = classifier_data(zoo, split, data_root)
        return X.float(), y
    from kan_core.datasets import load_dataset

    name = zoo_dataset_name(zoo)
    if name is None:
        raise ValueError(
            "this classifier zoo names no data set (manifest 'dataset'); cannot evaluate pruning"
        )
    X, y = load_dataset(name, split=split, data_root=data_root)
    return _flat_inputs(X), y


def predicted_masks(
    model: torch.nn.Module, data: TaskData, idx: Tensor, threshold: float, device: Any = "cpu"
) -> Tensor:
    """0/1 predicted masks ``(n, E)`` in the zoo's original edge order (alignment undone)."""
    scores = torch.sigmoid(predict(model, data, idx, device=device).reshape(len(idx), -1))
    masks = (scores > threshold).float()
    if data.perms:
        inv = [torch.argsort(p[idx], dim=1) for p in data.perms]
        masks = permute_edge_features(data.template.widths, masks.unsqueeze(-1), inv).squeeze(-1)
    return masks


def downstream_pruning(
    models: dict[str, tuple[torch.nn.Module, TaskData]],
    zoo: Any,
    *,
    max_models: int = 100,
    data_root: Any = None,
    device: Any = "cpu",
    bins: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
) -> dict[str, Any]:
    """Accuracy and kept-weight fraction of test classifiers pruned by each method's predicted mask.

    Args:
        models: method -> (trained mask predictor, its TaskData) (threshold chosen on validation).
        zoo: the classifier zoo (needs masks, "noise" targets and its data set name in the manifest).

    Returns:
        ``{"bins": [...], "noise": [...], "methods": {name: {"accuracy": [...], "kept": [...],
        "accuracy_binned": [...], "kept_binned": [...]}}}`` including ``"original"`` and ``"oracle"``.
    """
    from kan_core.batched import evaluate_stacked
    from kan_core.prune import apply_masks_stacked
    from kan_graph.symmetry import select_stacked

    name = zoo_dataset_name(zoo)
    X, y = classifier_inputs(zoo, "test", data_root)
    spec = zoo.spec
    widths = tuple(spec.widths)
    test = torch.as_tensor(zoo.splits["test"]).long()[:max_models]
    layers = select_stacked(spec, zoo.layers, test)
    noise = zoo.targets["noise"].float()[test]

    def score(masks_flat: Tensor | None) -> tuple[list[float], list[float]]:
        lay = layers if masks_flat is None else apply_masks_stacked(layers, layer_masks(widths, masks_flat))
        acc = evaluate_stacked(spec, lay, X, y, loss="cross_entropy")["accuracy"]
        kept = torch.ones(len(test)) if masks_flat is None else masks_flat.float().mean(1)
        return acc.tolist(), kept.tolist()

    results: dict[str, Any] = {}
    oracle = torch.cat([m[test].reshape(len(test), -1) for m in zoo.masks], 1)
    for label, masks in (("original", None), ("oracle", oracle)):
        acc, kept = score(masks)
        results[label] = {"accuracy": acc, "kept": kept}
    for method, (model, data) in models.items():
        thr = evaluate(model, data, "val", device=device)["threshold"]
        # map test-model rows of data back to the zoo (data.splits['test'] is the zoo's test split)
        masks = predicted_masks(model, data, data.splits["test"][: len(test)], thr, device)
        acc, kept = score(masks)
        results[method] = {"accuracy": acc, "kept": kept}
    for r in results.values():
        r["accuracy_binned"] = M.binned_mean(noise, torch.tensor(r["accuracy"]), bins)
        r["kept_binned"] = M.binned_mean(noise, torch.tensor(r["kept"]), bins)
    return {
        "bins": list(bins),
        "noise": noise.tolist(),
        "dataset": name,
        "num_models": len(test),
        "num_classes": int(y.max()) + 1,
        "methods": results,
    }


def pruning_timing(
    model: torch.nn.Module,
    data: TaskData,
    zoo: Any,
    *,
    repeats: int = 5,
    data_root: Any = None,
    num_models: int = 3,
) -> dict[str, float]:
    """Median seconds per model: oracle pruning (activations over the training data) vs one WS forward."""
    from kan_core.prune import oracle_masks

    X, _ = classifier_inputs(zoo, "train", data_root)
    test = data.splits["test"][:num_models]
    oracle_t, pred_t = [], []
    model.eval()
    for i in test.tolist():
        kan = zoo.kan(i)
        for _ in range(repeats):
            t0 = time.perf_counter()
            oracle_masks(kan, X, 0.01)
            oracle_t.append(time.perf_counter() - t0)
        batch = make_batch(data.template, data.feats[i : i + 1])
        with torch.no_grad():
            model(batch)
            for _ in range(repeats):
                t0 = time.perf_counter()
                torch.sigmoid(model(batch))
                pred_t.append(time.perf_counter() - t0)
    o, p = float(torch.tensor(oracle_t).median()), float(torch.tensor(pred_t).median())
    return {"oracle_seconds": o, "predict_seconds": p, "speedup": o / p, "oracle_samples": int(X.shape[0])}
