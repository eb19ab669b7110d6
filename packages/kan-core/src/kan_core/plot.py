"""Native activation plots: every learned edge function of every layer, one PNG per layer (pykan-style).

:func:`edge_curves` evaluates the edges numerically (no matplotlib); :func:`plot_activations` draws them.
Each layer is swept over its basis' natural input domain (:meth:`kan_core.basis.Basis.domain`): a B-spline
layer over the span of each input's grid (without the ``k`` extension knots), the other built-in bases
over ``spec.grid_range``. A layer's figure is a
grid of ``d_out`` rows by ``d_in`` columns; the panel in row ``o``, column ``i`` shows ``phi_{o,i}(x)``
(before the node affine, masked edges drawn faint and dashed), and panels fade with the edge's range
relative to the largest one in the layer, as pykan's plots do.

Drawing needs matplotlib, the ``plot`` extra: ``pip install 'kan-core[plot]'``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .basis.registry import get_basis
from .model import KAN

__all__ = ["EdgeCurves", "edge_curves", "plot_activations", "require_matplotlib", "PLOT_EXTRA_HINT"]

PLOT_EXTRA_HINT = "plotting needs matplotlib, which is not installed: pip install 'kan-core[plot]'"


class EdgeCurves:
    """One layer's sampled edge functions.

    Attributes:
        x: ``(P, d_in)`` sample points, one column per input (each its own domain).
        y: ``(P, d_out, d_in)`` ``phi_{o,i}(x[:, i])``.
        mask: ``(d_out, d_in)`` the layer's edge mask (0 = pruned).
    """

    def __init__(self, x: Tensor, y: Tensor, mask: Tensor) -> None:
        self.x, self.y, self.mask = x, y, mask


def _domain(kan: KAN, l: int) -> tuple[Tensor, Tensor]:
    """``(lo, hi)``, each ``(d_in,)``, of layer ``l``'s inputs: the basis' natural domain."""
    layer = kan.layers[l]
    lo, hi = get_basis(kan.spec.basis).domain(kan.spec, layer.params())
    if isinstance(lo, Tensor):  # per input neuron (B-spline grids)
        return lo.detach(), hi.detach()
    n = layer.coef.shape[1]
    ref = layer.coef
    return torch.full((n,), lo, dtype=ref.dtype, device=ref.device), torch.full(
        (n,), hi, dtype=ref.dtype, device=ref.device
    )


@torch.no_grad()
def edge_curves(kan: KAN, num_points: int = 200) -> list[EdgeCurves]:
    """Every layer's edge functions on ``num_points`` even points of each input's domain (CPU tensors)."""
    if num_points < 2:
        raise ValueError(f"num_points must be at least 2, got {num_points}")
    out = []
    for l, layer in enumerate(kan.layers):
        lo, hi = _domain(kan, l)
        t = torch.linspace(0, 1, num_points, dtype=lo.dtype, device=lo.device).unsqueeze(1)
        x = lo + (hi - lo) * t  # (P, d_in)
        out.append(EdgeCurves(x.cpu(), layer.edges(x).cpu(), layer.mask.detach().cpu()))
    return out


def require_matplotlib() -> Any:
    """``matplotlib.pyplot`` on the Agg backend, or an ImportError naming the ``plot`` extra."""
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError(PLOT_EXTRA_HINT) from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _draw_layer(plt: Any, curves: EdgeCurves, l: int, basis: str, panel: float) -> bytes:
    x, y, mask = curves.x, curves.y, curves.mask
    d_out, d_in = mask.shape
    span = (y.amax(0) - y.amin(0)) * (mask != 0)  # (d_out, d_in)
    top = float(span.max()) or 1.0
    fig, axes = plt.subplots(
        d_out, d_in, figsize=(max(2.0, panel * d_in), max(1.6, panel * d_out)), squeeze=False
    )
    try:
        for o in range(d_out):
            for i in range(d_in):
                ax = axes[o][i]
                pruned = float(mask[o, i]) == 0
                alpha = 0.25 if pruned else max(0.15, float(span[o, i]) / top)
                ax.plot(x[:, i], y[:, o, i], color="black", lw=1.2, alpha=alpha, ls="--" if pruned else "-")
                ax.set_xticks([])
                ax.set_yticks([])
                if o == d_out - 1:
                    ax.set_xlabel(f"in {i}", fontsize=7)
                if i == 0:
                    ax.set_ylabel(f"out {o}", fontsize=7)
        fig.suptitle(f"layer {l}: {d_in} -> {d_out} ({basis})", fontsize=9)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
    finally:
        plt.close(fig)
    return buf.getvalue()


def plot_activations(
    kan: KAN,
    out_dir: str | Path,
    *,
    num_points: int = 200,
    max_edges: int = 1024,
    panel_inches: float = 1.0,
    force: bool = False,
) -> tuple[list[Path], list[str]]:
    """Draw every layer's edge functions into ``out_dir/layer{l}.png``.

    Args:
        kan: any KAN (every basis).
        num_points: sample points per edge.
        max_edges: layers with more edges than this are skipped (a 784x32 layer would be 25k panels).
        force: overwrite existing ``layer{l}.png`` files; without it they are an error.

    Returns:
        ``(written PNG paths, one note per skipped layer)``.

    Raises:
        ImportError: matplotlib is missing (names the ``kan-core[plot]`` extra).
        FileExistsError: a target PNG exists and ``force`` is off (nothing is written).
    """
    plt = require_matplotlib()
    out = Path(out_dir)
    targets = [out / f"layer{l}.png" for l in range(len(kan.layers))]
    existing = [str(p) for p in targets if p.exists()]
    if existing and not force:
        raise FileExistsError(
            f"{', '.join(existing)} already exist(s); allow overwriting (--force on the command line)"
        )
    from .io import atomic_write_bytes

    written, skipped = [], []
    for l, (curves, path) in enumerate(zip(edge_curves(kan, num_points), targets)):
        n = curves.mask.numel()
        if n > max_edges:
            skipped.append(f"layer {l}: {n} edges > max_edges={max_edges}, not drawn")
            continue
        atomic_write_bytes(path, _draw_layer(plt, curves, l, kan.spec.basis, panel_inches))
        written.append(path)
    return written, skipped
