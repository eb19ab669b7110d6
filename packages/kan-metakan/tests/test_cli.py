"""Every experiment runs end to end on a tiny setting; outputs exist and are well-formed."""

import csv
import sys

import pytest
from click.testing import CliRunner
from kan_metakan.cli import group

TINY = {
    "feynman": ["--equations", "I.12.5", "--grids", "3", "--steps", "2", "--n-train", "64"],
    "highdim": ["--functions", "f1,f3", "--dims", "4", "--steps", "2", "--n-train", "64"],
    "images": ["--datasets", "digits", "--grids", "3", "--epochs", "1", "--max-train", "256"],
    "conv": [
        "--dataset",
        "digits",
        "--kinds",
        "kagn",
        "--channels",
        "2,2,2,2",
        "--max-train",
        "32",
        "--max-test",
        "32",
    ],
    "pde": [
        "--dims",
        "3",
        "--steps",
        "2",
        "--metakan-steps",
        "2",
        "--n-interior",
        "16",
        "--metakan-n-interior",
        "16",
        "--hidden-widths",
        "4",
        "--meta-hidden",
        "8",
        "--clusters",
        "2",
    ],
    "memory": ["--hiddens", "2", "--grids", "3", "--batch", "2", "--in-features", "16"],
}
EXPECTED_ROWS = {"feynman": 1, "highdim": 2, "images": 1, "conv": 1, "pde": 3, "memory": 2}


@pytest.mark.parametrize("name", sorted(TINY))
def test_experiment_end_to_end(name, tmp_path):
    if name == "feynman":
        pytest.importorskip("kan", reason="feynman needs the pykan extra")
    res = CliRunner().invoke(group, [name, "--out", str(tmp_path), "--seed", "0", *TINY[name]])
    assert res.exit_code == 0, res.output + repr(res.exception)
    with open(tmp_path / f"{name}.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == EXPECTED_ROWS[name]
    assert all(v != "" for r in rows for v in r.values())
    assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote" in res.output


def test_images_counts_and_accuracy_columns(tmp_path):
    res = CliRunner().invoke(group, ["images", "--out", str(tmp_path), *TINY["images"]])
    assert res.exit_code == 0, res.output
    row = next(csv.DictReader(open(tmp_path / "images.csv")))
    assert int(row["metakan_params"]) < int(row["kan_params"])
    assert 0.0 <= float(row["kan_acc"]) <= 100.0 and 0.0 <= float(row["metakan_acc"]) <= 100.0


def test_feynman_without_pykan_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "kan", None)
    monkeypatch.setitem(sys.modules, "kan.feynman", None)
    res = CliRunner().invoke(group, ["feynman", "--out", str(tmp_path), *TINY["feynman"]])
    assert res.exit_code == 1 and isinstance(res.exception, ImportError)
    assert str(res.exception) == "the feynman experiment needs pykan: pip install 'kan-metakan[pykan]'"
    assert not (tmp_path / "feynman.csv").exists()


@pytest.mark.pykan
def test_symbolic(tmp_path):
    pytest.importorskip("kan")
    res = CliRunner().invoke(
        group, ["symbolic", "--out", str(tmp_path), "--steps", "2", "--n-train", "32", "--lib", "x,x^2"]
    )
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert "pykan symbolic formula:" in res.output and "x_" in res.output, res.output
    row = next(csv.DictReader(open(tmp_path / "symbolic.csv")))
    assert "x_" in row["formula"] and float(row["mse"]) >= 0.0


@pytest.mark.parametrize("name", sorted(TINY) + ["symbolic"])
def test_help(name):
    res = CliRunner().invoke(group, [name, "--help"])
    assert res.exit_code == 0 and "--out" in res.output


def test_threads_option(tmp_path):
    import torch

    before = torch.get_num_threads()
    try:
        seen = {}
        import kan_metakan.cli as mk

        real = mk._finish

        def spy(*args, **kw):
            seen["threads"] = torch.get_num_threads()
            return real(*args, **kw)

        mk._finish = spy
        res = CliRunner().invoke(
            group, ["highdim", "--threads", "2", "--out", str(tmp_path), *TINY["highdim"]]
        )
        assert res.exit_code == 0, res.output + repr(res.exception)
        assert seen["threads"] == 2  # while the command runs
        assert torch.get_num_threads() == before  # restored after it
    finally:
        mk._finish = real
        torch.set_num_threads(before)
    bad = CliRunner().invoke(group, ["pde", "--threads", "-1"])
    assert bad.exit_code == 2 and "Invalid value for '--threads'" in bad.output


@pytest.mark.parametrize(
    "value,message",
    [
        ("kan=2", "Error: Invalid value for --clusters: no number of meta-learners for kind(s) kagn of --kinds"),
        ("kagn=0", "expected an integer >= 1 or KIND=C pairs with KIND in fastkan,kagn,kaln,kan and C >= 1"),
        ("cheb=2", "(e.g. kan=4,fastkan=2), got 'cheb=2'"),
        ("0", "expected an integer >= 1 or KIND=C pairs"),
    ],
)
def test_conv_clusters_option_is_checked_before_any_work(tmp_path, value, message):
    out = tmp_path / "o"
    res = CliRunner().invoke(group, ["conv", "--out", str(out), *TINY["conv"], "--clusters", value])
    assert res.exit_code == 2 and message in res.output, res.output
    assert not out.exists()


def test_feynman_prompt_dimension_choice_needs_a_validation_split(tmp_path):
    out = tmp_path / "f"
    res = CliRunner().invoke(group, ["feynman", "--out", str(out), *TINY["feynman"], "--prompt-dims", "1,4"])
    assert res.exit_code == 2 and "Error: Invalid value for --prompt-dims/--clusters: choosing among 2 prompt dimensions x 1 cluster counts needs --n-val > 0" in res.output
    res = CliRunner().invoke(group, ["feynman", "--out", str(out), *TINY["feynman"], "--clusters", "1,2"])
    assert res.exit_code == 2 and "choosing among 1 prompt dimensions x 2 cluster counts needs --n-val > 0" in res.output
    res = CliRunner().invoke(group, ["feynman", "--out", str(out), *TINY["feynman"], "--n-val", "64"])
    assert res.exit_code == 2 and "Error: Invalid value for --n-val: must be below --n-train (64), got 64" in res.output
    assert not out.exists()
