"""The basis registry: built-in entries, error messages, and a basis added from a test alone."""

from __future__ import annotations

import pytest
import torch
from kan_core import KAN, KANSpec
from kan_core.basis import BASIS_REGISTRY, Basis, basis_names, get_basis, register_basis
from kan_core.batched import load_into_kan, predict_stacked, train_stacked
from kan_core.functional import layer_edges, layer_forward


def test_builtin_bases_are_registered_with_their_layouts():
    assert set(basis_names()) >= {"bspline", "rbf", "chebyshev", "legendre", "gram", "wavelet"}
    spec = dict(grid_size=7, spline_order=2, degree=4)
    expected_n = {"bspline": 9, "rbf": 7, "chebyshev": 5, "legendre": 5, "gram": 5, "wavelet": 3}
    for name, n in expected_n.items():
        s = KANSpec((3, 2), basis=name, **spec)
        assert get_basis(name).name == name
        assert s.num_coefficients == n, name
    assert get_basis("bspline").extra_shapes(KANSpec((3, 2), **spec), 3) == {"grid": (3, 7 + 4 + 1)}
    assert get_basis("gram").extra_shapes(KANSpec((3, 2), basis="gram", degree=4), 3) == {"beta": (4,)}
    assert get_basis("gram").trainable_extras == {"beta"}
    assert get_basis("rbf").extra_shapes(KANSpec((3, 2), basis="rbf"), 3) == {}
    linear = {n for n in expected_n if get_basis(n).linear_in_coefficients}
    assert linear == {"bspline", "rbf", "chebyshev", "legendre", "gram"}
    assert [n for n in expected_n if get_basis(n).has_grid] == ["bspline"]
    assert [n for n in expected_n if get_basis(n).has_derivatives] == ["bspline", "rbf"]


def test_unknown_and_duplicate_names_fail_clearly():
    with pytest.raises(ValueError, match=r"KANSpec.basis must be one of \('bspline', .*'wavelet'.*\), got 'nope'"):
        KANSpec((2, 1), basis="nope")
    with pytest.raises(ValueError, match=r"unknown basis 'nope'; registered bases: \('bspline'"):
        get_basis("nope")
    with pytest.raises(ValueError, match="basis 'rbf' is already registered"):
        register_basis(type(get_basis("rbf"))())
    with pytest.raises(TypeError, match="register_basis needs a Basis instance, got str"):
        register_basis("rbf")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-empty string name"):
        register_basis(Basis())


def test_wavelet_has_no_linear_features():
    spec = KANSpec((2, 1), basis="wavelet")
    with pytest.raises(ValueError, match="basis 'wavelet' has no linear feature map"):
        get_basis("wavelet").features(torch.zeros(4, 2), {}, spec)


class SineBasis(Basis):
    """A toy basis ``sin(f_j x)``, ``j < degree``, with trainable frequencies ``freq (degree,)``."""

    name = "toy_sine"
    trainable_extras = frozenset({"freq"})

    def num_coefficients(self, spec):
        return spec.degree

    def extra_shapes(self, spec, d_in):
        return {"freq": (spec.degree,)}

    def init_extras(self, spec, d_in, **fk):
        return {"freq": torch.arange(1, spec.degree + 1, **fk).to(fk.get("dtype") or torch.get_default_dtype())}

    def features(self, x, p, spec, uniform=None):
        freq = p["freq"]  # (..., n): per-model frequencies broadcast against shared inputs
        freq = freq.reshape(*freq.shape[:-1], 1, 1, freq.shape[-1])
        return torch.sin(x.unsqueeze(-1) * freq)


@pytest.fixture
def toy_basis():
    basis = register_basis(SineBasis())
    yield basis
    del BASIS_REGISTRY[basis.name]


