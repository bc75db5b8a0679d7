"""The verification toolkit: ``check_target_fn``, its strategies, ``ambientloss verify`` and the wrong examples.

How the checker judges (one defect, one failure; z-scores; findings) is tested in
``test_verify_judging.py``. The library's own targets must pass every property, with no finding, for
every schedule and prediction;
a function that raises, returns the wrong thing or hangs fails property by property while the run
goes on.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ambientloss as al
from ambientloss.cli import main
from ambientloss.testing.check import PROPERTIES, CheckReport, check_target_fn
from ambientloss.testing.strategies import batch_shapes, edge_level_pairs, gaussians, level_pairs, schedules

REPO = Path(__file__).resolve().parents[2]
N = 25  # examples per property: enough for every defect below, fast enough for the whole file


def _load_examples():
    spec = importlib.util.spec_from_file_location("_wrong_targets_under_test", REPO / "examples" / "wrong_targets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


W = _load_examples()

# ------------------------------------------------------------------------------------------------
# the library and correct examples


@pytest.mark.parametrize(("name", "prediction"), [("reference_epsilon", "epsilon"), ("reference_x0", "x0")])
def test_reference_examples_pass(name, prediction):
    report = check_target_fn(getattr(W, name), prediction=prediction, max_examples=N)
    assert report.passed_strict, str(report)  # the library raises at sigma == sigma_min: no finding
    assert [r.name for r in report.results] == list(PROPERTIES)
    assert "PASSED" in str(report)


@pytest.mark.parametrize("schedule", ["vp", "ve", "flow"])
@pytest.mark.parametrize("prediction", ["x0", "epsilon", "v", "velocity", "score"])
def test_library_target_passes_every_property(schedule, prediction):
    fn = partial(al.ambient_target, prediction=prediction, schedule=schedule)
    report = check_target_fn(fn, prediction=prediction, schedule=schedule, max_examples=N, seed=1)
    assert report.passed_strict, str(report)
    assert report.library == "numpy"
    assert report.output_types == ["numpy.ndarray"]


def test_levels_on_the_wrong_axis_are_caught():
    """A (B,) level broadcast along the time axis keeps the shape when ``B == T`` but not the values."""

    def wrong_axis(x_t, x_tmin, sigma, sigma_min):
        s = np.asarray(sigma, dtype=np.float64)
        m = np.asarray(sigma_min, dtype=np.float64)
        if x_t.ndim == 3:
            s, m = s[:, None], m[:, None]  # (B, 1): aligns with (T, D), not with B
        return al.ambient_target(x_t, x_tmin, np.broadcast_to(s, x_t.shape), np.broadcast_to(m, x_t.shape))

    report = check_target_fn(wrong_axis, max_examples=N)
    assert "preserves_shape_and_dtype" in report.failed


def test_report_is_deterministic_for_a_seed():
    a = check_target_fn(W.talk_epsilon, prediction="epsilon", max_examples=10, seed=3)
    b = check_target_fn(W.talk_epsilon, prediction="epsilon", max_examples=10, seed=3)
    assert isinstance(a, CheckReport)
    assert [(r.name, r.passed, r.message, str(r.counterexample)) for r in a.results] == [
        (r.name, r.passed, r.message, str(r.counterexample)) for r in b.results
    ]


def test_check_arguments_are_validated():
    with pytest.raises(ValueError, match="prediction"):
        check_target_fn(W.reference_x0, prediction="noise")
    with pytest.raises(ValueError, match="schedule"):
        check_target_fn(W.reference_x0, schedule="cosine")
    with pytest.raises(ValueError, match="max_examples"):
        check_target_fn(W.reference_x0, max_examples=0)


# ------------------------------------------------------------------------------------------------
# bad callables: every property fails with a message and the run goes on


def _all_fail_with(report: CheckReport, text: str) -> None:
    assert [r.name for r in report.results] == list(PROPERTIES)
    for r in report.results:
        assert not r.passed
        assert text in r.message, str(report)


def test_function_that_raises():
    def boom(*_):
        raise RuntimeError("boom")

    _all_fail_with(check_target_fn(boom, max_examples=5), "raised RuntimeError: boom")


def test_function_with_the_wrong_shape():
    report = check_target_fn(lambda x_t, *_: x_t[..., :1] * 0 + x_t.sum(), max_examples=5)
    assert "preserves_shape_and_dtype" in report.failed
    assert any("wrong shape" in r.message for r in report.results if not r.passed)


def test_function_with_the_wrong_dtype():
    def to_f32(x_t, x_tmin, s, m):
        return al.ambient_target(x_t, x_tmin, s, m).astype(np.float32)

    report = check_target_fn(to_f32, max_examples=5)
    assert "wrong dtype" in report["reduces_at_sigma_min_0"].message


def test_function_returning_a_list():
    _all_fail_with(check_target_fn(lambda x_t, *_: x_t.tolist(), max_examples=5), "not an array")


def test_function_that_hangs():
    release = threading.Event()

    def hangs(*_):
        release.wait(30)

    try:
        report = check_target_fn(hangs, max_examples=5, timeout=0.1)
    finally:
        release.set()
    _all_fail_with(report, "timed out")
    assert all(r.counterexample for r in report.results)


def test_function_returning_a_torch_tensor_is_converted_and_reported():
    torch = pytest.importorskip("torch")

    def returns_torch(x_t, x_tmin, s, m):
        return torch.from_numpy(np.asarray(al.ambient_target(x_t, x_tmin, s, m)))

    report = check_target_fn(returns_torch, max_examples=10)
    assert report.passed, str(report)
    assert report.library == "numpy"
    assert report.output_types == ["torch.Tensor"]
    assert "torch.Tensor" in str(report)


def test_torch_only_function_is_called_with_tensors():
    torch = pytest.importorskip("torch")

    def torch_only(x_t, x_tmin, s, m):
        if not isinstance(x_t, torch.Tensor):
            raise TypeError("tensors only")
        return al.ambient_target(x_t, x_tmin, s, m, prediction="v")

    report = check_target_fn(torch_only, prediction="v", max_examples=10)
    assert report.passed, str(report)
    assert report.library == "torch"


def test_jax_only_function_is_called_with_float64_jax_arrays():
    jax = pytest.importorskip("jax")

    def jax_only(x_t, x_tmin, s, m):
        if not isinstance(x_t, jax.Array):
            raise TypeError("jax only")
        return al.ambient_target(x_t, x_tmin, s, m, prediction="score")

    # JAX compiles every operation anew for each shape and dtype the checker draws (about a second for
    # the first call on an idle machine): a generous per-call timeout, so a busy machine does not fail it
    report = check_target_fn(jax_only, prediction="score", max_examples=5, timeout=120)
    assert report.passed, str(report)
    assert report.library == "jax"


# ------------------------------------------------------------------------------------------------
# strategies


@settings(max_examples=200)
@given(data=st.data())
def test_level_pairs_are_admissible(data):
    schedule = data.draw(schedules())
    s, m = data.draw(level_pairs(schedule))
    assert 0 <= m < s
    if schedule != "ve":
        assert s <= 1


@given(pair=edge_level_pairs("vp", top=False))
def test_edges_without_top_exclude_s_one(pair):
    assert pair[0] < 1


@given(shape=batch_shapes(), data=gaussians(st.integers(1, 3)))
def test_batch_shapes_and_gaussians(shape, data):
    assert len(shape) == 3
    assert min(shape) >= 1
    assert np.all(np.linalg.eigvalsh(data.Sigma) > 0)


def test_batch_shapes_include_b_equal_t():
    seen = set()

    @settings(max_examples=50, database=None)
    @given(batch_shapes())
    def collect(shape):
        seen.add(shape[0] == shape[1])

    collect()
    assert seen == {True, False}


# ------------------------------------------------------------------------------------------------
# command line


def test_cli_wrong_example_exits_1(monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "path", list(sys.path))
    argv = ["verify", "examples.wrong_targets:sign_flipped_epsilon", "--prediction", "epsilon", "--max-examples", "10"]
    code = main(argv)
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL  unbiased" in out
    assert "standard deviations of T given x_t" in out
    assert "FAILED, 3/5 properties (1 failed, 1 not judged)" in out


def test_cli_finding_exits_0_and_1_under_strict(monkeypatch, capsys):
    """``unguarded_epsilon`` is right wherever the target exists and NaN at sigma == sigma_min: a finding."""
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "path", list(sys.path))
    argv = ["verify", "examples.wrong_targets:unguarded_epsilon", "--prediction", "epsilon", "--max-examples", "10"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "PASSED, 5/5 properties; 1 finding" in out
    assert out.splitlines()[1].startswith("  FINDING  returns NaN or inf at sigma == sigma_min")
    assert main([*argv, "--strict"]) == 1
    assert "FINDING" in capsys.readouterr().out
    assert main(["verify", "examples.wrong_targets:reference_x0", "--max-examples", "10", "--strict"]) == 0


def test_cli_correct_function_exits_0(monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "path", list(sys.path))
    code = main(["verify", "examples.wrong_targets:reference_x0", "--max-examples", "10"])
    assert code == 0
    assert "PASSED, 5/5" in capsys.readouterr().out


def test_cli_imports_from_the_current_directory(tmp_path, monkeypatch, capsys):
    (tmp_path / "verify_cwd_target.py").write_text(
        "import ambientloss\n\n\ndef target(x_t, x_tmin, s, m):\n"
        "    return ambientloss.ambient_target(x_t, x_tmin, s, m, prediction='v', schedule='ve')\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "verify_cwd_target", raising=False)
    code = main(
        [
            "verify",
            "verify_cwd_target:target",
            "--prediction",
            "v_prediction",
            "--schedule",
            "ve",
            "--max-examples",
            "5",
        ]
    )
    monkeypatch.delitem(sys.modules, "verify_cwd_target", raising=False)
    assert code == 0, capsys.readouterr().out


def test_cli_takes_a_schedule_object(tmp_path, monkeypatch, capsys):
    """``--schedule MODULE:ATTR`` checks a function written for its own (here: custom) schedule."""
    (tmp_path / "verify_custom_target.py").write_text(
        "from functools import partial\n"
        "import ambientloss\n"
        "from ambientloss.testing.gaussian import OracleSchedule\n"
        "from ambientloss.testing.oracle_schedules import custom_schedule\n\n"
        "SCHEDULE = custom_schedule(OracleSchedule('custom', k=0.5, c=1.1, p=1.5))\n"
        "OTHER = custom_schedule(OracleSchedule('custom', k=0.0, c=0.5, p=0.0))\n"
        "target = partial(ambientloss.ambient_target, prediction='epsilon', schedule=SCHEDULE)\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "verify_custom_target", raising=False)
    argv = ["verify", "verify_custom_target:target", "--prediction", "epsilon", "--max-examples", "8"]
    assert main([*argv, "--schedule", "verify_custom_target:SCHEDULE"]) == 0, capsys.readouterr().out
    assert main([*argv, "--schedule", "verify_custom_target:OTHER"]) == 1
    assert "FAIL  unbiased" in capsys.readouterr().out
    monkeypatch.delitem(sys.modules, "verify_custom_target", raising=False)


def test_cli_subprocess_from_the_repository_root():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ambientloss",
            "verify",
            "examples.wrong_targets:talk_epsilon",
            "--prediction",
            "epsilon",
            "--max-examples",
            "10",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "FAIL  unbiased" in proc.stdout


@pytest.mark.parametrize(
    ("argv", "text"),
    [
        (["verify", "no_colon_here"], "MODULE:FUNCTION"),
        (["verify", "ambientloss_no_such_module_xyz:f"], "cannot import"),
        (["verify", "ambientloss.core.targets:no_such_function"], "no attribute"),
        (["verify", "ambientloss:__version__"], "not callable"),
        (["verify", "ambientloss:ambient_target", "--schedule", "cosine"], "unknown schedule"),
        (["verify", "ambientloss:ambient_target", "--schedule", "ambientloss:ambient_target"], "not an ambientloss"),
    ],
)
def test_cli_bad_target_exits_2(argv, text, capsys):
    assert main(argv) == 2
    assert text in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["verify", "ambientloss:ambient_target", "--prediction", "noise"],
        ["verify", "ambientloss:ambient_target", "--max-examples", "0"],
        ["verify"],
    ],
)
def test_cli_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


def test_testing_package_imports_without_optional_dependencies():
    code = (
        "import sys\n"
        "for name in ('hypothesis', 'torch', 'jax'):\n"
        "    sys.modules[name] = None\n"
        "import ambientloss.testing, ambientloss.testing.check as c\n"
        "try:\n"
        "    c.check_target_fn(lambda *a: a[0])\n"
        "except ImportError as e:\n"
        "    assert 'pip install' in str(e), e\n"
        "else:\n"
        "    raise SystemExit('no ImportError')\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
