"""soft_weights_from_classifier: the Bayes classifier on stored x_tmin gives the exact density ratio.

Clean ``p0 = N(0.5, 0.3^2)``, low-quality ``q0 = N(-0.4, 0.8^2)``, VP. The stored low-quality samples
are ``frozen_x_tmin`` at per-sample levels; the weight must equal ``p_m(x_m) / q_m(x_m)`` of the two
noised Gaussians in closed form, whatever the class the classifier reports and the batch size.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import ambientloss as al
from ambientloss.annotation import soft_weights_from_classifier
from ambientloss.testing.classifier import bayes_classifier

MU_P, SD_P, MU_Q, SD_Q = 0.5, 0.3, -0.4, 0.8


def p_clean_vp(x_sigma, s):
    """The Bayes classifier P(clean | x_s = x) in VP units (y = x / a, nu = s / a), one row per level."""
    x, s = np.asarray(x_sigma)[:, 0], np.asarray(s)
    a = np.sqrt((1 - s) * (1 + s))
    return np.array(
        [
            bayes_classifier(xi / ai, si / ai, [MU_P], SD_P**2, [MU_Q], SD_Q**2)
            for xi, ai, si in zip(x, a, s, strict=True)
        ]
    )


def ratio(x_m, s):
    a = np.sqrt(1 - s**2)
    vp, vq = a**2 * SD_P**2 + s**2, a**2 * SD_Q**2 + s**2
    log_p = -0.5 * (x_m - a * MU_P) ** 2 / vp - 0.5 * np.log(vp)
    log_q = -0.5 * (x_m - a * MU_Q) ** 2 / vq - 0.5 * np.log(vq)
    return np.exp(log_p - log_q)


def stored(n=40):
    rng = np.random.default_rng(5)
    y = MU_Q + SD_Q * rng.standard_normal((n, 1))
    levels = np.linspace(0.0, 0.9, n)
    return al.frozen_x_tmin(y, np.arange(n), levels, seed=3), levels


def test_weights_are_the_density_ratio_at_each_samples_level():
    x_m, levels = stored()
    r = soft_weights_from_classifier(p_clean_vp, x_m, levels, probability="clean", batch_size=7)
    np.testing.assert_allclose(r, ratio(x_m[:, 0], levels), rtol=1e-12)
    assert r.shape == (40,)


def test_class_batch_size_and_one_level():
    x_m, levels = stored()
    clean = soft_weights_from_classifier(p_clean_vp, x_m, levels, probability="clean", batch_size=7)
    big = soft_weights_from_classifier(p_clean_vp, x_m, levels, probability="clean", batch_size=1000)
    np.testing.assert_array_equal(clean, big)  # an elementwise classifier: no batch dependence at all
    corrupt = soft_weights_from_classifier(
        lambda x, s: 1.0 - p_clean_vp(x, s), x_m, levels, probability="corrupt", batch_size=7
    )
    np.testing.assert_allclose(corrupt, clean, rtol=1e-9, atol=1e-15)  # 1 - (1 - c): one rounding of c
    same = soft_weights_from_classifier(p_clean_vp, x_m, 0.3, probability="clean")
    np.testing.assert_allclose(same, ratio(x_m[:, 0], np.full(40, 0.3)), rtol=1e-12)


def test_prior_odds_and_cap_pass_through():
    x_m, levels = stored()
    r = soft_weights_from_classifier(p_clean_vp, x_m, levels, probability="clean", prior_odds=2.0, max_weight=1.5)
    np.testing.assert_allclose(r, np.minimum(ratio(x_m[:, 0], levels) / 2.0, 1.5), rtol=1e-12)


def test_torch_samples_give_torch_weights_without_a_graph():
    torch = pytest.importorskip("torch")
    x_m, levels = stored(6)
    seen = []

    def clf(x, s):
        seen.append(torch.is_grad_enabled())
        return torch.sigmoid(-x[:, 0] - s)

    xt = torch.tensor(x_m, requires_grad=True)
    r = soft_weights_from_classifier(clf, xt, torch.tensor(levels), probability="clean")
    assert isinstance(r, torch.Tensor)
    assert r.dtype == torch.float64
    assert seen == [False]
    np.testing.assert_allclose(r.numpy(), np.exp(-x_m[:, 0] - levels), rtol=1e-12)  # odds of a sigmoid


def test_bad_input_is_named():
    x_m, levels = stored(4)
    with pytest.raises(TypeError, match="classifier must be a callable"):
        soft_weights_from_classifier(None, x_m, levels, probability="clean")
    with pytest.raises(ValueError, match="probability must be 'clean' or 'corrupt'"):
        soft_weights_from_classifier(p_clean_vp, x_m, levels, probability="p")
    with pytest.raises(ValueError, match=r"sigma_min must be one number or one level per sample, shape \(4,\)"):
        soft_weights_from_classifier(p_clean_vp, x_m, levels[:2], probability="clean")
    with pytest.raises(ValueError, match=r"sigma_min must be a finite level >= 0, got -0\.1"):
        soft_weights_from_classifier(p_clean_vp, x_m, -0.1, probability="clean")
    with pytest.raises(ValueError, match="classifier must return one probability per row"):
        soft_weights_from_classifier(lambda x, s: np.zeros((len(s), 2)), x_m, levels, probability="clean")
    with pytest.raises(ValueError, match=r"classifier output must be probabilities in \[0, 1\].*index \(2,\)"):
        soft_weights_from_classifier(lambda x, s: np.array([0.5, 0.5, 1.5, 0.5]), x_m, levels, probability="clean")
    with pytest.raises(ValueError, match="x_m must be a non-empty batch"):
        soft_weights_from_classifier(p_clean_vp, np.zeros((0, 1)), 0.1, probability="clean")


def test_p_clean_one_is_inf_or_the_cap():
    x_m = np.zeros((2, 1))
    got = soft_weights_from_classifier(lambda x, s: np.array([1.0, 0.5]), x_m, 0.2, probability="clean")
    np.testing.assert_array_equal(got, [math.inf, 1.0])
    capped = soft_weights_from_classifier(
        lambda x, s: np.array([1.0, 0.5]), x_m, 0.2, probability="clean", max_weight=9.0
    )
    np.testing.assert_array_equal(capped, [9.0, 1.0])
