"""Calling a user's target function safely: library detection, time limits, comparisons."""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

# ------------------------------------------------------------------------------------------------
# calling the function under test


class _Failure(Exception):
    """A property does not hold on one example.

    ``kind`` says what went wrong: ``"value"`` (a number off by ``error``, and by ``z`` standard
    deviations where that is known), ``"nonfinite"`` (NaN or inf where finite values are due),
    ``"shape"`` (wrong shape or dtype) or ``"call"`` (an exception, a non-array result, a hang).
    ``excuse`` is set once a property has asked whether another failure explains this one: the
    explanation, or ``""`` for none.
    """

    def __init__(
        self,
        message: str,
        error: float | None = None,
        tolerance: float | None = None,
        hang: bool = False,
        *,
        z: float | None = None,
        kind: str = "call",
    ):
        super().__init__(message)
        self.message, self.error, self.tolerance, self.hang = message, error, tolerance, hang
        self.z, self.kind = z, kind
        self.excuse: str | None = None


class _ShrinkBudgetSpent(Exception):
    """Raised inside the search once :data:`_SHRINK_CALLS` calls went into shrinking."""


class _Caller:
    """Calls ``fn`` with arrays of one library in a worker thread; returns NumPy arrays."""

    def __init__(self, fn: Callable[..., Any], library: str, timeout: float) -> None:
        self.fn, self.library, self.timeout = fn, library, timeout
        self.output_types: set[str] = set()
        self.calls = 0

    def to_lib(self, a: Any) -> Any:
        if not isinstance(a, np.ndarray):
            return a  # Python float levels stay Python floats
        if self.library == "torch":
            import torch

            return torch.from_numpy(np.ascontiguousarray(a))
        if self.library == "jax":
            import jax.numpy as jnp

            return jnp.asarray(a)
        return a

    def _precision(self) -> Any:
        """float64 for JAX inside the worker thread (JAX's x64 switch is thread-local as a context manager)."""
        if self.library != "jax":
            return contextlib.nullcontext()
        import jax

        if hasattr(jax, "enable_x64"):
            return jax.enable_x64(True)
        # older JAX; newer JAX (whose stubs type-check this) has only jax.enable_x64
        from jax.experimental import enable_x64  # type: ignore[attr-defined,unused-ignore]

        return enable_x64()

    def raw(self, *args: Any) -> Any:
        """Run ``fn`` on library arrays under the time limit; exceptions propagate as themselves."""
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                with np.errstate(all="ignore"), self._precision():
                    box["out"] = self.fn(*[self.to_lib(a) for a in args])
            except BaseException as exc:
                box["err"] = exc

        self.calls += 1
        context = contextvars.copy_context()  # the caller's settings, ``ambientloss.checks(False)`` say
        worker = threading.Thread(target=context.run, args=(work,), name="ambientloss-check", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if worker.is_alive():
            msg = f"timed out: the call did not return within {self.timeout:g} s"
            raise _Failure(msg, hang=True)
        if "err" in box:
            raise box["err"]
        return box["out"]

    def __call__(self, x_t: np.ndarray, x_tmin: np.ndarray, sigma: Any, sigma_min: Any) -> np.ndarray:
        """Call, convert to NumPy and check shape and dtype against ``x_t``."""
        try:
            out = self.raw(x_t, x_tmin, sigma, sigma_min)
        except _Failure:
            raise
        except Exception as exc:
            msg = f"raised {type(exc).__name__}: {exc}"
            raise _Failure(msg) from None
        arr = self.to_numpy(out)
        if arr.shape != x_t.shape:
            msg = f"wrong shape: returned {arr.shape} for x_t of shape {x_t.shape}"
            raise _Failure(msg, kind="shape")
        if arr.dtype != x_t.dtype:
            msg = f"wrong dtype: returned {arr.dtype} for {x_t.dtype} inputs"
            raise _Failure(msg, kind="shape")
        return arr

    def to_numpy(self, out: Any) -> np.ndarray:
        kind = f"{type(out).__module__}.{type(out).__qualname__}"
        if isinstance(out, (list, tuple)) or not (hasattr(out, "shape") and hasattr(out, "dtype")):
            msg = f"returned a {kind}, not an array"
            raise _Failure(msg)
        self.output_types.add(kind)
        if isinstance(out, np.ndarray):
            return out
        if hasattr(out, "detach"):
            out = out.detach()
        try:
            return np.from_dlpack(out)
        except Exception:
            try:
                return np.asarray(out)
            except Exception as exc:
                msg = f"returned a {kind} that does not convert to NumPy: {exc}"
                raise _Failure(msg) from None


def _detect_library(fn: Callable[..., Any], timeout: float) -> tuple[str, str]:
    """The first of numpy, torch, jax whose float64 arrays ``fn`` accepts, and a note when none does."""
    x = np.array([[0.3, -1.2, 0.7], [0.5, 0.1, -0.4]])
    sigma, sigma_min = np.array([0.6, 0.7]), np.array([0.0, 0.4])
    errors = []
    for lib in ("numpy", "torch", "jax"):
        caller = _Caller(fn, lib, timeout)
        try:
            caller.to_lib(x)
        except ImportError:
            continue
        try:
            caller.to_numpy(caller.raw(x, x, sigma, sigma_min))
        except _Failure as exc:
            if exc.hang:
                return "numpy", exc.message
            errors.append(f"{lib}: {exc.message}")
        except Exception as exc:
            errors.append(f"{lib}: {type(exc).__name__}: {exc}")
        else:
            return lib, ""
    return "numpy", "; ".join(errors)


# ------------------------------------------------------------------------------------------------
# properties


def _relative_error(got: np.ndarray, want: np.ndarray, scale: np.ndarray, what: str) -> float:
    """Largest ``|got - want| / scale``; a non-finite ``got`` fails."""
    if not np.all(np.isfinite(got)):
        msg = f"non-finite output ({int(np.sum(~np.isfinite(got)))} of {got.size} entries) where {what} is finite"
        raise _Failure(msg, kind="nonfinite")
    with np.errstate(all="ignore"):
        rel = np.abs(got.astype(np.float64) - want) / np.maximum(scale, np.finfo(np.float64).tiny)
    return float(np.max(rel)) if rel.size else 0.0


def _compare(got: np.ndarray, want: np.ndarray, scale: np.ndarray, tol: float, what: str) -> None:
    err = _relative_error(got, want, scale, what)
    if not err <= tol:
        msg = f"differs from {what} by {err:.3g} relative to the size of the terms"
        raise _Failure(msg, err, tol, kind="value")


def _compare_own(got: np.ndarray, own: np.ndarray, scale: np.ndarray, tol: float, what: str) -> None:
    """``got`` against another output of the same function: equal where that one is not finite, close elsewhere."""
    ok = np.isfinite(own)
    if not np.array_equal(got[~ok], own[~ok], equal_nan=True):
        msg = f"finite output where {what} is NaN or inf, or the other way round"
        raise _Failure(msg, kind="value")
    _compare(got[ok], own[ok].astype(np.float64), scale[ok], tol, what)
