"""Sigma-first assembly: exact counts, level marginal, source mixture, uniform choice, importance weights.

Every probability the tests compare against is computed by brute force from
:func:`ambientloss.usable` (a full ``(draws, N)`` mask), independently of the sorted
tables and ``searchsorted`` of :class:`SigmaFirst`. Statistical tests are seeded (``SEED`` below,
``numpy.random.default_rng``) and use a significance level ``ALPHA = 1e-3`` (chi-squared p-values),
or Bonferroni-corrected z-scores at the same family-wise level for weighted histograms.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from ambientloss import Buffer, threshold, usable
from ambientloss.sampling import DiscreteTimesteps, LogNormal, UniformVP, sample_truncated
from ambientloss.sampling.sigma_first import SigmaFirst

SEED = 20260301
ALPHA = 1e-3
BUFFER = Buffer.from_s_max(4)


def _annotations(n: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """VE annotations: a third clean, two sources; some corrupt samples have a low-noise branch."""
    rng = np.random.default_rng(seed)
    m = np.where(rng.random(n) < 1 / 3, 0.0, rng.uniform(0.05, 3.0, n))
    top = np.where(rng.random(n) < 0.3, rng.uniform(0.01, 0.6, n), 0.0)
    src = (np.arange(n) % 2).astype(np.int64)
    m[:2] = 0.0  # both sources keep a clean sample: never empty at any positive level
    return m, top, src


def _brute(plan: SigmaFirst, m: np.ndarray, top: np.ndarray, src: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """``P(i | sigma)`` for every draw and sample, shape ``(B, N)``, from the full usability mask."""
    shape = (sigma.size, m.size)
    ok = usable(*(np.broadcast_to(a, shape) for a in (sigma[:, None], m, top)), buffer=BUFFER, schedule="ve")
    k_count = np.stack([ok[:, src == k].sum(axis=1) for k in range(src.max() + 1)], axis=1)
    w = plan.weights[None, :] * (k_count > 0 if plan.empty == "renormalize" else 1)
    pi = w / w.sum(axis=1, keepdims=True)
    return ok * pi[:, src] / np.maximum(k_count[:, src], 1)


def _clear_of_boundaries(sigma: np.ndarray, m: np.ndarray, top: np.ndarray, rel: float = 1e-9) -> bool:
    """No level within ``rel`` (relative) of a usability boundary (a threshold or a ``sigma_max``).

    A draw's sample depends on its level only through which samples are usable there. Another backend
    computes the level ``icdf(u)`` through its own ``exp`` / ``log``, a few ulp (1e-15) away from NumPy's;
    levels this far from every boundary therefore select the same sample on every backend and processor.
    """
    edges = np.concatenate([threshold(m[m > 0], buffer=BUFFER, schedule="ve"), top[top > 0]])
    return bool(np.min(np.abs(np.asarray(sigma)[:, None] - edges[None, :]) / edges[None, :]) > rel)


def test_counts_match_brute_force_at_every_boundary(backend):
    m, top, src = _annotations(60)
    plan = SigmaFirst(backend.asarray(m), backend.asarray(top), src, base=LogNormal(), buffer=BUFFER)
    thr = backend.to_numpy(plan.threshold).astype(np.float64)
    edges = np.concatenate([thr, top, np.nextafter(thr, np.inf), np.nextafter(top, -np.inf), [0.0, 1e-3, 50.0]])
    edges = np.unique(backend.to_numpy(backend.asarray(edges[edges >= 0])).astype(np.float64))  # in the dtype
    counts = backend.to_numpy(plan.counts(backend.asarray(edges)))
    ok = usable(
        backend.asarray(np.repeat(edges, m.size)),
        backend.asarray(np.tile(m, edges.size)),
        backend.asarray(np.tile(top, edges.size)),
        buffer=BUFFER,
        schedule="ve",
    )
    ok = backend.to_numpy(ok).reshape(edges.size, m.size)
    expected = np.stack([ok[:, src == k].sum(axis=1) for k in (0, 1)], axis=1)
    np.testing.assert_array_equal(counts, expected)


def test_every_draw_is_usable_and_matches_numpy(backend):
    m, top, src = _annotations(40)
    u = np.random.default_rng(SEED).random((500, 3))
    plan = SigmaFirst(backend.asarray(m), backend.asarray(top), src, base=LogNormal(), buffer=BUFFER)
    draws = plan(backend.asarray(u))
    idx, sigma = backend.to_numpy(draws.index), backend.to_numpy(draws.sigma)
    assert idx.min() >= 0
    ok = usable(
        backend.asarray(sigma), backend.asarray(m[idx]), backend.asarray(top[idx]), buffer=BUFFER, schedule="ve"
    )
    assert backend.to_numpy(ok).all()
    np.testing.assert_array_equal(backend.to_numpy(draws.source), src[idx])
    if "float64" in backend.name:
        ref = SigmaFirst(m, top, src, base=LogNormal(), buffer=BUFFER)(u)
        assert _clear_of_boundaries(ref.sigma, m, top)  # so the same samples are selected (see there)
        np.testing.assert_array_equal(idx, ref.index)


def test_level_marginal_is_the_base_law_chi_squared():
    """20 equiprobable bins of the log-normal, 40 000 draws: Pearson chi-squared p-value > ALPHA."""
    m, top, src = _annotations(300)
    plan = SigmaFirst(m, top, src, base=LogNormal(), buffer=BUFFER, weights=[1, 3])
    sigma = plan.draw(np.random.default_rng(SEED), 40_000).sigma
    edges = LogNormal().icdf(np.linspace(0, 1, 21)[1:-1])
    observed = np.bincount(np.searchsorted(edges, sigma), minlength=20)
    assert stats.chisquare(observed).pvalue > ALPHA


def test_discrete_timesteps_marginal_chi_squared():
    """DDPM, 20 steps, uniform timesteps: 20 000 draws, chi-squared over the 20 timesteps, p > ALPHA."""
    base = DiscreteTimesteps.from_diffusers("squaredcos_cap_v2", num_train_timesteps=20)
    levels = base.levels
    m = np.array([0.0, 0.0, levels[5], levels[12], levels[3], levels[18]])
    top = np.array([0.0, 0.0, 0.0, levels[2], 0.0, 0.0])
    plan = SigmaFirst(m, top, np.array([0, 1, 0, 1, 0, 1]), base=base)
    draws = plan.draw(np.random.default_rng(SEED), 20_000)
    steps = np.searchsorted(levels, draws.sigma)
    np.testing.assert_array_equal(levels[steps], draws.sigma)
    assert stats.chisquare(np.bincount(steps, minlength=20)).pvalue > ALPHA
    # strictly above t_n: sample 2 (t_n = 5) is never drawn at timesteps <= 5
    assert steps[draws.index == 2].min() == 6


@pytest.mark.parametrize("empty", ["raise", "renormalize"])
def test_sample_and_source_frequencies_match_exact_probabilities(empty):
    """N = 14 samples, 60 000 draws: per-sample counts against sum_b P(i | sigma_b), chi-squared p > ALPHA.

    This checks the source mixture (weights 1 : 2) and the uniform choice within a source together;
    the per-source share among usable samples is also compared (binomial z-score below 4).
    """
    m, top, src = _annotations(14, seed=SEED + 1)
    if empty == "renormalize":
        m[1] = 0.4  # source 1 is now empty at low levels
    plan = SigmaFirst(m, top, src, base=LogNormal(), buffer=BUFFER, weights=[1, 2], empty=empty)
    draws = plan.draw(np.random.default_rng(SEED), 60_000)
    prob = _brute(plan, m, top, src, draws.sigma)
    expected = prob.sum(axis=0)
    observed = np.bincount(draws.index, minlength=m.size)
    keep = expected > 0
    assert observed[~keep].sum() == 0
    assert stats.chisquare(observed[keep], expected[keep] * observed.sum() / expected[keep].sum()).pvalue > ALPHA
    share = prob[:, src == 1].sum() / prob.shape[0]
    got = np.mean(draws.source == 1)
    assert abs(got - share) < 4 * math.sqrt(share * (1 - share) / draws.index.size)
    if empty == "raise":
        assert abs(share - 2 / 3) < 1e-12  # the requested mixture, exactly, at every level


def test_source_probabilities_match_brute_force():
    m, top, src = _annotations(30)
    m[1] = 0.5
    plan = SigmaFirst(m, top, src, base=LogNormal(), buffer=BUFFER, weights=[3, 1], empty="renormalize")
    sigma = np.geomspace(1e-3, 20, 200)
    ok = usable(
        *(np.broadcast_to(a, (sigma.size, m.size)) for a in (sigma[:, None], m, top)), buffer=BUFFER, schedule="ve"
    )
    nonempty = np.stack([ok[:, src == k].any(axis=1) for k in (0, 1)], axis=1)
    w = np.array([0.75, 0.25]) * nonempty
    np.testing.assert_allclose(plan.source_probabilities(sigma), w / w.sum(axis=1, keepdims=True), rtol=1e-15)


def _bonferroni(cells: int) -> float:
    return float(stats.norm.isf(ALPHA / (2 * cells)))


def _weighted_cells(weight: np.ndarray, cell: np.ndarray, n_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Weighted frequency per cell and its standard error (sample std of ``w 1[cell]`` / sqrt(n))."""
    n = weight.size
    freq = np.bincount(cell, weights=weight, minlength=n_cells) / n
    second = np.bincount(cell, weights=weight**2, minlength=n_cells) / n
    return freq, np.sqrt(np.maximum(second - freq**2, 0) / n)


