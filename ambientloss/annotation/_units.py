r"""Annotations that carry their units: ``(sigma_min, sigma_max)`` together with the schedule they are in.

The same amount of corruption reads VE 1.89, VP 0.884 or flow 0.654: every level is converted through
the schedule-free level :math:`\tilde\sigma = b / a` (:func:`ambientloss.convert_level`), on which all
divergences between the noised clean and corrupt laws depend. ``sigma_min = inf`` is the sentinel "never
used as ambient data" in every schedule (the top level of VP or flow, where :math:`a = 0`, means the
same and converts to VE ``inf``); ``sigma_max = 0`` means "never used as clean data".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.arrays import check_floating, is_scalar, namespace, raise_where, to_numpy, values_readable
from ..core.conversions import convert_level
from ..core.discrete import Discrete
from ..core.schedules import Schedule, get_schedule

__all__ = ["Annotation"]


def _check(value: Any, name: str, sched: Schedule, *, allow_inf: bool) -> Any:
    if value is None:
        return None
    if is_scalar(value):
        v = float(value)
        ok = sched.lower <= v <= sched.upper or (allow_inf and v == math.inf)
        if not ok:
            msg = f"{name}={v} is outside the domain {sched.domain_text} of the {sched.name!r} schedule"
            raise ValueError(msg)
        return v
    xp = namespace({name: value}, None)
    check_floating(value, name, xp)
    if values_readable(value):
        inside = (value >= sched.lower) & (value <= sched.upper)
        if allow_inf:
            inside = inside | (value == math.inf)
        raise_where(
            ~inside,
            xp,
            f"{name}={{v!r}} is outside the domain {sched.domain_text} of the {sched.name!r} schedule",
            v=value,
        )
    return value


def _convert(value: Any, source: Schedule, target: Schedule) -> Any:
    if value is None:
        return None
    if is_scalar(value):
        return math.inf if value == math.inf else float(convert_level(float(value), source=source, target=target))
    xp = namespace({"level": value}, None)
    never = value == math.inf
    finite = xp.where(never, xp.zeros_like(value), value)
    out = convert_level(finite, source=source, target=target, xp=xp)
    return xp.where(never, xp.full_like(out, math.inf), out)


@dataclass(frozen=True, eq=False)  # levels may be arrays, whose == is elementwise
class Annotation:
    """Per-sample (or per-dataset) ``sigma_min`` and optional ``sigma_max`` in the units of ``schedule``.

    Examples
    --------
    >>> from ambientloss.annotation import Annotation
    >>> ann = Annotation(1.89, sigma_max=0.15, schedule="ve")
    >>> vp = ann.to("vp")
    >>> round(vp.sigma_min, 4), round(vp.sigma_max, 4), vp.schedule.name
    (0.8839, 0.1483, 'vp')
    >>> round(vp.to("ve").sigma_min, 12)
    1.89
    """

    sigma_min: Any
    sigma_max: Any = None
    schedule: Any = "vp"

    def __post_init__(self) -> None:
        sched = get_schedule(self.schedule)
        object.__setattr__(self, "schedule", sched)
        object.__setattr__(self, "sigma_min", _check(self.sigma_min, "sigma_min", sched, allow_inf=True))
        object.__setattr__(self, "sigma_max", _check(self.sigma_max, "sigma_max", sched, allow_inf=True))

    def to(self, schedule: Any) -> Annotation:
        """The same annotation in the units of ``schedule`` (equal schedule-free levels)."""
        target = get_schedule(schedule)
        return Annotation(
            _convert(self.sigma_min, self.schedule, target), _convert(self.sigma_max, self.schedule, target), target
        )

    def schedule_free(self) -> tuple[Any, Any]:
        """``(sigma_min, sigma_max)`` as schedule-free levels ``b / a`` (the VE levels)."""
        return _convert(self.sigma_min, self.schedule, get_schedule("ve")), _convert(
            self.sigma_max, self.schedule, get_schedule("ve")
        )

    def timesteps(self, schedule: Discrete) -> tuple[Any, Any]:
        """``(t_min, t_max)`` on a :class:`~ambientloss.Discrete` table, each rounded to the safe side.

        ``t_min`` is the smallest timestep whose level is at least ``sigma_min`` (``num_train_timesteps``
        where none is); ``t_max`` the largest timestep whose level is at most ``sigma_max`` (``-1``
        where none is).

        Examples
        --------
        >>> from ambientloss import Discrete
        >>> from ambientloss.annotation import Annotation
        >>> sched = Discrete.from_diffusers("squaredcos_cap_v2", num_train_timesteps=100)
        >>> Annotation(float(sched.sigmas[18]) - 1e-9, schedule="vp").timesteps(sched)
        (18, None)
        """
        if not isinstance(schedule, Discrete):
            msg = f"schedule must be an ambientloss.Discrete table, got {type(schedule).__name__}"
            raise TypeError(msg)
        table = schedule.sigmas
        lo = _convert(self.sigma_min, self.schedule, schedule)
        hi = _convert(self.sigma_max, self.schedule, schedule)

        def t_min(v: Any) -> Any:
            out = np.searchsorted(table, to_numpy(np.asarray(v) if is_scalar(v) else v), side="left")
            return int(out) if is_scalar(v) else out

        def t_max(v: Any) -> Any:
            out = np.searchsorted(table, to_numpy(np.asarray(v) if is_scalar(v) else v), side="right") - 1
            return int(out) if is_scalar(v) else out

        return t_min(lo), None if hi is None else t_max(hi)
