"""Meta KA-convolutions (one prompt per kernel tap) and the paper's 4-/8-layer KA-conv networks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from kan_core.conv import FastKANConv2d, KAConv2d, KAGNConv2d, KALNConv2d, KANConv2d, ka_conv2d
from kan_core.conv.functional import as_pair
from kan_core.spec import KANSpec
from torch import Tensor, nn

from .clustering import cluster_layers
from .mapping import plain_init_targets, weight_dim
from .metalearner import MetaLearner
from .prompts import MetaEdgeLayer

__all__ = [
    "MetaKAConv2d",
    "MetaKANConv2d",
    "MetaFastKANConv2d",
    "MetaKALNConv2d",
    "MetaKAGNConv2d",
    "KAConvNet",
    "ka_conv_net",
    "CONV_KINDS",
]

#: network kind -> (plain class, basis)
CONV_KINDS: dict[str, tuple[type[KAConv2d], str]] = {
    "kan": (KANConv2d, "bspline"),
    "fastkan": (FastKANConv2d, "rbf"),
    "kaln": (KALNConv2d, "legendre"),
    "kagn": (KAGNConv2d, "gram"),
}


class MetaKAConv2d(nn.Module):
    """KA-convolution whose ``C_out x C_in x kh x kw`` activations are generated from prompts (eq. 20-21).

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation: as :class:`torch.nn.Conv2d`.
        spec: basis hyper-parameters; learner: the (possibly shared) :class:`MetaLearner`.

    Shapes: ``(B, C_in, H, W) -> (B, C_out, H', W')``; prompts ``(C_out, C_in*kh*kw, dim z)``.
    """

    basis: str | None = None

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
        *,
        spec: KANSpec,
        learner: MetaLearner,
        generator: torch.Generator | None = None,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if self.basis is not None and spec.basis != self.basis:
            raise ValueError(f"{type(self).__name__} needs basis={self.basis!r}, spec has {spec.basis!r}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.stride = as_pair(kernel_size), as_pair(stride)
        self.padding, self.dilation = as_pair(padding), as_pair(dilation)
        n_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        self.edges = MetaEdgeLayer(
            n_in, self.out_channels, spec, learner, generator=generator, device=device, dtype=dtype
        )
        self.spec = self.edges.spec

    def forward(self, x: Tensor) -> Tensor:
        return ka_conv2d(
            x,
            self.edges.generated(),
            self.spec,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.edges.uniform_hint(),
        )

    @torch.no_grad()
    def materialize(self) -> KAConv2d:
        """The plain kan-core KA-convolution with the generated weights."""
        cls = {b: c for c, b in CONV_KINDS.values()}[self.spec.basis]
        conv = cls(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            spec=self.spec,
            generator=torch.Generator().manual_seed(0),
        ).to(self.edges.prompt)
        conv.layer.load_params({k: v.detach().clone() for k, v in self.edges.generated().items()})
        return conv


class MetaKANConv2d(MetaKAConv2d):
    basis = "bspline"


class MetaFastKANConv2d(MetaKAConv2d):
    basis = "rbf"


class MetaKALNConv2d(MetaKAConv2d):
    basis = "legendre"


class MetaKAGNConv2d(MetaKAConv2d):
    basis = "gram"


class KAConvNet(nn.Module):
    """``[KA-conv 3x3 -> BatchNorm] x L -> global average pool -> dropout -> Linear``.

    ``convs`` holds the KA-convolutions, ``metalearners`` the cluster meta-learners (empty for plain nets),
    ``layer_cluster`` the Algorithm 2 cluster of every conv layer.
    """

    def __init__(
        self,
        convs: Sequence[nn.Module],
        channels: Sequence[int],
        num_classes: int,
        dropout: float,
        metalearners: Sequence[MetaLearner] = (),
        layer_cluster: Sequence[int] = (),
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.convs = nn.ModuleList(convs)
        self.norms = nn.ModuleList(nn.BatchNorm2d(c) for c in channels)
        self.metalearners = nn.ModuleList(metalearners)
        self.layer_cluster = list(layer_cluster)
        self.dropout = nn.Dropout(dropout)
        with torch.random.fork_rng(devices=[], enabled=generator is not None):
            if generator is not None:  # the head's initialisation from ``generator``; the global RNG is restored
                torch.default_generator.manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
            self.head = nn.Linear(channels[-1], num_classes)

    def forward(self, x: Tensor) -> Tensor:
        for conv, norm in zip(self.convs, self.norms):
            x = norm(conv(x))
        return self.head(self.dropout(x.mean(dim=(2, 3))))

    def prompt_parameters(self) -> list[nn.Parameter]:
        return [c.edges.prompt for c in self.convs if isinstance(c, MetaKAConv2d)]

    def meta_parameters(self) -> list[nn.Parameter]:
        return [p for m in self.metalearners for p in m.parameters()]

    def main_parameters(self) -> list[nn.Parameter]:
        """Everything that is neither a prompt nor a meta-learner parameter (plain KA weights, norms, head)."""
        skip = {id(p) for p in self.prompt_parameters() + self.meta_parameters()}
        return [p for p in self.parameters() if id(p) not in skip]


def ka_conv_net(
    kind: str,
    channels: Sequence[int],
    *,
    in_channels: int = 1,
    num_classes: int = 10,
    meta: bool = False,
    hidden: int = 32,
    prompt_dim: int = 1,
    clusters: int = 1,
    strides: Sequence[int] | None = None,
    grid_size: int = 5,
    spline_order: int = 3,
    degree: int = 3,
    grid_range: tuple[float, float] = (-2.0, 2.0),
    dropout: float = 0.2,
    generator: torch.Generator | None = None,
) -> KAConvNet:
    """The paper's KA-conv networks (section 4.2.1): 3x3 kernels, padding 1, ``channels`` per layer
    (4-layer: ``PAPER_4_LAYER_CHANNELS``, 8-layer: ``PAPER_8_LAYER_CHANNELS``).

    ``kind`` in ``kan`` (B-spline), ``fastkan`` (RBF), ``kaln`` (Legendre), ``kagn`` (Gram). ``strides``
    default to 1 everywhere except 2 on the second and third layer (as the ConvKAN baselines the paper
    extends, to keep the spatial size manageable). With ``meta=True`` every conv is a Meta version and the
    layers share ``clusters`` meta-learners assigned by Algorithm 2 on ``channels``, each calibrated so
    that the generated weights start distributed as the plain twin's (:func:`~kan_metakan.mapping.plain_init_targets`).
    """
    if kind not in CONV_KINDS:
        raise ValueError(f"conv kind must be one of {sorted(CONV_KINDS)}, got {kind!r}")
    plain_cls, basis = CONV_KINDS[kind]
    spec = KANSpec(
        (1, 1),
        basis=basis,
        grid_size=grid_size,
        spline_order=spline_order,
        degree=degree,
        grid_range=grid_range,
    )
    strides = (
        list(strides) if strides is not None else [2 if i in (1, 2) else 1 for i in range(len(channels))]
    )
    if len(strides) != len(channels):
        raise ValueError(f"strides has {len(strides)} entries for {len(channels)} layers")
    ins = [in_channels, *channels[:-1]]
    if not meta:
        convs = [
            plain_cls(i, o, 3, s, 1, spec=spec, generator=generator)
            for i, o, s in zip(ins, channels, strides)
        ]
        return KAConvNet(convs, channels, num_classes, dropout, generator=generator)
    labels = cluster_layers(channels, clusters)
    learners = [
        MetaLearner(prompt_dim, hidden, weight_dim(spec), generator=generator) for _ in range(clusters)
    ]
    convs = [
        MetaKAConv2d(i, o, 3, s, 1, spec=spec, learner=learners[c], generator=generator)
        for i, o, s, c in zip(ins, channels, strides, labels)
    ]
    mean, std = plain_init_targets(spec)
    with torch.no_grad():
        for c, learner in enumerate(learners):
            z = torch.cat(
                [cv.edges.prompt.reshape(-1, prompt_dim) for cv, lab in zip(convs, labels) if lab == c]
            )
            learner.calibrate(z, mean, std)
    return KAConvNet(convs, channels, num_classes, dropout, learners, labels, generator=generator)
