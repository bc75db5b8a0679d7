"""Batch diagnostics: hand-computed fractions and the closed forms of math.md section 4."""

from __future__ import annotations

import numpy as np
import pytest

from ambientloss import Buffer
from ambientloss.sampling.diagnostics import batch_diagnostics

SIGMA = np.array([0.5, 0.5, 2.0, 2.0, 0.1, 3.0, 1.2, 0.9])
SIGMA_MIN = np.array([0.0, 1.0, 1.0, 0.0, 2.0, 2.0, 1.0, 0.5])
SIGMA_MAX = np.array([0.0, 0.0, 0.0, 0.0, 0.3, 0.3, 0.0, 1.0])
SOURCE = np.array(["real", "sim", "sim", "real", "web", "web", "sim", "web"])
# usable: clean, no, high, clean, low branch, high, high, both branches (trusted level 0)
USABLE = np.array([1, 0, 1, 1, 1, 1, 1, 1], dtype=bool)
TRUSTED = np.array([0.0, np.nan, 1.0, 0.0, 0.0, 2.0, 1.0, 0.0])


def test_fractions_per_source_and_bucket():
    d = batch_diagnostics(SIGMA, SIGMA_MIN, SIGMA_MAX, source=SOURCE, buckets=[0.0, 1.0, 2.0, 4.0], schedule="ve")
    assert all(isinstance(k, str) and type(v) is float for k, v in d.items())
    assert d["count"] == 8.0
    assert d["usable/fraction"] == USABLE.mean()
    assert d["clean/fraction"] == (SIGMA_MIN == 0).mean()
    assert d["low_branch/fraction"] == 2 / 8  # indices 4 and 7
    for label in ("real", "sim", "web"):
        mine = label == SOURCE
        assert d[f"usable/fraction/source={label}"] == USABLE[mine].mean()
        assert d[f"count/source={label}"] == mine.sum()
    # buckets [0, 1), [1, 2), [2, 4]
    assert d["usable/fraction/bucket=0"] == USABLE[SIGMA < 1].mean()
    assert d["usable/fraction/bucket=1"] == USABLE[(SIGMA >= 1) & (SIGMA < 2)].mean()
    assert d["usable/fraction/bucket=2"] == USABLE[SIGMA >= 2].mean()
    assert (d["bucket=2/lower"], d["bucket=2/upper"]) == (2.0, 4.0)


def test_ambient_statistics_match_the_ve_closed_forms():
    d = batch_diagnostics(SIGMA, SIGMA_MIN, SIGMA_MAX, sigma_data=0.5, schedule="ve")
    s, m = SIGMA[USABLE], TRUSTED[USABLE]
    factor = s**4 / (s**2 - m**2) ** 2  # Ambient-o's factor; 1 on the low branch and for clean samples
    variance = s**2 * m**2 / (s**2 - m**2)  # math.md section 4: v = b_m^2 b_t^2 / D
    rho = (1 - m**2 / s**2) * 0.25 / (0.25 + m**2)  # inverse-variance weight with sigma_data = 0.5
    assert d["ambient_factor/mean"] == pytest.approx(factor.mean(), rel=1e-12)
    assert d["ambient_factor/max"] == pytest.approx(factor.max(), rel=1e-12)
    assert d["target_variance/mean"] == pytest.approx(variance.mean(), rel=1e-12)
    assert d["target_variance/max"] == pytest.approx(variance.max(), rel=1e-12)
    assert d["inverse_variance_weight/mean"] == pytest.approx(rho.mean(), rel=1e-12)


def test_vp_statistics_use_the_schedule_free_gap():
    s, m = np.array([0.6, 0.9]), np.array([0.3, 0.5])
    d = batch_diagnostics(s, m, schedule="vp")
    one_minus_r = 1 - (m**2 / (1 - m**2)) / (s**2 / (1 - s**2))
    assert d["ambient_factor/mean"] == pytest.approx(np.mean(1 / one_minus_r**2), rel=1e-12)
    assert d["target_variance/max"] == pytest.approx(np.max(s**2 * m**2 / (s**2 - m**2)), rel=1e-12)


def test_buffer_and_equal_width_buckets():
    sigma = np.array([1.0, 1.1, 1.15, 4.0])
    d = batch_diagnostics(sigma, np.ones(4), buffer=Buffer.from_s_max(4), buckets=3, schedule="ve")
    assert d["usable/fraction"] == 0.25  # only 4.0 is above 1.1547
    assert d["usable/fraction/bucket=0"] == 0.0  # [1, 2): 1.0, 1.1, 1.15
    assert "usable/fraction/bucket=1" not in d  # [2, 3) is empty
    assert d["usable/fraction/bucket=2"] == 1.0  # [3, 4], closed on the right


def test_no_usable_sample_leaves_out_the_ambient_statistics():
    d = batch_diagnostics(np.array([0.5, 0.5]), np.array([1.0, 2.0]), schedule="ve")
    assert d["usable/fraction"] == 0.0
    assert not any(key.startswith(("ambient_factor", "target_variance", "inverse_variance")) for key in d)


def test_every_backend_gives_the_numpy_dict(backend):
    want = batch_diagnostics(SIGMA, SIGMA_MIN, SIGMA_MAX, source=np.array([0, 1, 1, 0, 2, 2, 1, 2]), schedule="ve")
    got = batch_diagnostics(
        *(backend.asarray(a) for a in (SIGMA, SIGMA_MIN, SIGMA_MAX)),
        source=backend.xp.asarray(np.array([0, 1, 1, 0, 2, 2, 1, 2])),
        schedule="ve",
    )
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=10 * backend.eps)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"source": ["a", "b"]}, r"source must have one label per sample \(8\), got 2"),
        ({"buckets": 0}, "buckets must be a positive integer"),
        ({"buckets": [1.0, 0.5]}, "bucket edges must be a strictly increasing sequence"),
        ({"buffer": 2}, "buffer must be an ambientloss.Buffer"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        batch_diagnostics(SIGMA, SIGMA_MIN, **kwargs, schedule="ve")


def test_bad_levels_name_the_sample():
    with pytest.raises(ValueError, match=r"sigma_min must not be NaN at index \(2,\)"):
        batch_diagnostics(SIGMA, np.where(np.arange(8) == 2, np.nan, SIGMA_MIN), schedule="ve")
    with pytest.raises(ValueError, match=r"must have the same shape .* got \(8,\) and \(3,\)"):
        batch_diagnostics(SIGMA, np.zeros(3), schedule="ve")
