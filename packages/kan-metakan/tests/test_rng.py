"""The experiments seed their own randomness: a command leaves the caller's global RNG alone and gives the
same table whatever state that RNG was in."""

import csv

import pytest
import torch
from click.testing import CliRunner
from kan_metakan.cli import group

ARGS = {
    "conv": ["--dataset", "digits", "--kinds", "kagn", "--channels", "2,2", "--max-train", "32", "--max-test", "32"],
    "images": ["--datasets", "digits", "--grids", "3", "--epochs", "1", "--max-train", "128"],
    "highdim": ["--functions", "f1", "--dims", "4", "--steps", "2", "--n-train", "64"],
    "pde": ["--dims", "3", "--steps", "2", "--metakan-steps", "2", "--n-interior", "16",
            "--metakan-n-interior", "16", "--hidden-widths", "4", "--meta-hidden", "8"],  # fmt: skip
}


def _rows(name: str, out, global_seed: int) -> list[dict[str, str]]:
    torch.manual_seed(global_seed)
    before = torch.get_rng_state()
    res = CliRunner().invoke(group, [name, "--out", str(out), "--seed", "3", *ARGS[name]])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert torch.equal(torch.get_rng_state(), before), "the command changed the global RNG"
    with open(out / f"{name}.csv") as f:
        rows = list(csv.DictReader(f))
    return [{k: v for k, v in r.items() if not k.endswith("_seconds")} for r in rows]  # timings vary


@pytest.mark.parametrize("name", sorted(ARGS))
def test_command_is_seeded_locally(name, tmp_path):
    a = _rows(name, tmp_path / "a", 0)
    b = _rows(name, tmp_path / "b", 12345)
    assert a == b and len(a) >= 1
