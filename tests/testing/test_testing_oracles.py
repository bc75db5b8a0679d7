"""Tests of the divergence, sigma_min and classifier oracles of ``ambientloss.testing`` (math 6.4-6.6, P6-P8).

References are independent of the oracles: seeded Monte Carlo (stated seed and sample size, tolerance
of five standard errors), ``scipy.integrate.quad`` in 1-D, ``scipy.stats`` densities, and the worked
examples of math 6.5-6.6.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import integrate, optimize, special, stats

import ambientloss as al
from ambientloss.testing import classifier as cl
from ambientloss.testing import divergences as dv
from ambientloss.testing.gaussian import Scalars, random_gaussian
from ambientloss.testing.mixture import GaussianMixture

SIGMA_EX = np.array([[1.0, 0.3, 0.0], [0.3, 0.5, 0.1], [0.0, 0.1, 0.25]])
MU_Q_EX = np.array([0.3, -0.15, 0.1])
ZERO3 = np.zeros(3)

# (mu_p, var_p, mu_q, var_q) 1-D cases: the math 6.6 example, both variance orders, far apart, near-equal
CASES_1D = [
    (0.0, 0.09, 1.0, 0.36),
    (0.5, 2.0, -1.0, 0.3),
    (0.0, 1.0, 6.0, 0.25),
    (0.0, 1.0, 0.1, 1.001),
    (2.0, 0.01, 2.0, 4.0),
]
NUS = [0.0, 0.1, 0.5, 1.0, 2.0, 5.0]


def _rand_spd(rng: np.random.Generator, d: int) -> np.ndarray:
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    return (q * rng.uniform(0.2, 2.0, size=d)) @ q.T


def _tv_quad(m1: float, v1: float, m2: float, v2: float) -> float:
    p, q = stats.norm(m1, math.sqrt(v1)), stats.norm(m2, math.sqrt(v2))
    lo = min(m1 - 12 * math.sqrt(v1), m2 - 12 * math.sqrt(v2))
    hi = max(m1 + 12 * math.sqrt(v1), m2 + 12 * math.sqrt(v2))
    f = lambda x: 0.5 * abs(p.pdf(x) - q.pdf(x))  # noqa: E731
    return integrate.quad(f, lo, hi, points=[m1, m2], limit=500, epsabs=1e-13, epsrel=1e-11)[0]


def _quad(f, m1: float, v1: float, m2: float, v2: float) -> float:
    lo = min(m1 - 12 * math.sqrt(v1), m2 - 12 * math.sqrt(v2))
    hi = max(m1 + 12 * math.sqrt(v1), m2 + 12 * math.sqrt(v2))
    return integrate.quad(f, lo, hi, points=[m1, m2], limit=500, epsabs=1e-13, epsrel=1e-11)[0]


# ----------------------------------------------------------------------------------------------
# divergences (P6)


def test_normal_cdf_and_ppf_match_scipy():
    x = np.linspace(-30.0, 8.0, 200)
    np.testing.assert_allclose(dv.normal_cdf(x), stats.norm.cdf(x), rtol=1e-12, atol=0.0)
    for p in [1e-12, 1e-4, 0.1, 0.5, 0.525, 0.9, 0.975]:
        assert dv.normal_ppf(p) == pytest.approx(stats.norm.ppf(p), rel=1e-12, abs=1e-14)
    for eps in [1e-6, 0.05, 0.5, 0.99]:
        assert dv.tv_threshold_delta(eps) == pytest.approx(2 * stats.norm.ppf((1 + eps) / 2), rel=1e-10)


def test_level_helpers():
    a, b = dv.scalars_from_level(2.5)
    assert a * a + b * b == pytest.approx(1.0, rel=1e-15)
    assert dv.schedule_free_of(a, b) == pytest.approx(2.5, rel=1e-15)
    assert dv.schedule_free_of(0.0, 1.0) == math.inf


@pytest.mark.parametrize("case", CASES_1D)
@pytest.mark.parametrize("nu", NUS)
def test_tv_1d_matches_quadrature(case, nu):
    m1, v1, m2, v2 = case
    exact = dv.total_variation(m1, v1, m2, v2, nu)
    assert exact == pytest.approx(_tv_quad(m1, v1 + nu * nu, m2, v2 + nu * nu), abs=1e-9)
    lo, hi = dv.tv_bounds(m1, v1, m2, v2, nu)
    assert lo <= exact + 1e-12
    assert exact <= hi + 1e-12


def test_kl_bc_tv_match_monte_carlo():
    """Seed 0, N = 400,000 draws from p_t; five standard errors."""
    rng = np.random.default_rng(0)
    d, n, nu = 3, 400_000, 0.7
    mu_p, mu_q = rng.normal(size=d), rng.normal(size=d)
    sig_p, sig_q = _rand_spd(rng, d), _rand_spd(rng, d)
    S_p, S_q = sig_p + nu * nu * np.eye(d), sig_q + nu * nu * np.eye(d)
    P, Q = stats.multivariate_normal(mu_p, S_p), stats.multivariate_normal(mu_q, S_q)
    y = P.rvs(size=n, random_state=rng)
    log_ratio = Q.logpdf(y) - P.logpdf(y)  # log q/p under p

    def check(samples: np.ndarray, value: float) -> None:
        se = samples.std() / math.sqrt(n)
        assert abs(samples.mean() - value) < 5 * se + 1e-12, (samples.mean(), value, se)

    check(-log_ratio, dv.kl(mu_p, sig_p, mu_q, sig_q, nu))
    check(np.exp(0.5 * log_ratio), dv.bhattacharyya(mu_p, sig_p, mu_q, sig_q, nu))
    tv_samples = np.maximum(0.0, -np.expm1(log_ratio))  # TV = E_p (1 - q/p)_+
    lo, hi = dv.tv_bounds(mu_p, sig_p, mu_q, sig_q, nu)
    se = tv_samples.std() / math.sqrt(n)
    assert lo - 5 * se <= tv_samples.mean() <= hi + 5 * se

    # equal covariance: the exact TV
    Q = stats.multivariate_normal(mu_q, S_p)
    tv_samples = np.maximum(0.0, -np.expm1(Q.logpdf(y) - P.logpdf(y)))
    check(tv_samples, dv.total_variation(mu_p, sig_p, mu_q, sig_p, nu))


@pytest.mark.parametrize("seed", range(6))
def test_bounds_bracket_exact_tv_equal_covariance(seed):
    rng = np.random.default_rng(seed)
    d = 1 + seed % 4
    mu_p, mu_q, sig = rng.normal(size=d), rng.normal(size=d), _rand_spd(rng, d)
    for nu in NUS:
        exact = dv.total_variation(mu_p, sig, mu_q, sig, nu)
        delta = dv.mahalanobis(mu_p, sig, mu_q, nu)
        assert dv.kl(mu_p, sig, mu_q, sig, nu) == pytest.approx(delta**2 / 2, rel=1e-10, abs=1e-14)
        assert dv.bhattacharyya(mu_p, sig, mu_q, sig, nu) == pytest.approx(math.exp(-(delta**2) / 8), rel=1e-12)
        lo, hi = dv.tv_bounds(mu_p, sig, mu_q, sig, nu)
        assert lo <= exact + 1e-12
        assert exact <= hi + 1e-12


def test_unsupported_exact_cases_raise():
    with pytest.raises(ValueError, match="tv_bounds"):
        dv.total_variation(ZERO3, SIGMA_EX, MU_Q_EX, 2 * SIGMA_EX, 1.0)
    with pytest.raises(ValueError, match="sigma_min_bracket"):
        dv.sigma_min_for_tv(0.05, ZERO3, SIGMA_EX, MU_Q_EX, 2 * SIGMA_EX)
    with pytest.raises(ValueError, match="shapes"):
        dv.kl([0.0, 0.0], np.eye(2), [1.0], 1.0, 0.0)


@pytest.mark.parametrize(
    "pair",
    [
        (0.0, 0.09, 1.0, 0.36),
        (ZERO3, SIGMA_EX, MU_Q_EX, SIGMA_EX),
        (ZERO3, SIGMA_EX, MU_Q_EX, 1.3 * SIGMA_EX + 0.05 * np.eye(3)),
    ],
)
def test_monotone_in_level(pair):
    """P6: TV, KL and both bounds non-increasing, BC non-decreasing in nu."""
    nus = np.concatenate([[0.0], np.geomspace(1e-3, 1e3, 60)])
    exact = np.ndim(pair[1]) == 0 or np.array_equal(pair[1], pair[3])
    kls = [dv.kl(*pair, nu) for nu in nus]
    bcs = [dv.bhattacharyya(*pair, nu) for nu in nus]
    curves = [kls, [-b for b in bcs], [dv.tv_lower_bound(*pair, nu) for nu in nus]]
    curves.append([dv.tv_upper_bound(*pair, nu) for nu in nus])
    if exact:
        curves.append([dv.total_variation(*pair, nu) for nu in nus])
    for c in curves:
        assert np.all(np.diff(c) <= 1e-13), c


@pytest.mark.parametrize("schedule", ["vp", "ve", "flow"])
def test_depends_on_level_only_through_nu(schedule):
    """P6: divergences of N(a mu, a^2 Sigma + b^2 I) at a schedule's level equal those at nu = b / a."""
    pairs = [(0.0, 0.09, 1.0, 0.36), (ZERO3, SIGMA_EX, MU_Q_EX, SIGMA_EX)]
    scalars = {
        "vp": lambda s: (math.sqrt((1 - s) * (1 + s)), s),
        "ve": lambda s: (1.0, s),
        "flow": lambda s: (1.0 - s, s),
    }[schedule]
    for nu in [0.05, 0.8, 3.0]:
        level = float(al.convert_level(nu, source="ve", target=schedule))
        a, b = scalars(level)
        assert dv.schedule_free_of(a, b) == pytest.approx(nu, rel=1e-9)
        for mu_p, sig_p, mu_q, sig_q in pairs:
            d = np.size(mu_p)
            x_units = (
                a * np.atleast_1d(mu_p),
                a * a * np.atleast_2d(sig_p) + b * b * np.eye(d),
                a * np.atleast_1d(mu_q),
                a * a * np.atleast_2d(sig_q) + b * b * np.eye(d),
            )
            for f in (dv.kl, dv.bhattacharyya, dv.total_variation):
                assert f(*x_units, 0.0) == pytest.approx(f(mu_p, sig_p, mu_q, sig_q, nu), rel=1e-8, abs=1e-14)


