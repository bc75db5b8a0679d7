r"""How well a clean-vs-corrupt classifier separates the classes, level by level, on held-out data.

For held-out probabilities ``p = P(corrupt)`` at each level of a grid, with ``n_0`` clean and ``n_1``
corrupt rows, three numbers per level:

* **balanced accuracy** ``(TPR + TNR) / 2``, predicting "corrupt" where ``p > 1/2`` (strictly);
* **ROC AUC**, the Mann-Whitney statistic ``U / (n_0 n_1)``: the probability that a corrupt row scores
  above a clean one, ties counted one half (midranks);
* **expected calibration error** over ``n_bins`` equal-width bins of ``p`` (``[k/B, (k+1)/B)``, the last
  bin closed), under the balanced mixture the classifier was trained on (each class weighs 1/2, each
  row ``1 / (2 n_c)``): ``ECE = sum_k w_k |ybar_k - pbar_k|`` with ``w_k`` the bin's weight and
  ``ybar_k``, ``pbar_k`` the weighted means of the label and of ``p`` in it.

A classifier **at chance** cannot tell the classes apart: under the null hypothesis that ``p`` is
independent of the label, the AUC has mean 1/2 and standard deviation
``sqrt((n_0 + n_1 + 1) / (12 n_0 n_1))`` (exact for continuous scores), and the balanced accuracy of a
fixed threshold at most ``sqrt(1/n_0 + 1/n_1) / 4``. A level is at chance when both lie within ``z`` of
these standard deviations of 1/2 (``z = 3`` by default: a false alarm about 3 times in 1,000).
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ..core.arrays import to_numpy
from ..core.schedules import get_schedule
from ._warnings import ClassifierAtChanceWarning

__all__ = [
    "ClassifierQuality",
    "check_classifier",
    "classifier_quality",
]


def _scores_labels(p_corrupt: Any, is_corrupt: Any) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(to_numpy(p_corrupt), dtype=np.float64)
    y = np.asarray(to_numpy(is_corrupt))
    if y.ndim != 1 or y.dtype.kind not in "biuf" or not np.all((y == 0) | (y == 1)):
        msg = f"is_corrupt must be a 1-D array of booleans or 0/1 (one label per row), got {y!r}"
        raise ValueError(msg)
    y = y.astype(bool)
    if p.ndim not in (1, 2) or p.shape[-1] != y.shape[0]:
        msg = f"p_corrupt must have shape ({y.shape[0]},) or (G, {y.shape[0]}) (levels, rows), got {p.shape}"
        raise ValueError(msg)
    if not np.all((p >= 0) & (p <= 1)):
        msg = f"p_corrupt must be probabilities in [0, 1] (no NaN), got {p!r}"
        raise ValueError(msg)
    if y.all() or not y.any():
        msg = f"is_corrupt must hold both classes (clean and corrupt rows), got {int(y.sum())} corrupt of {y.size}"
        raise ValueError(msg)
    return np.atleast_2d(p), y


def _midranks(row: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``row``, tied values sharing the mean of their ranks."""
    order = np.argsort(row, kind="stable")
    sorted_row = row[order]
    starts = np.flatnonzero(np.r_[True, sorted_row[1:] != sorted_row[:-1]])
    ends = np.r_[starts[1:], row.size]
    ranks = np.empty(row.size)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def _auc(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    n1, n0 = int(y.sum()), int((~y).sum())
    rank_sums = np.array([_midranks(row)[y].sum() for row in p])
    return (rank_sums - n1 * (n1 + 1) / 2.0) / (n0 * n1)


def _balanced_accuracy(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    says_corrupt = p > 0.5
    return 0.5 * (says_corrupt[:, y].mean(axis=1) + (~says_corrupt[:, ~y]).mean(axis=1))


def _ece(p: np.ndarray, y: np.ndarray, n_bins: int) -> np.ndarray:
    weight = np.where(y, 0.5 / y.sum(), 0.5 / (~y).sum())
    bins = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    out = np.empty(p.shape[0])
    for g in range(p.shape[0]):
        wy = np.bincount(bins[g], weights=weight * y, minlength=n_bins)
        wp = np.bincount(bins[g], weights=weight * p[g], minlength=n_bins)
        out[g] = np.abs(wy - wp).sum()  # w_k |ybar_k - pbar_k| = |sum_k w y - sum_k w p|
    return out


def _frozen(a: Any, dtype: Any) -> np.ndarray:
    arr = np.array(a, dtype=dtype)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)  # arrays, whose == is elementwise
class ClassifierQuality:
    """Per-level quality of a clean-vs-corrupt classifier on held-out rows (see the module notes).

    Every array has one entry per level of ``levels`` (ascending, in ``schedule``'s units).
    """

    levels: np.ndarray  #: ``(G,)`` the levels the classifier was checked at
    balanced_accuracy: np.ndarray  #: ``(G,)`` ``(TPR + TNR) / 2`` at the threshold ``P(corrupt) > 1/2``
    auc: np.ndarray  #: ``(G,)`` ROC AUC (Mann-Whitney, ties one half)
    ece: np.ndarray  #: ``(G,)`` expected calibration error under the balanced mixture
    n_clean: int  #: held-out clean rows
    n_corrupt: int  #: held-out corrupt rows
    n_bins: int = 10  #: equal-width probability bins of the ECE
    schedule: str = "vp"  #: name of the schedule of ``levels``

    def __post_init__(self) -> None:
        for name in ("levels", "balanced_accuracy", "auc", "ece"):
            object.__setattr__(self, name, _frozen(getattr(self, name), np.float64))
        g = self.levels.shape
        if len(g) != 1 or any(getattr(self, k).shape != g for k in ("balanced_accuracy", "auc", "ece")):
            msg = f"levels, balanced_accuracy, auc and ece must be 1-D arrays of one length, got levels {g}"
            raise ValueError(msg)
        if self.n_clean < 1 or self.n_corrupt < 1 or self.n_bins < 1:
            msg = f"n_clean, n_corrupt and n_bins must be >= 1, got {self.n_clean}, {self.n_corrupt}, {self.n_bins}"
            raise ValueError(msg)

    def chance_margins(self, z: float = 3.0) -> tuple[float, float]:
        """``z`` null standard deviations of the AUC and of the balanced accuracy around 1/2."""
        n0, n1 = self.n_clean, self.n_corrupt
        return z * math.sqrt((n0 + n1 + 1) / (12 * n0 * n1)), z * 0.25 * math.sqrt(1 / n0 + 1 / n1)

    def at_chance(self, z: float = 3.0) -> np.ndarray:
        """``(G,)`` booleans: both the AUC and the balanced accuracy lie within their chance margins."""
        auc_margin, ba_margin = self.chance_margins(z)
        return (np.abs(self.auc - 0.5) <= auc_margin) & (np.abs(self.balanced_accuracy - 0.5) <= ba_margin)

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers and lists (``json.dumps``-ready)."""
        out: dict[str, Any] = {k: getattr(self, k).tolist() for k in ("levels", "balanced_accuracy", "auc", "ece")}
        return out | {"n_clean": self.n_clean, "n_corrupt": self.n_corrupt, "n_bins": self.n_bins,
                      "schedule": self.schedule}  # fmt: skip

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text; :meth:`from_json` reads it back."""
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str) -> ClassifierQuality:
        """The quality written by :meth:`to_json`."""
        try:
            data = json.loads(text)
            return cls(**{k: data[k] for k in ("levels", "balanced_accuracy", "auc", "ece", "n_clean", "n_corrupt",
                                               "n_bins", "schedule")})  # fmt: skip
        except (ValueError, KeyError, TypeError) as exc:
            msg = f"not a classifier quality written by ClassifierQuality.to_json: {type(exc).__name__}: {exc}"
            raise ValueError(msg) from None


