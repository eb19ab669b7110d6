"""Exact conversion between pykan 0.2.8 ``MultKAN`` models and :class:`kan_core.KAN`.

pykan stores every layer in ``(in, out, ...)`` layout; kan-core follows torch, ``(out, in, ...)``:

====================================  ==========================  ==============================
pykan (``model.act_fun[l]``)          shape                       kan-core (``kan.layers[l]``)
====================================  ==========================  ==============================
``coef``                              (in, out, G + k)            ``coef`` (out, in, G + k)
``scale_base``, ``scale_sp``, ``mask``  (in, out)                 same names, (out, in)
``grid``                              (in, G + 2k + 1)            ``grid``, unchanged
``subnode_scale/bias[l]`` then        (out,)                      ``node_scale``, ``node_bias``
``node_scale/bias[l]``                                            (composed into one affine)
====================================  ==========================  ==============================

pykan applies ``y -> subnode_scale * y + subnode_bias`` and then ``y -> node_scale * y + node_bias`` after
each layer; :func:`from_pykan` composes them into kan-core's single node affine
``node_scale * subnode_scale``, ``node_scale * subnode_bias + node_bias``. By default the resulting spec
has ``affine=True`` only when some layer's composed affine differs from the identity (so a freshly
initialised or trained-without-affine pykan model becomes a plain KAN); pass ``affine=True`` to always
keep it. :func:`to_pykan` writes kan-core's affine into pykan's ``node_scale/node_bias`` and leaves the
sub-node affine at the identity, so ``KAN -> pykan -> KAN`` is exact.

Not representable (a clear error is raised): multiplication nodes (``width`` entries ``[n, m]`` with
``m > 0``), active symbolic functions, per-layer grid sizes or orders that differ.

``prune_input`` keeps the inputs ``model.input_id`` of the original ``n`` and the pruned model reads
``x[:, input_id]`` of an ``n``-column ``x``. pykan keeps no record of ``n``, so :func:`from_pykan` takes it
as ``num_inputs``: the KAN then reads all ``n`` columns and the dropped inputs get masked-out edges. This
covers every outcome: any kept subset in any order, dropping the last inputs (``input_id`` is ``0..m-1``,
which looks like an unpruned model: without ``num_inputs`` the KAN reads ``m`` columns, exactly what the
pykan model reads of a wider ``x``), and dropping every input (the KAN is then a constant function).
An ``input_id`` that is not ``0..m-1`` needs ``num_inputs``; one that names an input twice is refused.

:func:`to_pykan` runs one forward pass with pykan's ``save_act`` on a sample spread over every input's grid
(or on the ``sample`` you pass), so ``to_pykan(kan).plot()`` works at once.

pykan's constructor seeds torch, numpy and ``random`` globally and may write checkpoints;
:func:`to_pykan` builds the model with ``auto_save=False`` and restores every global RNG state afterwards,
so calling it has no global side effects.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..basis.registry import get_basis
from ..model import KAN
from ..spec import KANSpec

__all__ = ["from_pykan", "to_pykan", "plot_sample", "load_pykan_checkpoint"]

_INSTALL_HINT = "pykan is not installed; install the optional extra: pip install 'kan-core[pykan]'"


def _multkan_class() -> type:
    try:
        with preserve_global_rng():
            from kan.MultKAN import MultKAN
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError(_INSTALL_HINT) from e
    return MultKAN


@contextlib.contextmanager
def preserve_global_rng() -> Iterator[None]:
    """Restore torch's (CPU and initialised CUDA), numpy's and ``random``'s global RNG states on exit."""
    torch_state = torch.random.get_rng_state()
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    np_state = np.random.get_state()
    py_state = random.getstate()
    try:
        yield
    finally:
        torch.random.set_rng_state(torch_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)
        np.random.set_state(np_state)
        random.setstate(py_state)


def _base_activation_name(model: Any) -> str:
    """pykan keeps the name in ``base_fun_name``, except after ``prune_input`` where it holds a module."""
    name = getattr(model, "base_fun_name", None)
    if isinstance(name, str):
        if name not in ("silu", "identity", "zero"):
            raise NotImplementedError(
                f"pykan base_fun {name!r} has no kan-core equivalent (silu/identity/zero)"
            )
        return name
    fun = name if name is not None else getattr(model, "base_fun", None)
    if isinstance(fun, nn.SiLU):
        return "silu"
    if isinstance(fun, nn.Identity):
        return "identity"
    raise NotImplementedError(f"cannot map pykan base_fun {fun!r} to a kan-core base_activation")


