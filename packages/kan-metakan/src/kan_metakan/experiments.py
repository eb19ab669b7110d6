"""The defaults of every MetaKAN experiment, written once: one frozen dataclass per experiment.

``kan metakan <experiment>`` takes its option defaults from these, and the ``run_*`` functions of
:mod:`kan_metakan.tasks` take their keyword defaults from them, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "FeynmanConfig",
    "HighdimConfig",
    "ImagesConfig",
    "ConvConfig",
    "PdeConfig",
    "SymbolicConfig",
    "FEYNMAN",
    "HIGHDIM",
    "IMAGES",
    "CONV",
    "PDE",
    "SYMBOLIC",
    "csv",
]


@dataclass(frozen=True)
class FeynmanConfig:
    """Feynman equations, KAN vs MetaKAN (LBFGS, lr 1)."""

    equations: tuple[str, ...] = ("I.6.20a", "I.12.5", "I.13.4")
    grid_sizes: tuple[int, ...] = (5, 20)
    steps: int = 20
    hidden: int = 32
    n_train: int = 1000
    n_test: int = 1000
    prompt_dims: tuple[int, ...] = (1,)
    n_val: int = 0
    #: candidate numbers of MetaKAN meta-learners (Algorithm 2; capped at the number of layers of each structure)
    clusters: tuple[int, ...] = (1,)


@dataclass(frozen=True)
class HighdimConfig:
    """High-dimensional test functions on ``[-1, 1]^n``."""

    functions: tuple[str, ...] = ("f1", "f2", "f3")
    dims: tuple[int, ...] = (10, 20)
    grid_size: int = 5
    steps: int = 20
    n_train: int = 1000
    n_test: int = 1000


@dataclass(frozen=True)
class ImagesConfig:
    """Image classification with KAN / MetaKAN MLP-style networks."""

    datasets: tuple[str, ...] = ("digits",)
    hiddens: tuple[tuple[int, ...], ...] = ((32,),)
    grid_sizes: tuple[int, ...] = (5,)
    epochs: int = 5
    meta_hidden: int = 32
    max_train: int | None = None
    lr_prompt: float = 3e-2
    lr_meta: float = 3e-3
    prompt_dim: int = 1
    models: tuple[str, ...] = ("kan", "metakan")


@dataclass(frozen=True)
class ConvConfig:
    """4-layer KA-conv networks, plain vs Meta."""

    dataset: str = "fashion-mnist"
    kinds: tuple[str, ...] = ("kan", "fastkan", "kaln", "kagn")
    channels: tuple[int, ...] = (8, 16, 32, 32)
    epochs: int = 1
    batch: int = 32
    lr: float = 1e-2
    lr_prompt: float = 1e-1
    lr_meta: float = 1e-3
    meta_hidden: int = 32
    #: meta-learners per kind, chosen on held-out training images (:func:`~kan_metakan.tasks.images.run_conv`)
    clusters: Mapping[str, int] = field(default_factory=lambda: {"kan": 1, "fastkan": 2, "kaln": 4, "kagn": 2})
    max_train: int | None = 4000
    max_test: int | None = 1000


@dataclass(frozen=True)
class PdeConfig:
    """Physics-informed KAN / MetaKAN on PDEs in the unit ball (hard boundary condition)."""

    equations: tuple[str, ...] = ("poisson", "allen-cahn", "sine-gordon")
    dims: tuple[int, ...] = (20,)
    basis: str = "bspline"
    grid_size: int = 5
    widths_hidden: tuple[int, ...] = (32, 32, 32)
    meta_hidden: int = 128
    prompt_dim: int = 4
    clusters: int = 3
    steps: int = 600
    metakan_steps: int | None = 2000
    lbfgs_steps: int = 0
    n_interior: int = 1000
    metakan_n_interior: int | None = 500
    metakan_warmup: int = 200
    n_test: int = 2000
    lr: float = 1e-2
    lr_prompt: float = 3e-2
    lr_meta: float = 4e-3
    models: tuple[str, ...] = ("kan", "metakan")


@dataclass(frozen=True)
class SymbolicConfig:
    """Symbolic regression of ``x1 * x2`` with a ``[2, 2, 1]`` MetaKAN and pykan's library."""

    steps: int = 500
    n_train: int = 500
    lib: tuple[str, ...] = ("x", "x^2", "sin", "exp")


FEYNMAN = FeynmanConfig()
HIGHDIM = HighdimConfig()
IMAGES = ImagesConfig()
CONV = ConvConfig()
PDE = PdeConfig()
SYMBOLIC = SymbolicConfig()


def csv(values: tuple | Mapping[str, int], sep: str = ",") -> str:
    """A tuple or mapping default as the comma-separated text a CLI option takes (``((32,), (8, 8))`` with
    ``sep=";"`` -> ``"32;8,8"``; ``{"kan": 1, "kagn": 2}`` -> ``"kan=1,kagn=2"``)."""
    if isinstance(values, Mapping):
        return sep.join(f"{k}={v}" for k, v in values.items())
    return sep.join(csv(v) if isinstance(v, tuple) else str(v) for v in values)