# ----------------------------------------------------------------------------------------------
# sigma_min (P7)


def test_worked_example_sigma_min():
    nu_min = dv.sigma_min_for_tv(0.05, ZERO3, SIGMA_EX, MU_Q_EX, SIGMA_EX)
    assert round(nu_min, 4) == 2.6848
    assert dv.total_variation(ZERO3, SIGMA_EX, MU_Q_EX, SIGMA_EX, nu_min) == pytest.approx(0.05, rel=1e-10)
    assert round(float(al.convert_level(nu_min, source="ve", target="vp")), 4) == 0.9371
    assert round(float(al.convert_level(nu_min, source="ve", target="flow")), 4) == 0.7286
    lo, hi = dv.sigma_min_bracket(0.05, ZERO3, SIGMA_EX, MU_Q_EX, 1.3 * SIGMA_EX + 0.05 * np.eye(3))
    assert (round(lo, 3), round(hi, 3)) == (2.679, 3.486)


@pytest.mark.parametrize("seed", range(8))
def test_sigma_min_equal_covariance(seed):
    rng = np.random.default_rng(100 + seed)
    d = 1 + seed % 4
    mu_p, mu_q, sig = rng.normal(size=d), rng.normal(0, 3, size=d), _rand_spd(rng, d)
    eps = float(rng.uniform(0.01, 0.3))
    nu_min = dv.sigma_min_for_tv(eps, mu_p, sig, mu_q, sig)
    if nu_min == 0.0:
        assert dv.total_variation(mu_p, sig, mu_q, sig, 0.0) <= eps
    else:
        assert dv.total_variation(mu_p, sig, mu_q, sig, nu_min) == pytest.approx(eps, rel=1e-9)
    # isotropic closed form
    sd2 = float(rng.uniform(0.01, 2.0))
    iso = sd2 * np.eye(d)
    delta_star = dv.tv_threshold_delta(eps)
    closed = math.sqrt(max(0.0, float(np.sum((mu_p - mu_q) ** 2)) / delta_star**2 - sd2))
    assert dv.sigma_min_for_tv(eps, mu_p, iso, mu_q, iso) == pytest.approx(closed, rel=1e-10, abs=1e-12)
    # the bracket from the bounds contains the exact value
    lo, hi = dv.sigma_min_bracket(eps, mu_p, sig, mu_q, sig)
    assert lo * (1 - 1e-9) <= nu_min <= hi * (1 + 1e-9) + 1e-12


