"""The closed-loop maze benchmark: does ambient training keep the smoothness of 100 clean demonstrations
while using 5,000 jerky plain-RRT ones?

A 2-D maze (:mod:`.env`), a smooth near-optimal planner and plain RRT (:mod:`.planners`), demonstrations
time-parametrised at constant speed and cut into action chunks (:mod:`.data`), closed-loop episodes
(:mod:`.closed_loop`), one run of every method (:mod:`.experiment`), the tuning protocol and the test
configuration (:mod:`.protocol`), tables and figures (:mod:`.report`). The policy, the training methods
and the classifier are shared with the other benchmarks (:mod:`benchmarks.policy`).
Run ``python -m benchmarks.maze --help`` from a checkout.
"""
