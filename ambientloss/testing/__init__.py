"""Exact mathematics to test ambient-diffusion implementations against (NumPy only; no torch or jax).

``ambientloss.testing.gaussian`` holds the closed-form Gaussian oracles: schedule scalars written
from their definitions, independently of :mod:`ambientloss.schedules`, and the posterior quantities
``E[x0 | x_t]``, ``E[eps | x_t]``, ``E[v | x_t]``, ``E[velocity | x_t]``, the score and
``E[x_tmin | x_t]`` for ``x0 ~ N(mu, Sigma)``.
"""

from .gaussian import CLEAN, KINDS, Gaussian, OracleSchedule, Scalars, pair_scalars, random_gaussian

__all__ = ["CLEAN", "KINDS", "Gaussian", "OracleSchedule", "Scalars", "pair_scalars", "random_gaussian"]