def test_sigma_min_zero_when_already_close():
    assert dv.sigma_min_for_tv(0.5, [0.0], 1.0, [0.1], 1.0) == 0.0
    assert dv.sigma_min_for_tv(0.5, [0.0], 1.0, [0.1], 1.1) == 0.0


@pytest.mark.parametrize("case", CASES_1D)
def test_sigma_min_1d_unequal(case):
    for eps in [0.01, 0.05, 0.2]:
        nu_min = dv.sigma_min_for_tv(eps, *case)
        if nu_min > 0:
            assert _tv_quad(case[0], case[1] + nu_min**2, case[2], case[3] + nu_min**2) == pytest.approx(eps, abs=1e-8)
        lo, hi = dv.sigma_min_bracket(eps, *case)
        assert lo * (1 - 1e-9) <= nu_min <= hi * (1 + 1e-9) + 1e-12


def test_sigma_min_transfers_between_schedules():
    """P7: converting nu_min to a VP / flow level and back leaves TV unchanged."""
    nu_min = dv.sigma_min_for_tv(0.05, 0.0, 0.09, 1.0, 0.36)
    for target in ["vp", "flow"]:
        level = float(al.convert_level(nu_min, source="ve", target=target))
        back = float(al.convert_level(level, source=target, target="ve"))
        assert dv.total_variation(0.0, 0.09, 1.0, 0.36, back) == pytest.approx(0.05, rel=1e-8)


