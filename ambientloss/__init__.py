"""Exact ambient-diffusion targets, noising, weights and losses for any array library."""

from typing import TYPE_CHECKING, Any

from .core.admissibility import admissible, threshold, trusted_level, usable
from .core.buffer import Buffer
from .core.conversions import coefficients, convert_level, level_from_schedule_free, log_snr, schedule_free_level
from .core.discrete import Discrete
from .core.frozen import frozen_noise, frozen_x_tmin
from .core.levels import Levels
from .core.losses import REDUCTIONS, squared_error
from .core.noising import add_noise, renoise
from .core.schedules import VE, VP, Custom, Flow, Schedule, get_schedule
from .core.soft import soft_ambient_weight
from .core.targets import PREDICTIONS, ambient_pair, ambient_target, standard_target
from .core.validation import checks, checks_enabled
from .core.weights import Weighting, loss_weight, target_variance

if TYPE_CHECKING:
    from . import adapters, annotation, sampling, testing

__version__ = "0.1.0"

#: feature subpackages, imported on first use: ``import ambientloss`` loads the core only
_LAZY = ("adapters", "annotation", "sampling", "testing")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    """The public API only: ``__all__`` (no helper imports, no submodule that is not a feature subpackage)."""
    return sorted(__all__)


__all__ = [
    "PREDICTIONS",
    "REDUCTIONS",
    "VE",
    "VP",
    "Buffer",
    "Custom",
    "Discrete",
    "Flow",
    "Levels",
    "Schedule",
    "Weighting",
    "__version__",
    "adapters",
    "add_noise",
    "admissible",
    "ambient_pair",
    "ambient_target",
    "annotation",
    "checks",
    "checks_enabled",
    "coefficients",
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
    "soft_ambient_weight",
    "squared_error",
    "standard_target",
    "target_variance",
    "testing",
    "threshold",
    "trusted_level",
    "usable",
]

del TYPE_CHECKING, Any  # helpers of this module only: dir(ambientloss) and globals hold the public API
