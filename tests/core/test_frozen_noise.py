"""Frozen per-sample noise: a pure function of ``(seed, sample_id)`` in every process, worker and backend.

The statistical check draws 200 samples x 500 values with seed 0 and compares them with N(0, 1) by a
Kolmogorov-Smirnov test at significance ``1e-3``.
"""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from scipy import stats

from ambientloss import add_noise, frozen_noise, frozen_x_tmin

ALPHA = 1e-3


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a, dtype=np.float64).tobytes()).hexdigest()


def test_pure_function_of_seed_and_id():
    a = frozen_noise(5, 17, (3, 4))
    np.testing.assert_array_equal(a, frozen_noise(5, 17, (3, 4)))
    assert not np.array_equal(a, frozen_noise(5, 18, (3, 4)))
    assert not np.array_equal(a, frozen_noise(6, 17, (3, 4)))
    batch = frozen_noise(5, [2, 17, 2**64 - 1], (3, 4))
    np.testing.assert_array_equal(batch[1], a)  # a row does not depend on its neighbours
    np.testing.assert_array_equal(batch[2], frozen_noise(5, np.uint64(2**64 - 1), (3, 4)))
    np.testing.assert_array_equal(frozen_noise(5, 17, (3, 4), np.float32), a.astype(np.float32))
    # the first values of a longer draw are the shorter draw: the stream does not depend on the shape
    np.testing.assert_array_equal(frozen_noise(5, 17, 20)[:12], a.ravel())


def test_standard_normal_kolmogorov_smirnov():
    values = frozen_noise(0, np.arange(200), 500).ravel()
    assert stats.kstest(values, "norm").pvalue > ALPHA
    # distinct ids are uncorrelated: the correlation of neighbouring rows is within 4 / sqrt(n)
    rows = frozen_noise(0, np.arange(200), 500)
    r = np.corrcoef(rows[:-1].ravel(), rows[1:].ravel())[0, 1]
    assert abs(r) < 4 / np.sqrt(rows[:-1].size)


