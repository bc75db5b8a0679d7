"""Classifier training helpers (every backend) and the small torch noise-conditional classifier."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import special, stats

from ambientloss import schedule_free_level
from ambientloss.annotation import (
    binary_cross_entropy,
    class_probability,
    classifier_batch,
    sample_levels,
)
from ambientloss.sampling import LogitNormal, LogNormal, UniformVP


def test_classifier_batch_noises_both_halves_at_shared_levels(backend):
    rng = np.random.default_rng(0)
    clean, corrupt = rng.normal(size=(4, 3, 2)), rng.normal(size=(4, 3, 2)) + 1
    sigma, noise = rng.uniform(0, 1, size=4), rng.normal(size=(8, 3, 2))
    a = np.sqrt(1 - sigma**2)[:, None, None]
    b = backend.asarray
    batch = classifier_batch(b(clean), b(corrupt), b(sigma), b(noise))
    expected = np.concatenate(
        [a * clean + sigma[:, None, None] * noise[:4], a * corrupt + sigma[:, None, None] * noise[4:]]
    )
    tol = 50 * backend.eps
    np.testing.assert_allclose(backend.to_numpy(batch.x_t), expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(backend.to_numpy(batch.sigma), np.concatenate([sigma, sigma]), rtol=tol)
    np.testing.assert_array_equal(backend.to_numpy(batch.is_corrupt), [False] * 4 + [True] * 4)
    assert batch.x_t.dtype == backend.dtype
    one = classifier_batch(b(clean), b(corrupt), 0.5, b(noise), schedule="ve")
    np.testing.assert_allclose(
        backend.to_numpy(one.x_t), np.concatenate([clean, corrupt]) + 0.5 * noise, rtol=tol, atol=tol
    )


def test_classifier_batch_rejects_unbalanced_or_misshaped_input():
    z = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"clean and corrupt must have the same shape .* got \(3, 2\) and \(2, 2\)"):
        classifier_batch(z, z[:2], 0.5, np.zeros((5, 2)))
    with pytest.raises(ValueError, match=r"noise must have shape \(6, 2\)"):
        classifier_batch(z, z, 0.5, np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"sigma must have shape \(3,\)"):
        classifier_batch(z, z, np.full(6, 0.5), np.zeros((6, 2)))
    with pytest.raises(ValueError, match=r"sigma=1\.5 is outside the domain"):
        classifier_batch(z, z, np.array([0.1, 1.5, 0.2]), np.zeros((6, 2)))
    with pytest.raises(TypeError, match="clean must have a real floating dtype"):
        classifier_batch(np.zeros((3, 2), dtype=int), z, 0.5, np.zeros((6, 2)))
    with pytest.raises(TypeError, match=r"sigma must be an array of shape \(3,\) or a number, got None"):
        classifier_batch(z, z, None, np.zeros((6, 2)))


def test_classifier_batch_keeps_half_precision_and_promotes_mixed_dtypes():
    torch = pytest.importorskip("torch")
    half = torch.zeros(2, 3, dtype=torch.bfloat16)
    batch = classifier_batch(half, half, 0.3, torch.ones(4, 3, dtype=torch.bfloat16))
    assert batch.x_t.dtype == torch.bfloat16
    assert batch.sigma.dtype == torch.float32  # levels are never rounded to half precision
    assert float(batch.sigma[0]) == float(torch.tensor(0.3))
    mixed = classifier_batch(np.zeros((2, 3), np.float32), np.zeros((2, 3)), 0.5, np.ones((4, 3)))
    assert mixed.x_t.dtype == np.float64


@pytest.mark.parametrize("schedule", ["vp", "ve", "flow"])
def test_log_normal_levels_are_the_edm_quantiles_in_any_units(schedule):
    u = np.linspace(0.0005, 0.9995, 41)
    levels = sample_levels(u, base=LogNormal(mean=-0.4, std=1.3), schedule=schedule)
    nu = schedule_free_level(levels, schedule=schedule)
    np.testing.assert_allclose(np.log(nu), -0.4 + 1.3 * stats.norm.ppf(u), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(
        sample_levels(u, schedule=schedule), sample_levels(u, base=LogNormal(), schedule=schedule)
    )


def test_levels_of_other_bases(backend):
    u = np.array([0.0, 0.25, 0.5, 0.9])
    tol = 20 * backend.eps
    same = sample_levels(backend.asarray(u), base=UniformVP(), schedule="vp")
    np.testing.assert_array_equal(backend.to_numpy(same), backend.to_numpy(backend.asarray(u)))  # no conversion
    ve = sample_levels(backend.asarray(u), base=UniformVP(), schedule="ve")
    np.testing.assert_allclose(backend.to_numpy(ve), u / np.sqrt(1 - u * u), rtol=tol, atol=tol)
    vp = sample_levels(backend.asarray(u), base=LogitNormal(mean=0.3, std=0.8), schedule="vp")
    t = special.expit(0.3 + 0.8 * stats.norm.ppf(u))  # flow time; b/a = t / (1 - t)
    nu = t / (1 - t)
    np.testing.assert_allclose(backend.to_numpy(vp), nu / np.sqrt(1 + nu * nu), rtol=100 * backend.eps, atol=tol)


def test_sampled_levels_follow_the_base_distribution():
    """Kolmogorov-Smirnov against scipy's log-normal: 20000 draws, seed 1, p-value above 0.01."""
    u = np.random.default_rng(1).random(20000)
    nu = sample_levels(u, base=LogNormal(mean=-1.2, std=1.2), schedule="ve")
    assert stats.kstest(nu, stats.lognorm(s=1.2, scale=math.exp(-1.2)).cdf).pvalue > 0.01