def test_a_basis_registered_in_a_test_builds_trains_saves_and_loads(toy_basis, tmp_path):
    spec = KANSpec((2, 3, 1), basis="toy_sine", degree=4)
    assert spec.num_coefficients == 4
    assert spec.param_shapes()[0]["freq"] == (4,)

    kan = KAN(spec, generator=torch.Generator().manual_seed(0))
    assert type(kan.layers[0]).__name__ == "ToySineKANLayer"
    assert "2, 3, degree=4" in repr(kan.layers[0])
    assert isinstance(kan.layers[0].freq, torch.nn.Parameter)  # trainable extra -> parameter
    assert torch.equal(kan.layers[0].freq.detach(), torch.arange(1.0, 5.0))
    x = torch.linspace(-1, 1, 64).unsqueeze(-1).repeat(1, 2)
    x[:, 1] = x[:, 1].flip(0)
    layer = kan.layers[0]
    torch.testing.assert_close(layer.edges(x).sum(-1), layer(x))
    assert kan(x).shape == (64, 1)

    # the batched engine trains the coefficients and the frequencies of two models at once
    y = torch.stack([torch.sin(2 * x[:, :1]), x[:, :1] * x[:, 1:]])  # (M=2, B, 1)
    res = train_stacked(spec, x, y, seeds=[0, 1], steps=60, lr=3e-2, device="cpu")
    assert (res.metrics["loss"] < 0.5 * res.metrics["initial_loss"]).all()
    assert not torch.equal(res.layers[0]["freq"][0], torch.arange(1.0, 5.0))  # freq trained
    assert not torch.equal(res.layers[0]["freq"][0], res.layers[0]["freq"][1])

    # one trained model as a KAN, saved and loaded by name
    trained = load_into_kan(spec, res.layers, 1)
    pred = predict_stacked(spec, res.layers, x)[1]
    torch.testing.assert_close(trained(x), pred, atol=1e-5, rtol=1e-5)
    path = tmp_path / "toy.safetensors"
    trained.save(path)
    loaded = KAN.load(path)
    assert loaded.spec == spec
    torch.testing.assert_close(loaded(x), trained(x), atol=0, rtol=0)
    torch.testing.assert_close(loaded.layers[1].freq, trained.layers[1].freq, atol=0, rtol=0)


def test_an_unregistered_basis_is_refused_after_its_test(toy_basis):
    KANSpec((2, 1), basis="toy_sine")
    del BASIS_REGISTRY["toy_sine"]
    with pytest.raises(ValueError, match="KANSpec.basis must be one of"):
        KANSpec((2, 1), basis="toy_sine")
    BASIS_REGISTRY["toy_sine"] = toy_basis  # for the fixture's teardown


def test_layer_forward_goes_through_the_registry(toy_basis):
    """A basis' features decide the layer's output: replacing them changes it (negative control)."""
    spec = KANSpec((2, 3), basis="toy_sine", degree=3)
    kan = KAN(spec, generator=torch.Generator().manual_seed(1))
    p = kan.layers[0].params()
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(2))
    y0 = layer_forward(x, p, spec)
    features = SineBasis.features
    SineBasis.features = lambda self, x, p, spec, uniform=None: 2 * features(self, x, p, spec, uniform)
    try:
        y1 = layer_forward(x, p, spec)
        assert not torch.allclose(y0, y1)
        torch.testing.assert_close(layer_edges(x, p, spec).sum(-1), y1)
    finally:
        SineBasis.features = features


class FrozenShiftSineBasis(SineBasis):
    """The toy basis with a second, frozen extra tensor ``shift (degree,)`` (not named ``grid``)."""

    name = "toy_sine_shift"

    def extra_shapes(self, spec, d_in):
        return {"freq": (spec.degree,), "shift": (spec.degree,)}

    def init_extras(self, spec, d_in, **fk):
        return {**super().init_extras(spec, d_in, **fk), "shift": torch.full((spec.degree,), 0.25, **fk)}

    def features(self, x, p, spec, uniform=None):
        shift = p["shift"].reshape(*p["shift"].shape[:-1], 1, 1, p["shift"].shape[-1])
        return super().features(x, p, spec, uniform) + shift


def test_the_batched_engine_freezes_what_the_basis_freezes():
    """Frozen extras are named by the basis, not by a fixed list of names in the engine."""
    basis = register_basis(FrozenShiftSineBasis())
    try:
        spec = KANSpec((2, 2, 1), basis=basis.name, degree=3)
        assert basis.frozen_names(spec) == {"mask", "shift"}
        assert get_basis("bspline").frozen_names(KANSpec((2, 1))) == {"mask", "grid"}
        assert get_basis("gram").frozen_names(KANSpec((2, 1), basis="gram")) == {"mask"}
        kan = KAN(spec, generator=torch.Generator().manual_seed(0))
        assert "shift" in dict(kan.layers[0].named_buffers())  # the module agrees
        x = torch.rand(32, 2, generator=torch.Generator().manual_seed(1)) * 2 - 1
        y = torch.stack([x[:, :1] ** 2, x[:, 1:]])
        res = train_stacked(spec, x, y, seeds=[0, 1], steps=20, lr=3e-2, device="cpu")
        for p in res.layers:
            assert torch.equal(p["shift"], torch.full_like(p["shift"], 0.25))  # frozen: untouched
            assert not torch.equal(p["freq"][0], torch.arange(1.0, 4.0))  # trainable: moved
    finally:
        del BASIS_REGISTRY[basis.name]
