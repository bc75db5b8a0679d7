"""Planar pushing in pymunk with two dynamics parameter sets, ``REAL`` and ``SIM``: a sim-to-real benchmark.

A circular pusher, driven to commanded positions at 10 Hz, pushes a square block across a table into a goal
disk. :mod:`benchmarks.push.env` holds the batched environment, the layouts and the dynamics presets;
:mod:`benchmarks.push.expert` holds the closed-loop scripted expert that records demonstrations, and the
open-loop replay of recorded actions. The experiment on top (``python -m benchmarks.push tune|final|quick|tiny``):
:mod:`~benchmarks.push.data` (observations and action chunks), :mod:`~benchmarks.push.joint` (a real-vs-sim
classifier that also sees the observation), :mod:`~benchmarks.push.experiment` (one run),
:mod:`~benchmarks.push.protocol` (validation sweep, frozen choices, test runs) and :mod:`~benchmarks.push.report`.

The closed-loop expert succeeds on every one of 1,000 default-layout tasks in either dynamics, while the
action sequences of its sim demonstrations, replayed open loop in ``REAL``, succeed on about 20 % of them
(real demonstrations replayed in ``SIM``: about 5 %); the block-table and pusher-block frictions make the gap.
"""
