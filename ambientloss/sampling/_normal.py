r"""Standard normal CDF, survival function and quantile in plain array-API arithmetic.

No special functions are needed from the array library, and there is no data-dependent Python
control flow, so everything runs under ``jax.jit`` and ``torch.compile``.

* :func:`ndtr_pair` returns ``(Phi(z), Phi(-z))`` from one evaluation of ``erfc``, each with
  *relative* accuracy in its own tail: W. J. Cody's rational Chebyshev approximations of
  ``erf`` / ``erfc`` (Math. Comp. 23, 1969), with ``exp(-z^2 / 2)`` split as
  ``exp(-zr^2 / 2) exp(-(z - zr)(z + zr) / 2)``, ``zr = trunc(16 z) / 16``, so that the rounding of
  ``z^2`` is not amplified in the far tail.
* :func:`ndtri` is M. J. Wichura's algorithm AS 241 (PPND16, Appl. Statist. 37, 1988), with
  relative accuracy about ``1e-16``; the tails use ``min(p, 1 - p)`` (``1 - p`` is exact for
  ``p >= 1/2``).
"""

from __future__ import annotations

import math

from ..core.arrays import Array, Namespace

__all__ = ["ndtr", "ndtr_pair", "ndtri", "quantile_from_tails"]

# Cody's coefficients: erf on |x| <= 0.46875, erfc * exp(x^2) on (0.46875, 4] and on (4, inf)
_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02, 3.20937758913846947e03)
_A4 = 1.85777706184603153e-1
_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03)
_C = (
    5.64188496988670089e-1,
    8.88314979438837594e00,
    6.61191906371416295e01,
    2.98635138197400131e02,
    8.81952221241769090e02,
    1.71204761263407058e03,
    2.05107837782607147e03,
    1.23033935479799725e03,
)
_C8 = 2.15311535474403846e-8
_D = (
    1.57449261107098347e01,
    1.17693950891312499e02,
    5.37181101862009858e02,
    1.62138957456669019e03,
    3.29079923573345963e03,
    4.36261909014324716e03,
    3.43936767414372164e03,
    1.23033935480374942e03,
)
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1, 1.60837851487422766e-2)
_P4, _P5 = 6.58749161529837803e-4, 1.63153871373020978e-2
_Q = (2.56852019228982242e00, 1.87295284992346725e00, 5.27905102951428412e-1, 6.05183413124413191e-2)
_Q4 = 2.33520497626869185e-3
_SQRPI = 5.6418958354775628695e-1  # 1 / sqrt(pi)
_SQRT1_2 = 0.70710678118654752440

# Wichura's AS 241 (PPND16): numerators and denominators in increasing powers
_PPND_A = (
    3.3871328727963666080e0,
    1.3314166789178437745e2,
    1.9715909503065514427e3,
    1.3731693765509461125e4,
    4.5921953931549871457e4,
    6.7265770927008700853e4,
    3.3430575583588128105e4,
    2.5090809287301226727e3,
)
_PPND_B = (
    1.0,
    4.2313330701600911252e1,
    6.8718700749205790830e2,
    5.3941960214247511077e3,
    2.1213794301586595867e4,
    3.9307895800092710610e4,
    2.8729085735721942674e4,
    5.2264952788528545610e3,
)
_PPND_C = (
    1.42343711074968357734e0,
    4.63033784615654529590e0,
    5.76949722146069140550e0,
    3.64784832476320460504e0,
    1.27045825245236838258e0,
    2.41780725177450611770e-1,
    2.27238449892691845833e-2,
    7.74545014278341407640e-4,
)
_PPND_D = (
    1.0,
    2.05319162663775882187e0,
    1.67638483018380384940e0,
    6.89767334985100004550e-1,
    1.48103976427480074590e-1,
    1.51986665636164571966e-2,
    5.47593808499534494600e-4,
    1.05075007164441684324e-9,
)
_PPND_E = (
    6.65790464350110377720e0,
    5.46378491116411436990e0,
    1.78482653991729133580e0,
    2.96560571828504891230e-1,
    2.65321895265761230930e-2,
    1.24266094738807843860e-3,
    2.71155556874348757815e-5,
    2.01033439929228813265e-7,
)
_PPND_F = (
    1.0,
    5.99832206555887937690e-1,
    1.36929880922735805310e-1,
    1.48753612908506148525e-2,
    7.86869131145613259100e-4,
    1.84631831751005468180e-5,
    1.42151175831644588870e-7,
    2.04426310338993978564e-15,
)


def _poly(coefficients: tuple[float, ...], x: Array) -> Array:
    """Horner evaluation of ``sum_k c_k x^k`` (coefficients in increasing powers)."""
    out = x * coefficients[-1] + coefficients[-2]
    for c in coefficients[-3::-1]:
        out = out * x + c
    return out


def _erf_small(x: Array) -> Array:
    """``erf(x)`` for ``|x| <= 0.46875`` (Cody, first range)."""
    ysq = x * x
    num, den = _A4 * ysq, ysq
    for a, b in zip(_A[:3], _B[:3], strict=True):
        num = (num + a) * ysq
        den = (den + b) * ysq
    return x * (num + _A[3]) / (den + _B[3])


