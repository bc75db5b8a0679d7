"""The truncated samplers of :mod:`ambientloss.adapters.jax`: uniforms drawn from a ``jax.random`` key."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from .. import sampling
from ..core.buffer import Buffer

__all__ = ["sample_truncated", "truncated_timesteps"]

Array = jax.Array
Level = jax.Array | float


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _uniforms(key: Array, sigma_min: Level, sigma_max: Level | None, dtype: Any) -> Array:
    """Uniforms in ``[0, 1)`` shaped like the annotations; float64 only for float64 annotations."""
    given = [jnp.asarray(v) for v in (sigma_min, sigma_max) if v is not None and not _is_number(v)]
    shape = jnp.broadcast_shapes(*(v.shape for v in given)) if given else ()
    if dtype is None:
        dtype = jnp.float64 if any(v.dtype == jnp.float64 for v in given) else jnp.float32
    return jax.random.uniform(key, shape, dtype)


def sample_truncated(
    key: Array,
    sigma_min: Level,
    sigma_max: Level | None = None,
    /,
    *,
    base: Any,
    buffer: Buffer | None = None,
    dtype: Any = None,
) -> Array:
    r""":func:`ambientloss.sampling.sample_truncated` with uniforms drawn from ``key``.

    Pure and jit-compatible: under ``jax.jit`` a sample with an empty admissible set gives NaN
    (eagerly it raises ``ValueError``). Works on one example (scalar annotations) under ``jax.vmap``.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from ambientloss.adapters.jax import sample_truncated
    >>> from ambientloss.sampling import LogNormal
    >>> draw = jax.jit(lambda key, m: sample_truncated(key, m, base=LogNormal()))
    >>> sigma_min = jnp.array([0.0, 0.5, 2.0], jnp.float32)
    >>> bool((draw(jax.random.key(0), sigma_min) > sigma_min).all())
    True
    """
    u = _uniforms(key, sigma_min, sigma_max, dtype)
    top = None if sigma_max is None else jnp.asarray(sigma_max, dtype=u.dtype)
    return sampling.sample_truncated(u, jnp.asarray(sigma_min, dtype=u.dtype), top, base=base, buffer=buffer, xp=jnp)


def truncated_timesteps(
    key: Array,
    sigma_min: Level,
    sigma_max: Level | None = None,
    /,
    *,
    base: Any,
    buffer: Buffer | None = None,
) -> Array:
    """:func:`ambientloss.sampling.truncated_timesteps` with uniforms drawn from ``key``."""
    u = _uniforms(key, sigma_min, sigma_max, None)
    top = None if sigma_max is None else jnp.asarray(sigma_max, dtype=u.dtype)
    return sampling.truncated_timesteps(u, jnp.asarray(sigma_min, dtype=u.dtype), top, base=base, buffer=buffer, xp=jnp)
