r"""Choosing ``sigma_min`` and ``sigma_max`` for low-quality samples.

Every name lives here, at ``ambientloss.annotation`` (the modules behind it are private):

* trajectories: classifier probabilities over a grid of levels (:func:`classifier_trajectory`), on
  grids from :func:`vp_uniform_grid`, :func:`edm_lognormal_grid` and :func:`ddpm_timestep_grid`.
* selection: per-sample ``sigma_min`` from a trajectory (:func:`select_sigma_min`, rules ``"first"``
  and ``"monotone"``, :data:`SELECTION_PRESETS`).
* bisection: the monotone rule in ``O(n_draws log G)`` classifier evaluations per sample
  (:func:`adaptive_sigma_min`).
* criteria: dataset ``sigma_min`` from total variation or the classifier mean, or by a validation
  sweep over candidate levels (:func:`sweep_sigma_min`).
* aggregates: buckets, sources and quality-score quantiles; one level per group (a demonstration, a
  source) with the ``groups=`` / ``pool=`` options of :func:`select_sigma_min` (:data:`POOLS`).
* soft ambient diffusion: per-sample importance weights of stored low-quality samples
  (:func:`soft_weights_from_classifier`), instead of per-sample levels.
* ``sigma_max`` from window classifiers (locality): :func:`sigma_max_from_window_probs`.
* :class:`Annotation`: levels that carry their schedule.
* classifier quality: per-level balanced accuracy, ROC AUC and calibration on held-out rows
  (:func:`classifier_quality`), and the check that warns when the classifier is at chance
  (:func:`check_classifier`, :class:`ClassifierAtChanceWarning`).
* the report: levels per source, never-usable fractions, training signal and classifier quality as a
  table, a figure and JSON (:func:`annotation_report`).
* named warnings and errors: :class:`AnnotationWarning`, :class:`AllFallbackWarning` (every sample
  took the fallback), :class:`GridTooShortError` (a smoothing longer than the grid).
* at scale: classifier training batches (:func:`classifier_batch`), the per-batch function
  (:class:`BatchAnnotator`) and resumable streaming (:func:`annotate_stream`).
"""

from ._adaptive import AdaptiveResult, adaptive_sigma_min, bisection_cost
from ._aggregate import bucket_sigma_min, quality_ranks, sigma_min_by_quality, source_sigma_min
from ._batch_fn import BatchAnnotator
from ._classifier_data import (
    CLASSES,
    ClassifierBatch,
    binary_cross_entropy,
    class_probability,
    classifier_batch,
    sample_levels,
)
from ._criteria import sigma_min_from_classifier_mean, sigma_min_from_tv, total_variation_estimate
from ._engine import CallCount
from ._grids import ddpm_timestep_grid, edm_lognormal_grid, vp_uniform_grid
from ._quality import ClassifierQuality, check_classifier, classifier_quality
from ._report import AnnotationReport, annotation_report
from ._selection import POOLS, RULES, SELECTION_PRESETS, ema, select_sigma_min, select_with_preset
from ._sigma_max import SIGMA_MAX_TABLES, WindowTable, sigma_max_from_window_probs
from ._soft import soft_weights_from_classifier
from ._streaming import MANIFEST, RESULT, StreamResult, annotate_stream
from ._sweep import SweepResult, sweep_sigma_min
from ._trajectories import classifier_trajectory
from ._units import Annotation
from ._warnings import AllFallbackWarning, AnnotationWarning, ClassifierAtChanceWarning, GridTooShortError

__all__ = [
    "CLASSES",
    "MANIFEST",
    "POOLS",
    "RESULT",
    "RULES",
    "SELECTION_PRESETS",
    "SIGMA_MAX_TABLES",
    "AdaptiveResult",
    "AllFallbackWarning",
    "Annotation",
    "AnnotationReport",
    "AnnotationWarning",
    "BatchAnnotator",
    "CallCount",
    "ClassifierAtChanceWarning",
    "ClassifierBatch",
    "ClassifierQuality",
    "GridTooShortError",
    "StreamResult",
    "SweepResult",
    "WindowTable",
    "adaptive_sigma_min",
    "annotate_stream",
    "annotation_report",
    "binary_cross_entropy",
    "bisection_cost",
    "bucket_sigma_min",
    "check_classifier",
    "class_probability",
    "classifier_batch",
    "classifier_quality",
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
    "soft_weights_from_classifier",
    "source_sigma_min",
    "sweep_sigma_min",
    "total_variation_estimate",
    "vp_uniform_grid",
]


def __dir__() -> list[str]:
    """The public API only: ``__all__``."""
    return sorted(__all__)
