r"""JAX data helpers: frozen per-sample noise from ``jax.random.fold_in`` and key-based sigma-first draws.

Everything here is a pure function of its arguments and works under ``jax.jit`` and ``jax.vmap``.
The frozen noise of a sample is ``jax.random.normal(fold_in(key, sample_id))``: a function of
``(key, sample_id)`` only, like :func:`ambientloss.frozen_noise`, but from JAX's own
generator, so its numbers differ from the NumPy / PyTorch ones (both are equally frozen). Noise is
drawn directly in the requested dtype, so float32 and float64 noise differ as well.

Examples
--------
>>> import jax, jax.numpy as jnp
>>> from ambientloss.adapters.jax_data import frozen_noise, frozen_x_tmin
>>> key = jax.random.key(0)
>>> batch = jax.jit(lambda ids: frozen_noise(key, ids, (2,)))(jnp.array([5, 3]))
>>> bool((batch[1] == frozen_noise(key, 3, (2,))).all())          # row k is the noise of sample_id[k]
True
>>> x_tmin = frozen_x_tmin(jnp.ones((2, 2), jnp.float32), jnp.array([5, 3]), jnp.array([0.0, 0.6]), seed=key)
>>> x_tmin[0].tolist()                                               # clean: unchanged
[1.0, 1.0]
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..core.noising import add_noise

__all__ = ["as_key", "frozen_noise", "frozen_x_tmin", "sigma_first"]

Array = jax.Array

_ID_LIMIT = 2**32


def as_key(seed: int | Array) -> Array:
    """A ``jax.random`` key from an integer seed; keys (typed or raw ``uint32``) pass through unchanged."""
    if isinstance(seed, bool):
        msg = f"seed must be an integer or a jax.random key, got {seed!r}"
        raise TypeError(msg)
    if isinstance(seed, int):
        return jax.random.key(seed)
    if not isinstance(seed, jax.Array):
        msg = f"seed must be an integer or a jax.random key, got {type(seed).__name__}"
        raise TypeError(msg)
    return seed


def _check_ids(ids: Array) -> Array:
    if not jnp.issubdtype(ids.dtype, jnp.integer):
        msg = f"sample_id must have an integer dtype, got {ids.dtype}"
        raise TypeError(msg)
    if ids.ndim > 1:
        msg = f"sample_id must be an integer or a 1-D integer array, got shape {ids.shape}"
        raise ValueError(msg)
    if not isinstance(ids, jax.core.Tracer) and ids.size:
        values = np.asarray(ids).astype(np.int64).ravel()
        outside = (values < 0) | (values >= _ID_LIMIT)
        if not outside.any():
            return ids.astype(jnp.uint32)
        bad = int(values[outside][0])
        msg = f"sample_id must lie in [0, 2**32) for jax.random.fold_in, got {bad}"
        raise ValueError(msg)
    return ids.astype(jnp.uint32)


def frozen_noise(seed: int | Array, sample_id: int | Array, shape: int | tuple[int, ...], dtype: Any = None) -> Array:
    r"""Standard Gaussian noise ``jax.random.normal(fold_in(key, sample_id), shape, dtype)``.

    Parameters
    ----------
    seed : int or jax.random key
        The experiment's key (an integer becomes ``jax.random.key(seed)``).
    sample_id : int or integer array of shape ``()`` or ``(B,)``
        Stable identity of each sample, in ``[0, 2**32)``; a ``(B,)`` array gives ``(B, *shape)``,
        row ``k`` being the noise of ``sample_id[k]`` alone (also under ``jax.vmap``).
    shape : int or tuple of int
        Shape of one sample's noise.
    dtype : JAX floating dtype, optional
        Defaults to float32 (float64 noise is a different draw, not a widening).

    Returns
    -------
    jax.Array
    """
    key = as_key(seed)
    ids = _check_ids(jnp.asarray(sample_id))
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    dtype = jnp.float32 if dtype is None else dtype

    def one(i: Array) -> Array:
        return jax.random.normal(jax.random.fold_in(key, i), shape, dtype)

    return one(ids) if ids.ndim == 0 else jax.vmap(one)(ids)


def frozen_x_tmin(
    x0: Array, sample_id: int | Array, sigma_min: Array | float, /, *, seed: int | Array, schedule: Any = "vp"
) -> Array:
    r"""``x_tmin = a(sigma_min) x0 + b(sigma_min) eps`` with ``eps = frozen_noise(seed, sample_id)``.

    ``x0`` is one example (``sample_id`` a scalar) or a batch ``(B, ...)`` (``sample_id`` of shape
    ``(B,)``); ``sigma_min`` is a number or an array aligned with the leading axes of ``x0``. The
    noise is drawn in float64 for float64 data and in float32 otherwise. Clean entries
    (``sigma_min = 0``) return ``x0`` unchanged.
    """
    x = jnp.asarray(x0)
    ids = jnp.asarray(sample_id)
    shape = x.shape if ids.ndim == 0 else x.shape[1:]
    if ids.ndim == 1 and (x.ndim == 0 or x.shape[0] != ids.shape[0]):
        msg = f"sample_id has {ids.shape[0]} entries but x0 with shape {x.shape} has no matching leading batch axis"
        raise ValueError(msg)
    dtype = jnp.float64 if x.dtype == jnp.float64 else jnp.float32
    noise = frozen_noise(seed, ids, shape, dtype).astype(x.dtype)
    level = jnp.asarray(sigma_min, dtype) if isinstance(sigma_min, (int, float)) else jnp.asarray(sigma_min)
    return add_noise(x, level, noise, schedule=schedule, xp=jnp)


def sigma_first(key: Array, plan: Any, size: int) -> Any:
    """``size`` sigma-first draws of ``plan`` (:class:`ambientloss.sampling.sigma_first.SigmaFirst`) from ``key``.

    The uniforms are ``jax.random.uniform(key, (size, 3))`` in the plan's dtype. Close over ``plan``
    inside ``jax.jit``; there, draws that would raise eagerly get ``index = -1``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from ambientloss.sampling import UniformVP
    >>> from ambientloss.sampling.sigma_first import SigmaFirst
    >>> plan = SigmaFirst(jnp.array([0.0, 0.0, 0.5, 0.5], jnp.float32), base=UniformVP())
    >>> draws = jax.jit(lambda key: sigma_first(key, plan, 8))(jax.random.key(0))
    >>> draws.index.shape, bool(((draws.index < 2) | (draws.sigma > 0.5)).all())
    ((8,), True)
    """
    return plan(jax.random.uniform(as_key(key), (size, 3), plan.dtype))