def _check_convertible(model: Any) -> None:
    if not (hasattr(model, "act_fun") and hasattr(model, "width")):
        raise TypeError(f"from_pykan needs a pykan MultKAN, got {type(model).__name__}")
    mult = [l for l, w in enumerate(model.width) if not isinstance(w, int) and int(w[1]) > 0]
    if mult:
        raise NotImplementedError(
            f"pykan model has multiplication nodes in layers {mult} (width={model.width}); "
            "kan-core KANs have sum nodes only"
        )
    if getattr(model, "symbolic_enabled", False):
        active = [l for l, s in enumerate(model.symbolic_fun) if bool((s.mask != 0).any())]
        if active:
            raise NotImplementedError(
                f"pykan model has active symbolic functions in layers {active}; kan-core cannot represent them "
                "(unfix them with model.unfix_symbolic_all(), or set model.symbolic_enabled = False to drop them)"
            )
    ks = {int(a.k) for a in model.act_fun}
    gs = {int(a.grid.shape[1]) - 2 * int(a.k) - 1 for a in model.act_fun}
    if len(ks) != 1 or len(gs) != 1:
        raise NotImplementedError(
            f"pykan model uses different grid sizes {sorted(gs)} or orders {sorted(ks)} per layer; "
            "a KANSpec has one of each"
        )


@torch.no_grad()
def from_pykan(model: Any, *, num_inputs: int | None = None, affine: bool | None = None) -> KAN:
    """Convert a pykan ``MultKAN`` into a :class:`kan_core.KAN` computing the same function.

    Args:
        model: a pykan 0.2.8 ``MultKAN`` (``kan.KAN``), possibly trained, grid-updated or pruned.
        num_inputs: the original input count of a model whose inputs were pruned by ``prune_input``
            (``model.input_id`` is a subset of ``range(num_inputs)``); the KAN then takes the full input
            and the dropped inputs' edges are masked out. Not needed otherwise.
        affine: ``None`` (default) keeps a node affine in the spec only when some layer's composed
            affine is not the identity; ``True`` always keeps it; ``False`` refuses a non-trivial one.

    Returns:
        a KAN on the model's device and dtype; grids are copied exactly (non-uniform grids are detected
        by ``load_params``). ``kan(x)`` equals ``model(x)`` to float rounding.
    """
    _check_convertible(model)
    acts = list(model.act_fun)
    widths = [int(a.in_dim) for a in acts] + [int(acts[-1].out_dim)]
    k = int(acts[0].k)
    G = int(acts[0].grid.shape[1]) - 2 * k - 1
    ref = acts[0].coef
    dtype, device = ref.dtype, ref.device

    input_id = getattr(model, "input_id", None)
    ids = torch.arange(widths[0]) if input_id is None else input_id.long().cpu()
    if len(set(ids.tolist())) != len(ids):
        raise ValueError(
            f"pykan model reads inputs {ids.tolist()} (input_id): an input twice is not representable"
        )
    prefix = torch.equal(ids, torch.arange(widths[0], dtype=torch.long))
    if num_inputs is None:
        if not prefix or widths[0] == 0:
            raise ValueError(
                f"pykan model reads inputs {ids.tolist()} of a wider input (input_id, set by prune_input); "
                "pass num_inputs=<original input count> to from_pykan"
            )
        num_inputs = widths[0]
    elif num_inputs < widths[0] or (len(ids) and int(ids.max()) >= num_inputs):
        raise ValueError(f"num_inputs={num_inputs} but the pykan model reads inputs {ids.tolist()}")
    widen = num_inputs != widths[0] or not prefix

    layers: list[dict[str, Tensor]] = []
    for l, a in enumerate(acts):
        p = {
            "coef": a.coef.detach().transpose(0, 1),
            "scale_base": a.scale_base.detach().T,
            "scale_sp": a.scale_sp.detach().T,
            "mask": a.mask.detach().T,
            "grid": a.grid.detach(),
        }
        ns, nb = model.node_scale[l].detach(), model.node_bias[l].detach()
        ss, sb = model.subnode_scale[l].detach(), model.subnode_bias[l].detach()
        p["node_scale"] = ns * ss
        p["node_bias"] = ns * sb + nb
        layers.append({name: t.to(dtype) for name, t in p.items()})

    nontrivial = any(bool((p["node_scale"] != 1).any() or (p["node_bias"] != 0).any()) for p in layers)
    if affine is None:
        affine = nontrivial
    elif not affine and nontrivial:
        raise ValueError("affine=False but the pykan model has a non-identity node/subnode affine")
    if not affine:
        for p in layers:
            del p["node_scale"], p["node_bias"]

    grid_range = tuple(float(v) for v in getattr(model, "grid_range", (-1.0, 1.0)))
    if widen:
        layers[0] = _widen_inputs(layers[0], ids.to(device), num_inputs, G, k, grid_range)
        widths[0] = int(num_inputs)

    spec = KANSpec(
        tuple(widths),
        basis="bspline",
        grid_size=G,
        spline_order=k,
        grid_range=grid_range,  # type: ignore[arg-type]
        base_activation=_base_activation_name(model),
        affine=affine,
    )
    return KAN.from_params(spec, layers)  # no initialisation: every tensor comes from the pykan model


