"""The memory-efficient MetaKAN: exact gradients through its column chunks, and the memory claim of
``kan metakan memory`` (efficient <= plain MetaKAN and < KAN in every row, its saving growing with G)."""

import csv

import pytest
import torch
from click.testing import CliRunner
from kan_metakan import MetaKAN
from kan_metakan.cli import group
from kan_metakan.lean import MIN_BLOCK_ELEMS, chunk_plan
from kan_metakan.memory import memory_rows


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _grads(m, x, y):
    m.zero_grad(set_to_none=True)
    out = m(x)
    torch.nn.functional.cross_entropy(out, y).backward()
    return out.detach(), {name: p.grad.clone() for name, p in m.named_parameters()}


@pytest.mark.parametrize("basis", ["bspline", "rbf", "wavelet"])
def test_efficient_gradients_equal_plain_float32_default_blocks(basis):
    """float32, the default block size, several column chunks and a shorter last one (100 = 8 * 12 + 4
    columns): outputs and every parameter's gradient equal the plain path's."""
    m = MetaKAN.from_widths(
        [100, 24, 5], grid_size=40, basis=basis, hidden=16, prompt_dim=2, clusters=2, generator=_gen(),
        memory_efficient=False,
    )  # fmt: skip
    layer = m.layers[0]
    cols, _ = chunk_plan(layer, 64, layer.block_elems, native=True)
    assert 1 < cols < 100 and 100 % cols != 0  # several chunks, the last one shorter
    x = torch.rand(64, 100, generator=_gen(1)) * 2 - 1
    y = torch.randint(0, 5, (64,), generator=_gen(2))
    out, ref = _grads(m, x, y)
    m.set_memory_efficient(True)
    out2, got = _grads(m, x, y)
    assert all(layer.memory_efficient for layer in m.layers)
    torch.testing.assert_close(out2, out, rtol=1e-5, atol=1e-6)
    for name in ref:  # gradients are O(1e-3 .. 1e-1); float32 summation order differs between the paths
        torch.testing.assert_close(got[name], ref[name], rtol=1e-4, atol=1e-6, msg=name)
    # negative control: another prompt of one edge changes that edge's prompt gradient
    with torch.no_grad():
        m.layers[0].prompt[3, 7] += 0.5
    _, moved = _grads(m, x, y)
    assert not torch.allclose(moved["layers.0.prompt"][3, 7], ref["layers.0.prompt"][3, 7])


def test_chunk_plan_bounds():
    m = MetaKAN.from_widths([784, 32, 10], grid_size=80, hidden=32, generator=_gen())
    layer = m.layers[0]
    per_col = 32 * (3 * 32 + 5 * 84)
    cols, bb = chunk_plan(layer, 128, 2**20, native=True)
    assert cols == 2**20 // per_col and bb == 128
    # a small layer is still cut into several chunks, none smaller than MIN_BLOCK_ELEMS numbers
    small = MetaKAN.from_widths([784, 8, 10], grid_size=5, hidden=32, generator=_gen()).layers[0]
    cols, _ = chunk_plan(small, 128, 2**20, native=True)
    per_col = 8 * (3 * 32 + 5 * 9)
    assert cols * per_col <= max(MIN_BLOCK_ELEMS, -(-784 * per_col // 8)) and 784 / cols >= 7
    # the dense path (no native kernel) also bounds its features with batch blocks
    cols, bb = chunk_plan(layer, 4096, 2**16, native=False)
    assert cols >= 1 and bb * cols * 3 * 83 <= 2**16


def test_memory_command_efficient_below_plain_and_kan(tmp_path):
    """``kan metakan memory`` on small sizes: the memory-efficient MetaKAN peaks at or below the plain
    MetaKAN and below the KAN in every row (before the column chunks it peaked above the plain MetaKAN at
    G = 5 and above the KAN in every G = 5 row)."""
    res = CliRunner().invoke(
        group,
        ["memory", "--out", str(tmp_path), "--seed", "0", "--hiddens", "4,8", "--grids", "5,20",
         "--batch", "32", "--in-features", "128"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output + repr(res.exception)
    rows = list(csv.DictReader(open(tmp_path / "memory.csv")))
    assert len(rows) == 4
    for r in rows:
        eff, plain, kan = (float(r[f"{m}_MiB"]) for m in ("metakan-efficient", "metakan", "kan"))
        assert eff <= plain, r
        assert eff < kan, r


def test_saving_grows_with_grid_size():
    """The efficient MetaKAN's peak over the KAN's falls as G grows (its memory does not grow with G)."""
    rows = memory_rows(widths_list=[[256, 16, 4]], grid_sizes=[10, 20, 40], hidden=16, batch=32)
    ratios = [r["metakan-efficient_ratio"] for r in rows]
    assert ratios[0] > ratios[1] > ratios[2], ratios
    assert all(r["metakan-efficient_MiB"] <= r["metakan_MiB"] for r in rows)
