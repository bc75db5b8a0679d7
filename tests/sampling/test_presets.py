"""Each named preset pins the published setting it documents (base law, buffer, units, strictness)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import ambientloss as al
from ambientloss import Buffer
from ambientloss.sampling import DiscreteTimesteps, LogNormal, UniformVP, truncated_timesteps
from ambientloss.sampling.presets import PRESETS, Preset, get_preset

SEED = 7
P_MIN = 1e-3  # KS / chi-squared p-value threshold of the seeded statistical checks


def test_every_name_resolves_and_unknown_names_list_the_valid_ones():
    assert set(PRESETS) == {"talk", "ambient_o_pixel", "ambient_o_imagenet", "ambient_o_t2i", "ambient_tweedie"}
    for name, preset in PRESETS.items():
        assert isinstance(preset, Preset)
        assert get_preset(name) is preset
        assert preset.name == name
        assert preset.reproduces
    with pytest.raises(ValueError, match=r"unknown preset 'ambient_o'; valid names are 'talk', 'ambient_o_pixel'"):
        get_preset("ambient_o")
    with pytest.raises(TypeError):
        PRESETS["mine"] = PRESETS["talk"]  # type: ignore[index]


def test_talk_uniform_vp_without_buffer():
    talk = get_preset("talk")
    assert talk.base == UniformVP()
    assert talk.buffer.is_identity
    assert talk.schedule.name == "vp"
    s_min = 0.37
    assert talk.usable(float(np.nextafter(s_min, 1)), s_min)
    assert not talk.usable(s_min, s_min)
    u = np.random.default_rng(SEED).random(5000)
    clean = talk.sample_truncated(u, np.zeros(5000))
    assert stats.kstest(clean, "uniform").pvalue > P_MIN  # a clean sample keeps the talk's U[0, 1]
    corrupt = talk.sample_truncated(u, np.full(5000, s_min))
    assert stats.kstest(corrupt, stats.uniform(s_min, 1 - s_min).cdf).pvalue > P_MIN


@pytest.mark.parametrize("sigma_min", [0.05, 0.2, 1.0, 5.0])
def test_ambient_o_pixel_buffer(sigma_min):
    pixel = get_preset("ambient_o_pixel")
    assert pixel.base == LogNormal(-1.2, 1.2)
    assert pixel.buffer == Buffer.from_s_max(4)
    assert pixel.schedule.name == "ve"
    assert pixel.usable(1.155 * sigma_min * (1 + 1e-6), sigma_min)
    assert not pixel.usable(1.15 * sigma_min, sigma_min)
    assert pixel.usable(1e-3, 0.0)  # clean samples: every level
    # the buffer's guarantees (anchors A.5): ambient factor <= s_max^2 = 16, target variance <= 4 sigma_min^2
    sigma = float(np.nextafter(pixel.threshold(sigma_min), math.inf))
    assert sigma**4 / (sigma**2 - sigma_min**2) ** 2 <= 16 * (1 + 1e-12)
    assert al.target_variance(sigma, sigma_min, schedule="ve") <= 4 * sigma_min**2 * (1 + 1e-12)


def test_ambient_o_imagenet_no_buffer():
    preset = get_preset("ambient_o_imagenet")
    assert preset.base == LogNormal(-0.4, 1.0)
    assert preset.buffer.is_identity
    assert preset.usable(0.2 * (1 + 1e-12), 0.2)  # bad_data_sigma_min = 0.2, nothing added
    assert not preset.usable(0.2, 0.2)
    assert preset.base.icdf(0.5) == pytest.approx(math.exp(-0.4), rel=1e-15)


def test_ambient_o_t2i_additive_buffer():
    preset = get_preset("ambient_o_t2i")
    assert preset.base == LogNormal(-0.6, 1.2)
    assert preset.buffer == Buffer(additive=0.05)
    sigma_min = 2.0  # DiffusionDB's per-source level
    assert not preset.usable(2.05, sigma_min)
    assert preset.usable(2.05 + 1e-9, sigma_min)
    assert preset.usable(0.01, 0.0)  # "or sigma_tn == 0": clean sources ignore the buffer


def test_ambient_tweedie_excludes_t_n_and_includes_t_n_plus_one():
    preset = get_preset("ambient_tweedie")
    base = preset.base
    assert isinstance(base, DiscreteTimesteps)
    assert base.num_timesteps == 1000
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=np.float32) ** 2  # SDXL: scaled_linear
    np.testing.assert_allclose(base.levels, np.sqrt(1 - np.cumprod(1 - betas, dtype=np.float32)), rtol=1e-6)
    for t_n in (0, 250, 998):
        level = float(base.levels[t_n])
        assert not preset.usable(level, level)
        assert preset.usable(float(base.levels[t_n + 1]), level)
        assert int(truncated_timesteps(np.zeros(1), np.array([level]), base=base)[0]) == t_n + 1
    # uniform over t_n + 1, ..., 999 (chi-squared), never t_n
    t_n, n = 600, 40000
    steps = truncated_timesteps(np.random.default_rng(SEED).random(n), np.full(n, base.levels[t_n]), base=base)
    counts = np.bincount(steps, minlength=1000)
    assert counts[: t_n + 1].sum() == 0
    assert stats.chisquare(counts[t_n + 1 :]).pvalue > P_MIN
    # where the original divides by zero, every drawn pair here has a finite epsilon target
    sigma = preset.sample_truncated(np.array([0.0, 0.5]), np.full(2, base.levels[t_n]))
    z = np.ones((2, 4))
    _, target = al.ambient_pair(z, sigma, np.full(2, base.levels[t_n]), z, prediction="epsilon")
    assert np.all(np.isfinite(target))
    with pytest.raises(ValueError, match="sigma must be greater than sigma_min"):
        al.ambient_pair(z, np.full(2, base.levels[t_n]), np.full(2, base.levels[t_n]), z, prediction="epsilon")


def test_preset_methods_delegate():
    pixel = get_preset("ambient_o_pixel")
    m = np.array([0.0, 0.5, 2.0])
    np.testing.assert_array_equal(
        pixel.threshold(m), al.core.admissibility.threshold(m, buffer=Buffer.from_s_max(4), schedule="ve")
    )
    sigma = np.array([0.3, 1.0, 0.1])
    np.testing.assert_array_equal(pixel.trusted_level(sigma, m, np.array([0.0, 0.0, 0.2])), [0.0, 0.5, 0.0])
    mass = pixel.admissible_mass(m)
    assert mass[0] == 1.0
    assert mass[1] == pytest.approx(stats.lognorm(1.2, scale=math.exp(-1.2)).sf(0.5 * math.sqrt(4 / 3)), rel=1e-12)
    assert "Preset('ambient_o_pixel'" in repr(pixel)


def test_each_preset_carries_its_published_weighting():
    """docs/reproducing.md's weight column, as ``preset.weighting`` (ambient-tweedie's ``1 - r`` is not one)."""
    assert get_preset("talk").weighting == al.Weighting(policy="none")
    assert get_preset("ambient_o_pixel").weighting == al.Weighting(
        policy="ambient_o", s_max=4, base_weight="edm", sigma_data=0.5
    )
    assert get_preset("ambient_o_imagenet").weighting == al.Weighting(policy="none", base_weight="edm", sigma_data=0.5)
    assert get_preset("ambient_o_t2i").weighting == al.Weighting(policy="none", base_weight="edm", sigma_data=0.9)
    assert get_preset("ambient_tweedie").weighting is None
    pixel = get_preset("ambient_o_pixel")
    sigma_min = np.array([0.0, 1.0, 2.0])
    sigma = pixel.sample_truncated(np.random.default_rng(SEED).random(3), sigma_min)
    assert np.all(al.loss_weight(sigma, sigma_min, weighting=pixel.weighting, schedule=pixel.schedule) > 0)
