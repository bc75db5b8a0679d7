"""Array plumbing shared by every public function: namespaces, dtypes, level alignment, checks.

Public for the library's features and adapters, and for code that extends them: functions written
with these helpers resolve namespaces, dtypes and value checks exactly as the core does. Nothing here
imports a framework. The namespace comes from :mod:`array_api_compat` (or from the
caller's ``xp=``), and the helpers only ever look at modules the user has already imported.
"""

from __future__ import annotations

import math
import sys
from contextvars import ContextVar
from typing import Any

import array_api_compat
import numpy as np

__all__ = [
    "CHECKS",
    "FINITE",
    "Array",
    "Namespace",
    "aligned_shape",
    "as_array",
    "as_level",
    "cast",
    "check_data",
    "check_floating",
    "check_level_dtype",
    "check_same_shape",
    "compute_dtype",
    "device_of",
    "is_scalar",
    "is_traced",
    "namespace",
    "numpy_namespace",
    "raise_where",
    "reshape_to",
    "sigmoid",
    "to_numpy",
    "values_readable",
]

Array = Any
Namespace = Any

_SCALAR_TYPES = (int, float)


def is_scalar(value: object) -> bool:
    """Whether ``value`` is a plain Python number (``bool`` excluded)."""
    return isinstance(value, _SCALAR_TYPES) and not isinstance(value, bool)


def _library(value: object) -> str:
    kind = type(value)
    return f"{kind.__module__.split('.')[0]}.{kind.__name__}"


#: the namespace of each array type seen, for the libraries whose namespace depends on the type alone
_NAMESPACES: dict[type, Namespace] = {}
_CACHED_LIBRARIES = frozenset({"numpy", "torch", "jax", "jaxlib"})


def _compiling() -> bool:
    """Whether ``torch.compile`` is tracing the caller (False when torch is not imported)."""
    torch = sys.modules.get("torch")
    return torch is not None and bool(torch.compiler.is_compiling())


def namespace(named: dict[str, object], xp: Namespace | None) -> Namespace:
    """Return the array namespace shared by the named arguments.

    Python scalars are skipped. Arguments from two different libraries raise ``TypeError`` naming
    both; anything that is neither an array nor a number raises ``TypeError`` naming the argument.
    """
    if xp is not None:
        return xp
    found: Namespace | None = None
    first = ""
    for name, value in named.items():
        if value is None:
            continue
        kind = type(value)
        this = _NAMESPACES.get(kind)
        if this is None:
            if is_scalar(value):
                continue
            try:
                this = array_api_compat.array_namespace(value)
            except TypeError:
                msg = f"{name} must be an array or a Python number, got {_library(value)}"
                raise TypeError(msg) from None
            if kind.__module__.split(".")[0] in _CACHED_LIBRARIES and not _compiling():
                _NAMESPACES[kind] = this  # not while torch.compile traces: it would guard on the change
        if found is None:
            found, first = this, name
        elif this is not found:
            msg = (
                f"{name} is a {_library(value)} but {first} is a {_library(named[first])}; "
                "all arrays must come from one library"
            )
            raise TypeError(msg)
    if found is None:
        names = ", ".join(named)
        msg = f"at least one of {names} must be an array"
        raise TypeError(msg)
    return found


def numpy_namespace() -> Namespace:
    """The array-API namespace of NumPy, used for plain Python numbers."""
    import array_api_compat.numpy as np_xp

    return np_xp


def as_array(value: Any, name: str, xp: Namespace | None) -> tuple[Array, Namespace, bool]:
    """``(array, namespace, was_a_number)``: ``value`` as an array (float64 NumPy for a Python number).

    Raises ``TypeError`` naming ``name`` for a non-floating array.
    """
    scalar = is_scalar(value)
    if xp is None:
        xp = numpy_namespace() if scalar else namespace({name: value}, None)
    arr = xp.asarray(float(value), dtype=xp.float64) if scalar else value
    check_floating(arr, name, xp)
    return arr, xp, scalar


def device_of(x: Array) -> Any:
    """The device of ``x`` read without ``array_api_compat.device`` (which warns under compile).

    JAX arrays get ``None``: tracers have no ``.device``, sharded arrays report a sharding, and JAX
    places new constants correctly without one.
    """
    if type(x).__module__.startswith("jax"):
        return None
    try:
        return x.device
    except (AttributeError, ValueError):
        return None


