r"""JAX adapter: pure, key-based ambient targets and losses for ``jax.jit``, ``jax.vmap`` and ``jax.grad``.

Every function binds ``xp=jax.numpy``, draws noise only from the ``jax.random`` key it is given and
accepts one unbatched example (scalar levels, ``x`` of shape ``(T, D)``) as well as a batch
(levels of shape ``(B,)`` or ``(B, T)`` aligned with the leading axes of ``x``), so ``jax.vmap``
over examples gives the batched result. Sharded inputs keep their sharding.

Eagerly, inadmissible levels raise ``ValueError`` as in the core. Under ``jax.jit`` values cannot be
checked: entries with ``sigma <= sigma_min`` come out NaN in the target and the weight (the network
input of :func:`ambient_pair` stays finite). Mask them with ``where=admissible(sigma, sigma_min)``;
the masked loss and its gradients stay finite.

Examples
--------
>>> import jax, jax.numpy as jnp
>>> from ambientloss.adapters import jax as alj
>>> x_tmin = jnp.zeros((4, 16, 7), jnp.float32)
>>> sigma_min = jnp.array([0.0, 0.3, 0.3, 0.5], jnp.float32)
>>> sigma = jnp.array([0.4, 0.6, 0.2, 0.9], jnp.float32)       # the third pair is inadmissible
>>> @jax.jit
... def step(key, x_tmin, sigma, sigma_min):
...     x_t, target = alj.ambient_pair(key, x_tmin, sigma, sigma_min)
...     pred = 0.5 * x_t                                          # the network
...     return alj.ambient_loss(pred, target, sigma, sigma_min, where=alj.admissible(sigma, sigma_min))
>>> loss = step(jax.random.key(0), x_tmin, sigma, sigma_min)
>>> bool(jnp.isfinite(loss)), loss.dtype
(True, dtype('float32'))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from ..core import losses, noising, targets, weights
from ..core.admissibility import admissible as core_admissible
from ..core.levels import Levels
from ..core.schedules import DEFAULT_SCHEDULE
from ..core.weights import Weighting
from ._given import after_levels, levels_alone
from ._jax_sampling import sample_truncated, truncated_timesteps

__all__ = [
    "add_noise",
    "admissible",
    "ambient_loss",
    "ambient_pair",
    "ambient_target",
    "loss_weight",
    "renoise",
    "sample_truncated",
    "training_loss",
    "truncated_timesteps",
]

Array = jax.Array
Level = jax.Array | float


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _dtype(x: Array) -> Any:
    """Arithmetic dtype: float64 for float64 data, float32 otherwise (bf16 / fp16 included)."""
    return jnp.float64 if x.dtype == jnp.float64 else jnp.float32


def _level(value: Level, dtype: Any) -> Array:
    """A Python number becomes an array of ``dtype``, so levels never carry a device or sharding of their own."""
    return jnp.asarray(value, dtype=dtype) if _is_number(value) else jnp.asarray(value)


def _given(sigma_min: Level | None) -> Level:
    if sigma_min is None:
        msg = "sigma_min is missing: pass sigma and sigma_min, or one Levels"
        raise TypeError(msg)
    return sigma_min


def _levels(sigma: Levels | Level, sigma_min: Level | None, like: Any, schedule: Any, prediction: str) -> Levels:
    """The given :class:`Levels` (of ``schedule``), or one of raw levels in the dtype ``like`` computes in."""
    if isinstance(sigma, Levels):
        return levels_alone(sigma, sigma_min, schedule, "the JAX adapter")
    sigma_min = _given(sigma_min)
    wide = any(getattr(v, "dtype", None) == jnp.float64 for v in (*like, sigma, sigma_min))
    d = jnp.float64 if wide else jnp.float32
    s, m = jnp.asarray(sigma, dtype=d), jnp.asarray(sigma_min, dtype=d)
    return Levels(s, m, schedule=schedule, prediction=prediction, xp=jnp)


def _pad(a: Array, ndim: int) -> Array:
    return jnp.reshape(a, a.shape + (1,) * (ndim - a.ndim))


def admissible(
    sigma: Levels | Level,
    sigma_min: Level | None = None,
    /,
    *,
    schedule: Any = DEFAULT_SCHEDULE,
    prediction: str = "x0",
) -> Array:
    """Boolean mask of the pairs with a defined target: :func:`ambientloss.admissible` with ``xp=jax.numpy``.

    ``sigma > sigma_min`` (``sigma > 0`` when clean), both inside the schedule's domain.

    Levels align on their leading axes, so ``(B,)`` against ``(B, T)`` gives ``(B, T)``. Use it as
    ``where=`` of :func:`ambient_loss` under ``jax.jit``, where inadmissible targets are NaN. Every
    function here also takes one :class:`~ambientloss.Levels` in place of ``sigma, sigma_min``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from ambientloss.adapters.jax import admissible
    >>> admissible(jnp.array([0.5, 0.3, 0.0]), jnp.array([0.3, 0.3, 0.0])).tolist()
    [True, False, False]
    """
    if isinstance(sigma, Levels):
        return levels_alone(sigma, sigma_min, schedule, "the JAX adapter").usable
    s, m = _level(sigma, jnp.float32), _level(_given(sigma_min), jnp.float32)
    return core_admissible(s, m, schedule=schedule, prediction=prediction, xp=jnp)


def ambient_pair(
    key: Array,
    x_tmin: Array,
    sigma: Levels | Level,
    sigma_min: Level | None = None,
    /,
    *,
    prediction: str = "x0",
    schedule: Any = DEFAULT_SCHEDULE,
) -> tuple[Array, Array]:
    r"""Draw ``z ~ N(0, I)`` from ``key``; return the network input ``x_t`` and its ambient target.

    .. math::
        x_t = \frac{a_t}{a_m} x_{t_{min}} + \frac{\sqrt D}{a_m} z,\qquad
        T_{x0} = \frac{x_{t_{min}}}{a_m} - \frac{a_t b_m^2}{a_m \sqrt D} z,\qquad
        D = a_m^2 b_t^2 - a_t^2 b_m^2,

    and the other predictions as in :func:`ambientloss.ambient_pair`, which this calls with
    ``noise = jax.random.normal(key, x_tmin.shape, dtype)``; ``dtype`` is float64 for float64 data,
    float32 otherwise. At ``sigma_min = 0`` the pair is bit-exactly the standard one (within one ``jit``).

    Parameters
    ----------
    key : jax.Array
        A ``jax.random`` key (typed or raw ``uint32``).
    x_tmin : jax.Array
        Trusted sample at ``sigma_min``: one example ``(T, D)`` or a batch ``(B, T, D)``.
    sigma, sigma_min : jax.Array or float
        Levels aligned with the leading axes of ``x_tmin``; ``sigma > sigma_min``. Or one
        :class:`~ambientloss.Levels` in place of both, prepared once for the whole step.
    prediction, schedule
        As in :func:`ambientloss.ambient_target`.

    Returns
    -------
    (x_t, target) : tuple of jax.Array
        Both with the shape and dtype of ``x_tmin``. Under ``jax.jit``, where ``sigma <= sigma_min``
        the target is NaN and ``x_t`` is ``x_tmin`` (its limit at ``sigma = sigma_min``), so a
        network fed the batch leaks no NaN into parameter gradients once the loss masks them.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from ambientloss.adapters.jax import ambient_pair
    >>> x_t, target = ambient_pair(jax.random.key(0), jnp.ones((16, 7), jnp.float32), 0.6, 0.3)
    >>> x_t.shape, target.dtype
    ((16, 7), dtype('float32'))
    """
    x = jnp.asarray(x_tmin)
    lv = _levels(sigma, sigma_min, (x,), schedule, prediction)  # one preparation for the pair and the mask
    noise = jax.random.normal(key, x.shape, _dtype(x))
    x_t, target = targets.ambient_pair(x, lv, noise, prediction=prediction, schedule=schedule, xp=jnp)
    return jnp.where(_pad(lv.usable, x.ndim), x_t, x), target


def ambient_target(
    x_t: Array,
    x_tmin: Array,
    sigma: Levels | Level,
    sigma_min: Level | None = None,
    /,
    *,
    prediction: str = "x0",
    schedule: Any = DEFAULT_SCHEDULE,
) -> Array:
    r""":func:`ambientloss.ambient_target` on JAX arrays: ``T_x0 = (a_m b_t^2 x_tmin - a_t b_m^2 x_t) / D``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from ambientloss.adapters.jax import ambient_target
    >>> x = jnp.array([0.3, -1.2], jnp.float32)
    >>> bool((ambient_target(x + 1, x, 0.5, 0.0) == x).all())   # clean sample: the target is x_tmin
    True
    """
    x = jnp.asarray(x_t)
    lv = _levels(sigma, sigma_min, (x, x_tmin), schedule, prediction)
    return targets.ambient_target(x, jnp.asarray(x_tmin), lv, prediction=prediction, schedule=schedule, xp=jnp)


def add_noise(x0: Array, sigma: Level, noise: Array, /, *, schedule: Any = DEFAULT_SCHEDULE) -> Array:
    r""":func:`ambientloss.add_noise` on JAX arrays: ``x_t = a(sigma) x0 + b(sigma) noise``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from ambientloss.adapters.jax import add_noise
    >>> add_noise(jnp.ones(2, jnp.float32), 0.5, jnp.array([0.0, 2.0], jnp.float32), schedule="ve").tolist()
    [1.0, 2.0]
    """
    x = jnp.asarray(x0)
    return noising.add_noise(x, _level(sigma, _dtype(x)), jnp.asarray(noise), schedule=schedule, xp=jnp)


def renoise(
    x_tmin: Array,
    sigma: Levels | Level,
    sigma_min: Level | None = None,
    noise: Array | None = None,
    /,
    *,
    schedule: Any = DEFAULT_SCHEDULE,
) -> Array:
    r""":func:`ambientloss.renoise` on JAX arrays: ``x_t = (a_t / a_m) x_tmin + (sqrt(D) / a_m) noise``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from ambientloss.adapters.jax import renoise
    >>> renoise(jnp.ones(1, jnp.float32), 1.0, 0.6, jnp.ones(1, jnp.float32), schedule="ve").tolist()
    [1.7999999523162842]
    """
    x = jnp.asarray(x_tmin)
    if isinstance(sigma, Levels):  # then the noise: renoise(x_tmin, levels, noise)
        noise, sigma_min = after_levels(sigma_min, noise, "noise"), None
    lv = _levels(sigma, sigma_min, (x, noise), schedule, "x0")
    return noising.renoise(x, lv, jnp.asarray(noise), schedule=schedule, xp=jnp)


def loss_weight(
    sigma: Levels | Level,
    sigma_min: Level | None = None,
    /,
    *,
    weighting: Weighting | str = "inverse_variance",
    prediction: str = "x0",
    schedule: Any = DEFAULT_SCHEDULE,
    dtype: Any = jnp.float32,
) -> Array:
    """:func:`ambientloss.loss_weight` on JAX arrays; Python numbers become arrays of ``dtype``.

    ``weighting`` is a :class:`~ambientloss.Weighting` or a policy name; being hashable, it can be a
    static argument of ``jax.jit``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from ambientloss.adapters.jax import loss_weight
    >>> round(float(loss_weight(0.5, 0.3)), 6)   # 1 - 0.3**2 / 0.5**2
    0.64
    """
    options: dict[str, Any] = {"weighting": weighting, "prediction": prediction, "schedule": schedule, "xp": jnp}
    if isinstance(sigma, Levels):
        return weights.loss_weight(levels_alone(sigma, sigma_min, schedule, "the JAX adapter"), **options)
    return weights.loss_weight(_level(sigma, dtype), _level(_given(sigma_min), dtype), **options)


def ambient_loss(
    pred: Array,
    target: Array,
    sigma: Levels | Level,
    sigma_min: Level | None = None,
    /,
    *,
    weighting: Weighting | str = "inverse_variance",
    prediction: str = "x0",
    schedule: Any = DEFAULT_SCHEDULE,
    where: Array | None = None,
    reduction: str = "mean",
    batch_ndim: int = 1,
) -> Array:
    r"""Weighted, masked squared error against an ambient target.

    .. math::
        \ell = \frac{\sum_{i\ \text{valid}} w(\sigma_i, \sigma_{min,i}) (h_i - T_i)^2}{\#\{i\ \text{valid}\}},
        \qquad w = \rho = (1 - r)\frac{\sigma_d^2}{\sigma_d^2 + b_m^2 / a_m^2}
        \ \text{for}\ \texttt{"inverse\_variance"},\quad r = \frac{a_t^2 b_m^2}{a_m^2 b_t^2}.

    Parameters
    ----------
    pred, target : jax.Array
        Network output and ambient target of equal shape (one example or a batch).
    sigma, sigma_min : jax.Array or float
        The levels the target was built with.
    weighting : Weighting or {"inverse_variance", "none", "ambient_o", "x_tmin"}
        The :class:`~ambientloss.Weighting` of :func:`ambientloss.loss_weight`, or a policy name as
        shorthand for ``Weighting(policy=name)``.
    prediction, schedule
        As in :func:`ambientloss.ambient_target`; ``prediction`` matters only with a ``base_weight``.
    where : bool jax.Array, optional
        Valid entries aligned with the leading axes of ``pred``, e.g. ``admissible(sigma, sigma_min)``
        or a ``(B, T)`` padding mask. Masked entries contribute nothing, not even to the gradient,
        also where their target or weight is NaN.
    reduction : {"mean", "per_sample", "sum", "none"}
        As in :func:`ambientloss.squared_error`. On one example, ``"mean"`` under ``jax.vmap``
        equals ``"per_sample"`` on the batch.
    batch_ndim : int
        Leading axes kept by ``"per_sample"``.

    Returns
    -------
    jax.Array
        In float32 (float64 for float64 inputs).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from ambientloss.adapters.jax import ambient_loss
    >>> pred, target = jnp.zeros((3, 2), jnp.float32), jnp.ones((3, 2), jnp.float32)
    >>> round(float(ambient_loss(pred, target, 0.5, 0.3)), 6)   # weight 1 - 0.3**2 / 0.5**2
    0.64
    """
    p = jnp.asarray(pred)
    d = jnp.promote_types(_dtype(p), _dtype(jnp.asarray(target)))
    if isinstance(sigma, Levels):  # the weight in the levels' dtype
        w = loss_weight(sigma, sigma_min, weighting=weighting, prediction=prediction, schedule=schedule)
    else:
        w = loss_weight(sigma, sigma_min, weighting=weighting, prediction=prediction, schedule=schedule, dtype=d)
    mask = None if where is None else jnp.asarray(where)
    return losses.squared_error(
        p, jnp.asarray(target), weight=w, where=mask, reduction=reduction, batch_ndim=batch_ndim, xp=jnp
    )


def training_loss(
    params: Any,
    key: Array,
    x_tmin: Array,
    sigma: Levels | Level,
    sigma_min: Level | None = None,
    /,
    *,
    apply_fn: Callable[[Any, Array, Any], Array],
    prediction: str = "x0",
    schedule: Any = DEFAULT_SCHEDULE,
    weighting: Weighting | str = "inverse_variance",
    where: Array | None = None,
    reduction: str = "mean",
    batch_ndim: int = 1,
) -> Array:
    """One ambient training loss: ``ambient_loss(apply_fn(params, x_t, sigma), target, ...)``.

    ``(x_t, target)`` come from :func:`ambient_pair` with ``key``; ``params`` is first so that
    ``jax.value_and_grad(training_loss)`` differentiates the model. ``weighting``, ``where``,
    ``reduction`` and ``batch_ndim`` are those of :func:`ambient_loss`. The levels are prepared once
    (a :class:`~ambientloss.Levels` in the dtype of ``x_tmin``, or the one given) for the pair and the
    weight; ``apply_fn`` sees ``sigma`` as given (``levels.sigma`` for a Levels).

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from ambientloss.adapters.jax import training_loss
    >>> x = jnp.ones((4, 3), jnp.float32)
    >>> grads = jax.grad(training_loss)(jnp.zeros(()), jax.random.key(0), x, 0.5, 0.2, apply_fn=lambda p, x, s: p * x)
    >>> bool(jnp.isfinite(grads))
    True
    """
    lv = _levels(sigma, sigma_min, (jnp.asarray(x_tmin),), schedule, prediction)
    x_t, target = ambient_pair(key, x_tmin, lv, prediction=prediction, schedule=schedule)
    pred = apply_fn(params, x_t, lv.sigma if isinstance(sigma, Levels) else sigma)
    return ambient_loss(
        pred,
        target,
        lv,
        weighting=weighting,
        prediction=prediction,
        schedule=schedule,
        where=where,
        reduction=reduction,
        batch_ndim=batch_ndim,
    )
