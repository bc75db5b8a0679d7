"""Exact ambient-diffusion targets, noising, weights and losses for any array library."""

from __future__ import annotations

from . import annotation, sampling
from ._levels import admissible
from .admissibility import Buffer, threshold, trusted_level, usable
from .conversions import alpha_sigma, convert_level, level_from_schedule_free, log_snr, schedule_free_level
from .discrete import Discrete
from .frozen import frozen_noise, frozen_x_tmin
from .losses import squared_error
from .noising import add_noise, renoise
from .schedules import VE, VP, Custom, Flow, Schedule, get_schedule
from .targets import PREDICTIONS, ambient_pair, ambient_target, standard_target
from .weights import loss_weight, target_variance

__version__ = "0.1.0"

__all__ = [
    "PREDICTIONS",
    "VE",
    "VP",
    "Buffer",
    "Custom",
    "Discrete",
    "Flow",
    "Schedule",
    "__version__",
    "add_noise",
    "admissible",
    "alpha_sigma",
    "ambient_pair",
    "ambient_target",
    "annotation",
    "convert_level",
    "frozen_noise",
    "frozen_x_tmin",
    "get_schedule",
    "level_from_schedule_free",
    "log_snr",
    "loss_weight",
    "renoise",
    "sampling",
    "schedule_free_level",
    "squared_error",
    "standard_target",
    "target_variance",
    "threshold",
    "trusted_level",
    "usable",
]
