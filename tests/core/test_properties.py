"""Property tests of the ambient targets against closed-form oracles (math notes, sections 1-6 and 8).

Every comparison is against a formula evaluated by ``ambientloss.testing.gaussian`` in float64, never against
an output of the library. Tolerances are stated as a multiple of the backend's machine epsilon
``u`` times the forward-error scale of the computation (``gaussian.error_scale``, which grows like
``1 / (1 - r)`` as ``sigma -> sigma_min``); the constants below are about ten times the largest
error seen over 300-400 random examples per backend and test.

Random cases come from Hypothesis (profile ``ci``: 40 examples per test and backend); data are drawn
from ``numpy.random.default_rng(seed)`` with a Hypothesis-drawn ``seed``. float32 backends keep
``1 - r >= 1e-3`` and float64 backends ``1 - r >= 5e-7`` (math 5.1: the pair form amplifies rounding
by about ``1 / (1 - r)``; the noise form does not).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import ambientloss as al
from ambientloss.testing.gaussian import (
    KINDS,
    Gaussian,
    OracleSchedule,
    Scalars,
    ambient_coefficients,
    error_scale,
    noise_form_coefficients,
    one_minus_r,
    pair_scalars,
    prediction_affine,
    random_gaussian,
    target_variance,
    transition,
)
from ambientloss.testing.oracle_schedules import custom_schedule as library_custom

SETTINGS = settings(
    suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture]
)

EPS64 = float(np.finfo(np.float64).eps)
# largest errors seen over 300-400 examples per backend and test: about 6 u * error_scale for the
# pair form and 3 u * terms for the noise form and the kernel
C_PAIR = 64.0  # pair-form error <= C_PAIR * eps * error_scale (eps = 2u, the dtype's machine epsilon)
C_NOISE = 16.0  # noise-form error <= C_NOISE * eps * (|c_x x_m| + |c_z z|): docs/numerics.md counts 16.5u
C_ORACLE = 64.0  # float64 oracle: C_ORACLE * EPS64 * cond(C_t) * scale


class _F64:
    """Stands in for a float64 backend in the NumPy-only tests (``Case.levels`` reads ``eps``)."""

    eps = EPS64


# ------------------------------------------------------------------------------------------------
# schedules on both sides: the library object and the oracle formulas

DISCRETE = {
    "linear-1000": al.Discrete.from_diffusers("linear"),
    "scaled_linear-1000": al.Discrete.from_diffusers("scaled_linear", beta_start=0.00085, beta_end=0.012),
    "cosine-1000": al.Discrete.from_diffusers("squaredcos_cap_v2"),
    "cosine-100": al.Discrete.from_diffusers("squaredcos_cap_v2", num_train_timesteps=100),
}


def custom_schedule(k: float, c: float, p: float) -> al.Custom:
    """``a(t) = cos(c t)^p / (1 + k t)``, ``b(t) = sin(c t)`` on ``[0, 1]``: the oracle family's library twin."""
    return library_custom(OracleSchedule("custom", k=k, c=c, p=p))


LEVEL_RANGE = {"vp": (0.01, 1.0), "ve": (0.01, 80.0), "flow": (0.01, 1.0), "custom": (0.02, 1.0)}


