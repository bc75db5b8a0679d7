"""The published VP formulas, hazards of earlier ambient-diffusion code, and low-precision inputs.

(a) The talk's epsilon target (math 3.7) differs from the library's exactly as derived: same
    ``x_m`` coefficient, ``x_s`` coefficient too large by ``s / sqrt(1 - s^2)``, not ``eps`` at
    ``m = 0``, divergent as ``s -> 1``, with a conditional-mean bias of closed form. Its x0 target
    equals the library's.
(b) Hazards of earlier code do not occur here: (B, T, D) action chunks with (B,) levels, levels at or
    below ``sigma_min``, swapped level arguments, and a trusted level silently forced to 0.
(c) bf16 / fp16 inputs (torch and JAX) give finite targets within the error bounds of math 5.1 / 5.4.

Tolerances are stated per test; every reference is a closed form from ``ambientloss.testing.gaussian`` or written
out here, never an output of the library.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ambientloss as al
from ambientloss.testing.gaussian import (
    KINDS,
    OracleSchedule,
    ambient_coefficients,
    error_scale,
    noise_form_coefficients,
    pair_scalars,
    random_gaussian,
    transition,
)
from examples.wrong_targets import talk_epsilon

SETTINGS = settings(
    suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture]
)
EPS64 = float(np.finfo(np.float64).eps)
VP = OracleSchedule("vp")


def library_coefficients(kind: str, s: float, m: float, schedule: Any = "vp") -> tuple[float, float]:
    """``(c_t, c_m)`` of the library's pair form, read off by linearity from unit inputs (float64)."""
    one, zero = np.ones(1), np.zeros(1)
    c_t = al.ambient_target(one, zero, s, m, prediction=kind, schedule=schedule)[0]
    c_m = al.ambient_target(zero, one, s, m, prediction=kind, schedule=schedule)[0]
    return float(c_t), float(c_m)


# ------------------------------------------------------------------------------------------------
# (a) the talk's formulas


def talk_eps(s: float, m: float) -> tuple[float, float]:
    """``(c_t, c_m)`` of the slide's epsilon target as printed (``examples.wrong_targets.talk_epsilon``)."""
    one, zero = np.ones(1), np.zeros(1)
    return float(talk_epsilon(one, zero, s, m)[0]), float(talk_epsilon(zero, one, s, m)[0])


def talk_x0(s: float, m: float) -> tuple[float, float]:
    """The slide's x0 target, as printed: ``-m^2 sqrt(1-s^2)/(s^2-m^2) x_s + s^2 sqrt(1-m^2)/(s^2-m^2) x_m``."""
    D = s * s - m * m
    return -m * m * math.sqrt(1 - s * s) / D, s * s * math.sqrt(1 - m * m) / D


level_pairs = st.tuples(st.floats(0.02, 0.98), st.floats(0.0, 0.95)).filter(lambda p: p[1] < 0.97 * p[0])


@settings(max_examples=200)
@given(pair=level_pairs)
def test_talk_eps_differs_by_exactly_s_over_sqrt_one_minus_s2(pair):
    """Same ``x_m`` coefficient; ``x_s`` coefficient larger by ``s / sqrt(1 - s^2)``; relative ``1e-12``."""
    s, m = pair
    ours_t, ours_m = library_coefficients("epsilon", s, m)
    talk_t, talk_m = talk_eps(s, m)
    assert math.isclose(talk_m, ours_m, rel_tol=1e-12)
    assert math.isclose(talk_t / ours_t, s / math.sqrt((1 - s) * (1 + s)), rel_tol=1e-12)
    # hence they agree only where s / sqrt(1 - s^2) = 1
    if abs(s - 1 / math.sqrt(2)) > 1e-3:
        assert abs(talk_t / ours_t - 1) > 1e-3


def test_talk_eps_agrees_only_at_s_one_over_root_two():
    s = 1 / math.sqrt(2)
    for m in (0.0, 0.2, 0.6):
        ours_t, ours_m = library_coefficients("epsilon", s, m)
        talk_t, talk_m = talk_eps(s, m)
        assert math.isclose(talk_t, ours_t, rel_tol=1e-12)
        assert math.isclose(talk_m, ours_m, rel_tol=1e-12)


