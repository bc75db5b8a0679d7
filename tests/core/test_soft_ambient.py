"""soft_ambient_weight: its values, its errors, and soft ambient diffusion against exact references.

The Gaussian tests draw low-quality data ``q0 = N(-0.4, 0.8^2)`` and take clean data ``p0 = N(0.5,
0.3^2)`` as the reference; the weight comes from the Bayes classifier of ``ambientloss.testing`` (math
notes 6.6) and must equal the closed-form density ratio of the two noised Gaussians; the weighted
ambient loss and its weighted least-squares minimiser are compared with the clean closed forms (math
notes 6.1-6.2) in standard errors (seed and tolerance below). ``q`` is wider than ``p``, so the ratio
is bounded and the Monte Carlo means have finite variance.

The talk's discrete example (``p = {0, 1}``, ``q = {-1, 0}``) is computed in exact rational
arithmetic with a discrete noising kernel shared by ``p`` and ``q``.
"""

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

import ambientloss as al
from ambientloss.testing import gaussian as oracle
from ambientloss.testing.classifier import bayes_classifier

# ------------------------------------------------------------------------------------------------
# values and errors


def test_values_at_the_landmarks():
    c = np.array([0.0, 0.5, 0.75, 0.875, 1.0])  # dyadic: the odds are exact
    np.testing.assert_array_equal(al.soft_ambient_weight(c), [0.0, 1.0, 3.0, 7.0, math.inf])
    # prior odds pi_p / pi_q = 1/4: weight 1 where c = 1/5, the clean class's prior
    np.testing.assert_allclose(al.soft_ambient_weight(np.array([0.2, 0.5]), prior_odds=0.25), [1.0, 4.0], rtol=1e-15)


def test_the_weight_is_the_odds_over_the_prior_odds():
    c = np.linspace(0.0, 0.999, 101)
    for prior_odds in (0.1, 1.0, 7.0):
        want = c / (1 - c) / prior_odds
        np.testing.assert_allclose(al.soft_ambient_weight(c, prior_odds=prior_odds), want, rtol=1e-15)


def test_max_weight_caps_and_p_one_gives_the_cap():
    w = al.soft_ambient_weight(np.array([0.25, 0.9, 1.0]), max_weight=3.0)
    np.testing.assert_allclose(w, [1 / 3, 3.0, 3.0], rtol=1e-15)
    assert np.all(np.isfinite(w))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_and_shape_are_kept(dtype):
    c = np.full((2, 3), 0.75, dtype=dtype)
    w = al.soft_ambient_weight(c)
    assert w.dtype == dtype
    assert w.shape == (2, 3)
    np.testing.assert_array_equal(w, np.full((2, 3), 3.0, dtype=dtype))


def test_float32_near_one_stays_finite_and_exact():
    c = np.float32(1) - np.finfo(np.float32).eps / 2  # the largest float32 below 1
    w = al.soft_ambient_weight(np.array([c]))
    assert w.dtype == np.float32
    assert np.isfinite(w[0])
    assert w[0] == np.float32(float(c) / (1 - float(c)))  # 1 - c is exact (Sterbenz)


def test_python_number_gives_float64():
    w = al.soft_ambient_weight(0.75)
    assert w.dtype == np.float64
    assert float(w) == 3.0


@pytest.mark.parametrize("bad", [-0.1, 1.0 + 1e-9, math.nan])
def test_outside_zero_one_names_the_value_and_index(bad):
    c = np.array([0.5, bad])
    with pytest.raises(ValueError, match=r"p_clean must be a probability in \[0, 1\], got .* at index \(1,\)"):
        al.soft_ambient_weight(c)


def test_checks_off_gives_nan_not_a_number():
    with al.checks(False):
        w = al.soft_ambient_weight(np.array([-0.5, 0.5, 2.0, math.nan]))
    np.testing.assert_array_equal(np.isnan(w), [True, False, True, True])
    assert w[1] == 1.0


@pytest.mark.parametrize(("name", "value"), [("prior_odds", 0.0), ("prior_odds", math.inf), ("max_weight", -1.0)])
def test_bad_options_are_named(name, value):
    with pytest.raises(ValueError, match=f"{name} must be a positive finite number, got {value!r}"):
        al.soft_ambient_weight(0.5, **{name: value})


