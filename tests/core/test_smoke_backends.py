import numpy as np
import pytest

import ambientloss as al

PREDICTIONS = ["x0", "epsilon", "v", "score", "velocity"]


@pytest.mark.parametrize("prediction", PREDICTIONS)
@pytest.mark.parametrize("schedule", ["vp", "ve", "flow"])
def test_pair_matches_target_every_backend(backend, prediction, schedule):
    rng = np.random.default_rng(0)
    x_m = rng.normal(size=(4, 3, 2))
    z = rng.normal(size=(4, 3, 2))
    m = np.array([0.0, 0.2, 0.3, 0.5])
    s = np.array([0.4, 0.5, 0.9, 0.6])
    xb, zb, mb, sb = (backend.asarray(v) for v in (x_m, z, m, s))
    x_t, target = al.ambient_pair(xb, sb, mb, zb, prediction=prediction, schedule=schedule)
    x_t2 = al.renoise(xb, sb, mb, zb, schedule=schedule)
    t2 = al.ambient_target(x_t2, xb, sb, mb, prediction=prediction, schedule=schedule)
    assert x_t.dtype == xb.dtype
    assert target.shape == xb.shape
    tol = 200 * backend.eps
    np.testing.assert_allclose(backend.to_numpy(x_t), backend.to_numpy(x_t2), rtol=tol, atol=tol)
    np.testing.assert_allclose(backend.to_numpy(target), backend.to_numpy(t2), rtol=tol * 10, atol=tol * 10)


@pytest.mark.parametrize("schedule", ["vp", "ve", "flow"])
def test_renoise_from_level_zero_is_add_noise_bit_exactly(backend, schedule):
    rng = np.random.default_rng(1)
    x0, z = backend.asarray(rng.normal(size=(5, 3))), backend.asarray(rng.normal(size=(5, 3)))
    s = backend.asarray(rng.uniform(0.05, 0.95, size=5))
    out = backend.to_numpy(al.renoise(x0, s, 0.0, z, schedule=schedule))
    np.testing.assert_array_equal(out, backend.to_numpy(al.add_noise(x0, s, z, schedule=schedule)))