def test_sample_levels_bad_input():
    with pytest.raises(ValueError, match=r"u must contain uniforms in \[0, 1\), got 1.0 at index \(1,\)"):
        sample_levels(np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="u must contain uniforms"):
        sample_levels(np.array([np.nan]))
    with pytest.raises(TypeError, match=r"base must be an ambientloss\.sampling\.Base .* got str"):
        sample_levels(np.array([0.5]), base="log_normal")
    with pytest.raises(TypeError, match="u must have a real floating dtype"):
        sample_levels(np.array([0, 1]))


def _bce_reference(z, y):
    """-log P(label) with scipy's log_expit (exact to double precision)."""
    return -np.where(y, special.log_expit(z), special.log_expit(-z))


def test_binary_cross_entropy_matches_scipy_and_the_label_convention(backend):
    z = np.array([-30.0, -3.0, -0.5, 0.0, 0.7, 4.0, 25.0])
    is_corrupt = np.array([True, False, True, False, True, True, False])
    tol = 20 * backend.eps
    got = binary_cross_entropy(backend.asarray(z), backend.asarray(is_corrupt), positive="corrupt", reduction="none")
    np.testing.assert_allclose(backend.to_numpy(got), _bce_reference(z, is_corrupt), rtol=tol, atol=tol)
    flipped = binary_cross_entropy(backend.asarray(-z), backend.asarray(is_corrupt), positive="clean", reduction="none")
    np.testing.assert_allclose(backend.to_numpy(flipped), backend.to_numpy(got), rtol=tol, atol=tol)
    as_numbers = binary_cross_entropy(
        backend.asarray(z), backend.asarray(is_corrupt.astype(float)), positive="corrupt", reduction="mean"
    )
    np.testing.assert_allclose(float(as_numbers), _bce_reference(z, is_corrupt).mean(), rtol=tol)
    total = binary_cross_entropy(backend.asarray(z), backend.asarray(is_corrupt), positive="corrupt", reduction="sum")
    np.testing.assert_allclose(float(total), _bce_reference(z, is_corrupt).sum(), rtol=tol)


def test_binary_cross_entropy_is_finite_with_exact_limits_at_huge_logits():
    z = np.array([1e4, -1e4, 800.0, -800.0], dtype=np.float32)
    y = np.array([True, True, False, False])
    got = binary_cross_entropy(z, y, positive="corrupt", reduction="none")
    np.testing.assert_array_equal(got, np.array([0.0, 1e4, 800.0, 0.0], dtype=np.float32))
    torch = pytest.importorskip("torch")
    logits = torch.tensor(z, requires_grad=True)
    binary_cross_entropy(logits, torch.tensor(y), positive="corrupt", reduction="sum").backward()
    np.testing.assert_array_equal(logits.grad.numpy(), [0.0, -1.0, 1.0, 0.0])  # sigmoid(z) - y


def test_class_probability(backend):
    z = np.array([-40.0, -1.0, 0.0, 2.5, 40.0])
    tol = 20 * backend.eps
    corrupt = class_probability(backend.asarray(z), positive="corrupt", probability="corrupt")
    clean = class_probability(backend.asarray(z), positive="corrupt", probability="clean")
    np.testing.assert_allclose(backend.to_numpy(corrupt), special.expit(z), rtol=tol, atol=tol)
    np.testing.assert_allclose(backend.to_numpy(clean), special.expit(-z), rtol=tol, atol=tol)
    same = class_probability(backend.asarray(z), positive="clean", probability="clean")
    np.testing.assert_allclose(backend.to_numpy(same), special.expit(z), rtol=tol, atol=tol)


