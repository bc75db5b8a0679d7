"""With the Bayes classifier of two Gaussians, the annotators recover the exact sigma_min (math notes 6.5, 6.6).

Clean ``p0 = N(0, 0.09)``, corrupt ``q0 = N(1, 0.09)`` in 1-D. The classifier is the closed form
``P(clean | x_t) = sigmoid(w (x_t / a - 1/2))``, ``w = -1 / (0.09 + nu^2)``, ``nu = b / a``, written with
the backend's own operations. Noise draws are the 64 midpoint quantiles of N(0, 1), shared by all
samples (quasi Monte Carlo): the draw means are then Gauss-logistic integrals to about 1e-4, and every
answer must be the grid level at or above the exact crossing (with 3 % relative slack for that error;
the grid steps by 13.6 %). Each test runs in VP, VE and flow units on every backend.
"""

from __future__ import annotations

import functools
import math
from statistics import NormalDist

import array_api_compat
import numpy as np
import pytest
from scipy.optimize import brentq

import ambientloss as al
from ambientloss.annotation import (
    adaptive_sigma_min,
    classifier_trajectory,
    select_sigma_min,
    sigma_min_from_classifier_mean,
    sigma_min_from_tv,
    total_variation_estimate,
)
from ambientloss.testing.classifier import classifier_mean_on_corrupt, per_sample_classifier_mean
from ambientloss.testing.divergences import sigma_min_for_tv, total_variation

