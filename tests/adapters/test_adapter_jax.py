"""The JAX adapter under jax.jit, jax.vmap, jax.grad and sharding, against NumPy float64 references."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")

import jax.numpy as jnp  # noqa: E402
from jax.sharding import Mesh, NamedSharding, PartitionSpec  # noqa: E402

import ambientloss as al  # noqa: E402
from ambientloss.adapters import jax as alj  # noqa: E402

PREDICTIONS = ["x0", "epsilon", "v", "score", "velocity"]
SCHEDULES = ["vp", "ve", "flow"]
B, T, D = 8, 5, 3


def _levels(shape: tuple[int, ...] = (B,), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(sigma_min, sigma)`` in float64 with ``0 <= sigma_min < sigma <= 0.95``; a quarter clean."""
    rng = np.random.default_rng(seed)
    sigma_min = rng.uniform(0.05, 0.5, size=shape)
    sigma_min[rng.uniform(size=shape) < 0.25] = 0.0
    sigma = sigma_min + rng.uniform(0.05, 0.45, size=shape)
    return sigma_min, sigma


def _data(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed + 100).normal(size=(B, T, D))


def _j(a: np.ndarray, dtype=jnp.float64) -> jax.Array:
    return jnp.asarray(a, dtype=dtype)


def _close(actual: jax.Array, expected: np.ndarray, dtype) -> None:
    eps = float(jnp.finfo(dtype).eps)
    scale = float(np.max(np.abs(expected))) or 1.0
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=200 * eps, atol=200 * eps * scale)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_jit_pair_matches_numpy_reference(schedule, dtype):
    sigma_min, sigma = _levels()
    x = _data()
    key = jax.random.key(1)
    noise = np.asarray(jax.random.normal(key, x.shape, dtype), np.float64)  # the documented draw

    @jax.jit
    def every_prediction(k, x, s, m):
        return {p: alj.ambient_pair(k, x, s, m, prediction=p, schedule=schedule) for p in PREDICTIONS}

    args = (key, _j(x, dtype), _j(sigma, dtype), _j(sigma_min, dtype))
    for prediction, (x_t, target) in every_prediction(*args).items():
        x_ref, t_ref = al.ambient_pair(
            x.astype(dtype), sigma, sigma_min, noise, prediction=prediction, schedule=schedule
        )
        assert x_t.dtype == dtype
        assert target.dtype == dtype
        assert target.shape == (B, T, D)
        _close(x_t, x_ref, dtype)
        _close(target, t_ref, dtype)
    eager = alj.ambient_pair(*args, prediction="v", schedule=schedule)
    _close(
        eager[1], al.ambient_pair(x.astype(dtype), sigma, sigma_min, noise, prediction="v", schedule=schedule)[1], dtype
    )


@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_jit_target_and_noising_match_numpy(prediction):
    sigma_min, sigma = _levels(seed=1)
    x, z = _data(1), _data(2)
    x_t = al.renoise(x, sigma, sigma_min, z)
    ref = al.ambient_target(x_t, x, sigma, sigma_min, prediction=prediction)
    args = (_j(x_t), _j(x), _j(sigma), _j(sigma_min))
    got = jax.jit(lambda *a: alj.ambient_target(*a, prediction=prediction))(*args)
    _close(got, ref, jnp.float64)
    _close(jax.jit(alj.renoise)(_j(x), _j(sigma), _j(sigma_min), _j(z)), x_t, jnp.float64)
    _close(jax.jit(alj.add_noise)(_j(x), _j(sigma), _j(z)), al.add_noise(x, sigma, z), jnp.float64)