def test_importance_weights_turn_data_first_into_sigma_first():
    """Data-first draws (uniform sample, truncated level) weighted to the sigma-first law.

    Sigma-first with weights 1 : 1 and no empty source has ``P(source k, sigma in bin) = 1/2 P(bin)``
    exactly: 2 sources x 10 equiprobable bins, 80 000 weighted draws, every cell within the
    Bonferroni z-bound; the weights have mean 1.
    """
    m, top, src = _annotations(40)
    plan = SigmaFirst(m, top, src, base=LogNormal(), buffer=BUFFER)
    rng = np.random.default_rng(SEED)
    n = 80_000
    idx = rng.integers(0, m.size, n)
    sigma = sample_truncated(rng.random(n), m[idx], top[idx], base=LogNormal(), buffer=BUFFER)
    w = plan.importance_weights(idx, sigma, to="sigma_first")
    edges = LogNormal().icdf(np.linspace(0, 1, 11)[1:-1])
    cell = src[idx] * 10 + np.searchsorted(edges, sigma)
    freq, se = _weighted_cells(w, cell, 20)
    assert np.max(np.abs(freq - 0.05) / se) < _bonferroni(20)
    assert abs(w.mean() - 1) < _bonferroni(1) * w.std() / math.sqrt(n)


def test_importance_weights_turn_sigma_first_into_data_first():
    """Sigma-first draws weighted to the data-first law ``P(i, sigma in bin) = P(bin & A_i) / (N Z_i)``.

    N = 8 samples (one with two disjoint intervals) x 6 bins, 80 000 draws, renormalised sources.
    """
    m = np.array([0.0, 0.0, 0.3, 1.5, 0.8, 2.5, 0.0, 0.6])
    top = np.array([0.0, 0.0, 0.0, 0.2, 0.0, 0.0, 0.0, 0.9])  # sample 3: (0, 0.2) U (1.73, inf)
    src = np.array([0, 1, 0, 1, 0, 1, 0, 0])
    base = LogNormal()
    plan = SigmaFirst(m, top, src, base=base, buffer=BUFFER, weights=[1, 1], empty="renormalize")
    draws = plan.draw(np.random.default_rng(SEED), 80_000)
    w = plan.importance_weights(draws.index, draws.sigma, to="data_first")
    edges = np.array([0.0, 0.15, 0.4, 1.0, 2.0, 3.5, np.inf])
    cell = draws.index * 6 + np.searchsorted(edges, draws.sigma, side="right") - 1
    freq, se = _weighted_cells(w, cell, m.size * 6)
    thr = m * BUFFER.factor
    expected = np.zeros(m.size * 6)
    for i in range(m.size):
        for b in range(6):
            lo, hi = edges[b], edges[b + 1]
            mass = max(base.cdf(hi) - base.cdf(max(lo, thr[i])), 0.0)  # the part above the threshold
            if top[i] > thr[i]:  # the two branches overlap: every positive level
                mass = base.cdf(hi) - base.cdf(lo)
            elif top[i] > 0:
                mass += max(base.cdf(min(hi, top[i])) - base.cdf(lo), 0.0)  # the low-noise branch
            expected[i * 6 + b] = mass / (m.size * plan.mass[i])
    assert abs(expected.sum() - 1) < 1e-12
    z = np.abs(freq - expected) / np.where(se > 0, se, 1.0)
    assert np.all(freq[expected == 0] == 0)
    assert np.max(z) < _bonferroni(expected.size)


