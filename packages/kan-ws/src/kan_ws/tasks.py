"""The weight-space tasks of the WS-KAN paper (section 5), built from a zoo (:func:`kan_ws.zoo.load_zoo`).

=============  ======================  =====================  ===============================
task           zoo kind                target                 metrics
=============  ======================  =====================  ===============================
``inr``        image INRs              class (CE)             accuracy
``sine``       sine INRs               frequency w (MSE)      MSE (in w units), R^2
``accuracy``   classifiers             test accuracy (MSE)    MSE, R^2
``mask``       classifiers (+ masks)   oracle mask (BCE)      accuracy @ val threshold, ROC-AUC
=============  ======================  =====================  ===============================

plus downstream pruning (:func:`downstream_pruning`), out-of-distribution evaluation on wider KANs
(:func:`evaluate_ood`) and the two WS-KAN ablations (methods ``wskan-nope`` / ``wskan-nobidir``).
A zoo is duck-typed: anything with ``spec``, ``layers``, ``targets``, ``masks``, ``splits`` works.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from . import metrics as M
from .data import GraphTemplate, edge_features, graph_template, make_batch
from .models import METHODS, build_model
from .train import FitResult, TrainConfig, fit, predict

__all__ = [
    "TASKS",
    "TaskData",
    "make_task",
    "align_features",
    "merge_many_perms",
    "run_experiment",
    "evaluate",
    "downstream_pruning",
    "pruning_timing",
    "evaluate_ood",
    "save_checkpoint",
    "load_checkpoint",
    "zoo_dataset_name",
]

TASKS = ("inr", "sine", "accuracy", "mask")
#: what the per-epoch ``history[i]["val"]`` of a run measures, by task kind (:meth:`TaskData.val_score`)
VAL_METRIC = {"classification": "accuracy", "regression": "mse (standardised)", "edge-binary": "bce loss"}
_TASK_ZOO = {"inr": ("inr",), "sine": ("sine",), "accuracy": ("classifier",), "mask": ("classifier",)}


@dataclass
class TaskData:
    """Model inputs and targets of one task over one zoo.

    Attributes:
        feats: ``(M, E, F)`` raw edge features; targets: ``(M, out)`` float (regression), ``(M,)`` long
            (classification) or ``(M, E)`` float (edge masks); splits: "train"/"val"/"test" index tensors.
        target_mean/target_std: regression targets are standardised with training statistics.
        perms: hidden permutations applied to ``feats`` (after alignment), else ``None``.
    """

    task: str
    kind: str
    level: str
    out_dim: int
    spec: Any
    template: GraphTemplate
    feats: Tensor
    targets: Tensor
    splits: dict[str, Tensor]
    target_mean: Tensor | None = None
    target_std: Tensor | None = None
    perms: list[Tensor] | None = None
    layers: list[dict[str, Tensor]] | None = None

    def __len__(self) -> int:
        return int(self.feats.shape[0])

    def train_targets(self) -> Tensor:
        if self.kind == "regression":
            return (self.targets - self.target_mean) / self.target_std
        return self.targets

    def unnormalize(self, pred: Tensor) -> Tensor:
        return pred * self.target_std + self.target_mean if self.kind == "regression" else pred

    def val_score(self, pred: Tensor) -> float:
        """Selection score on the validation split (accuracy for classification, else a loss)."""
        y = self.train_targets()[self.splits["val"]]
        if self.kind == "classification":
            return M.accuracy(pred, y)
        if self.kind == "regression":
            return M.mse(pred, y)
        return float(
            torch.nn.functional.binary_cross_entropy_with_logits(pred.reshape(-1), y.reshape(-1).float())
        )

    def random_perms(self, n: int, generator: torch.Generator) -> list[Tensor]:
        """``n`` random hidden permutations (kan_graph's convention: new neuron j = old perm[j])."""
        from kan_graph import random_permutation

        return random_permutation(self.spec, generator, num_models=n)


def zoo_dataset_name(zoo: Any) -> str | None:
    """The data set a classifier zoo was trained on (from its manifest), or ``None``."""
    if getattr(zoo, "dataset", None):
        return str(zoo.dataset)
    cfg = getattr(zoo, "config", None)
    if isinstance(cfg, dict) and cfg.get("dataset"):
        return str(cfg["dataset"])
    man = getattr(zoo, "manifest", None)
    if isinstance(man, dict):
        for key in ("dataset",):
            if man.get(key):
                return str(man[key])
        pre = man.get("preset")
        if isinstance(pre, dict) and pre.get("dataset"):
            return str(pre["dataset"])
    meta = getattr(zoo, "meta", None)
    if meta and isinstance(meta[0], dict) and meta[0].get("dataset"):
        return str(meta[0]["dataset"])
    return None


def _mask_targets(zoo: Any) -> Tensor:
    if getattr(zoo, "masks", None) is None:
        raise ValueError("task 'mask' needs a classifier zoo with oracle pruning masks (zoo.masks is None)")
    return torch.cat([m.reshape(m.shape[0], -1) for m in zoo.masks], dim=1).float()


def make_task(task: str, zoo: Any) -> TaskData:
    """Inputs and targets of ``task`` (one of :data:`TASKS`) over ``zoo``."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {TASKS}")
    zk = getattr(zoo, "task", None)
    if zk is not None and zk not in _TASK_ZOO[task]:
        raise ValueError(f"task {task!r} needs a {'/'.join(_TASK_ZOO[task])} zoo, this zoo is {zk!r}")
    spec = zoo.spec
    feats = edge_features(spec, zoo.layers)
    splits = {k: torch.as_tensor(v).long() for k, v in zoo.splits.items()}
    kw: dict[str, Any] = {}
    if task == "inr":
        y = zoo.targets["label"].long()
        kind, level, out = "classification", "graph", int(y.max()) + 1
    elif task == "sine":
        y = zoo.targets["frequency"].float().reshape(len(feats), -1)
        kind, level, out = "regression", "graph", y.shape[1]
    elif task == "accuracy":
        y = zoo.targets["test_accuracy"].float().reshape(-1, 1)
        kind, level, out = "regression", "graph", 1
    else:
        y = _mask_targets(zoo)
        kind, level, out = "edge-binary", "edge", 1
    if kind == "regression":
        tr = y[splits["train"]]
        kw = {"target_mean": tr.mean(0), "target_std": tr.std(0).clamp_min(1e-6)}
    return TaskData(
        task, kind, level, out, spec, graph_template(spec), feats, y, splits, layers=zoo.layers, **kw
    )


# ---------------------------------------------------------------------------------------------- alignment
def _apply(widths: tuple[int, ...], feats: Tensor, perms: list[Tensor]) -> Tensor:
    from .data import permute_edge_features

    return permute_edge_features(widths, feats, perms)


def _align_to_ref(
    widths: tuple[int, ...], feats: Tensor, ref: Tensor, iters: int = 5
) -> tuple[Tensor, list[Tensor]]:
    """Weight matching of every model ``feats (M, E, F)`` to one reference ``ref (E, F)``.

    Coordinate descent over hidden layers; for layer ``h`` the similarity of reference neuron ``j`` and
    model neuron ``k`` sums the inner products of their incoming and outgoing edge features (channels
    summed), and ``scipy.optimize.linear_sum_assignment`` picks the permutation.
    """
    from scipy.optimize import linear_sum_assignment

    Mn, L = feats.shape[0], len(widths) - 1
    perms = [torch.arange(w).expand(Mn, w).clone() for w in widths[1:-1]]

    def view(f: Tensor, l: int) -> Tensor:  # (M, out, in, F)
        off = sum(widths[k] * widths[k + 1] for k in range(l))
        return f[:, off : off + widths[l] * widths[l + 1]].reshape(f.shape[0], widths[l + 1], widths[l], -1)

    ref = ref.unsqueeze(0)
    for _ in range(iters):
        changed = 0
        for h in range(1, L):
            cur = _apply(widths, feats, perms)
            a_in, r_in = view(cur, h - 1), view(ref, h - 1)
            a_out, r_out = view(cur, h), view(ref, h)
            # only hidden layer h moves: undo its current permutation inside cur
            inv = torch.argsort(perms[h - 1], dim=1)
            a_in = torch.gather(a_in, 1, inv[:, :, None, None].expand_as(a_in))
            a_out = torch.gather(a_out, 2, inv[:, None, :, None].expand_as(a_out))
            sim = torch.einsum("jif,mkif->mjk", r_in[0], a_in) + torch.einsum(
                "ojf,mokf->mjk", r_out[0], a_out
            )
            sim_np = sim.double().numpy()
            for m in range(Mn):
                _, col = linear_sum_assignment(sim_np[m], maximize=True)
                new = torch.as_tensor(col, dtype=torch.long)
                changed += int((new != perms[h - 1][m]).sum())
                perms[h - 1][m] = new
        if changed == 0:
            break
    return _apply(widths, feats, perms), perms


def merge_many_perms(
    widths: tuple[int, ...], feats: Tensor, ref_idx: Tensor, iters: int = 6, tol: float = 1e-3
) -> list[Tensor]:
    """MergeMany on raw edge features, then the permutations aligning every model to its average.

    The reference starts at the first model of ``ref_idx`` and becomes the mean of the aligned models
    until it changes by less than ``tol`` (relative); every model is then aligned to it.
    """
    sub = feats[ref_idx]
    ref = sub[0]
    for _ in range(iters):
        aligned, _ = _align_to_ref(widths, sub, ref)
        new = aligned.mean(0)
        done = float((new - ref).norm() / ref.norm().clamp_min(1e-12)) < tol
        ref = new
        if done:
            break
    return _align_to_ref(widths, feats, ref)[1]


def align_features(data: TaskData, max_reference_models: int = 1000) -> TaskData:
    """``data`` with every model aligned to a MergeMany reference (the "MLP + Align." baseline).

    The reference is the MergeMany average of up to ``max_reference_models`` training models. Edge
    targets are permuted the same way (``data.perms`` records the permutations).
    """
    from .data import permute_edge_features

    widths = data.template.widths
    if len(widths) <= 2:
        return replace(data, perms=[])
    train = data.splits["train"]
    from kan_graph import align_stacked, merge_many

    if data.layers is not None:
        sub = _select(data.layers, train)
        ref = merge_many(sub, spec=data.spec, max_models=max_reference_models).reference
        _, perms = align_stacked(data.spec, ref, data.layers)
    else:
        perms = merge_many_perms(widths, data.feats, train[:max_reference_models])
    feats = permute_edge_features(widths, data.feats, perms)
    targets = data.targets
    if data.level == "edge":
        targets = permute_edge_features(widths, targets.unsqueeze(-1), perms).squeeze(-1)
    return replace(data, feats=feats, targets=targets, perms=perms)


# ---------------------------------------------------------------------------------------------- evaluation
def evaluate(
    model: torch.nn.Module,
    data: TaskData,
    split: str = "test",
    *,
    threshold: float | None = None,
    device: Any = "cpu",
    batch_size: int = 256,
) -> dict[str, float]:
    """Test metrics of ``model`` on ``data``'s ``split`` (original target units)."""
    idx = data.splits[split]
    pred = predict(model, data, idx, batch_size, device)
    y = data.targets[idx]
    if data.kind == "classification":
        return {"accuracy": M.accuracy(pred, y)}
    if data.kind == "regression":
        p = data.unnormalize(pred)
        return {"mse": M.mse(p, y), "r2": M.r2(p, y)}
    scores = torch.sigmoid(pred.reshape(len(idx), -1))
    if threshold is None:
        vidx = data.splits["val"]
        vs = torch.sigmoid(predict(model, data, vidx, batch_size, device).reshape(len(vidx), -1))
        threshold = M.best_threshold(vs, data.targets[vidx])
    return {
        "accuracy": M.binary_accuracy(scores, y, threshold),
        "roc_auc": M.roc_auc(scores.flatten(), y.flatten()),
        "threshold": threshold,
        "kept_fraction_pred": float((scores > threshold).float().mean()),
        "kept_fraction_oracle": float(y.float().mean()),
    }


def run_experiment(
    task: str,
    zoo: Any,
    method: str,
    *,
    seed: int = 0,
    train_cfg: TrainConfig | None = None,
    model_cfg: dict[str, Any] | None = None,
    device: Any = "cpu",
    train_size: int | None = None,
    data: TaskData | None = None,
    log: Any = None,
) -> tuple[torch.nn.Module, TaskData, dict[str, Any]]:
    """Train ``method`` on ``task`` with ``seed`` and evaluate it; returns ``(model, data, result)``.

    ``data`` may be passed to reuse features (already aligned for ``mlp-align``). ``train_size`` takes a
    seeded random subset of the training split (the sine sweep). Raises ``InfeasibleError`` for a
    Transformer over too many edges.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {sorted(METHODS)}")
    cfg = train_cfg or TrainConfig()
    if data is None:
        data = make_task(task, zoo)
        if method == "mlp-align":
            data = align_features(data)
    if method == "mlp-aug" and not cfg.augment:
        cfg = replace(cfg, augment=True)
    with torch.random.fork_rng(devices=[]):  # seeded initialisation without touching the global RNG
        torch.manual_seed(seed)
        model = build_model(
            method,
            data.out_dim,
            data.level,
            num_edges=data.template.num_edges,
            edge_dim=data.feats.shape[-1],
            **(model_cfg or {}),
        )
    train_idx = None
    if train_size is not None:
        tr = data.splits["train"]
        if train_size > len(tr):
            raise ValueError(f"train_size={train_size} exceeds the {len(tr)} training models of the zoo")
        g = torch.Generator().manual_seed(seed)
        train_idx = tr[torch.randperm(len(tr), generator=g)[:train_size]]
    res: FitResult = fit(model, data, cfg, seed=seed, device=device, train_idx=train_idx, log=log)
    metrics = evaluate(model, data, "test", device=device)
    result = {
        "task": task,
        "method": method,
        "seed": seed,
        "train_size": train_size if train_size else len(data.splits["train"]),
        "metrics": metrics,
        "best_epoch": res.best_epoch,
        "best_val": res.best_val,
        "train_seconds": res.train_seconds,
        "seconds_per_epoch": res.seconds_per_epoch,
        "num_params": sum(p.numel() for p in model.parameters()),
        "train_config": cfg.to_dict(),
        "model_config": model.config(),
        "model_class": type(model).__name__,
        "widths": list(data.template.widths),
        "history": res.history,
        "val_metric": VAL_METRIC[data.kind],
    }
    return model, data, result


# ---------------------------------------------------------------------------------------------- pruning
def _layer_masks(widths: tuple[int, ...], flat: Tensor) -> list[Tensor]:
    """Split ``(M, E)`` edge values into per-layer ``(M, out, in)`` tensors."""
    out, off = [], 0
    for l in range(len(widths) - 1):
        n = widths[l] * widths[l + 1]
        out.append(flat[:, off : off + n].reshape(flat.shape[0], widths[l + 1], widths[l]))
        off += n
    return out


def _select(layers: list[dict[str, Tensor]], idx: Tensor, m: int | None = None) -> list[dict[str, Tensor]]:
    """Models ``idx`` of stacked layers (tensors without the model dim, e.g. a shared grid, are kept)."""
    from kan_graph.symmetry import BASE_RANK

    return [{k: (v[idx] if v.dim() > BASE_RANK.get(k, 0) else v) for k, v in p.items()} for p in layers]


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
    from .data import permute_edge_features

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

    name = zoo_dataset_name(zoo)
    X, y = classifier_inputs(zoo, "test", data_root)
    spec, m_all = zoo.spec, len(zoo)
    widths = tuple(spec.widths)
    test = torch.as_tensor(zoo.splits["test"]).long()[:max_models]
    layers = _select(zoo.layers, test, m_all)
    noise = zoo.targets["noise"].float()[test]

    def score(masks_flat: Tensor | None) -> tuple[list[float], list[float]]:
        lay = layers if masks_flat is None else apply_masks_stacked(layers, _layer_masks(widths, masks_flat))
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


def evaluate_ood(
    model: torch.nn.Module,
    task: str,
    zoos: dict[int, Any],
    *,
    device: Any = "cpu",
    train_data: TaskData | None = None,
    skipped: dict[int, str] | None = None,
) -> dict[int, dict[str, float]]:
    """Test metrics of a trained model on zoos of other hidden widths ``{h: zoo}`` (all models used).

    Regression targets are standardised with the *training* zoo's statistics (``train_data``). Widths
    the model cannot read are left out of the result, with the reason in ``skipped[h]``: flat models
    (MLP variants, DMC) read one architecture only, SetTrans refuses KANs above its ``max_edges``.
    """
    from .models import DMC, FlatMLP, InfeasibleError

    out = {}
    for h, zoo in sorted(zoos.items()):
        data = make_task(task, zoo)
        if isinstance(model, (FlatMLP, DMC)) and data.template.num_edges != model.num_edges:
            if skipped is not None:
                skipped[int(h)] = (
                    f"{type(model).__name__} reads KANs with {model.num_edges} edges only, "
                    f"h={h} has {data.template.num_edges}"
                )
            continue
        if train_data is not None and data.kind == "regression":
            data = replace(data, target_mean=train_data.target_mean, target_std=train_data.target_std)
        data = replace(data, splits={**data.splits, "test": torch.arange(len(data))})
        try:
            out[int(h)] = evaluate(model, data, "test", device=device)
        except InfeasibleError as e:
            if skipped is not None:
                skipped[int(h)] = str(e)
    return out


# ---------------------------------------------------------------------------------------------- checkpoints
def save_checkpoint(path: str | Path, model: torch.nn.Module, data: TaskData, result: dict[str, Any]) -> None:
    """Write ``path`` (.safetensors: state dict; JSON header: model class/config, task, spec, targets stats)."""
    from kan_core.io import save_tensors

    tensors = {k: v for k, v in model.state_dict().items()}
    extra = {}
    if data.target_mean is not None:
        extra = {"target_mean": data.target_mean.tolist(), "target_std": data.target_std.tolist()}
    meta = {
        "format": "kan-ws/checkpoint-1",
        "model_class": type(model).__name__,
        "model_config": json.dumps(model.config()),
        "task": data.task,
        "spec": data.spec.to_json(),
        "result": json.dumps({k: v for k, v in result.items() if k != "history"}),
        "targets": json.dumps(extra),
    }
    save_tensors(path, tensors, meta)


def load_checkpoint(path: str | Path, device: Any = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild a model saved by :func:`save_checkpoint`; returns ``(model, header)`` (no pickle)."""
    from kan_core.io import load_tensors

    from .models import model_from_config

    tensors, meta = load_tensors(path)
    if meta.get("format") != "kan-ws/checkpoint-1":
        raise ValueError(f"{path}: not a kan-ws checkpoint (format {meta.get('format')!r})")
    try:
        header = {
            k: (json.loads(v) if k in ("model_config", "result", "targets") else v) for k, v in meta.items()
        }
        model = model_from_config(meta["model_class"], header["model_config"])
        missing = [k for k in ("task", "result") if k not in header]
        if missing:
            raise KeyError(missing[0])
    except (KeyError, ValueError, TypeError) as e:
        raise ValueError(f"{path}: checkpoint header is incomplete or not JSON ({type(e).__name__}: {e})") from e
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:
        raise ValueError(f"{path}: checkpoint tensors do not fit its model ({' '.join(str(e).split())[:300]})") from e
    return model.to(device).eval(), header


def _nan_to_none(x: Any) -> Any:
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_nan_to_none(v) for v in x]
    return x
