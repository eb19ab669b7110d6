"""Saving and loading KANs: tensors in safetensors, spec and metadata as JSON in its header. No pickle.

Every file the toolkit writes goes through :func:`atomic_write_bytes` (a temporary name in the same folder,
then a rename, with the permissions a plain ``open()`` would give under the umask); a folder that is built
in several steps goes through :func:`staged_folder` (built beside its destination, moved into place only
when complete).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .spec import KANSpec

FORMAT = "kan-core/1"

__all__ = [
    "save_kan",
    "read_kan",
    "atomic_write_bytes",
    "write_figure",
    "panel_grid",
    "staged_folder",
    "file_mode",
    "save_tensors",
    "load_tensors",
    "check_layer_tensors",
    "check_knots",
    "FORMAT",
]


def _umask() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no other portable way to read it; restored at once
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The permission bits ``open(path, "w")`` gives a new file here (``0o666`` less the umask)."""
    return 0o666 & ~_umask()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic rename.

    The file gets the mode a plain ``open()`` would give it (``0o666`` less the umask), not the private
    ``0o600`` of :func:`tempfile.mkstemp`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, file_mode())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


@contextlib.contextmanager
def staged_folder(out: str | os.PathLike, *, replace: bool = False) -> Iterator[Path]:
    """Build a folder beside ``out`` and move it into place only when the block finishes.

    Yields a fresh, empty folder ``.<name>.partial-<pid>`` in ``out``'s parent. When the block raises, it
    is removed and ``out`` is untouched; when it finishes, it is renamed to ``out``. An existing ``out`` is
    replaced only with ``replace=True`` (it is moved aside first and deleted once the new one is in
    place); otherwise :class:`FileExistsError` is raised before anything is built.
    """
    out = Path(out)
    if out.exists() and not replace:
        raise FileExistsError(f"{out}: already exists")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = out.parent / f".{out.name}.partial-{os.getpid()}"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir()
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(stage, out)
    if old is not None:
        shutil.rmtree(old) if old.is_dir() else old.unlink()


