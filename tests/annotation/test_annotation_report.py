"""The annotation report: hand-checked numbers, the table, the figure, JSON, and ``annotate --report``."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from ambientloss.annotation import (
    AnnotationReport,
    ClassifierAtChanceWarning,
    ClassifierQuality,
    annotation_report,
)
from ambientloss.cli import main
from ambientloss.sampling import LogNormal, UniformVP

PNG = b"\x89PNG\r\n\x1a\n"


def small_case() -> AnnotationReport:
    """Two clean samples, four web samples (one never usable, one with no level found), UniformVP base.

    Masses P(s > sigma_min): clean 1, 1; web 0.8, 0.6, 0.2, 0 (sigma_min 0.2, 0.4, 0.8, 1.0).
    Total 3.6: clean share 2/3.6 = 55.6 %, web 1.6/3.6 = 44.4 %; web mean mass 0.4.
    """
    sigma_min = np.array([0.0, 0.0, 0.2, 0.4, 0.8, 1.0])
    sources = np.array(["clean", "clean", "web", "web", "web", "web"])
    took_fallback = np.array([False, False, False, False, False, True])
    return annotation_report(
        sigma_min, sources=sources, base=UniformVP(), took_fallback=took_fallback, quantiles=(0.0, 0.5, 1.0)
    )


def test_numbers_by_hand():
    report = small_case()
    clean, web, both = report.sources
    assert [s.name for s in report.sources] == ["clean", "web", "all"]
    assert (clean.n, web.n, both.n) == (2, 4, 6)
    assert web.sigma_min_quantiles == [0.2, 0.4, 1.0]  # inverted CDF: median = v[ceil(2) - 1] = 0.4
    assert both.sigma_min_quantiles == [0.0, 0.2, 1.0]  # v[ceil(3) - 1] of 0, 0, 0.2, 0.4, 0.8, 1
    assert (web.n_never_usable, web.n_fallback, web.n_infinite) == (1, 1, 0)
    assert web.never_usable == 0.25
    assert clean.mean_mass == 1.0
    assert web.mean_mass == pytest.approx(0.4, abs=1e-15)
    assert clean.share == pytest.approx(2 / 3.6, abs=1e-15)
    assert web.share == pytest.approx(1.6 / 3.6, abs=1e-15)
    assert both.share == pytest.approx(1.0, abs=1e-15)
    assert report.quality is None
    assert report.at_chance is None


def test_table_content():
    table = small_case().table()
    assert "## Classifier quality" not in table  # no quality given, no section
    assert "| source | n | min | median | max | never usable | no level found | mean admissible mass |" in table
    assert "| clean | 2 | 0 | 0 | 0 | 0 (0.0%) | 0 (0.0%) | 1.000 | 55.6% |" in table
    assert "| web | 4 | 0.2 | 0.4 | 1 | 1 (25.0%) | 1 (25.0%) | 0.400 | 44.4% |" in table
    assert "| all | 6 | 0 | 0.2 | 1 | 1 (16.7%) | 1 (16.7%) | 0.600 | 100.0% |" in table
    assert "UniformVP()" in table


def test_inf_sigma_max_units_and_json():
    """VP levels against EDM's log-normal in VE units; inf is never usable; sigma_max adds the mass below it."""
    sigma_min = np.array([0.6, np.inf, np.inf])
    sigma_max = np.array([0.0, 0.0, 0.6])
    base = LogNormal()
    report = annotation_report(sigma_min, sigma_max, base=base)
    (row,) = report.sources
    ve = 0.6 / 0.8  # VP s = 0.6 is VE sigma = s / sqrt(1 - s^2)
    expected = [base.survival(ve), 0.0, base.cdf(ve)]
    assert row.mean_mass == pytest.approx(np.mean(expected), rel=1e-12)
    assert (row.n_infinite, row.n_never_usable, row.n_fallback) == (2, 1, None)
    assert row.sigma_min_quantiles[-1] == 0.6  # quantiles of the finite values
    assert row.sigma_max_quantiles == [0.0, 0.0, 0.0, 0.0, 0.6, 0.6, 0.6]
    data = json.loads(report.to_json())
    assert data["sources"][0]["never_usable"] == pytest.approx(1 / 3)
    assert data["schedule"] == "vp"
    assert data["base"] == repr(base)
    assert "## sigma_max per source" in report.table()


