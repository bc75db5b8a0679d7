"""Shared fixtures: one ``backend`` fixture over every installed array library and dtype."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# must precede the first JAX import: eight CPU devices for the sharding tests
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.utils.conventions import not_set

# No example database under CI: every run explores afresh (a failure prints its reproduce blob instead).
settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
    database=None if os.environ.get("CI") else not_set,
)
settings.register_profile("thorough", max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_JAX = importlib.util.find_spec("jax") is not None
HAS_STRICT = importlib.util.find_spec("array_api_strict") is not None

if HAS_JAX:
    import jax

    jax.config.update("jax_enable_x64", True)


@dataclass(frozen=True)
class Backend:
    """An array library at one floating dtype, with converters to and from NumPy."""

    name: str
    xp: Any  # the array-API namespace
    dtype: Any  # the floating dtype of this backend's test arrays
    eps: float  # machine epsilon of ``dtype``
    asarray: Callable[[Any], Any]  # NumPy array (any dtype) -> backend array of ``dtype``

    def to_numpy(self, a: Any) -> np.ndarray:
        if hasattr(a, "detach"):
            a = a.detach().cpu()
            if a.dtype.is_floating_point and a.dtype.itemsize < 4:
                a = a.float()
        if isinstance(a, (np.ndarray, np.generic)):
            return np.asarray(a)
        return np.asarray(np.from_dlpack(a))

    def __repr__(self) -> str:
        return self.name


def _numpy(dtype: Any) -> Backend:
    import array_api_compat.numpy as xp

    return Backend(
        f"numpy-{np.dtype(dtype).name}", xp, dtype, float(np.finfo(dtype).eps), lambda a: np.asarray(a, dtype)
    )


def _strict() -> Backend:
    import array_api_strict as xp

    return Backend(
        "strict-float64",
        xp,
        xp.float64,
        float(np.finfo(np.float64).eps),
        lambda a: xp.asarray(np.asarray(a, np.float64)),
    )


def _torch(dtype_name: str) -> Backend:
    import array_api_compat.torch as xp
    import torch

    dtype = getattr(torch, dtype_name)
    return Backend(
        f"torch-{dtype_name}",
        xp,
        dtype,
        float(torch.finfo(dtype).eps),
        lambda a: torch.as_tensor(np.asarray(a), dtype=dtype),
    )


def _jax(dtype_name: str) -> Backend:
    import jax.numpy as jnp

    dtype = getattr(jnp, dtype_name)
    return Backend(
        f"jax-{dtype_name}", jnp, dtype, float(jnp.finfo(dtype).eps), lambda a: jnp.asarray(np.asarray(a), dtype=dtype)
    )


def _all_backends() -> list[Any]:
    out: list[Any] = [pytest.param(lambda: _numpy(np.float64), id="numpy-float64")]
    out.append(pytest.param(lambda: _numpy(np.float32), id="numpy-float32"))
    skip_strict = pytest.mark.skipif(not HAS_STRICT, reason="array-api-strict not installed")
    out.append(pytest.param(_strict, id="strict-float64", marks=skip_strict))
    skip_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
    for name in ("float32", "float64"):
        out.append(pytest.param(lambda name=name: _torch(name), id=f"torch-{name}", marks=skip_torch))
    skip_jax = pytest.mark.skipif(not HAS_JAX, reason="jax not installed")
    for name in ("float32", "float64"):
        out.append(pytest.param(lambda name=name: _jax(name), id=f"jax-{name}", marks=skip_jax))
    return out


@pytest.fixture(params=_all_backends())
def backend(request: pytest.FixtureRequest) -> Backend:
    """Every installed backend: numpy (float64, float32), array-api-strict, torch and jax (float32, float64)."""
    return request.param()


@pytest.fixture
def one_torch_thread() -> Any:
    """Torch on one intra-op thread for the test (its threads stall when other processes hold the cores);
    torch's global generator, which a test may seed, is restored afterwards."""
    if importlib.util.find_spec("torch") is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        torch.set_num_threads(before)