def _same_dtype_ops(xp: Namespace) -> tuple[Any, Any]:
    """``(where, all)`` of ``xp`` for operands of one dtype and shape (``all`` over every axis).

    array_api_compat's PyTorch ``where`` and ``all`` add type promotion and axis handling that such
    calls never use: there, PyTorch's own functions give the same results with less Python per call.
    Nothing is cached: a cache filled on the first call would make ``torch.compile`` guard on it and
    compile the first step twice.
    """
    if getattr(xp, "__name__", None) == "array_api_compat.torch":  # a name torch.compile can trace
        torch = sys.modules.get("torch")
        if torch is not None:
            return torch.where, torch.all
    return xp.where, xp.all


def _is_floating(x: Array, xp: Namespace) -> bool:
    return bool(xp.isdtype(x.dtype, "real floating"))


def check_floating(x: Array, name: str, xp: Namespace) -> None:
    """Raise ``TypeError`` unless ``x`` has a real floating dtype."""
    if not _is_floating(x, xp):
        msg = f"{name} must have a real floating dtype, got {x.dtype}"
        raise TypeError(msg)


def check_level_dtype(level: Array, name: str, xp: Namespace) -> None:
    """``TypeError`` unless a noise level is real floating; integers are pointed to ``sigma_for_timestep``."""
    if _is_floating(level, xp):
        return
    msg = f"{name} must have a real floating dtype, got {level.dtype}"
    if xp.isdtype(level.dtype, "integral"):
        msg += (
            f"; integer timesteps are not levels: convert them with the Discrete schedule's "
            f"schedule.sigma_for_timestep({name}) (ambientloss.Discrete)"
        )
    raise TypeError(msg)


