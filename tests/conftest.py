"""Fixtures for the cross-package and CLI tests in tests/."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for child Python processes: one thread each, no torchrun variables, unbuffered."""
    env = dict(os.environ)
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return env


@pytest.fixture(scope="session")
def python() -> str:
    return sys.executable


@pytest.fixture(scope="session")
def sine_zoo(tmp_path_factory) -> Path:
    """A tiny sine zoo (20 models, 1 epoch each; every split non-empty) built once per session."""
    pytest.importorskip("kan_ws")
    from click.testing import CliRunner
    from kan_core.cli import cli

    out = tmp_path_factory.mktemp("zoos") / "sine"
    args = ["zoo", "build", "sine-cpu", "--models", "20", "--epochs", "1", "--device", "cpu", "--quiet"]
    res = CliRunner().invoke(cli, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out
