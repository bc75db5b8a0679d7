"""JAX pieces of the annotation engine: per-sample noise from ``jax.random.fold_in``.

The annotation functions of :mod:`ambientloss.annotation` take JAX arrays directly and import this
module only then; it is not meant to be called by users.

Examples
--------
>>> import jax.numpy as jnp
>>> from ambientloss.annotation._jax import paired_noise
>>> z = paired_noise(jnp.zeros((2, 3)), [7, 8], 4, seed=0)
>>> z.shape, bool((z[1] == paired_noise(jnp.zeros((1, 3)), [8], 4, seed=0)[0]).all())
((2, 4, 3), True)
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

__all__ = ["paired_noise"]


def paired_noise(x: jax.Array, sample_ids: Sequence[int], n_draws: int, *, seed: int) -> jax.Array:
    """Standard normal draws ``(n, n_draws, *x.shape[1:])`` from ``fold_in(key(seed), sample id)``.

    The draws for a sample depend only on ``(seed, sample id)``, never on batching.
    """
    shape = (n_draws, *x.shape[1:])
    key = jax.random.key(seed)
    ids = jnp.asarray([int(s) for s in sample_ids], dtype=jnp.uint32)
    if ids.shape[0] == 0:
        return jnp.zeros((0, *shape), dtype=x.dtype)
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(ids)
    return jax.vmap(lambda k: jax.random.normal(k, shape, dtype=x.dtype))(keys)
