"""Base distributions and exact truncated samplers against independent references (scipy, mpmath).

Statistical tests are seeded (``SEED``) and deterministic; each states its tolerance: a
Kolmogorov-Smirnov or chi-squared p-value above ``P_MIN`` under the exact conditional law, which a
correct sampler fails with probability ``P_MIN`` for a fresh seed.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import special, stats

import ambientloss.sampling as sm
from ambientloss import Buffer, usable

SEED = 20240611
P_MIN = 1e-3

# ----------------------------------------------------------------------------- references (scipy only)


class _LogitNorm:
    """Logit-normal law of ``t`` from scipy's normal (independent of the library)."""

    def __init__(self, mean: float, std: float) -> None:
        self.norm = stats.norm(mean, std)

    def cdf(self, t):
        t = np.asarray(t, dtype=np.float64)
        with np.errstate(divide="ignore"):
            return np.where(t <= 0, 0.0, np.where(t >= 1, 1.0, self.norm.cdf(special.logit(np.clip(t, 0, 1)))))

    def sf(self, t):
        t = np.asarray(t, dtype=np.float64)
        with np.errstate(divide="ignore"):
            return np.where(t <= 0, 1.0, np.where(t >= 1, 0.0, self.norm.sf(special.logit(np.clip(t, 0, 1)))))


GRID = np.array([0.0, 0.1, 0.35, 0.6, 1.0])
DENS = np.array([0.2, 3.0, 1.0, 0.0, 2.0])


class _Grid:
    """CDF of the piecewise-linear density, integrated exactly per cell (independent closed form)."""

    def __init__(self) -> None:
        cells = np.diff(GRID) * (DENS[:-1] + DENS[1:]) / 2
        self.total = cells.sum()
        self.left = np.concatenate([[0.0], np.cumsum(cells)]) / self.total

    def cdf(self, x):
        x = np.clip(np.asarray(x, dtype=np.float64), GRID[0], GRID[-1])
        i = np.clip(np.searchsorted(GRID, x, side="right") - 1, 0, GRID.size - 2)
        a = x - GRID[i]
        slope = (DENS[i + 1] - DENS[i]) / (GRID[i + 1] - GRID[i])
        return self.left[i] + (DENS[i] * a + slope * a * a / 2) / self.total

    def sf(self, x):
        return 1 - self.cdf(x)


# (library base, scipy reference, a typical corrupt sigma_min, a typical sigma_max)
CONTINUOUS = {
    "uniform_vp": (sm.UniformVP(), stats.uniform(0, 1), 0.45, 0.2),
    "lognormal_edm": (sm.LogNormal(-1.2, 1.2), stats.lognorm(1.2, scale=math.exp(-1.2)), 0.6, 0.15),
    "lognormal_edm2": (sm.LogNormal(-0.4, 1.0), stats.lognorm(1.0, scale=math.exp(-0.4)), 1.5, 0.3),
    "logitnormal": (sm.LogitNormal(0.3, 0.8), _LogitNorm(0.3, 0.8), 0.55, 0.25),
    "grid": (sm.GridDensity(GRID, DENS, schedule="vp"), _Grid(), 0.3, 0.08),
}


def _ref_threshold(m, factor=1.0, additive=0.0):
    m = np.asarray(m, dtype=np.float64)
    return np.where(m == 0, 0.0, np.maximum(m * factor, m + additive))


def _ref_conditional_cdf(ref, x, t, s=None):
    """P(X <= x | X in (0, s) U (t, top]) from the reference law, per sample."""
    x, t = np.asarray(x, np.float64), np.asarray(t, np.float64)
    if s is None:
        s = np.zeros_like(t)
    s = np.asarray(s, np.float64)
    overlap = s > t
    t, s = np.where(overlap, 0.0, t), np.where(overlap, 0.0, s)
    f_s, f_t = ref.cdf(s), ref.cdf(t)
    mass = f_s + ref.sf(t)
    below = np.minimum(ref.cdf(x), f_s)
    above = np.maximum(ref.cdf(x) - f_t, 0.0)
    return (below + above) / mass