MU_P, MU_Q, VAR = 0.0, 1.0, 0.09
NU_GRID = np.geomspace(0.05, 20.0, 48)
SLACK = 0.03  # relative, see the module docstring
QUANTILES = np.array([NormalDist().inv_cdf((k + 0.5) / 64) for k in range(64)])
UNITS = ["vp", "ve", "flow"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def bayes_classifier(schedule):
    def classify(x_sigma, sigma):
        xp = array_api_compat.array_namespace(x_sigma)
        a, b = al.coefficients(sigma, schedule=schedule, xp=xp)
        nu = b / a
        w = (MU_P - MU_Q) / (VAR + nu * nu)
        logit = w * (x_sigma[:, 0] / a - (MU_P + MU_Q) / 2)
        return 1.0 / (1.0 + xp.exp(-logit))

    return classify


def grid_in(unit, backend):
    return backend.asarray(al.level_from_schedule_free(NU_GRID, schedule=unit))


def to_nu(levels, unit, backend):
    lv = backend.to_numpy(levels).astype(np.float64)
    return np.asarray(al.schedule_free_level(lv, schedule=unit))


def assert_first_grid_level_above(nu_selected, nu_exact):
    """``nu_selected`` is the grid level at or above ``nu_exact`` (up to ``SLACK``)."""
    k = int(np.argmin(np.abs(NU_GRID - nu_selected)))
    assert abs(NU_GRID[k] - nu_selected) <= 1e-5 * nu_selected  # a grid level (float32 round trip)
    below = NU_GRID[k - 1] if k > 0 else 0.0
    assert below * (1 - SLACK) < nu_exact <= NU_GRID[k] * (1 + SLACK), (below, nu_exact, NU_GRID[k])


def monotone_crossing(curve, level):
    """Largest ``nu`` where the continuous ``curve(nu) - level`` changes sign (0 if it never does)."""
    fine = np.geomspace(1e-3, 40.0, 80)
    vals = np.array([curve(v) - level for v in fine])
    if np.all(vals > 0):
        return 0.0
    last = int(np.nonzero(vals <= 0)[0][-1])
    return brentq(lambda v: curve(v) - level, fine[last], fine[last + 1], xtol=1e-12)


@functools.cache
def per_sample_crossing(xi: float) -> float:
    return monotone_crossing(lambda nu: per_sample_classifier_mean([xi], nu, [MU_P], [MU_Q], VAR), 0.45)


@functools.cache
def mean_crossing(eps: float) -> float:
    return monotone_crossing(lambda nu: classifier_mean_on_corrupt(nu, [MU_P], VAR, [MU_Q], VAR), 0.5 - eps)


@pytest.mark.parametrize("unit", UNITS)
def test_per_sample_sigma_min_matches_the_exact_oracle(backend, unit):
    x = MU_Q + math.sqrt(VAR) * np.array([NormalDist().inv_cdf(u) for u in (0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99)])
    x = x[:, None]
    grid = grid_in(unit, backend)
    noise = backend.asarray(QUANTILES[:, None])
    clf = bayes_classifier(unit)
    probs = classifier_trajectory(clf, backend.asarray(x), grid, n_draws=64, schedule=unit, noise=noise)
    full = select_sigma_min(probs, grid, probability="clean", eps=0.05, rule="monotone")
    fast = adaptive_sigma_min(
        clf, backend.asarray(x), grid, probability="clean", eps=0.05, n_draws=64, schedule=unit, noise=noise
    )
    # The bisection calls the classifier in other batches than the full grid, where the backend's
    # sqrt, exp and divisions may round a row differently (a few ulp, <= 8 eps per probability) and
    # the mean of the 64 draws may be summed in another order (<= 64 u = 32 eps): the draw-means of
    # the two runs agree within 2 * (8 + 32) eps < 128 eps. No draw-mean lies that close to the
    # threshold 1/2 - eps = 0.45, so both runs select the same level, exactly.
    means = backend.to_numpy(probs).astype(np.float64).mean(axis=-1)
    assert np.min(np.abs(means - 0.45)) > 128 * backend.eps
    np.testing.assert_array_equal(backend.to_numpy(fast.sigma_min), backend.to_numpy(full))
    for i, xi in enumerate(x[:, 0]):
        exact = per_sample_crossing(float(xi))
        nu_sel = to_nu(full[i], unit, backend)
        if exact == 0.0:  # the point looks clean at every level (x_i < 1/2 + margin)
            assert nu_sel == pytest.approx(NU_GRID[0], rel=1e-5)
        else:
            assert_first_grid_level_above(float(nu_sel), exact)


def held_out(backend, unit, n=128):
    u = [(k + 0.5) / n for k in range(n)]
    base = np.array([NormalDist().inv_cdf(v) for v in u]) * math.sqrt(VAR)
    clf, grid = bayes_classifier(unit), grid_in(unit, backend)
    noise = backend.asarray(QUANTILES[:, None])
    kw = {"n_draws": 64, "schedule": unit, "noise": noise, "batch_size": 1 << 16}
    clean = classifier_trajectory(clf, backend.asarray((MU_P + base)[:, None]), grid, **kw)
    corrupt = classifier_trajectory(clf, backend.asarray((MU_Q + base)[:, None]), grid, **kw)
    return clean, corrupt, grid


@pytest.mark.parametrize("unit", UNITS)
def test_dataset_sigma_min_matches_the_exact_oracles(backend, unit):
    clean, corrupt, grid = held_out(backend, unit)
    eps_tv = 0.2
    exact_tv = sigma_min_for_tv(eps_tv, [MU_P], VAR, [MU_Q], VAR)
    for method in ("mean_abs", "accuracy"):
        tv = total_variation_estimate(clean, corrupt, probability="clean", method=method)
        exact_at_grid = np.array([total_variation([MU_P], VAR, [MU_Q], VAR, nu) for nu in NU_GRID])
        tol = 2e-3 if method == "mean_abs" else 4e-3  # quadrature error of the 128 x 64 node rule
        np.testing.assert_allclose(backend.to_numpy(tv), exact_at_grid, atol=tol)
        level = sigma_min_from_tv(tv, grid, eps=eps_tv)
        assert_first_grid_level_above(float(to_nu(level, unit, backend)), exact_tv)
    # the classifier-mean criterion is triangular discrimination < 4 eps, not TV < eps
    eps = 0.05
    exact_mean = mean_crossing(eps)
    level = sigma_min_from_classifier_mean(corrupt, grid, probability="clean", eps=eps)
    nu_mean = float(to_nu(level, unit, backend))
    assert_first_grid_level_above(nu_mean, exact_mean)
    # ... which lies between the TV < 2 eps and TV < sqrt(2 eps) levels (math notes 6.6)
    assert sigma_min_for_tv(math.sqrt(2 * eps), [MU_P], VAR, [MU_Q], VAR) <= exact_mean
    assert exact_mean <= sigma_min_for_tv(2 * eps, [MU_P], VAR, [MU_Q], VAR)
    assert exact_mean < sigma_min_for_tv(eps, [MU_P], VAR, [MU_Q], VAR) / 2  # far from TV < eps


def test_dataset_criteria_reject_bad_input():
    p = np.full((4, 3), 0.5)
    with pytest.raises(ValueError, match="probs_corrupt has 2 levels on axis 1 but 3 were expected"):
        total_variation_estimate(p, p[:, :2], probability="clean")
    with pytest.raises(ValueError, match="method must be"):
        total_variation_estimate(p, p, probability="clean", method="auc")
    with pytest.raises(ValueError, match="probs_clean must be probabilities"):
        total_variation_estimate(p + 1, p, probability="clean")
    with pytest.raises(ValueError, match=r"shape \(n, G\) or \(n, G, draws\) with n >= 1"):
        total_variation_estimate(p[:0], p, probability="clean")
    with pytest.raises(ValueError, match=r"tv must have the grid's shape \(3,\)"):
        sigma_min_from_tv(np.zeros(2), [1.0, 2.0, 3.0], eps=0.1)
    with pytest.raises(ValueError, match=r"tv must lie in \[-1, 1\]"):
        sigma_min_from_tv(np.array([0.1, np.nan]), [1.0, 2.0], eps=0.1)
    with pytest.raises(ValueError, match=r"eps must be a number in \(0, 1\]"):
        sigma_min_from_tv(np.zeros(2), [1.0, 2.0], eps=0.0)
    with pytest.raises(ValueError, match="strictly increasing"):
        sigma_min_from_classifier_mean(p, [3.0, 2.0, 1.0], probability="clean", eps=0.05)
    with pytest.raises(ValueError, match="'clean' or 'corrupt'"):
        sigma_min_from_classifier_mean(p, [1.0, 2.0, 3.0], probability=None, eps=0.05)
