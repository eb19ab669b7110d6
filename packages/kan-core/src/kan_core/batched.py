"""Train many KANs of one spec as one tensor program (the model-zoo engine).

``M`` KANs of the same :class:`~kan_core.KANSpec` are held as *stacked* per-layer tensors with a leading
model dimension (``coef: (M, out, in, n)``, ``grid: (M, in, K)``, ...) and run through
:func:`kan_core.functional.kan_forward`, which broadcasts over leading dimensions. Each model has

* its own initialisation: model ``i`` starts exactly as ``KAN(spec, generator=Generator().manual_seed(seeds[i]))``
  (:func:`init_stacked`);
* its own data/targets: ``x`` is shared ``(N, d_0)`` or per model ``(M, N, d_0)``; targets are per model,
  ``(M, N, d_L)`` floats for ``loss="mse"`` or ``(M, N)`` class indices for ``loss="cross_entropy"``;
* its own minibatch order, drawn from its own generator (``batch_seeds[i]``), one random permutation of
  the ``N`` samples per epoch (:func:`epoch_batches`);
* its own optimiser state. The objective is ``sum_i mean_loss_i`` so the gradient of model ``i``'s
  tensors is exactly the gradient of its own mean loss, and Adam/AdamW are elementwise, so every model
  follows the same trajectory it would follow alone (up to float rounding of batched matmuls).

Models are split into chunks that fit ``max_memory_bytes`` (estimated from the shapes by
:func:`estimate_model_bytes`); since models never interact, a model's result does not depend on the
chunk it was trained in.

Example::

    spec = KANSpec((2, 16, 1), grid_size=10)
    x = coords                      # (N, 2), shared by all models
    y = images.reshape(M, N, 1)     # one target image per model
    res = train_stacked(spec, x, y, seeds=range(M), steps=500, lr=1e-2, batch_size=128)
    res.models                      # StackedKAN(num_models=M, ...)
    res.layers[0]["coef"].shape     # (M, 16, 2, 13)
    res.metrics["loss"]             # (M,) final mean training loss per model
    res.models.kan(3)               # model 3 as a KAN

Stacked parameters travel as :class:`~kan_core.stacked.StackedKAN` (spec + tensors, validated); the
functions here also accept a plain ``list[dict[str, Tensor]]`` of stacked tensors.
"""

from __future__ import annotations

import glob
import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .basis.registry import get_basis
from .functional import kan_forward
from .layers.base import init_layer_params
from .model import KAN
from .spec import KANSpec
from .stacked import StackedKAN, as_stacked

__all__ = [
    "LOSSES",
    "TrainResult",
    "derive_seed",
    "init_stacked",
    "stack_layers",
    "unstack_layers",
    "select_models",
    "load_into_kan",
    "epoch_batches",
    "estimate_model_bytes",
    "default_max_memory",
    "eval_batch_size",
    "plan_chunk_size",
    "cache_chunk_size",
    "predict_stacked",
    "evaluate_stacked",
    "train_stacked",
]

LOSSES = ("mse", "cross_entropy")
Layers = list[dict[str, Tensor]]
#: stacked tensors as a container or as the plain per-layer dicts
AnyLayers = StackedKAN | Sequence[dict[str, Tensor]]