@dataclass
class Case:
    """A batch of level pairs for one schedule; levels are float64 before casting to the backend."""

    kind: str  # vp, ve, flow, discrete or custom
    oracle: OracleSchedule
    library: Any  # the schedule argument passed to ambientloss
    sigma: np.ndarray  # (B,)
    log_gap: np.ndarray  # (B,) log10(1 - sigma_min / sigma) for continuous schedules
    sigma_min_table: np.ndarray | None  # (B,) for discrete tables
    clean: np.ndarray  # (B,) bool

    @property
    def velocity_singular(self) -> bool:
        return self.kind in ("vp", "discrete")

    def levels(self, backend: Any, *, q_min: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Levels rounded to the backend dtype (as float64), rejecting pairs with ``1 - r < q_min``."""
        single = backend.eps > 1e-10
        if q_min is None:
            q_min = 1e-3 if single else 5e-7
        lowp = np.float32 if single else np.float64
        if self.sigma_min_table is None:
            e = np.maximum(self.log_gap, math.log10(2 * q_min))
            sigma_min = self.sigma * (1 - 10.0**e)
        else:
            sigma_min = self.sigma_min_table
        sigma_min = np.where(self.clean, 0.0, sigma_min)
        s = self.sigma.astype(lowp).astype(np.float64)
        m = sigma_min.astype(lowp).astype(np.float64)
        assume(bool(np.all(s > m)))
        for si, mi in zip(s, m, strict=True):
            if mi > 0:
                t, mm = pair_scalars(self.oracle, si, mi)
                assume(one_minus_r(t, mm) >= q_min)
        return s, m

    def scalars(self, s: np.ndarray, m: np.ndarray) -> list[tuple[Scalars, Scalars]]:
        return [pair_scalars(self.oracle, si, mi) for si, mi in zip(s, m, strict=True)]


@st.composite
def cases(draw: st.DrawFn, kinds: tuple[str, ...] = ("vp", "ve", "flow", "discrete", "custom"), batch: int = 4):
    """Per-sample level pairs for a batch of ``batch`` rows (fixed, so JAX compiles few shapes)."""
    kind = draw(st.sampled_from(kinds))
    B = batch
    clean = np.array(draw(st.lists(st.booleans(), min_size=B, max_size=B)))
    if kind == "discrete":
        sched = DISCRETE[draw(st.sampled_from(sorted(DISCRETE)))]
        n = sched.num_train_timesteps
        ks = [draw(st.integers(1, n - 1)) for _ in range(B)]
        kms = [draw(st.integers(0, k - 1)) for k in ks]
        sigma = np.asarray(sched.sigma_for_timestep(np.asarray(ks), dtype=np.float64))
        table = np.asarray(sched.sigma_for_timestep(np.asarray(kms), dtype=np.float64))
        return Case(kind, OracleSchedule("vp"), sched, sigma, np.zeros(B), table, clean)
    if kind == "custom":
        k = draw(st.floats(0.0, 2.0))
        c = draw(st.floats(0.3, 1.4))
        p = draw(st.floats(0.0, 2.0))
        oracle, library = OracleSchedule("custom", k=k, c=c, p=p), custom_schedule(k, c, p)
    else:
        oracle, library = OracleSchedule(kind), kind
    lo, hi = LEVEL_RANGE[kind]
    sigma = np.array([draw(st.floats(lo, hi)) for _ in range(B)])
    log_gap = np.array([draw(st.floats(-6.0, 0.0)) for _ in range(B)])
    return Case(kind, oracle, library, sigma, log_gap, None, clean)


def column(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)[:, None]


def check_close(got: np.ndarray, want: np.ndarray, tol: np.ndarray, what: str) -> None:
    """``|got - want| <= tol`` elementwise, reporting the worst ratio."""
    got = np.asarray(got, dtype=np.float64)
    err = np.abs(got - want)
    assert np.all(np.isfinite(got)), f"{what}: non-finite output {got}"
    ok = err <= tol
    if not np.all(ok):
        ratio = np.max(err / np.where(tol > 0, tol, np.finfo(np.float64).tiny))
        pytest.fail(f"{what}: error {err.max():.3e} exceeds tolerance by {ratio:.2f}x\ngot  {got}\nwant {want}")


# ------------------------------------------------------------------------------------------------
# P1: E[T_k | x_t] = E[k | x_t], exactly, for Gaussian data


@SETTINGS
@given(case=cases(), kind=st.sampled_from(KINDS), seed=st.integers(0, 2**32 - 1), d=st.sampled_from([1, 3]))
def test_p1_conditional_mean_is_the_clean_posterior_mean(backend, case, kind, seed, d):
    """The target is affine in ``x_tmin``, so ``E[T | x_t = x] = T(x, E[x_tmin | x_t = x])``.

    That must equal the clean posterior mean ``E[k | x_t = x]`` of math 6.1 for every schedule,
    prediction and level pair, per sample. Tolerance: ``64 eps`` times the pair-form error scale,
    plus the float64 oracle's own ``64 eps64 cond(C_t)`` times that scale and the size of the terms
    the oracle sums.
    """
    s, m = case.levels(backend)
    rng = np.random.default_rng(seed)
    data = random_gaussian(rng, d)
    rows = case.scalars(s, m)
    x = backend.to_numpy(backend.asarray(np.stack([data.sample(t, rng) for t, _ in rows]))).astype(np.float64)
    x_m = np.stack([data.mean_xm(t, mm, xi) for (t, mm), xi in zip(rows, x, strict=True)])
    xb, xmb = backend.asarray(x), backend.asarray(x_m)
    x_m = backend.to_numpy(xmb).astype(np.float64)  # what the library sees
    sb, mb = backend.asarray(s), backend.asarray(m)
    cond = max(data.cond(t) for t, _ in rows)
    if kind == "velocity" and case.velocity_singular and np.any(s >= 1.0):
        with pytest.raises(ValueError, match="velocity"):
            al.ambient_target(xb, xmb, sb, mb, prediction=kind, schedule=case.library)
        return
    got = backend.to_numpy(al.ambient_target(xb, xmb, sb, mb, prediction=kind, schedule=case.library))
    want = np.stack([data.posterior_mean(kind, t, xi) for (t, _), xi in zip(rows, x, strict=True)])
    scale = np.stack([error_scale(kind, t, mm, xi, xmi) for (t, mm), xi, xmi in zip(rows, x, x_m, strict=True)])
    # the oracle's own float64 error: its terms, and those of E[x_tmin | x_t] times the target's coefficient
    oracle = np.stack(
        [
            data.magnitude(kind, t, xi) + abs(ambient_coefficients(kind, t, mm)[1]) * data.magnitude_xm(t, mm, xi)
            for (t, mm), xi in zip(rows, x, strict=True)
        ]
    )
    tol = C_PAIR * backend.eps * scale + C_ORACLE * EPS64 * cond * (scale + oracle)
    check_close(got, want, tol, f"{case.kind} {kind} s={s} m={m}")


@SETTINGS
@given(case=cases(kinds=("vp", "ve", "flow", "custom")), seed=st.integers(0, 2**32 - 1))
def test_p1_any_law_of_x_tmin(case, seed):
    """Lemma 1 for a discrete law of ``x_tmin`` that is not a noised sample (math 6.3), float64.

    ``x_tmin = P_i`` with probabilities ``pi_i``; then ``E[T_x0 | x_t = x]`` must equal the Tweedie
    denoiser ``(x + b_t^2 grad log q_t(x)) / a_t`` of the law ``q_t`` of ``x_t``. Tolerance
    ``1e-9`` relative to the scale of the pair form (the mixture posterior itself is accurate to
    about ``1e-14``).
    """
    s, m = case.levels(_F64, q_min=1e-3)
    assume(bool(np.any(m > 0)))
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(2, 6)), int(rng.integers(1, 4))
    points = rng.normal(0, 1.5, size=(n, d))
    probs = rng.dirichlet(np.ones(n))
    for (t, mm), si, mi in zip(case.scalars(s, m), s, m, strict=True):
        if mi == 0 or t.a < 1e-2:  # the Tweedie denoiser divides by a_t
            continue
        alpha, beta = transition(t, mm)
        x = alpha * points[rng.integers(n)] + beta * rng.standard_normal(d)
        logw = np.log(probs) - np.sum((x - alpha * points) ** 2, axis=1) / (2 * beta**2)
        w = np.exp(logw - logw.max())
        w /= w.sum()
        mean_xm = w @ points
        score_q = (alpha * mean_xm - x) / beta**2
        denoiser = (x + t.b**2 * score_q) / t.a
        got = al.ambient_target(x[None], mean_xm[None], np.array([si]), np.array([mi]), schedule=case.library)[0]
        scale = error_scale("x0", t, mm, np.abs(x), np.abs(mean_xm)) + np.abs(denoiser)
        check_close(got, denoiser, 1e-9 * scale, f"{case.kind} s={si} m={mi}")


# ------------------------------------------------------------------------------------------------
# P2: sigma_min = 0 reduces bit-exactly to standard training


def _pair_form_conversion(kind: str, x_t: Any, x0: Any, sb: Any, schedule: Any, xp: Any) -> Any:
    """The standard targets derived from ``(x_t, x0)`` with the usual conversions (math 3.3, 5.3)."""
    a, b = al.coefficients(sb, schedule=schedule, xp=xp)
    shape = (-1, *([1] * (x_t.ndim - 1)))
    a, b = xp.reshape(a, shape), xp.reshape(b, shape)
    if kind == "x0":
        return x0
    eps = (x_t - a * x0) / b
    if kind == "epsilon":
        return eps
    if kind == "v":
        return a * eps - b * x0
    if kind == "score":
        return -eps / b
    da, db = al.get_schedule(schedule).derivatives(sb, xp)
    return xp.reshape(da, shape) * x0 + xp.reshape(db, shape) * eps


def _equal(backend: Any, got: Any, want: Any, what: str) -> None:
    g, w = backend.to_numpy(got), backend.to_numpy(want)
    assert g.dtype == w.dtype, f"{what}: dtype {g.dtype} vs {w.dtype}"
    assert np.array_equal(g, w), f"{what}: not bit-exact, max diff {np.max(np.abs(g - w))}"


@SETTINGS
@given(case=cases(), kind=st.sampled_from(KINDS), seed=st.integers(0, 2**32 - 1), d=st.sampled_from([1, 3]))
def test_p2_clean_samples_are_bit_exact(backend, case, kind, seed, d):
    """At ``sigma_min = 0`` the ambient functions equal standard training bit for bit (math 3.6, 5.3).

    * ``ambient_pair(x0, s, 0, z) == (add_noise(x0, s, z), standard_target(x0, z, s))``;
    * ``renoise(x0, s, 0, z) == add_noise(x0, s, z)``;
    * ``ambient_target(x_t, x0, s, 0)`` equals the usual conversions from ``(x_t, x0)``;
    * in a mixed batch (some rows clean, some corrupt) the clean rows are unchanged.
    """
    s, m = case.levels(backend)
    rng = np.random.default_rng(seed)
    B = s.shape[0]
    xp, lib = backend.xp, case.library
    x0, z = backend.asarray(rng.normal(0, 2, size=(B, d))), backend.asarray(rng.standard_normal((B, d)))
    sb, mb, zero = backend.asarray(s), backend.asarray(m), backend.asarray(np.zeros(B))
    x_t = al.add_noise(x0, sb, z, schedule=lib)
    _equal(backend, al.renoise(x0, sb, zero, z, schedule=lib), x_t, "renoise")
    x_mix = al.renoise(x0, sb, mb, z, schedule=lib)
    clean = np.asarray(m == 0)
    if kind == "velocity" and case.velocity_singular and np.any(s >= 1.0):
        return
    standard = al.standard_target(x0, z, sb, prediction=kind, schedule=lib)
    converted = _pair_form_conversion(kind, x_t, x0, sb, lib, xp)
    for m0 in (0.0, zero):
        xt_pair, tgt = al.ambient_pair(x0, sb, m0, z, prediction=kind, schedule=lib)
        _equal(backend, xt_pair, x_t, f"ambient_pair x_t {kind}")
        _equal(backend, tgt, standard, f"ambient_pair {kind}")
        _equal(backend, al.ambient_target(x_t, x0, sb, m0, prediction=kind, schedule=lib), converted, kind)
    # mixed batch: the clean rows do not see the corrupt ones
    xt_pair, tgt = al.ambient_pair(x0, sb, mb, z, prediction=kind, schedule=lib)
    tgt_pair_form = al.ambient_target(x_mix, x0, sb, mb, prediction=kind, schedule=lib)
    for got, want, what in (
        (xt_pair, x_t, "mixed x_t"),
        (x_mix, x_t, "mixed renoise"),
        (tgt, standard, f"mixed ambient_pair {kind}"),
        (tgt_pair_form, converted, f"mixed ambient_target {kind}"),
    ):
        g, w = backend.to_numpy(got), backend.to_numpy(want)
        assert np.array_equal(g[clean], w[clean]), f"{what}: clean rows changed"


@pytest.mark.parametrize("level", [1e-21, 1e-30, 1e-44])
def test_p2_clean_bit_exact_at_tiny_levels(level):
    """At ``sigma_min = 0`` the reduction is exact for any positive level, including tiny ones.

    ``b_t * b_t`` is subnormal below about 1e-19 in float32 and 0 below about 1e-23 (1e-44 is itself
    subnormal): the clean coefficients ``sqrt(D) = b_t``, ``a_m b_t / sqrt(D) = 1``, ``c_t = 0`` and
    ``c_m = 1`` are set, not computed, so nothing depends on ``D`` there. The data are scaled with the
    level so that ``x_t = x0 + sigma z`` resolves every bit of ``sigma z``.
    """
    s = np.float32(level)
    x0, z = np.float32([0.5, -1.25]) * s, np.float32([0.3, -0.2])
    x_t = al.add_noise(x0, s, z, schedule="ve")
    for kind in ("x0", "epsilon"):
        xt_pair, tgt = al.ambient_pair(x0, s, np.float32(0), z, prediction=kind, schedule="ve")
        assert np.array_equal(tgt, al.standard_target(x0, z, s, prediction=kind, schedule="ve"))
        assert np.array_equal(xt_pair, x_t)
    assert np.array_equal(al.ambient_target(x_t, x0, s, np.float32(0), schedule="ve"), x0)


# ------------------------------------------------------------------------------------------------
# P3: pair form equals noise form; the noise form is accurate to a few ulp


@SETTINGS
@given(case=cases(), kind=st.sampled_from(KINDS), seed=st.integers(0, 2**32 - 1), d=st.sampled_from([1, 3]))
def test_p3_pair_form_equals_noise_form(backend, case, kind, seed, d):
    """``ambient_pair`` equals ``ambient_target(renoise(...))`` and both equal the oracle's noise form.

    * ``x_t`` within ``16 eps (|alpha x_m| + |beta z|)`` of the float64 kernel;
    * noise form within ``16 eps (|c_x x_m| + |c_z z|)`` of the float64 noise form of math 3.6 (for a
      custom schedule, whose ``D`` is only as accurate as its ``a`` and ``b`` values, times
      ``1 / (1 - r)``);
    * pair form within ``64 eps`` times its error scale (about ``2 / sqrt(1 - r)`` times the target,
      math 5.1).
    """
    s, m = case.levels(backend)
    rng = np.random.default_rng(seed)
    B = s.shape[0]
    lib = case.library
    x_m = backend.asarray(rng.normal(0, 2, size=(B, d)))
    z = backend.asarray(rng.standard_normal((B, d)))
    xm64, z64 = backend.to_numpy(x_m).astype(np.float64), backend.to_numpy(z).astype(np.float64)
    sb, mb = backend.asarray(s), backend.asarray(m)
    rows = case.scalars(s, m)
    alpha, beta = (column(v) for v in zip(*(transition(t, mm) for t, mm in rows), strict=True))
    x_t_ref = alpha * xm64 + beta * z64
    relax = np.array([1.0 / one_minus_r(t, mm) if case.kind == "custom" else 1.0 for t, mm in rows])[:, None]
    kernel_tol = C_NOISE * backend.eps * relax * (np.abs(alpha * xm64) + np.abs(beta * z64))
    x_t_pair_input = al.renoise(x_m, sb, mb, z, schedule=lib)
    check_close(backend.to_numpy(x_t_pair_input), x_t_ref, kernel_tol, f"renoise {case.kind} s={s} m={m}")
    xt64 = backend.to_numpy(x_t_pair_input).astype(np.float64)
    if kind == "velocity" and case.velocity_singular and np.any(s >= 1.0):
        return
    x_t, tgt = al.ambient_pair(x_m, sb, mb, z, prediction=kind, schedule=lib)
    check_close(backend.to_numpy(x_t), x_t_ref, kernel_tol, "x_t")
    c_x, c_z = (column(v) for v in zip(*(noise_form_coefficients(kind, t, mm) for t, mm in rows), strict=True))
    ref = c_x * xm64 + c_z * z64
    noise_scale = np.abs(c_x * xm64) + np.abs(c_z * z64)
    check_close(
        backend.to_numpy(tgt),
        ref,
        C_NOISE * backend.eps * relax * noise_scale,
        f"noise form {case.kind} {kind} s={s} m={m}",
    )
    pair = backend.to_numpy(al.ambient_target(x_t_pair_input, x_m, sb, mb, prediction=kind, schedule=lib))
    scale = np.stack([error_scale(kind, t, mm, xi, xmi) for (t, mm), xi, xmi in zip(rows, xt64, xm64, strict=True)])
    # the pair form evaluated at the rounded x_t: its exact value is c_t x_t + c_m x_m
    c_t, c_m = (column(v) for v in zip(*(ambient_coefficients(kind, t, mm) for t, mm in rows), strict=True))
    what = f"{case.kind} {kind} s={s} m={m}"
    check_close(pair, c_t * xt64 + c_m * xm64, C_PAIR * backend.eps * relax * scale, f"pair form {what}")
    check_close(pair, ref, C_PAIR * backend.eps * relax * (scale + noise_scale), f"pair vs noise {what}")


@pytest.mark.parametrize(("t", "m"), [(0.999, 0.998), (0.9999, 0.99), (0.99999, 0.9999), (0.6, 0.3)])
@pytest.mark.parametrize("kind", KINDS)
def test_p3_flow_noise_form_accurate_near_t_one(t, m, kind):
    """Rectified flow with ``t, m -> 1``: the noise form stays within a few float32 ulp (math 5.1).

    ``D = (t - m)(t + m - 2 t m)``; its second factor cancels when ``t`` and ``m`` are both near 1
    unless it is formed as ``t (1 - m) + m (1 - t)``. Reference: float64 noise form of math 3.6 with
    the same float32 levels; tolerance ``4 u`` times the terms.
    """
    rng = np.random.default_rng(7)
    x_m, z = rng.normal(size=8).astype(np.float32), rng.normal(size=8).astype(np.float32)
    t32, m32 = np.float32(t), np.float32(m)
    _, got = al.ambient_pair(x_m, t32, m32, z, prediction=kind, schedule="flow")
    tt, mm = pair_scalars(OracleSchedule("flow"), float(t32), float(m32))
    c_x, c_z = noise_form_coefficients(kind, tt, mm)
    ref = c_x * x_m.astype(np.float64) + c_z * z.astype(np.float64)
    u = float(np.finfo(np.float32).eps)
    check_close(got, ref, 4 * u * (np.abs(c_x * x_m) + np.abs(c_z * z)), f"flow {kind} t={t} m={m}")


# ------------------------------------------------------------------------------------------------
# the transition kernel reproduces the forward marginal (Proposition 1)


@SETTINGS
@given(case=cases())
def test_kernel_reproduces_forward_marginal(backend, case):
    """By linearity, ``renoise(add_noise(x0, m, e_m), s, m, z) = A x0 + B e_m + C z``.

    Calling with unit inputs extracts ``A, B, C``; the forward marginal requires ``A = a_t`` and
    ``B^2 + C^2 = b_t^2`` (oracle values). Tolerance ``16 eps`` relative to ``a_t`` and ``b_t^2``.
    For a discrete table ``C^2`` must also be the multi-step kernel ``1 - abar_t / abar_m``.
    """
    s, m = case.levels(backend)
    B = s.shape[0]
    sb, mb, lib = backend.asarray(s), backend.asarray(m), case.library
    one, zero = backend.asarray(np.ones((B, 1))), backend.asarray(np.zeros((B, 1)))

    def composite(x0: Any, e_m: Any, z: Any) -> np.ndarray:
        x_m = al.add_noise(x0, mb, e_m, schedule=lib)
        return backend.to_numpy(al.renoise(x_m, sb, mb, z, schedule=lib)).astype(np.float64)[:, 0]

    A, Bc, C = composite(one, zero, zero), composite(zero, one, zero), composite(zero, zero, one)
    rows = case.scalars(s, m)
    a_t = np.array([t.a for t, _ in rows])
    b_t = np.array([t.b for t, _ in rows])
    u = backend.eps
    check_close(A, a_t, 16 * u * a_t + 1e-300, "x0 coefficient")
    check_close(Bc**2 + C**2, b_t**2, 16 * u * b_t**2, "noise variance")
    if case.kind == "discrete" and backend.eps < 1e-10:
        ac = case.library.alphas_cumprod
        table_s = case.library.sigmas
        for i, (si, mi) in enumerate(zip(s, m, strict=True)):
            k = int(np.searchsorted(table_s, si))
            km = int(np.searchsorted(table_s, mi)) if mi > 0 else None
            beta2 = 1 - ac[k] / ac[km] if km is not None else 1 - ac[k]
            assert abs(C[i] ** 2 - beta2) <= 1e-12 / (ac[km] if km is not None else 1.0), (i, C[i] ** 2, beta2)


# ------------------------------------------------------------------------------------------------
# P4: T_k = k + gamma_k xi with xi independent of (x0, x_t) and Var xi = b_m^2 b_t^2 / D


@SETTINGS
@given(case=cases(), kind=st.sampled_from(KINDS), seed=st.integers(0, 2**32 - 1), d=st.sampled_from([1, 3]))
def test_p4_structure_theorem(backend, case, kind, seed, d):
    """Theorem 2, checked on the exact linear coefficients of the library's targets.

    With ``x_m = add_noise(x0, m, e_m)`` and ``x_t = renoise(x_m, s, m, z)``, every target is linear
    in ``(x0, e_m, z)``; unit inputs give its coefficients ``g`` and those of ``x_t``, ``h``. Then:

    * ``xi = T_x0 - x0`` has no ``x0`` component, variance ``g_1^2 + g_2^2 = v = b_m^2 b_t^2 / D``
      and zero covariance ``g_1 h_1 + g_2 h_2`` with the noise of ``x_t``;
    * ``target_variance`` equals ``v``;
    * every prediction satisfies ``T_k - k = Q_k xi`` (``k = P_k x_t + Q_k x0``);
    * for a random linear ``h(x) = W x + c`` on Gaussian data, the expected ambient loss exceeds the
      closed-form standard loss of math 6.2 by exactly ``d Q_k^2 v``.

    Each coefficient's tolerance is ``64 eps`` times the pair-form error scale of its unit input.
    """
    s, m = case.levels(backend)
    B = s.shape[0]
    sb, mb, lib, u = backend.asarray(s), backend.asarray(m), case.library, backend.eps
    # row j of axis 1 feeds the unit vector e_j of (x0, e_m, z): shapes (B, 3, 1)
    x0, e_m, z = (backend.asarray(np.broadcast_to(np.eye(3)[j][None, :, None], (B, 3, 1)).copy()) for j in range(3))
    x_m = al.add_noise(x0, mb, e_m, schedule=lib)
    x_t = al.renoise(x_m, sb, mb, z, schedule=lib)
    h = backend.to_numpy(x_t).astype(np.float64)[:, :, 0]  # (B, 3): coefficients of x_t on (x0, e_m, z)
    xm_coef = backend.to_numpy(x_m).astype(np.float64)[:, :, 0]
    rows = case.scalars(s, m)
    v = np.array([target_variance(t, mm) for t, mm in rows])
    q = np.array([one_minus_r(t, mm) for t, mm in rows])
    relax = 1 / q if case.kind == "custom" else np.ones(B)  # D of a custom schedule: u / (1 - r) relative
    check_close(
        backend.to_numpy(al.target_variance(sb, mb, schedule=lib)), v, 16 * u * v / q + 1e-300, "target_variance"
    )

    def coefficients(kind: str) -> tuple[np.ndarray, np.ndarray]:
        g = backend.to_numpy(al.ambient_target(x_t, x_m, sb, mb, prediction=kind, schedule=lib))
        scales = [
            error_scale(kind, t, mm, np.abs(hi), np.abs(mi)) for (t, mm), hi, mi in zip(rows, h, xm_coef, strict=True)
        ]
        return g.astype(np.float64)[:, :, 0], C_PAIR * u * relax[:, None] * np.stack(scales)

    g, tau = coefficients("x0")
    xi, xi_tau = g - np.array([1.0, 0.0, 0.0]), tau
    check_close(g[:, 0], np.ones(B), tau[:, 0], "x0 coefficient of T_x0")
    var = g[:, 1] ** 2 + g[:, 2] ** 2
    var_tol = 2 * (np.abs(g[:, 1]) * tau[:, 1] + np.abs(g[:, 2]) * tau[:, 2]) + tau[:, 1] ** 2 + tau[:, 2] ** 2
    check_close(var, v, var_tol + 16 * u * relax * v + 1e-300, "Var xi")
    cov = g[:, 1] * h[:, 1] + g[:, 2] * h[:, 2]
    cov_tol = tau[:, 1] * np.abs(h[:, 1]) + tau[:, 2] * np.abs(h[:, 2])
    cov_tol = cov_tol + 16 * u * (np.abs(g[:, 1] * h[:, 1]) + np.abs(g[:, 2] * h[:, 2]))
    check_close(cov, np.zeros(B), cov_tol, "Cov(xi, noise of x_t)")

    if kind == "velocity" and case.velocity_singular and np.any(s >= 1.0):
        return
    if kind != "x0":
        g, tau = coefficients(kind)
    P, Q = (np.array(col) for col in zip(*(prediction_affine(kind, t) for t, _ in rows), strict=True))
    k_coef = P[:, None] * h + Q[:, None] * np.array([1.0, 0.0, 0.0])
    tol = tau + np.abs(Q)[:, None] * xi_tau + 16 * u * np.abs(k_coef)
    check_close(g - k_coef, Q[:, None] * xi, tol, f"T_{kind} - {kind} = Q xi")

    # exact expected loss of a linear h, ambient minus standard (math 6.2, corollary 1)
    rng = np.random.default_rng(seed)
    data = random_gaussian(rng, d)
    W, c = rng.normal(0, 0.7, size=(d, d)), rng.normal(0, 0.7, size=d)
    for i, (t, _) in enumerate(rows):
        l_amb, d_g, d_h = _linear_loss(data, W, c, g[i], h[i])
        l_std = _standard_linear_loss(data, W, c, t, P[i], Q[i])
        extra = d * Q[i] ** 2 * v[i]
        tol_i = float(np.abs(d_g) @ tau[i] + 64 * u * np.abs(d_h) @ np.abs(h[i]))
        tol_i += 64 * u * (l_amb + l_std + relax[i] * extra) + 1e-12 * (l_std + extra)
        assert abs((l_amb - l_std) - extra) <= tol_i, (kind, i, l_amb - l_std, extra, tol_i)


def _linear_loss(data: Gaussian, W: np.ndarray, c: np.ndarray, g: np.ndarray, h: np.ndarray):
    """``E||W x_t + c - T||^2`` for ``T = g . (x0, e_m, z)`` and ``x_t = h . (x0, e_m, z)``.

    Returns the loss and its gradients with respect to ``g`` and ``h`` (to propagate rounding).
    """
    eye = np.eye(data.d)
    A = g[0] * eye - h[0] * W
    R1, R2 = g[1] * eye - h[1] * W, g[2] * eye - h[2] * W
    mean = A @ data.mu - c
    loss = np.trace(A @ data.Sigma @ A.T) + mean @ mean + np.sum(R1 * R1) + np.sum(R2 * R2)
    d_g = np.array([2 * np.trace(data.Sigma @ A.T) + 2 * data.mu @ mean, 2 * np.trace(R1), 2 * np.trace(R2)])
    d_h = np.array(
        [-2 * np.trace(W @ data.Sigma @ A.T) - 2 * (W @ data.mu) @ mean, -2 * np.sum(W * R1), -2 * np.sum(W * R2)]
    )
    return float(loss), d_g, d_h


def _standard_linear_loss(data: Gaussian, W: np.ndarray, c: np.ndarray, t: Scalars, P: float, Q: float) -> float:
    """Closed form of math 6.2: ``tr(B Sigma B^T) + b_t^2 ||W'||_F^2 + ||B mu + c||^2``."""
    Wp = W - P * np.eye(data.d)
    Bm = t.a * Wp - Q * np.eye(data.d)
    mean = Bm @ data.mu + c
    return float(np.trace(Bm @ data.Sigma @ Bm.T) + t.b**2 * np.sum(Wp * Wp) + mean @ mean)


# ------------------------------------------------------------------------------------------------
# P5: VP at s = 1; loss weights


@SETTINGS
@given(m=st.one_of(st.just(0.0), st.floats(0.0, 0.99)), seed=st.integers(0, 2**32 - 1))
def test_p5_vp_top_level_is_finite(backend, m, seed):
    """At VP ``s = 1`` (``a_t = 0``) the targets stay finite and take their limits (math 5.2).

    ``T_x0 = x_m / sqrt(1 - m^2)``, ``T_eps = x_t``, ``T_v = -x_m / sqrt(1 - m^2)``,
    ``T_score = -x_t``, in both forms; ``x_t = z``. ``prediction="velocity"`` (``dx/ds``) diverges
    there and raises ``ValueError``. Tolerance ``16 eps`` relative to the terms.
    """
    rng = np.random.default_rng(seed)
    m = float(np.float32(m)) if backend.eps > 1e-10 else m
    x_m = backend.asarray(rng.normal(0, 2, size=(3, 2)))
    z = backend.asarray(rng.standard_normal((3, 2)))
    xm64, z64 = backend.to_numpy(x_m).astype(np.float64), backend.to_numpy(z).astype(np.float64)
    am = math.sqrt((1 - m) * (1 + m))
    sb, mb = backend.asarray(np.ones(3)), backend.asarray(np.full(3, m))
    x_t = al.renoise(x_m, sb, mb, z)
    check_close(backend.to_numpy(x_t), z64, 16 * backend.eps * np.abs(z64), "x_t at s=1")
    xt64 = backend.to_numpy(x_t).astype(np.float64)
    limits = {
        "x0": (xm64 / am, xm64 / am),
        "epsilon": (xt64, z64),
        "v": (-xm64 / am, -xm64 / am),
        "score": (-xt64, -z64),
    }
    for kind, (pair_want, noise_want) in limits.items():
        pair = backend.to_numpy(al.ambient_target(x_t, x_m, sb, mb, prediction=kind))
        _, noise = al.ambient_pair(x_m, sb, mb, z, prediction=kind)
        check_close(pair, pair_want, 16 * backend.eps * (np.abs(pair_want) + np.abs(xt64)), f"pair {kind}")
        check_close(backend.to_numpy(noise), noise_want, 16 * backend.eps * np.abs(noise_want), f"noise {kind}")
    with pytest.raises(ValueError, match="velocity"):
        al.ambient_target(x_t, x_m, sb, mb, prediction="velocity")
    with pytest.raises(ValueError, match="velocity"):
        al.ambient_pair(x_m, sb, mb, z, prediction="velocity")


@SETTINGS
@given(case=cases(), sigma_data=st.floats(0.2, 3.0))
def test_p5_inverse_variance_weight(backend, case, sigma_data):
    """``rho = loss_weight(weighting="inverse_variance")`` (math 5.5 (c)).

    * ``0 <= rho <= 1`` (up to ``4 u``) and ``rho == 1`` exactly for clean samples;
    * ``rho (V_t + v) = V_t`` with the Bayes error ``V_t`` of isotropic data of variance
      ``sigma_data^2`` (computed as ``tr Cov(x0 | x_t) / d`` by the oracle) and ``v`` the target
      variance, so every ambient sample has the residual variance of a clean one;
    * VP with ``sigma_data = 1``: ``rho = 1 - sigma_min^2 / sigma^2``;
    * ``weighting="x_tmin"`` is ``a_m^2 (1 - r)^2`` and ``weighting="none"`` is 1.

    Tolerance ``16 eps / (1 - r)`` relative (``D`` of a custom schedule is only that accurate).
    """
    s, m = case.levels(backend)
    sb, mb, lib, u = backend.asarray(s), backend.asarray(m), case.library, backend.eps
    weighting = al.Weighting(sigma_data=sigma_data)
    rho = backend.to_numpy(al.loss_weight(sb, mb, schedule=lib, weighting=weighting)).astype(np.float64)
    assert np.all((rho >= 0) & (rho <= 1)), rho
    assert np.all(rho[m == 0] == 1.0), rho
    rows = case.scalars(s, m)
    data = Gaussian(np.zeros(2), sigma_data**2 * np.eye(2))
    V = np.array([np.trace(data.cov_x0(t)) / 2 for t, _ in rows])
    v = np.array([target_variance(t, mm) for t, mm in rows])
    q = np.array([one_minus_r(t, mm) for t, mm in rows])
    check_close(rho * (V + v), V, 32 * u * V / q + 1e-12 * V, "rho (V + v) = V")
    if case.kind in ("vp", "discrete"):
        rho_unit = backend.to_numpy(al.loss_weight(sb, mb, schedule=lib)).astype(np.float64)
        check_close(rho_unit, 1 - (m / s) ** 2, 16 * u / q, "VP closed form, sigma_data = 1")
    am = np.array([mm.a for _, mm in rows])
    x_tmin = backend.to_numpy(al.loss_weight(sb, mb, weighting="x_tmin", schedule=lib)).astype(np.float64)
    check_close(x_tmin, am**2 * q**2, 32 * u * am**2 * q, "x_tmin policy")
    assert np.all(backend.to_numpy(al.loss_weight(sb, mb, weighting="none", schedule=lib)) == 1.0)


@SETTINGS
@given(case=cases(kinds=("vp", "ve", "flow")), seed=st.integers(0, 2**32 - 1))
def test_p5_x_tmin_space_loss_identity(case, seed):
    """Math 5.5 (a): ``||a_m (1-r) h + (a_t b_m^2 / (a_m b_t^2)) x_t - x_m||^2 = w ||h - T_x0||^2``.

    ``w`` is ``loss_weight(weighting="x_tmin")`` and ``T_x0`` the library's target; any ``h``.
    float64, tolerance ``1e-12`` relative to the terms.
    """
    s, m = case.levels(_F64, q_min=1e-3)
    rng = np.random.default_rng(seed)
    B = s.shape[0]
    x_m, z, hh = rng.normal(size=(B, 3)), rng.normal(size=(B, 3)), rng.normal(size=(B, 3))
    x_t = al.renoise(x_m, s, m, z, schedule=case.library)
    T = al.ambient_target(x_t, x_m, s, m, schedule=case.library)
    w = al.loss_weight(s, m, weighting="x_tmin", schedule=case.library)
    for i, (t, mm) in enumerate(case.scalars(s, m)):
        q = one_minus_r(t, mm)
        resid = mm.a * q * hh[i] + (t.a * mm.b**2 / (mm.a * t.b**2)) * x_t[i] - x_m[i]
        lhs, rhs = resid @ resid, w[i] * np.sum((hh[i] - T[i]) ** 2)
        assert abs(lhs - rhs) <= 1e-12 * (1 + lhs + rhs) / q, (lhs, rhs)


@SETTINGS
@given(case=cases(kinds=("vp", "ve", "flow", "custom")), sigma_data=st.floats(0.2, 3.0))
def test_base_weights_are_x0_weights_converted(case, sigma_data):
    """``base_weight="edm"`` / ``"min_snr"`` are x0-loss weights divided by ``Q_k^2`` for prediction ``k``.

    ``EDM: (sigma~^2 + sigma_data^2) / (sigma~ sigma_data)^2``, ``min-SNR: min(SNR, 5)``, with
    ``sigma~ = b_t / a_t`` from the oracle. float64, relative tolerance ``1e-12``.
    """
    s, m = case.levels(_F64, q_min=1e-3)
    assume(bool(np.all(s < 1.0)) or case.kind == "ve")
    for kind in KINDS:
        edm_weighting = al.Weighting(policy="none", base_weight="edm", sigma_data=sigma_data)
        edm = al.loss_weight(s, m, weighting=edm_weighting, prediction=kind, schedule=case.library)
        snr_weighting = al.Weighting(policy="none", base_weight="min_snr")
        snr = al.loss_weight(s, m, weighting=snr_weighting, prediction=kind, schedule=case.library)
        for i, (t, _) in enumerate(case.scalars(s, m)):
            _, Q = prediction_affine(kind, t)
            nu = t.b / t.a
            want_edm = (nu**2 + sigma_data**2) / (nu * sigma_data) ** 2 / Q**2
            want_snr = min(1 / nu**2, 5.0) / Q**2
            assert math.isclose(edm[i], want_edm, rel_tol=1e-12), (kind, edm[i], want_edm)
            assert math.isclose(snr[i], want_snr, rel_tol=1e-12), (kind, snr[i], want_snr)


# ------------------------------------------------------------------------------------------------
# cross-backend agreement


@SETTINGS
@given(case=cases(), kind=st.sampled_from(KINDS), seed=st.integers(0, 2**32 - 1))
def test_backends_agree_with_numpy_float64(backend, case, kind, seed):
    """Every public function on every backend agrees with NumPy float64 on the same (rounded) inputs.

    Shape, dtype and namespace follow the input; values within ``64 eps`` times the forward-error scale
    (pair form), ``16 eps`` times the terms (noise form, kernel, weights).
    """
    s, m = case.levels(backend)
    rng = np.random.default_rng(seed)
    B = s.shape[0]
    lib, u = case.library, backend.eps
    x_m = backend.asarray(rng.normal(0, 2, size=(B, 2, 3)))
    z = backend.asarray(rng.standard_normal((B, 2, 3)))
    sb, mb = backend.asarray(s), backend.asarray(m)
    xm64, z64 = backend.to_numpy(x_m).astype(np.float64), backend.to_numpy(z).astype(np.float64)
    rows = case.scalars(s, m)

    def same(got: Any, want: np.ndarray, tol: Any, what: str) -> None:
        assert array_api_compat.array_namespace(got) is array_api_compat.array_namespace(x_m), what
        assert tuple(got.shape) == tuple(want.shape), what
        check_close(backend.to_numpy(got), want, tol, what)

    q = np.array([one_minus_r(t, mm) for t, mm in rows])
    relax = 1 / q if case.kind == "custom" else np.ones_like(q)  # D of a custom schedule: u / (1 - r) relative
    alpha, beta = (np.array(v)[:, None, None] for v in zip(*(transition(t, mm) for t, mm in rows), strict=True))
    a_t, b_t = (np.array(v)[:, None, None] for v in zip(*((t.a, t.b) for t, _ in rows), strict=True))
    x_t = al.renoise(x_m, sb, mb, z, schedule=lib)
    assert x_t.dtype == x_m.dtype
    kernel_terms = relax[:, None, None] * (np.abs(alpha * xm64) + np.abs(beta * z64))
    same(x_t, al.renoise(xm64, s, m, z64, schedule=lib), 16 * u * kernel_terms, "renoise")
    forward_terms = np.abs(a_t * xm64) + np.abs(b_t * z64)
    same(
        al.add_noise(x_m, sb, z, schedule=lib),
        al.add_noise(xm64, s, z64, schedule=lib),
        16 * u * forward_terms,
        "add_noise",
    )
    xt64 = backend.to_numpy(x_t).astype(np.float64)
    if not (kind == "velocity" and case.velocity_singular and np.any(s >= 1.0)):
        scale = np.stack([error_scale(kind, t, mm, xi, xmi) for (t, mm), xi, xmi in zip(rows, xt64, xm64, strict=True)])
        got = al.ambient_target(x_t, x_m, sb, mb, prediction=kind, schedule=lib)
        assert got.dtype == x_m.dtype
        want = al.ambient_target(xt64, xm64, s, m, prediction=kind, schedule=lib)
        same(got, want, C_PAIR * u * relax[:, None, None] * scale, f"target {kind} {case.kind} s={s} m={m}")
        _, tgt = al.ambient_pair(x_m, sb, mb, z, prediction=kind, schedule=lib)
        ref_p = al.ambient_pair(xm64, s, m, z64, prediction=kind, schedule=lib)[1]
        c_x, c_z = (column(v) for v in zip(*(noise_form_coefficients(kind, t, mm) for t, mm in rows), strict=True))
        c_x, c_z = c_x[:, :, None], c_z[:, :, None]
        noise_terms = relax[:, None, None] * (np.abs(c_x * xm64) + np.abs(c_z * z64))
        same(tgt, ref_p, C_NOISE * u * noise_terms, f"pair {kind}")
        std = al.standard_target(x_m, z, sb, prediction=kind, schedule=lib)
        std_ref = al.standard_target(xm64, z64, s, prediction=kind, schedule=lib)
        same(std, std_ref, 16 * u * (np.abs(std_ref) + np.abs(xm64) + np.abs(z64) / np.min(s)), f"standard {kind}")
    for policy in ("inverse_variance", "x_tmin", "ambient_o", "none"):
        w = al.loss_weight(sb, mb, weighting=policy, schedule=lib)
        if policy == "ambient_o":  # a 0/1 step at 1 - r = 1 / s_max: compare away from the step
            keep = np.abs(q - 0.25) > 1e-4
            assert np.array_equal(backend.to_numpy(w)[keep], al.loss_weight(s, m, weighting=policy, schedule=lib)[keep])
            continue
        same(w, al.loss_weight(s, m, weighting=policy, schedule=lib), 32 * u / q, policy)
    tv = al.target_variance(sb, mb, schedule=lib)
    tv_ref = al.target_variance(s, m, schedule=lib)
    same(tv, tv_ref, 32 * u * tv_ref / q, "target_variance")


# ------------------------------------------------------------------------------------------------
# specialised tables of math 3.5 equal the general result


def _vp_table(kind: str, s: float, m: float) -> tuple[float, float]:
    one_m2 = (1 - m) * (1 + m)  # 1 - m^2, factored like the other differences
    A_s, A_m, D = math.sqrt((1 - s) * (1 + s)), math.sqrt(one_m2), (s - m) * (s + m)
    if kind == "x0":
        return -A_s * m * m / D, A_m * s * s / D
    if kind == "epsilon":
        return s * one_m2 / D, -s * A_s * A_m / D
    if kind == "score":
        return -one_m2 / D, A_s * A_m / D
    if kind == "v":
        return s * A_s / D, -s * A_m / D
    return s / D, -s * A_m / (A_s * D)  # velocity dx/ds


def _ve_table(kind: str, s: float, m: float) -> tuple[float, float]:
    D = (s - m) * (s + m)
    return {
        "x0": (-m * m / D, s * s / D),
        "epsilon": (s / D, -s / D),
        "velocity": (s / D, -s / D),
        "score": (-1 / D, 1 / D),
        "v": (s * (1 + m * m) / D, -s * (1 + s * s) / D),
    }[kind]


def _rf_table(kind: str, t: float, m: float) -> tuple[float, float]:
    D = (t - m) * (t * (1 - m) + m * (1 - t))  # = (t - m)(t + m - 2tm), without cancellation near 1
    return {
        "x0": (-(1 - t) * m * m / D, (1 - m) * t * t / D),
        "epsilon": ((1 - m) ** 2 * t / D, -(1 - t) * (1 - m) * t / D),
        "score": (-((1 - m) ** 2) / D, (1 - t) * (1 - m) / D),
        "v": ((1 - t) * t * ((1 - m) ** 2 + m * m) / D, -(1 - m) * t * ((1 - t) ** 2 + t * t) / D),
        "velocity": (((t - m) ** 2 + t * (1 - t)) / D, -t * (1 - m) / D),  # t - 2tm + m^2, as a sum
    }[kind]


def _ddpm_table(kind: str, ab_t: float, ab_m: float) -> tuple[float, float]:
    D = ab_m - ab_t
    return {
        "x0": (-math.sqrt(ab_t) * (1 - ab_m) / D, math.sqrt(ab_m) * (1 - ab_t) / D),
        "epsilon": (ab_m * math.sqrt(1 - ab_t) / D, -math.sqrt(ab_t * ab_m) * math.sqrt(1 - ab_t) / D),
        "score": (-ab_m / D, math.sqrt(ab_t * ab_m) / D),
        "v": (math.sqrt(ab_t * (1 - ab_t)) / D, -math.sqrt(ab_m * (1 - ab_t)) / D),
    }[kind]


def _library_coefficients(kind: str, s: float, m: float, schedule: Any) -> tuple[float, float]:
    """``(c_t, c_m)`` of the library's pair form, read off by linearity from unit inputs."""
    one, zero = np.ones(1), np.zeros(1)
    c_t = al.ambient_target(one, zero, s, m, prediction=kind, schedule=schedule)[0]
    c_m = al.ambient_target(zero, one, s, m, prediction=kind, schedule=schedule)[0]
    return float(c_t), float(c_m)


@SETTINGS
@given(case=cases(kinds=("vp", "ve", "flow", "discrete"), batch=1))
def test_specialised_tables_equal_general_result(case):
    """The VP, VE, rectified-flow and DDPM rows of math 3.5 equal the library's coefficients.

    DDPM rows use the table's ``alphas_cumprod`` directly (``D = abar_m - abar_t``). float64;
    relative tolerance ``64 eps64 / (1 - r)`` on each coefficient (the tables' ``D`` and the
    library's are factored differently; for DDPM also divided by ``abar_m abar_t``, since a level
    ``s = sqrt(1 - abar)`` carries ``abar`` only to ``eps64 / abar`` relative), plus ``64 eps64``
    times the pair-form scale.
    """
    s, m = case.levels(_F64)
    si, mi = float(s[0]), float(m[0])
    t, mm = case.scalars(s, m)[0]
    q = one_minus_r(t, mm)
    for kind in KINDS:
        if case.kind == "vp":
            if kind == "velocity" and si >= 1.0:
                continue
            want = _vp_table(kind, si, mi)
        elif case.kind == "ve":
            want = _ve_table(kind, si, mi)
        elif case.kind == "flow":
            want = _rf_table(kind, si, mi)
        else:
            if kind == "velocity":
                continue
            table = case.library
            k = int(np.searchsorted(table.sigmas, si))
            ab_t = float(table.alphas_cumprod[k])
            ab_m = float(table.alphas_cumprod[int(np.searchsorted(table.sigmas, mi))]) if mi > 0 else 1.0
            want = _ddpm_table(kind, ab_t, ab_m)
            q = q * ab_m * ab_t
        got = _library_coefficients(kind, si, mi, case.library)
        scale = error_scale(kind, t, mm, np.ones(1), np.ones(1))[0]
        for g, w in zip(got, want, strict=True):
            assert abs(g - w) <= 64 * EPS64 * (abs(w) / q + scale), (case.kind, kind, got, want)


@SETTINGS
@given(case=cases(kinds=("vp", "ve", "flow", "custom"), batch=1))
def test_general_table_equals_library(case):
    """The general table of math 3.4 (``c_t, c_m`` for every prediction) equals the library, float64."""
    s, m = case.levels(_F64)
    t, mm = case.scalars(s, m)[0]
    q = one_minus_r(t, mm)
    for kind in KINDS:
        if kind == "velocity" and case.velocity_singular and s[0] >= 1.0:
            continue
        got = _library_coefficients(kind, float(s[0]), float(m[0]), case.library)
        want = ambient_coefficients(kind, t, mm)
        scale = error_scale(kind, t, mm, np.ones(1), np.ones(1))[0]
        for g, w in zip(got, want, strict=True):
            assert abs(g - w) <= 64 * EPS64 * (abs(w) / q + scale), (case.kind, kind, got, want)


def test_m_zero_rows_reduce_to_standard_targets():
    """With ``m = 0`` every row of math 3.5 reduces to the standard target: x0 -> (0, 1), eps -> (1/b, -a/b)."""
    for s in (0.1, 0.5, 0.9):
        a = math.sqrt(1 - s * s)
        assert _library_coefficients("x0", s, 0.0, "vp") == (0.0, 1.0)
        c_t, c_m = _library_coefficients("epsilon", s, 0.0, "vp")
        assert math.isclose(c_t, 1 / s, rel_tol=1e-15)
        assert math.isclose(c_m, -a / s, rel_tol=1e-15)


# ------------------------------------------------------------------------------------------------
# schedule conversions (math 6.5)


NAMED = {"vp": OracleSchedule("vp"), "ve": OracleSchedule("ve"), "flow": OracleSchedule("flow")}


@SETTINGS
@given(
    nu=st.floats(1e-3, 1e3),
    source=st.sampled_from(sorted(NAMED)),
    target=st.sampled_from(sorted(NAMED)),
)
def test_convert_level_round_trip_preserves_schedule_free_level(nu, source, target):
    """``convert_level`` keeps ``b / a`` (oracle formulas) and round-trips, float64.

    Tolerance ``1e-12`` relative, times the condition number of ``b / a`` with respect to the level
    of each schedule (``1 / (1 - s^2)`` for VP, ``1 / (1 - t)`` for flow, 1 for VE).
    """
    level = {"vp": nu / math.sqrt(1 + nu * nu), "ve": nu, "flow": nu / (1 + nu)}[source]
    assume(NAMED[source].scalars(level).a > 0)

    def cond(name: str, x: float) -> float:
        if name == "vp":
            return 1 / ((1 - x) * (1 + x))
        return 1 / (1 - x) if name == "flow" else 1.0

    out = al.convert_level(level, source=source, target=target)
    tol = 1e-12 * (cond(source, level) + cond(target, out))
    assert math.isclose(NAMED[target].schedule_free(out), NAMED[source].schedule_free(level), rel_tol=tol)
    back = al.convert_level(out, source=target, target=source)
    assert math.isclose(back, level, rel_tol=tol)
    lam = al.log_snr(level, schedule=source)
    assert math.isclose(lam, -2 * math.log(NAMED[source].schedule_free(level)), abs_tol=tol)


@SETTINGS
@given(level=st.floats(0.05, 0.95), k=st.floats(0.0, 2.0), c=st.floats(0.3, 1.4), p=st.floats(0.0, 2.0))
def test_convert_level_custom_schedule(level, k, c, p):
    """A custom schedule converts through ``b / a`` too (bisection); round trip to ``1e-9``."""
    lib, oracle = custom_schedule(k, c, p), OracleSchedule("custom", k=k, c=c, p=p)
    ve = al.convert_level(level, source=lib, target="ve")
    assert math.isclose(ve, oracle.schedule_free(level), rel_tol=1e-12)
    assert math.isclose(al.convert_level(ve, source="ve", target=lib), level, rel_tol=1e-9)


def test_worked_example_of_math_6_5():
    """``sigma~ = 2.6848``: VP ``s = 0.9371``, rectified flow ``t = 0.7286``, DDPM linear ``k_min = 454``."""
    assert round(al.convert_level(2.6848, source="ve", target="vp"), 4) == 0.9371
    assert round(al.convert_level(2.6848, source="ve", target="flow"), 4) == 0.7286
    table = al.Discrete.from_diffusers("linear")
    s = al.convert_level(2.6848, source="ve", target="vp")
    assert int(table.timestep_for_sigma(np.float64(s))) == 454
    # the same k_min from the definition min{k : abar_k <= 1 / (1 + sigma~^2)}
    assert int(np.argmax(table.alphas_cumprod <= 1 / (1 + 2.6848**2))) == 454


@SETTINGS
@given(nu=st.floats(0.01, 50.0), name=st.sampled_from(sorted(DISCRETE)))
def test_discrete_k_min_definition(nu, name):
    """``timestep_for_sigma`` of the VP level of ``sigma~`` is ``min{k : abar_k <= 1 / (1 + sigma~^2)}``."""
    table = DISCRETE[name]
    ab = table.alphas_cumprod
    bound = 1 / (1 + nu * nu)
    assume(bool(ab[-1] <= bound))
    assume(bool(np.all(np.abs(ab - bound) > 1e-9 * bound)))  # not on a table boundary
    s = al.convert_level(nu, source="ve", target="vp")
    assert int(table.timestep_for_sigma(np.float64(s))) == int(np.argmax(ab <= bound))
    k = int(table.timestep_for_sigma(np.float64(s)))
    assert table.timestep_for_sigma(table.sigma_for_timestep(k, dtype=np.float64)) == k
