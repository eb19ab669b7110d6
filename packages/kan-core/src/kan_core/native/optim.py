"""Adam/AdamW fused into the native backward: the coefficients' step where their gradient is computed.

The batched engine keeps B-spline coefficients in the kernel's ``(M, in, nb, out)`` layout. With a
:class:`FusedAdam` attached to such a tensor, the native backward (``kan_local_backward_adam``) does not
write the coefficients' gradient: per (model, input) pair it accumulates the gradient sums in a scratch
block that stays in L1, then in one pass over the pair's coefficients computes the scales' gradient and
applies the Adam/AdamW step to the coefficients and their two moments in place. A step so reads and writes
each coefficient (and its moments) once: no gradient tensor to allocate, zero, write and read back, no
separate optimiser pass, and the step's cost stays nearly flat in the number of bases.

The arithmetic is torch's fused Adam (``torch.optim.Adam/AdamW(fused=True)``: L2 decay added to the
gradient for Adam, decoupled decay for AdamW, bias corrections in float64), so results equal the unfused
optimiser to float rounding.

Use: create it over the tensors (kept ``requires_grad=False``; their update comes from the kernel), call
:meth:`FusedAdam.begin_step` before each backward and :meth:`FusedAdam.end_step` after it; ``end_step``
raises if a tensor was not updated exactly once (its layer did not run the native kernel).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["FusedAdam", "fused_optimizer_of"]

_ATTR = "_kan_fused_adam"


class FusedAdam:
    """Adam (``decoupled=False``) or AdamW (``decoupled=True``) over coefficient tensors in kernel layout,
    applied by the native backward.

    Args:
        params: contiguous float CPU tensors ``(M, in, nb, out)`` (not views), not requiring grad.
        lr, betas, eps, weight_decay: as in :class:`torch.optim.Adam`.
        decoupled: AdamW's decoupled weight decay instead of Adam's L2 term.
    """

    def __init__(
        self,
        params: Sequence[Tensor],
        *,
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled: bool = False,
    ) -> None:
        self.params = list(params)
        for p in self.params:
            if (
                p.device.type != "cpu"
                or p.dtype not in (torch.float32, torch.float64)
                or not p.is_contiguous()
            ):
                raise ValueError("FusedAdam needs contiguous float32/float64 CPU tensors")
            if p._base is not None:
                raise ValueError("FusedAdam's tensors must own their memory (not views)")
            if p.requires_grad:
                raise ValueError("FusedAdam's tensors are updated by the kernel: they must not require grad")
            if getattr(p, _ATTR, None) is not None:
                raise ValueError("a tensor can have only one FusedAdam")
        self.lr, self.betas, self.eps = float(lr), (float(betas[0]), float(betas[1])), float(eps)
        self.weight_decay, self.decoupled = float(weight_decay), bool(decoupled)
        self.moments = {id(p): (torch.zeros_like(p), torch.zeros_like(p)) for p in self.params}
        self.steps = 0
        self._pending: set[int] = set()
        self._hyper = torch.zeros(8, dtype=torch.float64)
        for p in self.params:
            setattr(p, _ATTR, self)

    def begin_step(self) -> None:
        """Start step ``t + 1``: the next backward of each tensor applies it (bias corrections of ``t + 1``)."""
        if self._pending:
            raise RuntimeError("FusedAdam.begin_step: the previous step was not finished (end_step)")
        self.steps += 1
        b1, b2 = self.betas
        bc1, bc2 = 1 - b1**self.steps, 1 - b2**self.steps
        h = [
            self.lr,
            b1,
            b2,
            self.eps,
            self.weight_decay,
            float(self.decoupled),
            self.lr / bc1,
            math.sqrt(bc2),
        ]
        self._hyper.copy_(torch.tensor(h, dtype=torch.float64))
        self._pending = {id(p) for p in self.params}

    def end_step(self) -> None:
        """Check that the backward updated every tensor once in this step."""
        if self._pending:
            n, self._pending = len(self._pending), set()
            raise RuntimeError(
                f"FusedAdam: {n} of {len(self.params)} tensors got no update in step {self.steps} "
                "(their layer did not run the native local kernel's backward)"
            )

    def close(self) -> None:
        """Detach from the tensors (they can then train with another optimiser)."""
        for p in self.params:
            if getattr(p, _ATTR, None) is self:
                delattr(p, _ATTR)

    def update(self, lib, p: Tensor, args: Sequence[object]) -> None:
        """Run the fused backward of ``p`` (called by the native autograd function): ``args`` are
        ``kan_local_backward_adam``'s arguments between ``W`` and the moments, with ``W`` = ``p``."""
        if id(p) not in self._pending:
            raise RuntimeError(
                f"FusedAdam: a second backward of one tensor in step {self.steps}, or one outside "
                "begin_step/end_step"
            )
        self._pending.discard(id(p))
        mo, ve = self.moments[id(p)]
        fn = lib.kan_local_backward_adam_f32 if p.dtype == torch.float32 else lib.kan_local_backward_adam_f64
        fn(*args, mo.data_ptr(), ve.data_ptr(), self._hyper.data_ptr())


def fused_optimizer_of(c: Tensor) -> tuple[FusedAdam, Tensor] | None:
    """The :class:`FusedAdam` attached to the tensor whose memory ``c`` (kernel layout) is, with that tensor;
    ``None`` where there is none."""
    base = c if c._base is None else c._base
    opt = getattr(base, _ATTR, None)
    if opt is None or base.shape != c.shape or base.data_ptr() != c.data_ptr() or not c.is_contiguous():
        return None
    return opt, base
