"""Doctest collection: skip the adapters whose framework is not installed."""

import importlib.util
from pathlib import Path

_ADAPTERS = Path(__file__).parent / "ambientloss" / "adapters"

collect_ignore = [
    f"ambientloss/adapters/{path.name}"
    for path in sorted(_ADAPTERS.glob("*.py"))
    for name in ("torch", "jax", "ray")
    if path.stem.split("_")[0] == name and importlib.util.find_spec(name) is None
]
collect_ignore += [
    f"ambientloss/annotation/_{name}.py" for name in ("torch", "jax") if importlib.util.find_spec(name) is None
]
