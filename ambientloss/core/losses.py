r"""Squared-error loss with per-sample weights, ``where=`` masks and valid-count reductions."""

from __future__ import annotations

from .arrays import Array, Namespace, aligned_shape, cast, check_floating, check_same_shape, compute_dtype, namespace

__all__ = ["REDUCTIONS", "squared_error"]

#: accepted values of ``reduction``
REDUCTIONS = ("none", "per_sample", "mean", "sum")


def check_reduction(reduction: str) -> None:
    """Raise ``ValueError`` unless ``reduction`` is one of :data:`REDUCTIONS`."""
    if reduction not in REDUCTIONS:
        msg = f"unknown reduction {reduction!r}; valid values are {', '.join(map(repr, REDUCTIONS))}"
        raise ValueError(msg)


def _broadcastable(value: Array, name: str, pred: Array, xp: Namespace) -> Array:
    shape = aligned_shape(tuple(value.shape), tuple(pred.shape), name, "pred")
    return xp.reshape(value, shape) if shape != tuple(value.shape) else value


def squared_error(
    pred: Array,
    target: Array,
    /,
    *,
    weight: Array | float | None = None,
    where: Array | None = None,
    reduction: str = "mean",
    batch_ndim: int = 1,
    xp: Namespace | None = None,
) -> Array:
    r"""Weighted, masked squared error ``weight * (pred - target)**2`` and its reductions.

    .. math::
        \ell_i = w_i \, (h_i - T_i)^2 \quad\text{on valid entries},\qquad
        \text{mean} = \frac{\sum_{i\,\text{valid}} \ell_i}{\#\{i\ \text{valid}\}}

    Parameters
    ----------
    pred, target : array
        Network output and target of the same shape (no silent broadcasting). Arithmetic runs in
        float32 (float64 for float64 inputs), also for bf16 / fp16 predictions.
    weight : array or float, optional
        Per-sample or per-element weight aligned with the leading axes of ``pred`` (for example
        :func:`loss_weight` of shape ``(B,)``); right-padded like the noise levels.
    where : bool array, optional
        Valid entries, aligned with the leading axes of ``pred`` (LeRobot's ``~action_is_pad`` of
        shape ``(B, T)``, an in-painting mask of shape ``(B, T, D)``). Masked entries contribute
        nothing, even if ``target`` or ``weight`` is NaN or infinite there.
    reduction : {"mean", "per_sample", "sum", "none"}
        ``"mean"``: the sum over valid entries divided by their count (0 when nothing is valid).
        ``"per_sample"``: the same per index of the leading ``batch_ndim`` axes, shape ``(B,)``;
        rows with no valid entry give 0. ``"sum"``: the sum over valid entries. ``"none"``: the
        per-element values, 0 at masked entries.
    batch_ndim : int
        Number of leading axes kept by ``"per_sample"``.
    xp : namespace, optional
        Array namespace; inferred when omitted.

    Returns
    -------
    array
        A scalar, a ``(B,)`` array or the per-element loss, in float32 or float64.

    Notes
    -----
    A per-sample ``weight`` without ``where`` is applied to each sample's sum of squares
    (``sum_b w_b sum_i d_bi^2``): one multiply per sample, and a reduction compilers fuse. The value
    equals the per-element form up to the rounding of the summation order.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss import squared_error
    >>> pred, target = np.zeros((2, 3, 1)), np.ones((2, 3, 1))
    >>> is_pad = np.array([[False, False, True], [False, True, True]])
    >>> squared_error(pred, target, where=~is_pad, reduction="per_sample")
    array([1., 1.])
    """
    check_reduction(reduction)
    xp = namespace({"pred": pred, "target": target, "weight": weight, "where": where}, xp)
    check_floating(pred, "pred", xp)
    check_floating(target, "target", xp)
    check_same_shape(pred, target, "pred", "target")
    dtype = compute_dtype(xp, pred, target)
    diff = cast(pred, dtype, xp) - cast(target, dtype, xp)
    mask = None
    if where is not None:
        if where.dtype != xp.bool:
            msg = f"where must be a boolean array, got dtype {where.dtype}"
            raise TypeError(msg)
        mask = _broadcastable(where, "where", pred, xp)
        diff = xp.where(mask, diff, xp.zeros_like(diff))
    loss = diff * diff
    if weight is not None:
        if hasattr(weight, "shape"):
            check_floating(weight, "weight", xp)
            w = cast(_broadcastable(weight, "weight", pred, xp), dtype, xp)
            if mask is None and reduction != "none":
                inner = _inner_axes(tuple(w.shape), reduction, batch_ndim)
                if inner:  # a per-sample weight: sum each sample's squares, then weight the (B,) sums
                    per_sample = xp.sum(loss, axis=inner, keepdims=True)
                    return _reduce(per_sample * w, None, reduction, batch_ndim, xp, repeat=_size(pred, inner))
        else:
            w = weight
        loss = loss * w
        if mask is not None:
            loss = xp.where(mask, loss, xp.zeros_like(loss))
    if reduction == "none":
        return loss
    return _reduce(loss, mask, reduction, batch_ndim, xp)


def _inner_axes(weight_shape: tuple[int, ...], reduction: str, batch_ndim: int) -> tuple[int, ...]:
    """The trailing axes a weight broadcasts over and the reduction sums anyway (none for ``"none"``)."""
    ndim = len(weight_shape)
    first = ndim
    while first > 0 and weight_shape[first - 1] == 1:
        first -= 1
    if reduction == "per_sample":
        first = max(first, batch_ndim)
    return tuple(range(first, ndim)) if first > 0 else ()


def _size(x: Array, axes: tuple[int, ...]) -> int:
    n = 1
    for axis in axes:
        n *= int(x.shape[axis])
    return n


def _reduce(
    loss: Array, mask: Array | None, reduction: str, batch_ndim: int, xp: Namespace, *, repeat: int = 1
) -> Array:
    ndim = loss.ndim
    if reduction == "per_sample" and not 0 <= batch_ndim <= ndim:
        msg = f"batch_ndim must be between 0 and pred.ndim={ndim}, got {batch_ndim}"
        raise ValueError(msg)
    axes = tuple(range(batch_ndim if reduction == "per_sample" else 0, ndim))
    total = xp.sum(loss, axis=axes)
    if reduction == "sum":
        return total
    # valid count = (mask entries summed) x (sizes of the axes the mask broadcasts over)
    for axis in axes:
        if mask is None or mask.shape[axis] == 1:
            repeat *= int(loss.shape[axis])
    if mask is None:
        return total / repeat if repeat else total
    count = xp.sum(xp.astype(mask, loss.dtype), axis=axes) * repeat
    return total / xp.where(count > 0, count, xp.ones_like(count))
