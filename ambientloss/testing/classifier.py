"""Bayes-optimal noise-conditional clean/corrupt classifier and its exact means (math notes 6.6).

Data model as in :mod:`ambientloss.testing.divergences`: ``p0 = N(mu_p, Sigma_p)`` (clean),
``q0 = N(mu_q, Sigma_q)`` (corrupt), ``x_t = a x0 + b eps``. The classifier is written in the rescaled
picture ``y = x_t / a`` with the schedule-free level ``nu = b / a``, where ``p_t = N(mu_p, S_p)``,
``S_p = Sigma_p + nu^2 I`` (likewise ``q_t``). The log-likelihood ratio is invariant under this
rescaling, so ``c*(x_t) = c*(y)``. Integrals are Gauss-Hermite rules (no sampling, no grids).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._divergence_math import equal_cov as _equal_cov
from ._divergence_math import logdet as _logdet
from ._divergence_math import noised as _noised
from ._divergence_math import params as _params
from .divergences import mahalanobis

__all__ = [
    "bayes_classifier",
    "bayes_logit",
    "classifier_mean_on_clean",
    "classifier_mean_on_corrupt",
    "per_sample_classifier_mean",
    "triangular_discrimination",
]

_SQRT2 = math.sqrt(2.0)
_SQRTPI = math.sqrt(math.pi)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function without overflow."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _prior_logit(prior_p: float) -> float:
    prior_p = float(prior_p)
    if not 0.0 < prior_p < 1.0:
        msg = f"prior_p must lie in (0, 1), got {prior_p}"
        raise ValueError(msg)
    return math.log(prior_p) - math.log1p(-prior_p)


def bayes_logit(y: Any, nu: float, mu_p: Any, Sigma_p: Any, mu_q: Any, Sigma_q: Any, prior_p: float = 0.5) -> Any:
    """Logit ``l(y) + log(pi_p / pi_q)`` of the Bayes classifier at ``y = x_t / a``, level ``nu = b / a``.

    ``l(y) = -(y - mu_p)^T S_p^{-1} (y - mu_p) / 2 + (y - mu_q)^T S_q^{-1} (y - mu_q) / 2
    - ln det S_p / 2 + ln det S_q / 2`` (quadratic); for equal covariances it is linear,
    ``l(y) = w^T (y - (mu_p + mu_q) / 2)`` with ``w = S^{-1} (mu_p - mu_q)``. ``y`` has shape ``(..., d)``
    (a scalar or ``(n,)`` array in 1-D); the result has shape ``(...)``.

    Examples
    --------
    >>> float(bayes_logit(0.5, 0.0, [0.0], 1.0, [1.0], 1.0))  # the midpoint
    0.0
    """
    mp, sp, mq, sq = _params(mu_p, Sigma_p, mu_q, Sigma_q)
    d = mp.shape[0]
    y = np.asarray(y, dtype=np.float64)
    if d == 1 and (y.ndim == 0 or y.shape[-1] != 1):
        y = y[..., None]
    Sp, Sq = _noised(sp, nu), _noised(sq, nu)
    if _equal_cov(sp, sq):
        w = np.linalg.solve(Sp, mp - mq)
        out = (y - 0.5 * (mp + mq)) @ w
    else:
        rp, rq = y - mp, y - mq
        qp = np.einsum("...i,ij,...j->...", rp, np.linalg.inv(Sp), rp)
        qq = np.einsum("...i,ij,...j->...", rq, np.linalg.inv(Sq), rq)
        out = 0.5 * (qq - qp) + 0.5 * (_logdet(Sq) - _logdet(Sp))
    out = out + _prior_logit(prior_p)
    return float(out) if np.ndim(out) == 0 else out


def bayes_classifier(y: Any, nu: float, mu_p: Any, Sigma_p: Any, mu_q: Any, Sigma_q: Any, prior_p: float = 0.5) -> Any:
    """``c*(y, nu) = P(clean | y) = sigmoid(l(y) + log(pi_p / pi_q))`` (see :func:`bayes_logit`).

    Examples
    --------
    >>> round(float(bayes_classifier(0.0, 0.0, [0.0], 1.0, [1.0], 1.0)), 6)  # sigmoid(1/2)
    0.622459
    """
    out = _sigmoid(bayes_logit(y, nu, mu_p, Sigma_p, mu_q, Sigma_q, prior_p))
    return float(out) if np.ndim(out) == 0 else out


def _hermgauss(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Hermite nodes and weights (NumPy's rule is reliable up to a few hundred nodes)."""
    nodes = int(nodes)
    if not 1 <= nodes <= 300:
        msg = f"nodes must lie in [1, 300], got {nodes}"
        raise ValueError(msg)
    return np.polynomial.hermite.hermgauss(nodes)


def _gauss_logistic(mean: np.ndarray, std: np.ndarray, nodes: int) -> np.ndarray:
    """``E sigmoid(mean + std Z)``, ``Z ~ N(0, 1)``, by an ``nodes``-point Gauss-Hermite rule."""
    x, w = _hermgauss(nodes)
    mean, std = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
    vals = _sigmoid(mean[..., None] + _SQRT2 * std[..., None] * x)
    return vals @ w / _SQRTPI