def _annotations(n, m_corrupt, top, rng):
    """Per-sample annotations: clean, corrupt above a threshold, and two-interval sets."""
    kind = rng.integers(0, 3, n)
    m = np.where(kind == 0, 0.0, m_corrupt * rng.uniform(0.5, 1.5, n))
    s = np.where(kind == 2, top * rng.uniform(0.5, 1.5, n), 0.0)
    return m, s


# ----------------------------------------------------------------------------- normal CDF and quantile


def test_normal_cdf_matches_mpmath_in_both_tails():
    """Phi(z) and Phi(-z) to 2e-15 relative over |z| <= 37.5 (measured: 7e-16); scipy is worse far out.

    NumPy's exp differs by an ulp between processors (SIMD kernels); with every exp / log / sqrt result
    moved by up to 2 ulp the worst error measured is 1.3e-15, still below the bound.
    """
    mpmath = pytest.importorskip("mpmath")
    import array_api_compat.numpy as xp

    from ambientloss.sampling._normal import ndtr_pair

    z = np.concatenate([np.linspace(-37.5, 37.5, 751), [-0.6629126, 0.6629126, 5.6568542, -5.6568542]])
    cdf, sf = ndtr_pair(z, xp)
    with mpmath.workdps(40):
        ref_cdf = np.array([float(mpmath.ncdf(mpmath.mpf(float(v)))) for v in z])
        ref_sf = np.array([float(mpmath.ncdf(-mpmath.mpf(float(v)))) for v in z])
    assert np.max(np.abs(cdf - ref_cdf) / ref_cdf) < 2e-15
    assert np.max(np.abs(sf - ref_sf) / ref_sf) < 2e-15


def test_normal_quantile_matches_scipy():
    """Phi^{-1}(p) to 4e-15 relative for p in [1e-300, 1 - 1e-16] (measured: 1.0e-15).

    With every log / sqrt result moved by up to 2 ulp (other processors' kernels) the worst is 1.4e-15.
    """
    import array_api_compat.numpy as xp

    from ambientloss.sampling._normal import ndtri, quantile_from_tails

    p = np.concatenate([np.logspace(-300, -1, 3000), np.linspace(0.001, 0.999, 999), 1 - np.logspace(-16, -1, 300)])
    ref = special.ndtri(p)
    np.testing.assert_allclose(ndtri(p, xp), ref, rtol=4e-15, atol=1e-300)
    lower = np.logspace(-300, -0.31, 2000)  # both tails from the small side: no rounding of 1 - p
    np.testing.assert_allclose(quantile_from_tails(lower, 1 - lower, xp), special.ndtri(lower), rtol=4e-15)
    np.testing.assert_allclose(quantile_from_tails(1 - lower, lower, xp), -special.ndtri(lower), rtol=4e-15)


def test_normal_functions_in_float32_and_at_special_values():
    import array_api_compat.numpy as xp

    from ambientloss.sampling._normal import ndtr_pair, ndtri

    z = np.linspace(-12, 12, 2401)
    cdf32, _ = ndtr_pair(z.astype(np.float32), xp)
    assert cdf32.dtype == np.float32
    np.testing.assert_allclose(cdf32, special.ndtr(z.astype(np.float32).astype(np.float64)), rtol=2e-6)
    p = np.logspace(-30, np.log10(0.5), 500)
    q32 = ndtri(p.astype(np.float32), xp)
    np.testing.assert_allclose(q32, special.ndtri(p.astype(np.float32).astype(np.float64)), rtol=2e-6)
    cdf, sf = ndtr_pair(np.array([-np.inf, np.inf, np.nan]), xp)
    np.testing.assert_array_equal(cdf, [0.0, 1.0, np.nan])
    np.testing.assert_array_equal(sf, [1.0, 0.0, np.nan])
    np.testing.assert_array_equal(ndtri(np.array([0.0, 0.5, 1.0, 1.5]), xp), [-np.inf, 0.0, np.inf, np.nan])


