r"""``sigma_max`` from locality (Ambient-Omni): how large a window of a sample still looks in-distribution.

At low noise a denoiser only looks at a small neighbourhood of each pixel (or time step), so an
out-of-distribution sample whose *local* statistics match the target data is still useful there. A
classifier that sees only a window of size :math:`w` (image patches, or temporal windows of an action
chunk) gives, per sample and size, the mean probability over the sample's windows that a window comes
from the target data. The sample's ``sigma_max`` is the level assigned, by a user table, to the largest
window size whose mean exceeds ``threshold``; the sample is then used as clean data at
:math:`\sigma < \sigma_\text{max}` (and, with its ``sigma_min``, as ambient data above it).

The published tables are available as :data:`SIGMA_MAX_TABLES`, in their units (VE levels, images in
``[-1, 1]``); convert them with :class:`~ambientloss.annotation.Annotation` for other schedules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core.arrays import Array, Namespace, device_of, is_scalar
from ._checks import check_probabilities, check_probability_class, resolve

__all__ = ["SIGMA_MAX_TABLES", "WindowTable", "sigma_max_from_window_probs"]


@dataclass(frozen=True)
class WindowTable:
    """Window size -> noise level, with the schedule the levels are in and what a window size counts."""

    levels: Mapping[int, float]
    schedule: str = "vp"
    unit: str = "pixels"
    note: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.levels or any(int(k) < 1 or float(v) < 0 for k, v in self.levels.items()):
            msg = f"levels must map positive window sizes to non-negative levels, got {dict(self.levels)}"
            raise ValueError(msg)


SIGMA_MAX_TABLES: dict[str, WindowTable] = {
    "ambient_o_afhq64": WindowTable(
        {1: 0.01, 4: 0.05, 8: 0.15, 16: 0.2, 24: 0.35, 32: 0.55, 48: 0.7, 64: 1.0},
        "ve",
        "pixels",
        "Ambient-o pixel diffusion, AFHQ 64x64 cats -> dogs; crop classifiers, threshold 0.25",
    ),
    "ambient_o_imagenet512_latent": WindowTable(
        {4: 0.1, 8: 0.175, 16: 0.2, 32: 1.0, 64: 200.0},
        "ve",
        "latent pixels (8 image pixels each)",
        "Ambient-o EDM2 ImageNet-512 training scripts (patch quality ranks)",
    ),
    "ambient_o_imagenet512_notebook": WindowTable(
        {8: 0.15, 16: 0.25, 32: 0.95},
        "ve",
        "latent pixels (8 image pixels each)",
        "Ambient-o EDM2 ImageNet-512 notebook (differs from the training scripts)",
    ),
}


def _table(table: Any) -> WindowTable:
    if isinstance(table, WindowTable):
        return table
    if isinstance(table, str):
        if table not in SIGMA_MAX_TABLES:
            msg = f"unknown sigma_max table {table!r}; valid names are {', '.join(map(repr, SIGMA_MAX_TABLES))}"
            raise ValueError(msg)
        return SIGMA_MAX_TABLES[table]
    if isinstance(table, Mapping):
        return WindowTable(dict(table))
    msg = f"table must be a WindowTable, a preset name or a mapping size -> level, got {type(table).__name__}"
    raise TypeError(msg)


def sigma_max_from_window_probs(
    probs_by_size: Mapping[int, Array],
    table: Any,
    /,
    *,
    probability: str,
    threshold: float = 0.25,
    rule: str = "largest",
    fallback: str | float = "smallest",
    xp: Namespace | None = None,
) -> Array:
    """Per-sample ``sigma_max`` from window-classifier probabilities and a size -> level table.

    Parameters
    ----------
    probs_by_size : mapping int -> array
        For each window size, ``(N,)`` or ``(N, n_windows)`` probabilities (averaged over windows).
    table : WindowTable, str or mapping
        Window size -> level (a preset name from :data:`SIGMA_MAX_TABLES`); every size in
        ``probs_by_size`` must be in it. The result is in the table's units.
    probability : {"clean", "corrupt"}
        Which class the probabilities are of: ``"clean"`` = the target (in-distribution) data.
    threshold : float
        A size passes when its mean target probability exceeds ``threshold`` (0.25 in Ambient-o).
    rule : {"largest", "monotone"}
        ``"largest"``: the largest passing size (Ambient-o). ``"monotone"``: the largest size such that
        every smaller size given passes too.
    fallback : "smallest", "zero" or float
        Level when no size passes: the level of the table's smallest size (Ambient-o), ``0`` (never
        used as clean data), or a number.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss.annotation import sigma_max_from_window_probs
    >>> probs = {4: np.array([0.6, 0.2]), 8: np.array([0.3, 0.1]), 16: np.array([0.1, 0.4])}
    >>> sigma_max_from_window_probs(probs, "ambient_o_afhq64", probability="clean")
    array([0.15, 0.2 ])
    >>> sigma_max_from_window_probs(probs, "ambient_o_afhq64", probability="clean", rule="monotone")
    array([0.15, 0.01])
    """
    tab = _table(table)
    if not probs_by_size:
        msg = "probs_by_size must hold at least one window size"
        raise ValueError(msg)
    sizes = sorted(int(k) for k in probs_by_size)
    missing = [s for s in sizes if s not in tab.levels]
    if missing:
        msg = f"window sizes {missing} are not in the table (sizes {sorted(tab.levels)})"
        raise ValueError(msg)
    if rule not in ("largest", "monotone"):
        msg = f"rule must be 'largest' or 'monotone', got {rule!r}"
        raise ValueError(msg)
    kind = check_probability_class(probability)
    if not is_scalar(threshold) or not 0.0 <= float(threshold) < 1.0:
        msg = f"threshold must be a number in [0, 1), got {threshold!r}"
        raise ValueError(msg)
    arrays = {f"probs_by_size[{s}]": probs_by_size[s] for s in sizes}
    xp = resolve(arrays, xp)
    means = []
    for name, p in arrays.items():
        check_probabilities(p, name, xp)
        if p.ndim not in (1, 2) or (p.ndim == 2 and p.shape[1] == 0):
            msg = f"{name} must have shape (N,) or (N, n_windows), got {tuple(p.shape)}"
            raise ValueError(msg)
        m = xp.mean(p, axis=1) if p.ndim == 2 else p
        means.append(m if kind == "clean" else 1 - m)
    n = int(means[0].shape[0])
    if n == 0 or any(int(m.shape[0]) != n for m in means):
        msg = f"every window size needs the same non-empty number of samples, got {[int(m.shape[0]) for m in means]}"
        raise ValueError(msg)
    dtype, dev = means[0].dtype, device_of(means[0])
    if fallback == "smallest":
        default = float(tab.levels[min(tab.levels)])
    elif fallback == "zero":
        default = 0.0
    elif is_scalar(fallback) and float(fallback) >= 0:
        default = float(fallback)
    else:
        msg = f"fallback must be 'smallest', 'zero' or a non-negative number, got {fallback!r}"
        raise ValueError(msg)
    out = xp.full((n,), default, dtype=dtype, device=dev)
    still = xp.ones((n,), dtype=xp.bool, device=dev)  # every smaller size passed (monotone rule)
    for size, m in zip(sizes, means, strict=True):
        passes = m > float(threshold)
        if rule == "monotone":
            passes = passes & still
            still = passes
        out = xp.where(passes, xp.asarray(float(tab.levels[size]), dtype=dtype, device=dev), out)
    return out