def test_integer_probabilities_are_refused():
    with pytest.raises(TypeError, match="p_clean must have a real floating dtype"):
        al.soft_ambient_weight(np.array([0, 1]))


# ------------------------------------------------------------------------------------------------
# Gaussian oracles

VP = oracle.OracleSchedule("vp")
MU_P, SD_P = 0.5, 0.3  # clean data
MU_Q, SD_Q = -0.4, 0.8  # low-quality data (wider, so p_m / q_m is bounded)
SIGMA = 0.6
SEED, N = 20, 200_000
Z_TOL = 4.5  # standard errors; the seed is fixed, so the outcome is deterministic


def _ratio(x_m: np.ndarray, m: oracle.Scalars) -> np.ndarray:
    """``p_m(x) / q_m(x)`` of the two noised Gaussians, in closed form."""
    vp, vq = m.a**2 * SD_P**2 + m.b**2, m.a**2 * SD_Q**2 + m.b**2
    log_p = -0.5 * (x_m - m.a * MU_P) ** 2 / vp - 0.5 * math.log(vp)
    log_q = -0.5 * (x_m - m.a * MU_Q) ** 2 / vq - 0.5 * math.log(vq)
    return np.exp(log_p - log_q)


def _classifier(x_m: np.ndarray, m: oracle.Scalars, prior_p: float = 0.5) -> np.ndarray:
    """The Bayes classifier ``P(clean | x_m)`` at the trusted level (math notes 6.6), y-picture."""
    return bayes_classifier(x_m / m.a, m.b / m.a, [MU_P], SD_P**2, [MU_Q], SD_Q**2, prior_p)


def _ambient_draws(sigma_min: float, *, max_weight: float | None = None):
    """``(x_t, T_x0, r)`` for low-quality samples: ``x_m`` noised once at ``sigma_min``, renoised to ``SIGMA``."""
    rng = np.random.default_rng(SEED)
    t, m = oracle.pair_scalars(VP, SIGMA, sigma_min)
    y = MU_Q + SD_Q * rng.standard_normal(N)
    x_m = al.add_noise(y, sigma_min, rng.standard_normal(N)) if sigma_min > 0 else y
    x_t = al.renoise(x_m, SIGMA, sigma_min, rng.standard_normal(N))
    target = al.ambient_target(x_t, x_m, SIGMA, sigma_min)
    r = al.soft_ambient_weight(_classifier(x_m, m), max_weight=max_weight)
    return x_t, target, r, t, m


def _clean_loss(w: float, c: float, t: oracle.Scalars, m: oracle.Scalars) -> float:
    """Clean ambient x0 loss of ``h(x) = w x + c`` (math notes 6.2, d = 1): ``L_std + v``."""
    B = t.a * w - 1.0
    l_std = B * B * SD_P**2 + t.b**2 * w * w + (B * MU_P + c) ** 2
    return l_std + (oracle.target_variance(t, m) if m.b > 0 else 0.0)


def _clean_minimiser(t: oracle.Scalars) -> np.ndarray:
    """``E_p[x0 | x_t] = w* x_t + c*`` with ``w* = a_t Sigma / C_t``, ``c* = mu (1 - a_t w*)`` (math notes 6.1)."""
    w = t.a * SD_P**2 / (t.a**2 * SD_P**2 + t.b**2)
    return np.array([w, MU_P * (1 - t.a * w)])


@pytest.mark.parametrize("sigma_min", [0.0, 0.3])
def test_weight_from_the_bayes_classifier_is_the_density_ratio(sigma_min):
    rng = np.random.default_rng(SEED)
    m = oracle.pair_scalars(VP, SIGMA, sigma_min)[1]
    x_m = rng.normal(0.0, 1.2, size=1000)
    np.testing.assert_allclose(al.soft_ambient_weight(_classifier(x_m, m)), _ratio(x_m, m), rtol=1e-12)
    # trained with 1 clean example for 4 low-quality ones: the prior odds undo the prior
    c = _classifier(x_m, m, prior_p=0.2)
    np.testing.assert_allclose(al.soft_ambient_weight(c, prior_odds=0.25), _ratio(x_m, m), rtol=1e-12)


