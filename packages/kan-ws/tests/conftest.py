"""Tiny zoos built directly from KAN objects (no zoo build), shared by the kan-ws tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from kan_core import KAN, KANSpec
from torch import Tensor


@dataclass
class TinyZoo:
    """Duck-typed stand-in for kan_ws.zoo.Zoo: stacked layers of random (untrained) KANs."""

    spec: KANSpec
    task: str
    layers: list[dict[str, Tensor]]
    targets: dict[str, Tensor]
    splits: dict[str, Tensor]
    masks: list[Tensor] | None = None
    meta: list[dict[str, Any]] = field(default_factory=list)
    dataset: str | None = None

    def __len__(self) -> int:
        return self.layers[0]["coef"].shape[0]

    def kan(self, i: int) -> KAN:
        k = KAN(self.spec)
        k.load_layer_params([{n: v[i] for n, v in p.items()} for p in self.layers])
        return k


def make_tiny_zoo(
    task: str, widths=(2, 4, 4, 1), num: int = 24, seed: int = 0, grid_size: int = 3
) -> TinyZoo:
    spec = KANSpec(tuple(widths), grid_size=grid_size, spline_order=3)
    g = torch.Generator().manual_seed(seed)
    kans = [KAN(spec, generator=torch.Generator().manual_seed(seed * 1000 + i)) for i in range(num)]
    layers = []
    for l in range(spec.depth):
        ps = [{k: v.detach().clone() for k, v in kan.layer_params()[l].items()} for kan in kans]
        layers.append({k: torch.stack([p[k] for p in ps]) for k in ps[0]})
    # make the targets depend on the weights so something is learnable
    w = torch.stack([kan.layers[0].scale_base.detach().flatten() for kan in kans])
    targets: dict[str, Tensor] = {}
    masks = None
    if task == "sine":
        targets["frequency"] = torch.stack([w[:, 0], w[:, 1]], 1) * 5 + 5
    elif task == "inr":
        targets["label"] = (w[:, 0] > 0).long() + (w[:, 1] > 0).long()
    else:
        targets["test_accuracy"] = torch.sigmoid(w[:, 0] * 3)
        targets["noise"] = torch.rand(num, generator=g)
        masks = [(p["scale_base"].abs() > 0.3 * p["scale_base"].abs().mean()).float() for p in layers]
    n_tr, n_va = num // 2, num // 4
    perm = torch.randperm(num, generator=g)
    splits = {"train": perm[:n_tr], "val": perm[n_tr : n_tr + n_va], "test": perm[n_tr + n_va :]}
    return TinyZoo(
        spec,
        "classifier" if task == "classifier" else task,
        layers,
        targets,
        splits,
        masks,
        dataset="digits" if task == "classifier" else None,
    )


@pytest.fixture
def tiny_zoo():
    return make_tiny_zoo
