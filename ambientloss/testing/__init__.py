"""Exact mathematics to test ambient-diffusion implementations against (NumPy only; no torch or jax).

Each name lives in the one module below that defines it (``from ambientloss.testing.gaussian import
Gaussian``); this package re-exports nothing.

``ambientloss.testing.gaussian`` holds the closed-form Gaussian oracles: schedule scalars written
from their definitions, independently of :mod:`ambientloss.core.schedules`, and the posterior quantities
``E[x0 | x_t]``, ``E[eps | x_t]``, ``E[v | x_t]``, ``E[velocity | x_t]``, the score and
``E[x_tmin | x_t]`` for ``x0 ~ N(mu, Sigma)``.

``ambientloss.testing.divergences`` holds KL, Bhattacharyya, Hellinger and total variation between
noised Gaussians at the schedule-free level ``nu = b / a``, TV bounds and the exact ``sigma_min``;
``ambientloss.testing.classifier`` the Bayes-optimal noise-conditional classifier and its exact means;
``ambientloss.testing.mixture`` Gaussian-mixture (and point-mass) posterior means;
``ambientloss.testing.oracle_schedules`` turns a custom oracle schedule into its library twin and any
library schedule (a custom or discrete one) into an oracle; ``ambientloss.testing.check`` the
property-based verifier of any ambient-target implementation (:func:`~ambientloss.testing.check.check_target_fn`)
and ``ambientloss.testing.strategies`` its Hypothesis strategies.
"""

__all__: list[str] = []  # each name lives in its own module


def __dir__() -> list[str]:
    """Nothing of its own: import a module of this package (its public modules hold the names)."""
    return []