# ----------------------------------------------------------------------------- base distributions


LEVELS = {
    "uniform_vp": np.concatenate([np.logspace(-12, -1, 23), np.linspace(0.11, 0.99, 45), 1 - np.logspace(-12, -2, 11)]),
    "lognormal_edm": np.logspace(-4, 1.5, 111),
    "lognormal_edm2": np.logspace(-4, 1.5, 111),
    "logitnormal": np.concatenate(
        [np.logspace(-10, -1, 19), np.linspace(0.11, 0.89, 40), 1 - np.logspace(-10, -1, 19)]
    ),
    "grid": np.concatenate([np.linspace(0.0005, 0.9995, 97), [0.1, 0.35]]),
}


@pytest.mark.parametrize("name", list(CONTINUOUS))
def test_base_cdf_survival_and_inverses_match_scipy(name):
    """cdf / survival to 1e-12 relative (each in its own tail); icdf / isf invert them to 1e-10."""
    base, ref, _, _ = CONTINUOUS[name]
    levels = LEVELS[name]
    np.testing.assert_allclose(base.cdf(levels), ref.cdf(levels), rtol=1e-12, atol=0)
    np.testing.assert_allclose(base.survival(levels), ref.sf(levels), rtol=1e-12, atol=0)
    flat = (name == "grid") & (np.abs(levels - 0.6) < 1e-3)  # zero density at 0.6: the quantile is flat there
    c, sf = ref.cdf(levels), ref.sf(levels)
    keep = (c < 0.5) & (c > 0) & ~flat
    np.testing.assert_allclose(base.icdf(c[keep]), levels[keep], rtol=1e-10)
    keep = (sf < 0.5) & (sf > 0) & ~flat
    np.testing.assert_allclose(base.isf(sf[keep]), levels[keep], rtol=1e-10)


def test_lognormal_upper_tail_has_no_cancellation():
    base, ref = sm.LogNormal(-1.2, 1.2), stats.lognorm(1.2, scale=math.exp(-1.2))
    levels = np.array([50.0, 500.0, 5e3, 5e4])  # survival down to about 1e-30
    np.testing.assert_allclose(base.survival(levels), ref.sf(levels), rtol=1e-12)
    np.testing.assert_allclose(base.isf(ref.sf(levels)), levels, rtol=1e-10)


def test_grid_density_validation():
    with pytest.raises(ValueError, match="strictly increasing"):
        sm.GridDensity([0.0, 0.5, 0.5], [1.0, 1.0, 1.0], schedule="vp")
    with pytest.raises(ValueError, match=r"density\[1\] = -1.0"):
        sm.GridDensity([0.0, 0.5, 1.0], [1.0, -1.0, 1.0], schedule="vp")
    with pytest.raises(ValueError, match="positive total mass"):
        sm.GridDensity([0.0, 1.0], [0.0, 0.0], schedule="vp")
    with pytest.raises(ValueError, match=r"leaves the domain \[0.0, 1.0\] of the 'vp' schedule"):
        sm.GridDensity([0.0, 1.5], [1.0, 1.0], schedule="vp")
    with pytest.raises(ValueError, match="same length"):
        sm.GridDensity([0.0, 1.0], [1.0], schedule="vp")


def test_base_parameter_validation():
    with pytest.raises(ValueError, match="std must be positive"):
        sm.LogNormal(0.0, 0.0)
    with pytest.raises(ValueError, match="mean must be a finite number"):
        sm.LogitNormal(float("nan"), 1.0)
    with pytest.raises(TypeError, match="Discrete table"):
        sm.DiscreteTimesteps("vp")