def test_unbatched_vmap_equals_batched():
    sigma_min, sigma = _levels(seed=2)
    x, z = _j(_data(3), jnp.float32), _j(_data(4), jnp.float32)
    m, s = _j(sigma_min, jnp.float32), _j(sigma, jnp.float32)
    keys = jax.random.split(jax.random.key(0), B)
    where = jnp.arange(B * T).reshape(B, T) % 3 != 0

    def example(k, x, z, m, s, w):  # one unbatched example: x (T, D), scalar levels, mask (T,)
        x_t, target = alj.ambient_pair(k, x, s, m, prediction="v")
        others = alj.ambient_target(x, z, s, m), alj.renoise(z, s, m, x), alj.add_noise(x, s, z)
        return x_t, target, others, alj.ambient_loss(x, target, s, m, where=w)

    @jax.jit
    def batched(keys, x, z, m, s, w):
        noise = jax.vmap(lambda k: jax.random.normal(k, (T, D), jnp.float32))(keys)
        x_t, target = al.ambient_pair(x, s, m, noise, prediction="v", xp=jnp)  # core, (B,) levels
        others = alj.ambient_target(x, z, s, m), alj.renoise(z, s, m, x), alj.add_noise(x, s, z)
        return x_t, target, others, alj.ambient_loss(x, target, s, m, where=w, reduction="per_sample")

    got = jax.jit(jax.vmap(example))(keys, x, z, m, s, where)
    want = batched(keys, x, z, m, s, where)
    assert got[3].shape == (B,)
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want), strict=True):
        assert g.dtype == jnp.float32
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)
    first = alj.ambient_pair(keys[0], x[0], float(sigma[0]), float(sigma_min[0]), prediction="v")  # eager, floats
    np.testing.assert_allclose(first[1], got[1][0], rtol=1e-6, atol=1e-6)


def test_per_step_levels_on_action_chunks():
    sigma_min, sigma = _levels((B, T), seed=3)
    x = _data(5)
    key = jax.random.key(7)
    noise = np.asarray(jax.random.normal(key, x.shape, jnp.float64))
    _, t_ref = al.ambient_pair(x, sigma, sigma_min, noise, prediction="epsilon", schedule="flow")
    step = jax.jit(lambda k, x, m, s: alj.ambient_pair(k, x, s, m, prediction="epsilon", schedule="flow"))
    _, target = step(key, _j(x), _j(sigma_min), _j(sigma))
    _close(target, t_ref, jnp.float64)
    is_pad = np.zeros((B, T), bool)
    is_pad[:, -2:] = True
    loss = jax.jit(lambda p, t, s, m, w: alj.ambient_loss(p, t, s, m, where=w, reduction="per_sample"))
    got = loss(jnp.zeros_like(target), target, _j(sigma), _j(sigma_min), jnp.asarray(~is_pad))
    w = al.loss_weight(sigma, sigma_min)
    ref = al.squared_error(np.zeros_like(t_ref), t_ref, weight=w, where=~is_pad, reduction="per_sample")
    _close(got, ref, jnp.float64)


def test_grad_wrt_prediction_matches_analytic():
    sigma_min, sigma = _levels(seed=4)
    x, pred = _data(6), _data(7)
    _, target = al.ambient_pair(x, sigma, sigma_min, _data(8))
    edm = al.Weighting(base_weight="edm")
    w = al.loss_weight(sigma, sigma_min, weighting=edm)
    ref = 2 * w[:, None, None] * (pred - target) / pred.size
    loss = lambda p: alj.ambient_loss(p, _j(target), _j(sigma), _j(sigma_min), weighting=edm)  # noqa: E731
    _close(jax.jit(jax.grad(loss))(_j(pred)), ref, jnp.float64)


@pytest.mark.parametrize("prediction", ["x0", "v"])
def test_grad_wrt_sigma_matches_finite_differences(prediction):
    sigma_min, sigma = _levels(seed=5)
    x, z = _data(9), _data(10)
    key = jax.random.key(3)
    noise = np.asarray(jax.random.normal(key, x.shape, jnp.float64))
    proj = np.cos(np.arange(x.size)).reshape(x.shape)

    def f(s):
        return jnp.sum(alj.ambient_pair(key, _j(x), s, _j(sigma_min), prediction=prediction)[1] * proj)

    grad = jax.jit(jax.grad(f))(_j(sigma))
    h = 1e-6
    for i in range(B):
        up, down = sigma.copy(), sigma.copy()
        up[i] += h
        down[i] -= h
        fd = [np.sum(al.ambient_pair(x, s, sigma_min, noise, prediction=prediction)[1] * proj) for s in (up, down)]
        np.testing.assert_allclose(float(grad[i]), (fd[0] - fd[1]) / (2 * h), rtol=1e-5, atol=1e-6)
    assert np.all(
        np.isfinite(np.asarray(jax.grad(lambda s: jnp.sum(alj.renoise(_j(x), s, _j(sigma_min), _j(z))))(_j(sigma))))
    )


