r"""Per-batch statistics of noise levels and annotations, as a flat dict of Python floats for a logger.

For a usable sample on the high-noise branch with trusted level ``m`` and ``1 - r = D / (a_m b_t)^2``
(the relative log-SNR gap, :mod:`ambientloss.core.weights`), the batch reports

* the **ambient factor** ``1 / (1 - r)^2``: how much the x0 target's coefficients are amplified
  (Ambient-o's ``sigma^4 / (sigma^2 - sigma_min^2)^2`` in VE);
* the **target variance** ``v = b_m^2 b_t^2 / D`` of ``T_x0 - x0`` (:func:`ambientloss.target_variance`);
* the **inverse-variance weight** ``rho = (1 - r) sigma_data^2 / (sigma_data^2 + sigma~_m^2)``: the
  number of clean samples an ambient sample is worth.

Samples on the low-noise branch and clean samples count with factor 1, variance 0 and weight 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.arrays import Array, Namespace, is_scalar, namespace, to_numpy
from ..core.buffer import Buffer, as_buffer, branches
from ..core.levels import Levels, prepare_levels
from ..core.schedules import get_schedule
from ..core.weights import Weighting, loss_weight, target_variance

__all__ = ["batch_diagnostics"]


def _host(value: Any, name: str, xp: Namespace | None) -> Any:
    """``value`` as float64 NumPy (Python numbers unchanged), after the caller's dtype checks."""
    if value is None or is_scalar(value):
        return value
    namespace({name: value}, xp)
    return np.asarray(to_numpy(value), dtype=np.float64)


def _edges(buckets: int | Sequence[float], sigma: np.ndarray) -> np.ndarray:
    if isinstance(buckets, int) and not isinstance(buckets, bool):
        if buckets < 1:
            msg = f"buckets must be a positive integer or a sequence of edges, got {buckets!r}"
            raise ValueError(msg)
        return np.linspace(sigma.min(), sigma.max(), buckets + 1)
    edges = np.asarray(buckets, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0) or np.any(np.isnan(edges)):
        msg = f"bucket edges must be a strictly increasing sequence of at least two numbers, got {buckets!r}"
        raise ValueError(msg)
    return edges


def _stats(prefix: str, values: np.ndarray, out: dict[str, float]) -> None:
    if values.size:
        out[f"{prefix}/mean"] = float(values.mean())
        out[f"{prefix}/max"] = float(values.max())


def batch_diagnostics(
    sigma: Array | float,
    sigma_min: Array | float,
    sigma_max: Array | float | None = None,
    /,
    *,
    source: Any = None,
    buckets: int | Sequence[float] = 4,
    buffer: Buffer | None = None,
    schedule: Any = "vp",
    sigma_data: float = 1.0,
    xp: Namespace | None = None,
) -> dict[str, float]:
    r"""Fractions of usable samples (overall, per source, per level bucket) and ambient statistics.

    Parameters
    ----------
    sigma, sigma_min, sigma_max : array or float
        Levels and annotations of a batch, shape ``(N,)``, as in :func:`ambientloss.usable`.
    source : array or sequence, optional
        Source label of each sample (integers or strings), length ``N``.
    buckets : int or sequence of float
        ``K`` equal-width buckets between the batch's smallest and largest ``sigma`` (as Ambient-o
        logs), or explicit increasing edges (samples outside them are not bucketed). The last bucket
        is closed on the right.
    buffer, schedule
        As in :func:`~ambientloss.usable`.
    sigma_data : float
        Data standard deviation of the inverse-variance weight.
    xp : namespace, optional
        Namespace of the inputs; inferred when omitted. The statistics are computed on the host.

    Returns
    -------
    dict of str to float
        ``"count"``, ``"usable/fraction"``, ``"clean/fraction"``, ``"low_branch/fraction"``;
        ``"usable/fraction/source=<label>"`` and ``"count/source=<label>"``;
        ``"usable/fraction/bucket=<k>"`` with ``"bucket=<k>/lower"`` and ``"bucket=<k>/upper"``
        (empty buckets are left out); ``"ambient_factor/mean"``, ``"ambient_factor/max"``,
        ``"target_variance/mean"``, ``"target_variance/max"`` and ``"inverse_variance_weight/mean"``
        over the usable samples (left out when none is usable).

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss.sampling.diagnostics import batch_diagnostics
    >>> d = batch_diagnostics(np.array([0.5, 0.5, 2.0, 2.0]), np.array([0.0, 1.0, 1.0, 0.0]),
    ...                       source=["real", "sim", "sim", "real"], buckets=[0.0, 1.0, 4.0], schedule="ve")
    >>> d["usable/fraction"], d["usable/fraction/source=sim"], d["usable/fraction/bucket=0"]
    (0.75, 0.5, 0.5)
    >>> round(d["ambient_factor/max"], 6)              # sigma = 2, sigma_min = 1: (4 / 3)^2
    1.777778
    """
    sched = get_schedule(schedule)
    buf = as_buffer(buffer)
    named = {"sigma": sigma, "sigma_min": sigma_min, "sigma_max": sigma_max}
    host = {k: _host(v, k, xp) for k, v in named.items()}
    np_xp, _, lv, shape = prepare_levels(host, sched, None)
    n = int(np.prod(shape)) if shape else 1
    s = np.broadcast_to(np.asarray(lv["sigma"]), shape or (1,)).reshape(-1)
    m = np.broadcast_to(np.asarray(lv["sigma_min"]), s.shape)
    top = None if "sigma_max" not in lv else np.broadcast_to(np.asarray(lv["sigma_max"]), s.shape)
    high, low = (np.asarray(a) for a in branches(s, m, top, buf, sched, np_xp))
    ok = high | low
    out: dict[str, float] = {
        "count": float(n),
        "usable/fraction": float(ok.mean()),
        "clean/fraction": float((m == 0).mean()),
        "low_branch/fraction": float(low.mean()),
    }
    if source is not None:
        labels = np.asarray(to_numpy(source) if hasattr(source, "shape") else list(source)).reshape(-1)
        if labels.size != s.size:
            msg = f"source must have one label per sample ({s.size}), got {labels.size}"
            raise ValueError(msg)
        for label in np.unique(labels):
            mine = labels == label
            out[f"count/source={label}"] = float(mine.sum())
            out[f"usable/fraction/source={label}"] = float(ok[mine].mean())
    edges = _edges(buckets, s)
    k = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, edges.size - 2)
    inside = (s >= edges[0]) & (s <= edges[-1])
    for b in range(edges.size - 1):
        mine = inside & (k == b)
        if mine.any():
            out[f"usable/fraction/bucket={b}"] = float(ok[mine].mean())
            out[f"bucket={b}/lower"], out[f"bucket={b}/upper"] = float(edges[b]), float(edges[b + 1])
    if ok.any():
        level, trusted = s[ok], np.where(low, 0.0, m)[ok]
        lv_pair = Levels(level, trusted, schedule=sched, xp=np_xp)
        one_minus_r = lv_pair.gap / (lv_pair.a_m * lv_pair.b_t) ** 2
        _stats("ambient_factor", np.where(trusted == 0, 1.0, 1 / one_minus_r**2), out)
        _stats("target_variance", np.asarray(target_variance(lv_pair)), out)
        rho = loss_weight(lv_pair, weighting=Weighting(sigma_data=sigma_data))
        out["inverse_variance_weight/mean"] = float(np.mean(rho))
    return out
