"""The numerics under :mod:`ambientloss.testing.divergences`: argument handling, bisection, one-dimensional TV.

Float64 NumPy and :mod:`math` only: Gaussian parameters checked and noised, a log-determinant that refuses
singular covariances, ``Phi(hi) - Phi(lo)`` without cancellation, the exact TV of two 1-D normals and the
crossing of a decreasing curve.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "SQRT2",
    "bisect",
    "crossing",
    "directions",
    "equal_cov",
    "erfc",
    "logdet",
    "noised",
    "params",
    "phi_interval",
    "tv_1d",
]

#: sqrt(2), for the normal CDF through erfc
SQRT2 = math.sqrt(2.0)
#: elementwise :func:`math.erfc` on arrays
erfc = np.vectorize(math.erfc, otypes=[float])


def bisect(below: Callable[[float], bool], lo: float, hi: float) -> float:
    """Boundary of a monotone predicate: ``below(x)`` holds left of the root and fails right of it."""
    for _ in range(400):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if below(mid):
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def phi_interval(lo: float, hi: float) -> float:
    """``Phi(hi) - Phi(lo)`` for ``lo <= hi`` without cancellation in either tail."""
    if lo >= 0.0:
        return 0.5 * (math.erfc(lo / SQRT2) - math.erfc(hi / SQRT2))
    return 0.5 * (math.erfc(-hi / SQRT2) - math.erfc(-lo / SQRT2))


def params(mu_p: Any, Sigma_p: Any, mu_q: Any, Sigma_q: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    mp = np.atleast_1d(np.asarray(mu_p, dtype=np.float64))
    mq = np.atleast_1d(np.asarray(mu_q, dtype=np.float64))
    sp = np.atleast_2d(np.asarray(Sigma_p, dtype=np.float64))
    sq = np.atleast_2d(np.asarray(Sigma_q, dtype=np.float64))
    d = mp.shape[0]
    if mp.shape != (d,) or mq.shape != (d,) or sp.shape != (d, d) or sq.shape != (d, d):
        msg = f"shapes do not match: mu {mp.shape}, {mq.shape}; Sigma {sp.shape}, {sq.shape}"
        raise ValueError(msg)
    return mp, sp, mq, sq


def noised(Sigma: np.ndarray, nu: float) -> np.ndarray:
    nu = float(nu)
    if not nu >= 0.0 or math.isinf(nu):
        msg = f"nu must be finite and >= 0, got {nu}"
        raise ValueError(msg)
    return Sigma + nu * nu * np.eye(Sigma.shape[0])


def logdet(S: np.ndarray) -> float:
    sign, value = np.linalg.slogdet(S)
    if sign <= 0:
        msg = "covariance is singular at this level; use nu > 0"
        raise ValueError(msg)
    return float(value)


def equal_cov(Sigma_p: np.ndarray, Sigma_q: np.ndarray) -> bool:
    return bool(np.array_equal(Sigma_p, Sigma_q))


def tv_1d(m1: float, v1: float, m2: float, v2: float) -> float:
    """Exact TV between ``N(m1, v1)`` and ``N(m2, v2)`` (variances ``> 0``)."""
    s1, s2 = math.sqrt(v1), math.sqrt(v2)
    if v1 == v2:
        return math.erf(abs(m1 - m2) / (2.0 * s1 * SQRT2))
    # 2 v1 v2 (log p - log q) = A x^2 + B x + C, with two real roots since v1 != v2
    A = v1 - v2
    B = 2.0 * (m1 * v2 - m2 * v1)
    C = m2 * m2 * v1 - m1 * m1 * v2 + v1 * v2 * math.log(v2 / v1)
    disc = max(0.0, B * B - 4.0 * A * C)
    q = -0.5 * (B + math.copysign(math.sqrt(disc), B))
    r1, r2 = sorted((q / A, C / q))
    mass_p = phi_interval((r1 - m1) / s1, (r2 - m1) / s1)
    mass_q = phi_interval((r1 - m2) / s2, (r2 - m2) / s2)
    return min(1.0, abs(mass_p - mass_q))


def directions(mp: np.ndarray, sp: np.ndarray, mq: np.ndarray, sq: np.ndarray) -> list[np.ndarray]:
    """Fixed (level-independent) projection directions: ``dmu`` and the top eigenvector of ``Sigma_p - Sigma_q``."""
    out = []
    dmu = mp - mq
    if np.any(dmu != 0):
        out.append(dmu / np.linalg.norm(dmu))
    diff = sp - sq
    if np.any(diff != 0):
        lam, U = np.linalg.eigh(0.5 * (diff + diff.T))
        out.append(U[:, int(np.argmax(np.abs(lam)))])
    return out


def crossing(curve: Callable[[float], float], eps: float) -> float:
    """``inf{nu >= 0 : curve(nu) < eps}`` for a continuous non-increasing ``curve`` tending to 0."""
    if curve(0.0) < eps:
        return 0.0
    hi = 1.0
    while curve(hi) >= eps:
        hi *= 2.0
        if hi > 1e150:
            msg = "curve does not fall below eps"
            raise ValueError(msg)
    return bisect(lambda nu: curve(nu) >= eps, 0.0, hi)
