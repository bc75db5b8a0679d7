"""Admissible sets: buffers, thresholds, the usable mask and the trusted level, on every backend."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import ambientloss as al
from ambientloss import Buffer, threshold, trusted_level, usable

# ----------------------------------------------------------------------------- Buffer


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"factor": 0.9}, r"Buffer.factor must be >= 1 .* got 0.9"),
        ({"additive": -0.01}, r"Buffer.additive must be >= 0, got -0.01"),
        ({"min_gap": 1.0}, r"Buffer.min_gap must lie in \[0, 1\), got 1.0"),
        ({"min_gap": -0.1}, r"Buffer.min_gap must lie in \[0, 1\), got -0.1"),
        ({"factor": float("nan")}, "Buffer.factor must be a finite number, got nan"),
        ({"additive": True}, "Buffer.additive must be a finite number, got True"),
        ({"additive": "0.05"}, "Buffer.additive must be a finite number, got '0.05'"),
    ],
)
def test_buffer_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Buffer(**kwargs)


@pytest.mark.parametrize("s_max", [1, 0.5, float("inf"), float("nan"), "4"])
def test_from_s_max_validation(s_max):
    with pytest.raises(ValueError, match="s_max must be a finite number greater than 1"):
        Buffer.from_s_max(s_max)


def test_buffer_is_frozen_and_from_s_max_is_ambient_o():
    buf = Buffer.from_s_max(4)
    assert buf.factor == math.sqrt(1 + 1 / 3)
    assert 1.1547 < buf.factor < 1.15471
    with pytest.raises(dataclasses.FrozenInstanceError):
        buf.factor = 2.0  # type: ignore[misc]
    assert Buffer().is_identity
    assert not buf.is_identity


# ----------------------------------------------------------------------------- threshold


def _vp_threshold(m, gap):
    nu = m / np.sqrt((1 - m) * (1 + m)) / math.sqrt(1 - gap)
    return nu / np.sqrt(1 + nu * nu)


def _flow_threshold(m, gap):
    nu = m / (1 - m) / math.sqrt(1 - gap)
    return nu / (1 + nu)


@pytest.mark.parametrize(
    ("schedule", "buffer", "reference"),
    [
        ("ve", Buffer(factor=1.3), lambda m: 1.3 * m),
        ("ve", Buffer(additive=0.05), lambda m: m + 0.05),
        ("ve", Buffer(min_gap=0.25), lambda m: m / math.sqrt(0.75)),
        ("ve", Buffer(factor=1.1, additive=0.05), lambda m: np.maximum(1.1 * m, m + 0.05)),
        ("vp", Buffer(min_gap=0.25), lambda m: _vp_threshold(m, 0.25)),
        ("vp", Buffer(factor=1.05, min_gap=0.1), lambda m: np.maximum(1.05 * m, _vp_threshold(m, 0.1))),
        ("flow", Buffer(min_gap=0.4), lambda m: _flow_threshold(m, 0.4)),
        ("vp", None, lambda m: m),
    ],
)
def test_threshold_closed_forms(backend, schedule, buffer, reference):
    m = np.array([0.0, 0.05, 0.2, 0.5, 0.7])
    got = backend.to_numpy(threshold(backend.asarray(m), buffer=buffer, schedule=schedule))
    want = np.where(m == 0, 0.0, reference(m))  # buffers apply to corrupt samples only
    np.testing.assert_allclose(got, want, rtol=8 * backend.eps, atol=0)


def test_min_gap_bounds_the_log_snr_gap_in_every_schedule():
    """At the threshold 1 - r = min_gap, the same in VP, VE and rectified flow (measured on b / a)."""
    m_ve = np.array([0.1, 0.7, 3.0])
    for schedule in ("vp", "ve", "flow"):
        m = al.convert_level(m_ve, source="ve", target=schedule)
        t = threshold(m, buffer=Buffer(min_gap=0.3), schedule=schedule)
        nu_m = al.schedule_free_level(m, schedule=schedule)
        nu_t = al.schedule_free_level(t, schedule=schedule)
        np.testing.assert_allclose(1 - nu_m**2 / nu_t**2, 0.3, rtol=1e-12)


def test_s_max_in_ve_is_a_minimum_gap_of_one_over_s_max():
    m = np.linspace(0.01, 5, 50)
    np.testing.assert_allclose(
        threshold(m, buffer=Buffer.from_s_max(4), schedule="ve"),
        threshold(m, buffer=Buffer(min_gap=0.25), schedule="ve"),
        rtol=1e-15,
    )


def test_threshold_of_a_python_number_is_a_float():
    assert threshold(0.5, buffer=Buffer(additive=0.1), schedule="ve") == pytest.approx(0.6)
    assert isinstance(threshold(0.5, schedule="ve"), float)
    assert threshold(0.0, buffer=Buffer(additive=0.1), schedule="ve") == 0.0


# ----------------------------------------------------------------------------- usable: strict at both ends


def test_usable_is_strict_at_the_threshold(backend):
    buf = Buffer.from_s_max(4)
    m = backend.asarray(np.array([0.3, 0.5, 0.9]))
    t = threshold(m, buffer=buf, schedule="ve")
    up = backend.xp.nextafter(t, backend.xp.full_like(t, math.inf))
    assert not bool(backend.xp.any(usable(t, m, buffer=buf, schedule="ve")))
    assert bool(backend.xp.all(usable(up, m, buffer=buf, schedule="ve")))


def test_usable_is_strict_at_sigma_max(backend):
    m = backend.asarray(np.array([2.0, 2.0, 2.0]))
    top = backend.asarray(np.array([0.3, 0.5, 0.9]))
    down = backend.xp.nextafter(top, backend.xp.zeros_like(top))
    assert not bool(backend.xp.any(usable(top, m, top, schedule="ve")))
    assert bool(backend.xp.all(usable(down, m, top, schedule="ve")))


@pytest.mark.parametrize("schedule", ["vp", "ve", "flow"])
def test_clean_samples_are_usable_at_every_positive_level(schedule):
    top = 1.0 if schedule != "ve" else 1e6
    sigma = np.array([0.0, 5e-324, 1e-300, 0.5, top])
    got = usable(sigma, np.zeros(5), buffer=Buffer(factor=2.0, additive=0.1, min_gap=0.5), schedule=schedule)
    np.testing.assert_array_equal(got, [False, True, True, True, True])  # level 0 carries no noise


def test_two_disjoint_intervals():
    sigma = np.array([0.05, 0.2999, 0.3, 1.0, 2.0, 2.0001, 5.0])
    got = usable(sigma, np.full(7, 2.0), np.full(7, 0.3), schedule="ve")  # sigma_min > sigma_max: (0, 0.3) U (2, inf)
    np.testing.assert_array_equal(got, [True, True, False, False, False, True, True])


def test_usable_scalars_and_one_annotation_for_all():
    assert usable(0.5, 0.3, schedule="ve") is True
    assert usable(0.3, 0.3, schedule="ve") is False
    got = usable(np.array([0.1, 0.5, 3.0]), 1.0, 0.2, schedule="ve")  # one annotation for every sample
    np.testing.assert_array_equal(got, [True, False, True])


# ----------------------------------------------------------------------------- trusted level


def test_trusted_level_branches():
    sigma = np.array([0.5, 0.5, 0.1, 3.0, 0.5, 0.5])
    m = np.array([0.0, 0.2, 2.0, 2.0, 0.2, 0.2])
    top = np.array([0.0, 0.0, 0.5, 0.5, 0.0, 0.9])
    # clean; high branch; low branch; high branch with a sigma_max; high branch; both branches -> 0
    np.testing.assert_array_equal(trusted_level(sigma, m, top, schedule="ve"), [0.0, 0.2, 0.0, 2.0, 0.2, 0.0])


def test_trusted_level_is_not_min_of_the_annotations():
    """Ambient-o pixel's min(sigma_min, sigma_max) silently turns off the ambient correction; this does not."""
    assert trusted_level(2.0, 1.0, 0.0, schedule="ve") == 1.0


