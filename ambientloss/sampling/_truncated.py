r"""Data-first noise levels: each sample's level drawn from the base law restricted to its admissible set.

For a sample with threshold ``T`` (:func:`~ambientloss.threshold`) and ``sigma_max = S``
the admissible set is ``A = (0, S) U (T, top]`` (only ``(T, top]`` without ``sigma_max``; all of
``(0, top]`` when ``S > T``). Given a uniform ``u`` in ``[0, 1)``, :func:`sample_truncated` returns the
level ``x`` with

.. math:: P(X \le x \mid X \in A) = u ,

by inverse CDF, with no rejection loop and fixed shapes. The position is carried both as a CDF
coordinate ``c`` and as a survival coordinate ``s = 1 - c`` (each computed without cancellation),
and the level is read from the smaller of the two, so deep lower and upper tails keep their relative
accuracy. A final clamp makes every output satisfy the strict inequalities in its own dtype, whatever
the rounding, and keeps levels at or above ``sqrt(smallest normal)`` (``1.1e-19`` in float32,
``1.5e-154`` in float64), so that ``b_t^2`` in a target never underflows to 0; the base mass below that
is far under the resolution of the uniforms. For :class:`~ambientloss.sampling.DiscreteTimesteps`
the admissible timesteps are counted and one is drawn uniformly: ``floor(u * count)``.
"""

from __future__ import annotations

import math
from typing import Any

from ..core.arrays import (
    Array,
    Namespace,
    check_floating,
    is_scalar,
    namespace,
    numpy_namespace,
    raise_where,
    values_readable,
)
from ..core.buffer import Buffer, as_buffer, buffer_threshold
from ..core.levels import prepare_levels
from ._bases import Base

__all__ = ["admissible_mass", "draw_sigma", "sample_truncated", "truncated_timesteps"]


def _check_base(base: object) -> Base:
    if not isinstance(base, Base):
        msg = f"base must be a base distribution from ambientloss.sampling, got {type(base).__name__}"
        raise TypeError(msg)
    return base


def _check_u(u: Array, shape: tuple[int, ...], xp: Namespace) -> None:
    if tuple(u.shape) != shape:
        msg = f"u must hold one uniform per sample, shape {shape}, got {tuple(u.shape)}"
        raise ValueError(msg)
    raise_where(~((u >= 0) & (u < 1)), xp, "u={v!r} must lie in [0, 1)", v=u)


class _Sets:
    """The admissible sets ``(0, S_eff) U (T_eff, top]`` of a batch, with ``S_eff <= T_eff``."""

    def __init__(
        self, u: object | None, sigma_min: object, sigma_max: object, base: Base, buffer: Buffer | None, xp: Any
    ):
        sched = base.schedule
        buf = as_buffer(buffer)
        named = {"sigma_min": sigma_min, "sigma_max": sigma_max}
        self.xp, self.dtype, lv, shape = prepare_levels(named, sched, xp, extra=None if u is None else {"u": u})
        xp = self.xp
        self.u = lv.get("u")
        if self.u is not None:
            _check_u(self.u, shape, xp)
        self.m = lv["sigma_min"]
        self.t = buffer_threshold(self.m, buf, sched, xp)
        self.s = lv.get("sigma_max")
        if self.s is None:
            self.t_eff, self.s_eff = self.t, None
        else:
            overlap = self.s > self.t  # then A = (0, top]: one interval above 0
            zero = xp.zeros_like(self.t + self.s)
            self.t_eff = xp.where(overlap, zero, self.t + zero)
            self.s_eff = xp.where(overlap, zero, self.s + zero)

    def raise_empty(self, empty: Array, base: Base) -> None:
        if not values_readable(empty):  # nothing to read; the message is not even built (repr breaks compiled graphs)
            return
        message = "the admissible set of sigma_min={m!r} (threshold {t!r}"
        message += ", sigma_max={top!r})" if self.s is not None else ")"
        message += f" has probability 0 under {base!r}; the sample cannot be drawn"
        raise_where(empty, self.xp, message, m=self.m, t=self.t, top=self.s if self.s is not None else self.m)


def _continuous(sets: _Sets, base: Base) -> tuple[Array, Array]:
    xp, u = sets.xp, sets.u
    assert u is not None  # sample_truncated always passes u
    f_t, s_t = base.tails(sets.t_eff, xp)
    if sets.s_eff is None:
        zero = xp.zeros_like(f_t)
        m_lo, s_s = zero, zero
    else:
        m_lo, s_s = base.tails(sets.s_eff, xp)  # P(0 < X < S) = P(X <= S): no atoms
    m_hi = s_t
    total = m_lo + m_hi
    w, q = u * total, (1 - u) * total  # CDF and survival coordinates inside A
    low = w < m_lo
    c = xp.where(low, w, f_t + (w - m_lo))
    s = xp.where(low, s_s + (q - m_hi), q)
    x = base.from_tails(c, s, xp)
    finfo = xp.finfo(sets.dtype)
    tiny = xp.full_like(x, math.sqrt(finfo.smallest_normal))  # so that b_t^2 never underflows in a target
    upper = base.schedule.upper
    top = xp.full_like(x, upper if math.isfinite(upper) else finfo.max)
    above = xp.maximum(xp.nextafter(sets.t_eff + xp.zeros_like(x), xp.full_like(x, math.inf)), tiny)
    if sets.s_eff is None:
        lo, hi = above, top
    else:
        below = xp.nextafter(sets.s_eff + xp.zeros_like(x), xp.full_like(x, -math.inf))
        lo, hi = xp.where(low, tiny, above), xp.where(low, below, top)
    x = xp.minimum(xp.maximum(x, lo), hi)
    return x, ~(total > 0)


