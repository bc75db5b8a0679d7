r"""Dataset-level ``sigma_min`` by a validation sweep: evaluate each candidate level, pick by a stated rule.

The most reliable way to choose one ``sigma_min`` for a data set is to train at each candidate level
and score the result on held-out validation data (success rate, FID, a validation loss). The
classifier criteria estimate where the noised laws agree; a sweep measures what the level does to the
model. :func:`sweep_sigma_min` runs the loop, keeps a resumable table and picks:

* the best score, or any score within ``tolerance`` of it (a noise band: two standard errors of the
  difference of two validation scores is a common choice);
* among those, the **larger** level by default (``tie="larger"``): it trusts the low-quality data
  less, so it is the conservative choice when validation cannot tell the levels apart.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ._files import atomic_write

__all__ = ["SweepResult", "sweep_sigma_min"]

_FORMAT = "ambientloss-sigma-min-sweep/1"


@dataclass(frozen=True)
class SweepResult:
    """What :func:`sweep_sigma_min` measured and chose."""

    sigma_min: float  #: the chosen level
    levels: tuple[float, ...]  #: the candidates, in the order given
    scores: tuple[float, ...]  #: the score of each candidate
    metrics: tuple[dict[str, float], ...]  #: everything ``evaluate`` returned for each candidate
    admissible: tuple[float, ...]  #: the levels within ``tolerance`` of the best score
    reused: tuple[float, ...]  #: the levels read back from ``path`` instead of evaluated

    def table(self) -> str:
        """The sweep as a text table, the chosen level marked ``*`` and the admissible ones ``+``."""
        lines = [f"  {'sigma_min':<12} {'score':>10}"]
        for level, score in zip(self.levels, self.scores, strict=True):
            mark = "*" if level == self.sigma_min else ("+" if level in self.admissible else " ")
            lines.append(f"{mark} {level:<12.6g} {score:>10.6g}")
        return "\n".join(lines)


def _number(value: object, name: str) -> float:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    msg = f"{name} must be a real number, got {value!r}"
    raise TypeError(msg)


def _candidates(candidates: Sequence[float]) -> tuple[float, ...]:
    levels = tuple(_number(v, "each candidate level") for v in candidates)
    if not levels:
        msg = "candidates must hold at least one level"
        raise ValueError(msg)
    bad = [v for v in levels if not (math.isfinite(v) and v >= 0)]
    if bad:
        msg = f"candidates must be finite levels >= 0, got {bad[0]!r}"
        raise ValueError(msg)
    if len(set(levels)) != len(levels):
        msg = f"candidates must be distinct, got {list(levels)}"
        raise ValueError(msg)
    return levels


def _outcome(value: object, level: float, metric: str | None) -> tuple[float, dict[str, float]]:
    """``(score, metrics)`` from what ``evaluate(level)`` returned: a number, or a mapping with ``metric``."""
    if isinstance(value, Mapping):
        if metric is None or metric not in value:
            msg = f"evaluate({level!r}) returned a mapping; name its score with metric= (keys: {sorted(value)})"
            raise ValueError(msg)
        metrics = {str(k): _number(v, f"evaluate({level!r})[{k!r}]") for k, v in value.items()}
        score = metrics[metric]
    else:
        score = _number(value, f"evaluate({level!r})")
        metrics = {"score": score}
    if math.isnan(score):
        msg = f"evaluate({level!r}) gave a NaN score; a sweep cannot rank it"
        raise ValueError(msg)
    return score, metrics


def _load(path: Path, settings: dict[str, Any]) -> dict[float, dict[str, float]]:
    if not path.exists():
        return {}
    try:
        saved = json.loads(path.read_text())
        same = saved["format"] == _FORMAT and saved["settings"] == settings
        rows = {float(r["level"]): {str(k): float(v) for k, v in r["metrics"].items()} for r in saved["results"]}
    except (ValueError, KeyError, TypeError) as exc:
        msg = f"path {str(path)!r} is not a sweep file written by sweep_sigma_min ({exc}); move it away"
        raise ValueError(msg) from None
    if not same:
        msg = f"path {str(path)!r} holds a sweep with other settings {saved['settings']}, not {settings}"
        raise ValueError(msg)
    return rows


def _save(path: Path, settings: dict[str, Any], rows: dict[float, dict[str, float]]) -> None:
    results = [{"level": level, "metrics": rows[level]} for level in sorted(rows)]
    text = json.dumps({"format": _FORMAT, "settings": settings, "results": results}, indent=1, allow_nan=True)
    atomic_write(path, (text + "\n").encode())


def sweep_sigma_min(
    candidates: Sequence[float],
    evaluate: Callable[[float], float | Mapping[str, float]],
    /,
    *,
    higher_is_better: bool = True,
    metric: str | None = None,
    tolerance: float = 0.0,
    tie: Literal["larger", "smaller"] = "larger",
    path: str | os.PathLike[str] | None = None,
) -> SweepResult:
    r"""Evaluate each candidate ``sigma_min`` on validation data and choose one by a stated rule.

    The chosen level is

    .. math::
        \sigma^\star = \max\,\{\sigma_k : s_k \ge s_\text{best} - \text{tolerance}\}
        \qquad (\text{``tie="larger"``; scores } s_k \text{ where higher is better}),

    the largest level whose score is within ``tolerance`` of the best one: with equal validation
    scores the larger level trusts the low-quality data less (``tie="smaller"`` takes the smallest).

    Parameters
    ----------
    candidates : sequence of float
        Distinct finite levels ``>= 0``, in any schedule's units, evaluated in the order given.
    evaluate : callable
        ``evaluate(sigma_min) -> score``, or a mapping of named numbers (then ``metric`` names the
        score; all of them are recorded). Typically: train with this ``sigma_min``, score on held-out
        validation data. A NaN score raises; use ``-inf`` (or ``inf``) for a failed run.
    higher_is_better : bool
        Whether a larger score is better (success rate) or worse (loss, FID).
    metric : str, optional
        The key of the score when ``evaluate`` returns a mapping.
    tolerance : float
        Scores within this distance of the best count as ties (``>= 0``; 0: exact ties only).
    tie : {"larger", "smaller"}
        Which of the tied levels to choose; ``"larger"`` is the conservative one.
    path : path, optional
        A JSON file recording every evaluated level: a rerun reads back the levels already there and
        evaluates only the others, so an interrupted sweep resumes. Written atomically after each
        evaluation; a file written with another ``higher_is_better`` or ``metric`` is refused.

    Returns
    -------
    SweepResult
        The chosen level, every candidate's score and metrics, the tied (admissible) levels and the
        levels read back from ``path``; ``.table()`` prints it.

    Raises
    ------
    ValueError
        Naming the value: no candidates, a repeated, negative or non-finite level, a negative or
        non-finite ``tolerance``, an unknown ``tie``, a NaN score, or a mapping without ``metric``.

    Examples
    --------
    >>> from ambientloss.annotation import sweep_sigma_min
    >>> success = {0.0: 0.40, 0.2: 0.61, 0.4: 0.63, 0.8: 0.50}          # validation success per level
    >>> sweep_sigma_min(list(success), success.get).sigma_min
    0.4
    >>> result = sweep_sigma_min(list(success), success.get, tolerance=0.05)   # 0.61 is within 0.05: a tie
    >>> result.sigma_min, result.admissible
    (0.4, (0.2, 0.4))
    >>> print(result.table())
      sigma_min         score
      0                   0.4
    + 0.2                0.61
    * 0.4                0.63
      0.8                 0.5
    """
    levels = _candidates(candidates)
    if not callable(evaluate):
        msg = f"evaluate must be a callable evaluate(sigma_min) -> score, got {type(evaluate).__name__}"
        raise TypeError(msg)
    tol = _number(tolerance, "tolerance")
    if not (math.isfinite(tol) and tol >= 0):
        msg = f"tolerance must be a finite number >= 0, got {tolerance!r}"
        raise ValueError(msg)
    if tie not in ("larger", "smaller"):
        msg = f"tie must be 'larger' or 'smaller', got {tie!r}"
        raise ValueError(msg)
    settings = {"higher_is_better": bool(higher_is_better), "metric": metric}
    file = None if path is None else Path(path)
    rows = {} if file is None else _load(file, settings)
    reused = tuple(level for level in levels if level in rows)
    scores = []
    for level in levels:
        if level not in rows:
            _, rows[level] = _outcome(evaluate(level), level, metric)
            if file is not None:
                _save(file, settings, rows)
        scores.append(rows[level][metric if metric is not None else "score"])
    sign = 1.0 if higher_is_better else -1.0
    best = max(sign * s for s in scores)
    tied = tuple(level for level, s in zip(levels, scores, strict=True) if sign * s >= best - tol)
    chosen = max(tied) if tie == "larger" else min(tied)
    return SweepResult(
        sigma_min=chosen,
        levels=levels,
        scores=tuple(scores),
        metrics=tuple(dict(rows[level]) for level in levels),
        admissible=tuple(sorted(tied)),
        reused=reused,
    )
