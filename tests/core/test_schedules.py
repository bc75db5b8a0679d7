"""Schedules, discrete tables and level conversions."""

import math

import numpy as np
import pytest

import ambientloss as al


@pytest.mark.parametrize("beta_schedule", ["linear", "scaled_linear", "squaredcos_cap_v2"])
@pytest.mark.parametrize("n", [100, 1000])
def test_discrete_round_trip(beta_schedule, n):
    sched = al.Discrete.from_diffusers(beta_schedule, num_train_timesteps=n)
    t = np.arange(n)
    sigma = sched.sigma_for_timestep(t)
    assert sigma.dtype == np.float32
    assert np.all(np.diff(sigma.astype(np.float64)) >= 0)
    back = sched.timestep_for_sigma(sigma)
    # equal unless two neighbouring levels round to the same float32 value
    ties = np.concatenate([[False], np.diff(sigma) == 0])
    np.testing.assert_array_equal(back[~ties], t[~ties])
    np.testing.assert_allclose(sigma, np.sqrt(1 - sched.alphas_cumprod), rtol=1e-7)


def test_discrete_matches_a_hand_built_linear_table():
    betas = np.linspace(1e-4, 0.02, 1000, dtype=np.float32)
    expected = np.cumprod(1 - betas, dtype=np.float32)
    np.testing.assert_array_equal(al.Discrete.from_diffusers("linear").alphas_cumprod, expected)


def test_discrete_levels_are_vp_levels():
    """A discrete schedule's level s gives diffusers' add_noise: sqrt(ac) x0 + sqrt(1 - ac) eps."""
    sched = al.Discrete.from_diffusers("squaredcos_cap_v2", num_train_timesteps=100)
    t = np.array([0, 10, 50, 99])
    s = sched.sigma_for_timestep(t, dtype=np.float64)
    x0, eps = np.ones((4, 3)), np.full((4, 3), 2.0)
    out = al.add_noise(x0, s, eps, schedule=sched)
    ac = sched.alphas_cumprod[t][:, None]
    np.testing.assert_allclose(out, np.sqrt(ac) * x0 + np.sqrt(1 - ac) * eps, rtol=1e-12, atol=1e-12)


def test_discrete_from_scheduler_and_torch_timesteps():
    torch = pytest.importorskip("torch")
    from types import SimpleNamespace

    table = al.Discrete.from_diffusers("squaredcos_cap_v2", num_train_timesteps=100).alphas_cumprod
    scheduler = SimpleNamespace(alphas_cumprod=torch.tensor(table, dtype=torch.float32))
    sched = al.Discrete.from_scheduler(scheduler)
    t = torch.tensor([3, 42])
    s = sched.sigma_for_timestep(t)
    assert isinstance(s, torch.Tensor)
    assert s.dtype == torch.float32
    assert torch.equal(sched.timestep_for_sigma(s), t)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: al.Discrete([0.9, 0.95]), ValueError, "non-increasing; it increases at index 1"),
        (lambda: al.Discrete([1.2, 0.5]), ValueError, r"alphas_cumprod\[0\] = 1.2"),
        (lambda: al.Discrete.from_diffusers("cosine"), ValueError, "unknown beta_schedule 'cosine'"),
        (lambda: al.Discrete.from_diffusers("linear").sigma_for_timestep(1000), ValueError, "timestep 1000 is outside"),
        (lambda: al.Discrete.from_diffusers("linear").sigma_for_timestep(np.array([0.5])), TypeError, "integer"),
        (lambda: al.Discrete.from_diffusers("linear").timestep_for_sigma(1.5), ValueError, "sigma must lie in"),
        (lambda: al.Discrete.from_scheduler(object()), TypeError, "has no alphas_cumprod"),
        (lambda: al.Custom(1.0, lambda t: t), TypeError, "must be callables"),
        (lambda: al.Custom(lambda t: t, lambda t: t, domain=(1, 0)), ValueError, "lower < upper"),
        (lambda: al.Custom(lambda t: t, lambda t: t, d_a=lambda t: t), ValueError, "give both"),
    ],
)
def test_schedule_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("nu", [0.0, 0.01, 0.5, 1.0, 2.6848, 80.0])
def test_conversions_preserve_the_schedule_free_level(nu):
    custom = al.Custom(lambda t: np.cos(np.pi * t / 2), lambda t: np.sin(np.pi * t / 2))
    for sched in ["vp", "ve", "flow", custom]:
        level = al.level_from_schedule_free(nu, schedule=sched)
        assert math.isclose(al.schedule_free_level(level, schedule=sched), nu, rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(al.convert_level(nu, source="ve", target="flow"), nu / (1 + nu), rel_tol=1e-12)


def test_log_snr():
    assert al.log_snr(0.0) == math.inf
    assert al.log_snr(1.0) == -math.inf
    s = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(al.log_snr(s), np.log((1 - s**2) / s**2), rtol=1e-12)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: al.coefficients(1.5), r"sigma=1.5 is outside the domain \[0.0, 1.0\] of the 'vp' schedule"),
        (lambda: al.coefficients(np.array([0.2, -0.1]), schedule="ve"), r"sigma=-0.1 .* at index \(1,\)"),
        (lambda: al.log_snr(np.array([0.5, np.nan])), "sigma must not be NaN"),
        (lambda: al.schedule_free_level(2.0), "outside the domain"),
        (lambda: al.convert_level(1.2, source="flow", target="vp"), "of the 'flow' schedule"),
    ],
)
def test_conversions_name_a_level_outside_the_domain_instead_of_returning_nan(call, match):
    with pytest.raises(ValueError, match=match):
        call()
    with al.checks(False), np.errstate(invalid="ignore"):  # nothing read on the host: NaN where undefined
        call()