def _widen_inputs(
    p: dict[str, Tensor], ids: Tensor, n: int, G: int, k: int, grid_range: tuple[float, float]
) -> dict[str, Tensor]:
    """Layer-0 tensors over ``n`` inputs: the kept inputs at ``ids``, the others masked out."""
    from ..basis import uniform_grid

    out = {}
    for name in ("coef", "scale_base", "scale_sp", "mask"):
        t = p[name]
        full = torch.zeros(t.shape[0], n, *t.shape[2:], dtype=t.dtype, device=t.device)
        full[:, ids] = t
        out[name] = full
    grid = uniform_grid(n, G, k, grid_range, dtype=p["grid"].dtype, device=p["grid"].device)
    grid[ids] = p["grid"]
    out["grid"] = grid
    for name in ("node_scale", "node_bias"):
        if name in p:
            out[name] = p[name]
    return out


def plot_sample(kan: KAN, num_points: int = 101) -> Tensor:
    """``(num_points, d_0)`` inputs spread evenly over each input's domain (B-splines: the span of its grid
    without the ``k`` extension knots on either side), in ``kan``'s dtype and device."""
    layer = kan.layers[0]
    t = torch.linspace(0, 1, num_points, dtype=layer.coef.dtype, device=layer.coef.device).unsqueeze(1)
    lo, hi = get_basis(kan.spec.basis).domain(kan.spec, layer.params())  # the basis' natural domain
    if not isinstance(lo, Tensor):  # one range shared by all inputs
        return lo + (hi - lo) * t.expand(num_points, kan.spec.widths[0])
    return lo.detach() + (hi - lo).detach() * t


def to_pykan(kan: KAN, *, sample: Tensor | None = None, **kwargs: Any) -> Any:
    """Convert a B-spline :class:`kan_core.KAN` into a pykan ``MultKAN`` computing the same function.

    Args:
        kan: a KAN of a pykan-compatible basis (B-splines).
        sample: ``(N, d_0)`` inputs for the forward pass that records pykan's activations (``save_act``),
            so that ``model.plot()`` works at once; default :func:`plot_sample` (an even sweep of every
            input's grid). Not used with ``save_act=False``.
        **kwargs: passed to ``MultKAN``; defaults are ``symbolic_enabled=False``, ``auto_save=False``,
            ``save_act=True``, ``seed=0`` (pykan's constructor seeds the global RNGs; their states are
            restored before returning). With ``auto_save=False`` pykan writes no files, and the model's
            ``plot()`` draws into a temporary folder instead of ``./figures`` (pass ``folder=`` to keep them).

    Returns:
        ``kan.MultKAN`` on ``kan``'s device, its tensors in ``kan``'s dtype, with the activations of
        ``sample`` recorded when ``save_act`` is on.
    """
    spec = kan.spec
    if not get_basis(spec.basis).pykan_compatible:
        raise ValueError(f"to_pykan needs a B-spline KAN (pykan has no {spec.basis!r} basis)")
    ref = kan.layers[0].coef
    device = ref.device
    opts: dict[str, Any] = {
        "grid": spec.grid_size,
        "k": spec.spline_order,
        "grid_range": list(spec.grid_range),
        "base_fun": spec.base_activation,
        "symbolic_enabled": False,
        "auto_save": False,
        "save_act": True,
        "seed": 0,
        "device": str(device),
    }
    opts.update(kwargs)
    multkan = _multkan_class()
    with preserve_global_rng():
        model = multkan(width=list(spec.widths), **opts)  # pykan mutates its width list: pass a fresh one
    with torch.no_grad():
        for l, (layer, a) in enumerate(zip(kan.layers, model.act_fun)):
            p = layer.params()  # type: ignore[operator]
            a.coef.data = p["coef"].detach().transpose(0, 1).contiguous().clone()
            a.scale_base.data = p["scale_base"].detach().T.contiguous().clone()
            a.scale_sp.data = p["scale_sp"].detach().T.contiguous().clone()
            a.mask.data = p["mask"].detach().T.contiguous().clone()
            a.grid.data = p["grid"].detach().clone()
            out = p["coef"].shape[0]
            ones = torch.ones(out, dtype=ref.dtype, device=device)
            model.subnode_scale[l].data = ones.clone()
            model.subnode_bias[l].data = torch.zeros_like(ones)
            if spec.affine:
                model.node_scale[l].data = p["node_scale"].detach().clone()
                model.node_bias[l].data = p["node_bias"].detach().clone()
            else:
                model.node_scale[l].data = ones.clone()
                model.node_bias[l].data = torch.zeros_like(ones)
    if model.save_act:
        x = plot_sample(kan) if sample is None else sample
        if x.dim() != 2 or x.shape[1] != spec.widths[0]:
            raise ValueError(f"sample must be (N, {spec.widths[0]}), got {tuple(x.shape)}")
        with torch.no_grad():
            model(x.to(device=device, dtype=ref.dtype))
    _plot_into_temporary_folder(model)
    return model


