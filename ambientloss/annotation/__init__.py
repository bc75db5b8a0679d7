r"""Choosing ``sigma_min`` and ``sigma_max`` for low-quality samples.

* :mod:`~ambientloss.annotation.trajectories`: classifier probabilities over a grid of levels
  (:func:`classifier_trajectory`), on grids from :mod:`~ambientloss.annotation.grids`.
* :mod:`~ambientloss.annotation.selection`: per-sample ``sigma_min`` from a trajectory
  (:func:`select_sigma_min`, rules ``"first"`` and ``"monotone"``, :data:`SELECTION_PRESETS`).
* :mod:`~ambientloss.annotation.adaptive`: the monotone rule by bisection, ``O(n_draws log G)``
  classifier evaluations per sample (:func:`adaptive_sigma_min`).
* :mod:`~ambientloss.annotation.criteria`: dataset ``sigma_min`` from total variation or the
  classifier mean.
* :mod:`~ambientloss.annotation.aggregate`: buckets, sources and quality-score quantiles.
* :mod:`~ambientloss.annotation.sigma_max`: ``sigma_max`` from window classifiers (locality).
* :mod:`~ambientloss.annotation.units`: :class:`Annotation`, levels that carry their schedule.
"""

from __future__ import annotations

from ._engine import CallCount
from .adaptive import AdaptiveResult, adaptive_sigma_min, bisection_cost
from .aggregate import bucket_sigma_min, quality_ranks, sigma_min_by_quality, source_sigma_min
from .batch_fn import BatchAnnotator
from .classifier_data import ClassifierBatch, binary_cross_entropy, class_probability, classifier_batch, sample_levels
from .criteria import sigma_min_from_classifier_mean, sigma_min_from_tv, total_variation_estimate
from .grids import ddpm_timestep_grid, edm_lognormal_grid, vp_uniform_grid
from .selection import RULES, SELECTION_PRESETS, ema, select_sigma_min, select_with_preset
from .sigma_max import SIGMA_MAX_TABLES, WindowTable, sigma_max_from_window_probs
from .streaming import StreamResult, annotate_stream
from .trajectories import classifier_trajectory
from .units import Annotation

__all__ = [
    "RULES",
    "SELECTION_PRESETS",
    "SIGMA_MAX_TABLES",
    "AdaptiveResult",
    "Annotation",
    "BatchAnnotator",
    "CallCount",
    "ClassifierBatch",
    "StreamResult",
    "WindowTable",
    "adaptive_sigma_min",
    "annotate_stream",
    "binary_cross_entropy",
    "bisection_cost",
    "bucket_sigma_min",
    "class_probability",
    "classifier_batch",
    "classifier_trajectory",
    "ddpm_timestep_grid",
    "edm_lognormal_grid",
    "ema",
    "quality_ranks",
    "sample_levels",
    "select_sigma_min",
    "select_with_preset",
    "sigma_max_from_window_probs",
    "sigma_min_by_quality",
    "sigma_min_from_classifier_mean",
    "sigma_min_from_tv",
    "source_sigma_min",
    "total_variation_estimate",
    "vp_uniform_grid",
]
