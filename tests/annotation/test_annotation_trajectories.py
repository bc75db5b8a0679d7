"""classifier_trajectory (noising, pairing, batching, backends, errors) and the grid builders."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import scipy.stats

import ambientloss as al
from ambientloss.annotation import (
    CallCount,
    classifier_trajectory,
    ddpm_timestep_grid,
    edm_lognormal_grid,
    vp_uniform_grid,
)

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_JAX = importlib.util.find_spec("jax") is not None


def _annotation_draws(seed: int, sample_id: int, shape: tuple[int, ...]) -> np.ndarray:
    """The annotation draws of one sample, rebuilt here from their definition (float64).

    NumPy's Philox keyed by ``(key, sample_id)``, counter 0, where ``key`` is the first 64-bit word of
    ``SeedSequence([seed, 0x616E6E6F])``: the frozen-noise generator on a stream of its own.
    """
    key = int(np.random.SeedSequence([seed, 0x616E6E6F]).generate_state(1, np.uint64)[0])
    return np.random.Generator(np.random.Philox(key=np.array([key, sample_id], np.uint64))).standard_normal(shape)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Recorder:
    """A classifier that records its inputs and returns a fixed function of them (numpy)."""

    def __init__(self) -> None:
        self.inputs: list[tuple[np.ndarray, np.ndarray]] = []

    @staticmethod
    def prob(x_sigma, sigma):
        return 1.0 / (1.0 + np.exp(-x_sigma.sum(axis=tuple(range(1, x_sigma.ndim))) * 0.1 - sigma))

    def __call__(self, x_sigma, sigma):
        self.inputs.append((np.array(x_sigma), np.array(sigma)))
        return self.prob(x_sigma, sigma)

    def rows(self) -> tuple[np.ndarray, np.ndarray]:
        """Every ``(x_sigma, sigma)`` row the classifier saw, in call order."""
        return np.concatenate([a for a, _ in self.inputs]), np.concatenate([s for _, s in self.inputs])


@pytest.mark.parametrize("schedule", ["vp", "ve", "flow"])
def test_rows_are_the_forward_process_with_paired_draws(schedule):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 2, 5))
    grid = np.array([0.1, 0.3, 0.6, 0.9])
    rec = Recorder()
    probs = classifier_trajectory(rec, x, grid, n_draws=2, schedule=schedule, batch_size=5, seed=11)
    assert probs.shape == (3, 4, 2)
    xs = np.concatenate([a for a, _ in rec.inputs]).reshape(3, 4, 2, 2, 5)
    sig = np.concatenate([s for _, s in rec.inputs]).reshape(3, 4, 2)
    np.testing.assert_array_equal(sig, np.broadcast_to(grid[None, :, None], (3, 4, 2)))
    a, b = al.coefficients(grid, schedule=schedule)
    z = (xs - a[None, :, None, None, None] * x[:, None, None]) / b[None, :, None, None, None]
    # the same draw of a sample at every level; draws differ between samples and between draws
    np.testing.assert_allclose(z, np.broadcast_to(z[:, :1], z.shape), atol=1e-12)
    assert not np.allclose(z[0, 0, 0], z[0, 0, 1])
    assert not np.allclose(z[0, 0, 0], z[1, 0, 0])
    # the draws are seeded by (seed, sample id): the frozen-noise generator (Philox keyed by the pair)
    # on the annotation stream of the seed
    for i in range(3):
        want = _annotation_draws(11, i, (2, 2, 5))
        np.testing.assert_allclose(z[i, 0], want, atol=1e-12)
    # the result is the classifier on those rows: the same function on the very arrays it was given
    # (same values and shapes, so bit for bit; recomputing it on another layout would sum and exp
    # the rows in other SIMD lanes and could differ by an ulp)
    flat = np.concatenate([Recorder.prob(a, s) for a, s in rec.inputs])
    np.testing.assert_array_equal(probs.reshape(-1), flat)


def test_batching_and_sample_ids_do_not_change_the_draws():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(7, 3))
    grid = np.linspace(0.05, 0.95, 9)
    # The rows the classifier sees are the library's seeded draws and a x + b z (IEEE basic operations
    # and NumPy's correctly rounded sqrt): bit for bit whatever the batching. The classifier's own
    # exp may round a row differently in another batch shape (SIMD body vs tail) by 1 ulp, <= eps on
    # p = 1 / (1 + e) (its row sum of 3 features is sequential in any layout); the roundings of 1 + e
    # and of the division, <= u each on each side, add 2 eps: 3 eps relative.
    rtol = 3 * np.finfo(np.float64).eps
    clf = Recorder()
    full = classifier_trajectory(clf, x, grid, n_draws=3, batch_size=1000)
    rows = clf.rows()
    for bs in (1, 4, 27, 50):
        clf = Recorder()
        np.testing.assert_allclose(classifier_trajectory(clf, x, grid, n_draws=3, batch_size=bs), full, rtol=rtol)
        for got, want in zip(clf.rows(), rows, strict=True):
            np.testing.assert_array_equal(got, want)
    clf = Recorder()
    part = classifier_trajectory(clf, x[4:], grid, n_draws=3, sample_ids=[4, 5, 6])
    np.testing.assert_allclose(part, full[4:], rtol=rtol)
    for got, want in zip(clf.rows(), rows, strict=True):
        np.testing.assert_array_equal(got, want[4 * 9 * 3 :])  # rows in (sample, level, draw) order
    clf = Recorder()
    other = classifier_trajectory(clf, x, grid, n_draws=3, seed=1)
    assert not np.allclose(other, full)
    assert not np.array_equal(clf.rows()[0], rows[0])


def test_user_noise_and_call_counts():
    x = np.arange(6.0).reshape(3, 2)
    grid = np.array([0.5, 1.0])
    rec = Recorder()
    shared = np.ones((2, 2))
    counts = CallCount()
    probs = classifier_trajectory(rec, x, grid, n_draws=2, schedule="ve", noise=shared, batch_size=5, counts=counts)
    xs = np.concatenate([a for a, _ in rec.inputs]).reshape(3, 2, 2, 2)
    np.testing.assert_allclose(xs, np.broadcast_to(x[:, None, None, :] + grid[None, :, None, None], xs.shape))
    assert probs.shape == (3, 2, 2)
    assert (counts.calls, counts.evaluations, counts.padded) == (3, 12, 0)  # 12 rows in batches of 5
    per_sample = np.stack([np.full((2, 2), i) for i in range(3)]).astype(float)
    rec = Recorder()
    classifier_trajectory(rec, x, grid, n_draws=2, schedule="ve", noise=per_sample)
    xs = np.concatenate([a for a, _ in rec.inputs]).reshape(3, 2, 2, 2)
    np.testing.assert_allclose(xs[2, 1], np.stack([x[2] + 1.0 * 2.0] * 2))


def test_padding_gives_the_classifier_one_shape():
    shapes = []

    def clf(x_sigma, sigma):
        shapes.append(x_sigma.shape[0])
        return np.full(x_sigma.shape[0], 0.5)

    counts = CallCount()
    classifier_trajectory(clf, np.zeros((5, 2)), [0.1, 0.2, 0.3], n_draws=1, batch_size=4, pad=True, counts=counts)
    assert shapes == [4, 4, 4, 4]
    assert (counts.evaluations, counts.padded) == (15, 1)


def test_backends_agree_on_shared_noise(backend):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 3))
    noise = rng.normal(size=(4, 2, 3))
    grid = np.array([0.2, 0.4, 0.8])

    def clf(x_sigma, sigma):
        import array_api_compat

        xp = array_api_compat.array_namespace(x_sigma)
        logit = xp.sum(x_sigma, axis=1) - sigma
        return 1.0 / (1.0 + xp.exp(-logit))

    want = classifier_trajectory(clf, x, grid, n_draws=2, noise=noise, schedule="vp")
    got = classifier_trajectory(
        clf, backend.asarray(x), backend.asarray(grid), n_draws=2, noise=backend.asarray(noise), schedule="vp"
    )
    assert got.dtype == backend.dtype
    np.testing.assert_allclose(backend.to_numpy(got), want, rtol=0, atol=50 * backend.eps)


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
def test_torch_runs_without_grad_on_the_data_device_and_seeds_per_sample():
    import torch

    with torch.random.fork_rng(devices=[]):  # fixed weights, the global generator left as it was
        torch.manual_seed(0)
        lin = torch.nn.Linear(3, 1)
    seen, rows = [], []

    def clf(x_sigma, sigma):
        seen.append((torch.is_grad_enabled(), x_sigma.device, sigma.dtype))
        rows.append((x_sigma.clone(), sigma.clone()))
        return torch.sigmoid(lin(x_sigma))  # (B, 1) is accepted

    def run(x, **kw):
        rows.clear()
        # VE: x_sigma = 1 * x + sigma * z, IEEE basic operations only (no backend sqrt), so the rows
        # the classifier sees are bit for bit the same in any batch
        probs = classifier_trajectory(clf, x, grid, n_draws=2, schedule="ve", **kw)
        return probs, torch.cat([r for r, _ in rows]), torch.cat([s for _, s in rows])

    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    grid = torch.linspace(0.1, 0.9, 6)
    probs, x_rows, s_rows = run(x, batch_size=7)
    assert probs.shape == (5, 6, 2)
    assert not probs.requires_grad
    assert all(not g and d == x.device and dt == torch.float32 for g, d, dt in seen)
    again, x_again, s_again = run(x[2:], batch_size=3, sample_ids=[2, 3, 4])
    # the same per-sample draws: the inputs of samples 2-4 (rows 24 on) are identical
    assert torch.equal(x_again, x_rows[2 * 6 * 2 :])
    assert torch.equal(s_again, s_rows[2 * 6 * 2 :])
    # Linear's matmul rounds with the batch size: each logit w.x + b (3 products, 3 additions) is
    # within gamma_4 S <= 2 eps S of exact, S = |w|.|x| + |b|, so two batchings differ by <= 4 eps S,
    # and by <= eps S after the sigmoid (slope <= 1/4), plus <= 2 eps of the sigmoid's own rounding each
    eps = torch.finfo(torch.float32).eps
    with torch.no_grad():
        scale = x_again.abs() @ lin.weight.abs().T + lin.bias.abs()
    tol = eps * (scale.reshape(3, 6, 2) + 4)
    assert bool(((again - probs[2:]).abs() <= tol).all()), (again - probs[2:]).abs().max()


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
def test_torch_and_numpy_data_get_the_same_draws():
    """One generator for every array library: float64 tensors see the rows NumPy arrays see, bit for bit."""
    import torch

    def recorder(seen, to_numpy):
        def clf(x_sigma, sigma):
            seen.append(to_numpy(x_sigma))
            return 0.5 + 0 * x_sigma[:, 0]

        return clf

    x = np.random.default_rng(2).normal(size=(4, 3))
    grid = np.array([0.2, 0.7])
    rows_np, rows_torch = [], []
    classifier_trajectory(recorder(rows_np, np.asarray), x, grid, n_draws=3, schedule="ve", seed=9, batch_size=5)
    classifier_trajectory(
        recorder(rows_torch, lambda t: t.numpy()),
        torch.from_numpy(x),
        torch.from_numpy(grid),
        n_draws=3,
        schedule="ve",
        seed=9,
        batch_size=5,
    )
    np.testing.assert_array_equal(np.concatenate(rows_torch), np.concatenate(rows_np))
    # and they are the documented draws: x + sigma z with z the annotation stream of (seed, id)
    z = np.concatenate(rows_np).reshape(4, 2, 3, 3)[:, 0] - x[:, None]
    # (x + 0.2 z) - x loses at most one ulp of |x_sigma| < 8: 2e-15 absolute, 1e-14 after dividing by 0.2
    want = np.stack([_annotation_draws(9, i, (3, 3)) for i in range(4)])
    np.testing.assert_allclose(z / 0.2, want, rtol=0, atol=1e-14)


@pytest.mark.skipif(not HAS_JAX, reason="jax not installed")
def test_jax_draws_are_per_sample_keys():
    import jax
    import jax.numpy as jnp

    x = jnp.zeros((3, 2))
    grid = jnp.asarray([0.5, 1.0])
    inputs = []

    def clf(x_sigma, sigma):
        inputs.append(np.asarray(x_sigma))
        return jax.nn.sigmoid(x_sigma[:, 0])

    classifier_trajectory(clf, x, grid, n_draws=2, schedule="ve", seed=5)
    xs = np.concatenate(inputs).reshape(3, 2, 2, 2)
    # the same generator as NumPy and PyTorch inputs get: the draws do not depend on the array library
    want = _annotation_draws(5, 1, (2, 2)).astype(x.dtype)
    np.testing.assert_array_equal(xs[1, 0], want.dtype.type(0.5) * want)


@pytest.mark.parametrize(
    ("clf", "match"),
    [
        (lambda xs, s: np.zeros((xs.shape[0], 2)), r"one probability per input, shape \(4,\) or \(4, 1\).*\(4, 2\)"),
        (lambda xs, s: np.zeros(3), r"shape \(4,\).*got \(3,\)"),
        (lambda xs, s: 0.5, "got float"),
        (lambda xs, s: 3.0 * np.ones(xs.shape[0]), r"probabilities in \[0, 1\] \(apply a sigmoid to logits\); got 3.0"),
        (lambda xs, s: np.full(xs.shape[0], np.nan), "probabilities"),
    ],
)
def test_wrong_classifier_output_is_named(clf, match):
    with pytest.raises(ValueError, match=match):
        classifier_trajectory(clf, np.zeros((2, 3)), [0.1, 0.2], n_draws=1, batch_size=4)


def test_bad_arguments_are_named():
    ok = Recorder()
    with pytest.raises(TypeError, match="classifier must be a callable"):
        classifier_trajectory("net", np.zeros((2, 3)), [0.1])
    with pytest.raises(ValueError, match="empty"):
        classifier_trajectory(ok, np.zeros((0, 3)), [0.1])
    with pytest.raises(ValueError, match="n_draws must be a positive integer"):
        classifier_trajectory(ok, np.zeros((2, 3)), [0.1], n_draws=0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        classifier_trajectory(ok, np.zeros((2, 3)), [0.1], batch_size=2.5)
    with pytest.raises(ValueError, match="strictly increasing"):
        classifier_trajectory(ok, np.zeros((2, 3)), [0.2, 0.1])
    with pytest.raises(ValueError, match=r"noise must have shape \(4, 3\).*or \(2, 4, 3\)"):
        classifier_trajectory(ok, np.zeros((2, 3)), [0.1], noise=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="sample_ids must be 2 non-negative integers"):
        classifier_trajectory(ok, np.zeros((2, 3)), [0.1], sample_ids=[0, -1])
    with pytest.raises(ValueError, match="outside the domain"):
        classifier_trajectory(ok, np.zeros((2, 3)), [0.5, 1.5], schedule="vp")
    with pytest.raises(TypeError, match="seed must be an integer"):
        classifier_trajectory(ok, np.zeros((2, 3)), [0.1], seed=0.5)


# ------------------------------------------------------------------------------------------------
# grids


def test_grid_builders_against_closed_forms():
    np.testing.assert_allclose(vp_uniform_grid(5), [1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6])  # ends below pure noise
    np.testing.assert_allclose(vp_uniform_grid(3, low=0.0, high=0.5), [0.0, 0.25, 0.5])
    q = edm_lognormal_grid(2048)
    want = scipy.stats.lognorm.ppf((np.arange(2048) + 0.5) / 2048, s=1.2, scale=math.exp(-1.2))
    np.testing.assert_allclose(q, want, rtol=1e-12)
    d = edm_lognormal_grid(2048, method="draws", seed=42)
    np.testing.assert_allclose(d, np.sort(np.exp(-1.2 + 1.2 * np.random.default_rng(42).standard_normal(2048))))
    assert np.all(np.diff(d) > 0)
    # the draws follow the log-normal: Kolmogorov-Smirnov at the 1e-3 level, seed fixed above
    assert scipy.stats.kstest(np.log(d), "norm", args=(-1.2, 1.2)).pvalue > 1e-3
    sched = al.Discrete.from_diffusers("squaredcos_cap_v2", num_train_timesteps=100)
    np.testing.assert_array_equal(ddpm_timestep_grid(sched), sched.sigmas[:-1])  # nothing lies above the last
    np.testing.assert_array_equal(ddpm_timestep_grid(sched, timesteps=[0, 10, 98]), sched.sigmas[[0, 10, 98]])


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
def test_grid_in_another_library():
    import array_api_compat.torch as xp
    import torch

    g = vp_uniform_grid(4, xp=xp, dtype=torch.float32)
    assert isinstance(g, torch.Tensor)
    assert g.dtype == torch.float32


def test_grid_builders_reject_bad_input():
    with pytest.raises(ValueError, match="n must be a positive integer"):
        vp_uniform_grid(0)
    with pytest.raises(ValueError, match=r"high=1\.5 is pure noise"):
        vp_uniform_grid(4, low=0.5, high=1.5)
    with pytest.raises(ValueError, match=r"high=1\.0 is pure noise"):
        vp_uniform_grid(4, high=1.0)
    with pytest.raises(ValueError, match="0 <= low < high < 1"):
        vp_uniform_grid(4, low=0.6, high=0.5)
    with pytest.raises(ValueError, match="p_std positive"):
        edm_lognormal_grid(8, p_std=0.0)
    with pytest.raises(ValueError, match="method must be 'quantiles' or 'draws'"):
        edm_lognormal_grid(8, method="sobol")
    sched = al.Discrete.from_diffusers("linear", num_train_timesteps=10)
    with pytest.raises(ValueError, match=r"strictly increasing integers in \[0, 9\]"):
        ddpm_timestep_grid(sched, timesteps=[3, 2])
    with pytest.raises(ValueError, match="strictly increasing integers"):
        ddpm_timestep_grid(sched, timesteps=[0, 10])
    with pytest.raises(ValueError, match="the table's last timestep 9"):
        ddpm_timestep_grid(sched, timesteps=[0, 9])
    with pytest.raises(TypeError, match="Discrete"):
        ddpm_timestep_grid("vp")
