"""Label-noise classifier zoo (accuracy prediction and pruning-mask prediction).

Model ``i`` is a KAN classifier trained on the training images with a fraction ``p_i ~ U[lo, hi]`` of
the labels shuffled: ``round(p_i N)`` samples are picked at random and their labels permuted among
them (the paper's "randomly selected portions of the training data and permuted their labels").
Targets: ``test_accuracy`` on the clean test set and ``noise`` ``p_i``; the oracle pruning masks
(``masks.{l}``: 0 where the edge's mean |activation| over the training inputs is below the threshold,
paper 0.01) with the kept-weight fraction in the metadata. All randomness of model ``i`` comes from
generators seeded by ``derive_seed(seed, i, ...)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from kan_core.batched import TrainResult, default_max_memory, derive_seed, evaluate_stacked
from kan_core.datasets import load_dataset
from kan_core.prune import kept_fraction, oracle_masks_stacked
from torch import Tensor

from .inr import downsample_images
from .presets import Preset

__all__ = ["ClassifierTask", "noisy_labels", "classifier_data"]


def noisy_labels(labels: Tensor, fraction: float, generator: torch.Generator) -> Tensor:
    """A copy of ``labels (N,)`` with ``round(fraction N)`` randomly chosen entries permuted among
    themselves."""
    n = labels.shape[0]
    k = int(round(fraction * n))
    out = labels.clone()
    if k > 1:
        sel = torch.randperm(n, generator=generator)[:k]
        out[sel] = labels[sel[torch.randperm(k, generator=generator)]]
    return out


class ClassifierTask:
    """Inputs, noisy targets, evaluation, oracle masks and splits of a classifier zoo."""

    task = "classifier"
    loss = "cross_entropy"

    def __init__(self, preset: Preset, num_models: int, seed: int, data_root: Any = None) -> None:
        self.preset, self.num_models, self.seed = preset, num_models, seed
        xtr, ytr = load_dataset(preset.dataset, "train", data_root)  # type: ignore[arg-type]
        xte, yte = load_dataset(preset.dataset, "test", data_root)  # type: ignore[arg-type]
        xtr, xte = downsample_images(xtr, preset.downsample), downsample_images(xte, preset.downsample)
        if preset.train_subset is not None and preset.train_subset < len(xtr):
            g = torch.Generator().manual_seed(derive_seed(seed, 0, "train-subset"))
            keep = torch.randperm(len(xtr), generator=g)[: preset.train_subset].sort().values
            xtr, ytr = xtr[keep], ytr[keep]
        self.x, self.y = xtr.flatten(1).contiguous(), ytr
        self.x_test, self.y_test = xte.flatten(1).contiguous(), yte
        if self.x.shape[1] != preset.widths[0]:
            raise ValueError(
                f"preset {preset.name!r}: images have {self.x.shape[1]} pixels, widths[0] is {preset.widths[0]}"
            )
        n_classes = int(ytr.max()) + 1
        if preset.widths[-1] < n_classes:
            raise ValueError(f"preset {preset.name!r}: {n_classes} classes but {preset.widths[-1]} outputs")

    def noise(self, i: int) -> float:
        g = torch.Generator().manual_seed(derive_seed(self.seed, i, "noise"))
        lo, hi = self.preset.noise_range
        return float(lo + (hi - lo) * torch.rand(1, generator=g))

    def targets(self, indices: Sequence[int]) -> tuple[Tensor, dict[str, Tensor], list[dict[str, Any]]]:
        """``y (S, N)`` noisy labels, ``{"noise": (S,)}``, metadata."""
        ys, ps, meta = [], [], []
        for i in indices:
            p = self.noise(i)
            g = torch.Generator().manual_seed(derive_seed(self.seed, i, "labels"))
            y = noisy_labels(self.y, p, g)
            ys.append(y)
            ps.append(p)
            meta.append({"noise": p, "changed_labels": float((y != self.y).float().mean())})
        return torch.stack(ys), {"noise": torch.tensor(ps, dtype=torch.float32)}, meta

    def finish(
        self, layers: list[dict[str, Tensor]], indices: Sequence[int], result: TrainResult, device: Any
    ):
        """Clean test accuracy, oracle masks over the training inputs and kept fractions."""
        dev = layers[0]["coef"].device
        s = layers[0]["coef"].shape[0]
        ev = evaluate_stacked(
            self.preset.spec, layers, self.x_test.to(dev), self.y_test.to(dev), loss="cross_entropy"
        )
        widest = max(o * i for o, i in self.preset.spec.layer_shapes())
        bs = int(max(1, min(4096, default_max_memory(dev) // (s * widest * 4 * 8))))
        masks = oracle_masks_stacked(
            self.preset.spec, layers, self.x.to(dev), self.preset.prune_threshold, batch_size=bs
        )
        kept = kept_fraction(masks)
        acc = ev["accuracy"].cpu()
        meta = [
            {"test_accuracy": float(a), "train_accuracy_noisy": float(t), "final_loss": float(l), "kept_fraction": float(k)}
            for a, t, l, k in zip(acc, result.metrics["accuracy"].cpu(), result.metrics["loss"].cpu(), kept.cpu())
        ]  # fmt: skip
        return {"test_accuracy": acc.float()}, [m.cpu() for m in masks], meta


def classifier_data(zoo: Any, split: str = "test", data_root: Any = None) -> tuple[Tensor, Tensor]:
    """The inputs ``(N, d_0)`` and clean labels ``(N,)`` a classifier zoo's models were trained
    (``split="train"``, after the preset's subset) or evaluated (``"test"``) on, preprocessed the same
    way (downsampling, flattening). ``zoo`` is a :class:`~kan_ws.zoo.Zoo` (its ``config`` and seed)."""
    from .presets import Preset

    cfg = dict(zoo.config)
    cfg["widths"] = tuple(cfg["widths"])
    cfg["splits"] = tuple(cfg["splits"])
    cfg["noise_range"] = tuple(cfg["noise_range"])
    task = ClassifierTask(Preset(**cfg), len(zoo), int(zoo.seed), data_root)
    return (task.x, task.y) if split == "train" else (task.x_test, task.y_test)
