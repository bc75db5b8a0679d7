"""The scripted bin-sorting demonstrator: smooth pick-and-place at a roughly constant speed.

A demonstration is: approach the object along a cubic Bezier curve bent by a random lateral offset, close
the gripper for :data:`CLOSE_STEPS` steps, carry the object along another bent curve to a random point well
inside the target bin, open, and hold still for :data:`HOLD_STEPS` steps. Each curve is traversed by arc
length under a speed profile with raised-cosine ramps (zero velocity and acceleration at both ends, bounded
jerk) and a cruise speed drawn per demonstration from :data:`CRUISE_SPEED`, below the env's ``MAX_SPEED``,
so the env executes the plan exactly.

With probability ``miss_rate`` a demonstration first misses: it approaches a point
:data:`MISS_DISTANCE` x ``GRASP_RADIUS`` away from the object, closes there on nothing, reopens for
:data:`REOPEN_STEPS` steps and moves on to the object along a short bent curve, then grasps and carries as
above, so the data show the way back from a closed, empty gripper.

The ``rule`` picks the target bin: ``"correct"`` (bin = colour), ``"random"`` (a fair coin per
demonstration) or ``"swapped"`` (bin = 1 - colour). Every rule draws the same random numbers in the same
order (the miss included), so for one seed the rules differ only in the target bin, never in motion quality
or in which demonstrations miss: the correct and the low-quality data show the recovery alike.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from benchmarks.sorting.env import GRASP_RADIUS, MAX_STEPS, BatchEnv, Layout, Tasks, sample_tasks

__all__ = [
    "CLOSE_STEPS",
    "CRUISE_SPEED",
    "HOLD_STEPS",
    "MISS_DISTANCE",
    "MISS_RATE",
    "RAMP_STEPS",
    "REOPEN_STEPS",
    "RULES",
    "Plan",
    "expert_demos",
    "expert_episode",
    "plan_expert",
]

RULES = ("correct", "random", "swapped")
CRUISE_SPEED = (0.026, 0.034)
"""Range of the per-demonstration cruise speed (distance per step)."""
RAMP_STEPS = 5
"""Steps of each raised-cosine speed ramp."""
CLOSE_STEPS = 3
"""Steps the gripper stays closed and still on the object before carrying it."""
HOLD_STEPS = 4
"""Steps the gripper stays open and still after the release."""
MISS_RATE = 0.2
"""Default share of demonstrations that miss the first grasp and recover."""
MISS_DISTANCE = (2.0, 3.0)
"""Range of the missed close's distance from the object, in units of ``GRASP_RADIUS``."""
REOPEN_STEPS = 2
"""Steps the gripper stays open and still after a missed close, before moving on to the object."""
BEND = 0.2
"""Largest lateral offset of a curve's control points, as a fraction of the chord length."""
BIN_MARGIN = 0.25
"""Targets avoid this fraction of the bin's width and height at each side."""
_EDGE = 0.02


class Plan(NamedTuple):
    """A planned demonstration of ``T`` steps."""

    positions: np.ndarray
    """``(T + 1, 2)`` gripper positions; action ``t`` commands ``positions[t + 1]``."""
    grips: np.ndarray
    """``(T,)`` grip commands, exactly ``-1.0`` (open) or ``+1.0`` (closed)."""
    bin: int
    """The target bin."""
    missed: bool = False
    """Whether the demonstration first closes on nothing and recovers."""


