r"""Discrete (DDPM-style) schedules from ``betas`` / ``alphas_cumprod``, with timestep lookups.

A :class:`Discrete` schedule is the VP schedule measured in the same unit, ``s = sqrt(1 - ac[t])``
(diffusers' ``add_noise`` uses ``a = sqrt(ac[t])``, ``b = sqrt(1 - ac[t])``), plus a table that maps
integer timesteps to levels and back. Ambient functions take the levels, not timesteps: convert
with :meth:`Discrete.sigma_for_timestep` and :meth:`Discrete.timestep_for_sigma`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

import array_api_compat
import numpy as np

from .arrays import Array, Namespace, device_of, namespace, to_numpy
from .schedules import VP

__all__ = ["BETA_SCHEDULES", "Discrete"]

BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid", "laplace")
"""The ``beta_schedule`` values of diffusers' ``DDPMScheduler`` that :meth:`Discrete.from_diffusers` rebuilds."""


def _cosine_alpha_bar(t: float) -> float:
    """Glide's cosine ``alpha_bar(t)`` with offset 0.008 (``squaredcos_cap_v2``)."""
    return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2


def _laplace_alpha_bar(t: float) -> float:
    """diffusers' ``laplace`` ``alpha_bar(t)``: a log-SNR with a Laplace-shaped density around ``t = 1/2``."""
    log_snr = -0.5 * math.copysign(1.0, 0.5 - t) * math.log(1 - 2 * abs(0.5 - t) + 1e-6)
    snr = math.exp(log_snr)
    return math.sqrt(snr / (1 + snr))


def _alpha_bar_betas(n: int, alpha_bar: Callable[[float], float], max_beta: float = 0.999) -> np.ndarray:
    """``beta_i = min(1 - alpha_bar((i+1)/n) / alpha_bar(i/n), max_beta)``, in float64."""
    return np.array([min(1 - alpha_bar((i + 1) / n) / alpha_bar(i / n), max_beta) for i in range(n)])


def _zero_terminal_snr(betas: np.ndarray) -> np.ndarray:
    """Rescale ``betas`` so that ``alphas_cumprod[-1] == 0`` (Lin et al. 2023, Algorithm 1), in ``betas``' dtype.

    ``sqrt(alphas_cumprod)`` is shifted so that its last entry is 0 and scaled so that its first
    entry keeps its value; the last beta becomes exactly 1.
    """
    root = np.sqrt(np.cumprod(1 - betas, dtype=betas.dtype))
    first, last = root[0], root[-1]
    root = (root - last) * (first / (first - last))
    ac = root * root
    return 1 - np.concatenate([ac[:1], ac[1:] / ac[:-1]])


class Discrete(VP):
    """A DDPM-style discrete schedule; levels are ``s = sqrt(1 - alphas_cumprod[t])``.

    Parameters
    ----------
    alphas_cumprod : array-like
        Non-increasing cumulative products ``prod_{k<=t} (1 - beta_k)`` in ``[0, 1]``, one per timestep
        (any array library; stored as float64 NumPy). A final 0 (zero terminal SNR) is the level
        ``s = 1``, the top of the VP schedule.

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
        inside = (ac >= 0) & (ac <= 1)
        inside[0] &= ac[0] > 0
        if not np.all(inside):
            bad = int(np.argwhere(~inside)[0, 0])
            msg = f"alphas_cumprod must lie in [0, 1] with a positive first entry; alphas_cumprod[{bad}] = {ac[bad]}"
            raise ValueError(msg)
        if np.any(np.diff(ac) > 0):
            bad = int(np.argwhere(np.diff(ac) > 0)[0, 0]) + 1
            msg = f"alphas_cumprod must be non-increasing; it increases at index {bad}"
            raise ValueError(msg)
        self.alphas_cumprod = ac
        self.sigmas = np.sqrt(1 - ac)

    @classmethod
    def from_betas(cls, betas: Any, *, dtype: str = "float32") -> Discrete:
        """Build from ``betas``; the cumulative product runs in ``dtype`` (float32 as in diffusers).

        A last beta of exactly 1 (zero terminal SNR) is allowed.
        """
        b = (to_numpy(betas) if hasattr(betas, "shape") else np.asarray(betas)).astype(dtype)
        if b.ndim != 1 or b.size == 0 or not np.all((b > 0) & (b < 1) | ((b == 1) & (np.arange(b.size) == b.size - 1))):
            msg = "betas must be a 1-D array with every entry in (0, 1) (the last one may be exactly 1)"
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
        rescale_betas_zero_snr: bool = False,
    ) -> Discrete:
        """The table of a diffusers ``DDPMScheduler`` / ``DDIMScheduler`` config.

        ``beta_schedule`` is one of :data:`BETA_SCHEDULES`: ``"linear"``, ``"scaled_linear"``
        (``linspace`` of the square roots, squared), ``"squaredcos_cap_v2"`` (Glide's cosine),
        ``"sigmoid"`` (GeoDiff: ``sigmoid(linspace(-6, 6))`` scaled to ``[beta_start, beta_end]``)
        and ``"laplace"``. ``rescale_betas_zero_snr`` rescales the betas to a zero terminal SNR, so
        the last level is ``s = 1``. The betas and the cumulative product are float32, as in
        diffusers, but rounded in another order: the table agrees with the scheduler's
        ``alphas_cumprod`` within ``num_train_timesteps`` float32 ulp (a few tens at 1000 steps). For
        the scheduler's own table bit for bit, use :meth:`from_scheduler`.

        Examples
        --------
        >>> from ambientloss import Discrete
        >>> table = Discrete.from_diffusers("sigmoid", num_train_timesteps=100, rescale_betas_zero_snr=True)
        >>> float(table.sigmas[-1])     # zero terminal SNR: the last level is the top of the VP schedule
        1.0
        """
        n = int(num_train_timesteps)
        if n < 1:
            msg = f"num_train_timesteps must be positive, got {num_train_timesteps}"
            raise ValueError(msg)
        if beta_schedule == "linear":
            betas = np.linspace(beta_start, beta_end, n, dtype=np.float32)
        elif beta_schedule == "scaled_linear":
            betas = np.linspace(beta_start**0.5, beta_end**0.5, n, dtype=np.float32) ** 2
        elif beta_schedule == "squaredcos_cap_v2":
            betas = _alpha_bar_betas(n, _cosine_alpha_bar).astype(np.float32)
        elif beta_schedule == "laplace":
            betas = _alpha_bar_betas(n, _laplace_alpha_bar).astype(np.float32)
        elif beta_schedule == "sigmoid":
            grid = np.linspace(-6, 6, n, dtype=np.float32)
            betas = (1 / (1 + np.exp(-grid))) * np.float32(beta_end - beta_start) + np.float32(beta_start)
        else:
            msg = f"unknown beta_schedule {beta_schedule!r}; valid values are {', '.join(map(repr, BETA_SCHEDULES))}"
            raise ValueError(msg)
        if rescale_betas_zero_snr:
            if n < 2:
                msg = f"rescale_betas_zero_snr needs at least 2 timesteps, got num_train_timesteps={n}"
                raise ValueError(msg)
            betas = _zero_terminal_snr(betas)
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
    jax = sys.modules["jax"]  # only reached for JAX arrays, so JAX is already imported

    return not isinstance(x, jax.core.Tracer)
