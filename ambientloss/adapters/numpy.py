"""NumPy adapter: float64 reference computations with :class:`numpy.random.Generator` noise.

Every function converts its inputs to float64 NumPy arrays, so the results serve as a reference
for other implementations, and draws noise only from the generator it is given (never from
NumPy's global state). Each function taking ``(sigma, sigma_min)`` also takes one
:class:`~ambientloss.Levels` in their place, built from float64 levels: ``aln.loss_weight(levels)``.

Examples
--------
>>> import numpy as np
>>> from ambientloss.adapters import numpy as aln
>>> rng = np.random.default_rng(0)
>>> x_tmin = np.zeros((4, 16, 7))
>>> x_t, target = aln.ambient_pair(x_tmin, np.full(4, 0.6), np.full(4, 0.3), rng=rng)
>>> x_t.shape, target.dtype
((4, 16, 7), dtype('float64'))
"""

from __future__ import annotations

from typing import Any

import array_api_compat.numpy as xp
import numpy as np

from .. import sampling
from ..core import losses, noising, targets, weights
from ..core.buffer import Buffer
from ..core.levels import Levels
from ..core.schedules import DEFAULT_SCHEDULE
from ..core.weights import Weighting
from ._given import levels_for

__all__ = [
    "add_noise",
    "ambient_pair",
    "ambient_target",
    "draw_sigma",
    "loss_weight",
    "renoise",
    "sample_truncated",
    "squared_error",
    "truncated_timesteps",
]


def _f64(value: Any) -> Any:
    return value if isinstance(value, (int, float)) else np.asarray(value, dtype=np.float64)


def _pair(sigma: Any, sigma_min: Any, schedule: Any) -> tuple[Any, Any]:
    """The levels as the core takes them: ``(levels, None)`` for a float64 NumPy :class:`Levels`, else two arrays."""
    if not isinstance(sigma, Levels):
        return _f64(sigma), _f64(sigma_min)
    levels_for(sigma, schedule, "the NumPy adapter")
    if sigma.dtype != np.float64 or sigma.xp.__name__ != xp.__name__:
        msg = f"the NumPy adapter computes in float64: build the Levels from float64 NumPy levels, not {sigma!r}"
        raise TypeError(msg)
    if sigma_min is not None:
        msg = "sigma_min is part of the Levels: pass nothing in its place"
        raise TypeError(msg)
    return sigma, None


def _then(levels: tuple[Any, Any], data: Any) -> tuple[Any, Any, Any]:
    """The levels followed by ``data``: ``(levels, data, None)`` after a :class:`Levels` (the core's convention)."""
    first, second = levels
    return (first, data, None) if second is None else (first, second, data)


