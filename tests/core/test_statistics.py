"""Seeded Monte Carlo regression of every ambient target on ``x_t`` (math 3.2-3.3 and Theorem 2).

Data: 1-D ``x0 ~ N(0.7, 1.3^2)``, ``N = 200_000`` samples, seed ``20251126`` (``numpy.random.default_rng``).
For each schedule (VP, VE, rectified flow), level pair and prediction, the trusted sample is
``x_m = add_noise(x0, m, eps_m)`` and the pair ``(x_t, T) = ambient_pair(x_m, t, m, z)``. Since the data
are Gaussian, ``E[k | x_t]`` is affine in ``x_t``; an ordinary least-squares fit of ``T`` on
``(1, x_t)`` must recover its intercept and slope (from the closed-form oracle of ``ambientloss.testing.gaussian``)
within **5 standard errors**, and the residual variance must equal ``Q_k^2 (V_t + v)`` (Bayes error
plus the target variance of Theorem 2) within 5 standard errors (``sigma_res^2 sqrt(2 / N)``).
The pair form ``ambient_target(x_t, x_m, t, m)`` is fitted the same way.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import ambientloss as al
from ambientloss.testing.gaussian import (
    KINDS,
    Gaussian,
    OracleSchedule,
    pair_scalars,
    prediction_affine,
    target_variance,
    transition,
)

N = 200_000
SEED = 20251126
MU0, SD0 = 0.7, 1.3
Z_MAX = 5.0

PAIRS = [
    ("vp", 0.8, 0.3),
    ("vp", 0.55, 0.5),
    ("ve", 1.5, 0.6),
    ("ve", 0.9, 0.8),
    ("flow", 0.7, 0.35),
    ("flow", 0.45, 0.4),
]


def _ols(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float, float]:
    """Intercept, slope, their standard errors and the residual variance of ``y ~ 1 + x``."""
    xm, ym = x.mean(), y.mean()
    sxx = np.sum((x - xm) ** 2)
    slope = float(np.sum((x - xm) * (y - ym)) / sxx)
    intercept = float(ym - slope * xm)
    resid = y - intercept - slope * x
    s2 = float(resid @ resid / (x.size - 2))
    se_slope = math.sqrt(s2 / sxx)
    se_intercept = math.sqrt(s2 * (1 / x.size + xm * xm / sxx))
    return intercept, slope, se_intercept, se_slope, s2


@pytest.fixture(scope="module")
def draws() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    return rng.normal(MU0, SD0, N), rng.standard_normal(N), rng.standard_normal(N)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("schedule", "t", "m"), PAIRS)
def test_regression_recovers_posterior_mean(draws, schedule, t, m, kind):
    """OLS of the ambient target on ``x_t`` matches ``E[k | x_t]`` and the residual variance of Theorem 2."""
    x0, eps_m, z = draws
    x_m = al.add_noise(x0, m, eps_m, schedule=schedule)
    x_t, target = al.ambient_pair(x_m, t, m, z, prediction=kind, schedule=schedule)
    pair_form = al.ambient_target(x_t, x_m, t, m, prediction=kind, schedule=schedule)

    ts, ms = pair_scalars(OracleSchedule(schedule), t, m)
    data = Gaussian(np.array([MU0]), np.array([[SD0**2]]))
    want_intercept = float(data.posterior_mean(kind, ts, np.zeros(1))[0])
    want_slope = float(data.posterior_mean(kind, ts, np.ones(1))[0]) - want_intercept
    _, Q = prediction_affine(kind, ts)
    bayes = float(data.cov_x0(ts)[0, 0])
    want_resid = Q * Q * (bayes + target_variance(ts, ms))

    for name, y in (("noise form", target), ("pair form", pair_form)):
        intercept, slope, se_i, se_s, s2 = _ols(x_t, y)
        z_i = (intercept - want_intercept) / se_i
        z_s = (slope - want_slope) / se_s
        z_v = (s2 - want_resid) / (s2 * math.sqrt(2 / N))
        assert abs(z_i) < Z_MAX, f"{name}: intercept {intercept} vs {want_intercept} ({z_i:.1f} SE)"
        assert abs(z_s) < Z_MAX, f"{name}: slope {slope} vs {want_slope} ({z_s:.1f} SE)"
        assert abs(z_v) < Z_MAX, f"{name}: residual variance {s2} vs {want_resid} ({z_v:.1f} SE)"


@pytest.mark.parametrize(("schedule", "t", "m"), PAIRS[:1] + PAIRS[2:3] + PAIRS[4:5])
def test_regression_detects_the_plain_target(draws, schedule, t, m):
    """Control: the plain x0 target ``x_m / a_m`` (ambient correction switched off) is biased.

    Regressed on ``x_t``, its slope is more than 20 standard errors away from ``E[x0 | x_t]``'s, so the
    regression above has the power to see a missing correction.
    """
    x0, eps_m, z = draws
    x_m = al.add_noise(x0, m, eps_m, schedule=schedule)
    x_t, _ = al.ambient_pair(x_m, t, m, z, schedule=schedule)
    ts, ms = pair_scalars(OracleSchedule(schedule), t, m)
    data = Gaussian(np.array([MU0]), np.array([[SD0**2]]))
    want_slope = float(data.mean_x0(ts, np.ones(1))[0] - data.mean_x0(ts, np.zeros(1))[0])
    _, slope, _, se_s, _ = _ols(x_t, x_m / ms.a)
    assert abs(slope - want_slope) / se_s > 20


@pytest.mark.parametrize("kind", KINDS)
def test_posterior_covariances_match_monte_carlo(kind):
    """Cov(k | x_t) and Cov(x_m | x_t) of the oracle vs the residual covariance of a linear regression.

    For jointly Gaussian variables the residual of the regression on x_t has exactly the conditional
    covariance. Seed 7, N = 2e5, d = 2, VP levels s = 0.7, m = 0.4; tolerance 5 standard errors of each
    entry (standard error sqrt((Var_ii Var_jj + Cov_ij^2) / N)).
    """
    rng = np.random.default_rng(7)
    g = Gaussian(np.array([0.5, -1.0]), np.array([[1.2, 0.4], [0.4, 0.6]]))
    t, m = pair_scalars(OracleSchedule("vp"), 0.7, 0.4)
    n = 200_000
    x0 = g.mu + rng.standard_normal((n, 2)) @ np.linalg.cholesky(g.Sigma).T
    x_m = m.a * x0 + m.b * rng.standard_normal((n, 2))
    alpha, beta = transition(t, m)
    x_t = alpha * x_m + beta * rng.standard_normal((n, 2))
    p, q = prediction_affine(kind, t)
    design = np.column_stack([x_t, np.ones(n)])
    for target, oracle in ((p * x_t + q * x0, g.posterior_cov(kind, t)), (x_m, g.cov_xm(t, m))):
        residual = target - design @ np.linalg.lstsq(design, target, rcond=None)[0]
        empirical = residual.T @ residual / (n - 3)
        diag = np.diag(oracle)
        se = np.sqrt((np.outer(diag, diag) + oracle**2) / n)
        assert np.all(np.abs(empirical - oracle) < 5 * se), (empirical, oracle)
