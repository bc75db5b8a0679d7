"""NumPy adapter: float64 reference computations with :class:`numpy.random.Generator` noise.

Every function converts its inputs to float64 NumPy arrays, so the results serve as a reference
for other implementations, and draws noise only from the generator it is given (never from
NumPy's global state).

Examples
--------
>>> import numpy as np
>>> from ambientloss.adapters import numpy as aln
>>> rng = np.random.default_rng(0)
>>> x_tmin = np.zeros((4, 16, 7))
>>> x_t, target, noise = aln.ambient_pair(x_tmin, np.full(4, 0.3), np.full(4, 0.6), rng=rng)
>>> x_t.shape, target.dtype
((4, 16, 7), dtype('float64'))
"""

from __future__ import annotations

from typing import Any

import array_api_compat.numpy as xp
import numpy as np

from .. import losses, noising, targets, weights

__all__ = ["add_noise", "ambient_pair", "ambient_target", "loss_weight", "renoise", "squared_error", "xp"]


def _f64(value: Any) -> Any:
    return value if isinstance(value, (int, float)) else np.asarray(value, dtype=np.float64)


def add_noise(
    x0: Any, sigma: Any, /, *, rng: np.random.Generator, schedule: Any = "vp"
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``noise`` from ``rng`` and return ``(add_noise(x0, sigma, noise), noise)`` in float64."""
    x = _f64(x0)
    noise = rng.standard_normal(x.shape)
    return noising.add_noise(x, _f64(sigma), noise, schedule=schedule, xp=xp), noise


def renoise(
    x_tmin: Any, sigma_min: Any, sigma: Any, /, *, rng: np.random.Generator, schedule: Any = "vp"
) -> np.ndarray:
    """Take ``x_tmin`` from ``sigma_min`` to ``sigma`` with noise drawn from ``rng`` (float64)."""
    x = _f64(x_tmin)
    noise = rng.standard_normal(x.shape)
    return noising.renoise(x, _f64(sigma_min), _f64(sigma), noise, schedule=schedule, xp=xp)


def ambient_pair(
    x_tmin: Any,
    sigma_min: Any,
    sigma: Any,
    /,
    *,
    rng: np.random.Generator,
    prediction: str = "x0",
    schedule: Any = "vp",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw fresh noise from ``rng``; return ``(x_t, target, noise)`` from :func:`ambientloss.ambient_pair`."""
    x = _f64(x_tmin)
    noise = rng.standard_normal(x.shape)
    x_t, target = targets.ambient_pair(
        x, _f64(sigma_min), _f64(sigma), noise, prediction=prediction, schedule=schedule, xp=xp
    )
    return x_t, target, noise


def ambient_target(
    x_t: Any, x_tmin: Any, sigma: Any, sigma_min: Any, /, *, prediction: str = "x0", schedule: Any = "vp"
) -> np.ndarray:
    """Float64 reference of :func:`ambientloss.ambient_target`."""
    return targets.ambient_target(
        _f64(x_t), _f64(x_tmin), _f64(sigma), _f64(sigma_min), prediction=prediction, schedule=schedule, xp=xp
    )


def loss_weight(sigma: Any, sigma_min: Any, /, **options: Any) -> np.ndarray:
    """Float64 :func:`ambientloss.loss_weight`."""
    return weights.loss_weight(_f64(sigma), _f64(sigma_min), xp=xp, **options)


def squared_error(pred: Any, target: Any, /, **options: Any) -> np.ndarray:
    """Float64 :func:`ambientloss.squared_error`."""
    where = options.pop("where", None)
    mask = None if where is None else np.asarray(where, dtype=bool)
    return losses.squared_error(_f64(pred), _f64(target), where=mask, xp=xp, **options)
