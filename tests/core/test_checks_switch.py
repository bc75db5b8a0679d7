"""``ambientloss.checks(False)``: no host reads in a training step; with checks on, at most one per call.

Host reads are counted with a torch dispatch mode that sees every ``aten._local_scalar_dense`` (what
``bool(tensor)``, ``.item()`` and ``int(tensor)`` dispatch to: the device-to-host synchronisation) and
``aten.is_nonzero``.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import ambientloss as al

torch = pytest.importorskip("torch")
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

READS = {"aten._local_scalar_dense.default", "aten.is_nonzero.default"}


class HostReads(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += str(func) in READS
        return func(*args, **(kwargs or {}))


def _batch():
    g = torch.Generator().manual_seed(0)
    x_tmin, noise, pred = (torch.randn(6, 16, 2, generator=g) for _ in range(3))
    sigma_min = torch.tensor([0.0, 0.2, 0.0, 0.4, 0.1, 0.0])
    sigma = torch.tensor([0.5, 0.6, 0.7, 0.8, 0.3, 0.9])
    return x_tmin, noise, pred, sigma, sigma_min


CALLS = {
    "ambient_pair": lambda b: al.ambient_pair(b[0], b[3], b[4], b[1], prediction="epsilon"),
    "ambient_target": lambda b: al.ambient_target(b[0], b[1], b[3], b[4]),
    "renoise": lambda b: al.renoise(b[0], b[3], b[4], b[1]),
    "add_noise": lambda b: al.add_noise(b[0], b[3], b[1]),
    "loss_weight": lambda b: al.loss_weight(b[3], b[4]),
    "target_variance": lambda b: al.target_variance(b[3], b[4]),
    "squared_error": lambda b: al.squared_error(b[2], b[1], reduction="per_sample"),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_each_call_reads_the_host_at_most_once_with_checks_on_and_never_with_checks_off(name):
    batch = _batch()
    with HostReads() as on:
        CALLS[name](batch)
    assert on.count <= 1, f"{name}: {on.count} host reads with checks on"
    with al.checks(False), HostReads() as off:
        CALLS[name](batch)
    assert off.count == 0, f"{name}: {off.count} host reads under checks(False)"


def test_a_training_step_has_no_host_read_under_checks_off():
    x_tmin, noise, pred, sigma, sigma_min = _batch()
    is_pad = torch.zeros(6, 16, dtype=torch.bool)
    is_pad[1, 12:] = True

    def step():
        _, target = al.ambient_pair(x_tmin, sigma, sigma_min, noise, prediction="epsilon")
        w = al.loss_weight(sigma, sigma_min, prediction="epsilon")
        return al.squared_error(pred, target, weight=w, where=~is_pad, reduction="mean")

    with HostReads() as on:
        checked = step()
    assert on.count <= 2  # one per level-taking call: ambient_pair and loss_weight
    with al.checks(False), HostReads() as off:
        unchecked = step()
    assert off.count == 0
    assert torch.equal(checked, unchecked)  # the same computation, only the checks differ


def test_inadmissible_entries_are_nan_instead_of_an_error_and_shapes_are_still_checked():
    x, z = np.ones((3, 2)), np.ones((3, 2))
    sigma_min, sigma = np.array([0.0, 0.5, 0.2]), np.array([0.4, 0.3, 0.6])  # row 1: sigma < sigma_min
    with pytest.raises(ValueError, match=r"sigma must be greater than sigma_min .* at index \(1,\)"):
        al.ambient_pair(x, sigma, sigma_min, z)
    with al.checks(False):
        x_t, target = al.ambient_pair(x, sigma, sigma_min, z)
        w = al.loss_weight(sigma, sigma_min)
        assert np.isnan(x_t[1]).all()
        assert np.isnan(target[1]).all()
        assert np.isnan(w[1])
        assert np.isfinite(target[[0, 2]]).all()
        assert np.isfinite(w[[0, 2]]).all()
        with pytest.raises(ValueError, match="shape"):  # shapes cost no host read: still checked
            al.ambient_pair(x, sigma, sigma_min, np.ones((3, 3)))
        with pytest.raises(ValueError, match="unknown prediction"):
            al.ambient_pair(x, sigma, sigma_min, z, prediction="eps")
    ok = al.admissible(sigma, sigma_min)
    loss = al.squared_error(np.zeros((3, 2)), target, weight=w, where=ok)
    assert np.isfinite(loss)  # the NaN rows drop out through where=


def test_the_switch_is_local_to_a_thread_and_restored_on_exit():
    inside, release, seen = threading.Event(), threading.Event(), []

    def worker():
        with al.checks(False):
            seen.append(al.checks_enabled())
            inside.set()
            release.wait(10)
        seen.append(al.checks_enabled())

    thread = threading.Thread(target=worker)
    thread.start()
    assert inside.wait(10)
    assert al.checks_enabled()  # the main thread still checks while the worker does not
    with pytest.raises(ValueError, match="sigma must be greater than sigma_min"):
        al.ambient_pair(np.ones(2), 0.3, 0.5, np.ones(2))
    release.set()
    thread.join(10)
    assert seen == [False, True]
    with pytest.raises(RuntimeError, match="boom"), al.checks(False):
        raise RuntimeError("boom")
    assert al.checks_enabled()


def test_the_switch_takes_a_bool_or_finite_only():
    with pytest.raises(TypeError, match="enabled must be a bool or 'finite', got 0"), al.checks(0):  # type: ignore[arg-type]
        pass


def test_under_torch_compile_the_switch_changes_nothing():
    x_tmin, noise, _, sigma, sigma_min = _batch()
    import array_api_compat.torch as xp

    torch._dynamo.reset()
    compiled = torch.compile(
        lambda *a: al.ambient_pair(*a, prediction="epsilon", xp=xp), fullgraph=True, backend="eager"
    )
    want = compiled(x_tmin, sigma, sigma_min, noise)
    with al.checks(False):
        got = compiled(x_tmin, sigma, sigma_min, noise)
    for g, w in zip(got, want, strict=True):
        assert torch.equal(g, w)  # one compiled graph, run twice on the same inputs
