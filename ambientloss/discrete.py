r"""Discrete (DDPM-style) schedules from ``betas`` / ``alphas_cumprod``, with timestep lookups.

A :class:`Discrete` schedule is the VP schedule measured in the same unit, ``s = sqrt(1 - ac[t])``
(diffusers' ``add_noise`` uses ``a = sqrt(ac[t])``, ``b = sqrt(1 - ac[t])``), plus a table that maps
integer timesteps to levels and back. Ambient functions take the levels, not timesteps: convert
with :meth:`Discrete.sigma_for_timestep` and :meth:`Discrete.timestep_for_sigma`.
"""

from __future__ import annotations

import math
from typing import Any

import array_api_compat
import numpy as np

from ._arrays import Array, Namespace, device_of, namespace, to_numpy
from .schedules import VP

__all__ = ["BETA_SCHEDULES", "Discrete"]

BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")


def _cosine_betas(n: int, max_beta: float = 0.999) -> np.ndarray:
    def alpha_bar(t: float) -> float:
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    return np.array([min(1 - alpha_bar((i + 1) / n) / alpha_bar(i / n), max_beta) for i in range(n)])


class Discrete(VP):
    """A DDPM-style discrete schedule; levels are ``s = sqrt(1 - alphas_cumprod[t])``.

    Parameters
    ----------
    alphas_cumprod : array-like
        Decreasing cumulative products ``prod_{k<=t} (1 - beta_k)`` in ``(0, 1]``, one per timestep
        (any array library; stored as float64 NumPy).

    Examples
    --------
    >>> from ambientloss import Discrete
    >>> sched = Discrete.from_diffusers("squaredcos_cap_v2", num_train_timesteps=100)
    >>> t = sched.timestep_for_sigma(sched.sigma_for_timestep(42))
    >>> int(t)
    42
    """

    name = "discrete"

    def __init__(self, alphas_cumprod: Any) -> None:
        table = to_numpy(alphas_cumprod).astype(np.float64) if hasattr(alphas_cumprod, "shape") else None
        ac = np.asarray(alphas_cumprod if table is None else table, dtype=np.float64)
        if ac.ndim != 1 or ac.size == 0:
            msg = f"alphas_cumprod must be a non-empty 1-D array, got shape {ac.shape}"
            raise ValueError(msg)
        if not np.all((ac > 0) & (ac <= 1)):
            bad = int(np.argwhere(~((ac > 0) & (ac <= 1)))[0, 0])
            msg = f"alphas_cumprod must lie in (0, 1]; alphas_cumprod[{bad}] = {ac[bad]}"
            raise ValueError(msg)
        if np.any(np.diff(ac) > 0):
            bad = int(np.argwhere(np.diff(ac) > 0)[0, 0]) + 1
            msg = f"alphas_cumprod must be non-increasing; it increases at index {bad}"
            raise ValueError(msg)
        self.alphas_cumprod = ac
        self.sigmas = np.sqrt(1 - ac)

    @classmethod
    def from_betas(cls, betas: Any, *, dtype: str = "float32") -> Discrete:
        """Build from ``betas``; the cumulative product runs in ``dtype`` (float32 as in diffusers)."""
        b = (to_numpy(betas) if hasattr(betas, "shape") else np.asarray(betas)).astype(dtype)
        if b.ndim != 1 or not np.all((b > 0) & (b < 1)):
            msg = "betas must be a 1-D array with every entry in (0, 1)"
            raise ValueError(msg)
        return cls(np.cumprod(1 - b, dtype=dtype))

    @classmethod
    def from_diffusers(
        cls,
        beta_schedule: str = "linear",
        *,
        num_train_timesteps: int = 1000,
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
    ) -> Discrete:
        """The table of a diffusers ``DDPMScheduler`` config (linear, scaled_linear, squaredcos_cap_v2)."""
        n = int(num_train_timesteps)
        if n < 1:
            msg = f"num_train_timesteps must be positive, got {num_train_timesteps}"
            raise ValueError(msg)
        if beta_schedule == "linear":
            betas = np.linspace(beta_start, beta_end, n, dtype=np.float32)
        elif beta_schedule == "scaled_linear":
            betas = np.linspace(beta_start**0.5, beta_end**0.5, n, dtype=np.float32) ** 2
        elif beta_schedule == "squaredcos_cap_v2":
            betas = _cosine_betas(n).astype(np.float32)
        else:
            msg = f"unknown beta_schedule {beta_schedule!r}; valid values are {', '.join(map(repr, BETA_SCHEDULES))}"
            raise ValueError(msg)
        return cls.from_betas(betas)

    @classmethod
    def from_scheduler(cls, scheduler: Any) -> Discrete:
        """Read ``alphas_cumprod`` from a diffusers-style scheduler object (duck-typed)."""
        table = getattr(scheduler, "alphas_cumprod", None)
        if table is None:
            msg = f"{type(scheduler).__name__} has no alphas_cumprod; pass a DDPM/DDIM-style scheduler"
            raise TypeError(msg)
        return cls(table)

    @property
    def num_train_timesteps(self) -> int:
        """Number of timesteps in the table."""
        return int(self.alphas_cumprod.size)

    def _table(self, like: Array, dtype: Any, xp: Namespace) -> Array:
        return xp.asarray(self.sigmas, dtype=dtype, device=device_of(like))

    def sigma_for_timestep(self, t: Array | int, /, *, dtype: Any = None, xp: Namespace | None = None) -> Array:
        """Level ``sqrt(1 - alphas_cumprod[t])`` of integer timesteps ``t`` (float32 by default)."""
        if isinstance(t, int):
            t = np.asarray(t)
        xp = namespace({"t": t}, xp)
        if not xp.isdtype(t.dtype, "integral"):
            msg = f"t must be integer timesteps, got dtype {t.dtype}"
            raise TypeError(msg)
        n = self.num_train_timesteps
        t_np = None if array_api_compat.is_jax_array(t) and not _concrete(t) else to_numpy(t)
        if t_np is not None and t_np.size and (t_np.min() < 0 or t_np.max() >= n):
            bad = t_np.min() if t_np.min() < 0 else t_np.max()
            msg = f"timestep {int(bad)} is outside [0, {n - 1}]"
            raise ValueError(msg)
        table = self._table(t, dtype if dtype is not None else xp.float32, xp)
        return xp.reshape(xp.take(table, xp.reshape(t, (-1,)), axis=0), t.shape)

    def timestep_for_sigma(self, sigma: Array | float, /, *, xp: Namespace | None = None) -> Array:
        """Smallest timestep whose level is at least ``sigma`` (so level 0 maps to timestep 0).

        Compares in ``sigma``'s dtype, so ``timestep_for_sigma(sigma_for_timestep(t)) == t`` unless
        two neighbouring levels round to the same value.
        """
        if isinstance(sigma, float):
            sigma = np.asarray(sigma)
        xp = namespace({"sigma": sigma}, xp)
        table = self._table(sigma, sigma.dtype, xp)
        top = to_numpy(table)[-1]
        s_np = None if array_api_compat.is_jax_array(sigma) and not _concrete(sigma) else to_numpy(sigma)
        if s_np is not None and s_np.size and (np.any(s_np < 0) or np.any(s_np > top) or np.any(np.isnan(s_np))):
            msg = (
                f"sigma must lie in [0, {top}] (the table's largest level), got values in [{s_np.min()}, {s_np.max()}]"
            )
            raise ValueError(msg)
        flat = xp.reshape(sigma, (-1,))
        return xp.reshape(xp.searchsorted(table, flat, side="left"), sigma.shape)

    def __repr__(self) -> str:
        return f"Discrete(num_train_timesteps={self.num_train_timesteps})"


def _concrete(x: Array) -> bool:
    import jax  # only reached for JAX arrays, so JAX is already imported

    return not isinstance(x, jax.core.Tracer)
