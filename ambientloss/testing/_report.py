"""The report of :func:`~ambientloss.testing.check.check_target_fn`: findings first, then one result per property."""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["CheckReport", "Finding", "PropertyResult"]

# ------------------------------------------------------------------------------------------------
# report


@dataclass
class Finding:
    """Something a correct implementation may do but training must avoid: not a failed property.

    ``name`` identifies it (``"nonfinite_at_sigma_min"``: NaN or inf at ``sigma == sigma_min``;
    ``"nonfinite_below_resolution"``: NaN or inf for a pair closer than the schedule's ``a`` and ``b``
    resolve), ``summary`` says what was seen, ``details`` what happens, why it matters and what to do,
    and ``example`` is the first example where it was seen.
    """

    name: str
    summary: str
    details: list[str] = field(default_factory=list)
    example: dict[str, Any] | None = None

    def __str__(self) -> str:
        lines = [f"  FINDING  {self.summary}"]
        for line in self.details:
            lines += textwrap.wrap(line, 110, initial_indent=" " * 11, subsequent_indent=" " * 13)
        if self.example:
            lines.append(f"           example: {_example(self.example)}")
        return "\n".join(lines)


@dataclass
class PropertyResult:
    """Outcome of one property.

    ``passed``, a ``message`` on failure, the smallest counterexample found, the measured ``error`` and
    its ``tolerance`` (both relative to the size of the terms, where the failure is numerical), for a
    bias ``z``: the miss in standard deviations of the target given ``x_t``, the number of examples
    tried and the time taken. ``judged`` is False (and ``passed`` too) when every counterexample is
    explained by another property's failure (the ``message`` names it): one defect, one failure.
    """

    name: str
    passed: bool
    message: str = ""
    counterexample: dict[str, Any] | None = None
    error: float | None = None
    tolerance: float | None = None
    examples: int = 0
    seconds: float = 0.0
    z: float | None = None
    judged: bool = True

    @property
    def status(self) -> str:
        """``"PASS"``, ``"FAIL"`` or ``"----"`` (not judged)."""
        return "----" if not self.judged else "PASS" if self.passed else "FAIL"

    def __str__(self) -> str:
        head = f"  {self.status}  {self.name:<34} {self.examples:>5} calls {self.seconds:6.2f} s"
        if self.passed:
            return head
        lines = [head, *textwrap.wrap(self.message, 110, initial_indent=" " * 8, subsequent_indent=" " * 10)]
        if self.error is not None and self.z is None:  # a bias states its error and z in the message
            tol = "" if self.tolerance is None else f" (tolerance {self.tolerance:.3g})"
            lines.append(f"        error: {self.error:.3g}{tol}")
        if self.counterexample:
            lines.append(f"        counterexample: {_example(self.counterexample)}")
        return "\n".join(lines)


@dataclass
class CheckReport:
    """All results of one :func:`check_target_fn` run.

    ``passed`` when no property failed (findings allowed); ``passed_strict`` when, in addition,
    there is no finding.
    """

    function: str
    prediction: str
    schedule: str
    library: str
    results: list[PropertyResult] = field(default_factory=list)
    output_types: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def passed_strict(self) -> bool:
        """``passed`` and no finding (what ``ambientloss verify --strict`` asks)."""
        return self.passed and not self.findings

    @property
    def failed(self) -> list[str]:
        """Names of the failed properties (not those left unjudged)."""
        return [r.name for r in self.results if r.judged and not r.passed]

    @property
    def not_judged(self) -> list[str]:
        """Names of the properties whose counterexamples another failure explains."""
        return [r.name for r in self.results if not r.judged]

    def __getitem__(self, name: str) -> PropertyResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def __str__(self) -> str:
        n_ok = sum(r.passed for r in self.results)
        verdict = "PASSED" if self.passed else "FAILED"
        head = f"{self.function} (prediction={self.prediction!r}, schedule={self.schedule!r}): "
        head += f"{verdict}, {n_ok}/{len(self.results)} properties"
        if self.not_judged:
            head += f" ({len(self.failed)} failed, {len(self.not_judged)} not judged)"
        if self.findings:
            n = len(self.findings)
            head += f"; {n} finding{'s' if n > 1 else ''} (a failure under a strict check)"
        types = ", ".join(self.output_types) or "none"
        lines = [head, *[str(f) for f in self.findings], f"  called with {self.library} arrays; returned {types}"]
        lines += [str(r) for r in self.results]
        return "\n".join(lines)


def two_digits(x: float) -> str:
    """``x`` to 2 significant digits, written out between 0.01 and 10,000: ``"1.0"``, ``"0.35"``, ``"3100"``.

    >>> two_digits(1.0), two_digits(0.3512), two_digits(3.14e3), two_digits(2.5e-7)
    ('1.0', '0.35', '3100', '2.5e-07')
    """
    if not (math.isfinite(x) and 0.01 <= abs(x) < 1e4):
        return f"{x:.2g}"
    rounded = float(f"{x:.2g}")
    return f"{rounded:.{max(1 - math.floor(math.log10(abs(rounded))), 0)}f}"


def _example(example: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_short(v)}" for k, v in example.items())


def _short(v: Any) -> str:
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, np.ndarray):
        return np.array2string(v, precision=4, separator=", ", threshold=12)
    return repr(v)


# ------------------------------------------------------------------------------------------------
# findings

_ONE_NAN = "one NaN row makes a whole batch's loss and gradient NaN."
_HOW = (
    "how to avoid it: draw sigma strictly above sigma_min, never with randint(t_n, T), which includes t_n: "
    "ambientloss.sampling.sample_truncated(u, sigma_min, base=..., buffer=ambientloss.Buffer(min_gap=0.05)) "
    "does, and its buffer keeps 1 - r above 0.05, where the target's variance is at most 20 times that of "
    "x_tmin's noise; under jit or torch.compile also pass where=ambientloss.admissible(sigma, sigma_min) to "
    "ambientloss.squared_error."
)


def nonfinite_finding(case: str, example: dict[str, Any]) -> Finding:
    """The finding for NaN or inf at ``sigma == sigma_min`` (``case="equal"``) or one ulp above it."""
    if case == "equal":
        return Finding(
            "nonfinite_at_sigma_min",
            "returns NaN or inf at sigma == sigma_min (t == t_n) instead of raising",
            [
                "what happens: the target divides by the gap D = a_m^2 b_t^2 - a_t^2 b_m^2, which is 0 there; "
                "ambientloss.ambient_target does the same under ambientloss.checks(False), jit and "
                "torch.compile, and raises a ValueError with checks on.",
                "why training must never draw this level: there x_t = alpha x_tmin carries no noise of its own, "
                "so there is nothing to learn, and the target's variance sigma~_min^2 / (1 - r) is infinite; "
                + _ONE_NAN,
                _HOW,
            ],
            example,
        )
    return Finding(
        "nonfinite_below_resolution",
        "returns NaN or inf one ulp above sigma_min, a pair closer than the schedule's a and b resolve",
        [
            "what happens: the gap D = (a_m b_t - a_t b_m)(a_m b_t + a_t b_m) is only as accurate as a and b; "
            "one ulp apart a_m b_t and a_t b_m round alike and D comes out 0 or negative "
            "(ambientloss.ambient_target too, under ambientloss.checks(False)).",
            "why training must never draw such a pair: with 1 - r of a few ulp the target's variance "
            "sigma~_min^2 / (1 - r) is some 1e15 times that of x_tmin's noise, nothing a network can learn from; "
            + _ONE_NAN,
            _HOW,
        ],
        example,
    )
