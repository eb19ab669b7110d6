"""The weight-space methods of the WS-KAN paper, one entry each: model, options, augmentation/alignment.

Every list of methods in kan-ws (CLI choices, the demo and ``kan repro`` plans, table and plot order,
display names) reads :data:`REGISTRY`; its order is the paper's table order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from torch import nn

from .baselines import DMC, DeepSets, FlatMLP, SetTransformer
from .wskan import WSKAN

__all__ = ["Method", "REGISTRY", "get_method", "method_names", "MODEL_CLASSES", "fixed_edge_count"]


def _graph_sizes(kw: dict[str, Any], num_edges: int, edge_dim: int) -> None:
    """WS-KAN reads any architecture: only its input sizes default from the zoo."""
    kw.setdefault("edge_in", edge_dim)
    kw.setdefault("node_in", 1)


def _flat_sizes(kw: dict[str, Any], num_edges: int, edge_dim: int) -> None:
    kw.update(num_edges=num_edges, edge_dim=edge_dim)


def _set_sizes(kw: dict[str, Any], num_edges: int, edge_dim: int) -> None:
    kw.update(edge_dim=edge_dim)


@dataclass(frozen=True)
class Method:
    """One weight-space method.

    Attributes:
        name: the method's key (``kan ws train --model``, result JSON ``"method"``).
        display: its name in tables and figures.
        model_class: the ``nn.Module`` it trains (constructor ``(out_dim, level, **options)``).
        options: constructor keywords fixed by the method (the ablations switch WS-KAN parts off).
        family: ``"baseline"``, ``"wskan"`` or ``"ablation"``.
        augment: trains on randomly permuted hidden neurons ("MLP + Aug.").
        align: reads zoo models aligned to a MergeMany reference ("MLP + Align.").
        sizes: fills the constructor's size keywords from ``(num_edges, edge_dim)`` of the zoo.
        max_hidden: the CLI caps ``--hidden`` at this for the method (attention over every edge).
        edge_limited: the model refuses KANs above a ``max_edges`` option.
        one_architecture: the model reads KANs with its training zoo's edge count only (its ``num_edges``;
            flat models), so other widths are refused before any work.
    """

    name: str
    display: str
    model_class: type[nn.Module]
    family: str
    sizes: Callable[[dict[str, Any], int, int], None]
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    augment: bool = False
    align: bool = False
    max_hidden: int | None = None
    edge_limited: bool = False
    one_architecture: bool = False


def _m(name: str, display: str, cls: type[nn.Module], family: str, sizes: Callable, **kw: Any) -> Method:
    opts = MappingProxyType(dict(kw.pop("options", {})))
    return Method(name, display, cls, family, sizes, options=opts, **kw)


#: method name -> :class:`Method`, in the paper's table order
REGISTRY: Mapping[str, Method] = MappingProxyType(
    {
        m.name: m
        for m in (
            _m("mlp", "MLP", FlatMLP, "baseline", _flat_sizes, one_architecture=True),
            _m("mlp-aug", "MLP + Aug.", FlatMLP, "baseline", _flat_sizes, one_architecture=True, augment=True),
            _m("mlp-align", "MLP + Align.", FlatMLP, "baseline", _flat_sizes, one_architecture=True, align=True),
            _m("dmc", "DMC", DMC, "baseline", _flat_sizes, one_architecture=True),
            _m("deepsets", "DeepSets", DeepSets, "baseline", _set_sizes),
            _m(
                "settrans",
                "SetTrans",
                SetTransformer,
                "baseline",
                _flat_sizes,
                max_hidden=64,
                edge_limited=True,
            ),
            _m("wskan", "WS-KAN", WSKAN, "wskan", _graph_sizes),
            _m("wskan-nope", "WS-KAN - no PE", WSKAN, "ablation", _graph_sizes, options={"use_pe": False}),
            _m(
                "wskan-nobidir",
                "WS-KAN - no BIDIR",
                WSKAN,
                "ablation",
                _graph_sizes,
                options={"bidirectional": False},
            ),
        )
    }
)

#: model class name (checkpoint header ``model_class``) -> class
MODEL_CLASSES: Mapping[str, type[nn.Module]] = MappingProxyType(
    {m.model_class.__name__: m.model_class for m in REGISTRY.values()}
)


def get_method(name: str) -> Method:
    """The registered method ``name``; a ``ValueError`` lists the known ones."""
    if name not in REGISTRY:
        raise ValueError(f"unknown method {name!r}; choose from {sorted(REGISTRY)}")
    return REGISTRY[name]


def method_names(*families: str) -> tuple[str, ...]:
    """Registered method names of ``families`` (all when none given), in the paper's order."""
    return tuple(n for n, m in REGISTRY.items() if not families or m.family in families)


def fixed_edge_count(model: nn.Module) -> int | None:
    """The edge count every KAN read by ``model`` must have when its methods read one architecture only
    (:attr:`Method.one_architecture`), else ``None`` (any widths)."""
    flags = {m.one_architecture for m in REGISTRY.values() if m.model_class is type(model)}
    return int(model.num_edges) if flags == {True} else None