def derive_seed(base_seed: int, index: int, stream: str = "") -> int:
    """A 63-bit seed derived from ``(base_seed, index, stream)`` by BLAKE2b; stable across runs and
    platforms (unlike Python's ``hash``), so seeds depend only on a model's index."""
    h = hashlib.blake2b(f"{int(base_seed)}/{int(index)}/{stream}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "little") & ((1 << 63) - 1)


def _resolve_device(device: Any) -> torch.device:
    if device is None or device == "auto":
        try:
            from .runtime import resolve_device  # type: ignore[attr-defined]

            return resolve_device("auto")
        except ImportError:
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


# ---------------------------------------------------------------------------------------------- stacking
def stack_layers(models: Sequence[Sequence[dict[str, Tensor]]]) -> Layers:
    """Stack per-model layer dicts (e.g. ``[kan.layer_params() for kan in kans]``) into tensors with a
    leading model dim: ``coef (out, in, n) -> (M, out, in, n)``. With the models as KANs,
    :meth:`StackedKAN.from_kans` gives the validated container."""
    if not models:
        raise ValueError("stack_layers needs at least one model")
    depth = len(models[0])
    return [
        {name: torch.stack([m[l][name].detach() for m in models]) for name in models[0][l]}
        for l in range(depth)
    ]


def unstack_layers(layers: AnyLayers, i: int) -> Layers:
    """Model ``i``'s per-layer tensors (views) out of stacked ``layers`` (:meth:`StackedKAN.model_layers`)."""
    if isinstance(layers, StackedKAN):
        return layers.model_layers(i)
    return [{k: v[i] for k, v in p.items()} for p in layers]


def select_models(layers: AnyLayers, index: Tensor | Sequence[int] | slice) -> AnyLayers:
    """The stacked tensors of the models in ``index`` (a slice, list or long tensor): a
    :class:`StackedKAN` for a container (:meth:`StackedKAN.select`), else per-layer dicts."""
    if isinstance(layers, StackedKAN):
        return layers.select(index)
    if not isinstance(index, slice):
        index = torch.as_tensor(index, dtype=torch.long)
    return [{k: v[index] for k, v in p.items()} for p in layers]


def load_into_kan(spec: KANSpec, layers: AnyLayers, i: int) -> KAN:
    """A :class:`KAN` holding model ``i`` of the stacked ``layers`` (a copy, :meth:`KAN.from_params`)."""
    return KAN.from_params(spec, unstack_layers(layers, i))


def init_stacked(
    spec: KANSpec,
    num_models: int,
    seeds: Sequence[int],
    *,
    device: Any = None,
    dtype: torch.dtype | None = None,
) -> StackedKAN:
    """Initial stacked parameters: model ``i`` equals ``KAN(spec, generator=Generator().manual_seed(seeds[i]))``.

    Shapes: every tensor of :meth:`EdgeLayer.params` gains a leading ``num_models`` dim.
    """
    seeds = [int(s) for s in seeds]
    if len(seeds) != num_models:
        raise ValueError(f"init_stacked: got {len(seeds)} seeds for num_models={num_models}")
    models = []
    for s in seeds:  # one generator per model, drawn in the order KAN(spec, generator=...) draws
        gen = torch.Generator().manual_seed(s)
        models.append([init_layer_params(spec, i, o, gen, dtype=dtype) for o, i in spec.layer_shapes()])
    stacked = StackedKAN(spec, stack_layers(models))
    return stacked.to(torch.device(device)) if device is not None else stacked


def epoch_batches(n: int, batch_size: int | None, generator: torch.Generator | None) -> list[Tensor]:
    """One epoch's minibatches of one model: ``randperm(n, generator)`` cut into ``ceil(n / batch_size)``
    pieces (the last one shorter). Full batch (``batch_size`` None or ``>= n``): ``[arange(n)]``.
    This is the sampler both the engine and a per-model loop use."""
    if batch_size is None or batch_size >= n:
        return [torch.arange(n)]
    perm = torch.randperm(n, generator=generator)
    return list(perm.split(batch_size))


# ---------------------------------------------------------------------------------------------- memory
def estimate_model_bytes(spec: KANSpec, batch_size: int, *, data_bytes: int = 0, dtype_bytes: int = 4) -> int:
    """Rough peak bytes one model needs in a training step: parameters with gradient and two Adam
    moments (4 copies), the forward activations kept for backward and their gradients, and its own
    data (``data_bytes``). Over-estimates by design (factor 1.5)."""
    n, k = spec.num_coefficients, spec.spline_order
    params = sum(o * i * (n + 3) + i * (spec.grid_size + 2 * k + 1) for o, i in spec.layer_shapes())
    act = 0
    for o, i in spec.layer_shapes():
        # basis values + their gradient, local positions/derivatives, base activation, input, output
        act += batch_size * (i * (2 * n * dtype_bytes + (k + 1) * 16 + 4 * dtype_bytes) + 3 * o * dtype_bytes)
    return int(1.5 * (4 * params * dtype_bytes + act + data_bytes))


def default_max_memory(device: torch.device) -> int:
    """Memory budget for one chunk: 50 % of the CUDA device's total memory, else 4 GiB. Deterministic
    (not based on free memory), so a rebuilt zoo trains in the same chunks."""
    if device.type == "cuda":
        return int(0.5 * torch.cuda.get_device_properties(device).total_memory)
    return 4 << 30


def eval_batch_size(spec: KANSpec, num_models: int, max_memory_bytes: int, *, dtype_bytes: int = 4) -> int:
    """Samples per forward pass so that ``num_models`` models' inference fits ``max_memory_bytes``."""
    n, k = spec.num_coefficients, spec.spline_order
    per_sample = sum(
        i * (n * dtype_bytes + (k + 1) * 16 + 2 * dtype_bytes) + o * dtype_bytes
        for o, i in spec.layer_shapes()
    )
    return int(max(1, min(65536, max_memory_bytes // max(1, 2 * per_sample * num_models))))


def cache_chunk_size(spec: KANSpec, device: torch.device, *, dtype_bytes: int = 4) -> int | None:
    """On CPU, how many models' training state (parameters, gradients, two Adam moments) fit in the
    last-level cache: a step streams all of it, and from memory it costs more than the compute. At least
    16 models, so per-step overhead stays amortised. ``None`` on other devices (no cap).

    Measured with the sine architecture [2, 32, 32, 1], 128 models, 1 thread: per model-step the same
    for chunks of 16-128 at G=30 (state 0.6 MB per model); at G=100 (1.8 MB per model) 0.45 ms for
    chunks of 16-64 and 0.68 ms for one chunk of 128.
    """
    if device.type != "cpu":
        return None
    state = 4 * dtype_bytes * sum(int(torch.Size(shape).numel()) for shape in _trained_shapes(spec))
    return max(16, _last_level_cache_bytes() // max(1, state))


def _trained_shapes(spec: KANSpec) -> list[tuple[int, ...]]:
    n = spec.num_coefficients
    return [s for o, i in spec.layer_shapes() for s in ((o, i), (o, i), (o, i, n))]


def _last_level_cache_bytes() -> int:
    """Size of the largest CPU cache that sysfs reports (default 32 MiB)."""
    sizes = []
    for path in glob.glob("/sys/devices/system/cpu/cpu0/cache/index*/size"):
        try:
            with open(path) as fh:
                text = fh.read().strip()
        except OSError:
            continue
        unit = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        digits = text[:-1] if text[-1:] in "KMG" else text
        if digits.isdigit():
            sizes.append(int(digits) * unit)
    return max(sizes, default=32 << 20)


def plan_chunk_size(num_models: int, bytes_per_model: int, max_memory_bytes: int) -> int:
    """How many models train together: ``max_memory_bytes // bytes_per_model`` clipped to ``[1, M]``."""
    return max(1, min(num_models, int(max_memory_bytes // max(1, bytes_per_model))))


# ---------------------------------------------------------------------------------------------- compute
def _uniform_flags(spec: KANSpec, layers: Layers) -> list[bool | None]:
    basis = get_basis(spec.basis)
    return [basis.uniform_hint(p) for p in layers]


def _gather(data: Tensor, idx: Tensor, shared: bool) -> Tensor:
    """Rows ``idx (m, b)`` of ``data``: shared ``(N, ...)`` or per model ``(m, N, ...)`` -> ``(m, b, ...)``."""
    if shared:
        return data[idx]
    rows = torch.arange(idx.shape[0], device=idx.device).unsqueeze(1)
    return data[rows, idx]


def _per_model_loss(pred: Tensor, target: Tensor, loss: str) -> Tensor:
    """``pred (m, b, out)`` -> per-model mean loss ``(m,)``."""
    if loss == "mse":
        return (pred - target).pow(2).flatten(1).mean(1)
    m, b = target.shape
    return F.cross_entropy(pred.reshape(m * b, -1), target.reshape(-1), reduction="none").view(m, b).mean(1)


@torch.no_grad()
def predict_stacked(spec: KANSpec, layers: AnyLayers, x: Tensor, *, batch_size: int | None = None) -> Tensor:
    """Outputs of every model: ``x (N, d_0)`` shared or ``(M, N, d_0)`` -> ``(M, N, d_L)``, in data batches
    (``batch_size`` None: sized to :func:`default_max_memory`)."""
    if isinstance(layers, StackedKAN):
        layers = as_stacked(spec, layers, "predict_stacked").layers
    if batch_size is None:
        batch_size = eval_batch_size(spec, layers[0]["coef"].shape[0], default_max_memory(x.device))
    uniform = _uniform_flags(spec, layers)
    shared = x.dim() == 2
    outs = []
    for s in range(0, x.shape[-2], batch_size):
        xb = x[s : s + batch_size] if shared else x[:, s : s + batch_size]
        if shared:
            xb = xb.unsqueeze(0)
        outs.append(kan_forward(xb, layers, spec, uniform))
    out = torch.cat(outs, dim=-2)
    m = layers[0]["coef"].shape[0]
    return out.expand(m, *out.shape[1:]) if out.shape[0] != m else out


@torch.no_grad()
def evaluate_stacked(
    spec: KANSpec,
    layers: AnyLayers,
    x: Tensor,
    y: Tensor,
    *,
    loss: str = "mse",
    batch_size: int | None = None,
) -> dict[str, Tensor]:
    """Per-model mean loss over all of ``(x, y)`` and, for classification, accuracy; each ``(M,)``.

    ``y`` is ``(M, N, d_L)``/``(M, N)`` per model or ``(N, d_L)``/``(N,)`` shared."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if isinstance(layers, StackedKAN):
        layers = as_stacked(spec, layers, "evaluate_stacked").layers
    m = layers[0]["coef"].shape[0]
    n = x.shape[-2]
    if batch_size is None:
        batch_size = eval_batch_size(spec, m, default_max_memory(x.device))
    y_shared = y.dim() == (2 if loss == "mse" else 1)
    total = torch.zeros(m, dtype=torch.float64, device=x.device)
    correct = torch.zeros(m, dtype=torch.float64, device=x.device)
    for s in range(0, n, batch_size):
        pred = predict_stacked(spec, layers, x[..., s : s + batch_size, :], batch_size=batch_size)
        yb = y[s : s + batch_size] if y_shared else y[:, s : s + batch_size]
        if y_shared:
            yb = yb.unsqueeze(0).expand(m, *yb.shape)
        total += _per_model_loss(pred, yb, loss).double() * pred.shape[1]
        if loss == "cross_entropy":
            correct += (pred.argmax(-1) == yb).double().sum(1)
    out = {"loss": (total / n).float()}
    if loss == "cross_entropy":
        out["accuracy"] = (correct / n).float()
    return out


@dataclass
class TrainResult:
    """Trained stacked parameters and per-model metrics.

    Attributes:
        models: the trained models, leading dim ``M`` (detached, on the training device); ``layers`` is
            their per-layer dicts (:attr:`StackedKAN.layers`).
        metrics: ``"loss"`` ``(M,)`` final mean training loss (plus ``"accuracy"`` for classification),
            ``"initial_loss"`` ``(M,)``.
        chunk_size: models trained together.
    """

    models: StackedKAN
    metrics: dict[str, Tensor]
    chunk_size: int
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def layers(self) -> Layers:
        """The stacked per-layer tensors (``models.layers``)."""
        return self.models.layers


def _kernel_layout(name: str, spec: KANSpec, device: torch.device) -> bool:
    """On CPU, B-spline coefficients train as ``(M, in, nb, out)`` tensors: the native local kernel reads
    and writes that layout, so a step transposes neither the coefficients nor their gradient, and the
    optimiser updates the same (contiguous) memory. The forward sees the ``(M, out, in, nb)`` view."""
    return name == "coef" and get_basis(spec.basis).native_kernel and device.type == "cpu"


def _working_copy(name: str, t: Tensor, spec: KANSpec, fused: bool) -> Tensor:
    """A private copy of one stacked tensor to train (``requires_grad`` unless the basis freezes it or the
    fused optimiser updates it in the kernel's backward)."""
    kernel = _kernel_layout(name, spec, t.device)
    if kernel:  # a fresh tensor, never a view of t (permute().contiguous() is one where out = 1)
        src = t.detach().permute(0, 2, 3, 1)
        t = torch.empty_like(src, memory_format=torch.contiguous_format).copy_(src)
    else:
        t = t.detach().clone()
    frozen = name in get_basis(spec.basis).frozen_names(spec) or (fused and kernel)
    return t if frozen else t.requires_grad_(True)


def _fusable(spec: KANSpec, layers: Layers, x: Tensor, optimizer: str) -> bool:
    """Whether every layer's coefficients can take the fused Adam/AdamW step in the native backward: CPU,
    B-splines on uniform grids that the native kernel runs (see :mod:`kan_core.native.optim`)."""
    from .basis.bspline import native_local_applies

    if (
        optimizer not in ("adam", "adamw")
        or not get_basis(spec.basis).native_kernel
        or x.device.type != "cpu"
    ):
        return False
    return all(
        u is True and p["coef"].dtype == x.dtype and native_local_applies(x, p["grid"], spec.spline_order, u)
        for p, u in zip(layers, _uniform_flags(spec, layers))
    )


def _model_view(work: Layers, spec: KANSpec) -> Layers:
    """The tensors as :func:`kan_forward` reads them (``(M, out, in, nb)`` views of kernel-layout ones)."""
    return [
        {k: v.permute(0, 3, 1, 2) if _kernel_layout(k, spec, v.device) else v for k, v in p.items()}
        for p in work
    ]


def _make_optimizer(
    name: str, params: list[Tensor], lr: float, weight_decay: float, betas: tuple[float, float]
):
    # fused: one kernel per step over all stacked tensors (CPU and CUDA), no per-tensor temporaries
    fused = all(p.dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64) for p in params)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay, fused=fused)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=weight_decay, fused=fused)
    raise ValueError(f"optimizer must be 'adam' or 'adamw', got {name!r}")


def _train_chunk(
    spec: KANSpec,
    layers: Layers,
    x: Tensor,
    y: Tensor,
    gens: list[torch.Generator | None],
    *,
    steps: int,
    lr: float,
    optimizer: str,
    weight_decay: float,
    betas: tuple[float, float],
    batch_size: int | None,
    loss: str,
    fuse_optimizer: bool,
) -> Layers:
    """Train one chunk in place of copies of ``layers``; x/y already on the device, y per model."""
    from .native.optim import FusedAdam

    m = layers[0]["coef"].shape[0]
    dev = layers[0]["coef"].device
    fused = fuse_optimizer and _fusable(spec, layers, x, optimizer)
    work = [{k: _working_copy(k, v, spec, fused) for k, v in p.items()} for p in layers]
    trainable = [v for p in work for v in p.values() if v.requires_grad]
    opt = _make_optimizer(optimizer, trainable, lr, weight_decay, betas)
    fused_opt = (
        FusedAdam(
            [p["coef"] for p in work],
            lr=lr,
            betas=betas,
            weight_decay=weight_decay,
            decoupled=optimizer == "adamw",
        )
        if fused
        else None
    )
    uniform = _uniform_flags(spec, work)
    shared = x.dim() == 2
    n = x.shape[-2]
    full = batch_size is None or batch_size >= n
    pending: list[Tensor] = []
    for _ in range(steps):
        if full:
            xb = x.unsqueeze(0) if shared else x
            yb = y
        else:
            if not pending:
                per_model = [epoch_batches(n, batch_size, g) for g in gens]
                pending = [torch.stack([pm[j] for pm in per_model]).to(dev) for j in range(len(per_model[0]))]
                pending.reverse()
            idx = pending.pop()  # (m, b)
            xb = _gather(x, idx, shared)
            yb = _gather(y, idx, False)
        pred = kan_forward(xb, _model_view(work, spec), spec, uniform)
        if full and shared:
            pred = pred.expand(m, *pred.shape[1:]) if pred.shape[0] != m else pred
        obj = _per_model_loss(pred, yb, loss).sum()  # sum of per-model means: gradients never mix
        opt.zero_grad(set_to_none=True)
        if fused_opt is not None:
            fused_opt.begin_step()
        obj.backward()  # with fused_opt, the coefficients' Adam step happens here, in the native backward
        if fused_opt is not None:
            fused_opt.end_step()
        opt.step()
    if fused_opt is not None:
        fused_opt.close()
    return [{k: v.detach().contiguous() for k, v in p.items()} for p in _model_view(work, spec)]


def train_stacked(
    spec: KANSpec,
    x: Tensor,
    y: Tensor,
    *,
    seeds: Sequence[int] | None = None,
    layers: AnyLayers | None = None,
    steps: int,
    lr: float = 1e-2,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    batch_size: int | None = None,
    batch_seeds: Sequence[int] | None = None,
    loss: str = "mse",
    device: Any = None,
    dtype: torch.dtype = torch.float32,
    max_memory_bytes: int | None = None,
    chunk_size: int | None = None,
    progress: Callable[[int], None] | None = None,
    fuse_optimizer: bool = True,
) -> TrainResult:
    """Train ``M`` KANs of one spec, each on its own targets, as stacked tensors.

    Args:
        spec: architecture shared by all models.
        x: inputs, shared ``(N, d_0)`` or per model ``(M, N, d_0)``.
        y: per-model targets, ``(M, N, d_L)`` float (``loss="mse"``) or ``(M, N)`` long
            (``loss="cross_entropy"``).
        seeds: initialisation seeds (model ``i`` = ``KAN(spec, generator=manual_seed(seeds[i]))``);
            or pass ``layers``, stacked initial parameters (a :class:`StackedKAN` or its per-layer dicts).
        steps: optimiser steps per model.
        lr, optimizer (``"adam"``/``"adamw"``), weight_decay, betas: the optimiser.
        batch_size: minibatch size, ``None`` for full batch.
        batch_seeds: seeds of the per-model minibatch generators (default: ``seeds``, else ``0..M-1``).
        loss: ``"mse"`` or ``"cross_entropy"`` (per-model mean over the batch).
        device: ``"auto"``/``None`` (cuda when available), or a device.
        max_memory_bytes: memory budget of one chunk (default :func:`default_max_memory`).
        chunk_size: force a chunk size (overrides the estimate). By default the memory budget decides and,
            on CPU without an explicit budget, :func:`cache_chunk_size` caps it.
        progress: called with the number of models finished after each chunk.
        fuse_optimizer: where the native kernel runs every layer (CPU, uniform grids, Adam/AdamW), apply the
            coefficients' optimiser step inside the kernel's backward (:mod:`kan_core.native.optim`: each
            coefficient touched once per step, no gradient tensor). ``False``: ``torch.optim`` for every
            tensor. Both give the same results to float rounding.

    Returns:
        :class:`TrainResult` with the trained models (a :class:`StackedKAN`) and per-model metrics ``(M,)``.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    if (seeds is None) == (layers is None):
        raise ValueError("train_stacked needs exactly one of seeds= or layers=")
    dev = _resolve_device(device)
    if layers is None:
        seeds = [int(s) for s in seeds]  # type: ignore[union-attr]
        layers = init_stacked(spec, len(seeds), seeds, dtype=dtype)
    else:
        layers = as_stacked(spec, layers, "train_stacked(layers=...)")
    m = layers.num_models
    if y.shape[0] != m:
        raise ValueError(f"y must have a leading model dim of {m}, got shape {tuple(y.shape)}")
    if x.dim() == 3 and x.shape[0] != m:
        raise ValueError(f"per-model x must have leading dim {m}, got shape {tuple(x.shape)}")
    if x.dim() not in (2, 3) or x.shape[-1] != spec.widths[0]:
        raise ValueError(f"x must be (N, {spec.widths[0]}) or (M, N, {spec.widths[0]}), got {tuple(x.shape)}")
    n = x.shape[-2]
    if y.shape[1] != n:
        raise ValueError(f"y has {y.shape[1]} samples per model, x has {n}")
    if batch_seeds is None:
        batch_seeds = list(seeds) if seeds is not None else list(range(m))
    batch_seeds = [int(s) for s in batch_seeds]
    if len(batch_seeds) != m:
        raise ValueError(f"got {len(batch_seeds)} batch_seeds for {m} models")
    full = batch_size is None or batch_size >= n
    eff_b = n if full else int(batch_size)  # type: ignore[arg-type]
    if chunk_size is None:
        per_model_data = y[0].numel() * y.element_size() + (
            x[0].numel() * x.element_size() if x.dim() == 3 else 0
        )
        budget0 = max_memory_bytes if max_memory_bytes is not None else default_max_memory(dev)
        chunk_size = plan_chunk_size(m, estimate_model_bytes(spec, eff_b, data_bytes=per_model_data), budget0)
        cap = cache_chunk_size(spec, dev, dtype_bytes=torch.finfo(dtype).bits // 8)
        if cap is not None and max_memory_bytes is None:
            chunk_size = min(chunk_size, cap)
    chunk_size = max(1, min(int(chunk_size), m))

    budget = max_memory_bytes if max_memory_bytes is not None else default_max_memory(dev)
    eval_b = eval_batch_size(spec, chunk_size, budget)
    x_dev = x.to(dev, dtype) if x.dim() == 2 else None
    y_dtype = dtype if loss == "mse" else torch.long
    chunks: list[Layers] = []
    metrics: dict[str, list[Tensor]] = {}
    for s in range(0, m, chunk_size):
        sl = slice(s, min(m, s + chunk_size))
        init = [{k: v[sl].to(dev, dtype) for k, v in p.items()} for p in layers]
        xc = x_dev if x_dev is not None else x[sl].to(dev, dtype)
        yc = y[sl].to(dev, y_dtype)
        gens = [None if full else torch.Generator().manual_seed(b) for b in batch_seeds[sl]]
        before = evaluate_stacked(spec, init, xc, yc, loss=loss, batch_size=eval_b)
        trained = _train_chunk(
            spec, init, xc, yc, gens, steps=steps, lr=lr, optimizer=optimizer, weight_decay=weight_decay,
            betas=betas, batch_size=None if full else eff_b, loss=loss, fuse_optimizer=fuse_optimizer,
        )  # fmt: skip
        after = evaluate_stacked(spec, trained, xc, yc, loss=loss, batch_size=eval_b)
        metrics.setdefault("initial_loss", []).append(before["loss"])
        for k, v in after.items():
            metrics.setdefault(k, []).append(v)
        chunks.append(trained)
        if progress is not None:
            progress(sl.stop)
    out_layers = [{k: torch.cat([c[l][k] for c in chunks]) for k in chunks[0][l]} for l in range(spec.depth)]
    steps_per_epoch = 1 if full else math.ceil(n / eff_b)
    return TrainResult(
        models=StackedKAN(spec, out_layers),
        metrics={k: torch.cat(v) for k, v in metrics.items()},
        chunk_size=chunk_size,
        info={"device": str(dev), "steps": steps, "steps_per_epoch": steps_per_epoch, "batch_size": eff_b},
    )