def _flat_search(table: Array, values: Array, side: str, xp: Namespace) -> Array:
    return xp.reshape(xp.searchsorted(table, xp.reshape(values, (-1,)), side=side), values.shape)


def _counts(sets: _Sets, base: Any) -> tuple[Array, Array, Array, int]:
    """``(k_t, n_lo, n, n0)``: first index above ``T_eff``, timesteps in ``(0, S_eff)``, total, zeros."""
    xp = sets.xp
    table = base.table(sets.t_eff, xp)
    n_all = base.num_timesteps
    n0 = base.num_zero_levels
    k_t = _flat_search(table, sets.t_eff, "right", xp)
    if sets.s_eff is None:
        n_lo = xp.zeros_like(k_t)
    else:
        k_s = _flat_search(table, sets.s_eff, "left", xp)
        n_lo = xp.maximum(k_s - n0, xp.zeros_like(k_s))
    return k_t, n_lo, n_lo + (n_all - k_t), n0


def _discrete(sets: _Sets, base: Any) -> tuple[Array, Array]:
    xp = sets.xp
    k_t, n_lo, n, n0 = _counts(sets, base)
    j = xp.astype(xp.floor(sets.u * xp.astype(n, sets.dtype)), k_t.dtype)
    j = xp.minimum(j, n - 1)
    idx = xp.where(j < n_lo, n0 + j, k_t + (j - n_lo))
    empty = n == 0
    return xp.where(empty, xp.full_like(idx, base.num_timesteps), idx), empty


def truncated_timesteps(
    u: Array | float,
    sigma_min: Array | float,
    sigma_max: Array | float | None = None,
    /,
    *,
    base: Any,
    buffer: Buffer | None = None,
    xp: Namespace | None = None,
) -> Array:
    r"""Integer timesteps drawn uniformly among each sample's admissible timesteps.

    With ``n`` admissible timesteps (levels in ``(0, sigma_max)`` or above the threshold, counted
    exactly on the table), the draw is the ``floor(u * n)``-th of them in increasing order.

    Parameters
    ----------
    u : array
        Uniforms in ``[0, 1)``, one per sample, shape ``(N,)``.
    sigma_min, sigma_max : array or float
        Annotations in VP levels of the table (``Discrete.sigma_for_timestep(t_n)``).
    base : DiscreteTimesteps
        The timestep law.
    buffer : Buffer, optional
        Margin above ``sigma_min`` for corrupt samples.
    xp : namespace, optional
        Array namespace; inferred when omitted.

    Returns
    -------
    array
        Integer timesteps of shape ``(N,)``. Under tracing, a sample without admissible timesteps
        gets ``N`` (out of range: a table lookup raises or gives NaN); eagerly it raises ``ValueError``.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss.sampling import DiscreteTimesteps, truncated_timesteps
    >>> base = DiscreteTimesteps.from_diffusers("linear", num_train_timesteps=10)
    >>> t_n = 6                                                     # strictly above: 7, 8 or 9
    >>> truncated_timesteps(np.array([0.0, 0.5, 0.99]), base.levels[t_n], base=base).tolist()
    [7, 8, 9]
    """
    base = _check_base(base)
    if not getattr(base, "discrete", False):
        msg = f"truncated_timesteps needs a DiscreteTimesteps base, got {base!r}"
        raise TypeError(msg)
    sets = _Sets(u, sigma_min, sigma_max, base, buffer, xp)
    idx, empty = _discrete(sets, base)
    sets.raise_empty(empty, base)
    return idx