def quality(auc0: float) -> ClassifierQuality:
    return ClassifierQuality(
        [0.1, 0.5, 0.9], [auc0, 0.6, 0.5], [auc0, 0.62, 0.5], [0.02, 0.03, 0.04], n_clean=100, n_corrupt=100
    )


def test_quality_section_and_the_chance_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        good = annotation_report(np.array([0.2, 0.4]), quality=quality(0.95))
    table = good.table()
    assert "## Classifier quality (held out: 100 clean, 100 corrupt)" in table
    assert "| 0.1 | 0.950 | 0.950 | 0.020 | no |" in table
    assert "| 0.9 | 0.500 | 0.500 | 0.040 | yes |" in table
    assert "separates the classes at the lowest level" in table
    assert good.at_chance is False
    with pytest.warns(ClassifierAtChanceWarning):
        bad = annotation_report(np.array([0.2, 0.4]), quality=quality(0.5))
    assert bad.at_chance is True
    assert "AT CHANCE at the lowest level" in bad.table()
    with pytest.raises(ValueError, match="cannot tell clean from corrupt"):
        annotation_report(np.array([0.2, 0.4]), quality=quality(0.5), on_chance="raise")
    assert json.loads(bad.to_json())["quality"]["auc"] == [0.5, 0.62, 0.5]


def test_figure_is_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    for q in (None, quality(0.95)):
        path = annotation_report(np.array([0.0, 0.3, np.inf]), sources=[1, 2, 2], quality=q).figure(tmp_path / "r.png")
        data = path.read_bytes()
        assert data.startswith(PNG)
        assert len(data) > 10_000


def test_numeric_sources_keep_their_order():
    report = annotation_report(np.array([0.1, 0.2, 0.3]), sources=np.array([10, 9, 10]))
    assert [s.name for s in report.sources] == ["9", "10", "all"]


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="sigma_min must hold levels >= 0 or inf"):
        annotation_report(np.array([0.1, np.nan]))
    with pytest.raises(ValueError, match=r"sources must be shape \(2,\)"):
        annotation_report(np.array([0.1, 0.2]), sources=["a"])
    with pytest.raises(ValueError, match="sources must be integer or string labels, got dtype float64"):
        annotation_report(np.array([0.1, 0.2]), sources=np.array([0.5, 1.5]))
    with pytest.raises(ValueError, match="took_fallback must be booleans"):
        annotation_report(np.array([0.1, 0.2]), took_fallback=np.array([0, 1]))
    with pytest.raises(ValueError, match="quantiles must be numbers in"):
        annotation_report(np.array([0.1, 0.2]), quantiles=(0.5, 2.0))
    with pytest.raises(TypeError, match=r"base must be an ambientloss\.sampling\.Base"):
        annotation_report(np.array([0.1, 0.2]), base="lognormal")


# --- the command line -----------------------------------------------------------------------------------