def test_discrete_timesteps_law_and_lookups():
    base = sm.DiscreteTimesteps.from_diffusers("squaredcos_cap_v2", num_train_timesteps=100)
    levels = base.levels
    assert base.cdf(float(levels[41])) == pytest.approx(42 / 100)
    assert base.survival(float(levels[41])) == pytest.approx(58 / 100)
    np.testing.assert_array_equal(base.timestep(levels), np.arange(100))
    np.testing.assert_array_equal(base.sigma_for_timestep(np.arange(100), dtype=np.float64), levels)
    u = (np.arange(100) + 0.5) / 100
    np.testing.assert_array_equal(base.icdf(u), levels)  # one uniform per timestep hits each once
    np.testing.assert_array_equal(base.isf(1 - u), levels)
    levels[0] = 0.5  # a copy: the base is immutable
    assert base.levels[0] < 0.5


# ----------------------------------------------------------------------------- exactness of the inverse CDF


@pytest.mark.parametrize("name", list(CONTINUOUS))
@pytest.mark.parametrize("kind", ["high", "two_intervals", "overlap", "clean"])
def test_truncated_is_the_exact_inverse_cdf(name, kind):
    """F_A(sample_truncated(u)) == u to 1e-9 for the reference conditional CDF, u on a fine grid."""
    base, ref, m0, top0 = CONTINUOUS[name]
    u = np.linspace(0, 1, 2001)[:-1]
    m = np.full(u.shape, 0.0 if kind == "clean" else m0)
    top = {"high": None, "two_intervals": top0, "overlap": 0.9 if name != "lognormal_edm2" else 3.0}.get(kind)
    buffer = Buffer(factor=1.1, additive=0.01)
    x = sm.sample_truncated(u, m, top, base=base, buffer=buffer)
    t = _ref_threshold(m, 1.1, 0.01)
    np.testing.assert_allclose(
        _ref_conditional_cdf(ref, x, t, top if top is None else np.full(u.shape, top)), u, atol=1e-9
    )
    assert np.all(usable(x, m, top, buffer=buffer, schedule=base.schedule))


def test_far_upper_tail_keeps_relative_accuracy():
    """Conditioning deep in the log-normal's upper tail: the survival ratio sf(x)/sf(T) equals 1 - u."""
    ref = stats.lognorm(1.2, scale=math.exp(-1.2))
    t = np.full(1000, 5e3)  # sf(T) ~ 1e-30: a CDF-only sampler would return T or inf
    u = np.linspace(0, 1, 1001)[:-1]
    x = sm.sample_truncated(u, t, base=sm.LogNormal(-1.2, 1.2))
    np.testing.assert_allclose(ref.sf(x) / ref.sf(5e3), 1 - u, rtol=1e-9, atol=1e-15)
    assert np.all(x > 5e3)


def test_far_lower_tail_keeps_relative_accuracy():
    """A low branch deep in the lower tail: cdf(x)/cdf(S) equals u."""
    ref = stats.lognorm(1.2, scale=math.exp(-1.2))
    top = np.full(1000, 1e-8)  # cdf(S) ~ 1e-50
    u = np.linspace(0, 1, 1001)[:-1]
    x = sm.sample_truncated(u, np.full(1000, 1e8), top, base=sm.LogNormal(-1.2, 1.2))
    low = x < 1e-8
    np.testing.assert_allclose(ref.cdf(x[low]) / ref.cdf(1e-8), u[low], rtol=1e-9, atol=1e-15)
    assert low.all()  # the interval above 1e8 has mass ~1e-60, relative ~1e-13


# ----------------------------------------------------------------------------- statistics on every backend


