"""The core: schedules, targets, noising, weights, losses and admissible levels.

Pure array code for any Array API library; it imports no feature, adapter or framework. Its public
names are re-exported at the top level (``ambientloss.ambient_target``), their one public path.
"""

__all__: list[str] = []  # the top level is the core's public face


def __dir__() -> list[str]:
    """Nothing of its own: the core's names are imported from ``ambientloss``."""
    return []
