"""Property-based verification of any ambient-target implementation against exact float64 oracles.

:func:`check_target_fn` takes a function with the signature of :func:`ambientloss.ambient_target`,
``fn(x_t, x_tmin, sigma, sigma_min)``, written for NumPy, PyTorch or JAX, and checks five
independent properties with Hypothesis (the ``test`` extra):

``unbiased``
    ``E[T | x_t] = E[k | x_t]`` for Gaussian data. A target is affine in ``x_tmin``, so
    ``E[T | x_t = x] = fn(x, E[x_tmin | x_t = x], sigma, sigma_min)`` exactly; it is compared with the
    closed-form posterior mean in float64, relative to the size of the terms and the conditioning.
    Levels are ordinary draws below the VP top; the edges are the business of ``finite_at_edges``.
``reduces_at_sigma_min_0``
    ``sigma_min = 0`` gives the standard target from ``(x_t, x0)`` to 64 ulp of the size of the terms.
``finite_at_edges``
    Finite output, for every example, at each case of :func:`~ambientloss.testing.strategies.edge_cases`:
    ``sigma`` one ulp above ``sigma_min``, a clean sample at a small level, the VP top ``s = 1`` (not
    for the velocity prediction, which diverges there), tiny and huge VE levels; at
    ``sigma == sigma_min`` (an inadmissible pair) the function must raise or return finite values,
    never a silent NaN or inf. For a schedule other than the named three, one ulp above ``sigma_min``
    is beyond what ``a`` and ``b`` resolve, so raising is accepted there too (a silent NaN is not).
``accurate_near_sigma_min_float32``
    float32 inputs with ``1 - r`` between ``1e-5`` and ``1e-3``: error against a float64 reference
    within 64 float32 ulp of the size of the terms (which grows like ``1 / (1 - r)``); for a schedule other
    than the named three, whose ``D`` is only as accurate as its ``a`` and ``b``, within ``64 u / (1 - r)``.
``preserves_shape_and_dtype``
    ``(B, T, D)`` action chunks with ``(B,)`` levels, ``B == T`` included, and one unbatched example
    with scalar levels: the output has the shape and dtype of ``x_t`` and per-sample values close to
    the reference (a level broadcast along the wrong axis is caught).

An exception, a wrong shape or dtype, a non-array result, non-finite values or a call running past
``timeout`` seconds fails that property with a message; the run then moves on to the next one.
Hypothesis then shrinks the failing example, for at most ``_SHRINK_CALLS`` further calls.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.targets import canonical_prediction
from ._caller import _Caller, _compare, _detect_library, _Failure, _ShrinkBudgetSpent
from ._report import CheckReport, PropertyResult
from .gaussian import (
    CLEAN,
    Gaussian,
    Scalars,
    ambient_coefficients,
    error_scale,
    one_minus_r,
    pair_scalars,
    transition,
)
from .oracle_schedules import level_for_free, resolve

__all__ = ["PROPERTIES", "CheckReport", "PropertyResult", "check_target_fn"]

#: names of the checked properties, in the order they run
PROPERTIES = (
    "unbiased",
    "reduces_at_sigma_min_0",
    "finite_at_edges",
    "accurate_near_sigma_min_float32",
    "preserves_shape_and_dtype",
)

#: calls spent at most on shrinking a counterexample, per property
_SHRINK_CALLS = 200

U64 = float(np.finfo(np.float64).eps)
U32 = float(np.finfo(np.float32).eps)


def _standard(kind: str, t: Scalars, x_t: np.ndarray, x0: np.ndarray) -> np.ndarray:
    """The standard target for ``x_t = a x0 + b eps``, with ``eps`` read back from ``(x_t, x0)``."""
    eps = (x_t - t.a * x0) / t.b
    return {
        "x0": x0,
        "epsilon": eps,
        "v": t.a * eps - t.b * x0,
        "score": -eps / t.b,
        "velocity": t.da * x0 + t.db * eps,
    }[kind]


class _Properties:
    def __init__(self, call: _Caller, kind: str, schedule: Any) -> None:
        from . import strategies as S

        self.S, self.call, self.kind = S, call, kind
        self.schedule = self.sched = resolve(schedule)
        self.ve = math.isinf(self.sched.upper)
        # a named schedule has a factored gap D exact to a few ulp; any other one only as accurate as its a and b
        self.named = self.sched.name in ("vp", "ve", "flow")
        self.top = kind != "velocity"  # the velocity prediction diverges at the VP top

    def inner(self, lo: float, hi: float) -> tuple[float, float]:
        """Fractions ``lo..hi`` of a bounded domain."""
        low, width = self.sched.lower, self.sched.upper - self.sched.lower
        return low + lo * width, low + hi * width

    # -- unbiased ---------------------------------------------------------------------------------
    def unbiased_strategy(self) -> Any:
        st = self.S.st
        return st.fixed_dictionaries(
            {
                "levels": self.S.level_pairs(self.schedule, edges=False, top=False),
                "data": self.S.gaussians(st.integers(1, 4)),
                "n": st.integers(1, 3),
                "seed": st.integers(0, 2**32 - 1),
            }
        )

    def unbiased(self, ex: dict[str, Any]) -> None:
        s, m = ex["levels"]
        data: Gaussian = ex["data"]
        t, mm = pair_scalars(self.sched, s, m)
        rng = np.random.default_rng(ex["seed"])
        x = np.stack([data.sample(t, rng) for _ in range(ex["n"])])
        exm = np.stack([data.mean_xm(t, mm, xi) for xi in x])
        want = np.stack([data.posterior_mean(self.kind, t, xi) for xi in x])
        got = self.call(x, exm, np.full(len(x), s), np.full(len(x), m))
        cond = data.cond(t) * (1.0 + 1.0 / one_minus_r(t, mm))  # rounding of the gap D grows like 1 / (1 - r)
        _, c_m = ambient_coefficients(self.kind, t, mm)
        scale = error_scale(self.kind, t, mm, np.abs(x), np.abs(exm)) + cond * np.stack(
            [abs(c_m) * data.magnitude_xm(t, mm, xi) + data.magnitude(self.kind, t, xi) for xi in x]
        )
        _compare(got, want, scale, 1e-9, f"E[{self.kind} | x_t] (Gaussian data, float64)")

    # -- reduces_at_sigma_min_0 --------------------------------------------------------------------
    def reduces_strategy(self) -> Any:
        st = self.S.st
        levels = self.S.level_pairs(self.schedule, edges=False, top=False).map(lambda p: p[0])
        return st.fixed_dictionaries(
            {"sigma": levels, "shape": st.sampled_from([(1, 1), (2, 3), (4, 2)]), "seed": st.integers(0, 2**32 - 1)}
        )

    def reduces(self, ex: dict[str, Any]) -> None:
        s = ex["sigma"]
        t = self.sched.scalars(s)
        rng = np.random.default_rng(ex["seed"])
        x0, eps = rng.standard_normal(ex["shape"]), rng.standard_normal(ex["shape"])
        x_t = t.a * x0 + t.b * eps
        want = _standard(self.kind, t, x_t, x0)
        got = self.call(x_t, x0, np.full(len(x_t), s), np.zeros(len(x_t)))
        scale = error_scale(self.kind, t, CLEAN, np.abs(x_t), np.abs(x0)) + np.abs(want)
        _compare(got, want, scale, 64 * U64, f"the standard {self.kind} target")

    # -- finite_at_edges ---------------------------------------------------------------------------
    def edges_strategy(self) -> Any:
        st = self.S.st
        lo, hi = self.inner(0.05, 0.95) if not self.ve else (1e-2, 1e3)
        return st.fixed_dictionaries({"sigma_min": st.floats(lo, hi), "seed": st.integers(0, 2**32 - 1)})

    def edges(self, ex: dict[str, Any]) -> None:
        rng = np.random.default_rng(ex["seed"])
        x_m = rng.standard_normal((2, 3))
        z = rng.standard_normal((2, 3))
        for case, s, m in self.S.edge_cases(self.schedule, ex["sigma_min"], top=self.top):
            try:
                self._edge(case, s, m, x_m, z)
            except _Failure:
                ex.update(case=case, sigma=s, sigma_min=m)  # the counterexample is the failing case
                raise

    def _edge(self, case: str, s: float, m: float, x_m: np.ndarray, z: np.ndarray) -> None:
        where = f"{case}: sigma={s!r}, sigma_min={m!r}"
        if case == "equal" or (case == "one ulp above" and not self.named):
            try:
                out = self.call(x_m.copy(), x_m, np.full(2, s), np.full(2, m))
            except _Failure as exc:
                if exc.message.startswith("raised"):
                    return  # raising on an inadmissible pair is the right behaviour
                msg = f"{exc.message} ({where})"
                raise _Failure(msg, hang=exc.hang) from None
            if not np.all(np.isfinite(out)):
                what = (
                    "sigma == sigma_min (t == t_n)" if case == "equal" else "a pair closer than the schedule resolves"
                )
                msg = f"returned NaN or inf at {what} instead of raising ({where})"
                raise _Failure(msg)
            return
        t, mm = pair_scalars(self.sched, s, m)
        alpha, beta = transition(t, mm)
        try:
            out = self.call(alpha * x_m + beta * z, x_m, np.full(2, s), np.full(2, m))
        except _Failure as exc:
            msg = f"{exc.message} ({where})"
            raise _Failure(msg, hang=exc.hang) from None
        if not np.all(np.isfinite(out)):
            msg = f"non-finite output ({int(np.sum(~np.isfinite(out)))} of {out.size} entries) at {where}"
            raise _Failure(msg)

    # -- accurate_near_sigma_min_float32 -----------------------------------------------------------
    def accurate_strategy(self) -> Any:
        st = self.S.st
        ve = st.floats(math.log(1e-2), math.log(1e2)).map(math.exp)
        m = ve if self.ve else st.floats(*self.inner(0.05, 0.9))
        q = st.floats(math.log(1e-5), math.log(1e-3)).map(math.exp)
        return st.fixed_dictionaries({"sigma_min": m, "one_minus_r": q, "seed": st.integers(0, 2**32 - 1)})

    def accurate(self, ex: dict[str, Any]) -> None:
        m32 = np.float32(ex["sigma_min"])
        g = self.sched.schedule_free(float(m32)) / math.sqrt(1.0 - ex["one_minus_r"])
        s32 = np.float32(level_for_free(self.sched, g))
        if s32 <= m32:
            s32 = np.nextafter(m32, np.float32(np.inf))
        if not self.ve:
            s32 = min(s32, np.float32(self.sched.upper))
        t, mm = pair_scalars(self.sched, float(s32), float(m32))
        rng = np.random.default_rng(ex["seed"])
        x_m = rng.standard_normal((3, 4)).astype(np.float32)
        alpha, beta = transition(t, mm)
        x_t = (alpha * x_m.astype(np.float64) + beta * rng.standard_normal((3, 4))).astype(np.float32)
        c_t, c_m = ambient_coefficients(self.kind, t, mm)
        xt64, xm64 = x_t.astype(np.float64), x_m.astype(np.float64)
        want = c_t * xt64 + c_m * xm64
        got = self.call(x_t, x_m, np.full(3, s32, np.float32), np.full(3, m32, np.float32))
        scale = error_scale(self.kind, t, mm, np.abs(xt64), np.abs(xm64)) + np.abs(want)
        ex["sigma"] = float(s32)
        relax = 1.0 if self.named else 1.0 / one_minus_r(t, mm)  # D of another schedule: u / (1 - r) relative
        _compare(got, want, scale, 64 * U32 * relax, "the float64 reference")

    # -- preserves_shape_and_dtype -----------------------------------------------------------------
    def shapes_strategy(self) -> Any:
        st = self.S.st
        shape = st.one_of(self.S.batch_shapes(), st.integers(1, 4).map(lambda d: (d,)))
        return st.fixed_dictionaries(
            {"shape": shape, "dtype": st.sampled_from(["float32", "float64"]), "seed": st.integers(0, 2**32 - 1)}
        )

    def shapes(self, ex: dict[str, Any]) -> None:
        shape, dtype = ex["shape"], np.dtype(ex["dtype"])
        rng = np.random.default_rng(ex["seed"])
        lo, hi = self.inner(0.05, 0.95) if not self.ve else (0.05, 20.0)
        n = shape[0] if len(shape) == 3 else 1
        sig = rng.uniform(lo, hi, n).astype(dtype)
        sig_min = (sig * rng.uniform(0.0, 0.8, n)).astype(dtype)
        if n > 1:
            sig_min[0] = 0  # one clean sample in each batch
        x_m = rng.standard_normal(shape).astype(dtype)
        x_t = rng.standard_normal(shape).astype(dtype)
        if len(shape) == 3:
            got = self.call(x_t, x_m, sig, sig_min)
        else:
            got = self.call(x_t, x_m, float(sig[0]), float(sig_min[0]))
        want = np.empty(shape)
        scale = np.empty(shape)
        for i in range(n):
            t, mm = pair_scalars(self.sched, float(sig[i]), float(sig_min[i]))
            c_t, c_m = ambient_coefficients(self.kind, t, mm)
            xt, xm = (x_t[i], x_m[i]) if len(shape) == 3 else (x_t, x_m)
            w = c_t * xt.astype(np.float64) + c_m * xm.astype(np.float64)
            sc = error_scale(self.kind, t, mm, np.abs(xt.astype(np.float64)), np.abs(xm.astype(np.float64)))
            if len(shape) == 3:
                want[i], scale[i] = w, sc + np.abs(w)
            else:
                want, scale = w, sc + np.abs(w)
        _compare(got, want, scale, 1e-4, "the per-sample reference (levels applied along the batch axis)")


# ------------------------------------------------------------------------------------------------
# driver


def _run_property(name: str, strategy: Any, prop: Callable[[Any], None], config: Any, seed: int) -> PropertyResult:
    from hypothesis import find
    from hypothesis.errors import NoSuchExample

    state: dict[str, Any] = {"n": 0, "hang": None, "last": None, "worst": 0.0, "shrinks": 0, "spent": False}

    def condition(ex: Any) -> bool:
        if state["hang"] is not None:
            return True  # a hanging function is not searched further
        if state["last"] is not None and state["shrinks"] >= _SHRINK_CALLS:
            state["spent"] = True
            raise _ShrinkBudgetSpent  # ends the search; the last failure is the smallest so far
        state["n"] += 1
        if state["last"] is not None:
            state["shrinks"] += 1
        try:
            prop(ex)
        except _Failure as exc:
            if exc.hang:
                state["hang"] = (exc, _describe(ex))
            else:
                state["last"] = (exc, _describe(ex))
                if exc.error is not None and not exc.error <= state["worst"]:
                    state["worst"] = exc.error
            return True
        return False

    start = time.perf_counter()
    try:
        minimal = find(strategy, condition, settings=config, random=random.Random(seed))
    except NoSuchExample:
        return PropertyResult(name, True, examples=state["n"], seconds=time.perf_counter() - start)
    except Exception as exc:  # a defect of the checker itself: report it rather than crash the run
        if state["spent"]:
            failure, example = state["last"]
            return _failed(name, failure, example, state, start)
        msg = f"checker error: {type(exc).__name__}: {exc}"
        return PropertyResult(name, False, msg, examples=state["n"], seconds=time.perf_counter() - start)
    if state["hang"] is not None:
        failure, example = state["hang"]
    else:
        try:
            prop(minimal)
            failure, example = state["last"]
            failure = _Failure(f"{failure.message} (not reproducible on replay)", failure.error, failure.tolerance)
        except _Failure as exc:
            failure, example = exc, _describe(minimal)
    return _failed(name, failure, example, state, start)


def _failed(
    name: str, failure: _Failure, example: dict[str, Any], state: dict[str, Any], start: float
) -> PropertyResult:
    message = failure.message
    if failure.error is not None and state["worst"] > failure.error:
        message += f"; the largest error seen in the search was {state['worst']:.3g}"
    return PropertyResult(
        name,
        False,
        message,
        example,
        failure.error,
        failure.tolerance,
        examples=state["n"],
        seconds=time.perf_counter() - start,
    )


def _describe(ex: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in dict(ex).items():
        if key == "levels":
            out["sigma"], out["sigma_min"] = value
        elif isinstance(value, Gaussian):
            out["mu"], out["Sigma"] = value.mu, value.Sigma
        else:
            out[key] = value
    return out


def check_target_fn(
    fn: Callable[..., Any],
    *,
    prediction: str = "x0",
    schedule: Any = "vp",
    max_examples: int = 100,
    seed: int = 0,
    timeout: float = 5.0,
) -> CheckReport:
    """Check an implementation of the ambient target against exact oracles; returns a :class:`CheckReport`.

    Parameters
    ----------
    fn : callable
        ``fn(x_t, x_tmin, sigma, sigma_min)`` returning the target for ``prediction`` and ``schedule``,
        like :func:`ambientloss.ambient_target` with those keywords bound. Levels come as arrays of
        shape ``(B,)`` (one per sample, the dtype of the data) or, for one unbatched example, Python floats.
        The array library is detected from the arrays ``fn`` accepts: NumPy first, then PyTorch, then
        JAX (called with float64 enabled in its thread). Results of any library convertible to NumPy are fine;
        their types are listed in the report.
    prediction : str
        ``"x0"``, ``"epsilon"``, ``"v"``, ``"velocity"``, ``"score"`` or an alias.
    schedule : str, OracleSchedule or ambientloss.Schedule
        ``"vp"``, ``"ve"`` (``"edm"``), ``"flow"`` (``"rectified_flow"``), a custom
        :class:`~ambientloss.testing.gaussian.OracleSchedule`, or the :class:`ambientloss.Schedule` object
        ``fn`` uses (a :class:`~ambientloss.Custom` or :class:`~ambientloss.Discrete` one, say), whose
        ``alpha`` and ``sigma`` the oracles then evaluate in float64.
    max_examples : int
        Hypothesis examples per property (the search for a smaller counterexample comes on top).
    seed : int
        Seed of the search; equal seeds give equal reports.
    timeout : float
        Seconds one call of ``fn`` may take; a longer call fails the property and ends its search.

    Returns
    -------
    CheckReport
        ``.passed``, ``.failed``, per-property :class:`PropertyResult` (``report["unbiased"]``) and a
        readable ``str``.

    Examples
    --------
    >>> from functools import partial
    >>> import ambientloss as al
    >>> from ambientloss.testing.check import check_target_fn
    >>> fn = partial(al.ambient_target, prediction="epsilon")
    >>> report = check_target_fn(fn, prediction="epsilon", max_examples=10)
    >>> report.passed
    True
    """
    try:
        import hypothesis  # noqa: F401
    except ImportError as exc:
        msg = "check_target_fn needs Hypothesis; install it with `pip install hypothesis` or the `test` extra"
        raise ImportError(msg) from exc
    from hypothesis import HealthCheck, Phase, Verbosity, settings

    kind = canonical_prediction(prediction)
    oracle = resolve(schedule)
    if kind == "velocity" and math.isnan(oracle.scalars(0.5 * (oracle.lower + min(oracle.upper, 1.0))).da):
        msg = f"prediction='velocity' needs the derivatives of schedule {schedule!r} (d_a and d_b)"
        raise ValueError(msg)
    if max_examples < 1:
        msg = f"max_examples must be positive, got {max_examples}"
        raise ValueError(msg)
    if not timeout > 0:
        msg = f"timeout must be positive, got {timeout}"
        raise ValueError(msg)

    library, note = _detect_library(fn, timeout)
    if note:
        library = f"{library} (no library accepted: {note})"
    call = _Caller(fn, library.split()[0], timeout)
    props = _Properties(call, kind, oracle)
    config = settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],  # no slow "explain" phase
    )
    plan = [
        ("unbiased", props.unbiased_strategy(), props.unbiased),
        ("reduces_at_sigma_min_0", props.reduces_strategy(), props.reduces),
        ("finite_at_edges", props.edges_strategy(), props.edges),
        ("accurate_near_sigma_min_float32", props.accurate_strategy(), props.accurate),
        ("preserves_shape_and_dtype", props.shapes_strategy(), props.shapes),
    ]
    name = getattr(fn, "__qualname__", None) or getattr(getattr(fn, "func", None), "__qualname__", None) or repr(fn)
    label = schedule if isinstance(schedule, str) else repr(schedule)
    report = CheckReport(name, kind, label, library)
    for i, (prop_name, strategy, prop) in enumerate(plan):
        report.results.append(_run_property(prop_name, strategy, prop, config, seed * len(plan) + i))
    report.output_types = sorted(call.output_types)
    return report
