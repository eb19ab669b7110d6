"""Each MetaKAN experiment's defaults live in one dataclass; the CLI and the run_* functions read them."""

from __future__ import annotations

import dataclasses
import inspect

import click
import pytest
from kan_metakan import experiments as E
from kan_metakan.cli import group
from kan_metakan.tasks.feynman import run_feynman
from kan_metakan.tasks.highdim import run_highdim
from kan_metakan.tasks.images import run_conv, run_images
from kan_metakan.tasks.pde import run_pde
from kan_metakan.tasks.symbolic import run_symbolic

# experiment config -> (run function, {config field: CLI option name} where the two differ)
CASES = {
    "feynman": (E.FEYNMAN, run_feynman, {"grid_sizes": "grids", "n_test": None}),  # CLI: n_test = n_train
    "highdim": (E.HIGHDIM, run_highdim, {"n_test": None}),
    "images": (E.IMAGES, run_images, {"grid_sizes": "grids"}),
    "conv": (E.CONV, run_conv, {"batch": "batch_size", "meta_hidden": None}),
    "pde": (E.PDE, run_pde, {"widths_hidden": "hidden_widths", "n_test": None}),
    "symbolic": (E.SYMBOLIC, run_symbolic, {}),
}


def _text(value):
    if isinstance(value, dict):
        return E.csv(value)
    if isinstance(value, tuple):
        return E.csv(value, ";" if value and isinstance(value[0], tuple) else ",")
    return value


@pytest.mark.parametrize("name", sorted(CASES))
def test_run_function_defaults_are_the_dataclass(name):
    cfg, fn, _ = CASES[name]
    params = inspect.signature(fn).parameters
    for f in dataclasses.fields(cfg):
        if f.name == "equations" and name == "feynman":
            assert params["equations"].default is inspect.Parameter.empty  # required positional
            continue
        assert params[f.name].default == getattr(cfg, f.name), (name, f.name)


@pytest.mark.parametrize("name", sorted(CASES))
def test_cli_option_defaults_are_the_dataclass(name):
    cfg, _, renamed = CASES[name]
    opts = {p.name: p for p in group.commands[name].params if isinstance(p, click.Option)}
    for f in dataclasses.fields(cfg):
        opt = renamed.get(f.name, f.name)
        if opt is None:
            assert f.name not in opts  # not exposed on the command line
            continue
        assert opts[opt].default == _text(getattr(cfg, f.name)), (name, f.name)


def test_csv_writes_nested_defaults():
    assert E.csv(((32,), (8, 16)), ";") == "32;8,16" and E.csv(("kan", "metakan")) == "kan,metakan"
    assert E.IMAGES.hiddens == ((32,),) and dataclasses.is_dataclass(E.PdeConfig)
    assert E.csv({"kan": 1, "kagn": 2}) == "kan=1,kagn=2"
    with pytest.raises(dataclasses.FrozenInstanceError):
        E.PDE.steps = 1  # type: ignore[misc]