def test_jax_jit_matches_eager_and_marks_failed_draws():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    from ambientloss.adapters.jax_data import sigma_first

    m, top, src = _annotations(30)
    u = np.random.default_rng(SEED).random((256, 3))
    plan = SigmaFirst(jnp.asarray(m), jnp.asarray(top), jnp.asarray(src), base=LogNormal(), buffer=BUFFER)
    jitted = jax.jit(lambda u: plan(u))(jnp.asarray(u))
    ref = SigmaFirst(m, top, src, base=LogNormal(), buffer=BUFFER)(u)
    assert _clear_of_boundaries(ref.sigma, m, top)  # XLA's fused exp need not match NumPy's last bit
    np.testing.assert_array_equal(np.asarray(jitted.index), ref.index)
    keyed = jax.jit(lambda key: sigma_first(key, plan, 64))(jax.random.key(0))
    assert keyed.index.shape == (64,)
    assert int(keyed.index.min()) >= 0
    corrupt = SigmaFirst(jnp.asarray([0.0, 1.0]), None, jnp.asarray([0, 1]), base=LogNormal())
    low = jnp.asarray([[0.01, 0.9, 0.5], [0.99, 0.9, 0.5]])  # levels far below and far above 1.0
    out = jax.jit(lambda u: corrupt(u))(low)
    assert out.index.tolist() == [-1, 1]
    with pytest.raises(ValueError, match="source 1 has no usable sample"):
        corrupt(low)


