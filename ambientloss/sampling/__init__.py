"""Training noise levels: base distributions, exact truncated (data-first) samplers, presets, diagnostics.

Levels are always in the units of the base distribution's schedule (``base.schedule``); annotations
given in another schedule convert through :func:`ambientloss.convert_level`.
"""

from __future__ import annotations

from .bases import Base, DiscreteTimesteps, GridDensity, LogitNormal, LogNormal, UniformVP
from .sigma_first import Draws, SigmaFirst
from .truncated import admissible_mass, draw_sigma, sample_truncated, truncated_timesteps

__all__ = [
    "Base",
    "DiscreteTimesteps",
    "Draws",
    "GridDensity",
    "LogNormal",
    "LogitNormal",
    "SigmaFirst",
    "UniformVP",
    "admissible_mass",
    "draw_sigma",
    "sample_truncated",
    "truncated_timesteps",
]