def check_same_shape(a: Array, b: Array, name_a: str, name_b: str) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` have equal shapes (no silent broadcasting)."""
    if tuple(a.shape) != tuple(b.shape):
        msg = f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        raise ValueError(msg)


def compute_dtype(xp: Namespace, *arrays: Array) -> Any:
    """float64 when any input is float64, otherwise float32 (also for bf16 / fp16 inputs)."""
    for a in arrays:
        if a is not None and not is_scalar(a) and a.dtype == xp.float64:
            return xp.float64
    return xp.float32


def cast(a: Array, dtype: Any, xp: Namespace) -> Array:
    """``a`` in ``dtype`` (no copy when it already is)."""
    return a if a.dtype == dtype else xp.astype(a, dtype)


def check_data(data: dict[str, Array], levels: dict[str, object], xp: Namespace | None) -> Namespace:
    """Resolve the namespace of all inputs and check the data arrays: floating, equal shapes."""
    xp = namespace({**data, **levels}, xp)
    names = list(data)
    for name in names:
        check_floating(data[name], name, xp)
    for name in names[1:]:
        check_same_shape(data[names[0]], data[name], names[0], name)
    if names and values_readable(data[names[0]]) and FINITE.get():  # off by default: not even an operation
        for name in names:
            message = f"{name} must be finite (no NaN or inf) under checks('finite'); got {{v!r}}"
            raise_where(~xp.isfinite(data[name]), xp, message, v=data[name])
    return xp


def aligned_shape(shape: tuple[int, ...], x_shape: tuple[int, ...], name: str, x_name: str) -> tuple[int, ...]:
    """Right-pad ``shape`` with ones to ``len(x_shape)`` after checking it matches the leading axes.

    A level of shape ``(B,)`` against ``x`` of shape ``(B, T, D)`` becomes ``(B, 1, 1)``. Each axis
    must equal the corresponding axis of ``x`` or be 1.
    """
    if len(shape) > len(x_shape):
        msg = (
            f"{name} with shape {shape} has more axes than {x_name} with shape {x_shape}; "
            f"{name} must match the leading axes of {x_name}"
        )
        raise ValueError(msg)
    for axis, (n, m) in enumerate(zip(shape, x_shape, strict=False)):
        if n not in (1, m):
            msg = (
                f"{name} with shape {shape} does not align with the leading axes of {x_name} "
                f"with shape {x_shape} (axis {axis}: {n} vs {m})"
            )
            raise ValueError(msg)
    return tuple(shape) + (1,) * (len(x_shape) - len(shape))


def reshape_to(value: Array, x_shape: tuple[int, ...], name: str, x_name: str, xp: Namespace) -> Array:
    """``value`` right-padded with axes of length 1 to broadcast against an array of shape ``x_shape``.

    The shape is checked as in :func:`aligned_shape`; an array that already has ``len(x_shape)`` axes is returned as is.
    """
    if len(value.shape) == len(x_shape):
        return value
    return xp.reshape(value, aligned_shape(tuple(value.shape), x_shape, name, x_name))


def as_level(value: object, name: str, x: Array, x_name: str, dtype: Any, xp: Namespace) -> Array:
    """Turn a noise level (Python number or array) into an array right-padded against ``x``."""
    if is_scalar(value):
        v = float(value)  # type: ignore[arg-type]
        if not math.isfinite(v):
            msg = f"{name} must be finite, got {v}"
            raise ValueError(msg)
        return xp.asarray(v, dtype=dtype, device=device_of(x))
    array: Array = value  # not a Python number, so an array
    check_level_dtype(array, name, xp)
    shape = aligned_shape(tuple(array.shape), tuple(x.shape), name, x_name)
    level = xp.astype(array, dtype) if array.dtype != dtype else array
    return xp.reshape(level, shape) if shape != tuple(level.shape) else level


#: whether public functions may read array values on the host to check them (see ambientloss.checks)
CHECKS: ContextVar[bool] = ContextVar("ambientloss_checks", default=True)
#: whether the data arrays are also checked for NaN and inf (``checks("finite")``); read only where CHECKS is on
FINITE: ContextVar[bool] = ContextVar("ambientloss_checks_finite", default=False)


def values_readable(x: Array) -> bool:
    """Whether value checks run on ``x``: checks are on (:func:`ambientloss.checks`) and ``x`` is not traced.

    Where this is False nothing is read on the host, and inadmissible entries come out NaN instead of raising.
    """
    return not is_traced(x) and CHECKS.get()  # in this order: torch.compile cannot trace ContextVar.get


def is_traced(x: Array) -> bool:
    """Whether ``x`` is abstract (jit / vmap / compile), so its values cannot be read."""
    module = type(x).__module__
    if module.startswith("jax"):
        return not _jax_is_concrete(x)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        if torch.compiler.is_compiling():
            return True
        functorch = getattr(torch._C, "_functorch", None)
        if functorch is not None and functorch.is_functorch_wrapped_tensor(x):
            return True
        return bool(getattr(x, "is_meta", False))
    return False


def _jax_is_concrete(x: Array) -> bool:
    jax = sys.modules["jax"]
    return isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer)


def to_numpy(a: Array) -> np.ndarray:
    """Copy of ``a`` as a NumPy array; used only to build error messages."""
    if hasattr(a, "detach"):
        a = a.detach().cpu()
    try:
        return np.asarray(np.from_dlpack(a))
    except (TypeError, RuntimeError, BufferError, AttributeError):
        return np.asarray(a)


def raise_where(bad: Array, xp: Namespace, message: str, **named: Array) -> None:
    """Raise ``ValueError`` if any entry of boolean ``bad`` is set, naming the first offending index.

    ``message`` is formatted with the offending values of ``named`` (broadcast to ``bad``'s shape).
    Does nothing for traced arrays, whose values cannot be read, and while checks are off.
    """
    if not values_readable(bad) or not bool(xp.any(bad)):
        return
    mask = to_numpy(bad)
    index = tuple(int(i) for i in np.argwhere(mask)[0])
    while index and mask.shape[len(index) - 1] == 1:  # drop the right-padding axes
        index = index[:-1]
    values = {}
    for key, value in named.items():
        arr = np.broadcast_to(to_numpy(value), mask.shape) if not is_scalar(value) else np.asarray(value)
        values[key] = float(arr[tuple(np.argwhere(mask)[0])]) if arr.ndim else float(arr)
    where = f" at index {index}" if index else ""
    raise ValueError(message.format(**values) + where)


def sigmoid(x: Array, xp: Namespace) -> Array:
    """The logistic function without overflow: ``1 / (1 + e)`` or ``e / (1 + e)`` with ``e = exp(-|x|)``."""
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
