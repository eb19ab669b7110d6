"""Zoo presets: the WS-KAN paper's model zoos (appendix C) and CPU-scale versions of the same kind.

Every ``*-paper`` preset follows appendix C: B-spline KANs trained with Adam (pykan's ``fit``), fixed
learning rate 0.01, batch size 128;

* sine INRs: ``g(x) = sin(w . x)``, ``w ~ U[0.5, 10]^2``, KAN [2, 32, 32, 1], G=30, k=3, 1000 epochs,
  1000 models split 800/100/100, target ``w``;
* image INRs: pixel coordinates in ``[-1, 1]^2`` -> intensity, [2, 32, 32, 1] (MNIST, F-MNIST) or
  [2, 32, 32, 3] (CIFAR-10), G=10, k=3, 1000 epochs; INRs of 15000 training images (train 10000 / val
  5000) plus the INRs of all 10000 test images (test), target the class;
* label-noise classifiers: [784, 32, 32, 10], G=5, k=3, 100 epochs, a random fraction ``p ~ U[0, 1]`` of
  the training labels shuffled among themselves, 4000 models split 3000/500/500, targets test accuracy
  and the oracle pruning mask (edges with mean |activation| over the training data < 0.01 removed).

``{mnist,fmnist}-inr-h{48,64,80,96}-paper``: the wider test-image INRs of the out-of-distribution
evaluation (section 5.1.1).

Choices the paper does not state (ours): the sine wave is sampled on a 32 x 32 grid of ``[-1, 1]^2``;
pixel coordinates are pixel centres; the 15000 training images are a seeded sample.

The ``*-cpu`` presets keep each family (task, basis, depth, optimiser, lr, batch size) and shrink sizes
so each builds in about 1-3 minutes on two CPU cores; their docstrings (``Preset.doc``) say what changed.
``splits`` are counts for ``num_models``; with another model count they scale proportionally.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from kan_core import KANSpec

__all__ = ["Preset", "PRESETS", "OOD_CPU_WIDTHS", "get_preset", "with_basis", "scaled_counts", "zoo_splits"]


@dataclass(frozen=True)
class Preset:
    """One zoo recipe.

    Attributes:
        name: registry key; task: ``"sine"``, ``"inr"`` or ``"classifier"``; dataset: image dataset name.
        widths, grid_size, spline_order: the KAN; ``grid_size`` is also the RBF centre count.
        basis: a registered basis name (:func:`kan_core.basis.basis_names`), B-splines by default;
            degree: polynomial degree (``chebyshev``, ``legendre``, ``gram``); wavelet: the wavelet family.
            They enter :meth:`config` (and so the zoo fingerprint) only when not at their defaults, so
            B-spline zoos keep the fingerprints and bytes they had before presets named a basis.
        num_models: default zoo size; splits: ``(train, val, test)`` counts (INR: test = test-image INRs).
        epochs, batch_size, lr, optimizer: training of each model.
        resolution: sine: samples per axis of the ``[-1, 1]^2`` grid.
        downsample: classifier/INR images average-pooled by this factor (1 = none).
        train_subset: classifiers: use only this many training images (None = all).
        noise_range: classifiers: label-noise fraction drawn from ``U[lo, hi]``.
        prune_threshold: oracle pruning threshold on the mean |activation|.
        shard_size: models per shard file.
        doc: what this preset is and how it differs from the paper.
    """

    name: str
    task: str
    widths: tuple[int, ...]
    grid_size: int
    spline_order: int = 3
    basis: str = "bspline"
    degree: int = 3
    wavelet: str = "mexican_hat"
    dataset: str | None = None
    num_models: int = 1000
    splits: tuple[int, int, int] = (800, 100, 100)
    epochs: int = 1000
    batch_size: int | None = 128
    lr: float = 0.01
    optimizer: str = "adam"
    resolution: int = 32
    downsample: int = 1
    train_subset: int | None = None
    noise_range: tuple[float, float] = (0.0, 1.0)
    prune_threshold: float = 0.01
    shard_size: int = 100
    doc: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.task not in ("sine", "inr", "classifier"):
            raise ValueError(f"Preset.task must be sine/inr/classifier, got {self.task!r}")
        if self.task != "sine" and self.dataset is None:
            raise ValueError(f"preset {self.name!r}: task {self.task!r} needs a dataset")
        try:
            self.spec  # noqa: B018 - validates basis and hyper-parameters against the basis registry
        except (TypeError, ValueError) as e:
            raise ValueError(f"preset {self.name!r}: {e}") from None

    @property
    def spec(self) -> KANSpec:
        """The KAN architecture of every model of the zoo."""
        return KANSpec(
            tuple(self.widths), basis=self.basis, grid_size=self.grid_size, spline_order=self.spline_order,
            degree=self.degree, wavelet=self.wavelet,
        )  # fmt: skip

    def replace(self, **changes: Any) -> Preset:
        return dataclasses.replace(self, **changes)

    def config(self) -> dict[str, Any]:
        """JSON-able settings: everything but the docstring; ``basis``, ``degree`` and ``wavelet`` only when one
        of them differs from its default (B-splines), so B-spline fingerprints stay as they were."""
        d = dataclasses.asdict(self)
        d.pop("doc")
        defaults = {f.name: f.default for f in dataclasses.fields(self) if f.name in _BASIS_FIELDS}
        if all(d[key] == defaults[key] for key in _BASIS_FIELDS):
            for key in _BASIS_FIELDS:
                d.pop(key)
        d["widths"] = list(self.widths)
        d["splits"] = list(self.splits)
        d["noise_range"] = list(self.noise_range)
        return d


#: fields added with bases; at their defaults (B-splines) they are left out of ``Preset.config``
_BASIS_FIELDS = ("basis", "degree", "wavelet")


def with_basis(
    preset: str | Preset,
    basis: str,
    *,
    degree: int | None = None,
    grid_size: int | None = None,
    wavelet: str | None = None,
) -> Preset:
    """``preset`` with its KANs built on ``basis`` (a registered name); hyper-parameters left ``None`` keep
    the preset's. Everything else (task, data, widths, training) is unchanged, so zoos of two bases built
    from one preset differ only in the basis.

    Example: ``build_zoo(with_basis("sine-cpu", "chebyshev", degree=4), "runs/zoos/sine-cheb")``.
    """
    from kan_core.basis import get_basis

    p = get_preset(preset)
    changes: dict[str, Any] = {"basis": get_basis(basis).name}
    for key, value in (("degree", degree), ("grid_size", grid_size), ("wavelet", wavelet)):
        if value is not None:
            changes[key] = value
    return p.replace(**changes)


def _p(**kw: Any) -> Preset:
    return Preset(**kw)


_LIST = [
    # ------------------------------------------------------------------ paper (appendix C)
    _p(name="sine-paper", task="sine", widths=(2, 32, 32, 1), grid_size=30, num_models=1000,
       splits=(800, 100, 100), epochs=1000, resolution=32,
       doc="Appendix C.1.1 sine-wave INRs: 1000 KANs [2,32,32,1], G=30, k=3, 1000 epochs, batch 128, lr 0.01."),
    _p(name="mnist-inr-paper", task="inr", dataset="mnist", widths=(2, 32, 32, 1), grid_size=10,
       num_models=25000, splits=(10000, 5000, 10000), epochs=1000, shard_size=250,
       doc="Appendix C.1.1 MNIST INRs [2,32,32,1], G=10: 15000 training-image INRs (10k train / 5k val) "
       "+ INRs of the 10000 test images, 1000 epochs, batch 128, lr 0.01."),
    _p(name="fmnist-inr-paper", task="inr", dataset="fashion-mnist", widths=(2, 32, 32, 1), grid_size=10,
       num_models=25000, splits=(10000, 5000, 10000), epochs=1000, shard_size=250,
       doc="Appendix C.1.1 Fashion-MNIST INRs, as mnist-inr-paper."),
    _p(name="cifar10-inr-paper", task="inr", dataset="cifar10", widths=(2, 32, 32, 3), grid_size=10,
       num_models=25000, splits=(10000, 5000, 10000), epochs=1000, shard_size=250,
       doc="Appendix C.1.1 CIFAR-10 INRs [2,32,32,3] (RGB), G=10, as mnist-inr-paper."),
    _p(name="mnist-clf-paper", task="classifier", dataset="mnist", widths=(784, 32, 32, 10), grid_size=5,
       num_models=4000, splits=(3000, 500, 500), epochs=100, shard_size=50,
       doc="Appendix C.2.1/C.3.1 MNIST classifiers [784,32,32,10], G=5, 100 epochs, batch 128, lr 0.01, "
       "label noise p~U[0,1], oracle masks at 0.01."),
    _p(name="fmnist-clf-paper", task="classifier", dataset="fashion-mnist", widths=(784, 32, 32, 10),
       grid_size=5, num_models=4000, splits=(3000, 500, 500), epochs=100, shard_size=50,
       doc="Appendix C.2.1/C.3.1 Fashion-MNIST classifiers, as mnist-clf-paper."),
    _p(name="kmnist-clf-paper", task="classifier", dataset="kmnist", widths=(784, 32, 32, 10), grid_size=5,
       num_models=4000, splits=(3000, 500, 500), epochs=100, shard_size=50,
       doc="Appendix C.2.1/C.3.1 K-MNIST classifiers, as mnist-clf-paper."),
    # ------------------------------------------------------------------ CPU scale
    _p(name="sine-cpu", task="sine", widths=(2, 16, 16, 1), grid_size=10, num_models=300,
       splits=(240, 30, 30), epochs=150, resolution=16, shard_size=100,
       doc="CPU sine INRs: 300 KANs [2,16,16,1] (paper 1000 x [2,32,32,1]), G=10 (paper 30), a 16x16 grid "
       "(paper 32x32), 150 epochs (paper 1000); same w ~ U[0.5,10]^2, Adam lr 0.01, batch 128, 80/10/10 split."),
    _p(name="digits-inr-cpu", task="inr", dataset="digits", widths=(2, 16, 16, 1), grid_size=10,
       num_models=300, splits=(150, 50, 100), epochs=300, batch_size=None, shard_size=100,
       doc="CPU INRs of scikit-learn's 8x8 digits: 300 KANs [2,16,16,1], G=10, full batch (64 pixels), 300 "
       "epochs; 200 training-image INRs (150 train / 50 val) + 100 test-image INRs."),
    _p(name="fmnist-inr-cpu", task="inr", dataset="fashion-mnist", widths=(2, 16, 16, 1), grid_size=10,
       num_models=200, splits=(100, 50, 50), epochs=40, shard_size=100,
       doc="CPU Fashion-MNIST INRs: 200 KANs [2,16,16,1] (paper [2,32,32,1]), G=10, 40 epochs (paper 1000) "
       "of batch 128 over the 784 pixels; 150 training-image INRs (100/50) + 50 test-image INRs."),
    _p(name="fmnist-inr-cpu-large", task="inr", dataset="fashion-mnist", widths=(2, 16, 16, 1), grid_size=10,
       num_models=1500, splits=(1000, 250, 250), epochs=40, shard_size=250,
       doc="CPU Fashion-MNIST INRs for the classification table: fmnist-inr-cpu with 1500 KANs (paper 25000): "
       "1250 training-image INRs (1000 train / 250 val) + 250 test-image INRs; about 7 min on one core."),
    _p(name="digits-clf-cpu", task="classifier", dataset="digits", widths=(64, 16, 16, 10), grid_size=5,
       num_models=200, splits=(150, 25, 25), epochs=10, shard_size=100,
       doc="CPU label-noise classifiers on 8x8 digits: 200 KANs [64,16,16,10] (paper 4000 x [784,32,32,10]), "
       "G=5, 10 epochs (paper 100) of batch 128 over 1437 images, noise p ~ U[0,1], oracle masks at 0.01."),
    _p(name="fmnist-clf-cpu", task="classifier", dataset="fashion-mnist", widths=(196, 16, 16, 10),
       grid_size=5, num_models=64, splits=(48, 8, 8), epochs=3, downsample=2, train_subset=4000, shard_size=32,
       doc="CPU Fashion-MNIST classifiers: 64 KANs [196,16,16,10] on 14x14 average-pooled images (paper "
       "[784,32,32,10] on 28x28), 4000 training images, 3 epochs (paper 100), noise p ~ U[0,1], masks at 0.01."),
]  # fmt: skip

for _ds, _short in (("mnist", "mnist"), ("fashion-mnist", "fmnist")):
    for _h in (48, 64, 80, 96):
        _LIST.append(
            _p(name=f"{_short}-inr-h{_h}-paper", task="inr", dataset=_ds, widths=(2, _h, _h, 1), grid_size=10,
               num_models=10000, splits=(0, 0, 10000), epochs=1000, shard_size=250,
               doc=f"Section 5.1.1 OOD evaluation: INRs [2,{_h},{_h},1] of the 10000 {_ds} test images "
               "(G=10, 1000 epochs, batch 128, lr 0.01), all in the test split."),
        )  # fmt: skip

# CPU-scale OOD zoos mirroring fmnist-inr-cpu(-large) (h=16): same data, grid, epochs and seed-derived test
# images (with the same seed their images are the first test images of the in-distribution zoo), wider
# hidden layers up to 3x the training width (as the paper's 96 / 32); h=16 is the in-distribution
# reference point of the curve. 100 models each: building all five took 7 min on one loaded core
# (cost grows with the number of edges: 304 at h=16, 2448 at h=48).
OOD_CPU_WIDTHS = (16, 24, 32, 40, 48)
for _h in OOD_CPU_WIDTHS:
    _LIST.append(
        _p(name=f"fmnist-inr-h{_h}-cpu", task="inr", dataset="fashion-mnist", widths=(2, _h, _h, 1),
           grid_size=10, num_models=100, splits=(0, 0, 100), epochs=40, shard_size=100,
           doc=f"CPU OOD evaluation (paper: fmnist-inr-h{{48..96}}-paper after training on h=32): INRs "
           f"[2,{_h},{_h},1] of 100 Fashion-MNIST test images, G=10, 40 epochs, all in the test split"
           + (" (in-distribution reference for models trained on fmnist-inr-cpu*)." if _h == 16 else ".")),
    )  # fmt: skip

PRESETS: dict[str, Preset] = {p.name: p for p in _LIST}


def get_preset(name: str | Preset) -> Preset:
    """The preset called ``name`` (or ``name`` itself when it already is a :class:`Preset`)."""
    if isinstance(name, Preset):
        return name
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown zoo preset {name!r}; known: {', '.join(PRESETS)}") from None


def scaled_counts(splits: tuple[int, int, int], n: int) -> tuple[int, int, int]:
    """``(train, val, test)`` counts for ``n`` models in the proportions of ``splits``."""
    total = sum(splits)
    a = round(n * splits[0] / total)
    b = round(n * splits[1] / total)
    return a, b, n - a - b


def zoo_splits(preset: Preset, num_models: int, seed: int) -> dict[str, list[int]]:
    """Train/val/test model indices. INR zoos: train and val are the first training-image INRs, test the
    test-image INRs; other zoos: a permutation seeded by ``derive_seed(seed, 0, "splits")``."""
    import torch
    from kan_core.batched import derive_seed

    a, b, _ = scaled_counts(preset.splits, num_models)
    if preset.task == "inr":
        return {"train": list(range(a)), "val": list(range(a, a + b)), "test": list(range(a + b, num_models))}
    g = torch.Generator().manual_seed(derive_seed(seed, 0, "splits"))
    perm = torch.randperm(num_models, generator=g).tolist()
    return {"train": sorted(perm[:a]), "val": sorted(perm[a : a + b]), "test": sorted(perm[a + b :])}