def test_draw_is_deterministic_given_the_generator():
    m, top, src = _annotations(20)
    plan = SigmaFirst(m, top, src, base=LogNormal(), buffer=BUFFER)
    a, b = plan.draw(np.random.default_rng(7), 100), plan.draw(np.random.default_rng(7), 100)
    np.testing.assert_array_equal(a.index, b.index)
    np.testing.assert_array_equal(a.sigma, b.sigma)
    one = plan(np.array([0.5, 0.5, 0.5]))
    assert one.index.shape == ()
    assert one.sigma.shape == ()


def test_errors_name_the_argument_and_the_value():
    base = UniformVP()
    with pytest.raises(ValueError, match=r"source 1 has no usable sample at sigma=0\.2 .*empty='renormalize'"):
        SigmaFirst(np.array([0.0, 0.5]), None, np.array([0, 1]), base=base)(np.array([[0.2, 0.5, 0.5]]))
    with pytest.raises(ValueError, match=r"no sample of any source is usable at sigma=0\.1"):
        SigmaFirst(np.array([0.5, 0.5]), base=base, empty="renormalize")(np.array([[0.1, 0.5, 0.5]]))
    with pytest.raises(ValueError, match=r"u must lie in \[0, 1\), got 1\.0"):
        SigmaFirst(np.array([0.0]), base=base)(np.array([[1.0, 0.5, 0.5]]))
    with pytest.raises(ValueError, match=r"shape \(B, 3\)"):
        SigmaFirst(np.array([0.0]), base=base)(np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="sigma_min must not be NaN"):
        SigmaFirst(np.array([0.0, np.nan]), base=base)
    with pytest.raises(ValueError, match=r"sigma_min=1\.0 has no usable level .* at index \(1,\)"):
        SigmaFirst(np.array([0.0, 1.0]), base=base)
    with pytest.raises(ValueError, match=r"source 1 has weight 0\.5 but no samples"):
        SigmaFirst(np.array([0.0, 0.2]), None, np.array([0, 0]), base=base, weights=[1, 1])
    with pytest.raises(ValueError, match=r"source ids must lie in \[0, 2\)"):
        SigmaFirst(np.array([0.0, 0.2]), None, np.array([0, 2]), base=base, weights=[1, 1])
    with pytest.raises(ValueError, match="weights must be finite, non-negative"):
        SigmaFirst(np.array([0.0]), base=base, weights=[-1.0])
    with pytest.raises(TypeError, match="source must have an integer dtype"):
        SigmaFirst(np.array([0.0]), None, np.array([0.5]), base=base)
    with pytest.raises(ValueError, match="empty must be one of"):
        SigmaFirst(np.array([0.0]), base=base, empty="skip")
    with pytest.raises(ValueError, match="sigma_min must be an array of shape"):
        SigmaFirst(np.zeros((2, 2)), base=base)
    plan = SigmaFirst(np.array([0.0, 0.5]), base=base)
    with pytest.raises(ValueError, match=r"sigma=0\.3 is not usable"):
        plan.importance_weights(np.array([1]), np.array([0.3]))
    with pytest.raises(ValueError, match="to must be"):
        plan.importance_weights(np.array([0]), np.array([0.3]), to="clean")
