"""Every bad input raises a clear error that names the argument and the offending value or index."""

import numpy as np
import pytest

import ambientloss as al

X = np.zeros((4, 16, 7))
Z = np.ones((4, 16, 7))
S = np.full(4, 0.6)
M = np.array([0.0, 0.2, 0.3, 0.4])


def _calls(x=X, x_tmin=X, sigma=S, sigma_min=M, noise=Z, **kw):
    """The four public entry points with the same (possibly bad) arguments."""
    return {
        "ambient_target": lambda: al.ambient_target(x, x_tmin, sigma, sigma_min, **kw),
        "ambient_pair": lambda: al.ambient_pair(x_tmin, sigma, sigma_min, noise, **kw),
        "renoise": lambda: al.renoise(
            x_tmin, sigma, sigma_min, noise, **{k: v for k, v in kw.items() if k != "prediction"}
        ),
    }


@pytest.mark.parametrize("fn", ["ambient_target", "ambient_pair", "renoise"])
def test_sigma_not_above_sigma_min_names_index_and_values(fn):
    sigma = np.array([0.6, 0.6, 0.3, 0.6])  # index 2: sigma == sigma_min == 0.3
    with pytest.raises(
        ValueError, match=r"sigma must be greater than sigma_min.*sigma=0.3 and sigma_min=0.3 at index \(2,\)"
    ):
        _calls(sigma=sigma)[fn]()


@pytest.mark.parametrize("fn", ["ambient_target", "ambient_pair", "renoise"])
def test_swapped_levels_raise(fn):
    """The VP argument-order trap: passing (sigma, sigma_min) swapped must not return garbage."""
    with pytest.raises(ValueError, match="sigma must be greater than sigma_min"):
        _calls(sigma=M, sigma_min=S)[fn]()


@pytest.mark.parametrize("fn", ["ambient_target", "ambient_pair"])
def test_target_at_level_zero_raises(fn):
    with pytest.raises(ValueError, match=r"sigma must be > 0 for a training target; got sigma=0.0 at index \(1,\)"):
        _calls(sigma=np.array([0.5, 0.0, 0.5, 0.5]), sigma_min=np.zeros(4))[fn]()


def test_renoise_at_level_zero_is_the_identity():
    out = al.renoise(X + 1, 0.0, 0.0, Z)
    np.testing.assert_array_equal(out, X + 1)


@pytest.mark.parametrize("fn", ["ambient_target", "ambient_pair", "renoise"])
@pytest.mark.parametrize(
    ("schedule", "sigma", "match"),
    [
        ("vp", 1.5, r"sigma=1.5 is outside the domain \[0.0, 1.0\] of the 'vp' schedule"),
        ("flow", 1.01, r"sigma=1.01 is outside the domain \[0.0, 1.0\] of the 'flow' schedule"),
        ("ve", -0.5, r"sigma=-0.5 is outside the domain \[0.0, inf\) of the 've' schedule"),
        ("ve", float("inf"), r"sigma must be finite, got inf"),
        ("vp", float("nan"), r"sigma must be finite, got nan"),
    ],
)
def test_levels_outside_the_domain(fn, schedule, sigma, match):
    with pytest.raises(ValueError, match=match):
        _calls(sigma=sigma, sigma_min=0.0, schedule=schedule)[fn]()


def test_negative_and_nan_sigma_min_arrays():
    with pytest.raises(ValueError, match=r"sigma_min=-0.1 is outside the domain .* at index \(3,\)"):
        al.ambient_target(X, X, S, np.array([0.0, 0.1, 0.2, -0.1]))
    with pytest.raises(ValueError, match=r"sigma_min must not be NaN at index \(0,\)"):
        al.ambient_target(X, X, S, np.array([np.nan, 0.1, 0.2, 0.1]))


@pytest.mark.parametrize("fn", ["ambient_target", "ambient_pair", "renoise"])
def test_mismatched_shapes(fn):
    bad = np.zeros((4, 16, 6))
    with pytest.raises(ValueError, match=r"must have the same shape, got \(4, 16, 7\) and \(4, 16, 6\)"):
        _calls(**({"x_tmin": bad} if fn == "ambient_target" else {"noise": bad}))[fn]()