# ----------------------------------------------------------------------------------------------
# classifier (P8)


@pytest.mark.parametrize("nu", [0.0, 0.3, 1.0, 1.44, 4.0])
def test_classifier_identities_1d_quadrature(nu):
    m1, v1, m2, v2 = 0.0, 0.09 + nu * nu, 1.0, 0.36 + nu * nu
    p, q = stats.norm(m1, math.sqrt(v1)), stats.norm(m2, math.sqrt(v2))
    args = (nu, 0.0, 0.09, 1.0, 0.36)

    def c(x: float) -> float:
        return cl.bayes_classifier(x, nu, 0.0, 0.09, 1.0, 0.36)

    # c* against the direct posterior p / (p + q)
    for x in [-1.0, 0.2, 0.9, 3.0]:
        assert c(x) == pytest.approx(p.pdf(x) / (p.pdf(x) + q.pdf(x)), rel=1e-12)
    tv = dv.total_variation(0.0, 0.09, 1.0, 0.36, nu)
    mix_abs = _quad(lambda x: 0.5 * (p.pdf(x) + q.pdf(x)) * abs(2 * c(x) - 1), m1, v1, m2, v2)
    assert mix_abs == pytest.approx(tv, abs=1e-8)
    tri = _quad(lambda x: (p.pdf(x) - q.pdf(x)) ** 2 / (p.pdf(x) + q.pdf(x)), m1, v1, m2, v2)
    e_q = _quad(lambda x: q.pdf(x) * c(x), m1, v1, m2, v2)
    e_p = _quad(lambda x: p.pdf(x) * c(x), m1, v1, m2, v2)
    assert e_q == pytest.approx(0.5 - tri / 4, abs=1e-9)
    assert e_p == pytest.approx(0.5 + tri / 4, abs=1e-9)
    tol = 1e-6 if nu == 0.0 else 1e-9  # Gauss-Hermite of a sharp sigmoid at nu = 0
    assert cl.triangular_discrimination(*args) == pytest.approx(tri, abs=tol)
    assert cl.classifier_mean_on_corrupt(*args) == pytest.approx(e_q, abs=tol)
    assert cl.classifier_mean_on_clean(*args) == pytest.approx(e_p, abs=tol)
    assert tv**2 <= tri / 2 + 1e-12
    assert tri / 2 <= tv + 1e-12


