"""Per-sample noise for classifier evaluation: a function of ``(seed, sample id)`` only.

The same sample gets the same ``n_draws`` noise vectors at every noise level ("paired" draws: common
random numbers along the level axis), in every batch, in the full-grid and in the adaptive annotator,
so both feed the classifier bit-identical inputs and a resumed run repeats an interrupted one.
"""

from __future__ import annotations

from collections.abc import Sequence

import array_api_compat
import numpy as np

from ..core.arrays import Array, Namespace, device_of

_MASK63 = (1 << 63) - 1


def sample_seed(seed: int, sample_id: int) -> int:
    """A 63-bit seed derived from ``(seed, sample_id)`` through NumPy's ``SeedSequence``."""
    state = np.random.SeedSequence([int(seed), int(sample_id)]).generate_state(2, np.uint32)
    return ((int(state[0]) << 32) | int(state[1])) & _MASK63


def check_ids(sample_ids: object, n: int) -> np.ndarray:
    """``sample_ids`` as ``(n,)`` non-negative int64 (default ``0..n-1``)."""
    if sample_ids is None:
        return np.arange(n, dtype=np.int64)
    ids = np.asarray(sample_ids)
    if ids.shape != (n,) or not (np.issubdtype(ids.dtype, np.integer) and (ids.size == 0 or ids.min() >= 0)):
        msg = f"sample_ids must be {n} non-negative integers (one per sample), got shape {ids.shape}, dtype {ids.dtype}"
        raise ValueError(msg)
    return ids.astype(np.int64)


def paired_noise(x: Array, sample_ids: Sequence[int], n_draws: int, seed: int, xp: Namespace) -> Array:
    """Standard normal ``(n, n_draws, *x.shape[1:])`` in ``x``'s library, dtype and device."""
    if array_api_compat.is_torch_array(x):
        from ._torch import paired_noise as torch_noise

        return torch_noise(x, sample_ids, n_draws, seed=seed)
    if array_api_compat.is_jax_array(x):
        from ._jax import paired_noise as jax_noise

        return jax_noise(x, sample_ids, n_draws, seed=seed)
    shape = (n_draws, *x.shape[1:])
    draws = [np.random.default_rng([int(seed), int(s)]).standard_normal(shape) for s in sample_ids]
    block = np.stack(draws) if draws else np.zeros((0, *shape))
    return xp.asarray(block, dtype=x.dtype, device=device_of(x))