def _bezier(p0: np.ndarray, p3: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Control points ``(4, 2)`` of a curve from ``p0`` to ``p3`` bent sideways, kept inside the square."""
    chord = p3 - p0
    normal = np.array([-chord[1], chord[0]])
    lateral = rng.uniform(-BEND, BEND, size=2)
    p1 = p0 + chord / 3 + lateral[0] * normal
    p2 = p0 + 2 * chord / 3 + lateral[1] * normal
    return np.stack([p0, *np.clip([p1, p2], _EDGE, 1 - _EDGE), p3])


def _progress(tau: np.ndarray, ramp: float) -> np.ndarray:
    """Fraction of the path covered at normalised time ``tau``: raised-cosine ramps of fraction ``ramp``."""

    def head(t: np.ndarray) -> np.ndarray:  # integral of the speed shape from 0 to t, for t <= 1/2
        rise = t / 2 - ramp / (2 * np.pi) * np.sin(np.pi * np.minimum(t, ramp) / ramp)
        return np.where(t < ramp, rise, ramp / 2 + (t - ramp))

    total = 1.0 - ramp
    return np.where(tau <= 0.5, head(tau), total - head(1.0 - tau)) / total


def _segment(ctrl: np.ndarray, speed: float) -> np.ndarray:
    """Positions ``(n + 1, 2)`` along the Bezier curve at arc length per the speed profile (peak <= speed)."""
    u = np.linspace(0.0, 1.0, 257)[:, None]
    basis = np.hstack([(1 - u) ** 3, 3 * u * (1 - u) ** 2, 3 * u**2 * (1 - u), u**3])
    dense = basis @ ctrl
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(dense, axis=0), axis=1))])
    n = max(2 * RAMP_STEPS - 2, int(np.ceil(arc[-1] / speed + RAMP_STEPS)))
    s = _progress(np.arange(n + 1) / n, min(RAMP_STEPS / n, 0.5)) * arc[-1]
    points = np.column_stack([np.interp(s, arc, dense[:, k]) for k in range(2)])
    points[0], points[-1] = ctrl[0], ctrl[-1]
    return points


def _task(task: Tasks) -> tuple[np.ndarray, np.ndarray, int]:
    g = np.asarray(task.gripper_start, dtype=np.float64).reshape(-1)
    o = np.asarray(task.object_pos, dtype=np.float64).reshape(-1)
    c = np.asarray(task.colour).reshape(-1)
    if g.shape != (2,) or o.shape != (2,) or c.shape != (1,):
        msg = f"task must be one task: gripper_start (2,), object_pos (2,), colour (); got {g.shape}, {o.shape}"
        raise ValueError(msg)
    return g, o, int(c[0])


def _miss_point(obj: np.ndarray, angle: float, distance: float) -> np.ndarray:
    """A point ``distance`` from ``obj`` in direction ``angle`` (the opposite one if the square's edge is
    nearer), kept inside the square."""
    offset = distance * np.array([np.cos(angle), np.sin(angle)])
    point = np.clip(obj + offset, _EDGE, 1 - _EDGE)
    if np.linalg.norm(point - obj) < 0.75 * distance:
        point = np.clip(obj - offset, _EDGE, 1 - _EDGE)
    return point


def plan_expert(layout: Layout, task: Tasks, rng: np.random.Generator, *, rule: str,
                miss_rate: float = MISS_RATE) -> Plan:
    """Plan one demonstration (positions and grip commands) without running it.

    Parameters
    ----------
    layout : Layout
        Bins of the episode.
    task : Tasks
        One task: arrays of shape ``(2,)``, ``(2,)``, ``()`` (or with a leading axis of length 1).
    rng : numpy.random.Generator
        Source of the curve bends, speed, target point and (``rule="random"``) bin.
    rule : {"correct", "random", "swapped"}
        How the target bin follows from the colour.
    miss_rate : float
        Probability of a missed first close and its recovery (0: never, and no random numbers drawn for it).

    Returns
    -------
    Plan
        The planned positions, grip commands and target bin.
    """
    if rule not in RULES:
        msg = f"rule must be one of {RULES}, got {rule!r}"
        raise ValueError(msg)
    if not 0 <= miss_rate <= 1:
        msg = f"miss_rate must lie in [0, 1], got {miss_rate}"
        raise ValueError(msg)
    start, obj, colour = _task(task)
    coin = int(rng.integers(0, 2))  # drawn under every rule, so all rules consume the same random numbers
    target_bin = {"correct": colour, "random": coin, "swapped": 1 - colour}[rule]
    speed = rng.uniform(*CRUISE_SPEED)
    box = layout.bins[target_bin]
    lo, hi = box[:2] + BIN_MARGIN * (box[2:] - box[:2]), box[2:] - BIN_MARGIN * (box[2:] - box[:2])
    target = rng.uniform(lo, hi)
    missed, reach = False, obj
    if miss_rate > 0:  # the draws do not depend on the outcome, so the streams of all demonstrations stay aligned
        missed = bool(rng.random() < miss_rate)
        point = _miss_point(obj, rng.uniform(0, 2 * np.pi), rng.uniform(*MISS_DISTANCE) * GRASP_RADIUS)
        recover = _segment(_bezier(point, obj, rng), speed)
        reach = point if missed else obj
    approach = _segment(_bezier(start, reach, rng), speed)
    carry = _segment(_bezier(obj, target, rng), speed)
    grasp, release = np.repeat(obj[None], CLOSE_STEPS, axis=0), np.repeat(target[None], 1 + HOLD_STEPS, axis=0)
    parts, grips_parts = [approach], [-np.ones(len(approach) - 1)]
    if missed:
        parts += [np.repeat(reach[None], CLOSE_STEPS + REOPEN_STEPS, axis=0), recover[1:]]
        grips_parts += [np.ones(CLOSE_STEPS), -np.ones(REOPEN_STEPS + len(recover) - 1)]
    positions = np.concatenate([*parts, grasp, carry[1:], release])
    grips = np.concatenate([*grips_parts, np.ones(CLOSE_STEPS + len(carry) - 1), -np.ones(1 + HOLD_STEPS)])
    return Plan(positions, grips, target_bin, missed)


def expert_episode(
    layout: Layout, task: Tasks, rng: np.random.Generator, *, rule: str, max_steps: int = MAX_STEPS,
    miss_rate: float = MISS_RATE,
) -> tuple[np.ndarray, np.ndarray]:
    """One demonstration recorded through a 1-episode :class:`~benchmarks.sorting.env.BatchEnv`.

    The plan of :func:`plan_expert` is stepped through the env and ``obs[t]`` is what the env shows
    before action ``t``. The last :data:`HOLD_STEPS` steps follow the release, which ends the episode, so
    the env ignores them and their observations repeat the final state (gripper open and still).

    Returns
    -------
    obs : numpy.ndarray
        ``(T, 9)`` observations.
    actions : numpy.ndarray
        ``(T, 3)`` actions: commanded position and grip command in {-1, +1}.
    """
    plan = plan_expert(layout, task, rng, rule=rule, miss_rate=miss_rate)
    start, obj, colour = _task(task)
    env = BatchEnv(layout, Tasks(start[None], obj[None], np.array([colour])), max_steps=max_steps)
    actions = np.column_stack([plan.positions[1:], plan.grips])
    obs = np.empty((len(actions), env.obs_dim))
    for t, action in enumerate(actions):
        obs[t] = env.observe()[0]
        env.step(action[None])
    return obs, actions


def expert_demos(
    layout: Layout, n: int, rng: np.random.Generator, *, rule: str, max_steps: int = MAX_STEPS,
    miss_rate: float = MISS_RATE,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` demonstrations on fresh tasks from :func:`~benchmarks.sorting.env.sample_tasks`.

    Examples
    --------
    >>> from benchmarks.sorting.env import make_layout
    >>> demos = expert_demos(make_layout(None), 2, np.random.default_rng(0), rule="correct")
    >>> [(obs.shape[1], act.shape[1]) for obs, act in demos]
    [(9, 3), (9, 3)]
    """
    if rule not in RULES:
        msg = f"rule must be one of {RULES}, got {rule!r}"
        raise ValueError(msg)
    tasks = sample_tasks(layout, n, rng)
    return [
        expert_episode(layout, Tasks(*(np.asarray(a)[i] for a in tasks)), rng, rule=rule, max_steps=max_steps,
                       miss_rate=miss_rate)
        for i in range(n)
    ]
