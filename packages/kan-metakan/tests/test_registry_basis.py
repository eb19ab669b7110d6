"""MetaKAN on a basis registered at run time: plain and memory-lean paths agree, nothing else edited."""

from __future__ import annotations

import pytest
import torch
from kan_core.basis import BASIS_REGISTRY, Basis, register_basis
from kan_metakan import MetaKAN
from kan_metakan.counting import kan_count
from kan_metakan.mapping import weight_dim


class ShiftedSine(Basis):
    """Toy ``sin(j x + shift_j)`` with a per-layer ``shift (degree,)`` (trainable in a KAN)."""

    name = "toy_shifted_sine"
    trainable_extras = frozenset({"shift"})

    def num_coefficients(self, spec):
        return spec.degree

    def extra_shapes(self, spec, d_in):
        return {"shift": (spec.degree,)}

    def init_extras(self, spec, d_in, **fk):
        return {"shift": torch.linspace(0.0, 1.0, spec.degree, **fk)}

    def features(self, x, p, spec, uniform=None):
        j = torch.arange(1, spec.degree + 1, dtype=x.dtype, device=x.device)
        return torch.sin(x.unsqueeze(-1) * j + p["shift"])


@pytest.fixture
def toy():
    basis = register_basis(ShiftedSine())
    yield basis
    del BASIS_REGISTRY[basis.name]


def test_metakan_on_a_registered_basis(toy):
    m = MetaKAN.from_widths([4, 5, 2], basis="toy_shifted_sine", degree=3, hidden=8, memory_efficient=False,
                            generator=torch.Generator().manual_seed(0)).double()  # fmt: skip
    assert weight_dim(m.spec) == 3 + 1  # generated: w_b and 3 coefficients
    assert kan_count(m.spec) == m.spec.num_edges() * (3 + 2) + 2 * 3  # per layer one trainable shift (3,)
    assert torch.equal(m.layers[0].shift, torch.linspace(0.0, 1.0, 3, dtype=torch.float64))
    x = torch.rand(9, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2 - 1
    y = m(x)
    y.square().sum().backward()
    g = [p.grad.clone() for p in m.parameters()]
    m.zero_grad()
    m.set_memory_efficient(True, block_elems=16)
    y2 = m(x)
    y2.square().sum().backward()
    torch.testing.assert_close(y2, y, rtol=1e-12, atol=1e-12)
    for a, p in zip(g, m.parameters()):
        torch.testing.assert_close(p.grad, a, rtol=1e-10, atol=1e-12)
    with torch.no_grad():  # negative control: the basis' extra tensor enters the output
        m.layers[0].shift += 0.3
    assert not torch.allclose(m(x), y)
