"""A :class:`~ambientloss.Levels` given to an adapter in place of ``(sigma, sigma_min)``: the one check it needs.

Every adapter entry point follows the core's convention: the levels object takes the place of
``sigma``, and the slot of ``sigma_min`` then holds the argument that follows the levels (or nothing).
"""

from __future__ import annotations

from typing import Any

from ..core.levels import Levels
from ..core.schedules import VE, VP, Flow, Schedule, get_schedule, schedule_given

__all__ = ["after_levels", "levels_alone", "levels_for"]


def levels_for(levels: Levels, schedule: Any, owner: str) -> Levels:
    """``levels`` when built with ``schedule``; ``ValueError`` naming both schedules and ``owner`` otherwise.

    Two schedules are one when they are the same object, or two instances of a built-in schedule
    without parameters (``"vp"``, ``"ve"``, ``"flow"``). A ``schedule`` left at its default
    (``ambientloss.core.schedules.DEFAULT_SCHEDULE``) is the levels' own.
    """
    if not schedule_given(schedule):
        return levels
    mine, theirs = levels.schedule, get_schedule(schedule)
    if not _same(mine, theirs):
        msg = (
            f"the Levels were built with schedule {mine!r} but {owner} uses schedule {theirs!r}; "
            f"build them with schedule={theirs!r}"
        )
        raise ValueError(msg)
    return levels


def levels_alone(levels: Levels, extra: Any, schedule: Any, owner: str) -> Levels:
    """:func:`levels_for`, and ``TypeError`` when a level follows the :class:`Levels` (``extra``)."""
    if extra is not None:
        msg = "sigma_min is part of the Levels: pass nothing in its place"
        raise TypeError(msg)
    return levels_for(levels, schedule, owner)


def after_levels(slot: Any, given: Any, name: str) -> Any:
    """The argument after a :class:`Levels`: in the ``sigma_min`` slot (``slot``) or by name (``given``), not both."""
    if slot is not None and given is not None:
        msg = f"after a Levels comes {name} alone (sigma_min is part of the Levels)"
        raise TypeError(msg)
    return given if slot is None else slot


def _same(a: Schedule, b: Schedule) -> bool:
    return a is b or (type(a) is type(b) and type(a) in (VP, VE, Flow))
