"""Per-sample noise for classifier evaluation: a function of ``(seed, sample id)`` only.

The same sample gets the same ``n_draws`` noise vectors at every noise level ("paired" draws: common
random numbers along the level axis), in every batch, in the full-grid and in the adaptive annotator
and in every array library, so all of them feed the classifier the same inputs and a resumed run
repeats an interrupted one.

The draws are :func:`ambientloss.frozen_noise` (the library's one per-sample generator) under the
key ``annotation_seed(seed)``, a stream of its own: annotating with the seed that later freezes the
training noise does not reuse that noise.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core.arrays import Array, Namespace, device_of
from ..core.frozen import frozen_noise

#: mixed into the annotation seed, so that its stream differs from ``frozen_noise(seed, ...)``
_ANNOTATION = 0x616E6E6F  # "anno"


def annotation_seed(seed: int) -> int:
    """The 64-bit key of the annotation stream of ``seed``, derived through NumPy's ``SeedSequence``."""
    state = np.random.SeedSequence([int(seed), _ANNOTATION]).generate_state(1, np.uint64)
    return int(state[0])


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
    """Standard normal ``(n, n_draws, *x.shape[1:])`` in ``x``'s library, dtype and device.

    Row ``k`` is ``frozen_noise(annotation_seed(seed), sample_ids[k], (n_draws, *x.shape[1:]))``,
    drawn in float64 and rounded to ``x``'s dtype.
    """
    block = frozen_noise(annotation_seed(seed), [int(s) for s in sample_ids], (n_draws, *x.shape[1:]))
    return xp.asarray(block, dtype=x.dtype, device=device_of(x))
