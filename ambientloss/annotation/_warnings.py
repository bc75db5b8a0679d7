"""Named warnings and errors of the annotation pipeline: filter them by class, never by message text.

Every class derives from :class:`AnnotationWarning` (warnings) or :class:`ValueError` (errors), so
``warnings.simplefilter("error", AnnotationWarning)`` turns all of them into exceptions and
``pytest.warns(ClassifierAtChanceWarning)`` catches exactly one.
"""

from __future__ import annotations

__all__ = ["AnnotationWarning", "ClassifierAtChanceWarning"]


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