@pytest.mark.parametrize("name", list(CONTINUOUS))
def test_ks_on_every_backend(backend, name):
    """Probability-integral transform of every draw through its own conditional law is U(0, 1): KS p > P_MIN."""
    base, ref, m0, top0 = CONTINUOUS[name]
    rng = np.random.default_rng(SEED)
    n = 3000
    m, top = _annotations(n, m0, top0, rng)
    u = rng.random(n)
    buffer = Buffer.from_s_max(4)
    x = sm.sample_truncated(backend.asarray(u), backend.asarray(m), backend.asarray(top), base=base, buffer=buffer)
    assert x.dtype == backend.dtype
    assert bool(
        backend.xp.all(usable(x, backend.asarray(m), backend.asarray(top), buffer=buffer, schedule=base.schedule))
    )
    x = backend.to_numpy(x).astype(np.float64)
    m32 = backend.to_numpy(backend.asarray(m)).astype(np.float64)  # the annotations as the backend sees them
    top32 = backend.to_numpy(backend.asarray(top)).astype(np.float64)
    pit = _ref_conditional_cdf(ref, x, _ref_threshold(m32, math.sqrt(4 / 3)), top32)
    assert stats.kstest(pit, "uniform").pvalue > P_MIN
    tol = 1e-9 if backend.eps < 1e-10 else 5e-4
    np.testing.assert_allclose(pit, backend.to_numpy(backend.asarray(u)), atol=tol)


def _discrete_case():
    base = sm.DiscreteTimesteps.from_diffusers("squaredcos_cap_v2", num_train_timesteps=100)
    t_n, t_max = 40, 12  # admissible: timesteps 0..11 and 41..99
    allowed = np.r_[0:12, 41:100]
    return base, float(base.levels[t_n]), float(base.levels[t_max]), allowed


def test_discrete_chi_squared_on_every_backend(backend):
    """Uniform over exactly the admissible timesteps (chi-squared p > P_MIN; none outside)."""
    base, m, top, allowed = _discrete_case()
    n = 20000
    u = np.random.default_rng(SEED).random(n)
    m_arr, top_arr = np.full(n, m), np.full(n, top)
    steps = sm.truncated_timesteps(backend.asarray(u), backend.asarray(m_arr), backend.asarray(top_arr), base=base)
    counts = np.bincount(backend.to_numpy(steps).astype(np.int64), minlength=100)
    assert counts[np.setdiff1d(np.arange(100), allowed)].sum() == 0
    assert stats.chisquare(counts[allowed]).pvalue > P_MIN
    levels = sm.sample_truncated(backend.asarray(u), backend.asarray(m_arr), backend.asarray(top_arr), base=base)
    assert levels.dtype == backend.dtype
    expected = backend.to_numpy(backend.asarray(base.levels))[backend.to_numpy(steps).astype(np.int64)]
    np.testing.assert_array_equal(backend.to_numpy(levels), expected)


def test_discrete_strictly_above_t_n_and_below_t_max():
    base, m, top, _ = _discrete_case()
    u = np.array([0.0, 1 - 2**-53])
    assert sm.truncated_timesteps(u, m, base=base).tolist() == [41, 99]
    assert sm.truncated_timesteps(u, m, top, base=base).tolist() == [0, 99]
    u = np.array([11.999 / 71, 12.001 / 71])  # the 12th of 71 admissible timesteps is the first above t_n
    assert sm.truncated_timesteps(u, m, top, base=base).tolist() == [11, 41]


def test_numpy_rng_wrapper_is_seeded_and_exact():
    from ambientloss.adapters import numpy as aln

    base, ref, m0, top0 = CONTINUOUS["lognormal_edm"]
    m, top = _annotations(4000, m0, top0, np.random.default_rng(SEED))
    x = aln.sample_truncated(m, top, base=base, rng=np.random.default_rng(SEED + 1))
    np.testing.assert_array_equal(x, aln.sample_truncated(m, top, base=base, rng=np.random.default_rng(SEED + 1)))
    pit = _ref_conditional_cdf(ref, x, _ref_threshold(m), top)
    assert stats.kstest(pit, "uniform").pvalue > P_MIN
    steps = aln.truncated_timesteps(*_discrete_case()[1:3], base=_discrete_case()[0], rng=np.random.default_rng(SEED))
    assert steps.shape == ()
    assert aln.draw_sigma((3,), base=base, rng=np.random.default_rng(SEED)).shape == (3,)


