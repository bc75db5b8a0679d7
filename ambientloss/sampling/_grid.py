"""A user-given density of noise levels on a grid (piecewise linear)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..core.arrays import Array, Namespace, device_of, to_numpy
from ..core.schedules import Schedule, get_schedule
from ._base import Base

__all__ = ["GridDensity"]


class GridDensity(Base):
    r"""A user-given density of levels: linear between grid points, zero outside the grid.

    The density at level ``x`` in ``[grid[i], grid[i+1]]`` is the linear interpolation
    ``p(x) = density[i] + (density[i+1] - density[i]) (x - grid[i]) / (grid[i+1] - grid[i])``, divided
    by the trapezoid-rule total ``sum_i (grid[i+1] - grid[i]) (density[i] + density[i+1]) / 2``, so
    ``density`` need not be normalised. The CDF is piecewise quadratic and is inverted exactly per cell
    (the stable root of the quadratic). Cell masses are accumulated from both ends, so the survival
    function has no cancellation in the upper tail.

    Parameters
    ----------
    grid : array-like
        Strictly increasing levels (at least two) inside the schedule's domain.
    density : array-like
        Non-negative finite values at the grid points, with positive total mass.
    schedule : str or Schedule
        Units of ``grid`` (keyword-only, required).

    Examples
    --------
    >>> from ambientloss.sampling import GridDensity
    >>> tri = GridDensity([0.0, 0.5, 1.0], [0.0, 1.0, 0.0], schedule="vp")   # triangular on [0, 1]
    >>> tri.cdf(0.25), tri.survival(0.75), tri.icdf(0.5)
    (0.125, 0.125, 0.5)
    """

    def __init__(self, grid: Any, density: Any, *, schedule: Any) -> None:
        g = np.asarray(to_numpy(grid) if hasattr(grid, "shape") else grid, dtype=np.float64)
        p = np.asarray(to_numpy(density) if hasattr(density, "shape") else density, dtype=np.float64)
        sched = get_schedule(schedule)
        if g.ndim != 1 or g.size < 2 or p.shape != g.shape:
            msg = f"grid and density must be 1-D of the same length >= 2, got shapes {g.shape} and {p.shape}"
            raise ValueError(msg)
        if not np.all(np.isfinite(g)) or np.any(np.diff(g) <= 0):
            msg = "grid must be finite and strictly increasing"
            raise ValueError(msg)
        if g[0] < sched.lower or g[-1] > sched.upper:
            domain = f"[{sched.lower}, {sched.upper}]"
            msg = f"grid [{g[0]}, {g[-1]}] leaves the domain {domain} of the {sched.name!r} schedule"
            raise ValueError(msg)
        if not np.all(np.isfinite(p)) or np.any(p < 0):
            bad = int(np.argwhere(~(np.isfinite(p) & (p >= 0)))[0, 0])
            msg = f"density must be finite and non-negative; density[{bad}] = {p[bad]}"
            raise ValueError(msg)
        cells = np.diff(g) * (p[:-1] + p[1:]) / 2
        total = math.fsum(cells)
        if not total > 0:
            msg = "density must have positive total mass on the grid"
            raise ValueError(msg)
        self._schedule = sched
        self.grid, self.density = g, p / total
        mass = cells / total
        self._left = np.concatenate([[0.0], np.cumsum(mass)])  # P(X <= grid[i])
        self._right = np.concatenate([np.cumsum(mass[::-1])[::-1], [0.0]])  # P(X > grid[i])
        self._left[-1], self._right[0] = 1.0, 1.0

    @property
    def schedule(self) -> Schedule:
        return self._schedule

    def __repr__(self) -> str:
        return f"GridDensity({self.grid.size} points on [{self.grid[0]}, {self.grid[-1]}], schedule={self._schedule!r})"

    def _tables(self, like: Array, xp: Namespace) -> tuple[Array, ...]:
        def put(a: np.ndarray) -> Array:
            return xp.asarray(a, dtype=like.dtype, device=device_of(like))

        return put(self.grid), put(self.density), put(self._left), put(self._right)

    def tails(self, level: Array, xp: Namespace) -> tuple[Array, Array]:
        grid, dens, left, right = self._tables(level, xp)
        n = self.grid.size
        flat = xp.reshape(level, (-1,))
        i = xp.clip(xp.searchsorted(grid, flat, side="right") - 1, 0, n - 2)
        x0, x1 = xp.take(grid, i, axis=0), xp.take(grid, i + 1, axis=0)
        p0, p1 = xp.take(dens, i, axis=0), xp.take(dens, i + 1, axis=0)
        h = x1 - x0
        x = xp.minimum(xp.maximum(flat, x0), x1)
        a, b = x - x0, x1 - x  # distances to the cell's ends
        px = p0 + (p1 - p0) * (a / h)  # density at x
        c = xp.take(left, i, axis=0) + a * (p0 + px) / 2
        s = xp.take(right, i + 1, axis=0) + b * (px + p1) / 2
        c = xp.where(flat < grid[0], xp.zeros_like(c), xp.where(flat >= grid[-1], xp.ones_like(c), c))
        s = xp.where(flat < grid[0], xp.ones_like(s), xp.where(flat >= grid[-1], xp.zeros_like(s), s))
        return xp.reshape(c, level.shape), xp.reshape(s, level.shape)

    @staticmethod
    def _offset(mass: Array, p_near: Array, p_far: Array, h: Array, xp: Namespace) -> Array:
        """Distance ``d`` from a cell end with ``int_0^d p = mass`` (density ``p_near`` there, linear)."""
        slope = (p_far - p_near) / h
        disc = xp.maximum(p_near * p_near + 2 * slope * mass, xp.zeros_like(mass))
        den = p_near + xp.sqrt(disc)
        ok = den > 0
        return xp.where(ok, 2 * mass / xp.where(ok, den, xp.ones_like(den)), xp.zeros_like(mass))

    def from_tails(self, c: Array, s: Array, xp: Namespace) -> Array:
        grid, dens, left, right = self._tables(c, xp)
        n = self.grid.size
        cf, sf = xp.reshape(c, (-1,)), xp.reshape(s, (-1,))
        # from the left: the cell whose cumulative mass brackets c
        i = xp.clip(xp.searchsorted(left, cf, side="right") - 1, 0, n - 2)
        x0, h = xp.take(grid, i, axis=0), xp.take(grid, i + 1, axis=0) - xp.take(grid, i, axis=0)
        d = self._offset(cf - xp.take(left, i, axis=0), xp.take(dens, i, axis=0), xp.take(dens, i + 1, axis=0), h, xp)
        from_left = xp.minimum(x0 + d, xp.take(grid, i + 1, axis=0))
        # from the right: the same on the reversed survival table
        rev = xp.flip(right)
        k = xp.clip(xp.searchsorted(rev, sf, side="right") - 1, 0, n - 2)  # cell (n-2-k)
        j = (n - 2) - k
        x1, h = xp.take(grid, j + 1, axis=0), xp.take(grid, j + 1, axis=0) - xp.take(grid, j, axis=0)
        d = self._offset(sf - xp.take(rev, k, axis=0), xp.take(dens, j + 1, axis=0), xp.take(dens, j, axis=0), h, xp)
        from_right = xp.maximum(x1 - d, xp.take(grid, j, axis=0))
        return xp.reshape(xp.where(cf <= sf, from_left, from_right), c.shape)
