"""Meta KA-conv nets start with generated weights distributed as their plain twins' (issue 19, item 4)."""

from __future__ import annotations

import math

import pytest
import torch
from kan_metakan.conv import CONV_KINDS, ka_conv_net
from kan_metakan.mapping import init_targets

CHANNELS = [4, 8, 8]


def _pooled(net, meta: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scale_base * sqrt(d_in) (E,), coef (E, n))`` over every edge of every conv layer."""
    sb, coef = [], []
    for conv in net.convs:
        p = conv.edges.generated() if meta else conv.layer.params()
        d_in = p["coef"].shape[1]
        sb.append(p["scale_base"].detach().reshape(-1) * math.sqrt(d_in))
        coef.append(p["coef"].detach().reshape(-1, p["coef"].shape[-1]))
    return torch.cat(sb), torch.cat(coef)


def _std_ratios(kind: str, recalibrate_old: bool = False) -> tuple[float, torch.Tensor]:
    """Generated / plain across-edge standard deviation: base weight (scalar) and per coefficient (n,)."""
    plain = ka_conv_net(kind, CHANNELS, generator=torch.Generator().manual_seed(0))
    meta = ka_conv_net(kind, CHANNELS, meta=True, generator=torch.Generator().manual_seed(1))
    if recalibrate_old:  # negative control: the former basis-blind targets (coefficient std 0.1)
        mean, std = init_targets(meta.convs[0].spec)
        z = torch.cat([c.edges.prompt.reshape(-1, 1) for c in meta.convs])
        with torch.no_grad():
            meta.metalearners[0].calibrate(z, mean, std)
    sb_p, c_p = _pooled(plain, False)
    sb_m, c_m = _pooled(meta, True)
    return float(sb_m.std() / sb_p.std()), c_m.std(0) / c_p.std(0)


@pytest.mark.parametrize("kind", sorted(CONV_KINDS))
def test_generated_init_matches_plain_layer(kind):
    sb_ratio, coef_ratio = _std_ratios(kind)
    assert 0.8 < sb_ratio < 1.25
    assert torch.all((coef_ratio > 0.75) & (coef_ratio < 1.33)), coef_ratio


@pytest.mark.parametrize("kind", sorted(CONV_KINDS))
def test_negative_control_basis_blind_targets_are_detected(kind):
    _, coef_ratio = _std_ratios(kind, recalibrate_old=True)
    assert torch.all(coef_ratio > 2.5), coef_ratio
