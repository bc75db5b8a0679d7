"""The report of :func:`~ambientloss.testing.check.check_target_fn`: one result per property."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["CheckReport", "PropertyResult"]

# ------------------------------------------------------------------------------------------------
# report


@dataclass
class PropertyResult:
    """Outcome of one property: ``passed``, a ``message`` on failure, the smallest counterexample found,
    the measured ``error`` and its ``tolerance`` (both relative to the size of the terms, where the
    failure is numerical), the number of examples tried and the time taken."""

    name: str
    passed: bool
    message: str = ""
    counterexample: dict[str, Any] | None = None
    error: float | None = None
    tolerance: float | None = None
    examples: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        head = f"  {'PASS' if self.passed else 'FAIL'}  {self.name:<34} {self.examples:>5} calls {self.seconds:6.2f} s"
        if self.passed:
            return head
        lines = [head, f"        {self.message}"]
        if self.error is not None:
            tol = "" if self.tolerance is None else f" (tolerance {self.tolerance:.3g})"
            lines.append(f"        error: {self.error:.3g}{tol}")
        if self.counterexample:
            example = ", ".join(f"{k}={_short(v)}" for k, v in self.counterexample.items())
            lines.append(f"        counterexample: {example}")
        return "\n".join(lines)


@dataclass
class CheckReport:
    """All property results of one :func:`check_target_fn` run; ``passed`` when every property passed."""

    function: str
    prediction: str
    schedule: str
    library: str
    results: list[PropertyResult] = field(default_factory=list)
    output_types: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> list[str]:
        """Names of the failed properties."""
        return [r.name for r in self.results if not r.passed]

    def __getitem__(self, name: str) -> PropertyResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)

    def __str__(self) -> str:
        n_ok = sum(r.passed for r in self.results)
        verdict = "PASSED" if self.passed else "FAILED"
        types = ", ".join(self.output_types) or "none"
        lines = [
            f"{self.function} (prediction={self.prediction!r}, schedule={self.schedule!r}): "
            f"{verdict}, {n_ok}/{len(self.results)} properties",
            f"  called with {self.library} arrays; returned {types}",
        ]
        lines += [str(r) for r in self.results]
        return "\n".join(lines)


def _short(v: Any) -> str:
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, np.ndarray):
        return np.array2string(v, precision=4, separator=", ", threshold=12)
    return repr(v)
