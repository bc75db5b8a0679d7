"""Golden tests against diffusers: tables, timestep <-> level, add_noise, get_velocity and flow matching.

For every beta schedule diffusers' ``DDPMScheduler`` and ``DDIMScheduler`` offer, with and without
``rescale_betas_zero_snr``, at 100 and 1000 training timesteps, on float32 and float64 data, over every
timestep. Tolerances come from an error model stated in each test: diffusers computes
``sqrt(alphas_cumprod[t])`` in the data dtype, the library computes ``a`` from the level
``s = sqrt(1 - alphas_cumprod[t])`` (``a = sqrt((1 - s)(1 + s))``), so the two differ by the rounding
of the arithmetic (a few ulp of the data dtype) plus the exact change ``|a(s) - sqrt(ac)|`` that storing
``s`` in the level dtype causes, computed here in 50-digit decimal arithmetic.
"""

from __future__ import annotations

import inspect
import re
from decimal import Decimal, getcontext

import numpy as np
import pytest

import ambientloss as al
from ambientloss.adapters.torch import AmbientLoss
from ambientloss.core.discrete import BETA_SCHEDULES

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

getcontext().prec = 50
U = {torch.float32: 2.0**-24, torch.float64: 2.0**-53}
DTYPES = [torch.float32, torch.float64]


def _offered(cls: type) -> set[str]:
    """The beta schedules a diffusers scheduler's constructor accepts, read from its source."""
    return set(re.findall(r'beta_schedule == "(\w+)"', inspect.getsource(cls.__init__)))


def _cases() -> list[tuple[str, str, bool, int]]:
    cases = []
    for name in sorted(_offered(diffusers.DDPMScheduler)):
        for zero_snr in (False, True):
            cases += [("DDPMScheduler", name, zero_snr, n) for n in (100, 1000)]
    for name in sorted(_offered(diffusers.DDIMScheduler)):
        cases += [("DDIMScheduler", name, zero_snr, 1000) for zero_snr in (False, True)]
    return cases


CASES = _cases()
IDS = [f"{c}-{name}-{'zsnr-' if z else ''}{n}" for c, name, z, n in CASES]


def _scheduler(cls_name: str, name: str, zero_snr: bool, n: int):
    kwargs = {"beta_start": 0.00085, "beta_end": 0.012} if name == "scaled_linear" else {}
    cls = getattr(diffusers, cls_name)
    return cls(num_train_timesteps=n, beta_schedule=name, rescale_betas_zero_snr=zero_snr, **kwargs), kwargs


