"""The meta-learner ``M_theta: z in R^{dim z} -> w in R^d``: Linear, ReLU, Linear (MetaKAN, eq. 9)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["MetaLearner", "generate"]


def generate(z: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) -> Tensor:
    """``W2 relu(W1 z + b1) + b2`` for every prompt: ``(..., dim_z) -> (..., d)``."""
    h = torch.relu(torch.nn.functional.linear(z, w1, b1))  # (..., hidden)
    return torch.nn.functional.linear(h, w2, b2)


class MetaLearner(nn.Module):
    """Two-layer MLP generating one activation's weight vector from its prompt.

    Args:
        prompt_dim: ``dim z``; hidden: ``d_hidden``; out_dim: ``d`` (weights per activation).

    Shapes: ``(..., prompt_dim) -> (..., out_dim)``. Parameters: ``(dim z + 1) d_hidden + (d_hidden + 1) d``.
    """

    def __init__(
        self,
        prompt_dim: int,
        hidden: int,
        out_dim: int,
        *,
        generator: torch.Generator | None = None,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        if min(prompt_dim, hidden, out_dim) < 1:
            raise ValueError(f"MetaLearner sizes must be positive, got {prompt_dim=}, {hidden=}, {out_dim=}")
        fk = {"device": device, "dtype": dtype}
        self.prompt_dim, self.hidden, self.out_dim = prompt_dim, hidden, out_dim
        self.w1 = nn.Parameter(torch.empty(hidden, prompt_dim, **fk))
        self.b1 = nn.Parameter(torch.empty(hidden, **fk))
        self.w2 = nn.Parameter(torch.empty(out_dim, hidden, **fk))
        self.b2 = nn.Parameter(torch.empty(out_dim, **fk))
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """PyTorch's Linear initialisation (uniform in ``+-1/sqrt(fan_in)``), drawn from ``generator``."""
        for w, b in ((self.w1, self.b1), (self.w2, self.b2)):
            bound = 1.0 / math.sqrt(w.shape[1])
            w.copy_(
                (torch.rand(w.shape, generator=generator, dtype=w.dtype, device=w.device) * 2 - 1) * bound
            )
            b.copy_(
                (torch.rand(b.shape, generator=generator, dtype=b.dtype, device=b.device) * 2 - 1) * bound
            )

    @torch.no_grad()
    def calibrate(self, z: Tensor, offset: Tensor, std: Tensor) -> None:
        """Rescale the output layer so that over the prompts ``z (E, dim z)`` output ``j`` has mean
        ``offset[j]`` and standard deviation ``std[j]`` (a data-dependent, LSUV-like initialisation).

        This is what keeps generated activations distinct at initialisation: every output varies across
        edges by ``std``, instead of collapsing to the bias as with tiny prompts.
        """
        h = torch.relu(torch.nn.functional.linear(z, self.w1, self.b1))
        raw = torch.nn.functional.linear(h, self.w2)  # (E, d)
        mean, sd = raw.mean(0), raw.std(0) if raw.shape[0] > 1 else torch.zeros_like(raw[0])
        ok = sd > 1e-8
        scale = torch.where(ok, std / torch.where(ok, sd, torch.ones_like(sd)), torch.ones_like(sd))
        self.w2.mul_(scale[:, None])
        self.b2.copy_(offset - mean * scale)

    def params(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return self.w1, self.b1, self.w2, self.b2

    def forward(self, z: Tensor) -> Tensor:
        return generate(z, *self.params())

    def extra_repr(self) -> str:
        return f"prompt_dim={self.prompt_dim}, hidden={self.hidden}, out_dim={self.out_dim}"
