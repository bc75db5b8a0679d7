r"""Training rows of the bin-sorting policy: normalised observations and action chunks.

Observation at step ``t``: the env's 9 floats mapped to ``[-1, 1]`` (positions ``2 p - 1``, the holding flag
``2 h - 1``; grip state and colour are already ``+-1``), then the object's offset from the gripper
(``object - gripper``, in ``[-1, 1]``) as two more features, :data:`OBS_FEATURES` in all: the grasp needs
that offset to within the grasp radius, and a small network learns it faster given than computed.

Action chunk: the next :data:`HORIZON` actions ``t .. t + HORIZON - 1``, each the commanded position relative
to the current gripper position divided by :data:`SCALE` (``HORIZON`` times the largest cruise speed, so a
chunk of cruise moves stays in ``[-1, 1]``) and the grip command as ``+-1``; after the end of a
demonstration its last action is repeated.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from benchmarks.policy.chunking import chunk_windows
from benchmarks.policy.config import HORIZON

from .expert import CRUISE_SPEED

__all__ = ["HORIZON", "OBS_FEATURES", "SCALE", "chunks", "decode", "encode", "normalise_obs"]

SCALE = HORIZON * CRUISE_SPEED[1]
OBS_FEATURES = 11  #: policy observation size


def normalise_obs(obs: np.ndarray) -> np.ndarray:
    """``(..., 9)`` env observations mapped to ``[-1, 1]``, plus the object's offset: ``(..., 11)``.

    Examples
    --------
    >>> normalise_obs(np.array([[0.0, 1.0, 0.5, 0.5, -1.0, 0.25, 0.75, 1.0, 0.0]])).tolist()
    [[-1.0, 1.0, 0.0, 0.0, -1.0, -0.5, 0.5, 1.0, -1.0, 0.25, -0.25]]
    """
    raw = np.asarray(obs, dtype=np.float64)
    o = raw.copy()
    o[..., [0, 1, 2, 3, 5, 6]] = 2 * o[..., [0, 1, 2, 3, 5, 6]] - 1
    o[..., 8] = 2 * o[..., 8] - 1
    return np.concatenate([o, raw[..., 5:7] - raw[..., :2]], axis=-1)


def encode(actions: np.ndarray, gripper: np.ndarray) -> np.ndarray:
    """Model chunks ``(..., T, 3)`` of absolute actions ``(..., T, 3)`` planned at gripper positions ``(..., 2)``."""
    a = np.asarray(actions, dtype=np.float64)
    rel = (a[..., :2] - np.asarray(gripper, dtype=np.float64)[..., None, :]) / SCALE
    return np.concatenate([rel, np.where(a[..., 2:] > 0, 1.0, -1.0)], axis=-1)


def decode(chunk: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """Absolute actions ``(B, T, 3)`` of model chunks ``(B, T, 3)`` sampled at normalised observations ``(B, 11)``.

    The position is the current gripper position plus ``SCALE`` times the chunk; the grip is the sign of the
    chunk's third channel (``+1`` closed, ``-1`` open; 0 counts as open).

    Examples
    --------
    >>> obs = normalise_obs(np.array([[0.5, 0.3, 0.5, 0.3, -1, 0.5, 0.3, 1, 0]]))
    >>> a = np.array([[[0.52, 0.31, 1.0], [0.54, 0.32, -1.0]]])
    >>> bool(np.allclose(decode(encode(a, np.array([[0.5, 0.3]])), obs), a))
    True
    """
    c = np.asarray(chunk, dtype=np.float64)
    cur = (np.asarray(obs, dtype=np.float64)[:, :2] + 1) / 2
    pos = cur[:, None] + c[..., :2] * SCALE
    return np.concatenate([pos, np.where(c[..., 2:] > 0, 1.0, -1.0)], axis=-1)


def chunks(demos: Sequence[tuple[np.ndarray, np.ndarray]], *, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Training rows ``(obs (N, 11), chunk (N, HORIZON, 3))`` at every ``stride``-th step of every demonstration.

    Examples
    --------
    >>> obs = np.tile([0.5, 0.3, 0.5, 0.3, -1, 0.5, 0.3, 1, 0], (3, 1))
    >>> act = np.array([[0.51, 0.3, -1.0], [0.52, 0.3, -1.0], [0.53, 0.3, 1.0]])
    >>> o, c = chunks([(obs, act)])
    >>> o.shape, c.shape, bool(np.allclose(c[0, 2:], c[0, 2])), float(c[2, 0, 2])
    ((3, 11), (3, 16, 3), True, 1.0)
    """
    obs_rows, chunk_rows = [], []
    for obs, act in demos:
        obs, act = np.asarray(obs, dtype=np.float64), np.asarray(act, dtype=np.float64)
        if obs.ndim != 2 or act.ndim != 2 or len(obs) != len(act) or len(obs) == 0:
            got = f"{obs.shape}, {act.shape}"
            raise ValueError(f"each demo must be (obs (T, 9), actions (T, 3)) with T >= 1, got {got}")
        t, future = chunk_windows(len(act), HORIZON, stride=stride)
        obs_rows.append(normalise_obs(obs[t]))
        chunk_rows.append(encode(act[future], obs[t, :2]))
    return np.concatenate(obs_rows).astype(np.float32), np.concatenate(chunk_rows).astype(np.float32)
