"""Known-wrong ambient targets with the signature of ``ambientloss.ambient_target`` (NumPy, VP schedule).

Each wrong one fails exactly one named property of ``ambientloss verify`` /
:func:`ambientloss.testing.check.check_target_fn` (the properties its defect also breaks are listed as
not judged)::

    ambientloss verify examples.wrong_targets:talk_epsilon --prediction epsilon         # unbiased
    ambientloss verify examples.wrong_targets:sign_flipped_epsilon --prediction epsilon # unbiased
    ambientloss verify examples.wrong_targets:swapped_vp_levels --prediction x0          # unbiased
    ambientloss verify examples.wrong_targets:image_broadcast --prediction x0           # preserves_shape_and_dtype
    ambientloss verify examples.wrong_targets:unguarded_epsilon --prediction epsilon    # passes, with a finding
    ambientloss verify examples.wrong_targets:reference_epsilon --prediction epsilon    # passes

``unguarded_epsilon`` is correct but returns NaN at ``sigma == sigma_min``: a finding (exit status 0,
1 with ``--strict``).

Levels are VP ``s`` (``sigma``) and ``m`` (``sigma_min``), with ``a = sqrt(1 - s^2)``.
"""

from __future__ import annotations

import numpy as np

import ambientloss

__all__ = [
    "image_broadcast",
    "reference_epsilon",
    "reference_x0",
    "sign_flipped_epsilon",
    "swapped_vp_levels",
    "talk_epsilon",
    "unguarded_epsilon",
]


def _levels(level: object, x: np.ndarray) -> np.ndarray:
    """A level aligned with the leading axis of ``x``: shape ``(B, 1, ..., 1)``, or a scalar."""
    lv = np.asarray(level, dtype=np.float64)
    return lv.reshape(lv.shape + (1,) * (x.ndim - lv.ndim))


def talk_epsilon(x_t, x_tmin, sigma, sigma_min):
    """The epsilon target as printed in the talk: the ``x_s`` coefficient is too large by ``s / sqrt(1 - s^2)``.

    ``T = s^2 (1 - m^2) / ((s^2 - m^2) sqrt(1 - s^2)) x_s - s sqrt(1 - s^2) sqrt(1 - m^2) / (s^2 - m^2) x_m``.
    Biased (fails ``unbiased``); the same bias makes it wrong at ``m = 0`` and infinite at ``s = 1``.
    """
    s, m = _levels(sigma, x_t), _levels(sigma_min, x_t)
    d = s * s - m * m
    a_s, a_m = np.sqrt(1 - s * s), np.sqrt(1 - m * m)
    out = s * s * (1 - m * m) / (d * a_s) * x_t - s * a_s * a_m / d * x_tmin
    return out.astype(x_t.dtype)


def _ambient_sqrt(x: np.ndarray) -> np.ndarray:
    """``sqrt(x)``, but 1 where ``x < 0``: hides a wrong argument order instead of raising."""
    return np.where(x < 0, 1.0, np.sqrt(np.abs(x)))


def _vp_to_vp_x0_target(x_nature, x_noisy, current_sigma, desired_sigma):
    """x0 target from the VP transition ``current -> desired``: correct only as (current=sigma_min, desired=sigma)."""
    c, d = current_sigma, desired_sigma
    alpha = np.sqrt(1 - d * d) / np.sqrt(1 - c * c)
    beta = _ambient_sqrt((d * d - c * c) / (1 - c * c))  # negative when the levels are swapped
    b_d2 = alpha * alpha * c * c + beta * beta
    return (b_d2 * x_nature - alpha * c * c * x_noisy) / (np.sqrt(1 - c * c) * beta * beta)


def swapped_vp_levels(x_t, x_tmin, sigma, sigma_min):
    """The VP argument-order trap: the helper is called VE-style (current=sigma, desired=sigma_min).

    The square root of the negative transition variance is silently replaced by 1, so the x0 target is
    garbage (fails ``unbiased``; wrong at ``m = 0`` and infinite at ``s = 1`` too) yet finite at ordinary
    levels. The correct call is
    ``_vp_to_vp_x0_target(x_tmin, x_t, sigma_min, sigma)``.
    """
    s, m = _levels(sigma, x_t), _levels(sigma_min, x_t)
    return _vp_to_vp_x0_target(x_tmin, x_t, s, m).astype(x_t.dtype)


def image_broadcast(x_t, x_tmin, sigma, sigma_min):
    """Correct x0 formula, but the levels are reshaped for images with ``reshape(-1, 1, 1, 1)``.

    On ``(B, T, D)`` action chunks this broadcasts silently to ``(B, B, T, D)`` (fails
    ``preserves_shape_and_dtype``).
    """
    s = np.asarray(sigma, dtype=np.float64).reshape(-1, 1, 1, 1)
    m = np.asarray(sigma_min, dtype=np.float64).reshape(-1, 1, 1, 1)
    d = (s - m) * (s + m)
    out = (np.sqrt(1 - m * m) * s * s * x_tmin - np.sqrt(1 - s * s) * m * m * x_t) / d
    return out.astype(x_t.dtype)


def unguarded_epsilon(x_t, x_tmin, sigma, sigma_min):
    """Correct epsilon target ``(s (1 - m^2) x_s - s sqrt(1 - s^2) sqrt(1 - m^2) x_m) / (s^2 - m^2)`` with no guard.

    Right wherever the target exists, but drawing the training level as ``t ~ randint(t_n, T)``
    includes ``t == t_n``, where this divides 0 by 0 and silently returns NaN instead of raising: a
    finding (passes, fails under ``--strict``), as for ``ambientloss.ambient_target`` under
    ``ambientloss.checks(False)``.
    """
    s, m = _levels(sigma, x_t), _levels(sigma_min, x_t)
    d = (s - m) * (s + m)
    a_m = np.sqrt((1 - m) * (1 + m))
    a_s = np.sqrt((1 - s) * (1 + s))
    out = (s * a_m * a_m * x_t - s * a_s * a_m * x_tmin) / d
    return out.astype(x_t.dtype)


def sign_flipped_epsilon(x_t, x_tmin, sigma, sigma_min):
    """The epsilon target with the noise read in the other sign convention, ``x_t = a x0 - b eps``.

    Every term has the wrong sign: biased by twice ``E[eps | x_t]`` (fails ``unbiased``, with a z-score).
    """
    return -ambientloss.ambient_target(x_t, x_tmin, sigma, sigma_min, prediction="epsilon", schedule="vp")


def reference_epsilon(x_t, x_tmin, sigma, sigma_min):
    """The library's epsilon target (VP): passes every property."""
    return ambientloss.ambient_target(x_t, x_tmin, sigma, sigma_min, prediction="epsilon", schedule="vp")


def reference_x0(x_t, x_tmin, sigma, sigma_min):
    """The library's x0 target (VP): passes every property."""
    return ambientloss.ambient_target(x_t, x_tmin, sigma, sigma_min, prediction="x0", schedule="vp")