def classifier_quality(
    p_corrupt: Any, is_corrupt: Any, levels: Any, /, *, schedule: Any = "vp", n_bins: int = 10
) -> ClassifierQuality:
    r"""Balanced accuracy, ROC AUC and calibration error of held-out probabilities, per level.

    Parameters
    ----------
    p_corrupt : array
        ``(G, M)`` probabilities ``P(corrupt)`` of ``M`` held-out rows at each of ``G`` levels
        (``(M,)`` for one level). Any array library; read on the host.
    is_corrupt : array
        ``(M,)`` labels, boolean or 0/1; both classes must occur.
    levels : array or sequence of float
        ``(G,)`` strictly increasing levels, in ``schedule``'s units.
    schedule : str or Schedule
        Units of ``levels`` (kept by name).
    n_bins : int
        Equal-width bins of ``P(corrupt)`` for the calibration error.

    Returns
    -------
    ClassifierQuality

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss.annotation import classifier_quality
    >>> p = np.array([[0.2, 0.6, 0.4, 0.9]])             # one level; rows: clean, clean, corrupt, corrupt
    >>> q = classifier_quality(p, np.array([0, 0, 1, 1]), [0.1])
    >>> q.balanced_accuracy, q.auc                         # 3 of 4 pairs ordered right
    (array([0.5]), array([0.75]))
    """
    p, y = _scores_labels(p_corrupt, is_corrupt)
    grid = np.atleast_1d(np.asarray(to_numpy(levels) if hasattr(levels, "shape") else levels, dtype=np.float64))
    if grid.shape != (p.shape[0],) or not np.all(np.isfinite(grid)) or np.any(np.diff(grid) <= 0):
        msg = f"levels must be {p.shape[0]} finite, strictly increasing levels (one per row of p_corrupt), got {grid}"
        raise ValueError(msg)
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        msg = f"n_bins must be a positive integer, got {n_bins!r}"
        raise ValueError(msg)
    return ClassifierQuality(
        grid,
        _balanced_accuracy(p, y),
        _auc(p, y),
        _ece(p, y, n_bins),
        n_clean=int((~y).sum()),
        n_corrupt=int(y.sum()),
        n_bins=n_bins,
        schedule=get_schedule(schedule).name,
    )


