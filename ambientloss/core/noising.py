r"""The forward process and the transition kernel from level ``sigma_min`` up to ``sigma``."""

from __future__ import annotations

from typing import Any

from ._domain import data_after_levels, single_level
from .arrays import Array, Namespace, cast, check_data, compute_dtype
from .levels import Levels, pair_levels
from .schedules import DEFAULT_SCHEDULE
from .targets import kernel

__all__ = ["add_noise", "renoise"]


def add_noise(
    x0: Array,
    sigma: Array | float,
    noise: Array,
    /,
    *,
    schedule: Any = DEFAULT_SCHEDULE,
    xp: Namespace | None = None,
) -> Array:
    r"""Forward process ``x_t = a(sigma) * x0 + b(sigma) * noise``.

    Parameters
    ----------
    x0 : array
        Clean data, any shape ``(B, ...)`` or one unbatched example.
    sigma : array or float
        Noise level in the schedule's units, aligned with the leading axes of ``x0``.
    noise : array
        Standard Gaussian noise, same shape as ``x0``.
    schedule, xp
        As in :func:`ambient_target`.

    Returns
    -------
    array
        ``x_t`` with the shape, dtype and namespace of ``x0``.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss import add_noise
    >>> add_noise(np.array([1.0, 2.0]), 0.5, np.array([0.0, 2.0]), schedule="ve")
    array([1., 3.])
    """
    xp = check_data({"x0": x0, "noise": noise}, {"sigma": sigma}, xp)
    _, a, b = single_level(x0, "x0", sigma, schedule, xp)
    dtype = compute_dtype(xp, x0, noise)
    out = cast(a, dtype, xp) * cast(x0, dtype, xp) + cast(b, dtype, xp) * cast(noise, dtype, xp)
    return cast(out, x0.dtype, xp)


def renoise(
    x_tmin: Array,
    sigma: Levels | Array | float,
    sigma_min: Array | float | None = None,
    noise: Array | None = None,
    /,
    *,
    schedule: Any = DEFAULT_SCHEDULE,
    xp: Namespace | None = None,
) -> Array:
    r"""Transition kernel: take ``x_tmin`` at level ``sigma_min`` to level ``sigma``.

    .. math:: x_t = \frac{a_t}{a_m} x_{t_{min}} + \frac{\sqrt{D}}{a_m} z,
              \qquad D = (a_m b_t - a_t b_m)(a_m b_t + a_t b_m).

    If ``x_tmin = a_m x0 + b_m eps_m`` then ``x_t`` has exactly the law of
    ``add_noise(x0, sigma, .)``; at ``sigma_min = 0`` the result is bit-exactly
    ``add_noise(x_tmin, sigma, noise)``. The levels come in the library's one order: the level
    trained at, then the sample's trusted level.

    Parameters
    ----------
    x_tmin : array
        Trusted sample at level ``sigma_min``.
    sigma, sigma_min : array or float
        Levels aligned with the leading axes of ``x_tmin``; ``sigma > sigma_min`` wherever
        ``sigma_min > 0``. Or one :class:`~ambientloss.Levels` in place of both:
        ``renoise(x_tmin, levels, noise)``.
    noise : array
        Fresh standard Gaussian noise, same shape as ``x_tmin``.
    schedule, xp
        As in :func:`ambient_target`.

    Returns
    -------
    array
        ``x_t`` with the shape, dtype and namespace of ``x_tmin``.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss import renoise
    >>> renoise(np.array([1.0]), 1.0, 0.6, np.array([1.0]), schedule="ve")   # sqrt(1 - 0.36) = 0.8
    array([1.8])
    """
    if isinstance(sigma, Levels):
        lv, noise = sigma, data_after_levels(sigma_min, noise, "noise")
        lv._require("x0", schedule=schedule)
        xp = check_data({"x_tmin": x_tmin, "noise": noise}, {}, xp)
    else:
        noise = data_after_levels(noise, None, "noise")
        xp = check_data({"x_tmin": x_tmin, "noise": noise}, {"sigma": sigma, "sigma_min": sigma_min}, xp)
        lv = pair_levels(x_tmin, "x_tmin", sigma, sigma_min, schedule, xp, strict=False)
    dtype = compute_dtype(xp, x_tmin, noise)
    out = kernel(lv, cast(x_tmin, dtype, xp), cast(noise, dtype, xp), lv._fitter(x_tmin, "x_tmin", dtype))
    return cast(out, x_tmin.dtype, xp)
