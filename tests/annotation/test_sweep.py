"""sweep_sigma_min: the choice rule on deterministic scores, the recorded table, and resuming from a file."""

from __future__ import annotations

import json
import math

import pytest

from ambientloss.annotation import SweepResult, sweep_sigma_min

SUCCESS = {0.0: 0.40, 0.1: 0.63, 0.2: 0.61, 0.4: 0.63, 0.8: 0.50}  # two levels tie at the best


class Counting:
    """``evaluate`` that records its calls and can stop (raise) after ``stop_after`` of them."""

    def __init__(self, table, stop_after=None):
        self.table, self.calls, self.stop_after = table, [], stop_after

    def __call__(self, level):
        if self.stop_after is not None and len(self.calls) == self.stop_after:
            raise KeyboardInterrupt
        self.calls.append(level)
        return self.table[level]


def test_best_score_ties_go_to_the_larger_level():
    result = sweep_sigma_min(list(SUCCESS), SUCCESS.get)
    assert isinstance(result, SweepResult)
    assert result.sigma_min == 0.4
    assert result.admissible == (0.1, 0.4)
    assert result.scores == tuple(SUCCESS.values())
    assert result.levels == tuple(SUCCESS)
    assert sweep_sigma_min(list(SUCCESS), SUCCESS.get, tie="smaller").sigma_min == 0.1


def test_tolerance_widens_the_ties():
    result = sweep_sigma_min(list(SUCCESS), SUCCESS.get, tolerance=0.02)  # 0.61 >= 0.63 - 0.02
    assert result.admissible == (0.1, 0.2, 0.4)
    assert result.sigma_min == 0.4
    wide = sweep_sigma_min(list(SUCCESS), SUCCESS.get, tolerance=0.2)  # 0.5 counts, 0.4 does not
    assert wide.admissible == (0.1, 0.2, 0.4, 0.8)
    assert wide.sigma_min == 0.8


def test_lower_is_better_and_order_of_candidates():
    loss = {0.3: 2.0, 0.1: 1.5, 0.2: 1.5, 0.5: 3.0}
    result = sweep_sigma_min(list(loss), loss.get, higher_is_better=False)
    assert result.sigma_min == 0.2
    assert result.levels == (0.3, 0.1, 0.2, 0.5)  # the order given


def test_mappings_record_every_metric_and_rank_by_one():
    runs = {0.1: {"success": 0.5, "jerk": 3.0}, 0.3: {"success": 0.7, "jerk": 1.0}}
    result = sweep_sigma_min(list(runs), runs.get, metric="success")
    assert result.sigma_min == 0.3
    assert result.metrics == ({"success": 0.5, "jerk": 3.0}, {"success": 0.7, "jerk": 1.0})
    by_jerk = sweep_sigma_min(list(runs), runs.get, metric="jerk", higher_is_better=False)
    assert by_jerk.sigma_min == 0.3
    with pytest.raises(
        ValueError, match=r"returned a mapping; name its score with metric= \(keys: \['jerk', 'success'\]\)"
    ):
        sweep_sigma_min(list(runs), runs.get)


def test_failed_runs_rank_last_and_nan_is_refused():
    scores = {0.1: -math.inf, 0.2: 0.3}
    assert sweep_sigma_min(list(scores), scores.get).sigma_min == 0.2
    with pytest.raises(ValueError, match=r"evaluate\(0\.2\) gave a NaN score"):
        sweep_sigma_min([0.1, 0.2], {0.1: 0.5, 0.2: math.nan}.get)


def test_the_table_marks_the_choice_and_the_ties():
    text = sweep_sigma_min(list(SUCCESS), SUCCESS.get).table().splitlines()
    assert text[0].split() == ["sigma_min", "score"]
    assert [line[0] for line in text[1:]] == [" ", "+", " ", "*", " "]
    assert [float(line.split()[-1]) for line in text[1:]] == list(SUCCESS.values())


def test_an_interrupted_sweep_resumes_from_its_file(tmp_path):
    path = tmp_path / "sweep.json"
    first = Counting(SUCCESS, stop_after=3)
    with pytest.raises(KeyboardInterrupt):
        sweep_sigma_min(list(SUCCESS), first, path=path)
    assert first.calls == [0.0, 0.1, 0.2]
    saved = json.loads(path.read_text())
    assert [r["level"] for r in saved["results"]] == [0.0, 0.1, 0.2]
    second = Counting(SUCCESS)
    resumed = sweep_sigma_min(list(SUCCESS), second, path=path)
    assert second.calls == [0.4, 0.8]  # only the levels not in the file
    assert resumed.reused == (0.0, 0.1, 0.2)
    whole = sweep_sigma_min(list(SUCCESS), SUCCESS.get)
    assert (resumed.sigma_min, resumed.scores, resumed.admissible) == (whole.sigma_min, whole.scores, whole.admissible)
    third = Counting(SUCCESS)
    assert sweep_sigma_min([0.4, 0.1], third, path=path).sigma_min == 0.4  # a subset: nothing evaluated
    assert third.calls == []


def test_a_file_of_other_settings_or_not_a_sweep_is_refused(tmp_path):
    path = tmp_path / "sweep.json"
    sweep_sigma_min([0.1, 0.2], {0.1: 1.0, 0.2: 2.0}.get, path=path)
    with pytest.raises(ValueError, match="holds a sweep with other settings"):
        sweep_sigma_min([0.1, 0.2], {0.1: 1.0, 0.2: 2.0}.get, path=path, higher_is_better=False)
    other = tmp_path / "other.json"
    other.write_text('{"a": 1}')
    with pytest.raises(ValueError, match="is not a sweep file written by sweep_sigma_min"):
        sweep_sigma_min([0.1], {0.1: 1.0}.get, path=other)


@pytest.mark.parametrize(
    ("candidates", "kw", "error", "message"),
    [
        ([], {}, ValueError, "candidates must hold at least one level"),
        ([0.1, 0.1], {}, ValueError, "candidates must be distinct"),
        ([0.1, -0.2], {}, ValueError, r"candidates must be finite levels >= 0, got -0\.2"),
        ([0.1, math.inf], {}, ValueError, "candidates must be finite levels >= 0, got inf"),
        (["0.1"], {}, TypeError, "each candidate level must be a real number, got '0.1'"),
        ([0.1], {"tolerance": -1.0}, ValueError, r"tolerance must be a finite number >= 0, got -1\.0"),
        ([0.1], {"tie": "first"}, ValueError, "tie must be 'larger' or 'smaller', got 'first'"),
    ],
)
def test_bad_input_is_named(candidates, kw, error, message):
    with pytest.raises(error, match=message):
        sweep_sigma_min(candidates, lambda level: 1.0, **kw)


def test_evaluate_must_be_callable_and_return_numbers():
    with pytest.raises(TypeError, match="evaluate must be a callable"):
        sweep_sigma_min([0.1], {0.1: 1.0})
    with pytest.raises(TypeError, match=r"evaluate\(0\.1\) must be a real number, got 'good'"):
        sweep_sigma_min([0.1], lambda level: "good")