def test_identical_in_another_process():
    script = textwrap.dedent(
        """
        import hashlib, numpy as np
        from ambientloss import frozen_noise
        print(hashlib.sha256(frozen_noise(123, [0, 7, 99], (5, 6)).tobytes()).hexdigest())
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == _digest(frozen_noise(123, [0, 7, 99], (5, 6)))


def test_no_global_random_state_is_touched(monkeypatch):
    torch = pytest.importorskip("torch")
    from ambientloss.adapters.torch_data import frozen_noise as torch_noise

    # snapshots only: reseeding the global generators here would change them for the tests run after
    legacy, python, torch_state = np.random.get_state(), random.getstate(), torch.get_rng_state()  # noqa: NPY002

    def forbidden(*args, **kwargs):
        raise AssertionError("an unseeded default generator was created")

    monkeypatch.setattr(np.random, "default_rng", forbidden)
    frozen_noise(0, [1, 2], (4,))
    frozen_x_tmin(np.ones((2, 3)), [1, 2], np.array([0.0, 0.5]), seed=3)
    frozen_x_tmin(torch.ones(2, 3), torch.tensor([1, 2]), torch.tensor([0.0, 0.5]), seed=3)
    torch_noise(0, 4, (2,))
    after = np.random.get_state()  # noqa: NPY002
    assert after[0] == legacy[0]
    np.testing.assert_array_equal(after[1], legacy[1])
    assert after[2:] == legacy[2:]
    assert random.getstate() == python
    assert torch.equal(torch.get_rng_state(), torch_state)


def test_x_tmin_is_the_forward_process_with_frozen_noise(backend):
    x0 = np.random.default_rng(1).standard_normal((3, 4, 2))
    ids, m = np.array([10, 11, 12]), np.array([0.0, 0.3, 0.8])
    got = frozen_x_tmin(backend.asarray(x0), ids, backend.asarray(m), seed=9, schedule="vp")
    assert got.dtype == backend.dtype
    noise = frozen_noise(9, ids, (4, 2))
    want = add_noise(x0, m, noise, schedule="vp")
    np.testing.assert_allclose(backend.to_numpy(got), want, rtol=8 * backend.eps, atol=8 * backend.eps)
    np.testing.assert_array_equal(backend.to_numpy(got)[0], backend.to_numpy(backend.asarray(x0))[0])  # clean: exact
    one = frozen_x_tmin(backend.asarray(x0[1]), 11, 0.3, seed=9, schedule="vp")
    np.testing.assert_array_equal(backend.to_numpy(one), backend.to_numpy(got)[1])


def test_torch_gets_the_numpy_bits():
    torch = pytest.importorskip("torch")
    from ambientloss.adapters.torch_data import frozen_noise as torch_noise

    t = torch_noise(4, [3, 8], (2, 3), dtype=torch.float64)
    np.testing.assert_array_equal(t.numpy(), frozen_noise(4, [3, 8], (2, 3)))
    assert torch_noise(4, 3, (2,)).dtype == torch.float32


def test_dataloader_workers_do_not_change_the_noise():
    """The same ``x_tmin`` with 0 and 2 worker processes (spawn) and with a reversed order of access."""
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset

    from ambientloss.adapters.torch_data import AmbientDataset

    x = torch.randn(12, 3, generator=torch.Generator().manual_seed(0))
    m = torch.linspace(0.0, 0.9, 12, dtype=torch.float64)
    dataset = AmbientDataset(TensorDataset(x), m, seed=77, schedule="vp", key=0)

    def load(workers: int, order: list[int]) -> torch.Tensor:
        extra = {"multiprocessing_context": "spawn", "prefetch_factor": 2} if workers else {}
        loader = DataLoader(dataset, batch_size=4, sampler=order, num_workers=workers, **extra)
        return torch.cat([batch["x_tmin"] for batch in loader])

    serial = load(0, list(range(12)))
    parallel = load(2, list(range(12)))
    reverse = load(0, list(range(11, -1, -1))).flip(0)
    assert torch.equal(serial, parallel)
    assert torch.equal(serial, reverse)
    # the dataset's item i is frozen_x_tmin of sample i at its float64 level: the same call, bit for bit
    items = [frozen_x_tmin(x[i], i, torch.tensor(float(m[i]), dtype=torch.float64), seed=77) for i in range(12)]
    assert torch.equal(serial, torch.stack(items))
    # ... and the batched call within rounding: a = sqrt((1 - m)(1 + m)) comes from torch's float64
    # sqrt, faithful but free to round a (12,) array (SIMD body) and a 0-d level (scalar path) an ulp
    # apart. That can move a's float32 rounding by 1 ulp (<= eps / 2, a < 1), so a x by eps |x| / 2,
    # the two roundings of a x by eps |x| more, the two roundings of the sum by eps |x_tmin|
    want = frozen_x_tmin(x, np.arange(12), m, seed=77, schedule="vp")
    eps = torch.finfo(torch.float32).eps
    assert bool(((serial - want).abs() <= eps * (1.5 * x.abs() + want.abs())).all())


def test_jax_fold_in_noise_is_frozen_under_jit_and_vmap():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    from ambientloss.adapters.jax_data import frozen_noise as jax_noise
    from ambientloss.adapters.jax_data import frozen_x_tmin as jax_x_tmin

    key = jax.random.key(3)
    ids = jnp.array([4, 9, 4])
    eager = jax_noise(key, ids, (5,))
    jitted = jax.jit(lambda i: jax_noise(key, i, (5,)))(ids)
    mapped = jax.vmap(lambda i: jax_noise(key, i, (5,)))(ids)
    np.testing.assert_array_equal(np.asarray(eager), np.asarray(jitted))
    np.testing.assert_array_equal(np.asarray(eager), np.asarray(mapped))
    np.testing.assert_array_equal(np.asarray(eager[0]), np.asarray(eager[2]))
    np.testing.assert_array_equal(np.asarray(jax_noise(3, 9, 5)), np.asarray(eager[1]))  # an int seed is key(seed)
    x0 = jnp.ones((3, 5), jnp.float32)
    m = jnp.array([0.0, 0.6, 0.6])
    x_tmin = jax.jit(lambda x, i, m: jax_x_tmin(x, i, m, seed=key))(x0, ids, m)
    np.testing.assert_array_equal(np.asarray(x_tmin[0]), np.ones(5, np.float32))
    np.testing.assert_allclose(np.asarray(x_tmin[1]), 0.8 + 0.6 * np.asarray(eager[1]), rtol=1e-6)
    with pytest.raises(ValueError, match=r"\[0, 2\*\*32\)"):
        jax_noise(key, jnp.array([2**31 - 1, -1]), (2,))
    with pytest.raises(TypeError, match="traced"):
        jax.jit(lambda i: frozen_noise(0, i, (2,)))(jnp.array([1]))


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"seed must lie in \[0, 2\*\*64\), got -1"):
        frozen_noise(-1, 0, 3)
    with pytest.raises(ValueError, match=r"sample_id\[1\] must lie in \[0, 2\*\*64\), got -4"):
        frozen_noise(0, [3, -4], 3)
    with pytest.raises(TypeError, match="sample_id must be a non-negative integer, got True"):
        frozen_noise(0, True, 3)
    with pytest.raises(TypeError, match="sample_id must have an integer dtype, got float64"):
        frozen_noise(0, np.array([1.0]), 3)
    with pytest.raises(ValueError, match=r"got shape \(1, 1\)"):
        frozen_noise(0, np.array([[1]]), 3)
    with pytest.raises(TypeError, match="dtype must be a floating dtype"):
        frozen_noise(0, 1, 3, np.int32)
    with pytest.raises(ValueError, match="shape must have non-negative entries"):
        frozen_noise(0, 1, (2, -1))
    with pytest.raises(ValueError, match="sample_id has 2 entries but x0 with shape"):
        frozen_x_tmin(np.ones((3, 2)), [1, 2], 0.5, seed=0)
    with pytest.raises(ValueError, match=r"sigma=1\.5 is outside the domain"):
        frozen_x_tmin(np.ones(2), 1, 1.5, seed=0, schedule="vp")
