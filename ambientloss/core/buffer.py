r"""The safety margin above ``sigma_min`` for corrupt samples, and the two branches where a sample is usable.

A sample annotated with ``(sigma_min, sigma_max)`` is usable at level ``sigma`` on the **high-noise
branch** ``sigma > threshold(sigma_min)`` (ambient target from ``x_tmin``) or on the **low-noise branch**
``0 < sigma < sigma_max`` (standard target on the sample itself). A :class:`Buffer` raises the
threshold above ``sigma_min``, where the ambient target's variance ``v = sigma~_m^2 / (1 - r)`` grows
without bound (``1 - r`` is the relative log-SNR gap). The threshold is the largest of

.. math::
    f\,\sigma_{min},\qquad \sigma_{min} + \delta,\qquad
    \ell\!\left(\tilde\sigma_{min} / \sqrt{1 - g}\right),

for ``factor`` ``f``, ``additive`` ``delta`` and ``min_gap`` ``g`` (``l`` maps a schedule-free level
``b / a`` back to the schedule, so that ``1 - r > g``). The functions below work on levels already
prepared (cast and checked) by :class:`~ambientloss.Levels` or :func:`~ambientloss.core.levels.prepare_levels`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .arrays import Array, Namespace
from .schedules import Schedule

__all__ = ["Buffer", "as_buffer", "branches", "buffer_threshold"]


@dataclass(frozen=True)
class Buffer:
    r"""Safety margin above ``sigma_min`` for corrupt samples (clean samples ignore it).

    Parameters
    ----------
    factor : float
        Multiplicative: usable if ``sigma > factor * sigma_min`` (``>= 1``).
    additive : float
        Additive: usable if ``sigma > sigma_min + additive`` (``>= 0``), in the schedule's units.
    min_gap : float
        Minimum relative log-SNR gap ``1 - r = 1 - sigma~_min^2 / sigma~^2`` (``0 <= min_gap < 1``),
        measured on the schedule-free level ``sigma~ = b / a``, so it means the same in every
        schedule. It bounds the ambient target's variance by ``sigma~_min^2 / min_gap``.

    Notes
    -----
    All given margins apply together: the threshold is the largest of them.

    Examples
    --------
    >>> from ambientloss import Buffer
    >>> round(Buffer.from_s_max(4).factor, 6)          # Ambient-o pixel: sqrt(4 / 3)
    1.154701
    >>> Buffer(additive=0.05)
    Buffer(factor=1.0, additive=0.05, min_gap=0.0)
    """

    factor: float = 1.0
    additive: float = 0.0
    min_gap: float = 0.0

    def __post_init__(self) -> None:
        for name in ("factor", "additive", "min_gap"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                msg = f"Buffer.{name} must be a finite number, got {value!r}"
                raise ValueError(msg)
            object.__setattr__(self, name, float(value))
        if self.factor < 1:
            msg = f"Buffer.factor must be >= 1 (1 means no multiplicative margin), got {self.factor!r}"
            raise ValueError(msg)
        if self.additive < 0:
            msg = f"Buffer.additive must be >= 0, got {self.additive!r}"
            raise ValueError(msg)
        if not 0 <= self.min_gap < 1:
            msg = f"Buffer.min_gap must lie in [0, 1), got {self.min_gap!r}"
            raise ValueError(msg)

    @classmethod
    def from_s_max(cls, s_max: float) -> Buffer:
        r"""Ambient-o's buffer ``sigma > sigma_min sqrt(1 + 1 / (s_max - 1))``.

        In VE this is ``1 - r >= 1 / s_max``: the ambient factor ``sigma^4 / (sigma^2 - sigma_min^2)^2``
        stays below ``s_max^2`` and the target variance below ``s_max sigma_min^2``.
        """
        if isinstance(s_max, bool) or not isinstance(s_max, (int, float)) or not (1 < s_max < math.inf):
            msg = f"s_max must be a finite number greater than 1, got {s_max!r}"
            raise ValueError(msg)
        return cls(factor=math.sqrt(1 + 1 / (s_max - 1)))

    @property
    def is_identity(self) -> bool:
        """Whether the buffer leaves the threshold at ``sigma_min``."""
        return self.factor == 1 and self.additive == 0 and self.min_gap == 0


def as_buffer(buffer: Buffer | None, /) -> Buffer:
    """``buffer``, or the identity ``Buffer()`` for ``None``; ``TypeError`` for anything else."""
    if buffer is None:
        return Buffer()
    if not isinstance(buffer, Buffer):
        msg = f"buffer must be an ambientloss.Buffer or None, got {type(buffer).__name__}"
        raise TypeError(msg)
    return buffer


def buffer_threshold(m: Array, buffer: Buffer, sched: Schedule, xp: Namespace) -> Array:
    """Threshold of the trusted levels ``m`` (already checked, in the compute dtype); 0 where ``m == 0``.

    The largest of ``factor * m``, ``m + additive`` and ``l(m~ / sqrt(1 - min_gap))``; see :class:`Buffer`.
    """
    thr = m
    if buffer.factor != 1:
        thr = xp.maximum(thr, m * buffer.factor)
    if buffer.additive != 0:
        thr = xp.maximum(thr, m + buffer.additive)
    if buffer.min_gap != 0:
        nu = sched.schedule_free(m, xp) / math.sqrt(1 - buffer.min_gap)
        thr = xp.maximum(thr, sched.from_schedule_free(nu, xp))
    return xp.where(m == 0, xp.zeros_like(thr), thr)


def branches(
    sigma: Array, m: Array, top: Array | None, buffer: Buffer, sched: Schedule, xp: Namespace
) -> tuple[Array, Array]:
    """``(high, low)`` boolean arrays: ``sigma > threshold`` and ``0 < sigma < sigma_max``."""
    high = sigma > buffer_threshold(m, buffer, sched, xp)
    low = (sigma < top) & (sigma > 0) if top is not None else xp.zeros_like(high)
    return high, low
