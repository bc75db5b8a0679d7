"""Ray Data: run a pure per-batch annotation function over a distributed dataset.

The function given to :func:`ambientloss.annotation.annotate_stream` runs unchanged in
``ray.data.Dataset.map_batches`` with NumPy batches (a dict of column arrays): :func:`ray_batch_fn`
wraps it into such a batch function and :func:`annotate_ray` applies it. Nothing here imports Ray;
the dataset brings it (install the ``ray`` extra, ``ray[data]``).

Examples
--------
>>> import numpy as np
>>> from ambientloss.adapters.ray import ray_batch_fn
>>> udf = ray_batch_fn(lambda b: b["x"].sum(axis=1), output="total", keep=["id"])
>>> udf({"id": np.array([7, 8]), "x": np.ones((2, 3))})
{'id': array([7, 8]), 'total': array([3., 3.])}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..annotation._streaming import batch_result

__all__ = ["annotate_ray", "ray_batch_fn"]


def ray_batch_fn(
    fn: Callable[[Any], Any], /, *, output: str = "sigma_min", keep: Sequence[str] | None = None
) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """Wrap a per-batch function for Ray Data ``map_batches(..., batch_format="numpy")``.

    The wrapper calls ``fn`` on the dict-of-NumPy batch unchanged, checks it returned one row per
    sample, and returns the columns ``keep`` (all input columns by default) plus ``output``. The
    wrapper is picklable whenever ``fn`` is.
    """
    if not callable(fn):
        msg = f"fn must be callable, got {type(fn).__name__}"
        raise TypeError(msg)

    def udf(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if output in batch:
            msg = f"the batch already has a column {output!r}; choose another output name"
            raise ValueError(msg)
        values = batch_result(fn, batch)
        missing = [k for k in keep or () if k not in batch]
        if missing:
            msg = f"keep names columns {missing} that the batch lacks (columns: {sorted(batch)})"
            raise KeyError(msg)
        kept = dict(batch) if keep is None else {k: batch[k] for k in keep}
        return {**kept, output: values}

    return udf


def annotate_ray(
    dataset: Any,
    fn: Callable[[Any], Any],
    /,
    *,
    output: str = "sigma_min",
    keep: Sequence[str] | None = None,
    batch_size: int | None = 1024,
    **map_batches_options: Any,
) -> Any:
    """``dataset.map_batches`` of :func:`ray_batch_fn` in NumPy batch format; returns the lazy dataset.

    Keep an id column (``keep=["id"]``) to join the results back: Ray need not preserve row order.
    """
    if not hasattr(dataset, "map_batches"):
        msg = f"dataset must be a ray.data.Dataset, got {type(dataset).__name__}"
        raise TypeError(msg)
    udf = ray_batch_fn(fn, output=output, keep=keep)
    return dataset.map_batches(udf, batch_format="numpy", batch_size=batch_size, **map_batches_options)
