"""A pure per-batch ``sigma_min`` function: classifier trajectory (or bisection) plus a selection rule.

:class:`BatchAnnotator` is the function that :func:`~ambientloss.annotation.annotate_stream`
and Ray Data's ``map_batches`` (:mod:`ambientloss.adapters.ray`) apply to every batch. A batch is a
mapping with the samples under ``x_key`` and their global ids under ``id_key``. The noise draws depend
only on ``(seed, id)`` (see :func:`~ambientloss.annotation.classifier_trajectory`), so a sample's
``sigma_min`` does not depend on which batch it lands in, how large the batch is, or whether the run
was resumed, provided the classifier's output for one row does not depend on the other rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ..core.arrays import namespace, to_numpy
from ..core.schedules import get_schedule
from ._adaptive import adaptive_sigma_min
from ._checks import check_eps, check_fallback, check_probability_class
from ._files import sha256
from ._selection import Pool, check_rule, mean_over_draws, select_sigma_min
from ._trajectories import classifier_trajectory

__all__ = ["BatchAnnotator"]


@dataclass(frozen=True)
class BatchAnnotator:
    """``batch -> sigma_min (n,)`` from a classifier, a grid and a selection rule; pure and picklable.

    Parameters
    ----------
    classifier : callable
        ``classifier(x_sigma, sigma) -> (B,)`` probabilities of the class ``probability`` (for a
        :class:`~ambientloss.adapters.torch_classifier.NoiseConditionalClassifier` ``model``, use
        ``functools.partial(model.probability, probability="clean")``). Must be picklable for Ray.
    grid : sequence of float
        ``(G,)`` strictly increasing levels in the units of ``schedule``; stored as Python floats so
        that the same annotator serves NumPy, PyTorch (any device) and JAX batches.
    probability, eps, rule, ema_span, fallback
        As in :func:`~ambientloss.annotation.select_sigma_min`.
    adaptive : bool
        Find the monotone-rule answer by bisection (:func:`~ambientloss.annotation.adaptive_sigma_min`,
        ``n_draws * (1 + ceil(log2 G))`` evaluations per sample instead of ``G * n_draws``); needs
        ``rule="monotone"`` and no smoothing.
    n_draws, seed, schedule, batch_size
        As in :func:`~ambientloss.annotation.classifier_trajectory`.
    x_key, id_key : str
        Keys of the samples and of their integer ids in each batch.
    output : {"sigma_min", "trajectory"}
        What a batch gives: each sample's level, or its draw-averaged trajectory ``(n, G)``, from
        which :meth:`select` chooses levels once all samples are in, for example one per
        demonstration (a group's samples may lie in several batches, so pooling cannot happen per
        batch). Levels pool after a stream with :func:`~ambientloss.annotation.source_sigma_min`.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss.annotation import BatchAnnotator
    >>> def p_clean(x_sigma, sigma):                     # a toy classifier: confused above sigma = 0.3
    ...     return np.where(sigma > 0.3, 0.5, 0.0)
    >>> fn = BatchAnnotator(p_clean, [0.1, 0.2, 0.4, 0.8], probability="clean", eps=0.05)
    >>> fn({"id": np.array([0, 1]), "x": np.zeros((2, 3))})
    array([0.4, 0.4])

    Pooled per group after all batches: trajectories first, then one level per group.

    >>> traj = BatchAnnotator(p_clean, [0.1, 0.2, 0.4, 0.8], probability="clean", eps=0.05, output="trajectory")
    >>> rows = traj({"id": np.array([0, 1, 2]), "x": np.zeros((3, 3))})
    >>> rows.shape
    (3, 4)
    >>> traj.select(rows, groups=[7, 7, 8], pool="mean_trajectory")
    array([0.4, 0.4, 0.4])
    """

    classifier: Any
    grid: Any
    probability: str
    eps: float
    rule: str = "monotone"
    ema_span: float | None = None
    fallback: str | float = "largest"
    adaptive: bool = False
    n_draws: int = 4
    seed: int = 0
    schedule: Any = "vp"
    batch_size: int = 1024
    x_key: str = "x"
    id_key: str = "id"
    output: Literal["sigma_min", "trajectory"] = "sigma_min"
    _levels: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not callable(self.classifier):
            msg = f"classifier must be callable, got {type(self.classifier).__name__}"
            raise TypeError(msg)
        levels = tuple(float(v) for v in np.asarray(to_numpy(self.grid), dtype=np.float64).reshape(-1))
        if not levels or not all(math.isfinite(v) for v in levels):
            msg = f"grid must hold at least one finite level, got {self.grid!r}"
            raise ValueError(msg)
        object.__setattr__(self, "_levels", levels)
        check_probability_class(self.probability)
        check_eps(self.eps)
        check_rule(self.rule)
        check_fallback(self.fallback)
        get_schedule(self.schedule)
        if self.output not in ("sigma_min", "trajectory"):
            msg = f"output must be 'sigma_min' or 'trajectory', got {self.output!r}"
            raise ValueError(msg)
        if self.adaptive and self.output == "trajectory":
            msg = "adaptive=True does not form the trajectory; output='trajectory' needs adaptive=False"
            raise ValueError(msg)
        if self.adaptive and (self.rule != "monotone" or self.ema_span is not None):
            msg = (
                "adaptive=True finds the monotone-rule answer without forming the trajectory: it needs "
                f"rule='monotone' and ema_span=None, got rule={self.rule!r} and ema_span={self.ema_span!r}"
            )
            raise ValueError(msg)

    def __call__(self, batch: Mapping[str, Any]) -> Any:
        """``(n,)`` ``sigma_min`` of the batch's samples, in the grid's units and the samples' library."""
        if not isinstance(batch, Mapping):
            msg = (
                f"batch must be a mapping with the samples under {self.x_key!r} and their ids under "
                f"{self.id_key!r}, got {type(batch).__name__}"
            )
            raise TypeError(msg)
        missing = [k for k in (self.x_key, self.id_key) if k not in batch]
        if missing:
            msg = f"batch lacks {missing} (keys: {sorted(batch)}); set x_key and id_key"
            raise KeyError(msg)
        x, ids = batch[self.x_key], np.asarray(to_numpy(batch[self.id_key]))
        common = {"n_draws": self.n_draws, "schedule": self.schedule, "batch_size": self.batch_size}
        common |= {"seed": self.seed, "sample_ids": ids}
        if self.adaptive:
            return adaptive_sigma_min(
                self.classifier, x, list(self._levels), probability=self.probability, eps=self.eps,
                fallback=self.fallback, **common,
            ).sigma_min  # fmt: skip
        probs = classifier_trajectory(self.classifier, x, list(self._levels), **common)
        if self.output == "trajectory":
            return mean_over_draws(probs, len(self._levels), namespace({"probs": probs}, None))
        return select_sigma_min(
            probs, list(self._levels), probability=self.probability, eps=self.eps, rule=self.rule,
            ema_span=self.ema_span, fallback=self.fallback,
        )  # fmt: skip

    def select(self, trajectories: Any, /, *, groups: Any = None, pool: Pool | float = "max") -> Any:
        """Levels from trajectories (``output="trajectory"``) with this annotator's rule, pooled per group.

        ``groups`` and ``pool`` as in :func:`~ambientloss.annotation.select_sigma_min`.
        """
        return select_sigma_min(
            trajectories, list(self._levels), probability=self.probability, eps=self.eps, rule=self.rule,
            ema_span=self.ema_span, fallback=self.fallback, groups=groups, pool=pool,
        )  # fmt: skip

    def config(self) -> dict[str, Any]:
        """JSON-serialisable settings for ``annotate_stream(config=...)``; add the classifier's identity."""
        grid = np.asarray(self._levels, dtype=np.float64)
        return {
            "grid": {
                "size": grid.size,
                "first": grid[0].item(),
                "last": grid[-1].item(),
                "sha256": sha256(grid.tobytes()),
            },
            "schedule": get_schedule(self.schedule).name,
            "probability": self.probability,
            "eps": float(self.eps),
            "rule": self.rule,
            "ema_span": self.ema_span,
            "fallback": self.fallback if isinstance(self.fallback, str) else float(self.fallback),
            "adaptive": self.adaptive,
            "n_draws": int(self.n_draws),
            "seed": int(self.seed),
        } | ({"output": self.output} if self.output != "sigma_min" else {})