def test_label_convention_is_never_guessed():
    z, y = np.zeros(2), np.array([True, False])
    with pytest.raises(TypeError, match="positive"):
        binary_cross_entropy(z, y)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match=r"positive must be 'clean' or 'corrupt'.*got 'good'"):
        binary_cross_entropy(z, y, positive="good")
    with pytest.raises(ValueError, match="probability must be 'clean' or 'corrupt'"):
        class_probability(z, positive="corrupt", probability=1)
    with pytest.raises(ValueError, match=r"is_corrupt must be 0/1 or boolean, got 2.0 at index \(1,\)"):
        binary_cross_entropy(z, np.array([0.0, 2.0]), positive="corrupt")
    with pytest.raises(ValueError, match=r"is_corrupt must have the shape of logits \(2,\), got \(2, 1\)"):
        binary_cross_entropy(z, y[:, None], positive="corrupt")
    with pytest.raises(ValueError, match="logits must not be NaN"):
        binary_cross_entropy(np.array([0.0, np.nan]), y, positive="corrupt")
    with pytest.raises(ValueError, match="unknown reduction 'avg'"):
        binary_cross_entropy(z, y, positive="corrupt", reduction="avg")


# --- the torch classifier ------------------------------------------------------------------------

torch = pytest.importorskip("torch")
from ambientloss.adapters.torch_classifier import NoiseConditionalClassifier, fit_classifier  # noqa: E402
from ambientloss.annotation import ClassifierAtChanceWarning  # noqa: E402