@pytest.mark.parametrize("s", [0.1, 0.5, 0.9])
def test_talk_eps_is_not_eps_at_m_zero(s):
    """At ``m = 0`` ours is ``eps`` bit-exactly; the talk's is ``x_s / sqrt(1-s^2) - (sqrt(1-s^2)/s) x0``."""
    rng = np.random.default_rng(1)
    x0, eps = rng.normal(size=64), rng.normal(size=64)
    x_s = al.add_noise(x0, s, eps)
    assert np.array_equal(al.ambient_pair(x0, s, 0.0, eps, prediction="epsilon")[1], eps)
    np.testing.assert_allclose(al.ambient_target(x_s, x0, s, 0.0, prediction="epsilon"), eps, rtol=0, atol=1e-14 / s)
    c_t, c_m = talk_eps(s, 0.0)
    talk = c_t * x_s + c_m * x0
    a = math.sqrt(1 - s * s)
    np.testing.assert_allclose(talk, x_s / a - (a / s) * x0, rtol=1e-13, atol=1e-13)
    assert np.max(np.abs(talk - eps)) > 0.1  # far from eps


@pytest.mark.parametrize("m", [0.0, 0.3, 0.9])
def test_talk_eps_diverges_at_s_one_while_ours_tends_to_one(m):
    """``s = 1 - 1e-6``: talk's ``x_s`` coefficient is ``~707 (1 - m^2) / (1 - m^2)``; ours is within ``2e-5`` of 1.

    At ``s = 1`` exactly ours is 1 (``T_eps = x_t``) while the talk's is not finite.
    """
    s = 1 - 1e-6
    ours_t, _ = library_coefficients("epsilon", s, m)
    talk_t, _ = talk_eps(s, m)
    assert abs(ours_t - 1) < 2e-5 * (1 + m * m) / (1 - m * m)
    assert talk_t > 700
    assert library_coefficients("epsilon", 1.0, m)[0] == pytest.approx(1.0, rel=1e-15)
    with np.errstate(divide="ignore", invalid="ignore"):
        assert not np.isfinite(talk_eps(1.0, m)[0])


@settings(max_examples=100)
@given(pair=level_pairs, seed=st.integers(0, 2**32 - 1), d=st.integers(1, 3))
def test_talk_eps_conditional_mean_bias_is_exact(pair, seed, d):
    """``E[T_talk | x_s] - E[eps | x_s] = (s / sqrt(1-s^2) - 1) s (1-m^2) / (s^2-m^2) x_s`` (Gaussian data).

    ``T_talk`` is affine in ``x_m``, so its conditional mean is ``c_t x_s + c_m E[x_m | x_s]``. Ours has
    no bias (checked by the property suite); here the talk's bias must equal the closed form to
    ``1e-10`` relative to the terms.
    """
    s, m = pair
    rng = np.random.default_rng(seed)
    data = random_gaussian(rng, d)
    t, mm = pair_scalars(VP, s, m)
    x = data.sample(t, rng)
    c_t, c_m = talk_eps(s, m)
    mean_xm = data.mean_xm(t, mm, x)
    bias = c_t * x + c_m * mean_xm - data.mean_eps(t, x)
    want = (s / math.sqrt(1 - s * s) - 1) * s * (1 - m * m) / (s * s - m * m) * x
    scale = abs(c_t) * np.abs(x) + abs(c_m) * np.abs(mean_xm) + np.abs(data.mean_eps(t, x))
    np.testing.assert_array_less(np.abs(bias - want), 1e-10 * scale)


