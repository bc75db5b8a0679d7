"""The maze policy: DDPM sampler against exact denoisers, training loop, and the methods' batches."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ambientloss.adapters.torch import AmbientLoss  # noqa: E402
from ambientloss.adapters.torch_data import frozen_x_tmin  # noqa: E402
from ambientloss.maze.methods import Pools, annotate, make_draw  # noqa: E402
from ambientloss.maze.policy import (  # noqa: E402
    TrajectoryDenoiser,
    ddpm_sample,
    default_schedule,
    train_denoiser,
)

SCHED = default_schedule()


class _GaussianOracle(torch.nn.Module):
    """Exact ``E[eps | x_t]`` for data ``N(mu, var I)`` (``var = 0``: a point mass at ``mu``)."""

    def __init__(self, mu: torch.Tensor, var: float) -> None:
        super().__init__()
        self.mu, self.var, self.horizon = mu, var, mu.shape[0]
        self.ac = torch.as_tensor(SCHED.alphas_cumprod, dtype=torch.float64)

    def forward(self, x, t, cond):
        a2 = self.ac[t][:, None, None]
        a, b = a2.sqrt(), (1 - a2).sqrt()
        return (b * (x.double() - a * self.mu) / (a2 * self.var + b * b)).to(x.dtype)


def test_ddpm_sampler_recovers_a_point_mass_exactly():
    mu = torch.tensor([[0.3, -0.5], [0.9, 0.1], [-0.2, -0.95]], dtype=torch.float64)
    cond = torch.zeros(5, 4, dtype=torch.float64)
    out = ddpm_sample(_GaussianOracle(mu, 0.0), cond, SCHED, generator=torch.Generator().manual_seed(0))
    assert out.shape == (5, 3, 2)
    assert torch.allclose(out, mu.expand(5, 3, 2), atol=1e-10)


def _ddpm_output_law(mu: float, var: float) -> tuple[float, float]:
    """Exact mean and variance of the DDPM sampler's output for 1-D data ``N(mu, var)``.

    With the exact posterior mean ``E[x0 | x_t] = mu + k_t (x_t - a_t mu)`` every step is affine,
    ``x_{t-1} = A_t x_t + B_t + s_t z``, so the law stays Gaussian: ``m <- A m + B``, ``V <- A^2 V + s^2``.
    """
    ac = SCHED.alphas_cumprod
    m, v = 0.0, 1.0
    for t in range(len(ac) - 1, -1, -1):
        a_prev = ac[t - 1] if t > 0 else 1.0
        beta = 1 - ac[t] / a_prev
        c0 = np.sqrt(a_prev) * beta / (1 - ac[t])  # on x0_hat
        ct = np.sqrt(1 - beta) * (1 - a_prev) / (1 - ac[t])  # on x_t
        k = np.sqrt(ac[t]) * var / (ac[t] * var + 1 - ac[t])
        big_a, big_b = c0 * k + ct, c0 * (mu - k * np.sqrt(ac[t]) * mu)
        m, v = big_a * m + big_b, big_a**2 * v + ((1 - a_prev) / (1 - ac[t]) * beta if t > 0 else 0.0)
    return m, v


def test_ddpm_sampler_with_the_exact_denoiser_has_the_exact_output_law():
    # data N(0.2, 0.3^2) per coordinate (x0_hat never reaches the clip at 1); 4000 samples x 6
    # coordinates, seed 1: standard errors about 0.8 % of the variance and 0.002 on the mean
    mean, var = _ddpm_output_law(0.2, 0.09)
    assert 0.07 < var < 0.09  # the small posterior variance of DDPM shrinks the law slightly
    mu = torch.full((3, 2), 0.2, dtype=torch.float64)
    out = ddpm_sample(
        _GaussianOracle(mu, 0.09),
        torch.zeros(4000, 4, dtype=torch.float64),
        SCHED,
        generator=torch.Generator().manual_seed(1),
    )
    assert float(out.mean()) == pytest.approx(mean, abs=0.01)
    assert float(out.var()) == pytest.approx(var, rel=0.04)


def test_denoiser_shapes_and_training_is_seeded():
    def draw(g):
        from ambientloss.maze.policy import Batch

        x = torch.randn(8, 5, 2, generator=g)
        return Batch(x, torch.zeros(8), torch.randint(100, (8,), generator=g), torch.zeros(8, 4))

    loss_fn = AmbientLoss("epsilon", SCHED)
    models = []
    with torch.random.fork_rng(devices=[]):  # the initialisation reads the global generator: seed it, then restore it
        for _ in range(2):
            torch.manual_seed(0)
            net = TrajectoryDenoiser(5, width=16, depth=1, channels=4)
            models.append((net, train_denoiser(net, draw, loss_fn, steps=3, seed=7, ema=0.0)))
    (net_a, avg_a), (net_b, avg_b) = models
    for p, q, r in zip(net_a.parameters(), net_b.parameters(), avg_a.parameters(), strict=True):
        assert torch.equal(p, q)  # same seed, same result
        assert torch.equal(p, r)  # ema = 0: the average is the last iterate
    assert not any(p.requires_grad for p in avg_b.parameters())
    assert net_a(torch.zeros(2, 5, 2), torch.tensor([0, 99]), torch.zeros(2, 4)).shape == (2, 5, 2)


def _pools(n_clean=6, n_rrt=10, horizon=5):
    g = torch.Generator().manual_seed(3)
    return Pools(
        torch.rand(n_clean, horizon, 2, generator=g) * 2 - 1,
        torch.rand(n_clean, 4, generator=g) * 2 - 1,
        torch.rand(n_rrt, horizon, 2, generator=g) * 2 - 1,
        torch.rand(n_rrt, 4, generator=g) * 2 - 1,
        SCHED,
    )


def _rows(x, pool):
    """For each row of ``x``, whether it equals some row of ``pool``: ``(len(x),)`` booleans."""
    return (x[:, None] == pool[None]).all(-1).all(-1).any(1)


def test_ambient_batches_respect_the_annotations():
    pools = _pools()
    levels = torch.as_tensor(SCHED.sigmas, dtype=torch.float32)
    t_min = torch.tensor([10, 30, 50, 70, 90, 99, 99, 20, 40, 60])  # rows 5 and 6 at the top: never usable
    sigma_min = levels[t_min]
    draw = make_draw(pools, "ambient", batch_size=64, clean_fraction=0.25, seed=5, sigma_min=sigma_min)
    # make_draw freezes x_tmin of the 8 usable rows in one call, and the same call here gives the same
    # bits; a call on all 10 rows need not (the coefficients go through torch's sqrt, which is not
    # correctly rounded and need not give a row the same last bit in a batch of another size)
    usable = torch.tensor([0, 1, 2, 3, 4, 7, 8, 9])
    frozen = frozen_x_tmin(pools.xr[usable], usable, sigma_min[usable], seed=5, schedule=SCHED)
    never = frozen_x_tmin(pools.xr[5:7], torch.arange(5, 7), sigma_min[5:7], seed=5, schedule=SCHED)
    g = torch.Generator().manual_seed(0)
    n_rrt, n_low_rrt, t_all = 0, 0, []
    for _ in range(30):
        b = draw(g)
        assert b.x_tmin.shape == (64, 5, 2)
        assert b.cond.shape == (64, 4)
        rrt = b.sigma_min > 0
        clean = _rows(b.x_tmin, pools.xc)
        assert torch.equal(clean, ~rrt)  # clean rows carry level 0, RRT rows their annotation
        assert bool((levels[b.timesteps[rrt]] > b.sigma_min[rrt]).all())
        match = (b.x_tmin[rrt][:, None] == frozen[None]).all(-1).all(-1)
        assert bool(match.any(1).all())  # the frozen trusted sample of a usable row ...
        gap = (b.x_tmin[rrt][:, None] - never[None]).abs().amax((-1, -2))
        assert bool((gap > 1e-3).all())  # ... never of rows 5 and 6 (not even close)
        assert bool((b.sigma_min[rrt][:, None] == levels[t_min][None]).any(1).all())
        n_rrt += int(rrt.sum())
        n_low_rrt += int((rrt & (b.timesteps <= 10)).sum())
        t_all.append(b.timesteps)
    assert n_low_rrt == 0  # no RRT row is usable at or below timestep 10
    # level first: every timestep equally often; 1920 draws, 19.2 per timestep, seed 0
    counts = torch.bincount(torch.cat(t_all), minlength=100)
    assert int(counts.min()) >= 4
    assert int(counts.max()) <= 40
    # RRT share: 0.75 where some RRT row is usable (t > 10), i.e. about 0.75 * 89 / 100 = 0.67
    assert n_rrt / 1920 == pytest.approx(0.75 * 89 / 100, abs=0.05)


def test_omni_batches_use_rows_as_clean_below_sigma_max():
    pools = _pools()
    levels = torch.as_tensor(SCHED.sigmas, dtype=torch.float32)
    sigma_min = torch.full((10,), float(levels[80]))
    top = float(levels[20])
    draw = make_draw(
        pools, "ambient_omni", batch_size=64, clean_fraction=0.5, seed=0, sigma_min=sigma_min, sigma_max=top
    )
    frozen = frozen_x_tmin(pools.xr, torch.arange(10), sigma_min, seed=0, schedule=SCHED)
    seen = torch.zeros(3, dtype=torch.int64)
    g = torch.Generator().manual_seed(1)
    for _ in range(10):
        b = draw(g)
        clean = _rows(b.x_tmin, pools.xc)
        raw_rrt = _rows(b.x_tmin, pools.xr)
        trusted = _rows(b.x_tmin, frozen)
        assert torch.equal(clean | raw_rrt | trusted, torch.ones(64, dtype=torch.bool))
        assert bool((b.timesteps[raw_rrt] < 20).all())  # low-noise branch: the row itself, as clean
        assert bool((b.sigma_min[raw_rrt | clean] == 0).all())
        assert bool((b.timesteps[trusted] > 80).all())  # high-noise branch: frozen x_tmin
        assert bool((b.sigma_min[trusted] == levels[80]).all())
        seen += torch.tensor([int(clean.sum()), int(raw_rrt.sum()), int(trusted.sum())])
    assert bool((seen > 0).all())


def test_cotraining_and_clean_batches():
    pools = _pools()
    g = torch.Generator().manual_seed(2)
    b = make_draw(pools, "cotrain", batch_size=400, clean_fraction=0.5, seed=0)(g)
    assert torch.equal(b.sigma_min, torch.zeros(400))
    clean, rrt = _rows(b.x_tmin, pools.xc), _rows(b.x_tmin, pools.xr)
    assert torch.equal(clean, ~rrt)
    assert int(clean.sum()) == pytest.approx(200, abs=40)  # binomial(400, 1/2): sd 10
    b = make_draw(pools, "clean", batch_size=16, clean_fraction=0.5, seed=0)(g)
    assert bool(_rows(b.x_tmin, pools.xc).all())
    with pytest.raises(ValueError, match="method must be one of"):
        make_draw(pools, "naive", batch_size=4, clean_fraction=0.5, seed=0)
    with pytest.raises(ValueError, match="needs sigma_min"):
        make_draw(pools, "ambient", batch_size=4, clean_fraction=0.5, seed=0)
    top = torch.full((10,), float(SCHED.sigmas[-1]), dtype=torch.float32)
    with pytest.raises(ValueError, match="no RRT row is usable"):
        make_draw(pools, "ambient", batch_size=4, clean_fraction=0.5, seed=0, sigma_min=top)


def test_annotation_gives_grid_levels():
    pools = _pools(n_clean=16, n_rrt=12)
    out = annotate(pools, seed=0, steps=3, eps=0.05, batch_size=8, hidden=16, n_draws=2, n_show=2)
    grid = torch.as_tensor(out.grid)
    assert out.sigma_min.shape == (12,)
    assert bool(torch.isin(out.sigma_min, grid).all())
    assert out.trajectories.shape == out.clean_trajectories.shape == (2, SCHED.num_train_timesteps)
    assert np.all((out.trajectories >= 0) & (out.trajectories <= 1))
    assert len(out.classifier_losses) == 3
