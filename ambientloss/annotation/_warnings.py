"""The warnings of the annotation layer: each a class of its own, so that a user can filter or escalate it."""

from __future__ import annotations

__all__ = ["ClassifierAtChanceWarning"]


# -- classifier quality (check_classifier, fit_classifier) ----------------------------------------------------


class ClassifierAtChanceWarning(UserWarning):
    """The classifier cannot tell clean from corrupt samples even at the lowest level it was checked at.

    Raised as a warning by :func:`~ambientloss.annotation.check_classifier` (and so by ``fit_classifier``
    and :func:`~ambientloss.annotation.annotation_report`); turn it into an error with
    ``warnings.simplefilter("error", ClassifierAtChanceWarning)`` or ``on_chance="raise"``.
    """