def test_talk_eps_bias_seen_by_monte_carlo():
    """MC (seed 3, ``N = 2e5``, ``x0 ~ N(0, 1)``, ``s = 0.8``, ``m = 0.3``): regressing the talk's target on
    ``x_s`` gives a slope more than 50 standard errors from ``E[eps | x_s]``'s and within 5 of the
    predicted biased slope; the library's target is within 5 standard errors of the true slope.
    """
    s, m, n = 0.8, 0.3, 200_000
    rng = np.random.default_rng(3)
    x0, eps_m, z = rng.standard_normal(n), rng.standard_normal(n), rng.standard_normal(n)
    x_m = al.add_noise(x0, m, eps_m)
    x_s, ours = al.ambient_pair(x_m, s, m, z, prediction="epsilon")
    c_t, c_m = talk_eps(s, m)
    talk = c_t * x_s + c_m * x_m
    true_slope = s  # unit-variance data: E[eps | x_s] = s x_s
    biased_slope = true_slope + (s / math.sqrt(1 - s * s) - 1) * s * (1 - m * m) / (s * s - m * m)

    def slope_and_se(y: np.ndarray) -> tuple[float, float]:
        X = np.stack([np.ones(n), x_s], axis=1)
        coef, *_ = np.linalg.lstsq(X, y, rcond=None)
        resid = y - X @ coef
        cov = np.linalg.inv(X.T @ X) * (resid @ resid / (n - 2))
        return float(coef[1]), math.sqrt(cov[1, 1])

    slope, se = slope_and_se(talk)
    assert abs(slope - true_slope) / se > 50
    assert abs(slope - biased_slope) / se < 5
    slope, se = slope_and_se(ours)
    assert abs(slope - true_slope) / se < 5


@settings(max_examples=200)
@given(pair=level_pairs)
def test_talk_x0_equals_ours(pair):
    """The slide's x0 target is the library's (coefficients to ``1e-12`` relative, plus ``1e-15`` absolute)."""
    s, m = pair
    for got, want in zip(library_coefficients("x0", s, m), talk_x0(s, m), strict=True):
        assert math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-15)


@settings(max_examples=100)
@given(pair=level_pairs, seed=st.integers(0, 2**32 - 1))
def test_score_target_is_vp_tweedie_not_the_slide_form(pair, seed):
    """``E[T_score | x_s] = (sqrt(1-s^2) E[x0|x_s] - x_s) / s^2`` in VP; the slide's ``(E[x0|x_s] - x_s) / s^2``
    (the VE form) differs by ``(1 - sqrt(1-s^2)) E[x0|x_s] / s^2``. float64, ``1e-10`` relative.
    """
    s, m = pair
    rng = np.random.default_rng(seed)
    data = random_gaussian(rng, 2)
    t, mm = pair_scalars(VP, s, m)
    x = data.sample(t, rng)
    got = al.ambient_target(x[None], data.mean_xm(t, mm, x)[None], np.array([s]), np.array([m]), prediction="score")
    e_x0 = data.mean_x0(t, x)
    vp_form = (t.a * e_x0 - x) / s**2
    slide = (e_x0 - x) / s**2
    scale = error_scale("score", t, mm, np.abs(x), np.abs(data.mean_xm(t, mm, x))) + np.abs(vp_form)
    np.testing.assert_array_less(np.abs(got[0] - vp_form), 1e-10 * scale)
    np.testing.assert_allclose(slide - vp_form, (1 - t.a) * e_x0 / s**2, rtol=1e-9, atol=1e-12 * np.max(scale))


# ------------------------------------------------------------------------------------------------
# (b) hazards of earlier code


def _functions(schedule: str, kind: str):
    """Every public per-sample function, as ``f(x, y, sigma, sigma_min) -> array``."""
    return {
        "add_noise": lambda x, y, s, m: al.add_noise(x, s, y, schedule=schedule),
        "renoise": lambda x, y, s, m: al.renoise(x, s, m, y, schedule=schedule),
        "ambient_target": lambda x, y, s, m: al.ambient_target(x, y, s, m, prediction=kind, schedule=schedule),
        "ambient_pair": lambda x, y, s, m: al.ambient_pair(x, s, m, y, prediction=kind, schedule=schedule)[1],
        "standard_target": lambda x, y, s, m: al.standard_target(x, y, s, prediction=kind, schedule=schedule),
    }


