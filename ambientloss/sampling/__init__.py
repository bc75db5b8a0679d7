"""Training noise levels: base distributions and exact truncated (data-first) samplers.

Levels are always in the units of the base distribution's schedule (``base.schedule``); annotations
given in another schedule convert through :func:`ambientloss.convert_level`. The level-first plans
(:mod:`ambientloss.sampling.sigma_first`), the published settings (:mod:`ambientloss.sampling.presets`)
and batch diagnostics (:mod:`ambientloss.sampling.diagnostics`) are modules of their own.
"""

from ._bases import Base, DiscreteTimesteps, GridDensity, LogitNormal, LogNormal, UniformVP
from ._truncated import admissible_mass, draw_sigma, sample_truncated, truncated_timesteps

__all__ = [
    "Base",
    "DiscreteTimesteps",
    "GridDensity",
    "LogNormal",
    "LogitNormal",
    "UniformVP",
    "admissible_mass",
    "draw_sigma",
    "sample_truncated",
    "truncated_timesteps",
]


def __dir__() -> list[str]:
    """The public API only: ``__all__``."""
    return sorted(__all__)
