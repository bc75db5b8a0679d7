r"""Grids of noise levels to evaluate a classifier on, in the units of the schedule that noises the data.

* :func:`vp_uniform_grid`: VP levels ``s`` evenly spaced in ``(0, 1)`` (or any ``[low, high]`` with ``high < 1``).
* :func:`edm_lognormal_grid`: VE/EDM levels distributed like the EDM training levels
  :math:`\sigma = \exp(P_\text{mean} + P_\text{std} Z)`, either at the ``n`` midpoint quantiles (a
  deterministic grid, dense where training levels are dense) or as ``n`` sorted seeded draws (the
  construction of Ambient-o, which used 2048 draws of ``(-1.2, 1.2)``; draws from NumPy's generator,
  so the same distribution but not the same numbers as a grid drawn with another library).
* :func:`ddpm_timestep_grid`: the levels ``s = sqrt(1 - alphas_cumprod[t])`` of a
  :class:`~ambientloss.Discrete` schedule at its timesteps (robot policies trained with DDPM).

Every builder returns a float64 NumPy array unless ``xp`` (and ``device``) say otherwise.

No grid puts a level where a selection rule's decision could not be used or not be trusted:

* never at pure noise (VP ``s = 1``, ``a = 0``): there the noised clean and corrupt laws are the same
  law, so their total variation is exactly 0 and the criterion holds for every sample; what a trained
  classifier reads there is its calibration error alone (a classifier that reads 0.44 instead of 0.5
  fails ``rule="monotone"`` at the top for everyone). The level carries no information and can only
  add error, so the grids end below it, and :func:`~ambientloss.annotation.classifier_trajectory`
  refuses a grid that reaches it;
* never at a table's last timestep: :func:`~ambientloss.sampling.truncated_timesteps` draws strictly
  above ``sigma_min``, and nothing lies above the last timestep.

So the default ``fallback="largest"`` (the grid's last level) can be drawn by every sampler.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np

from ..core.arrays import Array, Namespace
from ..core.discrete import Discrete

__all__ = ["ddpm_timestep_grid", "edm_lognormal_grid", "vp_uniform_grid"]


def _size(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        msg = f"n must be a positive integer (the number of levels), got {n!r}"
        raise ValueError(msg)
    return int(n)


def _out(values: np.ndarray, xp: Namespace | None, dtype: Any, device: Any) -> Array:
    if xp is None:
        return values if dtype is None else values.astype(dtype)
    return xp.asarray(values, dtype=xp.float64 if dtype is None else dtype, device=device)


def vp_uniform_grid(
    n: int,
    /,
    *,
    low: float | None = None,
    high: float | None = None,
    xp: Namespace | None = None,
    dtype: Any = None,
    device: Any = None,
) -> Array:
    """``n`` VP levels evenly spaced on ``[low, high]``; by default ``s_k = k / (n + 1)`` for ``k = 1..n``.

    The grid ends below pure noise (``high < 1``; see the module notes): by default one step below it.
    ``low`` defaults to ``high / n``.

    Examples
    --------
    >>> from ambientloss.annotation import vp_uniform_grid
    >>> vp_uniform_grid(4)
    array([0.2, 0.4, 0.6, 0.8])
    """
    n = _size(n)
    high = n / (n + 1) if high is None else float(high)
    low = high / n if low is None else float(low)
    if high >= 1.0:
        msg = (
            f"high={high} is pure noise (a = 0) or beyond: the noised clean and corrupt data are one law there, "
            "so no classifier can be calibrated and a selection rule would read only its error; end the grid "
            "below 1 (the default ends at n / (n + 1))"
        )
        raise ValueError(msg)
    if not 0.0 <= low <= high or (n > 1 and low == high):
        msg = f"VP levels need 0 <= low < high < 1, got low={low}, high={high}"
        raise ValueError(msg)
    return _out(np.linspace(low, high, n), xp, dtype, device)


def edm_lognormal_grid(
    n: int,
    /,
    *,
    p_mean: float = -1.2,
    p_std: float = 1.2,
    method: str = "quantiles",
    seed: int = 42,
    xp: Namespace | None = None,
    dtype: Any = None,
    device: Any = None,
) -> Array:
    r"""``n`` VE levels following the EDM log-normal :math:`\exp(P_\text{mean} + P_\text{std} Z)`.

    ``method="quantiles"`` gives :math:`\exp(P_\text{mean} + P_\text{std}\,\Phi^{-1}((k + 1/2) / n))`,
    ``k = 0..n-1``; ``method="draws"`` sorts ``n`` draws of NumPy's generator seeded with ``seed``.

    Examples
    --------
    >>> from ambientloss.annotation import edm_lognormal_grid
    >>> g = edm_lognormal_grid(3)
    >>> round(float(g[1]), 6), round(float(g[0] * g[2]), 6)   # median exp(-1.2); symmetric in log
    (0.301194, 0.090718)
    """
    n = _size(n)
    std = float(p_std)
    if not (math.isfinite(float(p_mean)) and math.isfinite(std) and std > 0):
        msg = f"p_mean must be finite and p_std positive, got p_mean={p_mean}, p_std={p_std}"
        raise ValueError(msg)
    if method == "quantiles":
        normal = NormalDist()
        z = np.array([normal.inv_cdf((k + 0.5) / n) for k in range(n)])
    elif method == "draws":
        z = np.sort(np.random.default_rng(seed).standard_normal(n))
        if np.any(np.diff(z) <= 0):  # a repeated draw would make the grid not strictly increasing
            msg = f"seed {seed} gave two equal draws; choose another seed"
            raise ValueError(msg)
    else:
        msg = f"method must be 'quantiles' or 'draws', got {method!r}"
        raise ValueError(msg)
    return _out(np.exp(float(p_mean) + std * z), xp, dtype, device)


def ddpm_timestep_grid(
    schedule: Discrete,
    /,
    *,
    timesteps: Any = None,
    xp: Namespace | None = None,
    dtype: Any = None,
    device: Any = None,
) -> Array:
    """VP levels ``sqrt(1 - alphas_cumprod[t])`` of a :class:`~ambientloss.Discrete` schedule.

    ``timesteps`` (default: all but the last) must be strictly increasing integers below the last
    timestep, whose level nothing lies above (see the module notes); the grid is then in the
    schedule's (VP) units, and ``schedule.timestep_for_sigma`` maps a selected level back to its timestep.

    Examples
    --------
    >>> from ambientloss import Discrete
    >>> from ambientloss.annotation import ddpm_timestep_grid
    >>> sched = Discrete.from_diffusers("squaredcos_cap_v2", num_train_timesteps=100)
    >>> grid = ddpm_timestep_grid(sched)
    >>> grid.shape, int(sched.timestep_for_sigma(grid[18]))
    ((99,), 18)
    """
    if not isinstance(schedule, Discrete):
        msg = f"schedule must be an ambientloss.Discrete table, got {type(schedule).__name__}"
        raise TypeError(msg)
    n = schedule.num_train_timesteps
    steps = np.arange(max(n - 1, 1)) if timesteps is None else np.asarray(timesteps)
    if (
        steps.ndim != 1
        or steps.size == 0
        or not np.issubdtype(steps.dtype, np.integer)
        or steps.min() < 0
        or steps.max() >= n
        or np.any(np.diff(steps) <= 0)
    ):
        msg = f"timesteps must be strictly increasing integers in [0, {n - 1}], got {steps!r}"
        raise ValueError(msg)
    if n > 1 and steps.max() == n - 1:
        msg = (
            f"timesteps include the table's last timestep {n - 1}: a sample annotated there has no timestep above "
            "it to be drawn at (truncated_timesteps draws strictly above sigma_min), and its level is the one "
            "nearest pure noise; leave it out"
        )
        raise ValueError(msg)
    levels = schedule.sigmas[steps]
    if np.any(np.diff(levels) <= 0):
        bad = int(steps[1:][np.diff(levels) <= 0][0])
        msg = f"the schedule's level does not increase at timestep {bad}; drop repeated levels from timesteps"
        raise ValueError(msg)
    return _out(levels, xp, dtype, device)
