"""Exact mathematics to test ambient-diffusion implementations against (NumPy only; no torch or jax).

``ambientloss.testing.gaussian`` holds the closed-form Gaussian oracles: schedule scalars written
from their definitions, independently of :mod:`ambientloss.core.schedules`, and the posterior quantities
``E[x0 | x_t]``, ``E[eps | x_t]``, ``E[v | x_t]``, ``E[velocity | x_t]``, the score and
``E[x_tmin | x_t]`` for ``x0 ~ N(mu, Sigma)``.

``ambientloss.testing.divergences`` holds KL, Bhattacharyya, Hellinger and total variation between
noised Gaussians at the schedule-free level ``nu = b / a``, TV bounds and the exact ``sigma_min``;
``ambientloss.testing.classifier`` the Bayes-optimal noise-conditional classifier and its exact means;
``ambientloss.testing.mixture`` Gaussian-mixture (and point-mass) posterior means;
``ambientloss.testing.oracle_schedules`` turns a custom oracle schedule into its library twin and any
library schedule (a custom or discrete one) into an oracle.
"""

from .classifier import (
    bayes_classifier,
    bayes_logit,
    classifier_mean_on_clean,
    classifier_mean_on_corrupt,
    per_sample_classifier_mean,
    triangular_discrimination,
)
from .divergences import (
    bhattacharyya,
    hellinger,
    kl,
    mahalanobis,
    normal_cdf,
    normal_ppf,
    scalars_from_level,
    schedule_free_of,
    sigma_min_bracket,
    sigma_min_for_tv,
    total_variation,
    tv_bounds,
    tv_lower_bound,
    tv_threshold_delta,
    tv_upper_bound,
)
from .gaussian import CLEAN, KINDS, Gaussian, OracleSchedule, Scalars, pair_scalars, random_gaussian
from .mixture import GaussianMixture
from .oracle_schedules import LibrarySchedule, custom_schedule

__all__ = ["CLEAN", "KINDS", "Gaussian", "OracleSchedule", "Scalars", "pair_scalars", "random_gaussian"]
# any schedule as an oracle: the library twin of the custom family, and library schedules read in float64
__all__ += ["LibrarySchedule", "custom_schedule"]

# divergences, sigma_min and the Bayes classifier (math 6.4-6.6)
__all__ += [
    "GaussianMixture",
    "bayes_classifier",
    "bayes_logit",
    "bhattacharyya",
    "classifier_mean_on_clean",
    "classifier_mean_on_corrupt",
    "hellinger",
    "kl",
    "mahalanobis",
    "normal_cdf",
    "normal_ppf",
    "per_sample_classifier_mean",
    "scalars_from_level",
    "schedule_free_of",
    "sigma_min_bracket",
    "sigma_min_for_tv",
    "total_variation",
    "triangular_discrimination",
    "tv_bounds",
    "tv_lower_bound",
    "tv_threshold_delta",
    "tv_upper_bound",
]

# property-based verification of any ambient-target implementation (Hypothesis is imported lazily)
from .check import CheckReport, PropertyResult, check_target_fn  # noqa: E402

__all__ += ["CheckReport", "PropertyResult", "check_target_fn"]
