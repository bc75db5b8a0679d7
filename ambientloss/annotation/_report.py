r"""An annotation report a person reads at a glance: a table, a figure and JSON.

:func:`annotation_report` summarises per-sample levels, per data source:

* the distribution of ``sigma_min`` (and ``sigma_max`` when given): counts and quantiles of the finite
  values (inverted-CDF quantiles, ``v[ceil(q n) - 1]``, so every quantile is a value that occurs);
* the fraction **never usable**: samples whose admissible set has probability 0 under the base
  distribution of training levels (``sigma_min = inf``, or at the top of the schedule, with no
  ``sigma_max`` below it), so that they are never drawn; and, when the selection rule's outcome is
  known (``took_fallback``), the fraction for which the rule found no level;
* the **training signal** each source gets under ``base``: the mean admissible mass
  ``m_i = P(X < sigma_max_i or X > sigma_min_i)`` (:func:`ambientloss.sampling.admissible_mass`) of its
  samples, and its share ``sum_{i in source} m_i / sum_i m_i`` of all the mass: the fraction of
  level-first draws (a level from ``base``, then a sample among those admissible at it) that land on
  the source, and the relative weight of its samples at a base-distributed level;
* the classifier's held-out quality per level (:class:`ClassifierQuality`), when given, with the chance
  check of :func:`check_classifier` at its lowest level.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..core.arrays import to_numpy
from ..core.schedules import get_schedule
from ._quality import ClassifierQuality, check_classifier
from ._units import Annotation

__all__ = ["AnnotationReport", "annotation_report"]

QUANTILES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)


def _quantiles(values: np.ndarray, qs: tuple[float, ...]) -> list[float | None]:
    v = np.sort(values[np.isfinite(values)])
    if v.size == 0:
        return [None for _ in qs]
    return [float(v[max(math.ceil(q * v.size) - 1, 0)]) for q in qs]


@dataclass(frozen=True)
class SourceSummary:
    """The levels of one source (or of all samples, ``name == "all"``)."""

    name: str
    n: int
    sigma_min_quantiles: list[float | None]  #: of the finite ``sigma_min``, at the report's ``quantiles``
    n_infinite: int  #: samples with ``sigma_min = inf``
    n_never_usable: int  #: admissible mass 0 under the base
    n_fallback: int | None  #: the selection rule found no level (``None``: not known)
    mean_mass: float  #: mean admissible mass under the base
    share: float  #: share of all the admissible mass
    sigma_max_quantiles: list[float | None] | None = None

    @property
    def never_usable(self) -> float:
        """Fraction of the source's samples that are never drawn."""
        return self.n_never_usable / self.n


@dataclass(frozen=True, eq=False)  # holds arrays, whose == is elementwise
class AnnotationReport:
    """Per-source level distributions, usability and training signal, and the classifier's quality.

    :meth:`table` (markdown), :meth:`figure` (a PNG, with matplotlib) and :meth:`to_json` show it;
    :meth:`write` puts all three in a folder.
    """

    sources: list[SourceSummary]  #: one per source, then ``"all"`` when there are several
    schedule: str  #: units of the levels
    base: str  #: the base distribution of training levels, as its ``repr``
    quantiles: tuple[float, ...] = QUANTILES
    quality: ClassifierQuality | None = None
    at_chance: bool | None = None  #: the chance check at the quality's lowest level (``None``: no quality)
    z: float = 3.0  #: standard deviations of the chance margins
    #: each source's ``sigma_min`` values (``"all"`` too), for the figure
    sigma_min_by_source: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers, lists and strings (``json.dumps``-ready; ``inf`` never occurs)."""
        sources = []
        for s in self.sources:
            row = {k: getattr(s, k) for k in SourceSummary.__dataclass_fields__}
            sources.append(row | {"never_usable": s.never_usable})
        return {
            "schedule": self.schedule,
            "base": self.base,
            "quantiles": list(self.quantiles),
            "sources": sources,
            "quality": None if self.quality is None else self.quality.to_dict(),
            "at_chance": self.at_chance,
            "z": self.z,
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=1, allow_nan=False)

    def table(self) -> str:
        """The report as markdown tables (plain text that reads well unrendered too)."""
        from ._report_table import render

        return render(self)

    def figure(self, path: str | Path, /, *, dpi: int = 120) -> Path:
        """Draw the report (matplotlib, Agg) into ``path`` (a ``.png``); returns the path."""
        from ._report_figure import draw

        return draw(self, Path(path), dpi=dpi)

    def write(self, folder: str | Path, /, *, stem: str = "report") -> dict[str, Path]:
        """``stem.md`` (the table), ``stem.png`` (the figure) and ``stem.json`` in ``folder`` (created)."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"table": out / f"{stem}.md", "figure": out / f"{stem}.png", "json": out / f"{stem}.json"}
        paths["table"].write_text(self.table())
        paths["json"].write_text(self.to_json() + "\n")
        self.figure(paths["figure"])
        return paths


def _host(values: Any, name: str, n: int | None) -> np.ndarray:
    arr = np.asarray(to_numpy(values) if hasattr(values, "shape") else values)
    if arr.ndim != 1 or arr.shape[0] == 0 or (n is not None and arr.shape[0] != n):
        want = "a non-empty 1-D array" if n is None else f"shape ({n},), one per sample"
        msg = f"{name} must be {want}, got shape {arr.shape}"
        raise ValueError(msg)
    return arr


