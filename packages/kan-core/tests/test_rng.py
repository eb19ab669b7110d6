"""Library calls leave the global RNG alone (they take a generator or need none)."""

from __future__ import annotations

import torch
from kan_core import KAN, KANSpec


def _kan() -> KAN:
    return KAN(KANSpec((2, 3, 1), grid_size=4), generator=torch.Generator().manual_seed(5))


def test_refine_does_not_draw_from_the_global_rng():
    kan = _kan()
    x = torch.rand(32, 2, generator=torch.Generator().manual_seed(1)) * 2 - 1
    torch.manual_seed(123)
    before = torch.get_rng_state()
    fine = kan.refine(8, x)
    layer = kan.layers[0].refine(6)
    assert torch.equal(torch.get_rng_state(), before)
    # and the refinement is real: a finer grid reproducing the coarse functions
    assert fine.layers[0].grid.shape == (2, 8 + 2 * 3 + 1) and layer.grid.shape == (2, 6 + 2 * 3 + 1)
    torch.testing.assert_close(fine(x), kan(x), atol=5e-3, rtol=0)
    torch.testing.assert_close(layer(x), kan.layers[0](x), atol=5e-3, rtol=0)


def test_refine_is_deterministic_whatever_the_global_seed():
    kan = _kan()
    torch.manual_seed(1)
    a = kan.refine(7)
    torch.manual_seed(2)
    b = kan.refine(7)
    for pa, pb in zip(a.layer_params(), b.layer_params()):
        for k in pa:
            assert torch.equal(pa[k], pb[k]), k