def _exact_drift(level: np.ndarray, ac: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``|sqrt(1 - s^2) - sqrt(ac)|`` and ``|s - sqrt(1 - ac)|`` for the stored levels ``s``, in 50 digits."""
    da, db = [], []
    for s, c in zip(level.tolist(), ac.tolist(), strict=True):
        s_dec, c_dec = Decimal(s), Decimal(c)
        da.append(float(abs((1 - s_dec * s_dec).sqrt() - c_dec.sqrt())))
        db.append(float(abs(s_dec - (1 - c_dec).sqrt())))
    return np.array(da), np.array(db)


def _data(n: int, dtype, seed: int):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, 3, generator=g, dtype=dtype), torch.randn(n, 4, 3, generator=g, dtype=dtype)


def _col(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a)[:, None, None]


def test_every_diffusers_beta_schedule_is_supported():
    offered = _offered(diffusers.DDPMScheduler) | _offered(diffusers.DDIMScheduler)
    assert {"linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid"} <= offered  # the parser still works
    assert offered <= set(BETA_SCHEDULES)


@pytest.mark.parametrize(("cls", "name", "zero_snr", "n"), CASES, ids=IDS)
def test_tables_and_timestep_level_conversion(cls, name, zero_snr, n):
    scheduler, kwargs = _scheduler(cls, name, zero_snr, n)
    ac = scheduler.alphas_cumprod.double().numpy()
    read = al.Discrete.from_scheduler(scheduler)
    np.testing.assert_array_equal(read.alphas_cumprod, ac)  # the scheduler's own table, bit for bit
    # rebuilt from the config: float32 throughout, rounded in another order than torch.cumprod; a product
    # of n rounded float32 factors carries at most n roundings (measured: at most 22 ulp at n = 1000)
    built = al.Discrete.from_diffusers(name, num_train_timesteps=n, rescale_betas_zero_snr=zero_snr, **kwargs)
    bound = n * U[torch.float32]
    np.testing.assert_allclose(built.alphas_cumprod, ac, rtol=0, atol=bound)
    if not zero_snr:  # no cancellation at the tail: relative agreement too
        np.testing.assert_allclose(built.alphas_cumprod, ac, rtol=bound, atol=0)

    t = torch.arange(n)
    s64 = read.sigma_for_timestep(t, dtype=torch.float64)
    # the table is NumPy's np.sqrt(1 - ac) on this same float64 array (Discrete.sigmas) and
    # sigma_for_timestep only gathers it: the same operation on the same inputs, then data movement
    assert torch.equal(s64, torch.from_numpy(np.sqrt(1 - ac)))
    assert torch.equal(AmbientLoss.from_scheduler(scheduler).sigma_for_timestep(t), s64.float())
    assert bool((s64[1:] > s64[:-1]).all())
    assert torch.equal(read.timestep_for_sigma(s64), t)
    # float32 levels: the smallest timestep with the same float32 level (ties only at the top)
    s32 = read.sigma_for_timestep(t)
    first = torch.searchsorted(s32, s32, side="left")
    assert torch.equal(read.timestep_for_sigma(s32), first)
    # against diffusers' float32 sqrt(1 - alphas_cumprod), taken by torch's sqrt, which is faithful
    # (< 1 ulp) but not correctly rounded: s32 is within 1/2 ulp of the exact level, ref32 within
    # 1 ulp of sqrt of the float32 1 - ac (itself within 1/2 ulp, exact when ac >= 1/2, an error
    # halved by the sqrt). Two floats < 2 ulp apart are at most 1 ulp apart: <= 2 u relative.
    ref32 = (1 - scheduler.alphas_cumprod) ** 0.5
    assert float(((s32 - ref32).abs() / ref32).max()) <= 2 * U[torch.float32]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize(("cls", "name", "zero_snr", "n"), CASES, ids=IDS)
@pytest.mark.parametrize("level_dtype", ["float64", "data"])
def test_add_noise_and_velocity_match_diffusers(cls, name, zero_snr, n, dtype, level_dtype):
    scheduler, _ = _scheduler(cls, name, zero_snr, n)
    sched = al.Discrete.from_scheduler(scheduler)
    t = torch.arange(n)
    ldt = torch.float64 if level_dtype == "float64" else dtype
    sigma = sched.sigma_for_timestep(t, dtype=ldt)
    x0, noise = _data(n, dtype, seed=n + len(name))
    ac = sched.alphas_cumprod
    a, b = _col(np.sqrt(ac)), _col(np.sqrt(1 - ac))
    da, db = (_col(d) for d in _exact_drift(sigma.double().numpy(), ac))
    u = max(U[dtype], U[ldt])  # one rounding of the data or level dtype

    # forward noising: |error| <= drift of the coefficients + 10 roundings of the terms
    ref = scheduler.add_noise(x0, noise, t)
    ours = al.add_noise(x0, sigma, noise, schedule=sched)
    assert ours.dtype == dtype
    terms = (a * x0).abs() + (b * noise).abs()
    bound = da * x0.abs() + db * noise.abs() + 10 * u * terms
    assert bool(((ours - ref).abs() <= bound).all())
    if ldt == torch.float64 and dtype == torch.float32:  # the recommended call: a few float32 ulp, nothing more
        assert bool(((ours - ref).abs() <= 8 * U[dtype] * terms).all())
    # the ambient kernel from a clean sample (sigma_min = 0) is bit-exactly add_noise
    zero = torch.zeros(n, dtype=ldt)
    assert torch.equal(al.renoise(x0, sigma, zero, noise, schedule=sched), ours)

    # v target at sigma_min = 0: standard_target and ambient_pair (bit-equal) against get_velocity
    v_ref = scheduler.get_velocity(x0, noise, t)
    v_std = al.standard_target(x0, noise, sigma, prediction="v_prediction", schedule=sched)
    x_t, v_pair = al.ambient_pair(x0, sigma, zero, noise, prediction="v_prediction", schedule=sched)
    assert torch.equal(v_pair, v_std)
    assert torch.equal(x_t, ours)
    v_terms = (a * noise).abs() + (b * x0).abs()
    assert bool(((v_std - v_ref).abs() <= da * noise.abs() + db * x0.abs() + 10 * u * v_terms).all())

    # pair form from diffusers' x_t: eps = (x_t - a x0) / b cancels, so its rounding is scaled by 1 / b
    eps = al.ambient_target(ref, x0, sigma, zero, prediction="epsilon", schedule=sched)
    eps_bound = (da * x0.abs() + db * noise.abs() + 10 * u * (ref.abs() + terms)) / b
    assert bool(((eps - noise).abs() <= eps_bound).all())
    v_amb = al.ambient_target(ref, x0, sigma, zero, prediction="v_prediction", schedule=sched)
    v_bound = a * eps_bound + da * noise.abs() + db * x0.abs() + 10 * u * v_terms
    assert bool(((v_amb - v_ref).abs() <= v_bound).all())
    # x0 ("sample") target of a clean sample: the sample itself, bit for bit
    assert torch.equal(al.ambient_target(ref, x0, sigma, zero, prediction="sample", schedule=sched), x0)


def test_float32_levels_lose_the_signal_coefficient_at_the_top():
    """Why the tests above carry the drift term: near ``ac = 0`` a float32 level cannot carry ``sqrt(ac)``.

    Linear betas, 1000 steps, zero terminal SNR: ``alphas_cumprod[998]`` is about 4.2e-9, so
    ``s = sqrt(1 - ac)`` rounds to 1 in float32 and ``a(s) = 0`` instead of about 6.5e-5. float64 levels
    keep it to about ``u64 / ac`` relative.
    """
    scheduler, _ = _scheduler("DDPMScheduler", "linear", True, 1000)
    sched = al.Discrete.from_scheduler(scheduler)
    ac = float(sched.alphas_cumprod[998])
    assert 0 < ac < U[torch.float32]
    s32 = sched.sigma_for_timestep(torch.tensor([998]))
    s64 = sched.sigma_for_timestep(torch.tensor([998]), dtype=torch.float64)
    assert float(s32) == 1.0
    a32, _ = al.coefficients(s32, schedule=sched)
    a64, _ = al.coefficients(s64, schedule=sched)
    assert float(a32) == 0.0
    assert abs(float(a64) - ac**0.5) <= 4 * U[torch.float64] / ac * ac**0.5


@pytest.mark.parametrize("shift", [1.0, 3.0])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_flow_matching_matches_flow_match_euler(shift, dtype):
    """``FlowMatchEulerDiscreteScheduler``: ``scale_noise`` is ``add_noise(schedule="flow")`` at ``t = sigma``.

    The training scripts' target ``noise - x0`` is the ``"velocity"`` prediction of the flow schedule,
    bit for bit, and ``ambient_pair`` from a clean sample reproduces both.
    """
    scheduler = diffusers.FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift)
    idx = torch.arange(0, 1000, 37)
    timesteps = scheduler.timesteps[idx]
    sigma = scheduler.sigmas[idx].to(dtype)
    x0, noise = _data(len(idx), dtype, seed=7)
    ref = scheduler.scale_noise(x0, timesteps, noise)
    ours = al.add_noise(x0, sigma, noise, schedule="flow")
    terms = ((1 - sigma)[:, None, None] * x0).abs() + (sigma[:, None, None] * noise).abs()
    assert bool(((ours - ref).abs() <= 4 * U[dtype] * terms).all())
    target = al.standard_target(x0, noise, sigma, prediction="velocity", schedule="flow")
    assert torch.equal(target, noise - x0)
    x_t, amb = al.ambient_pair(x0, sigma, torch.zeros_like(sigma), noise, prediction="flow", schedule="flow")
    assert torch.equal(amb, noise - x0)
    assert torch.equal(x_t, ours)


def test_zero_terminal_snr_tables_and_their_errors():
    """A final ``alphas_cumprod`` of 0 is the VP top ``s = 1``; a beta of 1 is allowed only last."""
    table = al.Discrete([0.9, 0.5, 0.0])
    assert float(table.sigmas[-1]) == 1.0
    assert int(table.timestep_for_sigma(1.0)) == 2
    assert float(al.Discrete.from_betas(np.array([0.1, 0.5, 1.0])).alphas_cumprod[-1]) == 0.0
    with pytest.raises(ValueError, match=r"positive first entry; alphas_cumprod\[0\] = 0.0"):
        al.Discrete([0.0, 0.0])
    with pytest.raises(ValueError, match="the last one may be exactly 1"):
        al.Discrete.from_betas(np.array([0.1, 1.0, 0.5]))
    with pytest.raises(ValueError, match="at least 2 timesteps"):
        al.Discrete.from_diffusers("linear", num_train_timesteps=1, rescale_betas_zero_snr=True)
    with pytest.raises(ValueError, match=r"unknown beta_schedule 'cosine'.*'sigmoid', 'laplace'"):
        al.Discrete.from_diffusers("cosine")
