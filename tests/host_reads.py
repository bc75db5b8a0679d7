"""Count the host reads of a block of torch code: every way a tensor's value reaches Python.

Shared by the core's, the torch adapter's and the LeRobot adapter's tests (``tests/`` is on ``sys.path``
beside ``tests/conftest.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

NAMES = ("__bool__", "__float__", "__int__", "__index__", "item", "tolist", "numpy", "cpu", "__array__", "__dlpack__")


@contextlib.contextmanager
def count_host_reads(torch: Any) -> Iterator[list[int]]:
    """Count calls of ``bool``, ``float``, ``int``, ``index``, ``item``, ``tolist``, ``numpy``, ``cpu``, ``__array__``
    and ``__dlpack__`` on tensors (the last three: a copy to NumPy, a device read on an accelerator)."""
    count = [0]
    saved = {name: getattr(torch.Tensor, name) for name in NAMES}

    def counting(original: Any) -> Any:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            count[0] += 1
            return original(self, *args, **kwargs)

        return wrapper

    try:
        for name, original in saved.items():
            setattr(torch.Tensor, name, counting(original))
        yield count
    finally:
        for name, original in saved.items():
            setattr(torch.Tensor, name, original)