def _plot_into_temporary_folder(model: Any) -> None:
    """pykan's ``plot()`` writes its per-edge PNGs into ``./figures`` of the working directory; give this
    model's ``plot`` a private temporary folder instead (removed with the model). ``folder=`` still wins."""
    import functools
    import shutil
    import tempfile
    import weakref

    plot = getattr(type(model), "plot", None)
    if plot is None:
        return
    folder = tempfile.mkdtemp(prefix="kan-pykan-plot-")
    weakref.finalize(model, shutil.rmtree, folder, True)

    @functools.wraps(plot)
    def plot_here(*args: Any, **kw: Any) -> Any:
        kw.setdefault("folder", folder)
        return plot(model, *args, **kw)

    model.plot = plot_here  # an instance attribute: other MultKANs keep pykan's default


def load_pykan_checkpoint(path: Any) -> KAN:
    """A pykan ``saveckpt`` checkpoint (``<p>_config.yml`` + ``<p>_state``) as a :class:`kan_core.KAN`.

    ``path`` is ``<p>`` or either of its two files. The state dict is read with
    ``torch.load(weights_only=True)`` (no arbitrary unpickling), the config with ``yaml.safe_load``; the
    model is rebuilt from the config (``auto_save=False``, global RNGs restored) and converted with
    :func:`from_pykan`.

    Raises:
        ValueError: the two files are not there or cannot be read (the message names the file).
        ImportError: pykan is not installed (names the extra to install).
    """
    from pathlib import Path

    p = str(path)
    for suffix in ("_config.yml", "_state", "_cache_data"):
        if p.endswith(suffix):
            p = p[: -len(suffix)]
    cfg_path, state_path = Path(p + "_config.yml"), Path(p + "_state")
    if not cfg_path.is_file() or not state_path.is_file():
        raise ValueError(f"{path}: not a pykan checkpoint (need {cfg_path} and {state_path})")
    multkan = _multkan_class()
    import yaml  # a dependency of pykan (the kan-core[pykan] extra)

    try:
        config = yaml.safe_load(cfg_path.read_text())
        width, grid, k = config["width"], config["grid"], config["k"]
    except (yaml.YAMLError, KeyError, TypeError) as e:
        raise ValueError(f"{cfg_path}: not a pykan config (width, grid, k) ({e})") from e
    try:
        state = torch.load(state_path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - report any refusal of the safe loader
        raise ValueError(f"{state_path}: cannot be read as a plain state dict ({e})") from e
    import tempfile

    with preserve_global_rng(), tempfile.TemporaryDirectory() as tmp:
        model = multkan(
            width=width,
            grid=grid,
            k=k,
            mult_arity=config.get("mult_arity", 2),
            base_fun=config.get("base_fun_name", "silu"),
            symbolic_enabled=config.get("symbolic_enabled", True),
            affine_trainable=config.get("affine_trainable", False),
            grid_eps=config.get("grid_eps", 0.02),
            grid_range=config.get("grid_range", [-1, 1]),
            sp_trainable=config.get("sp_trainable", True),
            sb_trainable=config.get("sb_trainable", True),
            auto_save=False,
            first_init=False,
            ckpt_path=tmp,
            device="cpu",
        )
        try:
            model.load_state_dict(state)
        except (RuntimeError, TypeError) as e:
            raise ValueError(f"{state_path}: does not match the config in {cfg_path} ({e})") from e
    return from_pykan(model)
