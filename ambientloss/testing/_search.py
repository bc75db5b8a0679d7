"""The search behind :func:`~ambientloss.testing.check.check_target_fn`: one Hypothesis search per property."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from ._caller import _Failure, _ShrinkBudgetSpent
from ._report import PropertyResult, two_digits
from .gaussian import Gaussian

#: calls spent at most on shrinking a counterexample, per property
_SHRINK_CALLS = 200

#: ``excuse(example, failure)``: why another property's failure explains this one, or ``""`` (or ``None``)
Excuse = Callable[[Any, _Failure], "str | None"]


def run_property(
    name: str, strategy: Any, prop: Callable[[Any], None], config: Any, seed: int, excuse: Excuse
) -> PropertyResult:
    """Search for a counterexample to ``prop``; failures that ``excuse`` explains do not count.

    When every failing example is explained, the result is not judged, with the first explanation
    as its message.
    """
    from hypothesis import find
    from hypothesis.errors import NoSuchExample

    state: dict[str, Any] = {"n": 0, "hang": None, "last": None, "worst": 0.0, "shrinks": 0, "spent": False}
    state["excused"], state["worst_z"] = None, 0.0

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
                state["hang"] = (exc, describe(ex))
                return True
            reason = excuse(ex, exc) if exc.excuse is None else exc.excuse
            if reason:
                if state["excused"] is None:
                    state["excused"] = (reason, describe(ex))
                return False
            state["last"] = (exc, describe(ex))
            if exc.error is not None and not exc.error <= state["worst"]:
                state["worst"] = exc.error
            if exc.z is not None and not exc.z <= state["worst_z"]:
                state["worst_z"] = exc.z
            return True
        return False

    start = time.perf_counter()
    try:
        minimal = find(strategy, condition, settings=config, random=random.Random(seed))
    except NoSuchExample:
        seconds = time.perf_counter() - start
        if state["excused"] is not None:
            reason, example = state["excused"]
            return PropertyResult(name, False, reason, example, examples=state["n"], seconds=seconds, judged=False)
        return PropertyResult(name, True, examples=state["n"], seconds=seconds)
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
            failure = _Failure(
                f"{failure.message} (not reproducible on replay)", failure.error, failure.tolerance, z=failure.z
            )
        except _Failure as exc:
            failure, example = exc, describe(minimal)
    return _failed(name, failure, example, state, start)


def _failed(
    name: str, failure: _Failure, example: dict[str, Any], state: dict[str, Any], start: float
) -> PropertyResult:
    message = failure.message
    if failure.z is not None and state["worst_z"] > failure.z:
        message += f"; the largest z seen in the search was {two_digits(state['worst_z'])}"
    elif failure.error is not None and state["worst"] > failure.error:
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
        z=failure.z,
    )


def describe(ex: Any) -> dict[str, Any]:
    """An example as the report shows it: levels by name, a Gaussian by its mean and covariance."""
    out: dict[str, Any] = {}
    for key, value in dict(ex).items():
        if key == "levels":
            out["sigma"], out["sigma_min"] = value
        elif isinstance(value, Gaussian):
            out["mu"], out["Sigma"] = value.mu, value.Sigma
        else:
            out[key] = value
    return out
