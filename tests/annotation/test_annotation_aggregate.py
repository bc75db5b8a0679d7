"""Aggregation (buckets, sources, quality quantiles), sigma_max from windows, and unit-carrying annotations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

import ambientloss as al
from ambientloss.annotation import (
    SIGMA_MAX_TABLES,
    Annotation,
    WindowTable,
    bucket_sigma_min,
    quality_ranks,
    sigma_max_from_window_probs,
    sigma_min_by_quality,
    source_sigma_min,
)

# ------------------------------------------------------------------------------------------------
# quality scores -> sigma_min


def test_ranks_are_the_inverse_permutation():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=500)
    want = scipy.stats.rankdata(scores, method="ordinal") - 1
    np.testing.assert_array_equal(quality_ranks(scores), want)
    np.testing.assert_array_equal(quality_ranks(scores, higher_is_better=False), len(scores) - 1 - want)


def test_quality_bands_use_ranks_not_the_sorting_permutation():
    """The released ImageNet code used argsort(q) as the rank; its "good" set is then essentially random."""
    rng = np.random.default_rng(1)
    n = 1000
    scores = rng.uniform(size=n)
    levels = sigma_min_by_quality(scores, fractions=[0.8], levels=[0.2, 0.0])
    good = levels == 0.0
    true_top = scores >= np.sort(scores)[int(0.8 * n)]
    np.testing.assert_array_equal(good, true_top)
    assert good.sum() == 200
    wrong_rank = np.argsort(scores)  # what the released code computed
    wrong_good = wrong_rank >= 0.8 * n
    overlap = (wrong_good & true_top).sum() / true_top.sum()
    # a random 200-subset overlaps the top 200 by 0.2 on average (sd 0.028): 0.35 is over 5 sd away
    assert overlap < 0.35, overlap
    assert scores[good].mean() > 0.85 > scores[wrong_good].mean() + 0.2


def test_quality_bands_several_levels_and_bad_input():
    scores = np.array([5.0, 1.0, 4.0, 2.0, 3.0, 0.0])
    got = sigma_min_by_quality(scores, fractions=[1 / 3, 2 / 3], levels=[0.5, 0.2, 0.0])
    np.testing.assert_array_equal(got, [0.0, 0.5, 0.0, 0.2, 0.2, 0.5])
    worse_is_higher = sigma_min_by_quality(
        -scores, fractions=[1 / 3, 2 / 3], levels=[0.5, 0.2, 0.0], higher_is_better=False
    )
    np.testing.assert_array_equal(worse_is_higher, got)
    with pytest.raises(ValueError, match="increasing sequence in"):
        sigma_min_by_quality(scores, fractions=[0.5, 0.4], levels=[1, 2, 3])
    with pytest.raises(ValueError, match="len\\(fractions\\) \\+ 1 = 2"):
        sigma_min_by_quality(scores, fractions=[0.5], levels=[1.0])
    with pytest.raises(ValueError, match="NaN"):
        quality_ranks(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="non-empty 1-D"):
        quality_ranks(np.zeros((2, 2)))


# ------------------------------------------------------------------------------------------------
# buckets and sources


def ref_buckets(values: list[float], n_buckets: int, reduce: str) -> list[float]:
    n = len(values)
    bucket = [sum(v < x for v in values) * n_buckets // n for x in values]
    out = []
    for b in bucket:
        members = sorted(v for v, c in zip(values, bucket, strict=True) if c == b)
        if reduce == "max":
            out.append(members[-1])
        elif reduce == "min":
            out.append(members[0])
        elif reduce == "mean":
            out.append(sum(members) / len(members))
        else:
            k = len(members)
            out.append((members[(k - 1) // 2] + members[k // 2]) / 2)
    return out


@pytest.mark.parametrize("reduce", ["max", "min", "mean", "median"])
@pytest.mark.parametrize("n_buckets", [1, 3, 7])
def test_buckets_match_the_reference(reduce, n_buckets):
    rng = np.random.default_rng(2)
    values = np.round(rng.uniform(0, 2, size=50), 1)  # many ties
    got = bucket_sigma_min(values, n_buckets=n_buckets, reduce=reduce)
    np.testing.assert_allclose(got, ref_buckets(values.tolist(), n_buckets, reduce), rtol=1e-15)
    for v in np.unique(values):  # ties share a bucket, hence a level
        assert len(np.unique(got[values == v])) == 1
    if reduce == "max":
        assert np.all(got >= values)


def test_buckets_on_backends(backend):
    values = np.array([0.1, 0.4, 0.2, 0.9, 0.3, 0.8])
    got = bucket_sigma_min(backend.asarray(values), n_buckets=2, reduce=0.5)
    np.testing.assert_allclose(backend.to_numpy(got), [0.2, 0.8, 0.2, 0.8, 0.2, 0.8], rtol=1e-6)


def test_sources():
    rng = np.random.default_rng(3)
    values = rng.uniform(size=30)
    labels = rng.choice(["sim", "real", "web"], size=30).tolist()
    per_sample, table = source_sigma_min(values, labels, reduce="median")
    for lab in set(labels):
        member = np.array([lab == other for other in labels])
        assert table[lab] == pytest.approx(np.median(values[member]), rel=1e-15)
        np.testing.assert_array_equal(per_sample[member], table[lab])
    _, table_int = source_sigma_min(values, np.arange(30) % 2, reduce=1.0)
    assert table_int == {0: values[0::2].max(), 1: values[1::2].max()}
    with pytest.raises(ValueError, match="one label per sample"):
        source_sigma_min(values, labels[:3])
    with pytest.raises(ValueError, match="reduce must be one of"):
        source_sigma_min(values, labels, reduce="mode")
    with pytest.raises(ValueError, match="n_buckets must be a positive integer"):
        bucket_sigma_min(values, n_buckets=0)


# ------------------------------------------------------------------------------------------------
# sigma_max


def ref_sigma_max(means: dict[int, list[float]], table: dict[int, float], threshold: float, rule: str) -> list[float]:
    n = len(next(iter(means.values())))
    out = []
    for i in range(n):
        level = table[min(table)]
        ok_so_far = True
        for size in sorted(means):
            passes = means[size][i] > threshold
            if rule == "monotone":
                passes = passes and ok_so_far
                ok_so_far = passes
            if passes:
                level = table[size]
        out.append(level)
    return out


@pytest.mark.parametrize("rule", ["largest", "monotone"])
def test_sigma_max_matches_the_reference(rule):
    rng = np.random.default_rng(4)
    table = SIGMA_MAX_TABLES["ambient_o_afhq64"]
    sizes = [4, 8, 16, 24, 32, 48, 64]
    probs = {s: rng.uniform(0, 0.6, size=(40, (64 // s) ** 2)) for s in sizes}
    got = sigma_max_from_window_probs(probs, table, probability="clean", threshold=0.25, rule=rule)
    means = {s: probs[s].mean(axis=1).tolist() for s in sizes}
    np.testing.assert_array_equal(got, ref_sigma_max(means, dict(table.levels), 0.25, rule))
    flipped = {s: 1 - p for s, p in probs.items()}
    again = sigma_max_from_window_probs(flipped, table, probability="corrupt", threshold=0.25, rule=rule)
    np.testing.assert_allclose(again, got)


def test_sigma_max_tables_and_fallbacks():
    assert SIGMA_MAX_TABLES["ambient_o_afhq64"].schedule == "ve"
    assert dict(SIGMA_MAX_TABLES["ambient_o_imagenet512_latent"].levels)[64] == 200.0
    probs = {8: np.array([0.1, 0.5])}
    np.testing.assert_array_equal(
        sigma_max_from_window_probs(probs, {8: 0.3, 16: 0.5}, probability="clean", fallback="zero"), [0.0, 0.3]
    )
    np.testing.assert_array_equal(
        sigma_max_from_window_probs(probs, "ambient_o_afhq64", probability="clean", fallback=0.02), [0.02, 0.15]
    )
    custom = WindowTable({2: 0.05, 4: 0.1}, schedule="vp", unit="time steps")
    np.testing.assert_array_equal(
        sigma_max_from_window_probs({2: np.array([0.9]), 4: np.array([0.9])}, custom, probability="clean"), [0.1]
    )


@pytest.mark.parametrize(
    ("probs", "table", "kw", "error", "match"),
    [
        ({}, "ambient_o_afhq64", {}, ValueError, "at least one window size"),
        ({5: np.zeros(2)}, "ambient_o_afhq64", {}, ValueError, r"window sizes \[5\] are not in the table"),
        ({4: np.zeros(2)}, "nope", {}, ValueError, "unknown sigma_max table 'nope'"),
        ({4: np.zeros(2)}, 3, {}, TypeError, "table must be"),
        ({4: np.zeros(2)}, "ambient_o_afhq64", {"rule": "first"}, ValueError, "rule must be"),
        ({4: np.zeros(2)}, "ambient_o_afhq64", {"threshold": 1.5}, ValueError, "threshold must be"),
        ({4: np.array([0.1, 2.0])}, "ambient_o_afhq64", {}, ValueError, r"probs_by_size\[4\] must be probabilities"),
        ({4: np.zeros(2), 8: np.zeros(3)}, "ambient_o_afhq64", {}, ValueError, "same non-empty number of samples"),
        ({4: np.zeros((2, 2, 2))}, "ambient_o_afhq64", {}, ValueError, r"shape \(N,\) or \(N, n_windows\)"),
        ({4: np.zeros(2)}, "ambient_o_afhq64", {"fallback": "largest"}, ValueError, "fallback must be"),
    ],
)
def test_sigma_max_bad_input(probs, table, kw, error, match):
    with pytest.raises(error, match=match):
        sigma_max_from_window_probs(probs, table, probability="clean", **kw)


def test_window_table_checks_its_entries():
    with pytest.raises(ValueError, match="non-negative levels"):
        WindowTable({0: 0.1})
    with pytest.raises(ValueError, match="non-negative levels"):
        WindowTable({4: -0.1})


# ------------------------------------------------------------------------------------------------
# units


def test_annotation_converts_through_the_schedule_free_level():
    nu = 1.89
    ann = Annotation(nu, sigma_max=0.15, schedule="ve")
    vp, flow = ann.to("vp"), ann.to("flow")
    assert vp.sigma_min == pytest.approx(nu / math.sqrt(1 + nu * nu), rel=1e-14)
    assert flow.sigma_min == pytest.approx(nu / (1 + nu), rel=1e-14)
    assert flow.sigma_max == pytest.approx(0.15 / 1.15, rel=1e-14)
    assert vp.to("ve").sigma_min == pytest.approx(nu, rel=1e-13)
    assert flow.schedule_free() == pytest.approx((nu, 0.15), rel=1e-13)
    never = Annotation(math.inf, sigma_max=0.0, schedule="ve").to("vp")
    assert (never.sigma_min, never.sigma_max) == (math.inf, 0.0)
    assert Annotation(1.0, schedule="vp").to("ve").sigma_min == math.inf  # a = 0: the top of VP


def test_annotation_timesteps_match_the_worked_example():
    """math notes 6.5: nu_min = 2.6848 is k_min = 454 on the linear DDPM table (1e-4 ... 0.02, 1000 steps)."""
    sched = al.Discrete.from_diffusers("linear", num_train_timesteps=1000)
    t_min, t_max = Annotation(2.6848, sigma_max=0.5, schedule="ve").timesteps(sched)
    assert t_min == 454
    levels = sched.sigmas
    s_max = 0.5 / math.sqrt(1.25)
    assert levels[t_max] <= s_max < levels[t_max + 1]
    arr_min, _ = Annotation(np.array([2.6848, 0.0]), schedule="ve").timesteps(sched)
    np.testing.assert_array_equal(arr_min, [454, 0])


def test_annotation_arrays_on_backends(backend):
    levels = np.array([0.0, 0.3, 1.5, 4.0])
    ann = Annotation(backend.asarray(levels), schedule="ve")
    vp = ann.to("vp")
    np.testing.assert_allclose(backend.to_numpy(vp.sigma_min), levels / np.sqrt(1 + levels**2), rtol=20 * backend.eps)
    back = vp.to("ve")
    np.testing.assert_allclose(backend.to_numpy(back.sigma_min), levels, rtol=200 * backend.eps, atol=1e-12)


def test_annotation_bad_input():
    with pytest.raises(ValueError, match=r"sigma_min=1.5 is outside the domain \[0.0, 1.0\] of the 'vp' schedule"):
        Annotation(1.5, schedule="vp")
    with pytest.raises(ValueError, match=r"sigma_max=.*outside the domain"):
        Annotation(0.1, sigma_max=-0.2, schedule="ve")
    with pytest.raises(ValueError, match="sigma_min=nan"):
        Annotation(np.array([0.1, np.nan]), schedule="ve")
    with pytest.raises(ValueError, match="unknown schedule"):
        Annotation(0.1, schedule="cosine")
    with pytest.raises(TypeError, match="Discrete"):
        Annotation(0.1).timesteps("vp")


@pytest.mark.parametrize("reduce", ["max", "median", "min", 0.9])
def test_sources_many_groups_match_a_loop_over_groups(reduce):
    """Thousands of sources (one per demonstration): grouped in one sort, equal to reducing each group alone."""
    rng = np.random.default_rng(11)
    values = rng.uniform(size=20_000)
    labels = rng.integers(0, 3_000, size=20_000)
    per_sample, table = source_sigma_min(values, labels, reduce=reduce)
    stat = {"max": np.max, "median": np.median, "min": np.min}.get(reduce)
    for label in rng.choice(labels, size=50):
        group = values[labels == label]
        want = stat(group) if stat is not None else np.quantile(group, reduce, method="inverted_cdf")
        assert table[int(label)] == pytest.approx(float(want), rel=1e-12)
        assert np.all(per_sample[labels == label] == table[int(label)])
