"""Uniform integer timesteps of a discrete (DDPM) table."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from ..core.arrays import Array, Namespace, as_array, device_of
from ..core.discrete import Discrete
from ._base import Base

__all__ = ["DiscreteTimesteps"]


class DiscreteTimesteps(Base):
    r"""Uniform over the integer timesteps ``0, ..., N-1`` of a :class:`~ambientloss.Discrete` schedule.

    The levels are the schedule's ``s_t = sqrt(1 - alphas_cumprod[t])`` (VP units). Diffusion-policy
    networks are conditioned on the timestep: :meth:`timestep` recovers it from a level drawn here,
    and :func:`~ambientloss.sampling.truncated_timesteps` draws the timesteps directly.

    Examples
    --------
    >>> from ambientloss import Discrete
    >>> from ambientloss.sampling import DiscreteTimesteps
    >>> base = DiscreteTimesteps(Discrete.from_diffusers("squaredcos_cap_v2", num_train_timesteps=100))
    >>> base.num_timesteps, base.survival(float(base.levels[89]))       # timesteps 90..99 lie above
    (100, 0.1)
    """

    discrete = True

    def __init__(self, schedule: Discrete) -> None:
        if not isinstance(schedule, Discrete):
            msg = f"schedule must be an ambientloss.Discrete table, got {type(schedule).__name__}"
            raise TypeError(msg)
        self._schedule = schedule
        self._table = schedule.sigmas.copy()

    @classmethod
    def from_diffusers(cls, beta_schedule: str = "linear", **kwargs: Any) -> DiscreteTimesteps:
        """Uniform timesteps of :meth:`ambientloss.Discrete.from_diffusers` with the same arguments."""
        return cls(Discrete.from_diffusers(beta_schedule, **kwargs))

    @property
    def schedule(self) -> Discrete:
        return self._schedule

    @property
    def levels(self) -> np.ndarray:
        """The level of every timestep, float64 (a copy)."""
        return self._table.copy()

    @property
    def num_timesteps(self) -> int:
        return int(self._table.size)

    @property
    def num_zero_levels(self) -> int:
        """Timesteps at level 0 (never usable; 0 for every DDPM table)."""
        return int((self._table <= 0).sum())

    def __repr__(self) -> str:
        return f"DiscreteTimesteps({self._schedule!r})"

    def table(self, like: Array, xp: Namespace) -> Array:
        """The levels in the dtype and on the device of ``like``."""
        return xp.asarray(self._table, dtype=like.dtype, device=device_of(like))

    def tails(self, level: Array, xp: Namespace) -> tuple[Array, Array]:
        table = self.table(level, xp)
        above = xp.searchsorted(table, xp.reshape(level, (-1,)), side="right")
        c = xp.reshape(xp.astype(above, level.dtype), level.shape) / self.num_timesteps
        s = xp.reshape(xp.astype(self.num_timesteps - above, level.dtype), level.shape) / self.num_timesteps
        return c, s

    def index_from_tails(self, c: Array, s: Array, xp: Namespace) -> Array:
        """Timestep ``floor(c N)`` (or ``N - ceil(s N)`` from the upper tail), clipped to ``[0, N-1]``."""
        n = self.num_timesteps
        k = xp.where(c <= s, xp.floor(c * n), n - xp.ceil(s * n))
        return xp.astype(xp.clip(k, 0, n - 1), xp.int64 if not _is_jax32(xp) else xp.int32)

    def from_tails(self, c: Array, s: Array, xp: Namespace) -> Array:
        k = self.index_from_tails(c, s, xp)
        return xp.reshape(xp.take(self.table(c, xp), xp.reshape(k, (-1,)), axis=0), c.shape)

    def timestep(self, level: Array, /, *, xp: Namespace | None = None) -> Array:
        """The timestep of each level of the table (the first one where two levels coincide)."""
        arr, xp, _ = as_array(level, "level", xp)
        idx = xp.searchsorted(self.table(arr, xp), xp.reshape(arr, (-1,)), side="left")
        return xp.reshape(idx, arr.shape)

    def sigma_for_timestep(self, timesteps: Array | int, /, *, dtype: Any = None, xp: Namespace | None = None) -> Array:
        """Levels of integer timesteps (:meth:`ambientloss.Discrete.sigma_for_timestep`)."""
        return self._schedule.sigma_for_timestep(timesteps, dtype=dtype, xp=xp)


def _is_jax32(xp: Namespace) -> bool:
    """Whether ``xp`` is JAX without 64-bit types (then integer indices are int32)."""
    if not getattr(xp, "__name__", "").startswith("jax"):
        return False
    return not sys.modules["jax"].config.jax_enable_x64  # a JAX namespace: JAX is imported