def test_torch_generator_wrapper_and_compile():
    torch = pytest.importorskip("torch")
    from ambientloss.adapters import torch as alt

    base, ref, m0, top0 = CONTINUOUS["logitnormal"]
    m, top = (torch.tensor(a, dtype=torch.float32) for a in _annotations(4000, m0, top0, np.random.default_rng(SEED)))
    x = alt.sample_truncated(m, top, base=base, generator=torch.Generator().manual_seed(SEED))
    again = alt.sample_truncated(m, top, base=base, generator=torch.Generator().manual_seed(SEED))
    assert torch.equal(x, again)
    assert x.dtype == torch.float32
    pit = _ref_conditional_cdf(ref, x.double().numpy(), _ref_threshold(m.double().numpy()), top.double().numpy())
    assert stats.kstest(pit, "uniform").pvalue > P_MIN
    import array_api_compat.torch as xt

    with warnings.catch_warnings():  # torch's first inductor import warns about torch.jit.script_method
        warnings.filterwarnings("ignore", r"`torch\.jit\.script_method` is deprecated", DeprecationWarning)
        import torch._inductor.compile_fx
    torch._dynamo.reset()
    compiled = torch.compile(lambda u, m, top: sm.sample_truncated(u, m, top, base=base, xp=xt), fullgraph=True)
    u = torch.rand(4000, generator=torch.Generator().manual_seed(SEED))
    # inductor fuses and may use other exp / log kernels: each side is within about 40 float32 ulp of the
    # exact quantile (some 30 roundings; ndtri amplifies the error of p by at most p / phi(z) <= 1.25),
    # so they differ by at most ~80 ulp = 1e-5 relative (measured: 5 ulp)
    torch.testing.assert_close(compiled(u, m, top), sm.sample_truncated(u, m, top, base=base), rtol=1e-5, atol=0)
    assert bool(usable(compiled(u, m, top), m, top, schedule="flow").all())
    t_base, tm, ttop, allowed = _discrete_case()
    steps = alt.truncated_timesteps(torch.full((5000,), tm), torch.full((5000,), ttop), base=t_base)
    assert steps.dtype == torch.int64
    assert set(steps.tolist()) <= set(allowed.tolist())


def test_jax_key_wrapper_and_jit():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    from ambientloss.adapters import jax as alj

    base, ref, m0, top0 = CONTINUOUS["lognormal_edm2"]
    m_np, top_np = _annotations(4000, m0, top0, np.random.default_rng(SEED))
    m, top = jnp.asarray(m_np, jnp.float32), jnp.asarray(top_np, jnp.float32)
    draw = jax.jit(lambda key, m, top: alj.sample_truncated(key, m, top, base=base))
    x = draw(jax.random.key(SEED), m, top)
    assert x.dtype == jnp.float32
    eager = alj.sample_truncated(jax.random.key(SEED), m, top, base=base)
    # XLA fuses float32 differently: ~80 float32 ulp = 1e-5 relative, as for torch.compile (measured: 9 ulp)
    np.testing.assert_allclose(np.asarray(x), np.asarray(eager), rtol=1e-5)
    pit = _ref_conditional_cdf(
        ref, np.asarray(x, np.float64), _ref_threshold(np.asarray(m, np.float64)), np.asarray(top, np.float64)
    )
    assert stats.kstest(pit, "uniform").pvalue > P_MIN
    assert bool(usable(x, m, top, schedule=base.schedule).all())
    one = jax.vmap(lambda key, m, top: alj.sample_truncated(key, m, top, base=base))  # one example per call
    keys = jax.random.split(jax.random.key(0), 8)
    assert one(keys, m[:8], top[:8]).shape == (8,)
    t_base, tm, ttop, allowed = _discrete_case()
    steps = jax.jit(lambda key: alj.truncated_timesteps(key, jnp.full(5000, tm), jnp.full(5000, ttop), base=t_base))
    assert set(np.asarray(steps(jax.random.key(1))).tolist()) <= set(allowed.tolist())