def sample_truncated(
    u: Array | float,
    sigma_min: Array | float,
    sigma_max: Array | float | None = None,
    /,
    *,
    base: Any,
    buffer: Buffer | None = None,
    xp: Namespace | None = None,
) -> Any:
    r"""Per-sample level from ``base`` conditioned on the sample's admissible set, by inverse CDF.

    .. math::
        P(X \le x \mid X \in A) = u,\qquad
        A = (0, \sigma_{max}) \cup (\mathrm{threshold}(\sigma_{min}), \mathrm{top}]

    Every output is usable in the sense of :func:`~ambientloss.usable` with the same
    annotations, buffer and ``schedule=base.schedule``, in the output dtype (strict inequalities hold
    for every entry, also at adversarial annotations).

    Parameters
    ----------
    u : array
        Uniforms in ``[0, 1)``, one per sample, shape ``(N,)`` (``()`` for one example).
    sigma_min, sigma_max : array or float
        Annotations of the same shape, or one number for all, in the units of ``base.schedule``
        (convert with :func:`ambientloss.convert_level`); ``sigma_max=None`` means no low branch.
    base : Base
        :class:`UniformVP`, :class:`LogNormal`, :class:`LogitNormal`, :class:`GridDensity` or
        :class:`DiscreteTimesteps`.
    buffer : Buffer, optional
        Margin above ``sigma_min`` for corrupt samples.
    xp : namespace, optional
        Array namespace; inferred when omitted.

    Returns
    -------
    array
        Levels of ``u``'s shape in float32 (float64 when any input is float64).

    Raises
    ------
    ValueError
        Eagerly: a sample whose admissible set has probability 0 under ``base`` (naming its index),
        ``u`` outside ``[0, 1)``, bad annotations (see :func:`~ambientloss.usable`) and
        mismatched shapes. Under ``jax.jit`` / ``torch.compile`` an empty set gives NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss import Buffer
    >>> from ambientloss.sampling import LogNormal, sample_truncated
    >>> u = np.array([0.0, 0.5, 0.999])
    >>> x = sample_truncated(u, np.array([0.5, 0.5, 0.0]), base=LogNormal(), buffer=Buffer.from_s_max(4))
    >>> bool(x[0] > 0.5 * 1.1547), bool(np.all(np.diff(x[:2]) > 0))
    (True, True)
    """
    base = _check_base(base)
    sets = _Sets(u, sigma_min, sigma_max, base, buffer, xp)
    xp = sets.xp
    if base.discrete:
        idx, empty = _discrete(sets, base)
        n = base.num_timesteps
        table = base.table(sets.u, xp)
        flat = xp.reshape(xp.clip(idx, 0, n - 1), (-1,))
        x = xp.reshape(xp.take(table, flat, axis=0), idx.shape)
    else:
        x, empty = _continuous(sets, base)
    sets.raise_empty(empty, base)
    x = xp.where(empty, xp.full_like(x, math.nan), x)
    return float(x) if is_scalar(u) else x


def admissible_mass(
    sigma_min: Array | float,
    sigma_max: Array | float | None = None,
    /,
    *,
    base: Any,
    buffer: Buffer | None = None,
    xp: Namespace | None = None,
) -> Any:
    r"""Probability of each sample's admissible set under ``base``: ``P(X < sigma_max or X > threshold)``.

    This is the normaliser of :func:`sample_truncated`; it converts between drawing data first and
    drawing the level first (a sample's chance to be drawn at a base-distributed level is
    proportional to it).

    Examples
    --------
    >>> from ambientloss.sampling import UniformVP, admissible_mass
    >>> admissible_mass(0.3, base=UniformVP())                      # P(s > 0.3)
    0.7
    >>> round(admissible_mass(0.8, 0.2, base=UniformVP()), 12)      # P(s < 0.2) + P(s > 0.8)
    0.4
    """
    base = _check_base(base)
    sets = _Sets(None, sigma_min, sigma_max, base, buffer, xp)
    xp = sets.xp
    if base.discrete:
        _, _, n, _ = _counts(sets, base)
        mass = xp.astype(n, sets.dtype) / base.num_timesteps
    else:
        _, s_t = base.tails(sets.t_eff, xp)
        mass = s_t if sets.s_eff is None else s_t + base.tails(sets.s_eff, xp)[0]
    return float(mass) if is_scalar(sigma_min) and (sigma_max is None or is_scalar(sigma_max)) else mass


def draw_sigma(u: Array | float, /, *, base: Any, xp: Namespace | None = None) -> Any:
    """Unconstrained levels ``base.icdf(u)`` for uniforms ``u`` in ``[0, 1)``, safe to train at.

    As in :func:`sample_truncated`, levels are kept at or above ``sqrt(smallest normal)`` of the dtype
    and at or below the largest finite number: ``icdf(0)`` is level 0 for :class:`UniformVP` and
    :class:`LogNormal`, which no sample can be trained at (the target divides by ``b_t = 0``).

    Examples
    --------
    >>> from ambientloss.sampling import UniformVP, draw_sigma
    >>> draw_sigma(0.25, base=UniformVP())
    0.25
    >>> draw_sigma(0.0, base=UniformVP()) > 0
    True
    """
    base = _check_base(base)
    scalar = is_scalar(u)
    if scalar:
        if not 0 <= float(u) < 1:
            msg = f"u={u!r} must lie in [0, 1)"
            raise ValueError(msg)
        xp = numpy_namespace()
        u = xp.asarray(float(u), dtype=xp.float64)
    else:
        xp = namespace({"u": u}, xp)
        check_floating(u, "u", xp)
        raise_where(~((u >= 0) & (u < 1)), xp, "u={v!r} must lie in [0, 1)", v=u)
    x = base.icdf(u, xp=xp)
    finfo = xp.finfo(x.dtype)
    upper = base.schedule.upper
    x = xp.maximum(x, xp.full_like(x, math.sqrt(finfo.smallest_normal)))
    x = xp.minimum(x, xp.full_like(x, upper if math.isfinite(upper) else finfo.max))
    return float(x) if scalar else x
