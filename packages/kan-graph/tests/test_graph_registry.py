"""A basis registered at run time goes through kan-graph (graphs, features, alignment) untouched."""

from __future__ import annotations

import pytest
import torch
from kan_core import KAN, KANSpec
from kan_core.basis import BASIS_REGISTRY, Basis, register_basis
from kan_graph import from_graph, to_graph
from kan_graph.encoding import sample_points


class HatBasis(Basis):
    """Toy: ``n = grid_size`` triangular hats over ``[-2, 2]`` (its own natural domain)."""

    name = "toy_hat"

    def num_coefficients(self, spec):
        return spec.grid_size

    def features(self, x, p, spec, uniform=None):
        c = torch.linspace(-2.0, 2.0, spec.grid_size, dtype=x.dtype, device=x.device)
        return (1 - (x.unsqueeze(-1) - c).abs()).clamp(min=0)

    def domain(self, spec, p):
        return (-2.0, 2.0)


class FreqBasis(HatBasis):
    """Toy with a per-layer extra tensor the graph format does not carry."""

    name = "toy_freq"

    def extra_shapes(self, spec, d_in):
        return {"freq": (spec.grid_size,)}

    def init_extras(self, spec, d_in, **fk):
        return {"freq": torch.ones(spec.grid_size, **fk)}


@pytest.fixture
def toy_bases():
    bases = [register_basis(HatBasis()), register_basis(FreqBasis())]
    yield bases
    for b in bases:
        del BASIS_REGISTRY[b.name]


def test_graph_round_trip_and_domain_of_a_new_basis(toy_bases):
    spec = KANSpec((2, 3, 1), basis="toy_hat", grid_size=6, affine=True)
    kan = KAN(spec, generator=torch.Generator().manual_seed(0))
    g = to_graph(kan)
    assert g.edge_attr.shape == (spec.num_edges(), 2 + 6) and g.node_grid.shape[-1] == 0
    back = from_graph(g)
    x = torch.linspace(-1.5, 1.5, 20).unsqueeze(-1).repeat(1, 2)
    torch.testing.assert_close(back(x), kan(x), atol=0, rtol=0)
    pts = sample_points(spec, kan.layers[0].params(), 5)
    torch.testing.assert_close(pts[:, 0], torch.linspace(-2.0, 2.0, 5))  # the basis' domain, not grid_range


def test_graph_refuses_extra_tensors_it_cannot_carry(toy_bases):
    kan = KAN(KANSpec((2, 3, 1), basis="toy_freq", grid_size=4), generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"carries the extra tensors 'grid' and 'beta'; basis 'toy_freq' has \['freq'\]"):
        to_graph(kan)
