"""Bin sorting: a planar pick-and-place benchmark with task-level mismatch and motion-level correctness.

One coloured object per episode must go to the bin of its colour. The low-quality demonstrations move as
smoothly and reliably as the good ones but put the object in a random or the swapped bin, so only the
task-level decision, not the motion, separates them. :mod:`benchmarks.sorting.env` holds the world and a
batched environment, :mod:`benchmarks.sorting.expert` the scripted demonstrator, :mod:`benchmarks.sorting.data`
the policy's observations and action chunks, :mod:`benchmarks.sorting.experiment` the methods, training and
closed-loop evaluation (with :mod:`benchmarks.sorting.windows` for the window-classifier ``sigma_max``),
:mod:`benchmarks.sorting.protocol` the tuning stage on validation tasks, and :mod:`benchmarks.sorting.report`
the tables and figures of ``python -m benchmarks.sorting``.
"""