@pytest.mark.parametrize(("B", "T"), [(8, 8), (4, 16), (3, 1)])
@pytest.mark.parametrize("kind", ["x0", "epsilon", "velocity"])
def test_action_chunks_follow_the_batch_axis(backend, B, T, kind):
    """(B, T, D) chunks with (B,) levels give (B, T, D), equal to a loop over samples (``B == T`` too).

    Each sample ``i`` is computed alone from ``x[i]`` of shape (T, D) with Python-float levels;
    the batched result must match to ``8 u`` of the row's magnitude (the same float operations).
    Per-timestep (B, T) levels must match a loop over both axes; (T,) levels with ``T != B``
    must raise rather than broadcast along the wrong axis.
    """
    D = 2
    rng = np.random.default_rng(B * 100 + T)
    x = backend.asarray(rng.normal(size=(B, T, D)))
    y = backend.asarray(rng.normal(size=(B, T, D)))
    s_np = backend.to_numpy(backend.asarray(rng.uniform(0.3, 0.9, size=B))).astype(np.float64)
    m_np = np.where(np.arange(B) % 2 == 0, 0.0, s_np * rng.uniform(0.1, 0.9, size=B))
    m_np = backend.to_numpy(backend.asarray(m_np)).astype(np.float64)
    s, m = backend.asarray(s_np), backend.asarray(m_np)
    for name, f in _functions("vp", kind).items():
        out = f(x, y, s, m)
        assert tuple(out.shape) == (B, T, D), name
        got = backend.to_numpy(out).astype(np.float64)
        for i in range(B):
            row = backend.to_numpy(f(x[i, ...], y[i, ...], float(s_np[i]), float(m_np[i]))).astype(np.float64)
            tol = 8 * backend.eps * (np.max(np.abs(row)) + 1)
            np.testing.assert_allclose(got[i], row, rtol=0, atol=tol, err_msg=f"{name} sample {i}")
    # per-timestep levels (B, T) against (B, T, D)
    s2 = rng.uniform(0.3, 0.9, size=(B, T))
    s2 = backend.to_numpy(backend.asarray(s2)).astype(np.float64)
    m2 = backend.to_numpy(backend.asarray(0.5 * s2)).astype(np.float64)
    out = backend.to_numpy(al.ambient_target(x, y, backend.asarray(s2), backend.asarray(m2), prediction=kind))
    for i in range(B):
        for j in range(T):
            want = al.ambient_target(x[i, j, ...], y[i, j, ...], float(s2[i, j]), float(m2[i, j]), prediction=kind)
            np.testing.assert_allclose(out[i, j], backend.to_numpy(want), rtol=0, atol=8 * backend.eps * 100)
    if T != B and T > 1:
        with pytest.raises(ValueError, match="align"):
            al.ambient_target(x, y, backend.asarray(np.full(T, 0.5)), backend.asarray(np.full(T, 0.2)))


def test_action_chunks_broadcast_shape_numpy_b_equals_t():
    """``B == T``: a (B,) level must scale sample ``i``, not timestep ``i`` (the ``view(-1,1,1,1)`` trap)."""
    B = T = 5
    x = np.ones((B, T, 3))
    s = np.linspace(0.2, 0.9, B)
    out = al.add_noise(x, s, np.zeros_like(x))
    assert out.shape == (B, T, 3)
    np.testing.assert_allclose(out[:, :, 0], np.sqrt(1 - s * s)[:, None] * np.ones((1, T)), rtol=1e-15)


@pytest.mark.parametrize("schedule", ["vp", "ve", "flow"])
def test_sigma_equal_to_sigma_min_raises(backend, schedule):
    """``sigma == sigma_min`` raises ``ValueError`` naming the sample (no 0/0 NaN as with ``t = t_n``)."""
    x = backend.asarray(np.ones((3, 2)))
    s = backend.asarray(np.array([0.5, 0.4, 0.6]))
    m = backend.asarray(np.array([0.0, 0.4, 0.3]))  # row 1 is inadmissible
    calls = {
        "ambient_target": lambda: al.ambient_target(x, x, s, m, prediction="epsilon", schedule=schedule),
        "ambient_pair": lambda: al.ambient_pair(x, s, m, x, prediction="epsilon", schedule=schedule),
        "renoise": lambda: al.renoise(x, s, m, x, schedule=schedule),
        "loss_weight": lambda: al.loss_weight(s, m, schedule=schedule),
        "target_variance": lambda: al.target_variance(s, m, schedule=schedule),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError, match=r"index \(1,\)"):
            call()
        del name


