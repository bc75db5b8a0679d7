"""How ``check_target_fn`` judges: one defect fails one named property, a bias comes with its z-score, and
NaN at ``sigma == sigma_min`` is a finding, not a failure.

The others a defect also breaks are reported as not judged, with the failure that explains them; a
separate defect still fails its own property. Tolerances are those of the checker; seeds are fixed.
"""

from __future__ import annotations

import importlib.util
from functools import partial
from pathlib import Path

import numpy as np
import pytest

import ambientloss as al
from ambientloss.testing._report import two_digits
from ambientloss.testing.check import CheckReport, check_target_fn
from ambientloss.testing.gaussian import Gaussian, OracleSchedule, pair_scalars
from ambientloss.testing.oracle_schedules import custom_schedule

REPO = Path(__file__).resolve().parents[2]
N = 25  # examples per property: enough for every defect below, fast enough for the whole file


def _load_examples():
    spec = importlib.util.spec_from_file_location("_wrong_targets_judged", REPO / "examples" / "wrong_targets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


W = _load_examples()

# name, prediction, the one property that must fail (the others pass or are not judged)
WRONG = [
    ("talk_epsilon", "epsilon", "unbiased"),
    ("sign_flipped_epsilon", "epsilon", "unbiased"),
    ("swapped_vp_levels", "x0", "unbiased"),
    ("image_broadcast", "x0", "preserves_shape_and_dtype"),
]
ONE_NAN_AT_EQUALITY = {"nonfinite_at_sigma_min"}


def _findings(report: CheckReport) -> set[str]:
    return {f.name for f in report.findings}


# ------------------------------------------------------------------------------------------------
# wrong examples and the library: one defect, one failure


@pytest.mark.parametrize(("name", "prediction", "fails"), WRONG, ids=[w[0] for w in WRONG])
def test_wrong_examples_fail_exactly_one_named_property(name, prediction, fails):
    report = check_target_fn(getattr(W, name), prediction=prediction, max_examples=N)
    assert not report.passed
    assert not report.passed_strict
    assert report.failed == [fails], str(report)
    result = report[fails]
    assert result.message
    assert result.counterexample, str(report)
    assert f"FAIL  {fails}" in str(report)
    for other in report.not_judged:
        assert report[other].message.startswith("not judged:"), str(report)
        assert f"follows from the {fails} failure" in report[other].message, str(report)
        assert f"----  {other}" in str(report)
    if fails == "unbiased":  # a bias comes with its z-score
        assert result.z is not None
        assert result.z > 0.01, str(report)
        assert f"z = {two_digits(result.z)} standard deviations of T given x_t" in result.message


def test_a_formula_bug_leaves_shape_and_precision_to_the_formula():
    """A wrong formula, consistent in batches and precisions, fails unbiased alone."""
    for name in ("talk_epsilon", "sign_flipped_epsilon", "swapped_vp_levels"):
        report = check_target_fn(getattr(W, name), prediction="x0" if "vp" in name else "epsilon", max_examples=N)
        assert report["preserves_shape_and_dtype"].passed, str(report)
        assert report["accurate_near_sigma_min_float32"].passed, str(report)


def test_the_z_score_is_the_bias_in_standard_deviations_of_the_target():
    """sign_flipped_epsilon: the bias is -2 E[eps | x_t] = -2 b C_t^{-1} (x_t - a mu), of mean square
    4 b^2 diag(C_t^{-1}) over x_t ~ N(a mu, C_t); z is its root over sd(T | x_t), the largest coordinate."""
    report = check_target_fn(W.sign_flipped_epsilon, prediction="epsilon", max_examples=N)
    result = report["unbiased"]
    ex = result.counterexample
    s, m = ex["sigma"], ex["sigma_min"]
    data = Gaussian(ex["mu"], ex["Sigma"])
    t, tm = pair_scalars(OracleSchedule("vp"), s, m)
    c_t = np.linalg.inv(data.cov(t))
    # sd(T | x_t): T's slope in x_tmin (read off the function) times sd(x_tmin | x_t), Cov = beta^2 C_m C_t^{-1}
    x = np.zeros((1, data.d))
    slope = W.sign_flipped_epsilon(x, x + 1.0, s, m) - W.sign_flipped_epsilon(x, x, s, m)
    beta2 = (s * s - m * m) / (1 - m * m)
    sd = np.abs(slope[0]) * np.sqrt(np.diag(beta2 * data.cov(tm) @ c_t))
    z = np.max(2 * t.b * np.sqrt(np.diag(c_t)) / sd)
    assert result.z == pytest.approx(z, rel=1e-9)
    assert z > 0.5  # a sign error is a bias of the order of the target's own spread, whatever the shrunk x_t


def test_nan_at_equality_is_a_finding_not_a_failure():
    report = check_target_fn(W.unguarded_epsilon, prediction="epsilon", max_examples=N)
    assert report.passed, str(report)
    assert not report.passed_strict
    assert report.failed == []
    assert _findings(report) == ONE_NAN_AT_EQUALITY
    (finding,) = report.findings
    assert finding.example["sigma"] == finding.example["sigma_min"]
    text = str(report)
    lines = text.splitlines()
    assert lines[0].endswith("PASSED, 5/5 properties; 1 finding (a failure under a strict check)")
    assert lines[1].startswith("  FINDING  returns NaN or inf at sigma == sigma_min")
    assert text.index("FINDING") < text.index("PASS  unbiased")
    for words in ("divides by the gap D", "checks(False)", "never draw", "Buffer", "sample_truncated"):
        assert words in text


@pytest.mark.parametrize(
    ("prediction", "schedule"), [("epsilon", "vp"), ("x0", "ve"), ("velocity", "flow"), ("score", "vp")]
)
def test_library_target_without_checks_passes_with_the_finding(prediction, schedule):
    """Under ``checks(False)`` the library returns NaN at ``sigma == sigma_min``, as documented: a finding."""

    def unchecked(x_t, x_tmin, sigma, sigma_min):
        with al.checks(False):
            return al.ambient_target(x_t, x_tmin, sigma, sigma_min, prediction=prediction, schedule=schedule)

    report = check_target_fn(unchecked, prediction=prediction, schedule=schedule, max_examples=N, seed=2)
    assert report.passed, str(report)
    assert _findings(report) == ONE_NAN_AT_EQUALITY
    assert not report.passed_strict


def test_the_callers_checks_setting_reaches_the_function():
    """``checks(False)`` around the call of ``check_target_fn`` applies inside its worker threads."""
    fn = partial(al.ambient_target, prediction="v")
    assert check_target_fn(fn, prediction="v", max_examples=10).passed_strict
    with al.checks(False):
        report = check_target_fn(fn, prediction="v", max_examples=10)
    assert report.passed, str(report)
    assert _findings(report) == ONE_NAN_AT_EQUALITY


def test_a_pair_closer_than_a_custom_schedule_resolves_is_a_finding():
    schedule = custom_schedule(OracleSchedule("custom", k=0.7, c=1.3, p=1.6))

    def unchecked(x_t, x_tmin, sigma, sigma_min):
        with al.checks(False):
            return al.ambient_target(x_t, x_tmin, sigma, sigma_min, prediction="v", schedule=schedule)

    report = check_target_fn(unchecked, prediction="v", schedule=schedule, max_examples=N)
    assert report.passed, str(report)
    assert "nonfinite_below_resolution" in _findings(report)
    (finding,) = [f for f in report.findings if f.name == "nonfinite_below_resolution"]
    assert finding.example["sigma"] == np.nextafter(finding.example["sigma_min"], np.inf)


def _clean_branch(wrong_formula: bool):
    """The library's epsilon target (or the sign-flipped one), with a wrong standard target at sigma_min = 0."""
    sign = -1.0 if wrong_formula else 1.0

    def fn(x_t, x_tmin, sigma, sigma_min):
        m = np.asarray(sigma_min, dtype=np.float64)
        out = sign * al.ambient_target(x_t, x_tmin, sigma, sigma_min, prediction="epsilon")
        clean = np.reshape(m == 0, np.shape(m) + (1,) * (x_t.ndim - np.ndim(m)))
        return np.where(clean, 2.0 * x_t, out).astype(x_t.dtype)  # not the standard target at m = 0

    return fn


def test_a_function_wrong_only_at_sigma_min_0_fails_reduces():
    report = check_target_fn(_clean_branch(wrong_formula=False), prediction="epsilon", max_examples=N)
    assert report.failed == ["reduces_at_sigma_min_0"], str(report)
    assert report["unbiased"].passed


def test_a_separate_defect_at_sigma_min_0_is_not_folded_into_a_bias():
    """Biased above 0 and, discontinuously, wrong at 0: two defects, two failures."""
    report = check_target_fn(_clean_branch(wrong_formula=True), prediction="epsilon", max_examples=N)
    assert report.failed == ["unbiased", "reduces_at_sigma_min_0"], str(report)


def test_a_function_nan_only_at_the_vp_top_fails_finite_at_edges():
    """No bias explains a NaN at s = 1: it is the edge property's own failure."""

    def nan_at_top(x_t, x_tmin, sigma, sigma_min):
        out = al.ambient_target(x_t, x_tmin, sigma, sigma_min)
        s = np.reshape(np.asarray(sigma), np.shape(sigma) + (1,) * (x_t.ndim - np.ndim(sigma)))
        return np.where(s == 1, np.nan, out).astype(x_t.dtype)

    report = check_target_fn(nan_at_top, max_examples=N)
    assert report.failed == ["finite_at_edges"], str(report)
    assert "top" in report["finite_at_edges"].message
