"""Output of benchmark runs: JSON with NumPy values as plain numbers (bulky entries dropped or shortened),
and progress lines stamped with the seconds since the start."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["jsonable", "stamped_log", "write_json"]


def jsonable(x: Any, *, drop: Collection[str] = (), head: Mapping[str, int] | None = None) -> Any:
    """``x`` with arrays as lists, keys in ``drop`` left out and lists under keys of ``head`` cut to that
    many entries (arrays rounded to 4 decimals).

    Examples
    --------
    >>> jsonable({"a": np.float32(0.5), "traces": [1], "paths": [np.array([0.123456])] * 3}, drop={"traces"},
    ...          head={"paths": 1})
    {'a': 0.5, 'paths': [[0.1235]]}
    """
    if isinstance(x, dict):
        head = head or {}
        return {
            str(k): jsonable(
                [np.round(np.asarray(p), 4) for p in v[: head[k]]] if k in head else v, drop=drop, head=head
            )
            for k, v in x.items()
            if k not in drop
        }
    if isinstance(x, (list, tuple)):
        return [jsonable(v, drop=drop, head=head) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return x


def write_json(obj: Any, path: Path, **options: Any) -> None:
    """Write :func:`jsonable` of ``obj`` (``options`` passed on) to ``path``."""
    path.write_text(json.dumps(jsonable(obj, **options), indent=1))


def stamped_log(t0: float | None = None) -> Callable[[str], None]:
    """A ``log(text)`` that prints ``[  12 s] text`` to stderr, counting seconds from ``t0`` (default: now)."""
    start = time.perf_counter() if t0 is None else t0

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - start:6.0f} s] {text}", file=sys.stderr, flush=True)

    return log