def test_classifier_identities_equal_covariance_monte_carlo():
    """Seed 1, N = 400,000 draws from each class, d = 3; five standard errors."""
    rng = np.random.default_rng(1)
    n, nu = 400_000, 0.4
    S = SIGMA_EX + nu * nu * np.eye(3)
    yp = stats.multivariate_normal(ZERO3, S).rvs(size=n, random_state=rng)
    yq = stats.multivariate_normal(MU_Q_EX, S).rvs(size=n, random_state=rng)
    args = (nu, ZERO3, SIGMA_EX, MU_Q_EX, SIGMA_EX)
    cp, cq = cl.bayes_classifier(yp, *args), cl.bayes_classifier(yq, *args)
    # the linear logit equals the log density ratio
    ratio = stats.multivariate_normal(ZERO3, S).logpdf(yq[:5]) - stats.multivariate_normal(MU_Q_EX, S).logpdf(yq[:5])
    np.testing.assert_allclose(cl.bayes_logit(yq[:5], *args), ratio, rtol=1e-10, atol=1e-12)

    def near(samples: np.ndarray, value: float) -> None:
        assert abs(samples.mean() - value) < 5 * samples.std() / math.sqrt(samples.size), (samples.mean(), value)

    tri = cl.triangular_discrimination(*args)
    near(cq, 0.5 - tri / 4)
    near(cp, 0.5 + tri / 4)
    near(np.concatenate([np.abs(2 * cp - 1), np.abs(2 * cq - 1)]), dv.total_variation(*args[1:], nu))
    tv = dv.total_variation(*args[1:], nu)
    assert tv**2 <= tri / 2 <= tv


def test_classifier_prior_shifts_logit():
    base = cl.bayes_logit(0.3, 0.5, 0.0, 0.09, 1.0, 0.36)
    assert cl.bayes_logit(0.3, 0.5, 0.0, 0.09, 1.0, 0.36, prior_p=0.8) == pytest.approx(base + math.log(4.0))


def test_math_6_6_example_levels():
    """p0 = N(0, .09), q0 = N(1, .36), eps = 0.05: criterion 1.44, TV < eps 7.96, sqrt(2 eps) 1.14, 2 eps 3.95."""
    eps, pair = 0.05, (0.0, 0.09, 1.0, 0.36)
    criterion = optimize.brentq(lambda nu: cl.triangular_discrimination(nu, *pair) - 4 * eps, 0.1, 20.0, xtol=1e-12)
    assert round(criterion, 2) == 1.44
    assert round(dv.sigma_min_for_tv(eps, *pair), 2) == 7.96
    assert round(dv.sigma_min_for_tv(math.sqrt(2 * eps), *pair), 2) == 1.14
    assert round(dv.sigma_min_for_tv(2 * eps, *pair), 2) == 3.95


def test_per_sample_mean_matches_monte_carlo():
    """Seed 2, N = 200,000 noise draws per point, d = 3; five standard errors."""
    rng = np.random.default_rng(2)
    n, nu = 200_000, 0.6
    a, b = dv.scalars_from_level(nu)
    xs = MU_Q_EX + rng.normal(size=(4, 3))
    means = cl.per_sample_classifier_mean(xs, nu, ZERO3, MU_Q_EX, SIGMA_EX, nodes=80)
    assert means.shape == (4,)
    for x, m in zip(xs, means, strict=True):
        x_t = a * x + b * rng.standard_normal((n, 3))
        c = cl.bayes_classifier(x_t / a, nu, ZERO3, SIGMA_EX, MU_Q_EX, SIGMA_EX)
        assert abs(c.mean() - m) < 5 * c.std() / math.sqrt(n) + 1e-12
    # prior: shifts the logit mean by log(pi_p / pi_q)
    shifted = cl.per_sample_classifier_mean(xs[0], nu, ZERO3, MU_Q_EX, SIGMA_EX, prior_p=0.3)
    x_t = a * xs[0] + b * rng.standard_normal((n, 3))
    c = cl.bayes_classifier(x_t / a, nu, ZERO3, SIGMA_EX, MU_Q_EX, SIGMA_EX, prior_p=0.3)
    assert abs(c.mean() - shifted) < 5 * c.std() / math.sqrt(n)
    # averaging over x ~ q0 recovers E_q c* (Gauss-Hermite in the per-sample mean, MC over x)
    x0 = stats.multivariate_normal(MU_Q_EX, SIGMA_EX).rvs(size=n, random_state=rng)
    per = cl.per_sample_classifier_mean(x0, nu, ZERO3, MU_Q_EX, SIGMA_EX)
    target = cl.classifier_mean_on_corrupt(nu, ZERO3, SIGMA_EX, MU_Q_EX, SIGMA_EX)
    assert abs(per.mean() - target) < 5 * per.std() / math.sqrt(n)


