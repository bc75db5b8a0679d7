r"""Sigma-first batch assembly: draw the noise level first, then a sample that is usable at it.

One draw takes three uniforms ``(u_0, u_1, u_2)``:

1. ``sigma = base.icdf(u_0)``, so the levels follow the base law ``p`` exactly;
2. a source ``k`` with probability ``w_k / sum_j w_j`` (``empty="raise"``) or ``w_k / sum_{j: n_j > 0} w_j``
   over the non-empty sources (``empty="renormalize"``), where ``n_k(sigma)`` counts the samples of
   source ``k`` usable at ``sigma`` (:func:`ambientloss.usable`);
3. a sample uniformly among those ``n_k(sigma)``.

The joint law is :math:`P_{SF}(i, \sigma) = p(\sigma)\,\pi_k(\sigma)\,\mathbb 1[\sigma \in A_i] / n_k(\sigma)`.
Each sample's unusable set is one interval ``[sigma_max_i, threshold_i]`` (empty when
``sigma_max_i > threshold_i``), so the usable samples of a source at ``sigma`` are the disjoint union
of those with no gap, a prefix of the samples sorted by threshold (``threshold < sigma``) and a suffix
of those sorted by ``sigma_max`` (``sigma_max > sigma``): two ``searchsorted`` per source and one
gather per draw, exact for one or two intervals, with fixed shapes (so it runs under ``jax.jit``).

:meth:`SigmaFirst.importance_weights` converts between this regime and the data-first one (a sample
``i`` with probability ``q_i``, then ``sigma`` from ``p`` restricted to ``A_i``, of mass ``Z_i``):

.. math:: \frac{P_{SF}(i, \sigma)}{P_{DF}(i, \sigma)} = \frac{\pi_k(\sigma)\, Z_i}{q_i\, n_k(\sigma)}.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import array_api_compat
import array_api_compat.numpy as npx
import numpy as np

from ..core.admissibility import threshold, usable
from ..core.arrays import (
    Array,
    Namespace,
    compute_dtype,
    device_of,
    is_scalar,
    namespace,
    raise_where,
    to_numpy,
    values_readable,
)
from ..core.buffer import Buffer
from ..core.levels import prepare_levels
from ._truncated import admissible_mass

__all__ = ["Draws", "SigmaFirst"]

EMPTY = ("raise", "renormalize")


class Draws(NamedTuple):
    """Sigma-first draws: sample ``index`` (``-1`` where a draw failed under tracing), ``sigma`` and ``source``."""

    index: Array
    sigma: Array
    source: Array


def _check_weights(weights: Any, n_sources: int | None) -> np.ndarray:
    w = np.ones(n_sources or 1) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not np.any(w > 0):
        msg = f"weights must be finite, non-negative and not all zero, got {w.tolist()}"
        raise ValueError(msg)
    return w / w.sum()


class SigmaFirst:
    r"""Sigma-first assembly over annotated samples, for any array library.

    Parameters
    ----------
    sigma_min : array, shape ``(N,)``
        Trusted level of each sample (0 for clean samples), in the units of ``base.schedule``.
    sigma_max : array, shape ``(N,)``, optional
        Upper end of each sample's low-noise branch (Ambient-Omni); ``None`` or 0: none.
    source : integer array, shape ``(N,)``, optional
        Source of each sample, in ``0 .. K-1`` (e.g. 0 = real, 1 = sim); one source when omitted.
    base : Base
        Law of the levels (the bases of :mod:`ambientloss.sampling`), keyword-only.
    buffer : Buffer, optional
        Margin above ``sigma_min`` (:class:`ambientloss.Buffer`).
    weights : sequence of K floats, optional
        Mixture of the sources among usable samples (``[1, 1]`` for real : sim = 1 : 1); equal by
        default. Every source with a positive weight must have samples.
    empty : {"raise", "renormalize"}
        What a drawn level does when a source with positive weight has no usable sample there:
        raise ``ValueError`` naming the source and the level, or draw among the non-empty sources
        (the source mixture then depends on ``sigma``; the level marginal stays ``base``).
    xp : namespace, optional
        Array namespace of the draws; inferred from ``sigma_min``.

    Attributes
    ----------
    threshold, mass : array, shape ``(N,)``
        Lower end of each high-noise branch and ``Z_i``, the probability of the usable set under ``base``.
    weights : numpy.ndarray, shape ``(K,)``
        The normalised source weights.
    sizes : numpy.ndarray, shape ``(K,)``
        Number of samples per source.

    Notes
    -----
    Construction is eager (it sorts the annotations once, in ``O(N log N)``); a draw costs
    ``O(K log N)``. Under ``jax.jit`` nothing can raise: draws that would raise get ``index = -1``.
    Close over the object in JAX (its arrays become constants) rather than passing it as an argument.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss.sampling import UniformVP
    >>> from ambientloss.sampling.sigma_first import SigmaFirst
    >>> sigma_min, source = np.array([0.0, 0.0, 0.6, 0.6]), np.array([0, 0, 1, 1])   # clean | corrupt
    >>> u = np.array([[0.9, 0.7, 0.2], [0.3, 0.1, 0.9]])                            # levels 0.9 and 0.3
    >>> plan = SigmaFirst(sigma_min, None, source, base=UniformVP(), empty="renormalize")
    >>> draws = plan(u)
    >>> draws.index.tolist(), draws.sigma.tolist(), draws.source.tolist()
    ([2, 1], [0.9, 0.3], [1, 0])
    >>> SigmaFirst(sigma_min, None, source, base=UniformVP())(u)    # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: source 1 has no usable sample at sigma=0.3 (draw 1); pass empty='renormalize' to draw ...
    """

    def __init__(
        self,
        sigma_min: Array,
        sigma_max: Array | None = None,
        source: Array | None = None,
        /,
        *,
        base: Any,
        buffer: Buffer | None = None,
        weights: Any = None,
        empty: str = "raise",
        xp: Namespace | None = None,
    ) -> None:
        if empty not in EMPTY:
            msg = f"empty must be one of {EMPTY}, got {empty!r}"
            raise ValueError(msg)
        self.base, self.buffer, self.empty = base, buffer, empty
        sched = base.schedule
        xp = namespace({"sigma_min": sigma_min, "sigma_max": sigma_max}, xp)
        dtype = compute_dtype(xp, sigma_min, sigma_max)
        self.xp, self.dtype, self.device = xp, dtype, device_of(sigma_min)
        # the tables are built once, eagerly, in NumPy at the same precision, then moved to ``xp``
        host = np.float64 if dtype == xp.float64 else np.float32
        levels = {k: v if v is None or is_scalar(v) else to_numpy(v).astype(host) for k, v in
                  {"sigma_min": sigma_min, "sigma_max": sigma_max}.items()}  # fmt: skip
        _, _, lv, shape = prepare_levels(levels, sched, npx)
        if len(shape) != 1 or tuple(lv["sigma_min"].shape) != shape or not shape[0]:
            msg = f"sigma_min must be an array of shape (N,) with N >= 1, got shape {np.shape(sigma_min)}"
            raise ValueError(msg)
        n = shape[0]
        thr = threshold(lv["sigma_min"], buffer=buffer, schedule=sched, xp=npx)
        top = np.zeros(n, host) if sigma_max is None else np.broadcast_to(lv["sigma_max"], (n,))
        src = self._sources(source, n)
        n_src = int(src.max()) + 1 if weights is None else len(np.asarray(weights).reshape(-1))
        if src.max() >= n_src:
            msg = f"source ids must lie in [0, {n_src}) (one weight per source), got {int(src.max())}"
            raise ValueError(msg)
        self.weights = _check_weights(weights, n_src)
        sizes = np.bincount(src, minlength=n_src)
        for j in np.flatnonzero((sizes == 0) & (self.weights > 0)):
            msg = f"source {j} has weight {self.weights[j]:.6g} but no samples"
            raise ValueError(msg)
        mass = admissible_mass(lv["sigma_min"], lv.get("sigma_max"), base=base, buffer=buffer, xp=npx)
        raise_where(
            mass <= 0, np, f"a sample with sigma_min={{m!r}} has no usable level under {base!r}", m=lv["sigma_min"]
        )
        # per source: [usable at every level > 0 | the rest by threshold | those with a low branch by sigma_max]
        always = (thr == 0) | (top > thr)
        low = ~always & (top > 0)
        order: list[np.ndarray] = []
        self._parts: list[tuple[int, int, int, int, Array, Array]] = []
        for k in range(n_src):
            ids = np.flatnonzero(src == k)
            rest, lows = ids[~always[ids]], ids[low[ids]]
            by_thr, by_top = rest[np.argsort(thr[rest], kind="stable")], lows[np.argsort(top[lows], kind="stable")]
            offset = sum(len(o) for o in order)
            order.append(np.concatenate([ids[always[ids]], by_thr, by_top]))
            sizes_k = (offset, int(always[ids].sum()), len(rest), len(lows))
            self._parts.append((*sizes_k, self._put(thr[by_thr]), self._put(top[by_top])))
        tables = np.array([p[:3] for p in self._parts], dtype=np.int64).T
        self._offset, self._always, self._rest = (xp.asarray(t, device=self.device) for t in tables)
        self._order = xp.asarray(np.concatenate(order) if order else np.zeros(0, np.int64), device=self.device)
        self.sigma_min, self.sigma_max = self._put(lv["sigma_min"]), self._put(top) if sigma_max is not None else None
        self.threshold, self.mass, self.sizes = self._put(thr), self._put(np.broadcast_to(mass, (n,))), sizes
        self.source = xp.asarray(src, device=self.device)

    def _put(self, a: np.ndarray) -> Array:
        return self.xp.asarray(np.array(a, dtype=np.float64), dtype=self.dtype, device=self.device)

    @staticmethod
    def _sources(source: Array | None, n: int) -> np.ndarray:
        if source is None:
            return np.zeros(n, dtype=np.int64)
        src = to_numpy(source) if hasattr(source, "shape") else np.asarray(source)
        if src.dtype.kind not in "iu":
            msg = f"source must have an integer dtype, got {src.dtype}"
            raise TypeError(msg)
        if src.shape != (n,):
            msg = f"source must have shape ({n},) like sigma_min, got {src.shape}"
            raise ValueError(msg)
        if n and src.min() < 0:
            msg = f"source ids must be non-negative, got {int(src.min())}"
            raise ValueError(msg)
        return src.astype(np.int64)

    def _counts(self, sigma: Array) -> list[tuple[Array, Array, Array]]:
        """Per source, shape ``(B,)``: usable count, #(threshold < sigma), #(sigma_max <= sigma) in the low list."""
        xp, out = self.xp, []
        zero = xp.zeros(sigma.shape, dtype=self._order.dtype, device=self.device)
        positive = sigma > 0
        # NumPy searches sorted keys several times faster (cache-friendly); the results are the same
        order = np.argsort(sigma) if array_api_compat.is_numpy_namespace(xp) and sigma.size > 64 else None

        def search(table: Array, side: Literal["left", "right"]) -> Array:
            if order is None:
                return xp.searchsorted(table, sigma, side=side)
            found = np.empty(sigma.shape, dtype=np.intp)
            found[order] = np.searchsorted(table, sigma[order], side=side)
            return found

        for _, n_always, n_rest, n_low, thr, top in self._parts:
            below = search(thr, "left") if n_rest else zero
            start = search(top, "right") if n_low else zero
            count = (n_always + n_low) + below - start
            out.append((xp.where(positive, count, zero), below, start))
        return out

    def counts(self, sigma: Array, /) -> Array:
        """Number of usable samples per source at each level: shape ``(*sigma.shape, K)``."""
        s = self.xp.asarray(sigma, dtype=self.dtype, device=self.device)
        flat = self.xp.reshape(s, (-1,))
        stacked = self.xp.stack([c for c, _, _ in self._counts(flat)], axis=-1)
        return self.xp.reshape(stacked, (*s.shape, len(self._parts)))

    def source_probabilities(self, sigma: Array, /) -> Array:
        """``pi_k(sigma)``: the probability of each source at each level, shape ``(*sigma.shape, K)``."""
        xp = self.xp
        counts = self.counts(sigma)
        w = xp.asarray(self.weights, dtype=self.dtype, device=self.device)
        p = w * xp.ones_like(xp.astype(counts, self.dtype))
        if self.empty == "renormalize":
            p = xp.where(counts > 0, p, xp.zeros_like(p))
        total = xp.sum(p, axis=-1, keepdims=True)
        return p / xp.where(total > 0, total, xp.ones_like(total))

    def _per_sample(self, table: Array, index: Array) -> Array:
        """``table[b, source[index[b]]]`` for a ``(B, K)`` table."""
        xp = self.xp
        k = xp.take(self.source, index, axis=0)
        out = xp.zeros_like(table[:, 0])
        for j in range(table.shape[-1]):
            out = xp.where(k == j, table[:, j], out)
        return out

    def importance_weights(
        self, index: Array, sigma: Array, /, *, to: str = "sigma_first", sample_probability: Array | None = None
    ) -> Array:
        r"""Density ratio between the two regimes at usable pairs ``(index, sigma)``.

        ``to="sigma_first"`` weighs data-first draws so that weighted averages are sigma-first
        expectations; ``to="data_first"`` the reverse (the reciprocal):

        .. math:: w_{DF 	o SF}(i, \sigma) = rac{\pi_k(\sigma)\, Z_i}{q_i\, n_k(\sigma)},\qquad
                  w_{SF 	o DF} = 1 / w_{DF 	o SF},

        with ``k`` the source of sample ``i``, ``Z_i`` = :attr:`mass` and ``q_i`` the data-first
        probability of sample ``i`` (``sample_probability``; ``1 / N`` by default, a per-epoch
        permutation). Both have mean 1 under the regime the draws come from.
        """
        if to not in ("sigma_first", "data_first"):
            msg = f"to must be 'sigma_first' or 'data_first', got {to!r}"
            raise ValueError(msg)
        xp = self.xp
        idx = xp.reshape(xp.asarray(index, device=self.device), (-1,))
        s = xp.reshape(xp.asarray(sigma, dtype=self.dtype, device=self.device), (-1,))
        n = self.threshold.shape[0]
        q = xp.full_like(self.threshold, 1 / n) if sample_probability is None else xp.asarray(sample_probability)
        counts = xp.astype(self.counts(s), self.dtype)
        share = self._per_sample(self.source_probabilities(s), idx) / self._per_sample(counts, idx)
        ratio = share * xp.take(self.mass, idx, axis=0) / xp.astype(xp.take(q, idx, axis=0), self.dtype)
        top = None if self.sigma_max is None else xp.take(self.sigma_max, idx, axis=0)
        ok = usable(
            s, xp.take(self.sigma_min, idx, axis=0), top, buffer=self.buffer, schedule=self.base.schedule, xp=xp
        )
        raise_where(~ok, xp, "importance weights need usable pairs; sigma={s!r} is not usable for this sample", s=s)
        out = ratio if to == "sigma_first" else 1 / ratio
        return xp.reshape(out, tuple(xp.asarray(sigma).shape))

    def __call__(self, u: Array, /) -> Draws:
        """Draws from uniforms ``u`` of shape ``(B, 3)`` (or ``(3,)`` for one draw), each in ``[0, 1)``."""
        xp = self.xp
        u = xp.asarray(u, dtype=self.dtype, device=self.device)
        if u.shape[-1:] != (3,) or u.ndim > 2:
            msg = f"u must have shape (B, 3) or (3,): one (level, source, sample) triple per draw, got {tuple(u.shape)}"
            raise ValueError(msg)
        raise_where(~((u >= 0) & (u < 1)), xp, "u must lie in [0, 1), got {v!r}", v=u)
        flat = xp.reshape(u, (-1, 3))
        sigma = xp.astype(self.base.icdf(flat[:, 0], xp=xp), self.dtype)  # u is checked above
        counts = self._counts(sigma)
        index, source, failed = self._assign(sigma, flat[:, 1], flat[:, 2], counts)
        index = xp.where(failed, xp.full_like(index, -1), index)
        batch = u.shape[:-1]
        return Draws(xp.reshape(index, batch), xp.reshape(sigma, batch), xp.reshape(source, batch))

    def draw(self, rng: np.random.Generator, size: int, /) -> Draws:
        """``size`` draws from the uniforms ``rng.random((size, 3))`` of a NumPy generator."""
        if not isinstance(rng, np.random.Generator):
            msg = f"rng must be a numpy.random.Generator, got {type(rng).__name__}"
            raise TypeError(msg)
        return self(rng.random((size, 3)))

    def _assign(self, sigma: Array, u_source: Array, u_sample: Array, counts: list[Any]) -> tuple[Array, Array, Array]:
        xp, w, n_src = self.xp, self.weights, len(self._parts)
        zero = counts[0][1] * 0
        nonempty = [c > 0 for c, _, _ in counts]
        missing = xp.zeros(sigma.shape, dtype=xp.bool, device=self.device)  # a positive-weight source is empty
        for j in np.flatnonzero(w > 0):
            missing = missing | ~nonempty[j]
        self._explain(sigma, nonempty, missing)
        chosen = zero
        if self.empty == "raise":  # fixed probabilities: compare with the cumulative weights
            for edge in np.cumsum(w)[:-1]:
                chosen = chosen + xp.astype(u_source >= float(edge), zero.dtype)
        else:  # renormalised over the non-empty sources
            p = [xp.astype(nonempty[k], self.dtype) * float(w[k]) for k in range(n_src)]
            total = p[0]
            for pk in p[1:]:
                total = total + pk
            target, running, last = u_source * total, p[0], zero
            for k in range(1, n_src):  # chosen = #{k < K-1 : cumulative p_k <= target}
                chosen = chosen + xp.astype(running <= target, zero.dtype)
                running = running + p[k]
                if w[k] > 0:  # the last non-empty source guards against rounding at the top
                    last = xp.maximum(last, xp.astype(nonempty[k], zero.dtype) * k)
            chosen = xp.minimum(chosen, last)
        count, below, start = counts[0]
        for k in range(1, n_src):
            pick = chosen == k
            count, below, start = (
                xp.where(pick, new, old) for new, old in zip(counts[k], (count, below, start), strict=True)
            )
        j = xp.astype(xp.floor(u_sample * xp.astype(count, self.dtype)), zero.dtype)
        j = xp.minimum(j, xp.maximum(count - 1, zero))
        head = xp.take(self._always, chosen, axis=0) + below
        jump = xp.take(self._rest, chosen, axis=0) + start - below  # from the rest to the low list
        position = xp.take(self._offset, chosen, axis=0) + xp.where(j < head, j, j + jump)
        failed = (count <= 0) | missing if self.empty == "raise" else count <= 0
        index = xp.take(self._order, xp.minimum(position, self._order.shape[0] - 1), axis=0)  # position >= 0
        return index, chosen, failed

    def _explain(self, sigma: Array, nonempty: list[Array], missing: Array) -> None:
        if not values_readable(sigma):
            return
        xp = self.xp
        anything = nonempty[0]
        for ok in nonempty[1:]:
            anything = anything | ok
        raise_where(
            ~anything, xp, "no sample of any source is usable at sigma={s!r}; the base law reaches levels below "
            "every threshold", s=sigma,
        )  # fmt: skip
        if self.empty != "raise" or not bool(xp.any(missing)):
            return
        row = int(np.argwhere(to_numpy(missing))[0, 0])
        k = next(k for k, ok in enumerate(nonempty) if self.weights[k] > 0 and not bool(ok[row]))
        msg = (
            f"source {k} has no usable sample at sigma={float(sigma[row])!r} (draw {row}); "
            "pass empty='renormalize' to draw among the non-empty sources instead"
        )
        raise ValueError(msg)
