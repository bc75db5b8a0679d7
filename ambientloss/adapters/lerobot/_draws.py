"""What a LeRobot training step draws and looks up without reading the device: the table, the ambient generator.

* The policy's noise table is read once per scheduler (and again only when the scheduler's
  ``alphas_cumprod`` is replaced), then kept as a :class:`ambientloss.Discrete` and, per device and
  dtype, as a tensor that the step's timesteps index directly (no range check reads them).
* The low-quality rows' truncated timesteps take one uniform per row, drawn for every row whether or
  not it needs one, so no count of the corrupt rows is read. :class:`AmbientDraws` owns the generator
  those uniforms come from, one per device, all seeded alike: LeRobot's global stream never sees them.
"""

from __future__ import annotations

import contextlib
import hashlib
import weakref
from typing import Any

import torch
from torch import Tensor

from ... import Discrete
from ._internals import diffusion_model

__all__ = ["AmbientDraws", "seed_from_global_state", "timestep_table"]

_TABLES: weakref.WeakKeyDictionary[Any, tuple[Any, Discrete, dict[tuple[torch.device, torch.dtype], Tensor]]]
_TABLES = weakref.WeakKeyDictionary()


def timestep_table(model: Any, device: torch.device, dtype: torch.dtype) -> tuple[Discrete, Tensor]:
    """The policy's table as a :class:`~ambientloss.Discrete` and as levels ``sqrt(1 - alphas_cumprod)`` on ``device``.

    ``table[t]`` is ``schedule.sigma_for_timestep(t, dtype=dtype)`` bit for bit (the same float64 table
    cast once), without its range check, which reads ``t``.
    """
    scheduler = diffusion_model(model).noise_scheduler
    alphas = getattr(scheduler, "alphas_cumprod", None)
    try:
        entry = _TABLES.get(scheduler)
    except TypeError:  # a scheduler that cannot be weakly referenced: no cache
        entry = None
    if entry is None or entry[0] is not alphas:
        entry = (alphas, Discrete.from_scheduler(scheduler), {})
        with contextlib.suppress(TypeError):  # no cache for a scheduler that cannot be weakly referenced
            _TABLES[scheduler] = entry
    _, schedule, tables = entry
    key = (device, dtype)
    if key not in tables:
        tables[key] = torch.as_tensor(schedule.sigmas, dtype=dtype, device=device)
    return schedule, tables[key]


def seed_from_global_state() -> int:
    """A 63-bit seed that is a hash of torch's global (CPU) generator state; nothing is drawn from it."""
    state = torch.get_rng_state().numpy().tobytes()
    return int.from_bytes(hashlib.blake2b(state, digest_size=8).digest(), "little") >> 1


class AmbientDraws:
    """The generator of the ambient rows' uniforms: one ``torch.Generator`` per device, each seeded with ``seed``."""

    def __init__(self, seed: int) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            msg = f"seed must be a non-negative int or None, got {seed!r}"
            raise ValueError(msg)
        self.seed = seed
        self.generators: dict[torch.device, torch.Generator] = {}

    def generator(self, device: torch.device) -> torch.Generator:
        """The generator on ``device`` (created and seeded on first use)."""
        if device not in self.generators:
            self.generators[device] = torch.Generator(device=device).manual_seed(self.seed)
        return self.generators[device]

    def __repr__(self) -> str:
        return f"AmbientDraws(seed={self.seed})"