def test_ddpm_timestep_equal_to_t_min_raises():
    """A DDPM table at ``k == k_min`` (ambient-tweedie's ``randint(t_n, T)`` can draw it) raises, no NaN."""
    table = al.Discrete.from_diffusers("linear")
    k = np.array([400, 300])
    k_min = np.array([400, 100])
    s, m = table.sigma_for_timestep(k, dtype=np.float64), table.sigma_for_timestep(k_min, dtype=np.float64)
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match="greater than sigma_min"):
        al.ambient_pair(x, s, m, x, prediction="epsilon", schedule=table)


def test_level_zero_targets_raise_but_the_kernel_is_the_identity(backend):
    """``sigma == sigma_min == 0``: no target exists (``sigma`` must be > 0), and ``renoise`` returns ``x`` exactly."""
    x = backend.asarray(np.array([[0.3, -1.2], [0.5, 2.0]]))
    zero = backend.asarray(np.zeros(2))
    for prediction in KINDS:
        with pytest.raises(ValueError, match="must be > 0"):
            al.ambient_target(x, x, zero, zero, prediction=prediction)
        with pytest.raises(ValueError, match="must be > 0"):
            al.ambient_pair(x, zero, zero, x, prediction=prediction)
    with pytest.raises(ValueError, match="must be > 0"):
        al.loss_weight(zero, zero)
    np.testing.assert_array_equal(backend.to_numpy(al.renoise(x, zero, zero, x)), backend.to_numpy(x))


def test_inadmissible_rows_are_nan_under_jit():
    """Under ``jax.jit`` values cannot be checked: the bad row is NaN, the others equal eager mode."""
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    x = jnp.asarray(np.random.default_rng(0).normal(size=(3, 2)))
    s, m = jnp.asarray([0.5, 0.4, 0.6]), jnp.asarray([0.0, 0.4, 0.3])
    f = jax.jit(lambda x, m, s: al.ambient_pair(x, s, m, x, prediction="epsilon")[1])
    out = np.asarray(f(x, m, s))
    assert np.all(np.isnan(out[1]))
    ok = np.array([0, 2])
    eager = al.ambient_pair(x[ok], s[ok], m[ok], x[ok], prediction="epsilon")[1]
    # XLA may fuse or reorder the compiled graph: compiled and eager agree to rounding, not bit for bit.
    # Row 2's target is sqrt((a_m b_t)^2 / D) z with a_m = sqrt((1 - m)(1 + m)); relative errors in
    # u = eps64 / 2, allowing each sqrt 1 ulp (2 u): a_m 3.5 u, (a_m b_t)^2 10 u, D 3 u, quotient 14 u,
    # sqrt 9 u, times z 10 u. Each side is within 10 u of the exact value, so they differ by at most
    # 20 u = 10 eps64 (row 0 is z on both sides).
    np.testing.assert_allclose(out[ok], np.asarray(eager), rtol=10 * float(np.finfo(np.float64).eps))


@pytest.mark.parametrize("schedule", ["vp", "ve", "flow"])
def test_swapped_levels_raise(backend, schedule):
    """The VP argument-order trap: swapping ``sigma`` and ``sigma_min`` raises instead of returning garbage.

    (ambient-utils' VP helper took (trusted, current) while its VE sibling took (current, trusted),
    and a clamped square root hid the mistake.) Clean rows swapped (level 0 as the current level)
    raise too.
    """
    x = backend.asarray(np.ones((2, 3)))
    for s_np, m_np in (([0.7, 0.5], [0.3, 0.2]), ([0.5, 0.6], [0.0, 0.0])):  # corrupt rows, then clean rows
        s, m = backend.asarray(np.array(s_np)), backend.asarray(np.array(m_np))
        al.renoise(x, s, m, x, schedule=schedule)  # the right order works
        pattern = r"greater than sigma_min|must be > 0"
        with pytest.raises(ValueError, match=pattern):
            al.renoise(x, m, s, x, schedule=schedule)  # (x, sigma, sigma_min, z): swapped
        with pytest.raises(ValueError, match=pattern):
            al.ambient_target(x, x, m, s, schedule=schedule)
        with pytest.raises(ValueError, match=pattern):
            al.ambient_pair(x, m, s, x, schedule=schedule)
        with pytest.raises(ValueError, match=pattern):
            al.loss_weight(m, s, schedule=schedule)


