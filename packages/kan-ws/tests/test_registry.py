"""The method and task registries, and the model config dataclasses every checkpoint goes through."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import torch
from click.testing import CliRunner
from kan_ws.cli import group
from kan_ws.models import (
    DISPLAY_NAMES,
    METHODS,
    REGISTRY,
    WSKAN,
    FlatMLP,
    SetTransformer,
    build_model,
    get_method,
    method_names,
    model_from_config,
)
from kan_ws.models.registry import MODEL_CLASSES
from kan_ws.plots import METHOD_ORDER
from kan_ws.task_kinds import TASK_KINDS, TASK_REGISTRY, TASKS, get_task
from kan_ws.tasks import make_task, run_experiment
from kan_ws.train import TrainConfig, loss_fn


def test_registry_names_every_method_once_in_paper_order():
    assert tuple(REGISTRY) == (
        "mlp", "mlp-aug", "mlp-align", "dmc", "deepsets", "settrans", "wskan", "wskan-nope", "wskan-nobidir",
    )  # fmt: skip
    assert METHOD_ORDER == tuple(REGISTRY)
    assert method_names("ablation") == ("wskan-nope", "wskan-nobidir")
    assert [n for n, m in REGISTRY.items() if m.augment] == ["mlp-aug"]
    assert [n for n, m in REGISTRY.items() if m.align] == ["mlp-align"]
    assert DISPLAY_NAMES["mlp-align"] == "MLP + Align." and METHODS["wskan-nope"] == ("WSKAN", {"use_pe": False})
    with pytest.raises(ValueError, match=r"unknown method 'gcn'; choose from \['deepsets'"):
        get_method("gcn")


def test_cli_model_choices_come_from_the_registry():
    res = CliRunner().invoke(group, ["train", "--help"])
    assert res.exit_code == 0
    for name in REGISTRY:
        assert name in res.output
    bad = CliRunner().invoke(group, ["train", "--task", "sine", "--zoo", ".", "--model", "gcn", "--out", "x"])
    assert bad.exit_code == 2 and "'gcn' is not one of 'wskan', 'wskan-nope', 'wskan-nobidir', 'mlp'" in bad.output


def test_task_registry_kinds_and_selection_rules():
    assert TASKS == ("inr", "sine", "accuracy", "mask")
    assert {t: get_task(t).kind for t in TASKS} == {
        "inr": "classification", "sine": "regression", "accuracy": "regression", "mask": "edge-binary",
    }  # fmt: skip
    assert [k for k, v in TASK_KINDS.items() if v.higher_is_better] == ["classification"]
    assert [k for k, v in TASK_KINDS.items() if v.standardise] == ["regression"]
    assert TASK_REGISTRY["mask"].task_kind.level == "edge"
    assert loss_fn("regression") is torch.nn.functional.mse_loss
    with pytest.raises(ValueError, match="unknown task kind 'ranking'"):
        loss_fn("ranking")
    with pytest.raises(ValueError, match=r"unknown task 'edges'; choose from \('inr', 'sine'"):
        get_task("edges")


def test_wrong_zoo_kind_is_refused_by_the_task_registry(tiny_zoo):
    with pytest.raises(ValueError, match="task 'mask' needs a classifier zoo, this zoo is 'sine'"):
        make_task("mask", tiny_zoo("sine"))


@pytest.mark.parametrize("cls_name", sorted(MODEL_CLASSES))
def test_config_dataclass_defaults_match_the_constructor(cls_name):
    cls = MODEL_CLASSES[cls_name]
    params = inspect.signature(cls.__init__).parameters
    fields = {f.name: f for f in dataclasses.fields(cls.Config)}
    assert set(fields) == set(params) - {"self"}
    for name, f in fields.items():
        if f.default is not dataclasses.MISSING:
            assert params[name].default == f.default, name


@pytest.mark.parametrize("method", list(REGISTRY))
def test_config_round_trips_and_unknown_keys_are_refused(method):
    torch.manual_seed(0)
    kw = {"max_edges": 4096} if method == "settrans" else {}
    model = build_model(method, 3, "graph", num_edges=24, edge_dim=7, hidden=8, depth=2, **kw)
    cfg = model.config()
    assert cfg == dataclasses.asdict(model.model_config()) and list(cfg)[:2] == ["out_dim", "level"]
    again = model_from_config(type(model).__name__, cfg)
    assert type(again) is type(model) and again.config() == cfg
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
    with pytest.raises(TypeError, match="unexpected keyword argument 'width'"):
        model_from_config(type(model).__name__, {**cfg, "width": 3})
    missing = {k: v for k, v in cfg.items() if k != "level"}
    with pytest.raises(TypeError, match="level"):
        model_from_config(type(model).__name__, missing)


def test_registry_flags_drive_the_experiment(tiny_zoo):
    zoo = tiny_zoo("sine")
    cfg = TrainConfig(epochs=1, batch_size=8)
    _, _, aug = run_experiment("sine", zoo, "mlp-aug", train_cfg=cfg, model_cfg={"hidden": 8, "depth": 2})
    _, data, align = run_experiment("sine", zoo, "mlp-align", train_cfg=cfg, model_cfg={"hidden": 8, "depth": 2})
    _, plain_data, plain = run_experiment("sine", zoo, "mlp", train_cfg=cfg, model_cfg={"hidden": 8, "depth": 2})
    assert aug["train_config"]["augment"] is True and plain["train_config"]["augment"] is False
    assert data.perms is not None and plain_data.perms is None
    assert align["val_metric"] == "mse"
    assert isinstance(build_model("settrans", 1, "graph", num_edges=8, edge_dim=7), SetTransformer)
    assert isinstance(build_model("wskan-nobidir", 1, "graph", num_edges=8, edge_dim=7), WSKAN)
    assert isinstance(build_model("mlp-align", 1, "graph", num_edges=8, edge_dim=7), FlatMLP)


def test_one_architecture_methods_are_named_by_the_registry():
    from kan_ws.models.registry import fixed_edge_count

    assert [n for n, m in REGISTRY.items() if m.one_architecture] == ["mlp", "mlp-aug", "mlp-align", "dmc"]
    for name in REGISTRY:
        model = build_model(name, 1, "graph", num_edges=24, edge_dim=7, hidden=8, depth=2)
        want = 24 if REGISTRY[name].one_architecture else None
        assert fixed_edge_count(model) == want, name


def test_a_predictor_refuses_edges_of_another_meaning():
    """Same basis and coefficient count, another wavelet family: refused (the family is in the signature)."""
    from kan_core import KANSpec
    from kan_ws.predict import check_readable

    model = build_model("wskan", 1, "graph", num_edges=6, edge_dim=5, hidden=8, depth=2)
    hat = KANSpec((2, 3), basis="wavelet", wavelet="mexican_hat")
    check_readable(model, hat, KANSpec((2, 5, 1), basis="wavelet", wavelet="mexican_hat"), "ok")  # any widths
    with pytest.raises(ValueError, match=r"^m: a wavelet\(wavelet=morlet\) KAN with 3 coefficients per edge; "
                       r"the checkpoint was trained on wavelet\(wavelet=mexican_hat\) KANs with 3$"):
        check_readable(model, hat, KANSpec((2, 3), basis="wavelet", wavelet="morlet"), "m")
    mlp = build_model("mlp", 1, "graph", num_edges=6, edge_dim=5, hidden=8, depth=2)
    with pytest.raises(ValueError, match=r"FlatMLP reads KANs with 6 edges only \(widths \[2, 3\]\), this one has 10"):
        check_readable(mlp, hat, KANSpec((2, 5), basis="wavelet"), "m")