def _inadmissible() -> tuple[jax.Array, jax.Array]:
    """Rows 0, 1 admissible; 2: sigma < sigma_min; 3: sigma == sigma_min > 0; 4: sigma == sigma_min == 0."""
    sigma_min = jnp.array([0.0, 0.3, 0.5, 0.4, 0.0], jnp.float32)
    sigma = jnp.array([0.5, 0.6, 0.2, 0.4, 0.0], jnp.float32)
    return sigma_min, sigma


@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_inadmissible_levels_are_nan_under_jit(prediction):
    sigma_min, sigma = _inadmissible()
    x = jnp.ones((5, T, D), jnp.float32)
    _, target = jax.jit(lambda k, x, m, s: alj.ambient_pair(k, x, s, m, prediction=prediction))(
        jax.random.key(0), x, sigma_min, sigma
    )
    t2 = jax.jit(lambda *a: alj.ambient_target(*a, prediction=prediction))(x, x, sigma, sigma_min)
    w = jax.jit(alj.loss_weight)(sigma, sigma_min)
    for out in (target, t2):
        assert out.dtype == jnp.float32
        assert bool(jnp.all(jnp.isfinite(out[:2])))
        assert bool(jnp.all(jnp.isnan(out[2:])))
    assert bool(jnp.all(jnp.isfinite(w[:2])))
    assert bool(jnp.all(jnp.isnan(w[2:4])))
    assert alj.admissible(sigma, sigma_min).tolist() == [True, True, False, False, False]
    with pytest.raises(ValueError, match="sigma"):
        alj.ambient_pair(jax.random.key(0), x, sigma, sigma_min)  # eagerly the core checks values


@pytest.mark.parametrize("reduction", ["mean", "per_sample", "sum", "none"])
def test_masked_loss_and_gradient_stay_finite(reduction):
    sigma_min, sigma = _inadmissible()
    x = jax.random.normal(jax.random.key(5), (5, T, D), jnp.float32)
    params = {"w": jnp.eye(D, dtype=jnp.float32), "b": jnp.zeros(D, jnp.float32)}

    def apply_fn(p, x_t, s):
        return x_t @ p["w"] + p["b"]

    def loss(p, where, m=sigma_min, s=sigma):
        out = alj.training_loss(p, jax.random.key(2), x, s, m, apply_fn=apply_fn, where=where, reduction=reduction)
        return jnp.sum(out)

    step = jax.jit(jax.value_and_grad(loss))
    valid = alj.admissible(sigma, sigma_min)
    value, grads = step(params, valid)
    assert bool(jnp.isfinite(value))
    assert value.dtype == jnp.float32
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree_util.tree_leaves(grads))
    unmasked, _ = step(params, jnp.ones(5, bool))
    assert bool(jnp.isnan(unmasked))  # NaN surfaces when the mask is forgotten
    # masked rows add nothing: admissible levels there give the same loss and gradients
    value2, grads2 = step(params, valid, sigma_min.at[2:].set(0.1), sigma.at[2:].set(0.9))
    np.testing.assert_allclose(value2, value, rtol=1e-6)
    for g, g2 in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(grads2), strict=True):
        np.testing.assert_allclose(g2, g, rtol=1e-5, atol=1e-7)


def test_masked_target_gradient_wrt_prediction_is_exactly_zero():
    sigma_min, sigma = _inadmissible()
    x = jnp.ones((5, T, D), jnp.float32)

    def loss(pred):
        _, target = alj.ambient_pair(jax.random.key(0), x, sigma, sigma_min)
        return alj.ambient_loss(pred, target, sigma, sigma_min, where=alj.admissible(sigma, sigma_min))

    grad = jax.jit(jax.grad(loss))(jnp.zeros((5, T, D), jnp.float32))
    assert bool(jnp.all(grad[2:] == 0))
    assert bool(jnp.all(jnp.isfinite(grad)))


