"""The per-batch annotation function runs unchanged in Ray Data and gives the local run's values."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from ambientloss.adapters.ray import annotate_ray, ray_batch_fn
from ambientloss.annotation import BatchAnnotator, annotate_stream

MU_P, MU_Q = np.zeros(3), np.array([1.5, -1.0, 0.5])  # clean N(MU_P, I) and corrupt N(MU_Q, I)
GRID = np.linspace(0.01, 0.99, 64)  # VP levels
ROWS, N = 16, 80


def bayes_p_clean(x_sigma, sigma):
    """The Bayes classifier P(clean | x_sigma) for the two Gaussians, VP level sigma (math notes 6.6)."""
    a = np.sqrt((1 - sigma) * (1 + sigma))[:, None]
    nu2 = (sigma[:, None] / a) ** 2
    logit = ((x_sigma / a - (MU_P + MU_Q) / 2) * (MU_P - MU_Q)).sum(axis=1) / (1 + nu2[:, 0])
    return 1 / (1 + np.exp(-logit))


# pure and picklable: 4 noise draws per sample and level seeded by the sample's id, then the monotone rule
ANNOTATE = BatchAnnotator(bayes_p_clean, GRID, probability="clean", eps=0.05, n_draws=4, seed=7)


def corrupt_rows():
    x = np.random.default_rng(0).normal(size=(N, 3)) + MU_Q
    return np.arange(N), x


def test_ray_batch_fn_checks_and_keeps_columns():
    batch = {"id": np.arange(3), "x": np.ones((3, 2))}
    out = ray_batch_fn(lambda b: b["x"][:, 0] * 2, output="s", keep=["id"])(batch)
    assert sorted(out) == ["id", "s"]
    np.testing.assert_array_equal(out["s"], [2.0, 2.0, 2.0])
    assert sorted(ray_batch_fn(lambda b: b["id"])(batch)) == ["id", "sigma_min", "x"]
    with pytest.raises(ValueError, match=r"fn returned shape \(2,\) for a batch of 3 samples"):
        ray_batch_fn(lambda b: b["id"][:2])(batch)
    with pytest.raises(ValueError, match="already has a column 'x'"):
        ray_batch_fn(lambda b: b["id"], output="x")(batch)
    with pytest.raises(KeyError, match=r"keep names columns \['idx'\]"):
        ray_batch_fn(lambda b: b["id"], keep=["idx"])(batch)
    with pytest.raises(TypeError, match="fn must be callable"):
        ray_batch_fn(None)
    with pytest.raises(TypeError, match=r"dataset must be a ray\.data\.Dataset, got list"):
        annotate_ray([batch], lambda b: b["id"])


# Two warnings from outside ambientloss are ignored, and only these. Ray Data's DataContext warns about
# its own deprecated settings when it is created. JAX, when an earlier test has started it in this
# process, warns at every fork; Ray forks only to exec its own processes, which never run JAX.
@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")
@pytest.mark.filterwarnings(r"ignore:os\.fork\(\) was called:RuntimeWarning")
def test_ray_data_gives_the_local_values(tmp_path):
    pytest.importorskip("ray")
    import ray
    import ray.data

    ids, x = corrupt_rows()
    local = annotate_stream(
        [{"id": ids[i : i + ROWS], "x": x[i : i + ROWS]} for i in range(0, N, ROWS)],
        ANNOTATE,
        out_dir=tmp_path / "local",
        config=ANNOTATE.config(),
        progress=False,
    ).values
    assert len(np.unique(local)) > 5  # the samples really differ: a constant would compare equal trivially

    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        ds = ray.data.from_items([{"id": int(i), "x": row} for i, row in zip(ids, x, strict=True)])
        rows = annotate_ray(ds, ANNOTATE, keep=["id"], batch_size=ROWS).take_all()
    finally:
        ray.shutdown()
    got = np.empty(N)
    got[[r["id"] for r in rows]] = [r["sigma_min"] for r in rows]
    assert sorted(r["id"] for r in rows) == list(range(N))
    np.testing.assert_array_equal(got, local)