# ----------------------------------------------------------------------------- adversarial points and errors


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(CONTINUOUS))
def test_strict_inequalities_at_adversarial_points(name, dtype):
    """u = 0 and u -> 1 at thresholds near 0, near the top, and sigma_max just below the threshold."""
    base = CONTINUOUS[name][0]
    upper = 1.0 if base.schedule.upper == 1 else 1e3
    tiny = float(np.finfo(dtype).tiny)
    below_top = float(np.nextafter(dtype(upper if upper == 1 else 30.0), dtype(0)))
    m = np.array([0.0, tiny, 1e-30, 0.3, 0.3, 0.3, below_top * 0.999, 0.5], dtype=dtype)
    top = np.array([0.0, 0.0, 0.0, 0.3, float(np.nextafter(dtype(0.3), dtype(0))), 0.0, 0.0, 0.5], dtype=dtype)
    for u_value in (0.0, 0.5, float(np.nextafter(dtype(1), dtype(0)))):
        u = np.full(m.shape, u_value, dtype=dtype)
        x = sm.sample_truncated(u, m, top, base=base)
        assert x.dtype == dtype
        assert np.all(np.isfinite(x))
        assert np.all(usable(x, m, top, schedule=base.schedule)), (u_value, x)
        assert np.all(x >= np.sqrt(np.finfo(dtype).smallest_normal))  # b_t^2 of a target never underflows


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clean_sample_at_u_zero_gives_a_finite_target(dtype):
    """u = 0 (probability 2**-24 per float32 draw) must not give a level whose square underflows."""
    import ambientloss as al

    x = sm.sample_truncated(np.zeros(2, dtype), np.zeros(2, dtype), base=sm.UniformVP())
    z = np.ones((2, 3), dtype)
    _, target = al.ambient_pair(z, x, np.zeros(2, dtype), z, prediction="epsilon")
    assert np.all(np.isfinite(target))


def test_empty_admissible_set_raises_naming_the_sample():
    m = np.array([0.0, 0.5, 1.0])
    with pytest.raises(ValueError, match=r"sigma_min=1.0 \(threshold 1.0\) has probability 0 .* at index \(2,\)"):
        sm.sample_truncated(np.zeros(3), m, base=sm.UniformVP())
    with pytest.raises(ValueError, match=r"at index \(1,\)"):  # the buffer pushes the threshold above s = 1
        sm.sample_truncated(np.zeros(3), np.array([0.0, 0.9, 0.5]), base=sm.UniformVP(), buffer=Buffer(factor=1.2))
    with pytest.raises(ValueError, match=r"probability 0 under LogNormal"):  # survival underflows to exactly 0
        sm.sample_truncated(np.zeros(1), np.array([1e300]), base=sm.LogNormal())
    base, _, _, _ = _discrete_case()
    with pytest.raises(
        ValueError, match=r"sigma_max=0.0\) has probability 0 under DiscreteTimesteps.* at index \(1,\)"
    ):
        sm.truncated_timesteps(np.zeros(2), np.array([0.5, base.levels[-1]]), np.zeros(2), base=base)
    x = sm.sample_truncated(np.zeros(1), np.array([1.0]), np.array([0.5]), base=sm.UniformVP())
    assert 0 < x[0] < 0.5  # the low branch alone is not empty


