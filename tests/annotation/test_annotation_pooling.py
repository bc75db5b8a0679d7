"""One level per group (``groups=`` / ``pool=``): exact small cases through every entry point.

Trajectories are built by hand so that every sample's own level, and every group's pooled level, is
known: ``P(clean)`` is 0 below a sample's crossing index and 0.5 from it on (eps = 0.05), so the
monotone rule selects the grid point at the crossing.
"""

from __future__ import annotations

import numpy as np
import pytest

from ambientloss.annotation import (
    POOLS,
    BatchAnnotator,
    annotate_stream,
    select_sigma_min,
    select_with_preset,
    source_sigma_min,
)
from ambientloss.cli import main

GRID = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
EPS = 0.05
CROSSING = np.array([0, 3, 1, 5, 2, 2, 4])  # each sample's own index: levels 0.1, 0.4, 0.2, 0.6, 0.3, 0.3, 0.5
DEMO = np.array([0, 0, 0, 1, 1, 2, 2])  # three demonstrations


def steps(crossing: np.ndarray = CROSSING) -> np.ndarray:
    """``(N, G)`` P(clean): 0 below each sample's crossing index, 0.5 from it on."""
    return np.where(np.arange(GRID.size)[None, :] >= crossing[:, None], 0.5, 0.0)


def select(probs: np.ndarray, **kw) -> np.ndarray:
    return select_sigma_min(probs, GRID, probability="clean", eps=EPS, **kw)


def test_without_groups_each_sample_has_its_own_level():
    np.testing.assert_array_equal(select(steps()), GRID[CROSSING])


def test_max_gives_each_group_its_largest_level():
    # demo 0: levels 0.1, 0.4, 0.2 -> 0.4; demo 1: 0.6, 0.3 -> 0.6; demo 2: 0.3, 0.5 -> 0.5
    want = np.array([0.4, 0.4, 0.4, 0.6, 0.6, 0.5, 0.5])
    np.testing.assert_array_equal(select(steps(), groups=DEMO), want)
    np.testing.assert_array_equal(select(steps(), groups=DEMO, pool="max"), want)
    assert np.all(select(steps(), groups=DEMO) >= select(steps()))  # conservative: no sample's level drops


def test_quantiles_and_median_are_the_members_order_statistics():
    # demo 0 sorted: 0.1, 0.2, 0.4; inverted CDF: q = 1/3 -> 0.1, q = 0.5 -> 0.2, q = 1 -> 0.4
    got = select(steps(), groups=DEMO, pool=0.5)
    np.testing.assert_array_equal(got, [0.2, 0.2, 0.2, 0.3, 0.3, 0.3, 0.3])
    np.testing.assert_array_equal(select(steps(), groups=DEMO, pool=1.0), select(steps(), groups=DEMO))
    med = select(steps(), groups=DEMO, pool="median")  # demo 1: (0.3 + 0.6) / 2, as source_sigma_min
    np.testing.assert_allclose(med, [0.2, 0.2, 0.2, 0.45, 0.45, 0.4, 0.4], rtol=1e-15)


def test_mean_trajectory_applies_the_rule_to_the_group_mean():
    # demo 0's mean P(clean) per level: (0.5 + 0 + 0) / 3, (0.5 + 0 + 0.5) / 3, 1/3, 1, 1, 1 (x 0.5)
    # -> 1/6, 1/3, 1/3, 1/2, 1/2, 1/2: above 0.45 from index 3 (0.4). demo 1: 0, 0, 0.25, 0.25, 0.25, 0.5
    # -> index 5 (0.6). demo 2: 0, 0, 0.25, 0.25, 0.5, 0.5 -> index 4 (0.5)
    got = select(steps(), groups=DEMO, pool="mean_trajectory")
    np.testing.assert_array_equal(got, [0.4, 0.4, 0.4, 0.6, 0.6, 0.5, 0.5])
    # with eps = 0.3 the threshold is 0.2: demo 0 crosses at index 1 (1/3 > 0.2), below its max (index 3)
    loose = select_sigma_min(steps(), GRID, probability="clean", eps=0.3, groups=DEMO, pool="mean_trajectory")
    np.testing.assert_array_equal(loose, [0.2, 0.2, 0.2, 0.3, 0.3, 0.3, 0.3])


def test_mean_trajectory_pools_draws_and_ignores_sample_order():
    draws = np.stack([steps(), steps()], axis=-1)  # (N, G, 2)
    perm = np.array([6, 2, 0, 4, 1, 5, 3])
    pooled = select(draws, groups=DEMO, pool="mean_trajectory")
    np.testing.assert_array_equal(select(draws[perm], groups=DEMO[perm], pool="mean_trajectory"), pooled[perm])


def test_a_group_that_never_qualifies_takes_the_fallback():
    crossing = CROSSING.copy()
    crossing[4] = GRID.size  # sample 4 (demo 1) never looks clean
    for pool in ("max", "mean_trajectory"):
        got = select(steps(crossing), groups=DEMO, pool=pool, fallback="inf")
        np.testing.assert_array_equal(got[3:5], [np.inf, np.inf])
        np.testing.assert_array_equal(got[[0, 5]], [0.4, 0.5])


def test_string_labels_and_one_sample_groups():
    labels = ["a", "a", "a", "b", "b", "c", "c"]
    np.testing.assert_array_equal(select(steps(), groups=labels), select(steps(), groups=DEMO))
    np.testing.assert_array_equal(select(steps(), groups=np.arange(7)), GRID[CROSSING])


