"""Closed-form Gaussian oracles in float64 NumPy (math notes, sections 1-4 and 6.1).

Everything here is written from the formulas, independently of :mod:`ambientloss`: the schedule
scalars ``(a, b, a', b')`` come from :class:`OracleSchedule`, not from the library's schedules.

Data model: ``x0 ~ N(mu, Sigma)`` in ``d`` dimensions, ``x_t = a_t x0 + b_t eps`` and, for a trusted
level ``m``, ``x_m = a_m x0 + b_m eps_m`` with ``x_t = alpha x_m + beta z`` (the transition kernel).
A clean sample is the case ``a_m = 1``, ``b_m = 0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

__all__ = [
    "CLEAN",
    "KINDS",
    "Gaussian",
    "OracleSchedule",
    "Scalars",
    "ambient_coefficients",
    "error_scale",
    "gap",
    "noise_form_coefficients",
    "one_minus_r",
    "pair_scalars",
    "prediction_affine",
    "random_gaussian",
    "target_variance",
    "transition",
]

KINDS = ("x0", "epsilon", "v", "velocity", "score")


class Scalars(NamedTuple):
    """``(a, b, da, db)`` of a schedule at one level, as float64, with the level and schedule name."""

    a: float
    b: float
    da: float
    db: float
    level: float = math.nan
    name: str = "clean"


@dataclass(frozen=True)
class OracleSchedule:
    """Schedule formulas of math section 1, plus a custom family.

    ``name`` is one of ``"vp"`` (also used for discrete tables, whose levels are VP ``s``),
    ``"ve"``, ``"flow"`` or ``"custom"``. The custom family is

        a(t) = cos(c t)^p / (1 + k t),      b(t) = sin(c t),      t in [0, 1],

    with ``k >= 0``, ``p >= 0`` and ``0 < c < pi/2``, so that ``b / a`` increases.
    """

    name: str
    k: float = 0.0
    c: float = 1.0
    p: float = 1.0

    @property
    def lower(self) -> float:
        """Smallest level (0 for every family)."""
        return 0.0

    @property
    def upper(self) -> float:
        """Largest level: ``inf`` for VE, 1 otherwise."""
        return math.inf if self.name == "ve" else 1.0

    def scalars(self, level: float) -> Scalars:
        t = float(level)
        if self.name == "vp":
            a = math.sqrt((1.0 - t) * (1.0 + t))
            da = -t / a if a > 0 else -math.inf
            return Scalars(a, t, da, 1.0, t, self.name)
        if self.name == "ve":
            return Scalars(1.0, t, 0.0, 1.0, t, self.name)
        if self.name == "flow":
            return Scalars(1.0 - t, t, -1.0, 1.0, t, self.name)
        if self.name == "custom":
            k, c, p = self.k, self.c, self.p
            cos, sin = math.cos(c * t), math.sin(c * t)
            a = cos**p / (1.0 + k * t)
            da = -p * c * sin * cos ** (p - 1.0) / (1.0 + k * t) - k * cos**p / (1.0 + k * t) ** 2
            return Scalars(a, sin, da, c * cos, t, self.name)
        raise ValueError(self.name)

    def schedule_free(self, level: float) -> float:
        """``b / a`` (the VE-equivalent level)."""
        s = self.scalars(level)
        return s.b / s.a if s.a > 0 else math.inf


CLEAN = Scalars(1.0, 0.0, 0.0, 0.0, 0.0, "clean")  # (a_m, b_m) of a clean sample; derivatives unused


def pair_scalars(schedule: OracleSchedule, sigma: float, sigma_min: float) -> tuple[Scalars, Scalars]:
    """Scalars at ``sigma`` and at ``sigma_min`` (the clean ``(1, 0)`` where ``sigma_min == 0``)."""
    return schedule.scalars(sigma), (CLEAN if sigma_min == 0 else schedule.scalars(sigma_min))


# ----------------------------------------------------------------------------------------------
# scalars of a pair of levels (math sections 1-2)


def gap(t: Scalars, m: Scalars) -> float:
    """``D = a_m^2 b_t^2 - a_t^2 b_m^2``, in the best-conditioned form for the schedule (math 5.1).

    VP and VE ``(s - m)(s + m)``, rectified flow ``(t - m)(t (1 - m) + m (1 - t))``, a clean sample
    ``b_t^2``; otherwise the generic ``(a_m b_t - a_t b_m)(a_m b_t + a_t b_m)``, which is only as
    accurate as ``a`` and ``b`` themselves (relative error about ``u / (1 - r)``).
    """
    if m.name == "clean":
        return t.b * t.b
    s, lo = t.level, m.level
    if t.name in ("vp", "ve"):
        return (s - lo) * (s + lo)
    if t.name == "flow":
        return (s - lo) * (s * (1.0 - lo) + lo * (1.0 - s))
    return (m.a * t.b - t.a * m.b) * (m.a * t.b + t.a * m.b)


def one_minus_r(t: Scalars, m: Scalars) -> float:
    """``1 - r = D / (a_m b_t)^2``."""
    return gap(t, m) / (m.a * t.b) ** 2


def transition(t: Scalars, m: Scalars) -> tuple[float, float]:
    """``(alpha, beta)`` of the kernel ``x_t = alpha x_m + beta z`` (Proposition 1)."""
    return t.a / m.a, math.sqrt(gap(t, m)) / m.a


def target_variance(t: Scalars, m: Scalars) -> float:
    """``v = b_m^2 b_t^2 / D``: per-dimension variance of ``T_x0 - x0`` (Theorem 2)."""
    return (m.b * t.b) ** 2 / gap(t, m)


def prediction_affine(kind: str, t: Scalars) -> tuple[float, float]:
    """``(P_k, Q_k)`` with ``k = P_k x_t + Q_k x0`` (table of math 3.3)."""
    a, b = t.a, t.b
    if kind == "x0":
        return 0.0, 1.0
    if kind == "epsilon":
        return 1.0 / b, -a / b
    if kind == "score":
        return -1.0 / b**2, a / b**2
    if kind == "v":
        return a / b, -(a * a + b * b) / b
    if kind == "velocity":
        return t.db / b, (t.da * b - t.db * a) / b
    raise ValueError(kind)


def ambient_coefficients(kind: str, t: Scalars, m: Scalars) -> tuple[float, float]:
    """``(c_t, c_m)`` with ``T_k = c_t x_t + c_m x_m`` (general table of math 3.4)."""
    D = gap(t, m)
    a_t, b_t, a_m, b_m = t.a, t.b, m.a, m.b
    if kind == "x0":
        return -a_t * b_m**2 / D, a_m * b_t**2 / D
    if kind == "epsilon":
        return a_m**2 * b_t / D, -a_t * a_m * b_t / D
    if kind == "score":
        return -(a_m**2) / D, a_t * a_m / D
    if kind == "v":
        return a_t * b_t * (a_m**2 + b_m**2) / D, -a_m * b_t * (a_t**2 + b_t**2) / D
    if kind == "velocity":
        return (t.db * a_m**2 * b_t - t.da * a_t * b_m**2) / D, a_m * b_t * (t.da * b_t - t.db * a_t) / D
    raise ValueError(kind)


def noise_form_coefficients(kind: str, t: Scalars, m: Scalars) -> tuple[float, float]:
    """``(c_x, c_z)`` with ``T_k = c_x x_m + c_z z`` when ``x_t = alpha x_m + beta z`` (math 3.6)."""
    root = math.sqrt(gap(t, m))
    x0 = (1.0 / m.a, -t.a * m.b**2 / (m.a * root))
    eps = (0.0, m.a * t.b / root)
    if kind == "x0":
        return x0
    if kind == "epsilon":
        return eps
    if kind == "score":
        return 0.0, -eps[1] / t.b
    if kind == "v":
        return -t.b * x0[0], t.a * eps[1] - t.b * x0[1]
    if kind == "velocity":
        return t.da * x0[0], t.da * x0[1] + t.db * eps[1]
    raise ValueError(kind)


def error_scale(kind: str, t: Scalars, m: Scalars, x_t: np.ndarray, x_m: np.ndarray) -> np.ndarray:
    """Forward-error scale of the pair form ``T_k(x_t, x_m)``, elementwise.

    The pair form computes ``T_x0 = c_t x_t + c_m x_m`` and converts it with the usual formulas of
    math 3.3 (section 5.3). Its rounding error is a small multiple of ``u`` times this scale, which
    grows like ``1 / (1 - r)`` as ``sigma -> sigma_min`` (section 5.1).
    """
    c_t, c_m = ambient_coefficients("x0", t, m)
    s_x0 = abs(c_t) * np.abs(x_t) + abs(c_m) * np.abs(x_m)
    if kind == "x0":
        return s_x0
    s_eps = (np.abs(x_t) + abs(t.a) * s_x0) / t.b
    if kind == "epsilon":
        return s_eps
    if kind == "score":
        return s_eps / t.b
    if kind == "v":
        return abs(t.a) * s_eps + t.b * s_x0
    if kind == "velocity":
        return abs(t.da) * s_x0 + abs(t.db) * s_eps
    raise ValueError(kind)


# ----------------------------------------------------------------------------------------------
# Gaussian posteriors (math 6.1)


@dataclass(frozen=True)
class Gaussian:
    """``x0 ~ N(mu, Sigma)``; all methods take one point ``x`` of shape ``(d,)``."""

    mu: np.ndarray
    Sigma: np.ndarray

    @property
    def d(self) -> int:
        return int(self.mu.shape[0])

    def cov(self, s: Scalars) -> np.ndarray:
        """``C = a^2 Sigma + b^2 I``, the covariance of ``x`` at scalars ``s``."""
        return s.a**2 * self.Sigma + s.b**2 * np.eye(self.d)

    def cond(self, t: Scalars) -> float:
        """Condition number of ``C_t``."""
        return float(np.linalg.cond(self.cov(t)))

    def _whitened(self, t: Scalars, x: np.ndarray) -> np.ndarray:
        return np.linalg.solve(self.cov(t), x - t.a * self.mu)  # C_t^{-1} (x - a_t mu)

    def sample(self, t: Scalars, rng: np.random.Generator) -> np.ndarray:
        """A draw of ``x_t`` (a typical point to condition on)."""
        return t.a * self.mu + np.linalg.cholesky(self.cov(t)) @ rng.standard_normal(self.d)

    def mean_x0(self, t: Scalars, x: np.ndarray) -> np.ndarray:
        """``E[x0 | x_t = x] = mu + a_t Sigma C_t^{-1} (x - a_t mu)``."""
        return self.mu + t.a * self.Sigma @ self._whitened(t, x)

    def mean_eps(self, t: Scalars, x: np.ndarray) -> np.ndarray:
        """``E[eps | x_t = x] = b_t C_t^{-1} (x - a_t mu)``."""
        return t.b * self._whitened(t, x)

    def score(self, t: Scalars, x: np.ndarray) -> np.ndarray:
        """``grad log p_t(x) = -C_t^{-1} (x - a_t mu)``."""
        return -self._whitened(t, x)

    def mean_v(self, t: Scalars, x: np.ndarray) -> np.ndarray:
        """``E[v | x_t] = a_t E[eps | x_t] - b_t E[x0 | x_t]``."""
        return t.a * self.mean_eps(t, x) - t.b * self.mean_x0(t, x)

    def mean_velocity(self, t: Scalars, x: np.ndarray) -> np.ndarray:
        """``E[u | x_t] = a'_t E[x0 | x_t] + b'_t E[eps | x_t]``."""
        return t.da * self.mean_x0(t, x) + t.db * self.mean_eps(t, x)

    def posterior_mean(self, kind: str, t: Scalars, x: np.ndarray) -> np.ndarray:
        """``E[k | x_t = x]`` for a prediction type ``k``."""
        return {
            "x0": self.mean_x0,
            "epsilon": self.mean_eps,
            "v": self.mean_v,
            "velocity": self.mean_velocity,
            "score": self.score,
        }[kind](t, x)

    def mean_xm(self, t: Scalars, m: Scalars, x: np.ndarray) -> np.ndarray:
        """``E[x_m | x_t = x] = a_m mu + alpha C_m C_t^{-1} (x - a_t mu)``, ``C_m = a_m^2 Sigma + b_m^2 I``."""
        alpha = t.a / m.a
        return m.a * self.mu + alpha * self.cov(m) @ self._whitened(t, x)

    def magnitude(self, kind: str, t: Scalars, x: np.ndarray) -> np.ndarray:
        """Elementwise size of the terms summed by :meth:`posterior_mean` (scale of its rounding error)."""
        w = np.abs(np.linalg.inv(self.cov(t))) @ (np.abs(x) + abs(t.a) * np.abs(self.mu))
        x0 = np.abs(self.mu) + abs(t.a) * np.abs(self.Sigma) @ w
        eps = t.b * w
        return {
            "x0": x0,
            "epsilon": eps,
            "score": w,
            "v": abs(t.a) * eps + t.b * x0,
            "velocity": abs(t.da) * x0 + abs(t.db) * eps,
        }[kind]

    def magnitude_xm(self, t: Scalars, m: Scalars, x: np.ndarray) -> np.ndarray:
        """Elementwise size of the terms summed by :meth:`mean_xm`."""
        w = np.abs(np.linalg.inv(self.cov(t))) @ (np.abs(x) + abs(t.a) * np.abs(self.mu))
        return m.a * np.abs(self.mu) + (t.a / m.a) * np.abs(self.cov(m)) @ w

    def cov_x0(self, t: Scalars) -> np.ndarray:
        """``Cov(x0 | x_t) = b_t^2 Sigma C_t^{-1}``."""
        return t.b**2 * self.Sigma @ np.linalg.inv(self.cov(t))

    def posterior_cov(self, kind: str, t: Scalars) -> np.ndarray:
        """``Cov(k | x_t) = Q_k^2 Cov(x0 | x_t)`` for ``k = P_k x_t + Q_k x0`` (score: ``-eps / b_t``)."""
        _, q = prediction_affine(kind, t)
        return q * q * self.cov_x0(t)

    def cov_xm(self, t: Scalars, m: Scalars) -> np.ndarray:
        """``Cov(x_m | x_t) = beta^2 C_m C_t^{-1}`` with ``beta^2 = D / a_m^2``."""
        _, beta = transition(t, m)
        return beta**2 * self.cov(m) @ np.linalg.inv(self.cov(t))


def random_gaussian(rng: np.random.Generator, d: int, *, lo: float = 0.1, hi: float = 3.0) -> Gaussian:
    """Random mean and SPD covariance with eigenvalues in ``[lo, hi]`` (well conditioned)."""
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    lam = rng.uniform(lo, hi, size=d)
    return Gaussian(rng.normal(0.0, 1.5, size=d), (q * lam) @ q.T)