def classifier_mean_on_corrupt(nu: float, mu_p: Any, Sigma_p: Any, mu_q: Any, Sigma_q: Any, nodes: int = 200) -> float:
    """``E_{q_t}[c*] = 1/2 - Delta / 4`` for the balanced Bayes classifier (see :func:`triangular_discrimination`).

    Equal covariances (any ``d``): under ``q_t`` the logit is ``N(-delta^2 / 2, delta^2)``, so the mean
    is the 1-D Gaussian-logistic integral ``E sigmoid(-delta^2 / 2 + delta Z)``. 1-D with unequal
    variances: ``E_{y ~ q_t} c*(y)`` directly. Both use a ``nodes``-point Gauss-Hermite rule; it is
    accurate to about ``1e-8`` while the logit changes slowly over one standard deviation of ``q_t``
    and degrades (slowly, in ``nodes``) for sharply separated classes at small ``nu``.

    Examples
    --------
    >>> round(classifier_mean_on_corrupt(0.0, [0.0], 1.0, [0.0], 1.0), 12)  # identical laws
    0.5
    """
    mp, sp, mq, sq = _params(mu_p, Sigma_p, mu_q, Sigma_q)
    if _equal_cov(sp, sq):
        delta = mahalanobis(mp, sp, mq, nu)
        return float(_gauss_logistic(np.asarray(-0.5 * delta * delta), np.asarray(delta), nodes))
    if mp.shape[0] == 1:
        x, w = _hermgauss(nodes)
        s_q = math.sqrt(float(_noised(sq, nu)[0, 0]))
        y = float(mq[0]) + _SQRT2 * s_q * x
        return float(bayes_classifier(y, nu, mp, sp, mq, sq) @ w / _SQRTPI)
    msg = "exact classifier means need equal covariances or d = 1"
    raise ValueError(msg)


def classifier_mean_on_clean(nu: float, mu_p: Any, Sigma_p: Any, mu_q: Any, Sigma_q: Any, nodes: int = 200) -> float:
    """``E_{p_t}[c*] = 1/2 + Delta / 4`` for the balanced Bayes classifier (same rule as the corrupt mean).

    Examples
    --------
    >>> m = classifier_mean_on_clean(0.5, [0.0], 1.0, [1.0], 1.0)
    >>> round(m + classifier_mean_on_corrupt(0.5, [0.0], 1.0, [1.0], 1.0), 12)
    1.0
    """
    # 1 - c*(p, q) = c*(q, p): the clean mean is one minus the corrupt mean with the roles swapped
    return 1.0 - classifier_mean_on_corrupt(nu, mu_q, Sigma_q, mu_p, Sigma_p, nodes)


def triangular_discrimination(nu: float, mu_p: Any, Sigma_p: Any, mu_q: Any, Sigma_q: Any, nodes: int = 200) -> float:
    """Triangular discrimination ``Delta(p_t, q_t) = int (p_t - q_t)^2 / (p_t + q_t)`` in ``[0, 2]``.

    Computed as ``Delta = 2 - 4 E_{q_t}[c*]`` averaged with ``4 E_{p_t}[c*] - 2`` (equal exactly; the
    average halves the quadrature error), from :func:`classifier_mean_on_corrupt`. It satisfies
    ``TV^2 <= Delta / 2 <= TV``; the classifier criterion "mean ``c*`` on corrupt data ``> 1/2 - eps``"
    is ``Delta < 4 eps``.

    Examples
    --------
    >>> round(triangular_discrimination(0.0, [0.0], 1.0, [0.0], 1.0), 12)
    0.0
    """
    lo = classifier_mean_on_corrupt(nu, mu_p, Sigma_p, mu_q, Sigma_q, nodes)
    hi = classifier_mean_on_clean(nu, mu_p, Sigma_p, mu_q, Sigma_q, nodes)
    return min(2.0, max(0.0, (hi - lo) * 2.0))


def per_sample_classifier_mean(
    x: Any, nu: float, mu_p: Any, mu_q: Any, Sigma: Any, prior_p: float = 0.5, nodes: int = 80
) -> Any:
    """``E_eps c*(a x + b eps)`` for corrupt points ``x`` (clean scale, shape ``(..., d)``), equal covariance.

    With ``w = (Sigma + nu^2 I)^{-1} (mu_p - mu_q)``, the logit of the noised point is
    ``N(w^T (x - (mu_p + mu_q) / 2) + log(pi_p / pi_q), nu^2 ||w||^2)``; its mean sigmoid is a
    ``nodes``-point Gauss-Hermite rule (80 nodes match Monte Carlo to its precision). Averaging over
    ``x ~ q0`` gives :func:`classifier_mean_on_corrupt`.

    Examples
    --------
    >>> round(float(per_sample_classifier_mean([0.5], 1.0, [0.0], [1.0], 1.0)), 12)  # on the boundary
    0.5
    """
    mp, sp, mq, _ = _params(mu_p, Sigma, mu_q, Sigma)
    d = mp.shape[0]
    x = np.asarray(x, dtype=np.float64)
    if d == 1 and (x.ndim == 0 or x.shape[-1] != 1):
        x = x[..., None]
    w = np.linalg.solve(_noised(sp, nu), mp - mq)
    mean = (x - 0.5 * (mp + mq)) @ w + _prior_logit(prior_p)
    std = np.full_like(mean, float(nu) * float(np.linalg.norm(w)))
    out = _gauss_logistic(mean, std, nodes)
    return float(out) if np.ndim(out) == 0 else out
