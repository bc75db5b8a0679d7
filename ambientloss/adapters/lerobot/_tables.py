"""``Annotations``: per-episode or per-frame ambient levels, added to each LeRobot batch by lookup."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from ... import frozen_x_tmin
from ._inputs import ACTION, SIGMA_MAX_KEY, SIGMA_MIN_KEY, X_TMIN_KEY, choice, tensor

__all__ = ["Annotations"]


def _table(values: Any, name: str, upper: float) -> Tensor:
    """A dense float64 lookup table from a sequence / array / tensor, or a ``{id: level}`` mapping (NaN = absent)."""
    if isinstance(values, Mapping):
        ids = list(values)
        for i in ids:
            if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or i < 0:
                msg = f"{name} keys must be non-negative integer ids, got {i!r}"
                raise TypeError(msg)
        table = torch.full((max(ids, default=-1) + 1,), math.nan, dtype=torch.float64)
        for i in ids:
            table[int(i)] = float(values[i])
        given = table[[int(i) for i in ids]]
    else:
        if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray, Tensor)):
            msg = f"{name} must be a sequence, array, tensor or mapping of levels, got {type(values).__name__}"
            raise TypeError(msg)
        table = torch.as_tensor(np.asarray(values.detach().cpu() if isinstance(values, Tensor) else values, float))
        if table.ndim != 1:
            msg = f"{name} must be 1-D (one level per episode or frame), got shape {tuple(table.shape)}"
            raise ValueError(msg)
        given = table
    bad = ~((given >= 0) & (given <= upper))
    if bool(bad.any()):
        k = int(bad.nonzero()[0, 0])
        where = ids[k] if isinstance(values, Mapping) else k
        msg = f"{name}[{where}] = {given[k].item()!r} is not a VP level in [0, {upper:g}]"
        raise ValueError(msg)
    return table


class Annotations:
    r"""Per-episode or per-frame ambient annotations, added to each LeRobot batch by lookup.

    ``annotations(batch)`` returns a copy of the batch with ``"ambient.sigma_min"`` (and
    ``"ambient.sigma_max"``) of shape ``(B,)``, looked up by ``batch["episode_index"]``
    (``by="episode"``) or ``batch["index"]`` (``by="frame"``, the dataset's global frame index), and,
    when ``seed`` is given, the frozen trusted chunk

    .. math:: x_{t_{min}} = \sqrt{1 - \sigma_{min}^2}\, x_0 + \sigma_{min}\, \epsilon(\mathrm{seed}, \mathrm{index})

    (:func:`ambientloss.frozen_x_tmin` of the normalised actions, keyed by the frame index: the same
    noise for a frame in every epoch, worker and restart; ``x0`` itself on clean rows). Call it after
    LeRobot's preprocessor, which drops unknown keys and normalises the actions.

    Parameters
    ----------
    sigma_min : sequence, array, tensor or mapping
        One VP level in ``[0, 1)`` of the policy's table per episode (or frame), indexed by the global
        ``episode_index`` (or ``index``); or a ``{id: level}`` mapping, where a missing id raises on
        lookup. 0 marks a clean episode. Timesteps convert with ``schedule_of(policy).sigma_for_timestep``.
    sigma_max : same, optional
        Ambient-Omni's low-noise window per episode (or frame); 0 means none.
    by : {"episode", "frame"}
        The batch column to look up.
    seed : int, optional
        Experiment seed of the frozen noise; ``None`` adds no ``x_tmin`` (then only the
        ``"denoising"`` objective accepts corrupt rows).
    """

    def __init__(
        self,
        sigma_min: Any,
        sigma_max: Any | None = None,
        *,
        by: Literal["episode", "frame"] = "episode",
        seed: int | None = None,
    ) -> None:
        choice("by", by, ("episode", "frame"))
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            msg = f"seed must be a non-negative integer or None, got {seed!r}"
            raise ValueError(msg)
        self.by, self.seed = by, seed
        self.key = "episode_index" if by == "episode" else "index"
        self.sigma_min = _table(sigma_min, "sigma_min", math.nextafter(1.0, 0.0))
        self.sigma_max = None if sigma_max is None else _table(sigma_max, "sigma_max", 1.0)

    def __repr__(self) -> str:
        return f"Annotations({self.sigma_min.numel()} {self.by}s, seed={self.seed!r})"

    def _lookup(self, table: Tensor, ids: Tensor, name: str) -> Tensor:
        ids_cpu = ids.detach().cpu().long()
        outside = (ids_cpu < 0) | (ids_cpu >= table.numel())
        missing = outside.clone()
        missing[~outside] = torch.isnan(table[ids_cpu[~outside]])
        if bool(missing.any()):
            k = int(missing.nonzero()[0, 0])
            msg = f"{name} has no entry for {self.key} {int(ids_cpu[k])} (batch row {k}; {table.numel()} entries)"
            raise KeyError(msg)
        return table[ids_cpu]

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        """The batch with the annotation keys added (a shallow copy; the input is not modified)."""
        ids = tensor(batch, self.key)
        if ids.ndim != 1 or ids.dtype.is_floating_point or ids.dtype == torch.bool:
            msg = f"batch[{self.key!r}] must be a 1-D integer tensor, got {ids.dtype} {tuple(ids.shape)}"
            raise ValueError(msg)
        action = batch.get(ACTION)
        device = action.device if isinstance(action, Tensor) else ids.device
        out = dict(batch)
        sigma_min = self._lookup(self.sigma_min, ids, "sigma_min").to(device)
        out[SIGMA_MIN_KEY] = sigma_min
        if self.sigma_max is not None:
            out[SIGMA_MAX_KEY] = self._lookup(self.sigma_max, ids, "sigma_max").to(device)
        if self.seed is not None:
            action = tensor(batch, ACTION)
            index = tensor(batch, "index")
            out[X_TMIN_KEY] = frozen_x_tmin(action, index, sigma_min, seed=self.seed)
        return out
