"""JSON output of benchmark runs: NumPy values as plain numbers, bulky entries dropped or shortened."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["jsonable", "write_json"]


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