@pytest.mark.parametrize(("sigma", "sigma_min"), [(1.2, 0.5), (0.3, 0.25), (80.0, 2.0)])
def test_corrupt_samples_get_the_ambient_correction(sigma, sigma_min):
    """Ambient-o's ``min(sigma_min, sigma_max)`` set the trusted level of every corrupt sample to 0.

    Here a corrupt row (``sigma_min > 0``) in a mixed batch gets Ambient-o's intended VE target
    ``(sigma^2 x_n - sigma_n^2 x_t) / (sigma^2 - sigma_n^2)`` (``1e-12`` relative), which differs from
    the plain target ``x_n``; the clean row keeps the plain target. Ambient-o's x_n-space loss
    ``sigma^4 / (sigma^2 - sigma_n^2)^2 ||x_n_hat - x_n||^2`` with
    ``x_n_hat = (1 - sigma_n^2/sigma^2) h + (sigma_n^2/sigma^2) x_t`` equals ``||h - T_x0||^2``.
    """
    rng = np.random.default_rng(5)
    x_n, z, h = rng.normal(size=(3, 2, 6))
    s, m = np.array([sigma, sigma]), np.array([0.0, sigma_min])
    x_t, target = al.ambient_pair(x_n, s, m, z, schedule="ve")
    intended = (sigma**2 * x_n[1] - sigma_min**2 * x_t[1]) / (sigma**2 - sigma_min**2)
    np.testing.assert_allclose(target[1], intended, rtol=1e-12, atol=1e-12 * np.max(np.abs(x_t[1])))
    assert np.max(np.abs(target[1] - x_n[1])) > 1e-3 * sigma_min**2
    np.testing.assert_array_equal(target[0], x_n[0])
    ratio = sigma_min**2 / sigma**2
    x_n_hat = (1 - ratio) * h[1] + ratio * x_t[1]
    loss_o = sigma**4 / (sigma**2 - sigma_min**2) ** 2 * np.sum((x_n_hat - x_n[1]) ** 2)
    assert math.isclose(loss_o, np.sum((h[1] - target[1]) ** 2), rel_tol=1e-10)


def test_ambient_o_buffer_weight():
    """``weighting="ambient_o"``: weight 1 for ``sigma > sigma_n sqrt(s_max / (s_max - 1))`` (VE), else 0."""
    m = 0.5
    edge = m * math.sqrt(4 / 3)
    w = al.loss_weight(
        np.array([edge * (1 + 1e-9), edge * (1 - 1e-9), 3.0]), np.full(3, m), weighting="ambient_o", schedule="ve"
    )
    np.testing.assert_array_equal(w, [1.0, 0.0, 1.0])
    assert float(al.loss_weight(0.1, 0.0, weighting="ambient_o", schedule="ve")) == 1.0  # clean: always used


# ------------------------------------------------------------------------------------------------
# (c) low-precision inputs


def _lowp_backends() -> list[Any]:
    out = []
    for lib in ("torch", "jax"):
        for dt in ("bfloat16", "float16"):
            out.append(pytest.param(lib, dt, id=f"{lib}-{dt}"))
    return out


