"""Switch value checks off, for a training step that must not wait on the device.

In eager mode every public function checks its levels by value (``sigma > sigma_min``, inside the
schedule's domain, no NaN) and raises a ``ValueError`` naming the argument, the value and the index.
Reading a value means one device-to-host synchronisation per call on a GPU, which stalls the launch
queue of the training step. Inside ``with ambientloss.checks(False):`` nothing is read on the host:
the functions behave as under ``jax.jit`` / ``torch.compile``, and every inadmissible entry comes out
NaN in the target, ``x_t`` and weight (never a finite wrong number). Pass the admissibility mask as
``where=`` to :func:`~ambientloss.squared_error` to drop such entries.

Shapes, dtypes and option names are still checked: they cost no synchronisation. The setting is a
:class:`contextvars.ContextVar`, so it is local to the thread (and to the asyncio task) that sets it,
and it is read when a function is called, so it also applies while a function is being traced.

``with ambientloss.checks("finite"):`` is the stricter level, opt-in: the value checks as above, and
also every data array (``x_tmin``, ``x_t``, ``x0``, ``noise``) must be finite, or a ``ValueError``
names the array, the value and its index. Levels are checked for NaN and inf at every level that
checks values. It costs one elementwise test and one host read per data array; off (the default),
nothing at all is added.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from .arrays import CHECKS, FINITE

__all__ = ["checks", "checks_enabled"]


@contextmanager
def checks(enabled: bool | Literal["finite"], /) -> Iterator[None]:
    """Turn value checks on or off inside a ``with`` block (thread- and task-local).

    Parameters
    ----------
    enabled : bool or "finite"
        ``False``: no public function reads array values on the host; inadmissible entries come
        out NaN. ``True`` (the default outside any block): at most one host read per call, and bad
        input raises a ``ValueError`` that names it. ``"finite"``: as ``True``, and every data
        array must also be finite (one more host read per array), else a ``ValueError`` names it.

    Examples
    --------
    >>> import numpy as np
    >>> import ambientloss as al
    >>> sigma_min, sigma = 0.5, 0.3                   # sigma below sigma_min: no target exists
    >>> with al.checks(False):                        # NaN, and no error
    ...     al.ambient_pair(np.ones(2), sigma, sigma_min, np.ones(2))[1]
    array([nan, nan])
    >>> al.checks_enabled()
    True
    >>> with al.checks("finite"):                     # NaN in the data: named, not propagated
    ...     al.ambient_pair(np.array([np.nan, 1.0]), 0.6, 0.3, np.ones(2))
    Traceback (most recent call last):
    ...
    ValueError: x_tmin must be finite (no NaN or inf) under checks('finite'); got nan at index (0,)
    """
    if not (isinstance(enabled, bool) or (isinstance(enabled, str) and enabled == "finite")):
        msg = f"enabled must be a bool or 'finite', got {enabled!r}"
        raise TypeError(msg)
    token = CHECKS.set(bool(enabled))
    strict = FINITE.set(enabled == "finite")
    try:
        yield
    finally:
        FINITE.reset(strict)
        CHECKS.reset(token)


def checks_enabled() -> bool:
    """Whether value checks are on in the current thread or task."""
    return CHECKS.get()