def _erfcx_mid(y: Array) -> Array:
    """``exp(y^2) erfc(y)`` for ``0.46875 <= y <= 4`` (Cody, second range)."""
    num, den = _C8 * y, y
    for c, d in zip(_C[:7], _D[:7], strict=True):
        num = (num + c) * y
        den = (den + d) * y
    return (num + _C[7]) / (den + _D[7])


def _erfcx_tail(y: Array) -> Array:
    """``exp(y^2) erfc(y)`` for ``y >= 4`` (Cody, third range); 0 at ``y = inf``."""
    ysq = 1 / (y * y)
    num, den = _P5 * ysq, ysq
    for p, q in zip(_P, _Q, strict=True):
        num = (num + p) * ysq
        den = (den + q) * ysq
    return (_SQRPI - ysq * (num + _P4) / (den + _Q4)) / y


def ndtr_pair(z: Array, xp: Namespace) -> tuple[Array, Array]:
    r"""``(Phi(z), Phi(-z))``, each accurate to a few ulp relative to itself (NaN stays NaN).

    Examples
    --------
    >>> import numpy as np
    >>> import array_api_compat.numpy as xp
    >>> from ambientloss.sampling._normal import ndtr_pair
    >>> cdf, sf = ndtr_pair(np.array([-10.0, 0.0, 10.0]), xp)
    >>> [float(f"{v:.6e}") for v in sf]
    [1.0, 0.5, 7.619853e-24]
    """
    x = z * _SQRT1_2
    y = xp.abs(x)
    small = y <= 0.46875
    erf = _erf_small(xp.where(small, x, xp.zeros_like(x)))
    az = xp.minimum(xp.abs(z), xp.full_like(z, 40.0))  # Phi(-40) underflows in float64
    zr = xp.trunc(az * 16) / 16
    gauss = xp.exp(-(zr * zr) / 2) * xp.exp(-((az - zr) * (az + zr)) / 2)
    mid = _erfcx_mid(xp.minimum(xp.maximum(y, xp.full_like(y, 0.46875)), xp.full_like(y, 4.0)))
    tail = _erfcx_tail(xp.maximum(y, xp.full_like(y, 4.0)))
    half_tail = 0.5 * gauss * xp.where(y <= 4, mid, tail)  # Phi(-|z|) outside the central range
    negative = z < 0
    lower = xp.where(negative, half_tail, 1 - half_tail)
    upper = xp.where(negative, 1 - half_tail, half_tail)
    cdf = xp.where(small, 0.5 + 0.5 * erf, lower)
    sf = xp.where(small, 0.5 - 0.5 * erf, upper)
    return cdf, sf


def ndtr(z: Array, xp: Namespace) -> Array:
    """Standard normal CDF ``Phi(z)``."""
    return ndtr_pair(z, xp)[0]


def _ndtri_lower(p: Array, xp: Namespace) -> Array:
    """AS 241 for ``0 <= p <= 1/2``: the quantile ``<= 0`` (``-inf`` at 0)."""
    q = p - 0.5
    central = q >= -0.425
    r = 0.180625 - q * q
    x_central = q * _poly(_PPND_A, r) / _poly(_PPND_B, r)
    positive = p > 0
    r = xp.sqrt(-xp.log(xp.where(positive, p, xp.full_like(p, 0.5))))
    near = r - 1.6
    far = r - 5.0
    x_tail = -xp.where(r <= 5, _poly(_PPND_C, near) / _poly(_PPND_D, near), _poly(_PPND_E, far) / _poly(_PPND_F, far))
    x = xp.where(central, x_central, x_tail)
    return xp.where(positive, x, xp.full_like(x, -math.inf))


def ndtri(p: Array, xp: Namespace) -> Array:
    r"""Standard normal quantile ``Phi^{-1}(p)`` for ``p`` in ``[0, 1]`` (``-inf`` at 0, ``inf`` at 1).

    Examples
    --------
    >>> import numpy as np
    >>> import array_api_compat.numpy as xp
    >>> from ambientloss.sampling._normal import ndtri
    >>> ndtri(np.array([0.025, 0.5, 0.975]), xp).round(6)
    array([-1.959964,  0.      ,  1.959964])
    """
    upper = p > 0.5
    low = _ndtri_lower(xp.where(upper, 1 - p, p), xp)
    out = xp.where(upper, -low, low)
    bad = (p < 0) | (p > 1)
    return xp.where(bad, xp.full_like(out, math.nan), out)


def quantile_from_tails(c: Array, s: Array, xp: Namespace) -> Array:
    r"""``z`` with ``Phi(z) = c`` and ``Phi(-z) = s`` (``c + s = 1``), taken from the smaller of the two.

    Passing both tails keeps the relative accuracy of a quantile deep in either tail, which a single
    ``c`` near 1 cannot carry. One AS 241 evaluation per entry.
    """
    take_c = c <= s
    low = _ndtri_lower(xp.where(take_c, c, s), xp)
    return xp.where(take_c, low, -low)
