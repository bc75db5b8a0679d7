"""Doctest collection: skip the adapters whose framework is not installed."""

import importlib.util

collect_ignore = [
    f"ambientloss/adapters/{name}.py" for name in ("torch", "jax") if importlib.util.find_spec(name) is None
]
