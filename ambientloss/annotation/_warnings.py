"""Named warnings and errors of the annotation pipeline: filter them by class, never by message text.

Every class derives from :class:`AnnotationWarning` (warnings) or :class:`ValueError` (errors), so
``warnings.simplefilter("error", AnnotationWarning)`` turns all of them into exceptions and
``pytest.warns(ClassifierAtChanceWarning)`` catches exactly one.
"""

from __future__ import annotations

__all__ = ["AllFallbackWarning", "AnnotationWarning", "ClassifierAtChanceWarning", "GridTooShortError"]


class AnnotationWarning(UserWarning):
    """Base class of the annotation pipeline's warnings."""


# ------------------------------------------------------------------------------------------------
# classifier quality: check_classifier, fit_classifier, annotation_report


class ClassifierAtChanceWarning(AnnotationWarning):
    """The classifier cannot tell clean from corrupt samples even at the lowest level it was checked at.

    Issued by :func:`~ambientloss.annotation.check_classifier` (and so by ``fit_classifier`` and
    :func:`~ambientloss.annotation.annotation_report`); ``on_chance="raise"`` raises instead. Either the
    low-quality data look clean at every level, or the classifier is too weak or undertrained.
    """


# ------------------------------------------------------------------------------------------------
# composition: never-usable samples and grids too short for a smoothing


class AllFallbackWarning(AnnotationWarning):
    """Every sample (or the dataset) took the fallback: the criterion held at no grid level.

    The result is then the fallback alone, a statement about the grid and the classifier rather than
    about the data: the grid may end too low, ``eps`` may be too small, or the classifier may be
    miscalibrated at the top of the grid (an uncalibrated classifier reads pure noise as one class).
    """


class GridTooShortError(ValueError):
    """A smoothing span longer than the grid: the first level's value would be carried along all of it."""