def test_pooled_levels_are_source_sigma_min_of_the_own_levels():
    for pool in ("max", "median", 0.25):
        want = source_sigma_min(GRID[CROSSING], DEMO, reduce=pool)[0]
        np.testing.assert_array_equal(select(steps(), groups=DEMO, pool=pool), want)


def test_bad_pool_and_groups_are_named():
    with pytest.raises(ValueError, match="pass groups="):
        select(steps(), pool="median")
    with pytest.raises(ValueError, match="'min' gives a group the level of its cleanest-looking sample"):
        select(steps(), groups=DEMO, pool="min")
    with pytest.raises(ValueError, match=r"pool must be one of .* or a quantile in \[0, 1\], got 1.5"):
        select(steps(), groups=DEMO, pool=1.5)
    with pytest.raises(ValueError, match=r"groups must hold one label per sample \(7\), got shape \(3,\)"):
        select(steps(), groups=[0, 1, 2])
    with pytest.raises(ValueError, match="groups= needs probs with a sample axis"):
        select(steps()[0], groups=[0])
    assert POOLS == ("max", "median", "mean_trajectory")


def test_select_with_preset_pools():
    p_corrupt = 1.0 - steps()  # the preset reads P(corrupt); 0.5 stays 0.5
    got = select_with_preset("ambient_utils", p_corrupt, GRID, groups=DEMO, eps=0.05)
    # "first" rule, no smoothing: the same crossings, pooled by max
    np.testing.assert_array_equal(got, [0.4, 0.4, 0.4, 0.6, 0.6, 0.5, 0.5])


def _p_clean(x_sigma, sigma):
    """Toy classifier: sample i, stored as ``100 * CROSSING[i]`` (far above the noise), is clean from its level on."""
    own = GRID[np.rint(np.asarray(x_sigma)[:, 0] / 100).astype(int)]
    return np.where(sigma >= own, 0.5, 0.0)


def test_batch_annotator_trajectories_pool_across_batches(tmp_path):
    fn = BatchAnnotator(_p_clean, GRID, probability="clean", eps=EPS, schedule="ve", n_draws=2, output="trajectory")
    x = 100.0 * CROSSING[:, None]
    batches = [{"id": np.arange(0, 4), "x": x[:4]}, {"id": np.arange(4, 7), "x": x[4:]}]  # demo 1 is split
    run = annotate_stream(batches, fn, out_dir=tmp_path, config=fn.config(), progress=False)
    np.testing.assert_array_equal(run.values, steps())  # the draw-averaged trajectories, all batches
    assert fn.config()["output"] == "trajectory"
    np.testing.assert_array_equal(fn.select(run.values), GRID[CROSSING])
    for pool in ("max", "mean_trajectory"):
        want = select(steps(), groups=DEMO, pool=pool)
        np.testing.assert_array_equal(fn.select(run.values, groups=DEMO, pool=pool), want)
    levels = BatchAnnotator(_p_clean, GRID, probability="clean", eps=EPS, schedule="ve", n_draws=2)
    assert "output" not in levels.config()  # runs written before the option resume unchanged
    np.testing.assert_array_equal(levels(batches[0]), GRID[CROSSING[:4]])


def test_batch_annotator_refuses_trajectories_with_bisection():
    with pytest.raises(ValueError, match="output='trajectory' needs adaptive=False"):
        BatchAnnotator(_p_clean, list(GRID), probability="clean", eps=EPS, adaptive=True, output="trajectory")
    with pytest.raises(ValueError, match="output must be 'sigma_min' or 'trajectory'"):
        BatchAnnotator(_p_clean, list(GRID), probability="clean", eps=EPS, output="levels")


def test_cli_groups_and_pool(tmp_path, capsys):
    traj, grid, groups, out = (str(tmp_path / f) for f in ("t.npy", "g.npy", "d.npy", "o.npy"))
    np.save(traj, steps())
    np.save(grid, GRID)
    np.save(groups, np.array(["a", "a", "a", "b", "b", "c", "c"]))
    base = ["annotate", traj, grid, "-o", out, "--probability", "clean", "--eps", str(EPS), "--groups", groups]
    assert main(base) == 0
    np.testing.assert_array_equal(np.load(out), [0.4, 0.4, 0.4, 0.6, 0.6, 0.5, 0.5])
    assert main([*base, "--pool", "0.5"]) == 0
    np.testing.assert_array_equal(np.load(out), [0.2, 0.2, 0.2, 0.3, 0.3, 0.3, 0.3])
    assert main([*base, "--pool", "mean_trajectory"]) == 0
    np.testing.assert_array_equal(np.load(out), [0.4, 0.4, 0.4, 0.6, 0.6, 0.5, 0.5])
    capsys.readouterr()
    assert main(["annotate", traj, grid, "-o", out, "--probability", "clean", "--eps", "0.05", "--pool", "max"]) == 2
    assert "--pool pools the samples of each group: pass --groups" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "--pool", "min"])


def test_torch_trajectories_and_labels_pool_in_torch():
    torch = pytest.importorskip("torch")
    probs, grid = torch.tensor(steps(), dtype=torch.float32), torch.tensor(GRID, dtype=torch.float32)
    for pool in ("max", "mean_trajectory", 0.5):
        got = select_sigma_min(probs, grid, probability="clean", eps=EPS, groups=torch.tensor(DEMO), pool=pool)
        assert isinstance(got, torch.Tensor)
        assert got.dtype == torch.float32
        want = select(steps(), groups=DEMO, pool=pool).astype(np.float32)
        np.testing.assert_array_equal(got.numpy(), want)
