"""The opt-in check for non-finite data (``checks("finite")``), free when off; and two messages that point the way.

* ``checks("finite")``: NaN or inf in ``x_tmin``, ``x_t``, ``x0`` or ``noise`` raises a ``ValueError``
  naming the array; off (the default) nothing is added: no operation, no host read.
* integer timesteps given as levels: the error points to ``Discrete.sigma_for_timestep``.
* a level outside a domain without an upper end: the domain reads ``[0.0, inf)``.
"""

from __future__ import annotations

import numpy as np
import pytest
from host_reads import count_host_reads

import ambientloss as al
from ambientloss.sampling import DiscreteTimesteps, LogNormal, sample_truncated

X = np.array([[0.5, -1.0], [0.2, 0.3]])
Z = np.array([[1.0, 0.5], [-0.3, 0.8]])
SIGMA, SIGMA_MIN = np.array([0.7, 0.6]), np.array([0.3, 0.0])


def _with(value: float, where: tuple[int, int]) -> np.ndarray:
    out = X.copy()
    out[where] = value
    return out


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_data_is_named_under_checks_finite(bad):
    with al.checks("finite"):
        with pytest.raises(ValueError, match=r"x_tmin must be finite \(no NaN or inf\).* at index \(1, 0\)"):
            al.ambient_pair(_with(bad, (1, 0)), SIGMA, SIGMA_MIN, Z)
        with pytest.raises(ValueError, match=r"noise must be finite"):
            al.ambient_pair(X, SIGMA, SIGMA_MIN, _with(bad, (0, 1)))
        with pytest.raises(ValueError, match=r"x_t must be finite"):
            al.ambient_target(_with(bad, (0, 0)), X, SIGMA, SIGMA_MIN)
        with pytest.raises(ValueError, match=r"x_tmin must be finite"):
            al.renoise(_with(bad, (0, 0)), SIGMA, SIGMA_MIN, Z)
        with pytest.raises(ValueError, match=r"x0 must be finite"):
            al.add_noise(_with(bad, (0, 0)), SIGMA, Z)
        levels = al.Levels(SIGMA, SIGMA_MIN)
        with pytest.raises(ValueError, match=r"x_tmin must be finite"):
            al.ambient_pair(_with(bad, (1, 1)), levels, Z)
        # levels are checked for NaN and inf at every checking level already
        with pytest.raises(ValueError, match=r"sigma_min must not be NaN"):
            al.ambient_pair(X, SIGMA, np.array([np.nan, 0.0]), Z)
        x_t, target = al.ambient_pair(X, SIGMA, SIGMA_MIN, Z)  # finite data passes
    assert np.all(np.isfinite(x_t))
    assert np.all(np.isfinite(target))


def test_non_finite_data_passes_by_default_and_the_level_nests():
    x_t, _ = al.ambient_pair(_with(np.nan, (0, 0)), SIGMA, SIGMA_MIN, Z)  # the default: data are not read
    assert np.isnan(x_t[0, 0])
    with al.checks("finite"):
        with al.checks(True):  # an inner block sets its own level
            al.ambient_pair(_with(np.nan, (0, 0)), SIGMA, SIGMA_MIN, Z)
        with al.checks(False):
            al.ambient_pair(_with(np.nan, (0, 0)), SIGMA, SIGMA_MIN, Z)
        assert al.checks_enabled()
    with pytest.raises(TypeError, match="enabled must be a bool or 'finite', got 'strict'"), al.checks("strict"):  # type: ignore[arg-type]
        pass


def test_the_finite_check_costs_nothing_when_off():
    """Off: the training step's one host read and no finiteness test; on: one more read per data array."""
    torch = pytest.importorskip("torch")
    from torch.overrides import TorchFunctionMode

    class Calls(TorchFunctionMode):
        def __init__(self) -> None:
            super().__init__()
            self.names: list[str] = []

        def __torch_function__(self, func, types, args=(), kwargs=None):
            self.names.append(getattr(func, "__name__", str(func)))
            return func(*args, **(kwargs or {}))

    x, z = torch.tensor(X, dtype=torch.float32), torch.tensor(Z, dtype=torch.float32)
    s, m = torch.tensor(SIGMA, dtype=torch.float32), torch.tensor(SIGMA_MIN, dtype=torch.float32)
    al.ambient_pair(x, s, m, z)  # first-call work out of the count
    counted = {}
    for level in (True, "finite"):
        with al.checks(level), count_host_reads(torch) as reads:
            al.ambient_pair(x, s, m, z)
        with al.checks(level), Calls() as calls:  # apart: the mode's own dispatch is not the library's read
            al.ambient_pair(x, s, m, z)
        counted[level] = (reads[0], calls.names)
    reads_off, names_off = counted[True]
    reads_on, names_on = counted["finite"]
    assert reads_off == 1  # the levels' one read, as without the finite level
    assert "isfinite" not in names_off
    assert reads_on == reads_off + 2  # x_tmin and noise
    assert names_on.count("isfinite") == 2
    assert len(names_on) > len(names_off)


def test_integer_timesteps_point_to_sigma_for_timestep():
    table = al.Discrete.from_diffusers("squaredcos_cap_v2", num_train_timesteps=100)
    t, t_min = np.array([50, 60]), np.array([10, 0])
    hint = r"integer timesteps are not levels: convert them with .*sigma_for_timestep\(sigma\)"
    with pytest.raises(TypeError, match=r"sigma must have a real floating dtype, got int64; " + hint):
        al.ambient_pair(X, t, t_min, Z, schedule=table)
    with pytest.raises(TypeError, match=r"sigma_min must have a real floating dtype, got int64; .*sigma_for_timestep"):
        sample_truncated(np.array([0.1, 0.2]), t_min, base=DiscreteTimesteps(table))
    levels = table.sigma_for_timestep(t), table.sigma_for_timestep(t_min)
    x_t, _ = al.ambient_pair(X, *levels, Z, schedule=table)  # what the hint says works
    assert np.all(np.isfinite(x_t))


def test_a_domain_without_an_upper_end_is_written_half_open():
    with pytest.raises(ValueError, match=r"sigma_min=inf is outside the domain \[0\.0, inf\) of the 've' schedule"):
        al.ambient_pair(X, np.array([1.0, 2.0]), np.array([np.inf, 0.5]), Z, schedule="ve")
    with pytest.raises(ValueError, match=r"sigma_min=inf is outside the domain \[0\.0, inf\)"):
        sample_truncated(np.array([0.5]), np.array([np.inf]), base=LogNormal())
    with pytest.raises(ValueError, match=r"sigma=1\.5 is outside the domain \[0\.0, 1\.0\] of the 'vp' schedule"):
        al.add_noise(X, 1.5, Z)
    assert al.get_schedule("ve").domain_text == "[0.0, inf)"
    assert al.get_schedule("flow").domain_text == "[0.0, 1.0]"
