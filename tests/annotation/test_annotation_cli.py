"""``ambientloss annotate``: success with every option, and exit status 2 with a clear message on bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ambientloss.cli import main

GRID = np.round(np.linspace(0.05, 0.95, 10), 12)  # VP levels
EPS = 0.05


def hand_built(n: int = 6, draws: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """P(clean) trajectories with a known answer: a rise through 1/2 - eps at index k, optionally a dip before.

    Row i rises from 0.1 to 0.5 and first exceeds 0.45 at index ``k = 2 + i % 5``; odd rows also
    touch 0.48 at index 1 (a noisy dip above the threshold, then back down). Returns the trajectory and,
    per row, the index of the first and of the monotone crossing (-1: never; the last row never crosses).
    """
    probs = np.empty((n, GRID.size))
    first, monotone = np.empty(n, int), np.empty(n, int)
    for i in range(n):
        k = 2 + i % 5
        row = np.where(np.arange(GRID.size) < k, 0.1 + 0.3 * np.arange(GRID.size) / k, 0.49)
        monotone[i] = k
        first[i] = k
        if i % 2:
            row[1] = 0.48
            first[i] = 1
        if i == n - 1:
            row[:] = 0.2
            first[i] = monotone[i] = -1
        probs[i] = row
    if draws is not None:  # draws scattered symmetrically around the row: the mean is the row
        offsets = np.linspace(-0.02, 0.02, draws)
        probs = probs[:, :, None] + offsets
    return probs, np.stack([first, monotone])


def write(tmp_path: Path, probs: np.ndarray, grid: np.ndarray = GRID) -> tuple[str, str, str]:
    traj, grid_path, out = tmp_path / "traj.npy", tmp_path / "grid.npy", tmp_path / "out.npy"
    np.save(traj, probs)
    np.save(grid_path, grid)
    return str(traj), str(grid_path), str(out)


def expected(index: np.ndarray, fallback: float) -> np.ndarray:
    return np.where(index >= 0, GRID[np.maximum(index, 0)], fallback)


@pytest.mark.parametrize("rule", ["first", "monotone"])
@pytest.mark.parametrize("draws", [None, 4])
def test_annotate_selects_sigma_min(tmp_path, capsys, rule, draws):
    probs, answers = hand_built(draws=draws)
    traj, grid, out = write(tmp_path, probs)
    assert main(["annotate", traj, grid, "-o", out, "--probability", "clean", "--eps", str(EPS), "--rule", rule]) == 0
    index = answers[0] if rule == "first" else answers[1]
    np.testing.assert_array_equal(np.load(out), expected(index, GRID[-1]))
    assert f"wrote 6 sigma_min values in 'vp' units to {out}" in capsys.readouterr().out


def test_probability_of_the_corrupt_class_and_fallbacks(tmp_path):
    probs, answers = hand_built()
    traj, grid, out = write(tmp_path, 1 - probs)
    assert main(["annotate", traj, grid, "-o", out, "--probability", "corrupt", "--eps", str(EPS)]) == 0
    np.testing.assert_array_equal(np.load(out), expected(answers[1], GRID[-1]))
    assert (
        main(["annotate", traj, grid, "-o", out, "--probability", "corrupt", "--eps", "0.05", "--fallback", "inf"]) == 0
    )
    np.testing.assert_array_equal(np.load(out), expected(answers[1], np.inf))
    assert (
        main(["annotate", traj, grid, "-o", out, "--probability", "corrupt", "--eps", "0.05", "--fallback", "2"]) == 0
    )
    np.testing.assert_array_equal(np.load(out), expected(answers[1], 2.0))


def test_units_and_conversion(tmp_path):
    probs, answers = hand_built()
    s = expected(answers[1], GRID[-1])
    nu = s / np.sqrt(1 - s * s)
    traj, grid, out = write(tmp_path, probs)
    args = ["annotate", traj, grid, "-o", out, "--probability", "clean", "--eps", str(EPS)]
    assert main([*args, "--to-units", "ve"]) == 0
    np.testing.assert_allclose(np.load(out), nu, rtol=1e-12)
    assert main([*args, "--to-units", "flow"]) == 0
    np.testing.assert_allclose(np.load(out), nu / (1 + nu), rtol=1e-12)
    traj, grid, out = write(tmp_path, probs, grid=GRID / np.sqrt(1 - GRID**2))  # the same levels in VE units
    assert main(["annotate", traj, grid, "-o", out, "--probability", "clean", "--eps", str(EPS), "--units", "ve"]) == 0
    np.testing.assert_allclose(np.load(out), nu, rtol=1e-12)
    assert main(["annotate", traj, grid, "-o", out, "--probability", "clean", "--eps", "0.05", "--units", "ve",
                 "--to-units", "vp"]) == 0  # fmt: skip
    np.testing.assert_allclose(np.load(out), s, rtol=1e-12)
    traj, grid, out = write(tmp_path, probs)
    assert main([*args, "--fallback", "inf", "--to-units", "ve"]) == 0  # "never used" stays inf
    np.testing.assert_allclose(np.load(out), np.where(answers[1] >= 0, nu, np.inf), rtol=1e-12)


def test_one_sample_trajectory(tmp_path, capsys):
    probs, answers = hand_built()
    traj, grid, out = write(tmp_path, probs[1])
    assert main(["annotate", traj, grid, "-o", out, "--probability", "clean", "--eps", str(EPS)]) == 0
    assert np.load(out) == GRID[answers[1][1]]
    assert "wrote 1 sigma_min values" in capsys.readouterr().out


def test_presets_set_defaults_and_options_override_them(tmp_path):
    from ambientloss.annotation import SELECTION_PRESETS, select_sigma_min

    probs, _ = hand_built(draws=4)
    traj, grid, out = write(tmp_path, probs)
    for name, preset in SELECTION_PRESETS.items():
        args = ["annotate", traj, grid, "-o", out, "--preset", name]
        if "probability" not in preset:
            args += ["--probability", "clean"]
        assert main(args) == 0
        kwargs = {"probability": "clean", **preset}
        np.testing.assert_array_equal(np.load(out), select_sigma_min(probs, GRID, **kwargs))
        assert main([*args, "--eps", "0.2", "--rule", "monotone"]) == 0
        kwargs |= {"eps": 0.2, "rule": "monotone"}
        np.testing.assert_array_equal(np.load(out), select_sigma_min(probs, GRID, **kwargs))


def test_ema_span_smooths_the_trajectory(tmp_path):
    from ambientloss.annotation import select_sigma_min

    probs, _ = hand_built()
    traj, grid, out = write(tmp_path, probs)
    base = ["annotate", traj, grid, "-o", out, "--probability", "clean", "--eps", str(EPS), "--rule", "first"]
    assert main([*base, "--ema-span", "3"]) == 0
    smoothed = np.load(out)
    np.testing.assert_array_equal(
        smoothed, select_sigma_min(probs, GRID, probability="clean", eps=EPS, rule="first", ema_span=3)
    )
    assert main(base) == 0
    assert not np.array_equal(smoothed, np.load(out))  # the dip at index 1 no longer triggers
    preset = ["annotate", traj, grid, "-o", out, "--preset", "ambient_o", "--probability", "clean"]
    assert main([*preset, "--ema-span", "none"]) == 0  # switches the preset's EMA off
    np.testing.assert_array_equal(
        np.load(out), select_sigma_min(probs, GRID, probability="clean", eps=0.05, rule="first", ema_span=None)
    )


def bad_cases(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    probs, _ = hand_built()
    traj, grid, out = write(tmp_path, probs)
    ok = ["--probability", "clean", "--eps", str(EPS)]

    def saved(name: str, value: object) -> str:
        path = tmp_path / name
        np.save(path, value)
        return str(path)

    outside = probs.copy()
    outside[2, 3] = 1.2
    nan = probs.copy()
    nan[0, 0] = np.nan
    (tmp_path / "text.npy").write_text("not an array")
    np.savez(tmp_path / "archive.npz", probs=probs)
    return {
        "probability above 1": (
            [saved("o.npy", outside), grid, "-o", out, *ok],
            "[0, 1] (no NaN); got 1.2 at index (2, 3)",
        ),
        "NaN probability": ([saved("n.npy", nan), grid, "-o", out, *ok], "(no NaN); got nan at index (0, 0)"),
        "grid not increasing": ([traj, saved("g.npy", GRID[::-1]), "-o", out, *ok], "grid must be strictly increasing"),
        "grid with a repeat": ([traj, saved("g2.npy", np.r_[GRID[:5], GRID[4:9]]), "-o", out, *ok], "at index (4,)"),
        "shape mismatch": (
            [traj, saved("g3.npy", GRID[:7]), "-o", out, *ok],
            "10 levels on axis 1 (shape (6, 10)) but grid has 7",
        ),
        "empty trajectory": ([saved("e.npy", np.empty((0, GRID.size))), grid, "-o", out, *ok], "no samples"),
        "missing trajectory": ([str(tmp_path / "nope.npy"), grid, "-o", out, *ok], "does not exist"),
        "missing grid": ([traj, str(tmp_path / "nope.npy"), "-o", out, *ok], "grid file"),
        "not an npy file": (
            [str(tmp_path / "text.npy"), grid, "-o", out, *ok],
            "text.npy' is not a readable .npy array",
        ),
        "npz archive": ([str(tmp_path / "archive.npz"), grid, "-o", out, *ok], "got an .npz archive"),
        "integer trajectory": (
            [saved("i.npy", np.zeros((3, GRID.size), int)), grid, "-o", out, *ok],
            "floating-point array, got dtype int64",
        ),
        "no probability": ([traj, grid, "-o", out, "--eps", "0.05"], "--probability is required"),
        "no eps": ([traj, grid, "-o", out, "--probability", "clean"], "--eps is required"),
        "unknown units": ([traj, grid, "-o", out, *ok, "--units", "cosine"], "unknown schedule 'cosine'"),
        "grid outside units": (
            [traj, saved("g4.npy", GRID * 2), "-o", out, *ok],
            "grid value 1.1 at index 5 is outside the domain [0.0, 1.0]",
        ),
        "missing output folder": ([traj, grid, "-o", str(tmp_path / "no" / "out.npy"), *ok], "does not exist"),
    }


CASES = [
    "probability above 1", "NaN probability", "grid not increasing", "grid with a repeat", "shape mismatch",
    "empty trajectory", "missing trajectory", "missing grid", "not an npy file", "npz archive", "integer trajectory",
    "no probability", "no eps", "unknown units", "grid outside units", "missing output folder",
]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_bad_input_exits_2_with_a_message(tmp_path, capsys, case):
    cases = bad_cases(tmp_path)
    assert sorted(cases) == sorted(CASES)
    args, fragment = cases[case]
    assert main(["annotate", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ambientloss annotate: error: ")
    assert fragment in err, err
    assert not (tmp_path / "out.npy").exists()


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--rule", "last"], "invalid choice: 'last'"),
        (["--probability", "good"], "invalid choice: 'good'"),
        (["--fallback", "smallest"], "expected 'largest', 'inf' or a number, got 'smallest'"),
        (["--ema-span", "0"], "expected a positive integer or 'none', got '0'"),
        (["--ema-span", "1.5"], "expected a positive integer or 'none', got '1.5'"),
        (["--preset", "mine"], "invalid choice: 'mine'"),
    ],
)
def test_usage_errors_exit_2(tmp_path, capsys, extra, fragment):
    traj, grid, out = write(tmp_path, hand_built()[0])
    with pytest.raises(SystemExit) as info:
        main(["annotate", traj, grid, "-o", out, "--eps", "0.05", *extra])
    assert info.value.code == 2
    assert fragment in capsys.readouterr().err


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as info:
        main(["annotate", "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--probability", "--rule", "--eps", "--ema-span", "--fallback", "--preset", "--units", "--to-units"):
        assert option in text
    assert "P(clean) > 1/2 - eps" in text
    assert "schedule-free level b/a" in text


def test_installed_entry_point(tmp_path):
    probs, answers = hand_built()
    traj, grid, out = write(tmp_path, probs)
    exe = Path(sys.executable).with_name("ambientloss")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "ambientloss"]
    done = subprocess.run(
        [*command, "annotate", traj, grid, "-o", out, "--probability", "clean", "--eps", str(EPS)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(np.load(out), expected(answers[1], GRID[-1]))
    bad = subprocess.run([*command, "annotate", traj, str(tmp_path / "x.npy"), "-o", out, "--eps", "0.1",
                          "--probability", "clean"], capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 2
    assert "grid file" in bad.stderr
