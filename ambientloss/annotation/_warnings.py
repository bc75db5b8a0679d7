"""Named warnings and errors of the annotation pipeline: filter them by class, never by message text.

Every class derives from :class:`AnnotationWarning` (warnings) or :class:`ValueError` (errors), so
``warnings.simplefilter("error", AnnotationWarning)`` turns all of them into exceptions and
``pytest.warns(AllFallbackWarning)`` catches exactly one.
"""

from __future__ import annotations

__all__ = ["AllFallbackWarning", "AnnotationWarning", "GridTooShortError"]


class AnnotationWarning(UserWarning):
    """Base class of the annotation pipeline's warnings."""


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