def add_noise(
    x0: Any, sigma: Any, /, *, rng: np.random.Generator, schedule: Any = DEFAULT_SCHEDULE
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``noise`` from ``rng`` and return ``(add_noise(x0, sigma, noise), noise)`` in float64."""
    x = _f64(x0)
    noise = rng.standard_normal(x.shape)
    return noising.add_noise(x, _f64(sigma), noise, schedule=schedule, xp=xp), noise


def renoise(
    x_tmin: Any, sigma: Any, sigma_min: Any = None, /, *, rng: np.random.Generator, schedule: Any = DEFAULT_SCHEDULE
) -> np.ndarray:
    """Take ``x_tmin`` from ``sigma_min`` to ``sigma`` with noise drawn from ``rng`` (float64)."""
    x = _f64(x_tmin)
    levels = _pair(sigma, sigma_min, schedule)
    noise = rng.standard_normal(x.shape)
    return noising.renoise(x, *_then(levels, noise), schedule=schedule, xp=xp)


def ambient_pair(
    x_tmin: Any,
    sigma: Any,
    sigma_min: Any = None,
    /,
    *,
    rng: np.random.Generator,
    prediction: str = "x0",
    schedule: Any = DEFAULT_SCHEDULE,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw fresh noise from ``rng``; return ``(x_t, target)`` from :func:`ambientloss.ambient_pair`."""
    x = _f64(x_tmin)
    levels = _pair(sigma, sigma_min, schedule)
    noise = rng.standard_normal(x.shape)
    x_t, target = targets.ambient_pair(x, *_then(levels, noise), prediction=prediction, schedule=schedule, xp=xp)
    return x_t, target


def ambient_target(
    x_t: Any,
    x_tmin: Any,
    sigma: Any,
    sigma_min: Any = None,
    /,
    *,
    prediction: str = "x0",
    schedule: Any = DEFAULT_SCHEDULE,
) -> np.ndarray:
    """Float64 reference of :func:`ambientloss.ambient_target`."""
    levels = _pair(sigma, sigma_min, schedule)
    return targets.ambient_target(_f64(x_t), _f64(x_tmin), *levels, prediction=prediction, schedule=schedule, xp=xp)


def loss_weight(
    sigma: Any,
    sigma_min: Any = None,
    /,
    *,
    weighting: Weighting | str = "inverse_variance",
    prediction: str = "x0",
    schedule: Any = DEFAULT_SCHEDULE,
) -> np.ndarray:
    """Float64 :func:`ambientloss.loss_weight`; ``weighting`` is a :class:`~ambientloss.Weighting` or a policy name."""
    levels = _pair(sigma, sigma_min, schedule)
    return weights.loss_weight(*levels, weighting=weighting, prediction=prediction, schedule=schedule, xp=xp)


def squared_error(pred: Any, target: Any, /, **options: Any) -> np.ndarray:
    """Float64 :func:`ambientloss.squared_error`."""
    where = options.pop("where", None)
    mask = None if where is None else np.asarray(where, dtype=bool)
    return losses.squared_error(_f64(pred), _f64(target), where=mask, xp=xp, **options)


def _annotations(sigma_min: Any, sigma_max: Any) -> tuple[Any, Any, tuple[int, ...]]:
    m = _f64(sigma_min)
    top = None if sigma_max is None else _f64(sigma_max)
    return m, top, np.broadcast_shapes(np.shape(m), np.shape(top) if top is not None else ())


def sample_truncated(
    sigma_min: Any,
    sigma_max: Any = None,
    /,
    *,
    base: Any,
    buffer: Buffer | None = None,
    rng: np.random.Generator,
) -> np.ndarray:
    """Float64 :func:`ambientloss.sampling.sample_truncated` with the uniforms drawn from ``rng``.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss.adapters import numpy as aln
    >>> from ambientloss.sampling import LogNormal
    >>> sigma = aln.sample_truncated(np.array([0.0, 0.5, 2.0]), base=LogNormal(), rng=np.random.default_rng(0))
    >>> bool(sigma[1] > 0.5 and sigma[2] > 2.0)
    True
    """
    m, top, shape = _annotations(sigma_min, sigma_max)
    return sampling.sample_truncated(rng.random(shape), m, top, base=base, buffer=buffer, xp=xp)


def truncated_timesteps(
    sigma_min: Any,
    sigma_max: Any = None,
    /,
    *,
    base: Any,
    buffer: Buffer | None = None,
    rng: np.random.Generator,
) -> np.ndarray:
    """:func:`ambientloss.sampling.truncated_timesteps` with the uniforms drawn from ``rng``."""
    m, top, shape = _annotations(sigma_min, sigma_max)
    return sampling.truncated_timesteps(rng.random(shape), m, top, base=base, buffer=buffer, xp=xp)


def draw_sigma(shape: int | tuple[int, ...], /, *, base: Any, rng: np.random.Generator) -> np.ndarray:
    """Unconstrained float64 levels ``base.icdf(u)`` with ``u`` drawn from ``rng``."""
    return sampling.draw_sigma(rng.random(shape), base=base, xp=xp)
