"""Shared fixture of the LeRobot adapter's tests: one torch thread, the global generator restored."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def one_thread():
    """One thread (the machine is shared, tiny models run fastest so); the global generator is restored."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        torch.set_num_threads(before)
