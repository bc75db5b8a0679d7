r"""Base distributions of training noise levels, each in the units of one schedule.

Every base is immutable and offers ``cdf(level)``, ``survival(level)`` (``P(X > level)``, computed
without cancellation in the upper tail), ``icdf(u)`` and ``isf(q)`` (inverse survival function), all
in plain array-API arithmetic, so they run under ``jax.jit`` and ``torch.compile``.

==================== =========== ==========================================================
base                 schedule    law of the level
==================== =========== ==========================================================
``UniformVP()``      ``"vp"``    ``s ~ U[0, 1]`` (the talk)
``LogNormal(m, s)``  ``"ve"``    ``log sigma ~ N(m, s^2)`` (EDM: ``m = -1.2``, ``s = 1.2``)
``LogitNormal(m, s)`` ``"flow"`` ``logit t ~ N(m, s^2)`` (flow matching)
``GridDensity``      any         piecewise-linear density through given grid values
``DiscreteTimesteps`` Discrete   uniform over the integer timesteps of a :class:`~ambientloss.Discrete` table
==================== =========== ==========================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..core.arrays import Array, Namespace, as_array, sigmoid
from ..core.schedules import VE, VP, Flow, Schedule
from ._base import Base
from ._base import out as _out
from ._grid import GridDensity
from ._normal import ndtr_pair, ndtri, quantile_from_tails
from ._timesteps import DiscreteTimesteps

__all__ = ["Base", "DiscreteTimesteps", "GridDensity", "LogNormal", "LogitNormal", "UniformVP"]


def _check_params(mean: float, std: float) -> tuple[float, float]:
    for name, value in (("mean", mean), ("std", std)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            msg = f"{name} must be a finite number, got {value!r}"
            raise ValueError(msg)
    if std <= 0:
        msg = f"std must be positive, got {std!r}"
        raise ValueError(msg)
    return float(mean), float(std)


@dataclass(frozen=True)
class UniformVP(Base):
    """The VP level ``s`` uniform on ``[0, 1]`` (the talk's ``sigma ~ U[0, 1]``).

    Examples
    --------
    >>> from ambientloss.sampling import UniformVP
    >>> UniformVP().icdf(0.25), UniformVP().survival(0.75)
    (0.25, 0.25)
    """

    @property
    def schedule(self) -> Schedule:
        return VP()

    def tails(self, level: Array, xp: Namespace) -> tuple[Array, Array]:
        zero, one = xp.zeros_like(level), xp.ones_like(level)
        c = xp.minimum(xp.maximum(level, zero), one)
        return c, 1 - c

    def from_tails(self, c: Array, s: Array, xp: Namespace) -> Array:
        return xp.where(c <= s, c, 1 - s)


@dataclass(frozen=True)
class _NormalBase(Base):
    """A monotone transform ``level = g(mean + std * Z)`` of a standard normal ``Z``."""

    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self) -> None:
        mean, std = _check_params(self.mean, self.std)
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    def _to_normal(self, level: Array, xp: Namespace) -> Array:
        raise NotImplementedError

    def _from_normal(self, x: Array, xp: Namespace) -> Array:
        raise NotImplementedError

    def tails(self, level: Array, xp: Namespace) -> tuple[Array, Array]:
        return ndtr_pair((self._to_normal(level, xp) - self.mean) / self.std, xp)

    def from_tails(self, c: Array, s: Array, xp: Namespace) -> Array:
        return self._from_normal(self.mean + self.std * quantile_from_tails(c, s, xp), xp)

    def icdf(self, u: Array | float, /, *, xp: Namespace | None = None) -> Any:
        arr, xp, scalar = as_array(u, "u", xp)
        return _out(self._from_normal(self.mean + self.std * ndtri(arr, xp), xp), scalar)

    def isf(self, q: Array | float, /, *, xp: Namespace | None = None) -> Any:
        arr, xp, scalar = as_array(q, "q", xp)
        return _out(self._from_normal(self.mean - self.std * ndtri(arr, xp), xp), scalar)


@dataclass(frozen=True)
class LogNormal(_NormalBase):
    r"""EDM's log-normal VE level: ``log sigma ~ N(mean, std^2)``.

    ``cdf(sigma) = Phi((log sigma - mean) / std)``, ``icdf(u) = exp(mean + std Phi^{-1}(u))``.

    Examples
    --------
    >>> from ambientloss.sampling import LogNormal
    >>> base = LogNormal()                                  # EDM: mean -1.2, std 1.2
    >>> round(base.icdf(0.5), 6), round(base.cdf(base.icdf(0.9)), 12)
    (0.301194, 0.9)
    """

    mean: float = -1.2
    std: float = 1.2

    @property
    def schedule(self) -> Schedule:
        return VE()

    def _to_normal(self, level: Array, xp: Namespace) -> Array:
        positive = level > 0
        logs = xp.log(xp.where(positive, level, xp.ones_like(level)))
        return xp.where(positive, logs, xp.full_like(level, -math.inf))

    def _from_normal(self, x: Array, xp: Namespace) -> Array:
        return xp.exp(x)


@dataclass(frozen=True)
class LogitNormal(_NormalBase):
    r"""Flow-matching logit-normal time: ``logit t ~ N(mean, std^2)``, ``t`` in ``[0, 1]`` (noise at 1).

    ``cdf(t) = Phi((log t - log(1 - t) - mean) / std)``, ``icdf(u) = sigmoid(mean + std Phi^{-1}(u))``.

    Examples
    --------
    >>> from ambientloss.sampling import LogitNormal
    >>> LogitNormal().icdf(0.5), LogitNormal().cdf(0.5)
    (0.5, 0.5)
    """

    mean: float = 0.0
    std: float = 1.0

    @property
    def schedule(self) -> Schedule:
        return Flow()

    def _to_normal(self, level: Array, xp: Namespace) -> Array:
        inside = (level > 0) & (level < 1)
        safe = xp.where(inside, level, xp.full_like(level, 0.5))
        logit = xp.log(safe) - xp.log1p(-safe)
        return xp.where(
            inside, logit, xp.where(level <= 0, xp.full_like(level, -math.inf), xp.full_like(level, math.inf))
        )

    def _from_normal(self, x: Array, xp: Namespace) -> Array:
        return sigmoid(x, xp)