def test_empty_set_under_jit_is_nan_not_a_level():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    m = jnp.array([0.5, 1.0])
    x = jax.jit(lambda u, m: sm.sample_truncated(u, m, base=sm.UniformVP(), xp=jnp))(jnp.zeros(2), m)
    assert np.isnan(np.asarray(x)[1])
    assert float(x[0]) > 0.5
    base, _, _, _ = _discrete_case()
    steps = jax.jit(lambda u, m: sm.truncated_timesteps(u, m, base=base, xp=jnp))(
        jnp.zeros(1), jnp.asarray(base.levels[-1:])
    )
    assert int(steps[0]) == 100  # out of range: a timestep lookup raises or gives NaN


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"u": np.array([0.1, 1.0])}, ValueError, r"u=1.0 must lie in \[0, 1\) at index \(1,\)"),
        ({"u": np.array([np.nan, 0.5])}, ValueError, r"u=nan must lie in \[0, 1\) at index \(0,\)"),
        ({"u": np.array([0.1, -0.1])}, ValueError, r"u=-0.1 must lie in \[0, 1\)"),
        ({"u": np.array(0.5)}, ValueError, r"u must hold one uniform per sample, shape \(2,\), got \(\)"),
        ({"u": np.array([0, 0])}, TypeError, "u must have a real floating dtype"),
        ({"sigma_min": np.array([0.1, 0.2, 0.3])}, ValueError, r"must have the same shape .* got \(2,\) and \(3,\)"),
        ({"sigma_min": np.array([0.1, -0.2])}, ValueError, r"sigma_min=-0.2 is outside the domain .* at index \(1,\)"),
        ({"sigma_min": np.array([0.1, 1.5])}, ValueError, r"sigma_min=1.5 is outside the domain \[0.0, 1.0\]"),
        ({"sigma_max": np.array([np.nan, 0.2])}, ValueError, r"sigma_max must not be NaN at index \(0,\)"),
        ({"sigma_max": float("nan")}, ValueError, "sigma_max must be finite, got nan"),
        ({"base": "vp"}, TypeError, "base must be a base distribution"),
        ({"buffer": 4}, TypeError, "buffer must be an ambientloss.Buffer"),
    ],
)
def test_bad_input(kwargs, error, match):
    args = {"u": np.array([0.1, 0.2]), "sigma_min": np.array([0.1, 0.2]), "sigma_max": None, "base": sm.UniformVP()}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        sm.sample_truncated(
            args["u"], args["sigma_min"], args["sigma_max"], base=args["base"], buffer=args.get("buffer")
        )


def test_admissible_mass_matches_scipy():
    base, ref, _, _ = CONTINUOUS["lognormal_edm"]
    m = np.array([0.0, 0.3, 1.0, 2.0])
    top = np.array([0.0, 0.1, 2.0, 0.5])
    t = _ref_threshold(m, 1.1)
    expected = np.where(top > t, 1.0, ref.cdf(top) + ref.sf(t))
    np.testing.assert_allclose(sm.admissible_mass(m, top, base=base, buffer=Buffer(factor=1.1)), expected, rtol=1e-12)
    base, m_t, top_t, allowed = _discrete_case()
    assert sm.admissible_mass(m_t, top_t, base=base) == pytest.approx(allowed.size / 100)


def test_draw_sigma_is_the_inverse_cdf():
    base, ref, _, _ = CONTINUOUS["logitnormal"]
    u = np.random.default_rng(SEED).random(4000)
    x = sm.draw_sigma(u, base=base)
    np.testing.assert_allclose(ref.cdf(x), u, atol=1e-12)
    assert stats.kstest(x, ref.cdf).pvalue > P_MIN
    with pytest.raises(ValueError, match=r"u=1.5 must lie in \[0, 1\)"):
        sm.draw_sigma(1.5, base=base)
    for floor_base in (sm.UniformVP(), sm.LogNormal()):  # icdf(0) is level 0: never trainable
        x = sm.draw_sigma(np.zeros(2, np.float32), base=floor_base)
        assert x.dtype == np.float32
        assert np.all(x == np.sqrt(np.finfo(np.float32).smallest_normal))
        assert np.all(usable(x, np.zeros(2, np.float32), schedule=floor_base.schedule))
