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


def test_warmup_cosine_schedule_ramps_then_matches_cosine():
    from kan_metakan.train import warmup_cosine_schedule

    def lrs(make, n=12):
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.AdamW([p], lr=2.0)
        sched, out = make(opt), []
        for _ in range(n):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return out

    warm = lrs(lambda o: warmup_cosine_schedule(o, 12, 4))
    assert warm[:4] == pytest.approx([0.5, 1.0, 1.5, 2.0])
    assert all(a >= b for a, b in zip(warm[3:], warm[4:])) and warm[-1] > 0
    cos = lrs(lambda o: cosine_schedule(o, 12))
    assert lrs(lambda o: warmup_cosine_schedule(o, 12, 0)) == pytest.approx(cos)
    with pytest.raises(ValueError):
        warmup_cosine_schedule(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), 5, 5)


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


@pytest.mark.parametrize("basis", ["bspline", "rbf"])
@pytest.mark.parametrize("meta", [False, True])
def test_forward_laplacian_matches_autograd(basis, meta):
    from kan_core import KAN
    from kan_metakan import MetaKAN
    from kan_metakan.tasks.laplacian import kan_value_grad_laplacian
    from kan_metakan.tasks.pde import HardBC

    g = torch.Generator().manual_seed(3)
    cls = MetaKAN if meta else KAN
    net = cls.from_widths([5, 4, 3, 1], grid_size=5, basis=basis, generator=g).double()
    x = sample_ball(24, 5, g).double() * 1.1  # some points outside the grid's span too
    u, lap = laplacian(lambda z: net(z).squeeze(-1), x)
    y, jac, lap_f = kan_value_grad_laplacian(x, net.layer_params(), net.spec)
    xx = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(net(xx).sum(), xx)
    torch.testing.assert_close(y[:, 0], u, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(jac[:, 0], grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(lap_f[:, 0], lap, rtol=1e-10, atol=1e-12)
    assert lap.abs().max() > 1e-3  # not trivially zero
    # the hard-BC wrapper: Lap((1 - r^2) n) through the product rule equals autograd's
    model = HardBC(net)
    assert model.has_forward_laplacian()
    ub, lb = model.value_and_laplacian(x)
    ua, la = laplacian(model, x)
    torch.testing.assert_close(ub, ua, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(lb, la, rtol=1e-10, atol=1e-10)
    # negative control: dropping the -4 x . grad n term of the product rule is detectably wrong
    n, gn, ln = (t[:, 0] for t in kan_value_grad_laplacian(x, net.layer_params(), net.spec))
    wrong = -2 * x.shape[1] * n + (1 - x.square().sum(-1)) * ln
    assert (wrong - la).abs().max() > 1e-4


def test_forward_laplacian_trains_with_first_order_gradients():
    """The PINN loss through the forward Laplacian has the same parameter gradients as through nested
    autograd (B-splines: needs kan-core's basis backward at orders k-1 and k-2)."""
    from kan_core import KAN
    from kan_metakan.tasks.pde import HardBC

    g = torch.Generator().manual_seed(4)
    c = torch.randn(3, generator=g, dtype=torch.float64)
    model = HardBC(KAN.from_widths([4, 3, 1], grid_size=4, generator=g).double())
    x = sample_ball(16, 4, g).double()
    residual("allen-cahn", model, x, c).square().mean().backward()
    fast = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    residual("allen-cahn", lambda z: model(z), x, c).square().mean().backward()
    for a, p in zip(fast, model.parameters()):
        torch.testing.assert_close(a, p.grad, rtol=1e-8, atol=1e-10)


def test_run_functions_reject_unknown_models():
    from kan_metakan.tasks.images import run_images
    from kan_metakan.tasks.pde import run_pde

    with pytest.raises(ValueError, match="models"):
        run_pde(["poisson"], [3], models=("mlp",))
    with pytest.raises(ValueError, match="models"):
        run_images(["digits"], models=())


def test_run_pde_metakan_settings_are_applied():
    """``meta_hidden``, ``prompt_dim`` and ``clusters`` shape the MetaKAN; ``metakan_steps`` trains it."""
    from kan_metakan.counting import count_trainable
    from kan_metakan.models import MetaKAN
    from kan_metakan.tasks.pde import HardBC, run_pde

    kw = {"widths_hidden": (4, 4), "n_interior": 8, "n_test": 16, "models": ("metakan",)}
    row = run_pde(["poisson"], [3], meta_hidden=6, prompt_dim=2, clusters=3, steps=0, metakan_steps=2, **kw)[
        0
    ]
    want = MetaKAN.from_widths([3, 4, 4, 1], grid_size=5, hidden=6, prompt_dim=2, clusters=3)
    assert row["metakan_params"] == count_trainable(HardBC(want))
    assert 0 < row["metakan_rel_l2"] < 10
    untrained = run_pde(
        ["poisson"], [3], meta_hidden=6, prompt_dim=2, clusters=3, steps=2, metakan_steps=0, **kw
    )
    assert untrained[0]["metakan_rel_l2"] != row["metakan_rel_l2"]


@pytest.mark.parametrize("memory_efficient", [False, True])
def test_lbfgs_fit_moves_a_metakan(memory_efficient):
    """Regression: with ``max_iter=1`` torch's LBFGS allowed one loss evaluation per step, so the line
    search could not shorten a first step that raised the loss and the parameters never moved."""
    from kan_metakan import MetaKAN
    from kan_metakan.train import lbfgs_fit

    g = torch.Generator().manual_seed(0)
    x = torch.rand(200, 2, generator=g) * 2 - 1
    y = x[:, :1] * x[:, 1:]
    model = MetaKAN.from_widths(
        [2, 2, 1], grid_size=5, hidden=16, prompt_dim=2, memory_efficient=memory_efficient, generator=g
    )
    before = [p.detach().clone() for p in model.parameters()]
    losses = lbfgs_fit(model, x, y, steps=5)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    final = float(torch.nn.functional.mse_loss(model(x), y))
    assert final < 0.2 * losses[0], (losses, final)


@pytest.mark.pykan
def test_every_feynman_equation_samples_as_many_inputs_as_its_kan_takes():
    """Each of Table 2's 17 equations draws data whose width is the KAN's input width (pykan's I.9.18 has 9
    variables where the paper's structure has 6, I.18.4 3 where it has 4: the input layer follows pykan)."""
    pytest.importorskip("kan.feynman")
    from kan_metakan.tasks.feynman import FEYNMAN_WIDTHS, feynman_data, feynman_widths

    assert len(FEYNMAN_WIDTHS) == 17
    changed = {}
    for name, paper in FEYNMAN_WIDTHS.items():
        widths = feynman_widths(name)
        xtr, ytr, xte, yte = feynman_data(name, 8, 4, seed=0)
        assert xtr.shape == (8, widths[0]) and xte.shape == (4, widths[0]) and ytr.shape == (8, 1), name
        assert torch.isfinite(ytr).all() and torch.isfinite(yte).all(), name
        assert widths[1:] == paper[1:]
        if widths != paper:
            changed[name] = widths[0]
    assert changed == {"I.9.18": 9, "I.18.4": 3}


def test_fit_pair_chooses_the_prompt_dimension_on_validation_only():
    from kan_metakan.tasks.regression import fit_pair

    g = torch.Generator().manual_seed(0)
    x = torch.rand(120, 2, generator=g) * 2 - 1
    y = (x[:, :1] * x[:, 1:]).contiguous()
    xte, yte = x[:40], y[:40]
    kw = dict(grid_size=3, hidden=8, steps=2, seed=0)
    row = fit_pair([2, 2, 1], x, y, xte, yte, prompt_dims=(1, 2, 3), clusters=(1, 2), n_val=30, **kw)
    vals = {(p, c): row[f"metakan_val_mse_dim{p}_c{c}"] for p in (1, 2, 3) for c in (1, 2)}
    assert (row["metakan_prompt_dim"], row["metakan_clusters"]) == min(vals, key=vals.get)
    # the chosen model is the one fitted alone with those settings on the same points
    alone = fit_pair([2, 2, 1], x, y, xte, yte, prompt_dims=(row["metakan_prompt_dim"],),
                     clusters=(row["metakan_clusters"],), n_val=30, **kw)  # fmt: skip
    assert alone["metakan_mse"] == row["metakan_mse"] and alone["kan_mse"] == row["kan_mse"]
    assert alone["metakan_params"] == row["metakan_params"]
    # held-out points change the fit (negative control): without them both models see all 120 points
    full = fit_pair([2, 2, 1], x, y, xte, yte, **kw)
    assert full["kan_mse"] != row["kan_mse"] and "metakan_prompt_dim" not in full
    with pytest.raises(ValueError, match=r"choosing among prompt_dims \[1, 2\] x clusters \[1\] needs a validation split"):
        fit_pair([2, 2, 1], x, y, xte, yte, prompt_dims=(1, 2), **kw)
    with pytest.raises(ValueError, match=r"choosing among prompt_dims \[1\] x clusters \[1, 2\] needs a validation split"):
        fit_pair([2, 2, 1], x, y, xte, yte, clusters=(1, 2), **kw)
    with pytest.raises(ValueError, match=r"clusters \[3\]: at most one meta-learner per layer \(2 for \[2, 2, 1\]\)"):
        fit_pair([2, 2, 1], x, y, xte, yte, clusters=(3,), **kw)
    with pytest.raises(ValueError, match=r"prompt_dims must be a non-empty list of distinct positive integers, got \[2, 2\]"):
        fit_pair([2, 2, 1], x, y, xte, yte, prompt_dims=(2, 2), n_val=30, **kw)
    with pytest.raises(ValueError, match=r"n_val must be in \[0, 120\)"):
        fit_pair([2, 2, 1], x, y, xte, yte, n_val=120, **kw)


def test_fit_pair_clusters_reach_the_metakan():
    from kan_metakan.tasks.regression import fit_pair

    g = torch.Generator().manual_seed(0)
    x = torch.rand(60, 2, generator=g) * 2 - 1
    y = (x[:, :1] * x[:, 1:]).contiguous()
    kw = dict(grid_size=3, hidden=8, steps=1, seed=0)
    one = fit_pair([2, 2, 1], x, y, x[:20], y[:20], **kw)
    two = fit_pair([2, 2, 1], x, y, x[:20], y[:20], clusters=(2,), **kw)
    # a second meta-learner: (dim z + 1) hidden + (hidden + 1) d more parameters, d = G + k + 1 = 7
    assert two["metakan_params"] - one["metakan_params"] == (1 + 1) * 8 + (8 + 1) * 7
    # negative control: the default is one meta-learner, and the KAN is untouched by the argument
    assert fit_pair([2, 2, 1], x, y, x[:20], y[:20], clusters=(1,), **kw) == one
    assert two["kan_mse"] == one["kan_mse"] and two["kan_params"] == one["kan_params"]


def test_run_conv_takes_a_number_of_meta_learners_per_kind():
    from kan_metakan.tasks.images import run_conv

    kw = dict(channels=[2, 2, 2, 2], epochs=1, max_train=16, max_test=16, batch=8)
    rows = run_conv("digits", ["kan", "kagn"], clusters={"kan": 1, "kagn": 4, "kaln": 3}, **kw)
    assert [r["meta_clusters"] for r in rows] == [1, 4]
    for r, c in zip(rows, (1, 4)):
        net = ka_conv_net(r["kind"], [2, 2, 2, 2], meta=True, clusters=c, generator=torch.Generator().manual_seed(0))
        assert r["meta_params"] == count_trainable(net)
    # negative control: the KAGN's count with one meta-learner differs
    assert rows[1]["meta_params"] != count_trainable(ka_conv_net("kagn", [2, 2, 2, 2], meta=True, clusters=1))
    (one,) = run_conv("digits", ["kagn"], clusters=4, **kw)
    assert one["meta_params"] == rows[1]["meta_params"]
    with pytest.raises(ValueError, match=r"clusters has no number of meta-learners for kind\(s\) \['kagn'\]; it lists \['kan'\]"):
        run_conv("digits", ["kan", "kagn"], clusters={"kan": 1}, **kw)
