r"""Frozen per-sample noise: the trusted sample ``x_tmin`` of a corrupt example, drawn once and for all.

A corrupt sample enters ambient training as ``x_tmin = a_m x0 + b_m eps_m`` at its own level
``sigma_min``; every step then adds fresh noise on top of it (:func:`ambientloss.renoise`). The
noise ``eps_m`` must be the **same at every step**: the ambient target is unbiased for the law of
``x_tmin``, and redrawing ``eps_m`` each time turns that law into the corrupt data's own noised law,
so training silently becomes plain denoising of bad data (see the documentation page *Frozen noise*).

Here ``eps_m`` is a pure function of ``(seed, sample_id)``: NumPy's counter-based Philox generator
keyed by the 128-bit pair ``(seed, sample_id)``, counter 0. It is the same in every process, every
DataLoader worker and after every restart, whatever the number of workers or the order of access,
and it never reads or advances a global random state. The Gaussian draws are made in float64 and
rounded to the requested dtype, so float32 and float64 noise agree up to rounding; PyTorch tensors
get exactly these bits (:mod:`ambientloss.adapters.torch_data`). JAX code under ``jax.jit`` uses
``jax.random.fold_in`` instead (:mod:`ambientloss.adapters.jax_data`), which is equally frozen but
gives different numbers.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from .arrays import Array, Namespace, device_of, is_traced, namespace, to_numpy
from .noising import add_noise

__all__ = ["frozen_noise", "frozen_x_tmin"]

_WORD = 2**64


def _as_id(value: object, name: str) -> int:
    if isinstance(value, (bool, np.bool_)):
        msg = f"{name} must be a non-negative integer, got {value!r}"
        raise TypeError(msg)
    try:
        out = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        msg = f"{name} must be a non-negative integer, got {type(value).__name__} {value!r}"
        raise TypeError(msg) from None
    if not 0 <= out < _WORD:
        msg = f"{name} must lie in [0, 2**64), got {out}"
        raise ValueError(msg)
    return out


def _ids(sample_id: object) -> tuple[list[int], bool]:
    """The sample ids as Python ints, and whether a batch (a 1-D array of ids) was given."""
    if isinstance(sample_id, (int, np.integer)):
        return [_as_id(sample_id, "sample_id")], False
    if hasattr(sample_id, "shape"):  # an array of any library
        if is_traced(sample_id):
            msg = (
                "sample_id is traced (jax.jit, jax.vmap or torch.compile) but frozen noise needs concrete ids; "
                "use ambientloss.adapters.jax_data.frozen_noise under jax.jit"
            )
            raise TypeError(msg)
        ids = to_numpy(sample_id)
    elif isinstance(sample_id, Sequence) and not isinstance(sample_id, (str, bytes)):
        return [_as_id(v, f"sample_id[{k}]") for k, v in enumerate(sample_id)], True
    else:
        msg = f"sample_id must be an integer or a 1-D integer array, got {type(sample_id).__name__}"
        raise TypeError(msg)
    if ids.dtype.kind not in "iu":
        msg = f"sample_id must have an integer dtype, got {ids.dtype}"
        raise TypeError(msg)
    if ids.ndim == 0:
        return [_as_id(int(ids), "sample_id")], False
    if ids.ndim != 1:
        msg = f"sample_id must be an integer or a 1-D integer array, got shape {ids.shape}"
        raise ValueError(msg)
    return [_as_id(int(v), f"sample_id[{k}]") for k, v in enumerate(ids)], True


def _stream(seed: int, sample_id: int, shape: tuple[int, ...]) -> np.ndarray:
    key = np.array([seed, sample_id], dtype=np.uint64)
    return np.random.Generator(np.random.Philox(key=key)).standard_normal(shape)


def frozen_noise(
    seed: int,
    sample_id: int | Sequence[int] | Array,
    shape: int | tuple[int, ...],
    dtype: Any = np.float64,
) -> np.ndarray:
    r"""Standard Gaussian noise that is a pure function of ``(seed, sample_id)``.

    The draws are ``standard_normal`` of NumPy's ``Generator(Philox(key=[seed, sample_id]))``:
    Philox-4x64 is a keyed bijection of a counter, so the stream depends on the 128-bit key
    ``(seed, sample_id)`` and on nothing else, and distinct keys give independent streams. They are
    made in float64 and rounded to ``dtype``.

    Parameters
    ----------
    seed : int
        Experiment seed in ``[0, 2**64)``.
    sample_id : int or 1-D integer array
        Stable identity of the sample (its index in a fixed dataset order), in ``[0, 2**64)``. A
        1-D array of ``B`` ids gives a batch of shape ``(B, *shape)``; row ``k`` equals the noise of
        ``sample_id[k]`` alone.
    shape : int or tuple of int
        Shape of one sample's noise.
    dtype : NumPy floating dtype
        ``float64`` (default) or ``float32`` (the float64 draws, rounded).

    Returns
    -------
    numpy.ndarray
        Shape ``shape`` (one id) or ``(B, *shape)`` (a batch of ids).

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss import frozen_noise
    >>> a = frozen_noise(0, 7, (2, 3))
    >>> b = frozen_noise(0, [3, 7], (2, 3))          # a batch: row 1 is sample 7 again
    >>> bool((b[1] == a).all()), a.shape, b.shape
    (True, (2, 3), (2, 2, 3))
    >>> bool((frozen_noise(0, 7, (2, 3), np.float32) == a.astype(np.float32)).all())
    True
    """
    seed = _as_id(seed, "seed")
    shape = (operator.index(shape),) if not isinstance(shape, tuple) else tuple(operator.index(n) for n in shape)
    if any(n < 0 for n in shape):
        msg = f"shape must have non-negative entries, got {shape}"
        raise ValueError(msg)
    out_dtype = np.dtype(dtype)
    if out_dtype.kind != "f":
        msg = f"dtype must be a floating dtype, got {out_dtype}"
        raise TypeError(msg)
    ids, batched = _ids(sample_id)
    if not batched:
        return _stream(seed, ids[0], shape).astype(out_dtype, copy=False)
    out = np.empty((len(ids), *shape), dtype=out_dtype)
    for row, sid in enumerate(ids):
        out[row] = _stream(seed, sid, shape)
    return out


def frozen_x_tmin(
    x0: Array,
    sample_id: int | Sequence[int] | Array,
    sigma_min: Array | float,
    /,
    *,
    seed: int,
    schedule: Any = "vp",
    xp: Namespace | None = None,
) -> Array:
    r"""The trusted sample ``x_tmin = a(sigma_min) x0 + b(sigma_min) eps(seed, sample_id)`` with frozen noise.

    :func:`ambientloss.add_noise` with the noise of :func:`frozen_noise`, so repeated calls (other
    processes, workers, restarts) return the same array. Clean entries (``sigma_min = 0``) give
    ``x0`` itself, bit for bit. The noise is bit-identical however the samples are batched; ``x_tmin``
    is bit-identical for the same call, and within a few ulp between a batched call and one call per
    sample on a backend whose ``sqrt`` rounds differently on arrays of different shapes (PyTorch's CPU
    kernels do): the level's ``a`` and ``b`` carry one such rounding.

    Parameters
    ----------
    x0 : array
        One example (``sample_id`` an integer) or a batch ``(B, ...)`` (``sample_id`` of shape
        ``(B,)``), of any array library; the noise is created on ``x0``'s device in its dtype.
    sample_id : int or 1-D integer array
        Stable identity of each sample, as in :func:`frozen_noise`.
    sigma_min : array or float
        Level of the trusted sample in the units of ``schedule``; a Python number or an array
        aligned with the leading axes of ``x0``.
    seed : int
        Experiment seed in ``[0, 2**64)``.
    schedule, xp
        As in :func:`ambientloss.add_noise`.

    Returns
    -------
    array
        ``x_tmin`` with the shape, dtype and namespace of ``x0``.

    Examples
    --------
    >>> import numpy as np
    >>> from ambientloss import frozen_noise, frozen_x_tmin
    >>> x0 = np.ones((2, 3))
    >>> x_tmin = frozen_x_tmin(x0, np.array([4, 9]), np.array([0.0, 0.6]), seed=1)
    >>> bool((x_tmin[0] == x0[0]).all())                              # clean: unchanged
    True
    >>> bool(np.allclose(x_tmin[1], 0.8 * x0[1] + 0.6 * frozen_noise(1, 9, 3)))   # VP: a = 0.8, b = 0.6
    True
    """
    xp = namespace({"x0": x0}, xp)
    ids, batched = _ids(sample_id)
    shape = tuple(x0.shape)
    if batched:
        if not shape or shape[0] != len(ids):
            msg = f"sample_id has {len(ids)} entries but x0 with shape {shape} has no matching leading batch axis"
            raise ValueError(msg)
        shape = shape[1:]
    raw = frozen_noise(seed, sample_id if batched else ids[0], shape, np.float64)
    noise = xp.asarray(raw, dtype=x0.dtype, device=device_of(x0))
    return add_noise(x0, sigma_min, noise, schedule=schedule, xp=xp)
