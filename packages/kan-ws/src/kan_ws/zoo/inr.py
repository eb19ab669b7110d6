"""Image INR zoo: model ``i`` maps pixel coordinates in ``[-1, 1]^2`` to the intensities of one image.

Model ``i < n_train + n_val`` represents training image ``P[i]`` (``P`` a seeded permutation of the
training set), the others the test images ``Q[i - n_train - n_val]``; splits: ``train`` and ``val`` are
training-image INRs, ``test`` the test-image INRs (as the paper). Target: the class
(``targets.label (M,)``). Coordinates: pixel centres, ``x[:, 0]`` the row, ``x[:, 1]`` the column.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from kan_core.batched import TrainResult, derive_seed
from kan_core.datasets import load_dataset
from torch import Tensor

from .presets import Preset, scaled_counts

__all__ = ["InrTask", "pixel_coordinates", "image_targets", "downsample_images"]


def pixel_coordinates(h: int, w: int) -> Tensor:
    """Pixel centres of an ``h x w`` image in ``[-1, 1]^2``, row-major, ``(h * w, 2)``."""
    r = (torch.arange(h) + 0.5) / h * 2 - 1
    c = (torch.arange(w) + 0.5) / w * 2 - 1
    a, b = torch.meshgrid(r, c, indexing="ij")
    return torch.stack([a.reshape(-1), b.reshape(-1)], dim=1)


def image_targets(images: Tensor) -> Tensor:
    """``(S, H, W)`` -> ``(S, H*W, 1)``; ``(S, C, H, W)`` -> ``(S, H*W, C)``."""
    if images.dim() == 3:
        return images.reshape(images.shape[0], -1, 1)
    return images.flatten(2).transpose(1, 2)


def downsample_images(x: Tensor, f: int) -> Tensor:
    """Average-pool ``(N, H, W)`` or ``(N, C, H, W)`` images by ``f`` (``f = 1``: unchanged)."""
    if f == 1:
        return x
    if x.dim() == 3:
        return F.avg_pool2d(x.unsqueeze(1), f).squeeze(1)
    return F.avg_pool2d(x, f)


class InrTask:
    """Inputs, targets, metadata and splits of an image-INR zoo."""

    task = "inr"
    loss = "mse"

    def __init__(self, preset: Preset, num_models: int, seed: int, data_root: Any = None) -> None:
        self.preset, self.num_models, self.seed = preset, num_models, seed
        self.n_train, self.n_val, self.n_test = scaled_counts(preset.splits, num_models)
        xtr, ytr = load_dataset(preset.dataset, "train", data_root)  # type: ignore[arg-type]
        xte, yte = load_dataset(preset.dataset, "test", data_root)  # type: ignore[arg-type]
        xtr, xte = downsample_images(xtr, preset.downsample), downsample_images(xte, preset.downsample)
        channels = 1 if xtr.dim() == 3 else xtr.shape[1]
        if preset.widths[0] != 2 or preset.widths[-1] != channels:
            raise ValueError(f"preset {preset.name!r}: widths {preset.widths} do not map R^2 -> R^{channels}")
        n_tv = self.n_train + self.n_val
        if n_tv > len(xtr) or self.n_test > len(xte):
            raise ValueError(f"{num_models} models need {n_tv} training and {self.n_test} test images; "
                             f"{preset.dataset} has {len(xtr)} and {len(xte)}")  # fmt: skip
        gtr = torch.Generator().manual_seed(derive_seed(seed, 0, "inr-train-images"))
        gte = torch.Generator().manual_seed(derive_seed(seed, 0, "inr-test-images"))
        ptr = torch.randperm(len(xtr), generator=gtr)[:n_tv]
        pte = torch.randperm(len(xte), generator=gte)[: self.n_test]
        self.images = torch.cat([xtr[ptr], xte[pte]])
        self.labels = torch.cat([ytr[ptr], yte[pte]])
        self.source = [("train", int(j)) for j in ptr] + [("test", int(j)) for j in pte]
        h, w = self.images.shape[-2:]
        self.x = pixel_coordinates(h, w)

    def targets(self, indices: Sequence[int]) -> tuple[Tensor, dict[str, Tensor], list[dict[str, Any]]]:
        idx = torch.as_tensor(list(indices), dtype=torch.long)
        y = image_targets(self.images[idx])
        meta = [{"label": int(self.labels[i]), "image_split": self.source[i][0], "image_index": self.source[i][1]}
                for i in idx.tolist()]  # fmt: skip
        return y, {"label": self.labels[idx].clone()}, meta

    def finish(
        self, layers: list[dict[str, Tensor]], indices: Sequence[int], result: TrainResult, device: Any
    ):
        out = []
        for m in result.metrics["loss"].tolist():
            out.append({"final_mse": float(m), "psnr": float(10 * math.log10(1.0 / max(m, 1e-12)))})
        return {}, None, out
