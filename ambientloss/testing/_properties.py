"""The five properties of :func:`~ambientloss.testing.check.check_target_fn`, and which failure explains which."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._caller import _Caller, _compare, _compare_own, _Failure, _relative_error
from ._report import Finding, nonfinite_finding, two_digits
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

U64 = float(np.finfo(np.float64).eps)
U32 = float(np.finfo(np.float32).eps)

#: the data and closeness (fractions of the way to an edge) of the probes asking whether a bias explains a failure
_PROBE = Gaussian(np.array([0.5, -1.0]), np.array([[1.0, 0.3], [0.3, 0.5]]))
_CLOSE = (1e-2, 1e-4)


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


class Properties:
    """The properties of one function, prediction and schedule: strategies, checks and excuses."""

    def __init__(self, call: _Caller, kind: str, schedule: Any) -> None:
        from . import strategies as S

        self.S, self.call, self.kind = S, call, kind
        self.schedule = self.sched = resolve(schedule)
        self.ve = math.isinf(self.sched.upper)
        # a named schedule has a factored gap D exact to a few ulp; any other one only as accurate as its a and b
        self.named = self.sched.name in ("vp", "ve", "flow")
        self.top = kind != "velocity"  # the velocity prediction diverges at the VP top
        self.biased = False  # unbiased failed with a bias
        self.misshaped = False  # preserves_shape_and_dtype failed on a shape or dtype
        self.findings: dict[str, Finding] = {}

    def inner(self, lo: float, hi: float) -> tuple[float, float]:
        """Fractions ``lo..hi`` of a bounded domain."""
        low, width = self.sched.lower, self.sched.upper - self.sched.lower
        return low + lo * width, low + hi * width

    # -- one defect, one failure ---------------------------------------------------------------------
    def excuse(self, name: str, ex: dict[str, Any], exc: _Failure) -> str:
        """Why another property's failure explains this failure of ``name`` on ``ex``, or ``""``."""
        if exc.kind == "shape" and self.misshaped and name != "preserves_shape_and_dtype":
            return f"not judged: {exc.message}, which follows from the preserves_shape_and_dtype failure"
        if not self.biased or exc.kind not in ("value", "nonfinite"):
            return ""
        if name == "reduces_at_sigma_min_0" and self._limit_of_bias(ex):
            return (
                "not judged: follows from the unbiased failure (the function is biased as sigma_min -> 0, "
                "and its value at sigma_min = 0 is the limit of those biased values)"
            )
        if name == "finite_at_edges" and exc.kind == "nonfinite" and self._bias_diverges(ex):
            return (
                f"not judged: follows from the unbiased failure (the function is biased on the way to the "
                f"{ex['case']!r} edge, where its output is NaN or inf: {exc.message})"
            )
        return ""

    def biased_at(self, s: float, m: float) -> bool:
        """``unbiased`` fails with a bias at the pair ``(s, m)`` on the probe data."""
        if not 0 <= m < s <= self.sched.upper:
            return False
        try:
            self._unbiased_at(s, m, _PROBE, 2, 0)
        except _Failure as exc:
            return exc.z is not None
        return False

    def _limit_of_bias(self, ex: dict[str, Any]) -> bool:
        """Biased at ``sigma_min = 1e-2 sigma`` and ``1e-4 sigma``, and at 0 equal to its value at ``1e-9 sigma``."""
        s = ex["sigma"]
        if not all(self.biased_at(s, d * s) for d in _CLOSE):
            return False
        t, x_t, x0 = self._clean_inputs(ex)
        n = len(x_t)
        try:
            at = self.call(x_t, x0, np.full(n, s), np.zeros(n))
            near = self.call(x_t, x0, np.full(n, s), np.full(n, 1e-9 * s))
        except _Failure:
            return False
        if not np.all(np.isfinite(at)):
            return True  # diverges at 0 after a bias all the way down
        scale = error_scale(self.kind, t, CLEAN, np.abs(x_t), np.abs(x0)) + np.abs(at)
        try:
            _compare(near, at, scale, 1e-6, "its value at sigma_min = 0")
        except _Failure:
            return False
        return True

    def _bias_diverges(self, ex: dict[str, Any]) -> bool:
        """Biased at admissible pairs 1e-2 and 1e-4 of the way from the failing edge case to the interior."""
        case, s, m = ex["case"], ex["sigma"], ex["sigma_min"]
        if case == "top":
            pairs = [(s - d * (s - m), m) for d in _CLOSE]
        elif case == "clean":
            pairs = [(s, d * s) for d in _CLOSE]
        elif case in ("tiny", "huge"):
            pairs = [(s ** (1 - d), m * s**-d) for d in _CLOSE]  # the same ratio m / s, a little less extreme
        elif case == "one ulp above":
            free = self.sched.schedule_free(m)
            pairs = [(level_for_free(self.sched, free / math.sqrt(1 - d)), m) for d in _CLOSE]  # 1 - r = d
        else:
            return False
        return all(self.biased_at(*p) for p in pairs)

    # -- unbiased ---------------------------------------------------------------------------------
    def unbiased_strategy(self) -> Any:
        st = self.S.st
        return st.fixed_dictionaries(
            {
                "levels": self.S.level_pairs(self.schedule, edges=False, clean=False, top=False),
                "data": self.S.gaussians(st.integers(1, 4)),
                "n": st.integers(1, 3),
                "seed": st.integers(0, 2**32 - 1),
            }
        )

    def unbiased(self, ex: dict[str, Any]) -> None:
        s, m = ex["levels"]
        self._unbiased_at(s, m, ex["data"], ex["n"], ex["seed"])

    def _unbiased_at(self, s: float, m: float, data: Gaussian, n: int, seed: int) -> None:
        t, mm = pair_scalars(self.sched, s, m)
        rng = np.random.default_rng(seed)
        x = np.stack([data.sample(t, rng) for _ in range(n)])
        exm = np.stack([data.mean_xm(t, mm, xi) for xi in x])
        want = np.stack([data.posterior_mean(self.kind, t, xi) for xi in x])
        got = self.call(x, exm, np.full(n, s), np.full(n, m))
        cond = data.cond(t) * (1.0 + 1.0 / one_minus_r(t, mm))  # rounding of the gap D grows like 1 / (1 - r)
        _, c_m = ambient_coefficients(self.kind, t, mm)
        scale = error_scale(self.kind, t, mm, np.abs(x), np.abs(exm)) + cond * np.stack(
            [abs(c_m) * data.magnitude_xm(t, mm, xi) + data.magnitude(self.kind, t, xi) for xi in x]
        )
        tol = 1e-9
        err = _relative_error(got, want, scale, f"E[{self.kind} | x_t] (Gaussian data, float64)")
        if not err <= tol:
            # T = c_t x_t + c_m x_tmin: its standard deviation given x_t is |c_m| times that of x_tmin
            sd = np.maximum(abs(c_m) * np.sqrt(np.diag(data.cov_xm(t, mm))), np.finfo(np.float64).tiny)
            with np.errstate(all="ignore"):
                here = float(np.max(np.abs(got - want) / sd))
            z = self._typical_z(s, m, data, sd, here)
            msg = (
                f"biased: E[T | x_t] misses E[{self.kind} | x_t] by z = {two_digits(z)} standard deviations of T "
                f"given x_t (root mean square over x_t; {two_digits(here)} at this x_t; relative error {err:.2g}, "
                f"tolerance {tol:.2g}; Gaussian data, float64)"
            )
            raise _Failure(msg, err, tol, z=z, kind="value")

    def _typical_z(self, s: float, m: float, data: Gaussian, sd: np.ndarray, here: float) -> float:
        """The bias ``E[T | x_t] - E[k | x_t]`` in units of ``sd``, root mean square over ``x_t ~ N(a mu, C_t)``.

        A target is affine in ``x_t``, and so is its bias ``b(x) = b(a mu) + B (x - a mu)``: its mean
        square is ``b(a mu)^2 + diag(B C_t B^T)``, read from one call at ``a mu`` and one unit step
        along each axis (``here``, the value at the counterexample, if that call fails).
        """
        t, mm = pair_scalars(self.sched, s, m)
        x = t.a * data.mu + np.vstack([np.zeros(data.d), np.eye(data.d)])
        try:
            got = self.call(x, np.stack([data.mean_xm(t, mm, xi) for xi in x]), np.full(len(x), s), np.full(len(x), m))
        except _Failure:
            return here
        with np.errstate(all="ignore"):  # a function NaN or inf at these points: z at the counterexample
            bias = got - np.stack([data.posterior_mean(self.kind, t, xi) for xi in x])
            slope = (bias[1:] - bias[0]).T  # column j: the change along axis j
            mean_square = bias[0] ** 2 + np.einsum("ij,jk,ik->i", slope, data.cov(t), slope)
            z = float(np.max(np.sqrt(mean_square) / sd))
        return z if math.isfinite(z) else here

    # -- reduces_at_sigma_min_0 --------------------------------------------------------------------
    def reduces_strategy(self) -> Any:
        st = self.S.st
        levels = self.S.level_pairs(self.schedule, edges=False, top=False).map(lambda p: p[0])
        return st.fixed_dictionaries(
            {"sigma": levels, "shape": st.sampled_from([(1, 1), (2, 3), (4, 2)]), "seed": st.integers(0, 2**32 - 1)}
        )

    def _clean_inputs(self, ex: dict[str, Any]) -> tuple[Scalars, np.ndarray, np.ndarray]:
        t = self.sched.scalars(ex["sigma"])
        rng = np.random.default_rng(ex["seed"])
        x0, eps = rng.standard_normal(ex["shape"]), rng.standard_normal(ex["shape"])
        return t, t.a * x0 + t.b * eps, x0

    def reduces(self, ex: dict[str, Any]) -> None:
        t, x_t, x0 = self._clean_inputs(ex)
        want = _standard(self.kind, t, x_t, x0)
        got = self.call(x_t, x0, np.full(len(x_t), ex["sigma"]), np.zeros(len(x_t)))
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
        excused: tuple[_Failure, dict[str, Any]] | None = None
        for case, s, m in self.S.edge_cases(self.schedule, ex["sigma_min"], top=self.top):
            try:
                self._edge(case, s, m, x_m, z)
            except _Failure as exc:
                where = {"case": case, "sigma": s, "sigma_min": m}
                ex.update(where)  # the counterexample is the failing case
                exc.excuse = self.excuse("finite_at_edges", ex, exc)
                if not exc.excuse:
                    raise
                excused = excused or (exc, where)
        if excused is not None:
            ex.update(excused[1])
            raise excused[0]

    def _edge(self, case: str, s: float, m: float, x_m: np.ndarray, z: np.ndarray) -> None:
        where = f"{case}: sigma={s!r}, sigma_min={m!r}"
        if case == "equal" or (case == "one ulp above" and not self.named):
            try:
                out = self.call(x_m.copy(), x_m, np.full(2, s), np.full(2, m))
            except _Failure as exc:
                if exc.message.startswith("raised"):
                    return  # raising on an inadmissible pair is the right behaviour
                msg = f"{exc.message} ({where})"
                raise _Failure(msg, hang=exc.hang, kind=exc.kind) from None
            if not np.all(np.isfinite(out)):
                finding = nonfinite_finding(case, {"sigma": s, "sigma_min": m})
                self.findings.setdefault(finding.name, finding)
            return
        t, mm = pair_scalars(self.sched, s, m)
        alpha, beta = transition(t, mm)
        try:
            out = self.call(alpha * x_m + beta * z, x_m, np.full(2, s), np.full(2, m))
        except _Failure as exc:
            msg = f"{exc.message} ({where})"
            raise _Failure(msg, hang=exc.hang, kind=exc.kind) from None
        if not np.all(np.isfinite(out)):
            msg = f"non-finite output ({int(np.sum(~np.isfinite(out)))} of {out.size} entries) at {where}"
            raise _Failure(msg, kind="nonfinite")

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
        ex["sigma"] = float(s32)
        t, mm = pair_scalars(self.sched, float(s32), float(m32))
        rng = np.random.default_rng(ex["seed"])
        x_m = rng.standard_normal((3, 4)).astype(np.float32)
        alpha, beta = transition(t, mm)
        x_t = (alpha * x_m.astype(np.float64) + beta * rng.standard_normal((3, 4))).astype(np.float32)
        xt64, xm64 = x_t.astype(np.float64), x_m.astype(np.float64)
        got = self.call(x_t, x_m, np.full(3, s32, np.float32), np.full(3, m32, np.float32))
        own = self.call(xt64, xm64, np.full(3, float(s32)), np.full(3, float(m32)))
        scale = error_scale(self.kind, t, mm, np.abs(xt64), np.abs(xm64)) + np.abs(own)
        relax = 1.0 if self.named else 1.0 / one_minus_r(t, mm)  # D of another schedule: u / (1 - r) relative
        _compare_own(got, own, scale, 64 * U32 * relax, "its own float64 output on the same inputs")

    # -- preserves_shape_and_dtype -----------------------------------------------------------------
    def shapes_strategy(self) -> Any:
        st = self.S.st
        flat = st.tuples(st.integers(1, 5), st.integers(1, 4))
        return st.fixed_dictionaries(
            {
                "shape": st.one_of(self.S.batch_shapes(), flat),
                "dtype": st.sampled_from(["float32", "float64"]),
                "seed": st.integers(0, 2**32 - 1),
            }
        )

    def shapes(self, ex: dict[str, Any]) -> None:
        try:
            self._shapes(ex)
        except _Failure as exc:
            self.misshaped = self.misshaped or exc.kind == "shape"
            raise

    def _shapes(self, ex: dict[str, Any]) -> None:
        shape, dtype = ex["shape"], np.dtype(ex["dtype"])
        rng = np.random.default_rng(ex["seed"])
        lo, hi = self.inner(0.05, 0.95) if not self.ve else (0.05, 20.0)
        n = shape[0]
        sig = rng.uniform(lo, hi, n).astype(dtype)
        sig_min = (sig * rng.uniform(0.0, 0.8, n)).astype(dtype)
        if n > 1:
            sig_min[0] = 0  # one clean sample in each batch
        x_m = rng.standard_normal(shape).astype(dtype)
        x_t = rng.standard_normal(shape).astype(dtype)
        got = self.call(x_t, x_m, sig, sig_min)
        own = np.stack([self.call(x_t[i], x_m[i], float(sig[i]), float(sig_min[i])) for i in range(n)])
        scale = np.empty(shape)
        for i in range(n):
            t, mm = pair_scalars(self.sched, float(sig[i]), float(sig_min[i]))
            xt, xm = np.abs(x_t[i].astype(np.float64)), np.abs(x_m[i].astype(np.float64))
            scale[i] = error_scale(self.kind, t, mm, xt, xm)
        scale += np.abs(own.astype(np.float64))
        try:
            _compare_own(got, own, scale, 1e-4, "its own output for each example called alone with scalar levels")
        except _Failure as exc:
            msg = f"the batched call: {exc.message}; the levels are not applied along the batch axis"
            raise _Failure(msg, exc.error, exc.tolerance, kind=exc.kind) from None
