"""Held-out classifier quality: balanced accuracy, ROC AUC, calibration error, and the chance check."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from scipy import stats

from ambientloss.annotation import (
    ClassifierAtChanceWarning,
    ClassifierQuality,
    check_classifier,
    classifier_quality,
)


def _pairwise_auc(p, y):
    """P(corrupt scores above clean) + 1/2 P(tie), counted pair by pair."""
    pos, neg = p[y], p[~y]
    wins = sum((a > b) + 0.5 * (a == b) for a, b in itertools.product(pos, neg))
    return wins / (pos.size * neg.size)


def test_auc_is_the_mann_whitney_statistic_with_ties():
    rng = np.random.default_rng(0)
    y = rng.random(61) < 0.3
    y[:2] = [True, False]
    # levels: continuous scores, heavy ties (scores on a grid of 5 values), and all scores equal
    p = np.stack([rng.random(61), rng.integers(0, 5, 61) / 4, np.full(61, 0.3)])
    q = classifier_quality(p, y, [0.1, 0.2, 0.3])
    for g in range(3):
        u = stats.mannwhitneyu(p[g, y], p[g, ~y]).statistic
        assert q.auc[g] == pytest.approx(u / (y.sum() * (~y).sum()), abs=1e-13)
        assert q.auc[g] == pytest.approx(_pairwise_auc(p[g], y), abs=1e-13)
    assert q.auc[2] == 0.5
    assert (q.n_clean, q.n_corrupt) == ((~y).sum(), y.sum())


def test_balanced_accuracy_and_ece_by_hand():
    # clean rows: 0.1, 0.5, 0.7; corrupt rows: 0.55, 0.95. Threshold p > 1/2 (0.5 itself says clean).
    p = np.array([[0.1, 0.5, 0.7, 0.55, 0.95]])
    y = np.array([False, False, False, True, True])
    q = classifier_quality(p, y, [0.0], n_bins=2)
    # TNR = 2/3 (0.1, 0.5), TPR = 1: (2/3 + 1) / 2
    assert q.balanced_accuracy[0] == pytest.approx(5 / 6, abs=1e-15)
    # weights: clean 1/6 each, corrupt 1/4 each. Bin [0, 0.5): {0.1}: w 1/6, ybar 0, pbar 0.1.
    # Bin [0.5, 1]: {0.5, 0.7 (clean), 0.55, 0.95 (corrupt)}: sum w y = 1/2, sum w p = (0.5 + 0.7) / 6 + 1.5 / 4.
    expected = 0.1 / 6 + abs(0.5 - (1.2 / 6 + 1.5 / 4))
    assert q.ece[0] == pytest.approx(expected, abs=1e-15)
    # a perfectly calibrated case: p = 1/2 everywhere on a balanced mixture has ECE 0
    flat = classifier_quality(np.full((1, 4), 0.5), np.array([0, 1, 0, 1]), [0.3])
    assert flat.ece[0] == 0
    assert flat.balanced_accuracy[0] == 0.5  # says "clean" for everyone: TPR 0, TNR 1


def test_ece_bins_are_half_open_with_the_last_closed():
    y = np.array([False, True])
    q = classifier_quality(np.array([[0.0, 1.0]]), y, [0.5], n_bins=4)
    assert q.ece[0] == 0  # p = 1 lands in the last bin, not past it; both rows perfectly calibrated
    q = classifier_quality(np.array([[0.25, 0.25]]), y, [0.5], n_bins=4)
    assert q.ece[0] == pytest.approx(0.25)  # one bin [0.25, 0.5): ybar 1/2, pbar 1/4


def test_chance_margins_and_at_chance():
    q = ClassifierQuality([0.1, 0.5], [0.52, 0.9], [0.53, 0.95], [0.0, 0.0], n_clean=100, n_corrupt=300)
    auc_margin, ba_margin = q.chance_margins(3.0)
    assert auc_margin == pytest.approx(3 * math.sqrt(401 / (12 * 100 * 300)))
    assert ba_margin == pytest.approx(0.75 * math.sqrt(1 / 100 + 1 / 300))
    np.testing.assert_array_equal(q.at_chance(), [True, False])
    assert check_classifier(q, on_chance="ignore") is True
    with pytest.warns(ClassifierAtChanceWarning, match=r"cannot tell clean from corrupt .* lowest level 0\.1"):
        assert check_classifier(q) is True
    with pytest.raises(ValueError, match="treat them as clean"):
        check_classifier(q, on_chance="raise")
    good = ClassifierQuality([0.1, 0.5], [0.9, 0.52], [0.95, 0.53], [0.0, 0.0], n_clean=100, n_corrupt=300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_classifier(good) is False


def test_the_null_false_alarm_rate_matches_the_margin():
    """Scores independent of the labels (seed 0, 2000 trials, 20 clean and 50 corrupt rows).

    Each margin at z = 2 holds at least about 95.4 % of its metric's null mass (the AUC's is its exact sd,
    the balanced accuracy's an upper bound of its sd), so the check flags 'at chance' (both inside) in at
    least 1 - 2 * 0.046 of the trials; allowed: 3 binomial standard errors below.
    """
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(20, bool), np.ones(50, bool)]
    p = rng.random((2000, 70))
    q = classifier_quality(p, y, np.arange(2000.0))
    se = math.sqrt(0.954 * 0.046 / 2000)
    auc_margin, ba_margin = q.chance_margins(2.0)
    assert np.mean(np.abs(q.auc - 0.5) <= auc_margin) > 0.954 - 3 * se
    assert np.mean(np.abs(q.balanced_accuracy - 0.5) <= ba_margin) > 0.954 - 3 * se
    assert q.at_chance(2.0).mean() > 1 - 2 * 0.046 - 3 * se
    auc_sd = q.chance_margins(1.0)[0]
    assert np.std(q.auc) == pytest.approx(auc_sd, rel=0.05)  # the exact null sd, within sampling error


def test_json_round_trip_and_read_only_arrays():
    q = ClassifierQuality([0.1, 0.5], [0.7, 0.6], [0.8, 0.65], [0.1, 0.05], n_clean=4, n_corrupt=6, schedule="ve")
    back = ClassifierQuality.from_json(q.to_json())
    for k in ("levels", "balanced_accuracy", "auc", "ece"):
        np.testing.assert_array_equal(getattr(back, k), getattr(q, k))
    assert (back.n_clean, back.n_corrupt, back.n_bins, back.schedule) == (4, 6, 10, "ve")
    with pytest.raises(ValueError, match="read-only"):
        q.auc[0] = 0.0
    with pytest.raises(ValueError, match="not a classifier quality"):
        ClassifierQuality.from_json('{"levels": [1]}')


def test_bad_input_names_the_argument():
    y = np.array([0, 1])
    with pytest.raises(ValueError, match="is_corrupt must hold both classes"):
        classifier_quality(np.array([0.2, 0.3]), np.array([1, 1]), [0.1])
    with pytest.raises(ValueError, match="is_corrupt must be a 1-D array of booleans or 0/1"):
        classifier_quality(np.array([0.2, 0.3]), np.array([0, 2]), [0.1])
    with pytest.raises(ValueError, match=r"p_corrupt must have shape \(2,\) or \(G, 2\)"):
        classifier_quality(np.array([0.2, 0.3, 0.4]), y, [0.1])
    with pytest.raises(ValueError, match="p_corrupt must be probabilities"):
        classifier_quality(np.array([0.2, np.nan]), y, [0.1])
    with pytest.raises(ValueError, match="levels must be 2 finite, strictly increasing"):
        classifier_quality(np.full((2, 2), 0.5), y, [0.3, 0.3])
    with pytest.raises(ValueError, match="n_bins must be a positive integer"):
        classifier_quality(np.array([0.2, 0.3]), y, [0.1], n_bins=0)
    q = ClassifierQuality([0.1], [0.5], [0.5], [0.0], n_clean=1, n_corrupt=1)
    with pytest.raises(ValueError, match="on_chance must be"):
        check_classifier(q, on_chance="loud")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="quality must be a ClassifierQuality"):
        check_classifier({"auc": [0.5]})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one length"):
        ClassifierQuality([0.1, 0.2], [0.5], [0.5], [0.0], n_clean=1, n_corrupt=1)


def test_the_warning_is_an_annotation_warning():
    from ambientloss.annotation import AnnotationWarning

    assert issubclass(ClassifierAtChanceWarning, AnnotationWarning)
    assert issubclass(AnnotationWarning, UserWarning)
    q = ClassifierQuality([0.1], [0.5], [0.5], [0.0], n_clean=10, n_corrupt=10)
    with pytest.warns(AnnotationWarning):
        check_classifier(q)
