"""Property-based verification of any ambient-target implementation against exact float64 oracles.

:func:`check_target_fn` takes a function with the signature of :func:`ambientloss.ambient_target`,
``fn(x_t, x_tmin, sigma, sigma_min)``, written for NumPy, PyTorch or JAX, and checks five
properties with Hypothesis (the ``test`` extra). Each judges one thing, so that one defect fails
one property:

``unbiased``
    ``E[T | x_t] = E[k | x_t]`` for Gaussian data and ``sigma > sigma_min > 0``. A target is affine in
    ``x_tmin``, so ``E[T | x_t = x] = fn(x, E[x_tmin | x_t = x], sigma, sigma_min)`` exactly; it is
    compared with the closed-form posterior mean in float64, relative to the size of the terms and the
    conditioning (tolerance ``1e-9``). A miss is also reported as a z-score: in standard deviations of
    ``T`` given ``x_t``, ``|c_m| sqrt(diag Cov[x_tmin | x_t])`` for ``T = c_t x_t + c_m x_tmin``, the root
    mean square of the bias over ``x_t`` (the largest coordinate), with its value at the counterexample.
    Levels are ordinary draws below the VP top; the edges are the business of ``finite_at_edges``.
``reduces_at_sigma_min_0``
    ``sigma_min = 0`` gives the standard target from ``(x_t, x0)`` to 64 ulp of the size of the terms.
    Not judged when ``unbiased`` failed with a bias that explains it: the function is biased as
    ``sigma_min -> 0`` and its value at 0 is the limit of those values. A function right above 0
    and wrong at 0 fails here.
``finite_at_edges``
    Finite output, for every example, at each admissible case of
    :func:`~ambientloss.testing.strategies.edge_cases`: ``sigma`` one ulp above ``sigma_min``, a clean
    sample at a small level, the VP top ``s = 1`` (not for the velocity prediction, which diverges
    there), tiny and huge VE levels. Not judged where ``unbiased`` failed and the function is biased
    on the way to the edge (its NaN or inf there is that bias diverging).
``accurate_near_sigma_min_float32``
    float32 inputs with ``1 - r`` between ``1e-5`` and ``1e-3`` against the function's own float64
    output on the same (upcast) inputs, within 64 float32 ulp of the size of the terms (which grows
    like ``1 / (1 - r)``); for a schedule other than the named three, whose ``D`` is only as accurate as
    its ``a`` and ``b``, within ``64 u / (1 - r)``. A formula wrong in every precision passes here.
``preserves_shape_and_dtype``
    ``(B, T, D)`` action chunks (``B == T`` included) and ``(B, D)`` batches with ``(B,)`` levels:
    the output has the shape and dtype of ``x_t`` and equals, to ``1e-4`` of the size of the terms,
    the function's own output for each example called alone with Python-float levels (a level
    broadcast along the wrong axis is caught; a wrong formula is not this property's business).
    Elsewhere a wrong shape or dtype leaves the other properties not judged.

**Findings.** NaN or inf at ``sigma == sigma_min`` (the inadmissible ``t == t_n``), and for a schedule
other than the named three one ulp above ``sigma_min`` (a pair closer than ``a`` and ``b`` resolve),
is not a failed property: :func:`ambientloss.ambient_target` itself returns NaN there under
``ambientloss.checks(False)``. It is a finding, listed first in the report with what happens, why
training must never draw that level and how to avoid it; ``report.passed`` allows findings,
``report.passed_strict`` does not. Raising there is fine and no finding.

An exception, a wrong shape or dtype, a non-array result, non-finite values or a call running past
``timeout`` seconds fails that property with a message; the run then moves on to the next one.
Hypothesis then shrinks the failing example, for at most 200 further calls.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

from ..core.targets import canonical_prediction
from ._caller import _Caller, _detect_library
from ._properties import Properties
from ._report import CheckReport, Finding, PropertyResult
from ._search import run_property
from .oracle_schedules import resolve

__all__ = ["PROPERTIES", "CheckReport", "Finding", "PropertyResult", "check_target_fn"]

#: names of the checked properties, in the order of the report
PROPERTIES = (
    "unbiased",
    "reduces_at_sigma_min_0",
    "finite_at_edges",
    "accurate_near_sigma_min_float32",
    "preserves_shape_and_dtype",
)

#: the order they run in: shapes first and unbiased second, as their failures can explain the others'
_RUN_ORDER = (
    "preserves_shape_and_dtype",
    "unbiased",
    "reduces_at_sigma_min_0",
    "finite_at_edges",
    "accurate_near_sigma_min_float32",
)


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
        ``.passed`` (no property failed), ``.passed_strict`` (nor any finding), ``.failed``,
        ``.findings``, per-property :class:`PropertyResult` (``report["unbiased"]``) and a readable
        ``str`` that lists the findings first.

    Examples
    --------
    >>> from functools import partial
    >>> import ambientloss as al
    >>> from ambientloss.testing.check import check_target_fn
    >>> fn = partial(al.ambient_target, prediction="epsilon")
    >>> report = check_target_fn(fn, prediction="epsilon", max_examples=10)
    >>> report.passed, report.failed, report.findings
    (True, [], [])
    >>> def unchecked(x_t, x_tmin, sigma, sigma_min):   # NaN at sigma == sigma_min: a finding, not a failure
    ...     with al.checks(False):
    ...         return al.ambient_target(x_t, x_tmin, sigma, sigma_min)
    >>> report = check_target_fn(unchecked, max_examples=10)
    >>> report.passed, report.passed_strict, [f.name for f in report.findings]
    (True, False, ['nonfinite_at_sigma_min'])
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
    props = Properties(call, kind, oracle)
    config = settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],  # no slow "explain" phase
    )
    plan = {
        "unbiased": (props.unbiased_strategy(), props.unbiased),
        "reduces_at_sigma_min_0": (props.reduces_strategy(), props.reduces),
        "finite_at_edges": (props.edges_strategy(), props.edges),
        "accurate_near_sigma_min_float32": (props.accurate_strategy(), props.accurate),
        "preserves_shape_and_dtype": (props.shapes_strategy(), props.shapes),
    }
    results: dict[str, PropertyResult] = {}
    for prop_name in _RUN_ORDER:
        strategy, prop = plan[prop_name]
        prop_seed = seed * len(PROPERTIES) + PROPERTIES.index(prop_name)
        result = run_property(prop_name, strategy, prop, config, prop_seed, partial(props.excuse, prop_name))
        results[prop_name] = result
        if prop_name == "unbiased":
            props.biased = result.judged and result.z is not None
    name = getattr(fn, "__qualname__", None) or getattr(getattr(fn, "func", None), "__qualname__", None) or repr(fn)
    label = schedule if isinstance(schedule, str) else repr(schedule)
    report = CheckReport(name, kind, label, library, [results[p] for p in PROPERTIES])
    report.findings = list(props.findings.values())
    report.output_types = sorted(call.output_types)
    return report
