"""Gaussian-mixture posterior oracles, point masses included (math notes 6.3), in float64 NumPy.

Data model: ``x0 ~ sum_k pi_k N(mu_k, Sigma_k)``; ``Sigma_k = 0`` is a point mass at ``mu_k``, so an
empirical data set is a mixture of point masses. ``x_t = a_t x0 + b_t eps``; levels are passed as
:class:`ambientloss.testing.gaussian.Scalars` (anything with attributes ``a`` and ``b``). With
``C_{t,k} = a_t^2 Sigma_k + b_t^2 I``,

    E[x0 | x_t = x] = sum_k w_k(x) [mu_k + a_t Sigma_k C_{t,k}^{-1} (x - a_t mu_k)],
    w_k(x) proportional to pi_k N(x; a_t mu_k, C_{t,k}).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["GaussianMixture"]


@dataclass(frozen=True)
class GaussianMixture:
    """``x0 ~ sum_k weights[k] N(means[k], covs[k])``; ``weights (K,)``, ``means (K, d)``, ``covs (K, d, d)``.

    Methods take one point ``x`` of shape ``(d,)`` and need ``C_{t,k}`` invertible (``b_t > 0`` when a
    component is a point mass).

    Examples
    --------
    >>> from ambientloss.testing.gaussian import Scalars
    >>> mix = GaussianMixture.empirical([[-1.0], [1.0]])
    >>> t = Scalars(1.0, 1.0, 0.0, 1.0)
    >>> mix.mean_x0(t, np.array([0.0]))  # symmetric: the posterior mean is the midpoint
    array([0.])
    >>> round(float(mix.mean_x0(t, np.array([1.0]))[0]), 6)  # tanh(a x / b^2)
    0.761594
    """

    weights: np.ndarray
    means: np.ndarray
    covs: np.ndarray

    def __post_init__(self) -> None:
        w = np.asarray(self.weights, dtype=np.float64)
        mu = np.asarray(self.means, dtype=np.float64)
        cov = np.asarray(self.covs, dtype=np.float64)
        if mu.ndim != 2 or w.shape != (mu.shape[0],) or cov.shape != (mu.shape[0], mu.shape[1], mu.shape[1]):
            msg = f"shapes do not match: weights {w.shape}, means {mu.shape}, covs {cov.shape}"
            raise ValueError(msg)
        if np.any(w < 0) or not w.sum() > 0:
            msg = "weights must be non-negative with a positive sum"
            raise ValueError(msg)
        object.__setattr__(self, "weights", w / w.sum())
        object.__setattr__(self, "means", mu)
        object.__setattr__(self, "covs", cov)

    @classmethod
    def empirical(cls, points: Any, probs: Any = None) -> GaussianMixture:
        """Point masses at the rows of ``points`` (``(K, d)``) with probabilities ``probs`` (default uniform)."""
        pts = np.asarray(points, dtype=np.float64)
        k, d = pts.shape
        w = np.full(k, 1.0 / k) if probs is None else np.asarray(probs, dtype=np.float64)
        return cls(w, pts, np.zeros((k, d, d)))

    @property
    def d(self) -> int:
        return int(self.means.shape[1])

    def _component_terms(self, t: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Responsibilities ``w_k(x)`` and whitened residuals ``C_{t,k}^{-1} (x - a_t mu_k)`` (shape ``(K, d)``)."""
        x = np.asarray(x, dtype=np.float64)
        C = t.a**2 * self.covs + t.b**2 * np.eye(self.d)
        r = x - t.a * self.means
        white = np.linalg.solve(C, r[..., None])[..., 0]
        _, logdet = np.linalg.slogdet(C)
        with np.errstate(divide="ignore"):
            log_w = np.log(self.weights) - 0.5 * (np.einsum("ki,ki->k", r, white) + logdet)
        log_w = log_w - np.max(log_w)
        w = np.exp(log_w)
        return w / w.sum(), white

    def responsibilities(self, t: Any, x: np.ndarray) -> np.ndarray:
        """``w_k(x) = P(component k | x_t = x)``, shape ``(K,)``."""
        return self._component_terms(t, x)[0]

    def mean_x0(self, t: Any, x: np.ndarray) -> np.ndarray:
        """``E[x0 | x_t = x] = sum_k w_k [mu_k + a_t Sigma_k C_{t,k}^{-1} (x - a_t mu_k)]``."""
        w, white = self._component_terms(t, x)
        per = self.means + t.a * np.einsum("kij,kj->ki", self.covs, white)
        return w @ per

    def score(self, t: Any, x: np.ndarray) -> np.ndarray:
        """``grad log p_t(x) = -sum_k w_k C_{t,k}^{-1} (x - a_t mu_k)``."""
        w, white = self._component_terms(t, x)
        return -(w @ white)

    def mean_xm(self, t: Any, m: Any, x: np.ndarray) -> np.ndarray:
        """``E[x_m | x_t = x] = sum_k w_k [a_m mu_k + (a_t / a_m) C_{m,k} C_{t,k}^{-1} (x - a_t mu_k)]``."""
        w, white = self._component_terms(t, x)
        C_m = m.a**2 * self.covs + m.b**2 * np.eye(self.d)
        per = m.a * self.means + (t.a / m.a) * np.einsum("kij,kj->ki", C_m, white)
        return w @ per
