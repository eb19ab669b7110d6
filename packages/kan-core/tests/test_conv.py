"""KA-convolutions: shapes, gradients, and equivalence with a per-patch KAN layer."""

import pytest
import torch
import torch.nn.functional as F
from kan_core.conv import FastKANConv2d, KAGNConv2d, KALNConv2d, KANConv2d, conv_output_size, ka_conv2d

CLASSES = [KANConv2d, FastKANConv2d, KALNConv2d, KAGNConv2d]


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("stride,padding,dilation", [(1, 1, 1), (2, 0, 1), (1, 2, 2)])
def test_forward_backward_shapes(cls, stride, padding, dilation):
    conv = cls(3, 5, 3, stride=stride, padding=padding, dilation=dilation, generator=_gen())
    x = torch.rand(2, 3, 9, 8, generator=_gen(1), requires_grad=True)
    y = conv(x)
    ref = F.conv2d(x, torch.zeros(5, 3, 3, 3), stride=stride, padding=padding, dilation=dilation)
    assert y.shape == ref.shape == (2, 5, *conv_output_size((9, 8), 3, stride, padding, dilation))
    y.square().sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape and torch.isfinite(x.grad).all()
    assert conv.layer.coef.grad is not None and conv.layer.coef.grad.abs().sum() > 0
    assert conv.layer.coef.shape[:2] == (5, 27)


def test_kanconv_equals_manual_per_patch_layer():
    conv = KANConv2d(2, 4, (3, 2), stride=(1, 2), padding=1, generator=_gen(3))
    x = torch.rand(2, 2, 6, 7, generator=_gen(4)) * 2 - 1
    y = conv(x)
    ho, wo = y.shape[2:]
    manual = torch.empty_like(y)
    xp = F.pad(x, (1, 1, 1, 1))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i : i + 3, 2 * j : 2 * j + 2].reshape(2, -1)  # channel-major, then row, column
            manual[:, :, i, j] = conv.layer(patch)
    torch.testing.assert_close(y, manual, rtol=1e-5, atol=1e-6)
    # negative control: a transposed kernel layout does not match
    wrong = torch.empty_like(y)
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i : i + 3, 2 * j : 2 * j + 2].transpose(-1, -2).reshape(2, -1)
            wrong[:, :, i, j] = conv.layer(patch)
    assert (wrong - y).abs().max() > 1e-3


def test_edge_sum_is_conv_for_identity_edges():
    """With a linear base, zero spline and scale_base = conv weight, a KA-conv is an ordinary conv."""
    conv = KANConv2d(3, 2, 3, padding=1, generator=_gen(5), base_activation="identity")
    w = torch.randn(2, 3, 3, 3, generator=_gen(6))
    with torch.no_grad():
        conv.layer.coef.zero_()
        conv.layer.scale_base.copy_(w.reshape(2, -1))
    x = torch.randn(1, 3, 5, 5, generator=_gen(7))
    torch.testing.assert_close(conv(x), F.conv2d(x, w, padding=1), rtol=1e-5, atol=1e-5)


def test_functional_rejects_wrong_shapes():
    conv = KALNConv2d(2, 3, 3)
    with pytest.raises(ValueError, match="C_in"):
        ka_conv2d(torch.rand(1, 3, 5, 5), conv.layer.params(), conv.spec, 3)
    with pytest.raises(ValueError, match="expects"):
        conv(torch.rand(1, 3, 5, 5))
