r"""Classifier probability trajectories over a grid of noise levels, in batches of bounded size.

For sample :math:`x_i`, level :math:`\sigma_g` and draw :math:`d`,

.. math:: P_{i g d} = c\big(a(\sigma_g)\, x_i + b(\sigma_g)\, z_{i d},\ \sigma_g\big),

with the forward process of :func:`ambientloss.add_noise`. The draws :math:`z_{i d}` are *paired*:
the same ``n_draws`` standard normal vectors of a sample are used at every level (common random
numbers). Each level's draw-mean is still an unbiased estimate of :math:`\mathbb E_z\, c(x_{\sigma}, \sigma)`,
the trajectory is smoother along :math:`\sigma`, and :func:`~ambientloss.annotation.adaptive_sigma_min`
probing the same levels feeds the classifier exactly the same inputs.

The draws depend only on ``(seed, sample id)``, and each noised input is elementwise basic
arithmetic: chunking, batch size, resuming and the thread count do not change the inputs the
classifier sees, bit for bit. Its outputs are as deterministic as the classifier itself: a network with
matrix products may round differently at another batch size (see docs/numerics.md, "Annotation: what
is deterministic").
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ..core.arrays import Array, Namespace
from ._checks import as_grid, resolve
from ._engine import CallCount, Classifier, Engine

__all__ = ["classifier_trajectory"]

logger = logging.getLogger("ambientloss.annotation")


def classifier_trajectory(
    classifier: Classifier,
    x: Array,
    grid: Array,
    /,
    *,
    n_draws: int = 4,
    schedule: Any = "vp",
    batch_size: int = 1024,
    seed: int = 0,
    sample_ids: Any = None,
    noise: Array | None = None,
    pad: bool = False,
    counts: CallCount | None = None,
    xp: Namespace | None = None,
) -> Array:
    """Evaluate ``classifier(x_sigma, sigma)`` for every sample, grid level and noise draw.

    Parameters
    ----------
    classifier : callable
        ``classifier(x_sigma, sigma) -> p`` with ``x_sigma`` of shape ``(B, ...)``, ``sigma`` of shape
        ``(B,)`` in the schedule's units and ``x``'s dtype, returning ``(B,)`` (or ``(B, 1)``)
        probabilities in ``[0, 1]`` of one class (say which to the selection functions). Torch
        classifiers run under ``torch.no_grad``; put the module in ``eval()`` mode yourself.
    x : array
        ``(N, ...)`` clean-scale samples to annotate (numpy, torch on any device, jax).
    grid : array or sequence of float
        ``(G,)`` strictly increasing noise levels in the units of ``schedule``, none at pure noise
        (``a = 0``: VP ``s = 1``, flow ``t = 1``), where the two classes are one law (``ValueError``).
    n_draws : int
        Noise draws per sample (shared across levels).
    schedule : str or Schedule
        Forward process used to noise ``x`` (``"vp"``, ``"ve"``, ``"flow"``, a ``Discrete`` table...).
    batch_size : int
        Rows per classifier call; memory stays bounded by one batch plus the draws of its samples.
    seed : int
        Seed of the paired draws; with ``sample_ids`` it fixes every draw.
    sample_ids : sequence of int, optional
        Global ids of the rows of ``x`` (default ``0..N-1``); give them when annotating a dataset in parts.
    noise : array, optional
        Your own standard normal draws instead: ``(n_draws, ...)`` shared by all samples, or ``(N, n_draws, ...)``.
    pad : bool
        Pad the last batch to ``batch_size`` rows (repeating a row) so a jitted classifier sees one shape.
    counts : CallCount, optional
        Incremented with the classifier calls and evaluations made here.
    xp : namespace, optional
        Array namespace; inferred from ``x`` and ``grid``.

    Returns
    -------
    array
        ``(N, G, n_draws)`` probabilities in ``x``'s library, device and dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss.annotation import classifier_trajectory
    >>> def classifier(x_sigma, sigma):                 # P(clean): a toy that only looks at sigma
    ...     return np.minimum(sigma, 1.0)
    >>> probs = classifier_trajectory(classifier, np.zeros((3, 2)), [0.25, 0.5, 0.75], n_draws=2)
    >>> probs.shape, probs[0, :, 0]
    ((3, 3, 2), array([0.25, 0.5 , 0.75]))
    """
    xp = resolve({"x": x, "grid": grid}, xp)
    grid = as_grid(grid, x, xp)
    engine = Engine(
        classifier, x, grid, schedule=schedule, n_draws=n_draws, batch_size=batch_size, seed=seed,
        sample_ids=sample_ids, noise=noise, pad=pad, xp=xp,
    )  # fmt: skip
    n, g, d = int(x.shape[0]), int(grid.shape[0]), engine.n_draws
    per_sample = g * d
    chunks = []
    for start in range(0, n * per_sample, engine.batch_size):  # rows in (sample, level, draw) order
        rows = np.arange(start, min(start + engine.batch_size, n * per_sample), dtype=np.int64)
        sample, rest = np.divmod(rows, per_sample)
        level, draw = np.divmod(rest, d)
        chunks.append(engine.evaluate(sample, level, draw))
        engine.forget({int(sample[-1])})  # later rows only need the last sample's draws
    out = xp.reshape(xp.concat(chunks), (n, g, d))
    c = engine.count
    logger.info("classifier_trajectory: %d samples x %d levels x %d draws, %d classifier calls", n, g, d, c.calls)
    if counts is not None:
        counts.calls += c.calls
        counts.evaluations += c.evaluations
        counts.padded += c.padded
    return out