def test_per_sample_mean_1d_scalar_input():
    value = cl.per_sample_classifier_mean(0.25, 1.0, 0.0, 1.0, 0.5)
    assert isinstance(value, float)
    # 80-node rule against adaptive quadrature of the Gaussian-logistic integral
    w = (0.0 - 1.0) / 1.5  # (Sigma + nu^2)^{-1} (mu_p - mu_q)
    mean, sd = w * (0.25 - 0.5), 1.0 * abs(w)
    ref = integrate.quad(lambda z: stats.norm.pdf(z) / (1 + math.exp(-(mean + sd * z))), -40, 40, epsabs=1e-14)[0]
    assert value == pytest.approx(ref, abs=1e-12)


def test_imports_without_optional_dependencies():
    code = (
        "import sys\n"
        "for name in ('torch', 'jax', 'scipy', 'hypothesis'):\n"
        "    sys.modules[name] = None\n"
        "import ambientloss.testing.divergences, ambientloss.testing.classifier, ambientloss.testing.mixture\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ----------------------------------------------------------------------------------------------
# mixture oracle (math 6.3)


def _mixture_logpdf(mix: GaussianMixture, a: float, b: float, x: np.ndarray) -> float:
    """log p_t(x) with scipy densities (independent of the oracle)."""
    terms = [
        math.log(w) + stats.multivariate_normal(a * mu, a * a * cov + b * b * np.eye(mix.d)).logpdf(x)
        for w, mu, cov in zip(mix.weights, mix.means, mix.covs, strict=True)
    ]
    return float(special.logsumexp(terms))


def _fd_grad(f, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    e = np.eye(x.size)
    return np.array([(f(x + h * e[i]) - f(x - h * e[i])) / (2 * h) for i in range(x.size)])


def _demo_mixture(rng: np.random.Generator, d: int = 2) -> GaussianMixture:
    covs = np.stack([_rand_spd(rng, d), np.zeros((d, d)), 0.3 * _rand_spd(rng, d), np.zeros((d, d))])
    return GaussianMixture(rng.uniform(0.1, 1.0, size=4), rng.normal(0, 1.5, size=(4, d)), covs)


def test_mixture_single_component_matches_gaussian():
    rng = np.random.default_rng(5)
    g = random_gaussian(rng, 3)
    mix = GaussianMixture(np.ones(1), g.mu[None], g.Sigma[None])
    t, m = Scalars(0.8, 0.6, 0.0, 0.0), Scalars(0.95, math.sqrt(1 - 0.95**2), 0.0, 0.0)
    x = g.sample(t, rng)
    np.testing.assert_allclose(mix.mean_x0(t, x), g.mean_x0(t, x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mix.score(t, x), g.score(t, x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mix.mean_xm(t, m, x), g.mean_xm(t, m, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_mixture_score_and_tweedie(seed):
    """Score against a finite difference of the scipy log-density; E[x0|x_t] and E[x_m|x_t] by Tweedie."""
    rng = np.random.default_rng(200 + seed)
    mix = _demo_mixture(rng)
    a_t, a_m = 0.7, 0.9
    t = Scalars(a_t, math.sqrt(1 - a_t**2), 0.0, 0.0)
    m = Scalars(a_m, math.sqrt(1 - a_m**2), 0.0, 0.0)
    alpha, beta2 = t.a / m.a, t.b**2 - (t.a / m.a) ** 2 * m.b**2
    x = rng.normal(0, 1.5, size=2)
    score = _fd_grad(lambda y: _mixture_logpdf(mix, t.a, t.b, y), x)
    np.testing.assert_allclose(mix.score(t, x), score, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(mix.mean_x0(t, x), (x + t.b**2 * score) / t.a, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(mix.mean_xm(t, m, x), (x + beta2 * score) / alpha, rtol=1e-6, atol=1e-7)
    w = mix.responsibilities(t, x)
    assert w.shape == (4,)
    assert w.sum() == pytest.approx(1.0)


def test_mixture_empirical_point_masses():
    pts = np.array([[0.0, 0.0], [1.0, 2.0], [-1.0, 0.5]])
    mix = GaussianMixture.empirical(pts, [0.2, 0.5, 0.3])
    t = Scalars(0.6, 0.8, 0.0, 0.0)
    x = np.array([0.3, 0.4])
    logits = np.log([0.2, 0.5, 0.3]) - np.sum((x - t.a * pts) ** 2, axis=1) / (2 * t.b**2)
    w = special.softmax(logits)
    np.testing.assert_allclose(mix.mean_x0(t, x), w @ pts, rtol=1e-13)
    with pytest.raises(ValueError, match="shapes"):
        GaussianMixture(np.ones(2), pts, np.zeros((3, 2, 2)))
