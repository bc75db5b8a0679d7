"""The NumPy and JAX adapters given one :class:`ambientloss.Levels`: bit-identical to raw levels, schedule checked."""

from __future__ import annotations

import numpy as np
import pytest

import ambientloss as al
from ambientloss.adapters import numpy as aln

PREDICTIONS = ["x0", "epsilon", "v", "velocity", "score"]


def _levels(dtype=np.float64, n=6, seed=0):
    rng = np.random.default_rng(seed)
    sigma = (rng.random(n) * 0.8 + 0.15).astype(dtype)
    sigma_min = np.where(np.arange(n) % 2 == 0, 0.0, sigma * 0.6).astype(dtype)
    return sigma, sigma_min


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype
    assert a.shape == b.shape
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("schedule", ["vp", "ve", "flow"])
@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_numpy_adapter_is_bit_identical_with_levels(schedule, prediction):
    sigma, sigma_min = _levels()
    x = np.random.default_rng(1).standard_normal((6, 4, 2))
    lv = al.Levels(sigma, sigma_min, schedule=schedule, prediction=prediction)
    rng = lambda: np.random.default_rng(2)  # noqa: E731
    got = aln.ambient_pair(x, lv, rng=rng(), prediction=prediction, schedule=schedule)
    want = aln.ambient_pair(x, sigma, sigma_min, rng=rng(), prediction=prediction, schedule=schedule)
    for g, w in zip(got, want, strict=True):
        _same(g, w)
    _same(aln.ambient_target(want[0], x, lv, prediction=prediction, schedule=schedule),
          aln.ambient_target(want[0], x, sigma, sigma_min, prediction=prediction, schedule=schedule))  # fmt: skip
    _same(
        aln.renoise(x, lv, rng=rng(), schedule=schedule), aln.renoise(x, sigma, sigma_min, rng=rng(), schedule=schedule)
    )
    _same(aln.loss_weight(lv, prediction=prediction, schedule=schedule),
          aln.loss_weight(sigma, sigma_min, prediction=prediction, schedule=schedule))  # fmt: skip


def test_numpy_adapter_refuses_other_explicit_schedules_float32_levels_and_a_second_level():
    sigma, sigma_min = _levels()
    ve = al.Levels(sigma, sigma_min, schedule="ve")
    with pytest.raises(ValueError, match=r"built with schedule VE\(\) but the NumPy adapter uses schedule VP\(\)"):
        aln.loss_weight(ve, schedule="vp")  # an explicit "vp" is not the default: it conflicts
    _same(aln.loss_weight(ve), aln.loss_weight(sigma, sigma_min, schedule="ve"))  # left out: the levels' own
    with pytest.raises(TypeError, match="computes in float64: build the Levels from float64"):
        aln.loss_weight(al.Levels(*_levels(np.float32)))
    with pytest.raises(TypeError, match="sigma_min is part of the Levels"):
        aln.loss_weight(al.Levels(sigma, sigma_min), sigma_min)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("prediction", ["epsilon", "velocity"])
def test_jax_adapter_is_bit_identical_with_levels(dtype, prediction):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    from ambientloss.adapters import jax as alj

    sigma, sigma_min = (jnp.asarray(v) for v in _levels(dtype))
    x = jnp.asarray(np.random.default_rng(1).standard_normal((6, 4, 2)).astype(dtype))
    noise = jnp.asarray(np.random.default_rng(3).standard_normal((6, 4, 2)).astype(dtype))
    lv = al.Levels(sigma, sigma_min, prediction=prediction)
    key = jax.random.key(0)
    got = alj.ambient_pair(key, x, lv, prediction=prediction)
    want = alj.ambient_pair(key, x, sigma, sigma_min, prediction=prediction)
    for g, w in zip(got, want, strict=True):
        _same(g, w)
    _same(alj.ambient_target(want[0], x, lv, prediction=prediction),
          alj.ambient_target(want[0], x, sigma, sigma_min, prediction=prediction))  # fmt: skip
    _same(alj.renoise(x, lv, noise), alj.renoise(x, sigma, sigma_min, noise))
    _same(alj.loss_weight(lv, prediction=prediction), alj.loss_weight(sigma, sigma_min, prediction=prediction))
    _same(alj.ambient_loss(x, want[1], lv, prediction=prediction),
          alj.ambient_loss(x, want[1], sigma, sigma_min, prediction=prediction))  # fmt: skip
    _same(alj.admissible(lv), alj.admissible(sigma, sigma_min, prediction=prediction))

    def apply(p, x_t, s):
        return p * x_t

    _same(alj.training_loss(2.0, key, x, lv, apply_fn=apply, prediction=prediction),
          alj.training_loss(2.0, key, x, sigma, sigma_min, apply_fn=apply, prediction=prediction))  # fmt: skip


def test_jax_adapter_refuses_levels_of_another_explicit_schedule():
    jax = pytest.importorskip("jax")
    from ambientloss.adapters import jax as alj

    sigma, sigma_min = (jax.numpy.asarray(v) for v in _levels(np.float32))
    lv = al.Levels(sigma, sigma_min, schedule="flow")
    with pytest.raises(ValueError, match=r"built with schedule Flow\(\) but the JAX adapter uses schedule VP\(\)"):
        alj.ambient_pair(jax.random.key(0), jax.numpy.ones((6, 2)), lv, schedule="vp")
    with pytest.raises(ValueError, match="built with schedule Flow"):
        alj.ambient_loss(jax.numpy.ones((6, 2)), jax.numpy.ones((6, 2)), lv, schedule="ve")
    # left out, the schedule is the levels' own: the raw call with schedule="flow", bit for bit
    _same(alj.loss_weight(lv), alj.loss_weight(sigma, sigma_min, schedule="flow"))
    with pytest.raises(TypeError, match="sigma_min is part of the Levels"):
        alj.loss_weight(lv, sigma_min, schedule="flow")
