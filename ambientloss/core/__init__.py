"""The core: schedules, targets, noising, weights, losses and admissible levels.

Pure array code for any Array API library; it imports no feature, adapter or framework. Its public
names are re-exported at the top level (``ambientloss.ambient_target``), their one public path.
"""