def _lowp(lib: str, dt: str) -> tuple[Any, Any, Any, float]:
    """``(to_lowp, to_float32, to_numpy, eps)`` for a low-precision dtype of torch or JAX."""
    if lib == "torch":
        torch = pytest.importorskip("torch")
        dtype = getattr(torch, dt)
        return (
            lambda a: torch.as_tensor(np.asarray(a), dtype=dtype),
            lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32),
            lambda a: a.detach().float().numpy().astype(np.float64),
            float(torch.finfo(dtype).eps),
        )
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    dtype = getattr(jnp, dt)
    return (
        lambda a: jnp.asarray(np.asarray(a), dtype=dtype),
        lambda a: jnp.asarray(np.asarray(a), dtype=jnp.float32),
        lambda a: np.asarray(a).astype(np.float64),
        float(jnp.finfo(dtype).eps),
    )


# (schedule, sigma, 1 - r): from a comfortable gap down to 1e-5, where the pair form amplifies rounding
LOWP_CASES = [
    ("vp", 0.6, 0.5),
    ("vp", 0.6, 2.1e-2),
    ("vp", 0.9, 2.6e-3),
    ("vp", 0.5, 1e-4),
    ("ve", 1.0, 1e-2),
    ("ve", 3.0, 1e-5),
    ("flow", 0.5, 1e-3),
    ("flow", 0.95, 1e-4),
]


def _sigma_min_for(schedule: str, sigma: float, q: float) -> float:
    """The level ``m`` with ``1 - r = q`` below ``sigma`` (oracle formulas: ``nu_m = nu_t sqrt(1 - q)``)."""
    nu = OracleSchedule(schedule).schedule_free(sigma) * math.sqrt(1 - q)
    return {"vp": nu / math.sqrt(1 + nu * nu), "ve": nu, "flow": nu / (1 + nu)}[schedule]


U32 = float(np.finfo(np.float32).eps)


@pytest.mark.parametrize(("lib", "dt"), _lowp_backends())
@pytest.mark.parametrize(("schedule", "sigma", "q"), LOWP_CASES)
def test_low_precision_inputs(lib, dt, schedule, sigma, q):
    """bf16 / fp16 data with float32 levels (math 5.4: scalars never in half precision).

    * Noise form (``ambient_pair``): finite, and within 1 ulp of the output dtype of the float64
      noise form of math 3.6 (``eps_lp |T|``) plus ``16 u32`` times its terms; ``x_t`` likewise.
    * Pair form (``ambient_target`` on the half-precision ``x_t``): finite, and within the amplified
      bound ``eps_lp (|T| + |c_t x_t|)`` (the rounding of ``x_t`` times its coefficient, about
      ``2 / sqrt(1 - r)`` times the target; math 5.1) plus ``64 u32`` times its error scale.
    """
    to, to32, back, eps = _lowp(lib, dt)
    m = _sigma_min_for(schedule, sigma, q)
    s32, m32 = np.float32(sigma), np.float32(m)
    t, mm = pair_scalars(OracleSchedule(schedule), float(s32), float(m32))
    rng = np.random.default_rng(11)
    x_m, z = to(rng.normal(0, 1.5, size=(4, 16))), to(rng.standard_normal((4, 16)))
    xm64, z64 = back(x_m), back(z)
    sb, mb = to32(np.full(4, s32)), to32(np.full(4, m32))
    alpha, beta = transition(t, mm)
    x_t_ref = alpha * xm64 + beta * z64
    for kind in KINDS:
        x_t, target = al.ambient_pair(x_m, sb, mb, z, prediction=kind, schedule=schedule)
        assert x_t.dtype == x_m.dtype
        assert target.dtype == x_m.dtype
        got_xt, got = back(x_t), back(target)
        assert np.all(np.isfinite(got)), kind
        np.testing.assert_array_less(
            np.abs(got_xt - x_t_ref),
            eps * np.abs(x_t_ref) + 16 * U32 * (np.abs(alpha * xm64) + np.abs(beta * z64)) + 1e-30,
        )
        c_x, c_z = noise_form_coefficients(kind, t, mm)
        ref = c_x * xm64 + c_z * z64
        bound = eps * np.abs(ref) + 16 * U32 * (np.abs(c_x * xm64) + np.abs(c_z * z64))
        err = np.abs(got - ref)
        assert np.all(err <= bound), f"noise form {kind}: worst {np.max(err / bound):.2f}x the 1-ulp bound"
        # pair form on the half-precision x_t
        pair = back(al.ambient_target(x_t, x_m, sb, mb, prediction=kind, schedule=schedule))
        assert np.all(np.isfinite(pair)), kind
        c_t, _ = ambient_coefficients(kind, t, mm)
        amplified = eps * (np.abs(ref) + np.abs(c_t * x_t_ref)) + 64 * U32 * error_scale(kind, t, mm, got_xt, xm64)
        err = np.abs(pair - ref)
        assert np.all(err <= amplified), f"pair form {kind}: worst {np.max(err / amplified):.2f}x the bound"