def test_trusted_level_raises_naming_the_sample():
    sigma = np.array([0.5, 0.5, 1.0])
    with pytest.raises(
        ValueError,
        match=r"sigma=1.0 is not usable: not above the threshold 2.0 of sigma_min=2.0 "
        r"and not below sigma_max=0.5 at index \(2,\)",
    ):
        trusted_level(sigma, np.array([0.0, 0.2, 2.0]), np.array([0.0, 0.0, 0.5]), schedule="ve")
    with pytest.raises(ValueError, match=r"sigma=0.5 is not usable: not above the threshold 0.5773.* at index \(1,\)"):
        trusted_level(sigma, np.array([0.0, 0.5, 0.2]), buffer=Buffer.from_s_max(4), schedule="ve")


def test_trusted_level_under_jit_cannot_train_silently():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    sigma, m = jnp.array([0.5, 0.5, 0.3]), jnp.array([0.0, 0.2, 0.3])

    @jax.jit
    def step(sigma, m):
        level = trusted_level(sigma, m, schedule="vp", xp=jnp)
        target = al.ambient_target(jnp.ones((3, 2)), jnp.ones((3, 2)), sigma, level, xp=jnp)
        return level, target, usable(sigma, m, schedule="vp", xp=jnp)

    level, target, ok = step(sigma, m)
    np.testing.assert_array_equal(np.asarray(ok), [True, True, False])
    assert np.isnan(float(level[2]))
    assert np.all(np.isnan(np.asarray(target[2])))  # the unusable sample gives NaN, never a finite target
    assert np.all(np.isfinite(np.asarray(target[:2])))