@pytest.mark.parametrize("fn", ["ambient_target", "ambient_pair", "renoise"])
@pytest.mark.parametrize(
    ("sigma", "match"),
    [
        (
            np.full(16, 0.6),
            r"sigma with shape \(16,\) does not align with the leading axes of x_t?(min)? with shape "
            r"\(4, 16, 7\) \(axis 0: 16 vs 4\)",
        ),
        (np.full((4, 1, 1, 1), 0.6), r"sigma with shape \(4, 1, 1, 1\) has more axes than x_t?(min)?"),
        (np.full((4, 3), 0.6), r"sigma with shape \(4, 3\) does not align .* \(axis 1: 3 vs 16\)"),
    ],
)
def test_misaligned_levels(fn, sigma, match):
    with pytest.raises(ValueError, match=match):
        _calls(sigma=sigma, sigma_min=0.0)[fn]()


def test_per_timestep_levels_are_accepted():
    sigma = np.full((4, 16), 0.6)
    assert al.ambient_target(X, X, sigma, 0.1).shape == (4, 16, 7)


@pytest.mark.parametrize("fn", ["ambient_target", "ambient_pair", "renoise"])
def test_non_floating_data(fn):
    ints = np.zeros((4, 16, 7), dtype=np.int64)
    with pytest.raises(TypeError, match="must have a real floating dtype, got int64"):
        _calls(x=ints, x_tmin=ints)[fn]()


def test_non_floating_levels():
    with pytest.raises(TypeError, match="sigma must have a real floating dtype, got int64"):
        al.ambient_target(X, X, np.ones(4, dtype=np.int64), 0.0, schedule="ve")


def test_unknown_prediction_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown prediction 'eps'; valid values are 'x0', 'sample', 'epsilon'"):
        al.ambient_target(X, X, S, M, prediction="eps")


def test_unknown_schedule_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown schedule 'cosine'; valid names are 'vp', 've'"):
        al.ambient_target(X, X, S, M, schedule="cosine")
    with pytest.raises(TypeError, match="schedule must be a name"):
        al.ambient_target(X, X, S, M, schedule=3)


def test_not_an_array():
    with pytest.raises(TypeError, match=r"x_tmin must be an array or a Python number, got builtins\.list"):
        al.ambient_target(X, [[0.0]], S, M)


def test_mixed_libraries():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"x_tmin is a torch\.Tensor but x_t is a numpy\.ndarray"):
        al.ambient_target(X, torch.zeros(4, 16, 7, dtype=torch.float64), S, M)
    t = torch.zeros(4, 16, 7)
    with pytest.raises(TypeError, match=r"sigma is a numpy\.ndarray but x_t is a torch\.Tensor"):
        al.ambient_target(t, t, S, 0.0)
    with pytest.raises(TypeError, match=r"noise is a numpy\.ndarray but x_tmin is a torch\.Tensor"):
        al.ambient_pair(torch.zeros(4, 16, 7), 0.5, 0.0, Z)


def test_velocity_at_the_top_of_vp_raises():
    with pytest.raises(ValueError, match="prediction='velocity' diverges at the top of the 'vp' schedule"):
        al.ambient_target(X, X, 1.0, 0.3, prediction="velocity")


def test_custom_schedule_without_derivatives_for_velocity():
    sched = al.Custom(lambda t: 1 - t, lambda t: t)
    with pytest.raises(ValueError, match="prediction='velocity' needs the derivatives d_a and d_b"):
        al.ambient_target(X, X, 0.6, 0.3, prediction="velocity", schedule=sched)


@pytest.mark.parametrize("schedule", ["vp", "ve", "flow"])
def test_admissible_marks_exactly_the_pairs_that_pass_the_checks(schedule):
    sigma = np.array([0.5, 0.3, 0.0, 1.0, 2.0, np.nan, 0.6, -0.1])
    sigma_min = np.array([0.3, 0.3, 0.0, 0.2, 0.1, 0.1, -0.2, -0.2])
    mask = al.admissible(sigma, sigma_min, schedule=schedule)
    for i in range(len(sigma)):
        row = np.zeros((1, 3))
        if mask[i]:
            al.ambient_target(row, row, sigma[i : i + 1], sigma_min[i : i + 1], schedule=schedule)
        else:
            with pytest.raises(ValueError, match="sigma"):
                al.ambient_target(row, row, sigma[i : i + 1], sigma_min[i : i + 1], schedule=schedule)
    assert al.admissible(np.full((2, 4), 0.5), np.array([0.0, 0.6])).shape == (2, 4)
