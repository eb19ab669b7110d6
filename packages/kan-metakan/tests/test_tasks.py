"""Experiment internals: PDE operators, cosine schedule, optimiser groups, Meta KA-convs."""

import pytest
import torch
from kan_metakan import MetaKANConv2d, MetaLearner, count_trainable, ka_conv_net
from kan_metakan.tasks.pde import EQUATIONS, exact_laplacian, exact_solution, laplacian, residual, sample_ball
from kan_metakan.train import cosine_schedule, metakan_optimizer, split_groups


@pytest.mark.parametrize("eq", EQUATIONS)
@pytest.mark.parametrize("d", [2, 5, 20])
def test_pde_residual_zero_for_exact_solution(eq, d):
    g = torch.Generator().manual_seed(d)
    c = torch.randn(d - 1, generator=g, dtype=torch.float64)
    x = sample_ball(64, d, g).double()
    assert x.norm(dim=-1).max() <= 1.0
    r = residual(eq, lambda z: exact_solution(z, c), x, c)
    assert r.abs().max() < 1e-9
    # negative control: a perturbed solution has a non-zero residual
    bad = residual(eq, lambda z: exact_solution(z, c) * 1.01, x, c)
    assert bad.abs().max() > 1e-4


def test_laplacian_operator_against_closed_form():
    g = torch.Generator().manual_seed(0)
    c = torch.randn(3, generator=g, dtype=torch.float64)
    x = sample_ball(16, 4, g).double()
    _, lap = laplacian(lambda z: exact_solution(z, c), x)
    torch.testing.assert_close(lap, exact_laplacian(x, c), rtol=1e-10, atol=1e-10)
    # exact solution vanishes on the sphere
    s = torch.randn(8, 4, generator=g, dtype=torch.float64)
    assert exact_solution(s / s.norm(dim=-1, keepdim=True), c).abs().max() < 1e-12


def test_cosine_schedule_decays_monotonically_over_the_run():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=1.0)
    sched = cosine_schedule(opt, 10)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert all(a >= b for a, b in zip(lrs, lrs[1:])) and lrs[0] == 1.0 and lrs[-1] > 0
    with pytest.raises(ValueError):
        cosine_schedule(opt, 0)


def test_optimizer_groups_separate_prompts_and_metalearner():
    from kan_metakan import MetaKAN

    m = MetaKAN.from_widths([3, 4, 2], hidden=4, generator=torch.Generator().manual_seed(0))
    opt = metakan_optimizer(m, lr_prompt=0.05, lr_meta=0.002)
    names = {g["name"]: g for g in opt.param_groups}
    assert set(names) == {"prompts", "meta"}
    assert names["prompts"]["lr"] == 0.05 and names["meta"]["lr"] == 0.002
    prompts, meta, other = split_groups(m)
    assert sum(p.numel() for p in prompts + meta) == count_trainable(m) and not other


@pytest.mark.parametrize("kind", ["kan", "fastkan", "kaln", "kagn"])
def test_meta_conv_net_shapes_and_grads(kind):
    g = torch.Generator().manual_seed(0)
    net = ka_conv_net(kind, [3, 4, 4, 9], meta=True, clusters=2, hidden=4, generator=g)
    plain = ka_conv_net(kind, [3, 4, 4, 9], generator=g)
    x = torch.rand(2, 1, 9, 9, generator=g)
    y = net(x)
    assert y.shape == plain(x).shape == (2, 10)
    y.sum().backward()
    assert all(p.grad is not None for p in net.prompt_parameters() + net.meta_parameters())
    assert count_trainable(net) < count_trainable(plain)
    assert net.layer_cluster == [0, 0, 0, 1]


def test_meta_conv_prompts_per_tap_and_materialize():
    g = torch.Generator().manual_seed(1)
    learner = MetaLearner(1, 4, 9, generator=g)
    conv = MetaKANConv2d(
        2, 3, 3, padding=1, spec=__import__("kan_core").KANSpec((1, 1)), learner=learner, generator=g
    )
    assert conv.edges.prompt.shape == (3, 2 * 9, 1)
    x = torch.rand(2, 2, 5, 5, generator=g)
    torch.testing.assert_close(conv.materialize()(x), conv(x), rtol=1e-5, atol=1e-6)
