r"""Demonstrations of the pushing task and their action chunks.

Observation at step ``t``: the environment's 8 numbers with the six positions (pusher now, pusher one step
ago, block centre) mapped from ``[0, 1]`` to ``[-1, 1]``; ``cos 4a, sin 4a`` already lie there.
Action chunk: the next ``HORIZON`` commanded positions ``a_t .. a_{t+15}`` relative to the pusher position at
``t``, divided by ``SCALE`` (0.4 table units; the expert's chunks stay within 0.34) and clipped to
``[-1, 1]``; after a demonstration's last step its last command is repeated.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmarks.policy.chunking import chunk_windows
from benchmarks.policy.config import HORIZON

from .env import Dynamics, Layout
from .expert import expert_demos

__all__ = ["HORIZON", "SCALE", "Demo", "chunks", "decode", "demos", "encode", "normalise_obs"]

SCALE = 0.4  #: table units per chunk unit

Demo = tuple[np.ndarray, np.ndarray]  #: observations ``(T, 8)`` and commanded positions ``(T, 2)``


def normalise_obs(obs: np.ndarray) -> np.ndarray:
    """Observations ``(..., 8)`` in table units -> model coordinates in ``[-1, 1]``."""
    out = np.array(obs, dtype=np.float64, copy=True)
    out[..., :6] = 2 * out[..., :6] - 1
    return out


def encode(actions: np.ndarray, pusher: np.ndarray) -> np.ndarray:
    """Chunks ``(B, T, 2)`` of absolute commands ``actions`` relative to ``pusher`` ``(B, 2)`` (table units)."""
    return np.clip((actions - pusher[:, None]) / SCALE, -1.0, 1.0)


def decode(chunk: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """Absolute commanded positions ``(B, T, 2)`` of model chunks planned at model observations ``obs``."""
    pusher = (obs[:, :2] + 1) / 2
    return pusher[:, None] + chunk * SCALE


def chunks(demos: list[Demo], *, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Training rows ``(obs (N, 8), chunk (N, HORIZON, 2))`` at every ``stride``-th step of every demo.

    Examples
    --------
    >>> obs = np.tile([0.5, 0.5, 0.5, 0.5, 0.3, 0.3, 1.0, 0.0], (3, 1))
    >>> act = np.array([[0.5, 0.54], [0.5, 0.58], [0.5, 0.62]])
    >>> o, x = chunks([(obs, act)])
    >>> o.shape, x.shape, [round(float(v), 3) for v in (x[0, 0, 1], x[0, -1, 1], x[2, 0, 1])]
    ((3, 8), (3, 16, 2), [0.1, 0.3, 0.3])
    """
    obs_rows, act_rows = [], []
    for obs, act in demos:
        t, future = chunk_windows(len(act), HORIZON, stride=stride)
        obs_rows.append(normalise_obs(obs[t]))
        act_rows.append(encode(act[future], obs[t, :2]))
    return np.concatenate(obs_rows).astype(np.float32), np.concatenate(act_rows).astype(np.float32)


def demos(layout: Layout, n: int, dynamics: Dynamics, seed: list[int], cache: Path | None = None) -> list[Demo]:
    """``n`` expert demonstrations in ``dynamics``, drawn with ``numpy.random.default_rng(seed)``; cached as npz."""
    tag = "-".join(str(s) for s in seed)
    f = None if cache is None else cache / f"push-{layout.name.replace(' ', '')}-{dynamics.name}-{n}-{tag}.npz"
    if f is not None and f.exists():
        z = np.load(f)
        cut = np.cumsum(z["lengths"])[:-1]
        return list(zip(np.split(z["obs"], cut), np.split(z["act"], cut), strict=True))
    out = expert_demos(layout, n, np.random.default_rng(seed), dynamics)
    if f is not None:
        f.parent.mkdir(parents=True, exist_ok=True)
        np.savez(f, obs=np.concatenate([o for o, _ in out]), act=np.concatenate([a for _, a in out]),
                 lengths=[len(a) for _, a in out])
    return out