def test_trusted_levels_feed_the_targets_without_nan(backend):
    """Usable levels, half of them one ulp above the threshold, give finite targets."""
    from ambientloss.sampling import UniformVP, sample_truncated

    xp = backend.xp
    rng = np.random.default_rng(3)
    m = backend.asarray(np.where(rng.random(64) < 0.3, 0.0, rng.uniform(0.1, 0.8, 64)))
    top = backend.asarray(np.where(rng.random(64) < 0.5, rng.uniform(0.0, 0.3, 64), 0.0))
    sigma = sample_truncated(backend.asarray(rng.random(64)), m, top, base=UniformVP())
    t = threshold(m, schedule="vp")
    tiny = xp.full_like(t, math.sqrt(float(xp.finfo(backend.dtype).smallest_normal)))  # the sampler's floor
    edge = xp.maximum(xp.nextafter(t, xp.ones_like(t)), tiny)
    sigma = xp.where(backend.asarray(np.arange(64) % 2 == 0) > 0, edge, sigma)
    assert bool(xp.all(usable(sigma, m, top, schedule="vp")))
    level = trusted_level(sigma, m, top, schedule="vp")
    x = backend.asarray(rng.normal(size=(64, 3)))
    _, target = al.ambient_pair(x, sigma, level, x, prediction="epsilon", schedule="vp")
    assert bool(xp.all(xp.isfinite(target)))


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((np.array([0.5, np.nan]), np.zeros(2)), ValueError, r"sigma must not be NaN at index \(1,\)"),
        ((np.full(2, 0.5), np.array([0.1, np.nan])), ValueError, r"sigma_min must not be NaN at index \(1,\)"),
        ((np.full(2, 0.5), np.zeros(2), np.array([np.nan, 0.1])), ValueError, r"sigma_max must not be NaN at index"),
        ((np.full(2, 0.5), np.array([-0.1, 0.1])), ValueError, r"sigma_min=-0.1 is outside the domain \[0.0, inf\)"),
        ((np.full(2, 0.5), np.zeros(2), np.array([0.1, -1.0])), ValueError, r"sigma_max=-1.0 is outside the domain"),
        ((np.array([0.5, np.inf]), np.zeros(2)), ValueError, r"sigma=inf is outside the domain \[0.0, inf\)"),
        (
            (np.full(2, 0.5), np.zeros(3)),
            ValueError,
            r"sigma and sigma_min must have the same shape .*\(2,\) and \(3,\)",
        ),
        ((np.full(2, 0.5), np.zeros(2), np.zeros(4)), ValueError, r"sigma and sigma_max must have the same shape"),
        ((np.full(2, 0.5), np.zeros(2, dtype=np.int64)), TypeError, "sigma_min must have a real floating dtype"),
        ((np.full(2, 0.5), float("nan")), ValueError, "sigma_min must be finite, got nan"),
        ((np.full(2, 0.5), [0.0, 0.1]), TypeError, "sigma_min must be an array or a Python number"),
    ],
)
def test_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        usable(*args, schedule="ve")
    with pytest.raises(error, match=match):
        trusted_level(*args, schedule="ve")


def test_out_of_domain_in_vp_and_bad_options():
    with pytest.raises(ValueError, match=r"sigma_min=1.5 is outside the domain \[0.0, 1.0\] of the 'vp' schedule"):
        usable(np.full(2, 0.5), np.array([0.1, 1.5]), schedule="vp")
    with pytest.raises(TypeError, match=r"buffer must be an ambientloss\.Buffer or None, got float"):
        usable(0.5, 0.1, buffer=1.1)
    with pytest.raises(ValueError, match="unknown schedule 'edm2'"):
        threshold(0.5, schedule="edm2")


def test_mixed_libraries_raise():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="all arrays must come from one library"):
        usable(np.full(2, 0.5), torch.zeros(2))