def _levels(values: Any, name: str, n: int | None) -> np.ndarray:
    arr = _host(values, name, n)
    if arr.dtype.kind not in "fiu" or np.any(np.isnan(arr)) or np.any(arr < 0) or np.any(arr == -np.inf):
        msg = f"{name} must hold levels >= 0 or inf (no NaN), got {arr!r}"
        raise ValueError(msg)
    return arr.astype(np.float64)


def _masses(sigma_min: np.ndarray, sigma_max: np.ndarray | None, schedule: Any, base: Any) -> np.ndarray:
    from ..sampling import admissible_mass

    converted = Annotation(sigma_min, sigma_max, schedule=schedule).to(base.schedule)
    sched = get_schedule(base.schedule)
    top = sched.upper if math.isfinite(sched.upper) else np.finfo(np.float64).max
    m = np.where(np.isfinite(converted.sigma_min), converted.sigma_min, top)  # inf: nothing above it
    s = None if sigma_max is None else np.minimum(converted.sigma_max, top)
    return np.asarray(admissible_mass(m, s, base=base), dtype=np.float64)


def annotation_report(
    sigma_min: Any,
    sigma_max: Any = None,
    /,
    *,
    sources: Any = None,
    schedule: Any = "vp",
    base: Any = None,
    quality: ClassifierQuality | None = None,
    took_fallback: Any = None,
    quantiles: tuple[float, ...] = QUANTILES,
    on_chance: Literal["warn", "raise", "ignore"] = "warn",
    z: float = 3.0,
) -> AnnotationReport:
    r"""Summarise per-sample levels by source, with their training signal and the classifier's quality.

    Parameters
    ----------
    sigma_min : array
        ``(N,)`` per-sample levels in ``schedule``'s units; ``inf`` means "never used as ambient data".
        Clean samples may be included with ``sigma_min = 0`` (as a source of their own).
    sigma_max : array, optional
        ``(N,)`` per-sample upper levels (locality), same units.
    sources : array or sequence, optional
        ``(N,)`` source labels (numbers or strings); one source ``"all"`` when omitted.
    schedule : str or Schedule
        Units of the levels.
    base : ambientloss.sampling.Base, optional
        Law of the training levels for the admissible mass (``LogNormal()``, EDM's, by default).
    quality : ClassifierQuality, optional
        Held-out classifier quality (``fit_classifier(...).quality``, :func:`classifier_quality`).
    took_fallback : array, optional
        ``(N,)`` booleans: the selection rule found no level (e.g. ``isinf`` of a selection run with
        ``fallback="inf"``).
    quantiles : tuple of float
        Quantiles of the level distributions, in ``[0, 1]``.
    on_chance, z
        As in :func:`check_classifier` (applied to ``quality``).

    Returns
    -------
    AnnotationReport

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss.annotation import annotation_report
    >>> from ambientloss.sampling import UniformVP
    >>> report = annotation_report(np.array([0.0, 0.0, 0.5, 1.0]), sources=["clean", "clean", "web", "web"],
    ...                            base=UniformVP())
    >>> [(s.name, s.n, s.mean_mass, round(s.share, 3), s.never_usable) for s in report.sources]
    [('clean', 2, 1.0, 0.8, 0.0), ('web', 2, 0.25, 0.2, 0.5), ('all', 4, 0.625, 1.0, 0.25)]
    """
    from ..sampling import Base, LogNormal

    base = LogNormal() if base is None else base
    if not isinstance(base, Base):
        msg = f"base must be an ambientloss.sampling.Base (LogNormal(), UniformVP(), ...), got {base!r}"
        raise TypeError(msg)
    lo = _levels(sigma_min, "sigma_min", None)
    n = lo.shape[0]
    hi = None if sigma_max is None else _levels(sigma_max, "sigma_max", n)
    raw = np.full(n, "all") if sources is None else _host(sources, "sources", n)
    if raw.dtype.kind not in "biuUS":
        msg = f"sources must be integer or string labels, got dtype {raw.dtype}"
        raise ValueError(msg)
    labels = raw.astype(str)
    fallback = None if took_fallback is None else _host(took_fallback, "took_fallback", n)
    if fallback is not None and fallback.dtype != np.bool_:
        msg = f"took_fallback must be booleans, got dtype {fallback.dtype}"
        raise ValueError(msg)
    qs = tuple(float(q) for q in quantiles)
    if not qs or not all(0 <= q <= 1 for q in qs):
        msg = f"quantiles must be numbers in [0, 1], got {quantiles!r}"
        raise ValueError(msg)
    sched = get_schedule(schedule)
    mass = _masses(lo, hi, sched, base)
    total = float(mass.sum())
    names = [str(v) for v in np.unique(raw)]  # in the labels' own order: numbers by value, strings by text
    groups = [(name, labels == name) for name in names] + ([("all", np.ones(n, bool))] if len(names) > 1 else [])
    rows = [
        SourceSummary(
            name=name,
            n=int(mask.sum()),
            sigma_min_quantiles=_quantiles(lo[mask], qs),
            n_infinite=int(np.isinf(lo[mask]).sum()),
            n_never_usable=int((mass[mask] == 0).sum()),
            n_fallback=None if fallback is None else int(fallback[mask].sum()),
            mean_mass=float(mass[mask].mean()),
            share=float(mass[mask].sum() / total) if total > 0 else 0.0,
            sigma_max_quantiles=None if hi is None else _quantiles(hi[mask], qs),
        )
        for name, mask in groups
    ]
    chance = None if quality is None else check_classifier(quality, on_chance=on_chance, z=z)
    values = {name: lo[mask] for name, mask in groups}
    return AnnotationReport(rows, sched.name, repr(base), qs, quality, chance, z, values)