def test_cli_report_writes_table_figure_and_json(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    grid = np.array([0.2, 0.4, 0.6, 0.8, 1.0])
    # P(clean): row 0 crosses 0.45 at 0.4, row 1 at 0.8, row 2 never (fallback: the largest level, 1.0)
    probs = np.array([[0.1, 0.47, 0.5, 0.5, 0.5], [0.1, 0.2, 0.3, 0.46, 0.5], [0.1, 0.1, 0.1, 0.1, 0.1]])
    for name, arr in (("traj", probs), ("grid", grid), ("src", np.array([7, 7, 9]))):
        np.save(tmp_path / f"{name}.npy", arr)
    (tmp_path / "q.json").write_text(quality(0.95).to_json())
    args = [str(tmp_path / "traj.npy"), str(tmp_path / "grid.npy"), "-o", str(tmp_path / "out.npy")]
    args += ["--probability", "clean", "--eps", "0.05", "--report", str(tmp_path / "rep")]
    args += ["--sources", str(tmp_path / "src.npy"), "--quality", str(tmp_path / "q.json"), "--base", "uniform_vp"]
    assert main(["annotate", *args]) == 0
    assert "wrote the annotation report to" in capsys.readouterr().out
    table = (tmp_path / "rep" / "report.md").read_text()
    assert "## Classifier quality" in table
    # source 7: sigma_min 0.4 and 0.8 (masses 0.6, 0.2); source 9: the fallback 1.0 (mass 0, no level found)
    assert "| 7 | 2 | 0.4 | 0.4 | 0.4 | 0.4 | 0.8 | 0.8 | 0.8 | 0 (0.0%) | 0 (0.0%) | 0.400 | 100.0% |" in table
    assert "| 9 | 1 | 1 | 1 | 1 | 1 | 1 | 1 | 1 | 1 (100.0%) | 1 (100.0%) | 0.000 | 0.0% |" in table
    assert (tmp_path / "rep" / "report.png").read_bytes().startswith(PNG)
    data = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert [s["name"] for s in data["sources"]] == ["7", "9", "all"]
    assert data["at_chance"] is False
    assert math.isclose(data["sources"][2]["mean_mass"], 0.8 / 3)


def test_cli_report_without_quality_or_sources(tmp_path):
    pytest.importorskip("matplotlib")
    np.save(tmp_path / "traj.npy", np.array([[0.1, 0.5], [0.5, 0.5]]))
    np.save(tmp_path / "grid.npy", np.array([0.3, 0.6]))
    args = [str(tmp_path / "traj.npy"), str(tmp_path / "grid.npy"), "-o", str(tmp_path / "out.npy")]
    assert main(["annotate", *args, "--probability", "clean", "--eps", "0.05", "--report", str(tmp_path)]) == 0
    table = (tmp_path / "report.md").read_text()
    assert "Classifier quality" not in table
    assert "| all | 2 |" in table


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--sources", "missing.npy"], "sources file 'missing.npy' is not a readable .npy"),
        (["--quality", "missing.json"], "cannot read the classifier quality 'missing.json'"),
    ],
)
def test_cli_report_bad_input_exits_2(tmp_path, capsys, monkeypatch, extra, fragment):
    monkeypatch.chdir(tmp_path)
    np.save("traj.npy", np.array([[0.1, 0.5]]))
    np.save("grid.npy", np.array([0.3, 0.6]))
    args = ["annotate", "traj.npy", "grid.npy", "-o", "out.npy", "--probability", "clean", "--eps", "0.05"]
    assert main([*args, "--report", "rep", *extra]) == 2
    assert fragment in capsys.readouterr().err
    np.save("src.npy", np.array([1.5]))
    assert main([*args, "--report", "rep", "--sources", "src.npy"]) == 2
    assert "must hold (1,) integer or string labels" in capsys.readouterr().err


def test_matplotlib_is_imported_only_to_draw():
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from ambientloss.annotation import annotation_report\n"
        "r = annotation_report(np.array([0.1, 0.2]))\n"
        "r.table(); r.to_json()\n"
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_example_script_writes_the_figure_and_json(tmp_path, capsys):
    """``examples/annotation_report.py`` (the figure of the docs) runs end to end: seed 0, 200 steps."""
    pytest.importorskip("matplotlib")
    torch = pytest.importorskip("torch")
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "annotation_report.py"
    spec = importlib.util.spec_from_file_location("annotation_report_example", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        paths = module.main(tmp_path, steps=200)
    finally:
        torch.set_num_threads(threads)
    assert paths["figure"].read_bytes().startswith(PNG)
    data = json.loads(paths["json"].read_text())
    assert [s["name"] for s in data["sources"]] == ["clean", "sim", "web", "all"]
    assert data["at_chance"] is False
    assert "## Classifier quality (held out: 200 clean, 400 corrupt)" in capsys.readouterr().out
