"""Sine-wave INR zoo: model ``i`` fits ``g(x) = sin(w_i . x)`` on a grid of ``[-1, 1]^2``, ``w_i ~ U[0.5, 10]^2``.

Target: the frequency ``w_i`` (``targets.frequency (M, 2)``). ``w_i`` is drawn from a generator seeded by
``derive_seed(seed, i, "frequency")``, so it depends only on the model's index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from kan_core.batched import TrainResult, derive_seed
from torch import Tensor

from .presets import Preset

__all__ = ["SineTask", "sine_grid", "FREQ_RANGE"]

FREQ_RANGE = (0.5, 10.0)


def sine_grid(resolution: int) -> Tensor:
    """``resolution^2`` points of a regular grid of ``[-1, 1]^2``, ``(resolution^2, 2)``."""
    lin = torch.linspace(-1.0, 1.0, resolution)
    a, b = torch.meshgrid(lin, lin, indexing="ij")
    return torch.stack([a.reshape(-1), b.reshape(-1)], dim=1)


class SineTask:
    """Inputs, targets, metadata and splits of a sine-INR zoo."""

    task = "sine"
    loss = "mse"

    def __init__(self, preset: Preset, num_models: int, seed: int, data_root: Any = None) -> None:
        if preset.widths[0] != 2 or preset.widths[-1] != 1:
            raise ValueError(f"sine INRs map R^2 -> R; preset {preset.name!r} has widths {preset.widths}")
        self.preset, self.num_models, self.seed = preset, num_models, seed
        self.x = sine_grid(preset.resolution)

    def frequency(self, i: int) -> Tensor:
        g = torch.Generator().manual_seed(derive_seed(self.seed, i, "frequency"))
        lo, hi = FREQ_RANGE
        return lo + (hi - lo) * torch.rand(2, generator=g)

    def targets(self, indices: Sequence[int]) -> tuple[Tensor, dict[str, Tensor], list[dict[str, Any]]]:
        """``y (S, N, 1)``, ``{"frequency": (S, 2)}``, per-model metadata."""
        w = torch.stack([self.frequency(i) for i in indices])  # (S, 2)
        y = torch.sin(w @ self.x.T).unsqueeze(-1)  # (S, N, 1)
        return y, {"frequency": w}, [{"frequency": [float(a) for a in wi]} for wi in w]

    def finish(
        self, layers: list[dict[str, Tensor]], indices: Sequence[int], result: TrainResult, device: Any
    ):
        mse = result.metrics["loss"].tolist()
        return {}, None, [{"final_mse": float(m)} for m in mse]