def test_key_reproducibility():
    x = jnp.asarray(_data(11), jnp.float32)
    step = jax.jit(lambda k: alj.ambient_pair(k, x, 0.7, 0.2, prediction="epsilon"))
    a, b = step(jax.random.key(42)), step(jax.random.key(42))
    assert all(bool(jnp.array_equal(u, v)) for u, v in zip(a, b, strict=True))
    c = step(jax.random.key(43))
    assert not bool(jnp.array_equal(a[1], c[1]))
    raw = alj.ambient_pair(jax.random.PRNGKey(42), x, 0.7, 0.2, prediction="epsilon")  # legacy uint32 key
    assert raw[1].shape == x.shape
    assert bool(jnp.all(jnp.isfinite(raw[1])))
    eager = alj.ambient_pair(jax.random.key(42), x, 0.7, 0.2, prediction="epsilon")
    np.testing.assert_allclose(eager[1], a[1], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_clean_samples_give_the_standard_target_bit_exactly(schedule, dtype):
    _, sigma = _levels(seed=6)
    x0, s = _j(_data(12), dtype), _j(sigma, dtype)
    key = jax.random.key(9)
    noise = jax.random.normal(key, x0.shape, dtype)

    @jax.jit
    def ambient(k, x, s, m):  # sigma_min as an array of zeros and as the Python number 0
        return {
            p: (
                alj.ambient_pair(k, x, s, m, prediction=p, schedule=schedule),
                alj.ambient_pair(k, x, s, 0.0, prediction=p, schedule=schedule),
            )
            for p in PREDICTIONS
        }

    @jax.jit
    def standard(k, x, s):  # the same draw inside the same kind of program, so XLA fuses it alike
        z = jax.random.normal(k, x.shape, dtype)
        x_t = al.add_noise(x, s, z, schedule=schedule, xp=jnp)
        return {p: (x_t, al.standard_target(x, z, s, prediction=p, schedule=schedule, xp=jnp)) for p in PREDICTIONS}

    got, ref = ambient(key, x0, s, jnp.zeros(B, dtype)), standard(key, x0, s)
    for prediction in PREDICTIONS:
        x_ref, t_ref = ref[prediction]
        for x_t, target in got[prediction]:
            assert bool(jnp.array_equal(target, t_ref)), prediction
            assert bool(jnp.array_equal(x_t, x_ref)), prediction
    eager = alj.ambient_pair(key, x0, s, 0.0, prediction="v", schedule=schedule)[1]
    assert bool(jnp.array_equal(eager, al.standard_target(x0, noise, s, prediction="v", schedule=schedule)))


def test_sharded_batch_gives_unsharded_results_and_stays_sharded():
    if len(jax.devices()) != 8:
        pytest.skip("needs 8 devices (XLA_FLAGS=--xla_force_host_platform_device_count=8 before importing jax)")
    mesh = Mesh(np.array(jax.devices()), ("batch",))
    batch = NamedSharding(mesh, PartitionSpec("batch"))
    sigma_min, sigma = _levels((16,), seed=7)
    x = jnp.asarray(np.random.default_rng(8).normal(size=(16, T, D)), jnp.float32)
    m, s = _j(sigma_min, jnp.float32), _j(sigma, jnp.float32)
    params = jnp.eye(D, dtype=jnp.float32)

    @jax.jit
    def step(params, key, x, m, s):
        x_t, target = alj.ambient_pair(key, x, s, m, prediction="v")
        loss = lambda p: alj.ambient_loss(x_t @ p, target, s, m, prediction="v")  # noqa: E731
        value, grad = jax.value_and_grad(loss)(params)
        per_sample = alj.ambient_loss(x_t @ params, target, s, m, reduction="per_sample")
        return x_t, target, per_sample, value, grad

    key = jax.random.key(0)
    plain = step(params, key, x, m, s)
    xs, ms, ss = (jax.device_put(a, batch) for a in (x, m, s))
    sharded = step(params, key, xs, ms, ss)
    for out in sharded[:3]:
        assert len(out.sharding.device_set) == 8
        assert out.sharding.is_equivalent_to(batch, out.ndim)
    np.testing.assert_array_equal(sharded[0], plain[0])
    np.testing.assert_allclose(sharded[1], plain[1], rtol=1e-6, atol=1e-6)
    for got, ref in zip(sharded[2:], plain[2:], strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    eager = alj.ambient_pair(key, xs, ss, 0.0, prediction="v")  # Python-number level next to sharded arrays
    assert eager[1].sharding.is_equivalent_to(batch, 3)


@pytest.mark.parametrize("x64", [True, False], ids=["x64", "x32"])
def test_dtypes_are_kept_without_upcasting(x64):
    def step(key, x, m, s):  # Python-number or array levels, x of any floating dtype
        x_t, target = alj.ambient_pair(key, x, s, m, prediction="v")
        return x_t, target, alj.ambient_loss(x_t, target, s, m, reduction="none"), alj.loss_weight(s, m)

    with jax.enable_x64(x64):
        x = jnp.asarray(_data(13), jnp.float32)
        for out in (
            jax.jit(step, static_argnums=(2, 3))(jax.random.key(0), x, 0.3, 0.6),
            step(jax.random.key(0), x, 0.3, 0.6),
        ):
            assert [a.dtype for a in out] == [jnp.float32] * 4
        m = jnp.full(B, 0.3, jnp.float32)
        x_t, target, loss, _ = jax.jit(step, static_argnums=3)(jax.random.key(1), x.astype(jnp.bfloat16), m, 0.5)
        assert x_t.dtype == target.dtype == jnp.bfloat16
        assert loss.dtype == jnp.float32  # the loss runs in float32 for bf16 predictions
        assert bool(jnp.all(jnp.isfinite(target.astype(jnp.float32))))
    m, s = jnp.asarray(0.3), jnp.asarray(0.6)  # float64 levels do not upcast float32 data
    assert m.dtype == jnp.float64
    x_t, target, loss, _ = jax.jit(step)(jax.random.key(0), x, m, s)
    assert x_t.dtype == target.dtype == loss.dtype == jnp.float32
    x_t, target, loss, w = jax.jit(step)(jax.random.key(0), x.astype(jnp.float64), m, s)
    assert x_t.dtype == target.dtype == loss.dtype == w.dtype == jnp.float64


def test_shape_mismatch_raises_under_jit():
    loss = jax.jit(lambda p, t: alj.ambient_loss(p, t, 0.5, 0.2))
    with pytest.raises(ValueError, match="same shape"):
        loss(jnp.zeros((B, T, D)), jnp.zeros((B, T, 1)))
    with pytest.raises(ValueError, match="align"):
        jax.jit(alj.ambient_pair)(jax.random.key(0), jnp.zeros((B, T, D)), jnp.zeros(T), jnp.ones(T))


def test_admissible_aligns_levels_on_leading_axes():
    sigma_min = jnp.array([0.2, 0.0])
    sigma = jnp.array([[0.3, 0.1, 0.2], [0.0, 0.5, 0.7]])
    assert alj.admissible(sigma, sigma_min).tolist() == [[True, False, False], [False, True, True]]
    assert alj.admissible(0.5, 0.5).shape == ()


def test_sgd_on_a_linear_denoiser_lowers_the_loss():
    rng = np.random.default_rng(14)
    data = jnp.asarray(rng.normal(size=(64, D)) @ np.diag([1.0, 0.5, 0.1]), jnp.float32)
    sigma_min = jnp.asarray(np.where(np.arange(64) % 2 == 0, 0.0, 0.3), jnp.float32)
    key = jax.random.key(0)
    k_m, k_s = jax.random.split(key)
    x_tmin = alj.add_noise(data, sigma_min, jax.random.normal(k_m, data.shape, jnp.float32))
    sigma = sigma_min + (0.95 - sigma_min) * jax.random.uniform(k_s, (64,), jnp.float32, 0.1, 1.0)

    def apply_fn(p, x_t, s):
        return x_t @ p

    @jax.jit
    def sgd(p, k):
        value, grad = jax.value_and_grad(alj.training_loss)(p, k, x_tmin, sigma, sigma_min, apply_fn=apply_fn)
        return p - 0.2 * grad, value

    params, first = jnp.zeros((D, D), jnp.float32), None
    for i in range(60):
        params, value = sgd(params, jax.random.fold_in(key, i))
        first = value if first is None else first
    evaluate = jax.jit(jax.vmap(lambda k: alj.training_loss(params, k, x_tmin, sigma, sigma_min, apply_fn=apply_fn)))
    held_out = jnp.mean(evaluate(jax.random.split(jax.random.key(1000), 8)))
    assert float(held_out) < 0.8 * float(first)