@pytest.fixture
def one_thread():
    """Training speed on a shared CPU: one intra-op thread, restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(
    ("shape", "pooling"), [((4,), "flatten"), ((8, 2), "mean"), ((8, 2), "conv")], ids=["vector", "chunk", "conv"]
)
def test_classifier_learns_the_bayes_accuracy(one_thread, shape, pooling):
    """Two unit Gaussians 3 apart, VP: the balanced Bayes accuracy at level s is Phi(sqrt(1 - s^2) * 3 / 2).

    Training: seed 0, 400 Adam steps of 256 + 256 samples. Evaluation: 20000 fresh samples per class
    (standard error < 0.0035); the trained accuracy must lie within 0.02 of the Bayes accuracy at every
    level, so it is high at low noise (0.93) and within 0.05 of chance at s = 0.999 (Bayes 0.527).
    """
    g = torch.Generator().manual_seed(0)
    mu = torch.full(shape, 3.0 / math.sqrt(math.prod(shape)))
    clean, corrupt = torch.randn(4096, *shape, generator=g), torch.randn(4096, *shape, generator=g) + mu
    with torch.random.fork_rng(devices=[]):  # seeded initial weights; the global generator is left alone
        torch.manual_seed(0)
        model = NoiseConditionalClassifier(shape, positive="corrupt", hidden=64, pooling=pooling)
    fit = fit_classifier(model, clean, corrupt, steps=400, base=LogNormal(mean=0.0, std=2.0), generator=g, holdout=0)
    assert fit.quality is None
    assert fit.n_train == (4096, 4096)
    losses = fit.losses
    assert np.mean(losses[-20:]) < math.log(2) - 0.2  # chance level is log 2
    n = 20000
    for s in (0.05, 0.6, 0.95, 0.999):
        x_clean, x_corrupt = torch.randn(n, *shape, generator=g), torch.randn(n, *shape, generator=g) + mu
        batch = classifier_batch(x_clean, x_corrupt, s, torch.randn(2 * n, *shape, generator=g))
        p = model.probability(batch.x_t, batch.sigma, probability="corrupt")
        accuracy = float(((p > 0.5) == batch.is_corrupt).double().mean())
        bayes = stats.norm.cdf(math.sqrt(1 - s * s) * 3 / 2)
        assert abs(accuracy - bayes) < 0.02, (s, accuracy, bayes)
    assert abs(accuracy - 0.5) < 0.05


def test_classifier_conventions_shapes_and_dtypes():
    model = NoiseConditionalClassifier((5, 3), positive="clean", hidden=16, depth=1)
    x = torch.randn(6, 5, 3, generator=torch.Generator().manual_seed(0))
    sigma = torch.linspace(0.0, 1.0, 6)  # both ends of VP: finite embeddings
    logits = model(x, sigma)
    assert logits.shape == (6,)
    assert torch.isfinite(logits).all()
    assert model(x[0], 0.3).shape == ()
    torch.testing.assert_close(model(x[:1], 0.3)[0], model(x[0], 0.3))
    torch.testing.assert_close(model(x.double(), sigma.double()), logits)
    p_clean = model.probability(x, sigma, probability="clean")
    torch.testing.assert_close(p_clean, torch.sigmoid(logits))
    torch.testing.assert_close(p_clean + model.probability(x, sigma, probability="corrupt"), torch.ones(6))
    labels = torch.tensor([True, False] * 3)
    loss = model.loss(x, sigma, labels, reduction="none")
    torch.testing.assert_close(loss, binary_cross_entropy(-logits, labels, positive="corrupt", reduction="none"))
    ve = NoiseConditionalClassifier(3, positive="corrupt", schedule="ve", hidden=8)
    big = torch.randn(3, 3, generator=torch.Generator().manual_seed(1)) * 1e3
    assert torch.isfinite(ve(big, torch.tensor([0.0, 10.0, 1e3]))).all()


def test_classifier_bad_input():
    with pytest.raises(TypeError, match="positive"):
        NoiseConditionalClassifier(4)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="positive must be 'clean' or 'corrupt'"):
        NoiseConditionalClassifier(4, positive="bad")
    for pooling in ("mean", "conv"):
        with pytest.raises(ValueError, match=r"pooling must be 'flatten', or 'mean' or 'conv' for \(T, D\) chunks"):
            NoiseConditionalClassifier(4, positive="corrupt", pooling=pooling)
    with pytest.raises(ValueError, match=r"pooling must be .* got 'max'"):
        NoiseConditionalClassifier((8, 2), positive="corrupt", pooling="max")
    with pytest.raises(ValueError, match=r"shape must be \(D,\) or \(T, D\)"):
        NoiseConditionalClassifier((2, 3, 4), positive="corrupt")
    model = NoiseConditionalClassifier(4, positive="corrupt", hidden=8)
    with pytest.raises(ValueError, match=r"x_t must have shape \(B, 4\) or \(4,\), got \(2, 5\)"):
        model(torch.zeros(2, 5), 0.5)
    with pytest.raises(ValueError, match=r"sigma must be a number or have shape \(2,\), got \(3,\)"):
        model(torch.zeros(2, 4), torch.zeros(3))
    with pytest.raises(ValueError, match=r"sigma=2\.0 is outside the domain"):
        model(torch.zeros(2, 4), torch.tensor([0.5, 2.0]))
    with pytest.raises(ValueError, match=r"clean must have shape \(N, 4\)"):
        fit_classifier(model, torch.zeros(3, 5), torch.zeros(3, 4), steps=1)
    with pytest.raises(ValueError, match="steps and batch_size must be >= 1"):
        fit_classifier(model, torch.zeros(3, 4), torch.zeros(3, 4), steps=0)
    with pytest.raises(ValueError, match=r"holdout must be a fraction in \[0, 1\), got 1"):
        fit_classifier(model, torch.zeros(3, 4), torch.zeros(3, 4), steps=1, holdout=1)
    with pytest.raises(ValueError, match="clean has 1 row; holding out needs at least 2"):
        fit_classifier(model, torch.zeros(1, 4), torch.zeros(3, 4), steps=1)
    with pytest.raises(ValueError, match="give seed or generator, not both"):
        fit_classifier(model, torch.zeros(3, 4), torch.zeros(3, 4), steps=1, seed=0, generator=torch.Generator())
    with pytest.raises(ValueError, match="on_chance must be"):
        fit_classifier(model, torch.zeros(3, 4), torch.zeros(3, 4), steps=1, on_chance="shout")


def test_classifier_takes_half_precision_input_with_full_precision_levels():
    model = NoiseConditionalClassifier(4, positive="corrupt", hidden=8)
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(1))
    sigma = torch.tensor([0.1, 0.5, 0.999])
    torch.testing.assert_close(model(x.bfloat16(), sigma), model(x.bfloat16().float(), sigma))


# --- held-out quality and the seed --------------------------------------------------------------------


def _two_gaussians(gap, n=1000, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, generator=g), torch.randn(n, 2, generator=g) + torch.tensor([gap, 0.0])


def test_fit_is_a_function_of_the_seed_and_leaves_the_global_generator_alone(one_thread):
    clean, corrupt = _two_gaussians(3.0, n=200)
    fits, params = [], []
    for seed in (5, 5, 6):
        model = NoiseConditionalClassifier(2, positive="corrupt", hidden=16)  # a different init each time
        before = torch.random.get_rng_state()
        fits.append(fit_classifier(model, clean, corrupt, steps=20, batch_size=32, seed=seed))
        assert torch.equal(torch.random.get_rng_state(), before)
        params.append(torch.cat([p.detach().reshape(-1) for p in model.parameters()]))
    assert fits[0].losses == fits[1].losses
    assert torch.equal(params[0], params[1])
    np.testing.assert_array_equal(fits[0].quality.auc, fits[1].quality.auc)
    assert fits[0].losses != fits[2].losses
    assert fits[0].n_held_out == (40, 40)  # round(0.2 * 200)
    assert fits[0].n_train == (160, 160)


@pytest.mark.parametrize("pooling", ["mean", "conv"])
def test_the_seed_draws_every_parameter(one_thread, pooling):
    """Chunk models: two fits with one seed from different initial parameters end identical."""
    g = torch.Generator().manual_seed(1)
    clean, corrupt = torch.randn(20, 6, 2, generator=g), torch.randn(20, 6, 2, generator=g) + 1
    params = []
    for init in (0, 1):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init)
            model = NoiseConditionalClassifier((6, 2), positive="corrupt", hidden=8, pooling=pooling)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(init)  # the learned positions too
        fit_classifier(model, clean, corrupt, steps=2, batch_size=4, seed=3, on_chance="ignore")
        params.append(torch.cat([p.detach().reshape(-1) for p in model.parameters()]))
    assert torch.equal(params[0], params[1])


def test_a_separating_classifier_passes_the_check(one_thread):
    """Gaussians 4 apart, seed 0, 300 steps, 200 held-out rows per class: no warning.

    At the lowest level (the base's 5 % quantile, s = 0.042) the Bayes AUC is Phi(4 a / sqrt(2)) = 0.998;
    the held-out AUC must exceed 0.95 (the chance margin is 0.087).
    """
    clean, corrupt = _two_gaussians(4.0)
    model = NoiseConditionalClassifier(2, positive="corrupt", hidden=32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = fit_classifier(model, clean, corrupt, steps=300, seed=0)
    q = fit.quality
    assert (q.n_clean, q.n_corrupt) == (200, 200)
    assert q.levels.shape == (10,)
    assert np.all(np.diff(q.levels) > 0)
    assert q.auc[0] > 0.95  # Bayes AUC at s <= 0.05: Phi(4 / sqrt(2)) = 0.998
    assert not q.at_chance()[0]
    assert q.auc[0] >= q.auc[-1]  # separation falls with the noise level


def test_a_chance_classifier_is_named(one_thread):
    """Clean and corrupt rows from one law: no classifier can do better than chance (seed 0)."""
    clean, corrupt = _two_gaussians(0.0)
    model = NoiseConditionalClassifier(2, positive="corrupt", hidden=16)
    with pytest.warns(ClassifierAtChanceWarning, match="either|Either") as record:
        fit = fit_classifier(model, clean, corrupt, steps=30, seed=0)
    message = str(record[0].message)
    assert "clean-like" in message or "look clean" in message
    assert "Train it longer" in message
    assert fit.quality.at_chance()[0]
    with pytest.raises(ValueError, match="cannot tell clean from corrupt"):
        fit_classifier(model, clean, corrupt, steps=30, seed=0, on_chance="raise")


def test_quality_levels_can_be_given(one_thread):
    clean, corrupt = _two_gaussians(4.0, n=100)
    model = NoiseConditionalClassifier(2, positive="corrupt", hidden=16)
    fit = fit_classifier(model, clean, corrupt, steps=100, seed=1, quality_levels=[0.0, 0.5, 0.999])
    np.testing.assert_array_equal(fit.quality.levels, [0.0, 0.5, 0.999])
    with pytest.raises(ValueError, match="strictly increasing"):
        fit_classifier(model, clean, corrupt, steps=1, seed=1, quality_levels=[0.5, 0.1])


def test_one_seed_gives_one_fit_in_two_processes():
    """The fit depends on the seed alone, not on the process (hash seeds, global generator state)."""
    import subprocess
    import sys

    code = (
        "import torch; torch.set_num_threads(1); torch.manual_seed(int(__import__('os').getpid()))\n"
        "from ambientloss.adapters.torch_classifier import NoiseConditionalClassifier, fit_classifier\n"
        "g = torch.Generator().manual_seed(0)\n"
        "clean, corrupt = torch.randn(100, 2, generator=g), torch.randn(100, 2, generator=g) + 3\n"
        "fit = fit_classifier(NoiseConditionalClassifier(2, positive='corrupt', hidden=8), clean, corrupt,\n"
        "                     steps=10, batch_size=16, seed=7)\n"
        "print(fit.losses, fit.quality.auc.tolist())"
    )
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True) for _ in "ab"]
    assert runs[0].stdout == runs[1].stdout
    assert runs[0].stdout.startswith("[")
