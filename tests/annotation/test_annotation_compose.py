"""The annotation pieces compose: grids end below pure noise, every fallback can be drawn, presets keep their meaning.

Grids: no level at pure noise (where the two classes are one law and a classifier reads only its own
calibration error) and no level at a table's last timestep (nothing lies above it). The default
``fallback="largest"`` is then a level that every sampler draws above. A result in which every sample
took the fallback is named by ``AllFallbackWarning``; a smoothing longer than the grid by ``GridTooShortError``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import ambientloss as al
from ambientloss.annotation import (
    AllFallbackWarning,
    AnnotationWarning,
    GridTooShortError,
    adaptive_sigma_min,
    classifier_trajectory,
    ddpm_timestep_grid,
    edm_lognormal_grid,
    select_sigma_min,
    select_with_preset,
    sigma_min_from_classifier_mean,
    sigma_min_from_tv,
    vp_uniform_grid,
)
from ambientloss.cli import main
from ambientloss.sampling import (
    DiscreteTimesteps,
    GridDensity,
    LogNormal,
    UniformVP,
    sample_truncated,
    truncated_timesteps,
)


def p_clean_toy(x_sigma, sigma):
    """P(clean) that never reaches 1/2 - eps = 0.45: every sample is never usable."""
    return np.full(x_sigma.shape[0], 0.2)


@pytest.mark.parametrize("n", [1, 2, 10, 2048])
def test_vp_grids_end_below_pure_noise(n):
    grid = vp_uniform_grid(n)
    np.testing.assert_allclose(grid, np.arange(1, n + 1) / (n + 1), rtol=1e-15)
    assert grid[-1] < 1.0


@pytest.mark.parametrize(("schedule", "level"), [("vp", 1.0), ("flow", 1.0)])
def test_a_grid_at_pure_noise_is_refused(schedule, level):
    with pytest.raises(ValueError, match=rf"grid level {level} is pure noise under the '{schedule}' schedule"):
        classifier_trajectory(p_clean_toy, np.zeros((2, 1)), [0.5, level], schedule=schedule)
    kw = {"probability": "clean", "eps": 0.05, "schedule": schedule}
    with pytest.raises(ValueError, match="is pure noise"):
        adaptive_sigma_min(p_clean_toy, np.zeros((2, 1)), [0.5, level], **kw)
    zero_snr = al.Discrete.from_diffusers("linear", num_train_timesteps=10, rescale_betas_zero_snr=True)
    assert zero_snr.sigmas[-1] == 1.0  # its last timestep is pure noise, and the default grid leaves it out
    assert ddpm_timestep_grid(zero_snr)[-1] < 1.0


def test_never_usable_samples_take_a_level_every_sampler_draws():
    """Every sample never usable: warned, counted, and drawn by every sampler without filtering."""
    x = np.zeros((5, 1))
    u = np.linspace(0.0, 0.99, 5)
    for grid in (vp_uniform_grid(10), vp_uniform_grid(2048)):
        probs = classifier_trajectory(p_clean_toy, x, grid, n_draws=2)
        with pytest.warns(AllFallbackWarning, match=r"every sample \(5\) took the fallback"):
            sigma_min = select_sigma_min(probs, grid, probability="clean", eps=0.05)
        np.testing.assert_array_equal(sigma_min, grid[-1])
        flat = GridDensity(np.linspace(0.0, 1.0, 101), np.ones(101), schedule="vp")
        for base in (UniformVP(), flat):
            sigma = sample_truncated(u, sigma_min, base=base)
            assert np.all((sigma > sigma_min) & (sigma <= 1.0))
        ve = al.convert_level(sigma_min, source="vp", target="ve")  # the same levels for an EDM model
        assert np.all(sample_truncated(u, ve, base=LogNormal()) > ve)
    table = al.Discrete.from_diffusers("squaredcos_cap_v2", num_train_timesteps=100)
    grid = ddpm_timestep_grid(table)
    with pytest.warns(AllFallbackWarning) as caught:
        res = adaptive_sigma_min(p_clean_toy, x, grid, probability="clean", eps=0.05)
    assert issubclass(caught[0].category, AnnotationWarning)
    assert res.never_usable == 5
    t = truncated_timesteps(u, res.sigma_min, base=DiscreteTimesteps(table))
    np.testing.assert_array_equal(t, 99)  # the one timestep above the grid's last level


def test_some_never_usable_are_counted_and_not_warned(caplog):
    grid = vp_uniform_grid(10)
    p = np.tile(np.linspace(0.1, 0.6, 10), (4, 1))
    p[1] = 0.2  # never usable
    with warnings.catch_warnings(), caplog.at_level("INFO", logger="ambientloss.annotation"):
        warnings.simplefilter("error")
        got = select_sigma_min(p, grid, probability="clean", eps=0.05)
    assert "select_sigma_min: 1 of 4 took the fallback" in caplog.text
    assert got[1] == grid[-1]
    assert np.all(got[[0, 2, 3]] < grid[-1])


def test_a_dataset_level_fallback_is_named():
    grid = np.array([1.0, 2.0, 3.0])
    with pytest.warns(AllFallbackWarning, match="sigma_min_from_tv: the dataset took the fallback"):
        assert sigma_min_from_tv(np.array([0.5, 0.4, 0.3]), grid, eps=0.1) == 3.0
    with pytest.warns(AllFallbackWarning, match="sigma_min_from_classifier_mean: the dataset"):
        sigma_min_from_classifier_mean(np.full((4, 3), 0.1), grid, probability="clean", eps=0.05)


def test_ambient_o_preset_on_a_short_grid_keeps_its_meaning(tmp_path, capsys):
    """Ambient-o's span of 32 was 1/64 of its 2048 levels; on 10 levels that is no smoothing, not a flat line."""
    grid = vp_uniform_grid(10)
    k = np.arange(10)
    cross = np.array([2, 4, 6, 8])  # P(corrupt) drops below 0.55 at these indices
    p_corrupt = np.where(k[None, :] < cross[:, None], 0.9, 0.3)
    got = select_with_preset("ambient_o", p_corrupt, grid)
    np.testing.assert_array_equal(got, grid[cross])
    # the same preset on a 2048-level grid smooths with a span of 32 levels, exactly the published setting
    long = edm_lognormal_grid(2048)
    rng = np.random.default_rng(0)
    probs = rng.uniform(0.3, 0.9, (3, 2048))
    np.testing.assert_array_equal(
        select_with_preset("ambient_o", probs, long),
        select_sigma_min(probs, long, probability="corrupt", eps=0.05, rule="first", ema_span=32),
    )
    # an explicit span longer than the grid is refused, by name
    with pytest.raises(GridTooShortError, match=r"ema_span=32 is longer than the grid \(10 levels\)"):
        select_with_preset("ambient_o", p_corrupt, grid, ema_span=32)
    with pytest.raises(ValueError, match="not both"):
        select_sigma_min(p_corrupt, grid, probability="corrupt", eps=0.05, ema_span=2, ema_fraction=0.5)
    # the command line: a spread of levels and the count of never-usable samples, no silent fallback
    traj, path, out = (str(tmp_path / f) for f in ("traj.npy", "grid.npy", "out.npy"))
    np.save(traj, p_corrupt.astype(np.float64))
    np.save(path, grid)
    assert main(["annotate", traj, path, "-o", out, "--preset", "ambient_o"]) == 0
    np.testing.assert_array_equal(np.load(out), grid[cross])
    assert "0 of 4 samples never met the criterion" in capsys.readouterr().out
    assert main(["annotate", traj, path, "-o", out, "--preset", "ambient_o", "--ema-span", "32"]) == 2
    assert "ema_span=32 is longer than the grid" in capsys.readouterr().err


def test_cli_names_an_all_fallback_result(tmp_path, capsys):
    traj, path, out = (str(tmp_path / f) for f in ("traj.npy", "grid.npy", "out.npy"))
    np.save(traj, np.full((3, 10), 0.2))
    np.save(path, vp_uniform_grid(10))
    assert main(["annotate", traj, path, "-o", out, "--probability", "clean", "--eps", "0.05"]) == 0
    captured = capsys.readouterr()
    assert "3 of 3 samples never met the criterion" in captured.out
    assert "warning: select_sigma_min: every sample (3) took the fallback" in captured.err
