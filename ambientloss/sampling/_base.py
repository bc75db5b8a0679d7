"""The interface shared by every base distribution of noise levels."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..core.arrays import Array, Namespace, as_array
from ..core.schedules import Schedule

__all__ = ["Base", "out"]


def out(value: Array, scalar: bool) -> Any:
    return float(value) if scalar else value


class Base:
    """Interface of a base distribution; subclasses implement :meth:`tails` and :meth:`from_tails`.

    ``tails(level)`` returns ``(P(X <= level), P(X > level))`` from one evaluation, and
    ``from_tails(c, s)`` the level whose CDF is ``c`` and survival ``s`` (``c + s = 1``), computed from
    the smaller of the two so that both tails keep their relative accuracy.
    """

    if TYPE_CHECKING:  # every subclass provides it, as a (read-only) property or an attribute

        @property
        def schedule(self) -> Schedule:
            """The schedule whose units the levels are in."""
            ...

    #: whether the law has atoms (only :class:`DiscreteTimesteps`)
    discrete: bool = False

    def tails(self, level: Array, xp: Namespace) -> tuple[Array, Array]:
        raise NotImplementedError

    def from_tails(self, c: Array, s: Array, xp: Namespace) -> Array:
        raise NotImplementedError

    def cdf(self, level: Array | float, /, *, xp: Namespace | None = None) -> Any:
        """``P(X <= level)``."""
        arr, xp, scalar = as_array(level, "level", xp)
        return out(self.tails(arr, xp)[0], scalar)

    def survival(self, level: Array | float, /, *, xp: Namespace | None = None) -> Any:
        """``P(X > level)``, accurate relative to itself in the upper tail."""
        arr, xp, scalar = as_array(level, "level", xp)
        return out(self.tails(arr, xp)[1], scalar)

    def icdf(self, u: Array | float, /, *, xp: Namespace | None = None) -> Any:
        """Inverse CDF: the level ``x`` with ``P(X <= x) = u``, for ``u`` in ``[0, 1)``."""
        arr, xp, scalar = as_array(u, "u", xp)
        return out(self.from_tails(arr, 1 - arr, xp), scalar)

    def isf(self, q: Array | float, /, *, xp: Namespace | None = None) -> Any:
        """Inverse survival function: the level ``x`` with ``P(X > x) = q``, for ``q`` in ``(0, 1]``."""
        arr, xp, scalar = as_array(q, "q", xp)
        return out(self.from_tails(1 - arr, arr, xp), scalar)