@pytest.mark.parametrize(("lib", "dt"), _lowp_backends())
def test_half_precision_levels_one_ulp_apart(lib, dt):
    """Levels given in half precision, ``sigma`` one half-ulp above ``sigma_min = 0.01``.

    In half precision ``D`` would be subnormal or 0 (math 5.4); the library computes its scalars in
    float32 from the exact half-precision values, so the targets are finite and within the 1-ulp
    noise-form bound of the float64 reference built from the same level values.
    """
    to, _, back, eps = _lowp(lib, dt)
    if lib == "torch":
        import torch

        m_lp = torch.tensor(0.01, dtype=getattr(torch, dt))
        s_lp = torch.nextafter(m_lp.float(), torch.tensor(1.0)).to(m_lp.dtype)
        if float(s_lp) == float(m_lp):  # nextafter in float32 rounds back: step one half-precision ulp
            s_lp = (m_lp.float() * (1 + eps)).to(m_lp.dtype)
    else:
        import jax.numpy as jnp

        m_lp = jnp.asarray(0.01, dtype=getattr(jnp, dt))
        s_lp = jnp.nextafter(m_lp, jnp.asarray(1.0, dtype=m_lp.dtype))
    m, s = float(m_lp), float(s_lp)
    assert s > m
    t, mm = pair_scalars(VP, s, m)
    rng = np.random.default_rng(2)
    x_m, z = to(rng.normal(size=(2, 8))), to(rng.standard_normal((2, 8)))
    xm64, z64 = back(x_m), back(z)
    for kind in ("x0", "epsilon", "v"):
        _, target = al.ambient_pair(x_m, s_lp, m_lp, z, prediction=kind)
        got = back(target)
        c_x, c_z = noise_form_coefficients(kind, t, mm)
        ref = c_x * xm64 + c_z * z64
        assert np.all(np.isfinite(got)), kind
        np.testing.assert_array_less(
            np.abs(got - ref), eps * np.abs(ref) + 16 * U32 * (np.abs(c_x * xm64) + np.abs(c_z * z64))
        )


def test_noise_form_beats_pair_form_near_sigma_min():
    """bf16 at ``1 - r = 1e-4`` (seed 11): the pair form's worst error exceeds 4 ulp of the target, the
    noise form's stays within 1 ulp (math 5.1: prefer ``ambient_pair`` when drawing the noise)."""
    torch = pytest.importorskip("torch")
    sigma, q = 0.5, 1e-4
    m = _sigma_min_for("vp", sigma, q)
    s32, m32 = np.float32(sigma), np.float32(m)
    t, mm = pair_scalars(VP, float(s32), float(m32))
    rng = np.random.default_rng(11)
    x_m = torch.as_tensor(rng.normal(0, 1.5, size=(64, 64)), dtype=torch.bfloat16)
    z = torch.as_tensor(rng.standard_normal((64, 64)), dtype=torch.bfloat16)
    s, mb = torch.tensor(float(s32)), torch.tensor(float(m32))
    x_t, noise_form = al.ambient_pair(x_m, s, mb, z)
    pair_form = al.ambient_target(x_t, x_m, s, mb)
    c_x, c_z = noise_form_coefficients("x0", t, mm)
    ref = c_x * x_m.double().numpy() + c_z * z.double().numpy()
    ulp = float(torch.finfo(torch.bfloat16).eps) * np.abs(ref)
    assert np.max(np.abs(noise_form.double().numpy() - ref) / ulp) <= 1.0
    assert np.max(np.abs(pair_form.double().numpy() - ref) / ulp) > 4.0