@pytest.mark.parametrize("sigma_min", [0.0, 0.3])
@pytest.mark.parametrize("shift", [(0.0, 0.0), (0.3, -0.2)])
def test_weighted_ambient_loss_has_the_clean_expectation(sigma_min, shift):
    x_t, target, r, t, m = _ambient_draws(sigma_min)
    w, c = _clean_minimiser(t) + np.array(shift)
    per_sample = r * (w * x_t + c - target) ** 2
    z = (per_sample.mean() - _clean_loss(w, c, t, m)) / (per_sample.std() / math.sqrt(N))
    assert abs(z) < Z_TOL, z
    unweighted = (w * x_t + c - target) ** 2  # the same samples, every one trusted at sigma_min
    z_hard = (unweighted.mean() - _clean_loss(w, c, t, m)) / (unweighted.std() / math.sqrt(N))
    assert abs(z_hard) > 50, z_hard  # the test can fail: without the weight the loss is that of q


def _weighted_least_squares(x_t: np.ndarray, target: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimiser of ``mean(r (w x_t + c - T)^2)`` and its sandwich standard errors."""
    X = np.stack([x_t, np.ones_like(x_t)], axis=1)
    A = X.T @ (r[:, None] * X) / N
    theta = np.linalg.solve(A, X.T @ (r * target) / N)
    score = X * (r * (target - X @ theta))[:, None]
    A_inv = np.linalg.inv(A)
    cov = A_inv @ (score.T @ score / N) @ A_inv / N
    return theta, np.sqrt(np.diag(cov))


@pytest.mark.parametrize("sigma_min", [0.0, 0.3])
def test_weighted_minimiser_is_the_clean_posterior_mean(sigma_min):
    x_t, target, r, t, _ = _ambient_draws(sigma_min)
    theta, se = _weighted_least_squares(x_t, target, r)
    z = (theta - _clean_minimiser(t)) / se
    assert np.all(np.abs(z) < Z_TOL), (theta, _clean_minimiser(t), z)
    theta_q, se_q = _weighted_least_squares(x_t, target, np.ones(N))
    assert np.max(np.abs(theta_q - _clean_minimiser(t)) / se_q) > 50  # unweighted: q's posterior mean


def test_clipping_the_weight_biases_the_minimiser():
    x_t, target, r, t, _ = _ambient_draws(0.3, max_weight=1.0)
    assert r.max() == 1.0
    theta, se = _weighted_least_squares(x_t, target, r)
    assert np.max(np.abs(theta - _clean_minimiser(t)) / se) > 10


# ------------------------------------------------------------------------------------------------
# the talk's example, exact: p = {0, 1}, q = {-1, 0}, equal sizes

STATES = (-1, 0, 1)
P = {-1: Fraction(0), 0: Fraction(1, 2), 1: Fraction(1, 2)}
Q = {-1: Fraction(1, 2), 0: Fraction(1, 2), 1: Fraction(0)}


def _kernel(lam: Fraction) -> dict[tuple[int, int], Fraction]:
    """``K(x' | x) = (1 - lam) [x' = x] + lam / 3``: keep the point, or redraw it uniformly (shared by p and q)."""
    return {(x, x2): (1 - lam) * (x == x2) + lam / 3 for x in STATES for x2 in STATES}


def _push(law: dict[int, Fraction], lam: Fraction) -> dict[int, Fraction]:
    k = _kernel(lam)
    return {x2: sum(law[x] * k[x, x2] for x in STATES) for x2 in STATES}


def _joint(law: dict[int, Fraction], lam: Fraction, mu: Fraction) -> dict[tuple[int, int], Fraction]:
    """Law of ``(x_m, x_t)``: ``x_m`` at level ``lam``, then the further kernel to ``mu``."""
    at_m, k = _push(law, lam), _kernel(mu)
    return {(x, x2): at_m[x] * k[x, x2] for x in STATES for x2 in STATES}


def _normalised(law: dict[int, Fraction]) -> dict[int, Fraction]:
    total = sum(law.values())
    return {x: v / total for x, v in law.items()}


def test_talk_example_hard_per_sample_levels_over_sample_the_shared_point():
    # at level 0 the Bayes classifier reads 1/2 on the shared point 0: the per-sample rule trusts it
    # at every level; the point -1 only above some level lam_0 > 0. Below lam_0 the corrupt data
    # that are used are the 0s alone (half of q), added to the clean data:
    for lam in (Fraction(0), Fraction(1, 4), Fraction(1, 2)):
        used = _push({x: P[x] + Q[x] * (x == 0) for x in STATES}, lam)
        assert _normalised(used) != _push(P, lam)
    assert _normalised({x: P[x] + Q[x] * (x == 0) for x in STATES}) == {-1: 0, 0: Fraction(2, 3), 1: Fraction(1, 3)}


@pytest.mark.parametrize("lam", [Fraction(1, 4), Fraction(1, 2), Fraction(9, 10)])
def test_talk_example_soft_weights_are_exact_above_zero(lam):
    p_m, q_m = _push(P, lam), _push(Q, lam)
    ratio = {x: p_m[x] / q_m[x] for x in STATES}
    c = {x: p_m[x] / (p_m[x] + q_m[x]) for x in STATES}  # the balanced Bayes classifier at level lam
    got = al.soft_ambient_weight(np.array([float(c[x]) for x in STATES]))
    np.testing.assert_allclose(got, [float(ratio[x]) for x in STATES], rtol=1e-15)
    # the weighted low-quality data have the clean law at lam, jointly with any further level mu
    assert {x: q_m[x] * ratio[x] for x in STATES} == p_m
    for mu in (Fraction(1, 3), Fraction(1)):
        joint_q, joint_p = _joint(Q, lam, mu), _joint(P, lam, mu)
        assert {xx: joint_q[xx] * ratio[xx[0]] for xx in joint_q} == joint_p
    # so clean and weighted low-quality data together are p, whatever their proportions
    mixed = {x: p_m[x] + 3 * q_m[x] * ratio[x] for x in STATES}
    assert _normalised(mixed) == p_m


def test_talk_example_soft_weights_at_level_zero_need_p_inside_q():
    # at sigma_min = 0 the weight is plain importance weighting: exact only where q covers p. Here q
    # never produces 1, the weights {-1: 0, 0: 1} keep the 0s and the result is the hard rule's bias
    c = {-1: Fraction(0), 0: Fraction(1, 2)}
    w = al.soft_ambient_weight(np.array([float(c[-1]), float(c[0])]))
    np.testing.assert_array_equal(w, [0.0, 1.0])
    weighted_q = {-1: Q[-1] * 0, 0: Q[0] * 1, 1: Fraction(0)}
    assert sum(weighted_q.values()) == Fraction(1, 2)  # E_q[r] = P(q covers p) < 1: mass is missing
    assert _normalised({x: P[x] + weighted_q[x] for x in STATES}) == {-1: 0, 0: Fraction(2, 3), 1: Fraction(1, 3)}


def _second_moment(m: oracle.Scalars) -> float:
    """``E_q[r^2] = 1 + chi^2(p_m || q_m)``: ``v_q / sqrt(v_p (2 v_q - v_p)) exp(a_m^2 dmu^2 / (2 v_q - v_p))``.

    Closed form for 1-D Gaussians with ``2 v_q > v_p`` (``v`` the noised variances).
    """
    vp, vq = m.a**2 * SD_P**2 + m.b**2, m.a**2 * SD_Q**2 + m.b**2
    return vq / math.sqrt(vp * (2 * vq - vp)) * math.exp(m.a**2 * (MU_P - MU_Q) ** 2 / (2 * vq - vp))


def test_weight_variance_falls_as_sigma_min_rises():
    """``Var_q[r] = chi^2(p_m || q_m)`` shrinks with the level (data processing): the price of a low ``sigma_min``."""
    levels = (0.0, 0.3, 0.6, 0.9)
    second = [_second_moment(oracle.pair_scalars(VP, 0.95, s)[1]) for s in levels]
    assert all(a > b for a, b in itertools.pairwise(second))
    assert second[-1] > 1
    for sigma_min, want in zip(levels[:2], second[:2], strict=True):
        r = _ambient_draws(sigma_min)[2]
        z = ((r * r).mean() - want) / ((r * r).std() / math.sqrt(N))
        assert abs(z) < Z_TOL, z
        assert abs(r.mean() - 1) < Z_TOL * r.std() / math.sqrt(N)  # E_q[r] = 1