def write_figure(fig: Any, path: str | os.PathLike, *, dpi: int = 100) -> Path:
    """Render a matplotlib figure to PNG and write it with :func:`atomic_write_bytes` (no half-written
    figure is ever seen; the umask's mode); the caller keeps and closes the figure. Returns ``path``."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def panel_grid(n: int, *, cols: int = 3, panel: tuple[float, float] = (5.0, 4.25)) -> tuple[Any, list[Any]]:
    """A matplotlib figure of ``n >= 1`` panels, ``min(cols, n)`` to a row and as many rows as they need,
    each ``panel`` inches; returns ``(figure, the n axes)`` with the grid's unused axes hidden."""
    import matplotlib.pyplot as plt

    c = min(cols, n)
    r = -(-n // c)
    fig, axes = plt.subplots(r, c, figsize=(panel[0] * c, panel[1] * r), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_axis_off()
    return fig, flat[:n]


def save_tensors(path: str | os.PathLike, tensors: dict[str, Tensor], metadata: dict[str, str]) -> None:
    """Atomically write a safetensors file."""
    from safetensors.torch import save

    data = save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, metadata=metadata)
    atomic_write_bytes(path, data)


def load_tensors(path: str | os.PathLike) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Read a safetensors file; raises ``ValueError`` naming ``path`` when it is missing or corrupt."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises several error types for corrupt files
        raise ValueError(f"{path}: not a readable safetensors file ({e})") from e
    return tensors, meta


def save_kan(kan: Any, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> None:
    """Write ``kan`` (a :class:`~kan_core.KAN`) as ``layers.{l}.{name}`` tensors plus JSON header."""
    tensors = {f"layers.{l}.{k}": v for l, p in enumerate(kan.layer_params()) for k, v in p.items()}
    meta = {"format": FORMAT, "spec": kan.spec.to_json(), "metadata": json.dumps(metadata or {})}
    save_tensors(path, tensors, meta)


def check_knots(grid: Tensor, name: str, where: Any) -> None:
    """Knots of every input row must increase strictly, or all be equal: the collapsed grid that
    ``update_grid`` gives an input that is constant over the data (a dead neuron). Decreasing knots, or
    some equal and some not, are never produced by a fit and are refused (``ValueError`` starting with
    ``where`` and naming the tensor ``name``)."""
    d = grid.diff(dim=-1)
    if bool((d < 0).any()):
        raise ValueError(f"{where}: tensor {name} has decreasing knots (not a B-spline grid)")
    tied = d == 0
    partial = tied.any(-1) & ~tied.all(-1)
    if bool(partial.any()):
        raise ValueError(
            f"{where}: tensor {name} has a degenerate grid (some equal knots in a row that is not constant)"
        )


def check_layer_tensors(
    spec: KANSpec, tensors: dict[str, Tensor], where: Any, *, models: int | None = -1
) -> list[dict[str, Tensor]]:
    """Check the ``layers.{l}.{name}`` entries of ``tensors`` against ``spec``; returns them per layer.

    Names, shapes (``spec.param_shapes()``, after a leading model dim of ``models`` when it is not -1;
    ``None`` accepts any model count shared by all tensors), floating dtypes, finiteness and, for
    B-splines, valid knots (see :func:`check_knots`). Entries not starting with
    ``layers.`` are ignored. Raises ``ValueError`` starting with ``where`` and naming the tensor.
    """
    shapes = spec.param_shapes()
    expected = {f"layers.{l}.{k}": v for l, p in enumerate(shapes) for k, v in p.items()}
    present = {k for k in tensors if k.startswith("layers.")}
    missing, extra = sorted(set(expected) - present), sorted(present - set(expected))
    if missing or extra:
        raise ValueError(f"{where}: tensors do not match its spec (missing {missing}, unexpected {extra})")
    lead: tuple[int, ...] = ()
    if models is None:
        first = tensors[next(iter(expected))]
        lead = tuple(first.shape[:1])
    elif models != -1:
        lead = (models,)
    for name, shape in expected.items():
        t = tensors[name]
        if tuple(t.shape) != (*lead, *shape):
            raise ValueError(f"{where}: tensor {name} has shape {tuple(t.shape)}, spec expects {(*lead, *shape)}")
        if not t.is_floating_point():
            raise ValueError(f"{where}: tensor {name} has dtype {t.dtype}, expected a floating-point dtype")
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{where}: tensor {name} holds non-finite values")
        if name.endswith(".grid") and t.shape[-1] > 1:
            check_knots(t, name, where)
    per_layer: list[dict[str, Tensor]] = [{} for _ in range(spec.depth)]
    for name in expected:
        _, l, k = name.split(".", 2)
        per_layer[int(l)][k] = tensors[name]
    return per_layer


def read_kan(path: str | os.PathLike) -> tuple[KANSpec, list[dict[str, Tensor]], dict[str, Any]]:
    """Read a file written by :func:`save_kan`, checking format, spec, names, shapes, dtypes, finiteness
    and grids against the header's spec before any model is allocated (raises ``ValueError`` naming
    ``path``). Returns ``(spec, per-layer tensors, metadata)``; :func:`kan_core.model.load_kan` builds the KAN.
    """
    tensors, meta = load_tensors(path)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not a kan-core KAN file (format {meta.get('format')!r}, expected {FORMAT!r})")
    try:
        spec = KANSpec.from_json(meta["spec"])
    except (KeyError, ValueError, TypeError) as e:
        raise ValueError(f"{path}: bad or missing spec in header ({e})") from e
    per_layer = check_layer_tensors(spec, tensors, path)
    dtypes = {t.dtype for t in tensors.values()}
    if len(dtypes) != 1:
        raise ValueError(f"{path}: tensors mix dtypes {sorted(str(d) for d in dtypes)}")
    try:
        metadata = json.loads(meta.get("metadata", "{}"))
    except ValueError as e:
        raise ValueError(f"{path}: header 'metadata' is not JSON ({e})") from e
    if not isinstance(metadata, dict):
        raise ValueError(f"{path}: header 'metadata' must be a JSON object, got {type(metadata).__name__}")
    return spec, per_layer, metadata
