"""Runnable examples for ambientloss (importable from the repository root: ``examples.wrong_targets``)."""