def check_classifier(
    quality: ClassifierQuality, /, *, on_chance: Literal["warn", "raise", "ignore"] = "warn", z: float = 3.0
) -> bool:
    """Warn (:class:`ClassifierAtChanceWarning`) or raise when the classifier is at chance at its lowest level.

    Returns whether it is at chance there. See the module notes for the margin.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss.annotation import ClassifierQuality, check_classifier
    >>> good = ClassifierQuality([0.1], [0.95], [0.99], [0.02], n_clean=200, n_corrupt=200)
    >>> check_classifier(good)
    False
    """
    if not isinstance(quality, ClassifierQuality):
        msg = f"quality must be a ClassifierQuality (from classifier_quality or fit_classifier), got {quality!r}"
        raise TypeError(msg)
    if on_chance not in ("warn", "raise", "ignore"):
        msg = f"on_chance must be 'warn', 'raise' or 'ignore', got {on_chance!r}"
        raise ValueError(msg)
    if not z > 0:
        msg = f"z must be a positive number of standard deviations, got {z!r}"
        raise ValueError(msg)
    if not bool(quality.at_chance(z)[0]) or on_chance == "ignore":
        return bool(quality.at_chance(z)[0])
    auc_margin, ba_margin = quality.chance_margins(z)
    msg = (
        f"the classifier cannot tell clean from corrupt samples even at its lowest level "
        f"{quality.levels[0]:.4g} ({quality.schedule}): AUC {quality.auc[0]:.3f} and balanced accuracy "
        f"{quality.balanced_accuracy[0]:.3f} are within {auc_margin:.3f} and {ba_margin:.3f} ({z:g} standard "
        f"deviations at {quality.n_clean} clean and {quality.n_corrupt} corrupt held-out rows) of 0.5. Either "
        "the low-quality data look clean at every level, or the classifier is too weak or undertrained. Train "
        "it longer or make it bigger, check the labels (and which class its logit means), hold out more rows; "
        "or, if the data are indeed clean-like, treat them as clean (sigma_min = 0) instead of using these "
        "annotations."
    )
    if on_chance == "raise":
        raise ValueError(msg)
    warnings.warn(msg, ClassifierAtChanceWarning, stacklevel=2)
    return True
