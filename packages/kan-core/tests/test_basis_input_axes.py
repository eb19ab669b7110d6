"""Basis.extra_input_axes: which axis of every extra tensor follows the layer's input neurons."""

from __future__ import annotations

import pytest
from kan_core import KANSpec
from kan_core.basis import Basis, get_basis


def test_builtin_extra_tensors_report_their_input_axis():
    assert get_basis("bspline").extra_input_axes(KANSpec((3, 2), grid_size=5)) == {"grid": 0}
    assert get_basis("gram").extra_input_axes(KANSpec((3, 2), basis="gram", degree=4)) == {"beta": None}
    assert get_basis("chebyshev").extra_input_axes(KANSpec((3, 2), basis="chebyshev")) == {}


class _Shapes(Basis):
    name = "toy_axes"

    def __init__(self, shapes):
        self.shapes = shapes

    def num_coefficients(self, spec):
        return 3

    def extra_shapes(self, spec, d_in):
        return {name: f(d_in) for name, f in self.shapes.items()}


def test_the_axis_is_read_off_the_shapes_and_ambiguous_shapes_fail():
    spec = KANSpec((3, 2))
    ok = _Shapes({"knots": lambda d: (4, d, 2), "gain": lambda d: (5,)})
    assert ok.extra_input_axes(spec) == {"knots": 1, "gain": None}
    for bad in (lambda d: (d, d), lambda d: (2 * d,)):
        with pytest.raises(
            ValueError, match=r"basis 'toy_axes': cannot tell the input axis of extra tensor 'w'"
        ):
            _Shapes({"w": bad}).extra_input_axes(spec)
