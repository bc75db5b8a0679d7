"""Closed-form divergences between noised Gaussians and the exact ``sigma_min`` (math notes 6.4-6.5).

Data model: ``p0 = N(mu_p, Sigma_p)`` and ``q0 = N(mu_q, Sigma_q)`` in ``d`` dimensions, noised as
``x_t = a x0 + b eps``, so that ``p_t = N(a mu_p, a^2 Sigma_p + b^2 I)`` and likewise ``q_t``. Every
f-divergence is invariant under the common rescaling ``y = x_t / a``, so all functions here take the
schedule-free level ``nu = b / a`` (:func:`schedule_free_of` from the scalars; from a level it is
:func:`ambientloss.schedule_free_level`) and work with

    S_p = Sigma_p + nu^2 I,      S_q = Sigma_q + nu^2 I,      dmu = mu_p - mu_q.

Means are array-likes of shape ``(d,)`` (a scalar is ``d = 1``); covariances are ``(d, d)`` (a scalar
is a 1-D variance). Everything is float64 NumPy; the normal CDF is written with :func:`math.erfc`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._divergence_math import SQRT2 as _SQRT2
from ._divergence_math import bisect as _bisect
from ._divergence_math import crossing as _crossing
from ._divergence_math import directions as _directions
from ._divergence_math import equal_cov as _equal_cov
from ._divergence_math import erfc as _erfc
from ._divergence_math import logdet as _logdet
from ._divergence_math import noised as _noised
from ._divergence_math import params as _params
from ._divergence_math import tv_1d as _tv_1d

__all__ = [
    "bhattacharyya",
    "hellinger",
    "kl",
    "mahalanobis",
    "normal_cdf",
    "normal_ppf",
    "scalars_from_level",
    "schedule_free_of",
    "sigma_min_bracket",
    "sigma_min_for_tv",
    "total_variation",
    "tv_bounds",
    "tv_lower_bound",
    "tv_threshold_delta",
    "tv_upper_bound",
]


# ----------------------------------------------------------------------------------------------
# levels and the normal distribution


def schedule_free_of(a: float, b: float) -> float:
    """Schedule-free level ``nu = b / a`` of the noise scalars ``(a, b)`` (``inf`` where ``a = 0``).

    Examples
    --------
    >>> schedule_free_of(0.6, 0.8)
    1.3333333333333335
    """
    a, b = float(a), float(b)
    return b / a if a > 0 else math.inf


def scalars_from_level(nu: float) -> tuple[float, float]:
    """VP scalars ``(a, b) = (1, nu) / sqrt(1 + nu^2)`` with ``b / a = nu`` (inverse of :func:`schedule_free_of`).

    Examples
    --------
    >>> a, b = scalars_from_level(0.75)
    >>> round(a, 12), round(b, 12)
    (0.8, 0.6)
    """
    nu = float(nu)
    if math.isinf(nu):
        return 0.0, 1.0
    r = math.hypot(1.0, nu)
    return 1.0 / r, nu / r


def normal_cdf(x: Any) -> Any:
    """Standard normal CDF ``Phi(x) = erfc(-x / sqrt(2)) / 2``, elementwise (accurate in the lower tail).

    Examples
    --------
    >>> round(float(normal_cdf(1.959963984540054)), 6)
    0.975
    """
    out = 0.5 * _erfc(-np.asarray(x, dtype=np.float64) / _SQRT2)
    return float(out) if out.ndim == 0 else out


def normal_ppf(p: float) -> float:
    """Inverse ``Phi^{-1}(p)`` of :func:`normal_cdf` for ``0 < p < 1``, by bisection to full precision.

    Examples
    --------
    >>> round(normal_ppf(0.975), 10)
    1.9599639845
    """
    p = float(p)
    if not 0.0 < p < 1.0:
        msg = f"p must lie in (0, 1), got {p}"
        raise ValueError(msg)
    return _bisect(lambda x: 0.5 * math.erfc(-x / _SQRT2) < p, -40.0, 40.0)


# ----------------------------------------------------------------------------------------------
# divergences (math 6.4)


def kl(mu_p: Any, Sigma_p: Any, mu_q: Any, Sigma_q: Any, nu: float) -> float:
    """``KL(p_t || q_t)`` at the schedule-free level ``nu``.

    ``KL = [tr(S_q^{-1} S_p) + dmu^T S_q^{-1} dmu - d + ln det S_q - ln det S_p] / 2``.

    Examples
    --------
    >>> kl([0.0], 1.0, [1.0], 1.0, nu=0.0)  # equal covariance: delta^2 / 2
    0.5
    """
    mp, sp, mq, sq = _params(mu_p, Sigma_p, mu_q, Sigma_q)
    Sp, Sq = _noised(sp, nu), _noised(sq, nu)
    dmu = mp - mq
    trace = float(np.trace(np.linalg.solve(Sq, Sp)))
    quad = float(dmu @ np.linalg.solve(Sq, dmu))
    return max(0.0, 0.5 * (trace + quad - mp.shape[0] + _logdet(Sq) - _logdet(Sp)))


def bhattacharyya(mu_p: Any, Sigma_p: Any, mu_q: Any, Sigma_q: Any, nu: float) -> float:
    """Bhattacharyya coefficient ``BC = int sqrt(p_t q_t)`` at the schedule-free level ``nu``.

    ``BC = det(S_p)^{1/4} det(S_q)^{1/4} det(S)^{-1/2} exp(-dmu^T S^{-1} dmu / 8)`` with ``S = (S_p + S_q) / 2``.

    Examples
    --------
    >>> round(bhattacharyya([0.0], 1.0, [2.0], 1.0, nu=0.0), 10)  # exp(-delta^2 / 8)
    0.6065306597
    """
    mp, sp, mq, sq = _params(mu_p, Sigma_p, mu_q, Sigma_q)
    Sp, Sq = _noised(sp, nu), _noised(sq, nu)
    S = 0.5 * (Sp + Sq)
    dmu = mp - mq
    log_bc = 0.25 * (_logdet(Sp) + _logdet(Sq)) - 0.5 * _logdet(S) - 0.125 * float(dmu @ np.linalg.solve(S, dmu))
    return min(1.0, math.exp(log_bc))


def hellinger(mu_p: Any, Sigma_p: Any, mu_q: Any, Sigma_q: Any, nu: float) -> float:
    """Squared Hellinger distance ``H^2 = 1 - BC`` (in ``[0, 1]``) at the schedule-free level ``nu``.

    Examples
    --------
    >>> round(hellinger([0.0], 1.0, [2.0], 1.0, nu=0.0), 10)
    0.3934693403
    """
    return 1.0 - bhattacharyya(mu_p, Sigma_p, mu_q, Sigma_q, nu)


def mahalanobis(mu_p: Any, Sigma: Any, mu_q: Any, nu: float) -> float:
    """``delta = sqrt(dmu^T (Sigma + nu^2 I)^{-1} dmu)`` for a common covariance ``Sigma``.

    Examples
    --------
    >>> mahalanobis([0.0, 0.0], [[1.0, 0.0], [0.0, 1.0]], [3.0, 4.0], nu=0.0)
    5.0
    """
    mp, sp, mq, _ = _params(mu_p, Sigma, mu_q, Sigma)
    dmu = mp - mq
    return math.sqrt(max(0.0, float(dmu @ np.linalg.solve(_noised(sp, nu), dmu))))


def total_variation(mu_p: Any, Sigma_p: Any, mu_q: Any, Sigma_q: Any, nu: float) -> float:
    """Exact ``TV(p_t, q_t) = int |p_t - q_t| / 2`` at the schedule-free level ``nu``.

    Equal covariances (any ``d``): ``TV = 2 Phi(delta / 2) - 1`` with ``delta`` from :func:`mahalanobis`.
    1-D with unequal variances ``s_i^2 = sigma_i^2 + nu^2``: ``log p - log q`` has two real roots
    ``r_1 < r_2`` (stable quadratic formula) and
    ``TV = |[Phi((r_2-mu_1)/s_1) - Phi((r_1-mu_1)/s_1)] - [Phi((r_2-mu_2)/s_2) - Phi((r_1-mu_2)/s_2)]|``.
    Other cases have no closed form: use :func:`tv_bounds`.

    Examples
    --------
    >>> round(total_variation([0.0], 1.0, [2.0], 1.0, nu=0.0), 6)  # 2 Phi(1) - 1
    0.682689
    >>> round(total_variation(0.0, 0.09, 1.0, 0.36, nu=1.0), 6)
    0.351455
    """
    mp, sp, mq, sq = _params(mu_p, Sigma_p, mu_q, Sigma_q)
    if _equal_cov(sp, sq):
        return math.erf(mahalanobis(mp, sp, mq, nu) / (2.0 * _SQRT2))
    if mp.shape[0] == 1:
        Sp, Sq = _noised(sp, nu), _noised(sq, nu)
        return _tv_1d(float(mp[0]), float(Sp[0, 0]), float(mq[0]), float(Sq[0, 0]))
    msg = "exact TV needs equal covariances or d = 1; use tv_bounds"
    raise ValueError(msg)


def tv_lower_bound(mu_p: Any, Sigma_p: Any, mu_q: Any, Sigma_q: Any, nu: float) -> float:
    """Lower bound ``max(H^2, TV of 1-D projections)`` on ``TV(p_t, q_t)``, non-increasing in ``nu``.

    The projections (data processing) are on ``dmu`` and on the top eigenvector of ``Sigma_p - Sigma_q``.

    Examples
    --------
    >>> round(tv_lower_bound([0.0, 0.0], [[1.0, 0.0], [0.0, 1.0]], [2.0, 0.0], [[2.0, 0.0], [0.0, 1.0]], nu=0.0), 6)
    0.602303
    """
    mp, sp, mq, sq = _params(mu_p, Sigma_p, mu_q, Sigma_q)
    Sp, Sq = _noised(sp, nu), _noised(sq, nu)
    best = hellinger(mp, sp, mq, sq, nu)
    for w in _directions(mp, sp, mq, sq):
        best = max(best, _tv_1d(float(w @ mp), float(w @ Sp @ w), float(w @ mq), float(w @ Sq @ w)))
    return best


def tv_upper_bound(mu_p: Any, Sigma_p: Any, mu_q: Any, Sigma_q: Any, nu: float) -> float:
    """Upper bound ``min(sqrt(KL/2), sqrt(1 - e^{-KL}), sqrt(1 - BC^2))`` on ``TV(p_t, q_t)``.

    ``KL`` is the smaller of the two directions; the bound is non-increasing in ``nu``.

    Examples
    --------
    >>> round(tv_upper_bound([0.0], 1.0, [2.0], 1.0, nu=0.0), 6)
    0.79506
    """
    mp, sp, mq, sq = _params(mu_p, Sigma_p, mu_q, Sigma_q)
    k = min(kl(mp, sp, mq, sq, nu), kl(mq, sq, mp, sp, nu))
    bc = bhattacharyya(mp, sp, mq, sq, nu)
    return min(1.0, math.sqrt(k / 2.0), math.sqrt(-math.expm1(-k)), math.sqrt(max(0.0, 1.0 - bc * bc)))


def tv_bounds(mu_p: Any, Sigma_p: Any, mu_q: Any, Sigma_q: Any, nu: float) -> tuple[float, float]:
    """``(lower, upper)`` bracket of ``TV(p_t, q_t)`` from :func:`tv_lower_bound` and :func:`tv_upper_bound`.

    Examples
    --------
    >>> lo, hi = tv_bounds([0.0], 1.0, [2.0], 1.0, nu=0.0)
    >>> bool(lo <= total_variation([0.0], 1.0, [2.0], 1.0, nu=0.0) <= hi)
    True
    """
    return (tv_lower_bound(mu_p, Sigma_p, mu_q, Sigma_q, nu), tv_upper_bound(mu_p, Sigma_p, mu_q, Sigma_q, nu))


# ----------------------------------------------------------------------------------------------
# sigma_min (math 6.5)


def tv_threshold_delta(eps: float) -> float:
    """``delta* = 2 Phi^{-1}((1 + eps) / 2)``: equal-covariance ``TV < eps`` iff ``delta < delta*``.

    Examples
    --------
    >>> round(tv_threshold_delta(0.05), 6)
    0.125414
    """
    eps = float(eps)
    if not 0.0 < eps < 1.0:
        msg = f"eps must lie in (0, 1), got {eps}"
        raise ValueError(msg)
    # erf(delta* / (2 sqrt 2)) = eps, solved directly (no cancellation in (1 + eps) / 2)
    return 2.0 * _SQRT2 * _bisect(lambda z: math.erf(z) < eps, 0.0, 10.0)


def sigma_min_for_tv(eps: float, mu_p: Any, Sigma_p: Any, mu_q: Any, Sigma_q: Any) -> float:
    """Exact schedule-free ``nu_min = inf{nu : TV(p_t, q_t) < eps}``.

    Equal covariances ``Sigma = U diag(lambda) U^T``, ``w = U^T dmu``: ``nu_min = 0`` if
    ``delta_0 <= delta*`` (:func:`tv_threshold_delta`), otherwise ``nu_min^2`` is the unique root of
    ``sum_i w_i^2 / (lambda_i + nu^2) = delta*^2`` in ``(0, ||dmu||^2 / delta*^2]``, found by bisection
    (isotropic ``Sigma = sigma_d^2 I``: ``nu_min^2 = max(0, ||dmu||^2 / delta*^2 - sigma_d^2)``).
    1-D with unequal variances: bisection on the exact :func:`total_variation`. Other cases: use
    :func:`sigma_min_bracket`. Convert to a schedule's level with ``ambientloss.convert_level(nu, source="ve", ...)``.

    Examples
    --------
    >>> Sigma = [[1.0, 0.3, 0.0], [0.3, 0.5, 0.1], [0.0, 0.1, 0.25]]
    >>> round(sigma_min_for_tv(0.05, [0.0, 0.0, 0.0], Sigma, [0.3, -0.15, 0.1], Sigma), 4)
    2.6848
    """
    mp, sp, mq, sq = _params(mu_p, Sigma_p, mu_q, Sigma_q)
    if _equal_cov(sp, sq):
        target = tv_threshold_delta(eps) ** 2
        lam, U = np.linalg.eigh(0.5 * (sp + sp.T))
        lam = np.maximum(lam, 0.0)
        w2 = (U.T @ (mp - mq)) ** 2

        def delta2(nu2: float) -> float:
            if nu2 == 0.0 and np.any((lam == 0.0) & (w2 > 0.0)):
                return math.inf
            keep = w2 > 0.0
            return float(np.sum(w2[keep] / (lam[keep] + nu2)))

        if delta2(0.0) <= target:
            return 0.0
        hi = float(np.sum(w2)) / target
        return math.sqrt(_bisect(lambda nu2: delta2(nu2) > target, 0.0, hi))
    if mp.shape[0] == 1:
        return _crossing(lambda nu: total_variation(mp, sp, mq, sq, nu), float(eps))
    msg = "exact sigma_min needs equal covariances or d = 1; use sigma_min_bracket"
    raise ValueError(msg)


def sigma_min_bracket(eps: float, mu_p: Any, Sigma_p: Any, mu_q: Any, Sigma_q: Any) -> tuple[float, float]:
    """Bracket ``nu_lo <= nu_min <= nu_hi`` of the schedule-free ``sigma_min`` from the TV bounds.

    ``nu_lo`` (``nu_hi``) is where the non-increasing lower (upper) bound of :func:`tv_bounds` falls
    below ``eps``; since ``lower <= TV <= upper``, the exact ``nu_min`` lies in between.

    Examples
    --------
    >>> lo, hi = sigma_min_bracket(0.05, [0.0], 1.0, [1.0], 2.0)
    >>> bool(lo <= sigma_min_for_tv(0.05, [0.0], 1.0, [1.0], 2.0) <= hi)
    True
    """
    mp, sp, mq, sq = _params(mu_p, Sigma_p, mu_q, Sigma_q)
    eps = float(eps)
    if not 0.0 < eps < 1.0:
        msg = f"eps must lie in (0, 1), got {eps}"
        raise ValueError(msg)
    lo = _crossing(lambda nu: tv_lower_bound(mp, sp, mq, sq, nu), eps)
    hi = _crossing(lambda nu: tv_upper_bound(mp, sp, mq, sq, nu), eps)
    return lo, hi
