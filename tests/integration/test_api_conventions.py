"""One convention across the public API: level order, default schedule and prediction, adapter pairs.

Walks every public callable (functions, classes, their public methods) of ``ambientloss`` and its
public subpackages and modules, skipping private ones (a leading underscore) and the benchmark code.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ambientloss

LEVELS = ("sigma", "sigma_min", "sigma_max")
MISSING: set[str] = set()  # public modules whose framework is not installed here


def _public_modules() -> Iterator[Any]:
    yield ambientloss
    for info in pkgutil.walk_packages(ambientloss.__path__, "ambientloss."):
        parts = info.name.split(".")[1:]
        if any(p.startswith("_") for p in parts):
            continue
        try:
            yield importlib.import_module(info.name)
        except ImportError as err:  # an adapter whose framework is not installed
            if not str(err).startswith("No module named"):
                raise
            MISSING.add(info.name)


def _unwrap(v: Any) -> Any:
    return v.__func__ if isinstance(v, (classmethod, staticmethod)) else v


def _callables() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for module in _public_modules():
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if inspect.isclass(obj):
                methods = [(m, _unwrap(v)) for m, v in vars(obj).items() if not m.startswith("_")]
                members = [("__init__", obj.__init__)] + [(m, f) for m, f in methods if callable(f)]
                for m, f in members:
                    found.setdefault(f"{obj.__module__}.{obj.__qualname__}.{m}", f)
            elif callable(obj) and not isinstance(obj, type(ambientloss)):
                found.setdefault(f"{getattr(obj, '__module__', module.__name__)}.{name}", obj)
    return found


def _parameters(f: Any) -> dict[str, inspect.Parameter]:
    try:
        return dict(inspect.signature(f).parameters)
    except (TypeError, ValueError):
        return {}


CALLABLES = _callables()


def test_the_walk_sees_the_api():
    assert len(CALLABLES) > 150
    assert "ambientloss.core.targets.ambient_target" in CALLABLES


def test_no_public_callable_takes_sigma_min_before_sigma():
    wrong = []
    for name, f in CALLABLES.items():
        order = [p for p in _parameters(f) if p in LEVELS]
        if order != sorted(order, key=LEVELS.index):
            wrong.append(f"{name}{order}")
    assert not wrong, "level order must be (sigma, sigma_min, sigma_max): " + ", ".join(wrong)


def test_every_default_schedule_is_vp_and_every_default_prediction_is_x0():
    wrong = []
    for name, f in CALLABLES.items():
        params = _parameters(f)
        for option, want in (("schedule", "vp"), ("prediction", "x0")):
            p = params.get(option)
            if p is not None and p.default is not inspect.Parameter.empty and p.default not in (want, None):
                wrong.append(f"{name}: {option}={p.default!r}")
    assert not wrong, ", ".join(wrong)


def test_the_card_call_keeps_its_order_and_meaning():
    params = list(_parameters(ambientloss.ambient_target))
    assert params[:4] == ["x_t", "x_tmin", "sigma", "sigma_min"]
    x_tmin, sigma_min, sigma = np.array([[0.3, -1.2], [0.5, 0.1]]), np.array([0.0, 0.4]), np.array([0.6, 0.7])
    x_t = ambientloss.renoise(x_tmin, sigma, sigma_min, np.array([[0.1, 0.2], [-0.3, 1.0]]))
    target = ambientloss.ambient_target(x_t, x_tmin, sigma, sigma_min)
    assert np.array_equal(target[0], x_tmin[0])


def _adapter_pairs() -> list[Any]:
    out = [pytest.param("numpy", id="numpy")]
    for name in ("torch", "jax"):
        out.append(pytest.param(name, id=name, marks=pytest.mark.skipif(
            importlib.util.find_spec(name) is None, reason=f"{name} not installed")))  # fmt: skip
    return out


@pytest.mark.parametrize("library", _adapter_pairs())
def test_the_adapters_ambient_pair_agree_on_arguments_and_returns(library):
    """Every ``ambient_pair`` takes ``(x_tmin, sigma, sigma_min, ...)`` (JAX puts its key first), returns two arrays."""
    core = [p for p in _parameters(ambientloss.ambient_pair) if p in ("x_tmin", *LEVELS)]
    x_tmin, sigma_min, sigma = np.zeros((3, 2)), np.array([0.0, 0.2, 0.4]), np.array([0.5, 0.6, 0.7])
    if library == "numpy":
        from ambientloss.adapters import numpy as adapter

        fn = adapter.ambient_pair
        out = fn(x_tmin, sigma, sigma_min, rng=np.random.default_rng(0))
    elif library == "torch":
        import torch

        from ambientloss.adapters.torch import AmbientLoss

        fn = AmbientLoss().prepare
        t = torch.from_numpy
        out = fn(t(x_tmin), t(sigma), t(sigma_min), generator=torch.Generator().manual_seed(0))
    else:
        import jax

        from ambientloss.adapters import jax as adapter

        fn = adapter.ambient_pair
        out = fn(jax.random.key(0), x_tmin, sigma, sigma_min)
    assert [p for p in _parameters(fn) if p in ("x_tmin", *LEVELS)] == core
    assert isinstance(out, tuple)
    assert len(out) == 2  # (x_t, target)
    assert all(tuple(o.shape) == x_tmin.shape for o in out)


# --- the public API, snapshotted: a change to it is always deliberate ------------------------------

SNAPSHOT = Path(__file__).with_name("api_snapshot.txt")


def _describe(obj: Any) -> str:
    return re.sub(r"<class '([\w.]+)'>", r"\1", _signature(obj))  # a class default by its name, not its repr


def _signature(obj: Any) -> str:
    if inspect.isclass(obj):
        kind = "class"
    elif inspect.ismodule(obj):
        return "module"
    elif callable(obj):
        kind = "def"
    else:
        return f"{type(obj).__name__}"
    try:
        return f"{kind}{inspect.signature(obj)}"
    except (TypeError, ValueError):
        return kind


def public_api() -> list[str]:
    """One line per public name at its home, ``module.name: kind(signature)``, and one per public method.

    A core name is listed at the top level only (its module in ``ambientloss.core`` exports it too);
    ``test_public_surface.py`` checks that no other name has a second path.
    """
    lines, seen = [], set()
    for module in _public_modules():
        for name in sorted(getattr(module, "__all__", ())):
            obj = getattr(module, name)
            if not inspect.ismodule(obj):
                if id(obj) in seen:
                    continue
                seen.add(id(obj))
            lines.append(f"{module.__name__}.{name}: {_describe(obj)}")
            if inspect.isclass(obj) and obj.__module__.startswith("ambientloss"):
                for member, value in sorted(vars(obj).items()):
                    if not member.startswith("_") and callable(_unwrap(value)):
                        lines.append(f"{module.__name__}.{name}.{member}: {_describe(_unwrap(value))}")
    return lines


def test_the_public_api_matches_its_snapshot():
    """After a deliberate change, ``python tests/integration/test_api_conventions.py`` rewrites the snapshot.

    List the change in docs/changes.md.
    """
    got = public_api()
    want = [line for line in SNAPSHOT.read_text().splitlines() if not any(line.startswith(m + ".") for m in MISSING)]
    diff = [f"+ {line}" for line in sorted(set(got) - set(want))] + [
        f"- {line}" for line in sorted(set(want) - set(got))
    ]
    assert not diff, "public API changed:\n" + "\n".join(diff)


if __name__ == "__main__":
    SNAPSHOT.write_text("\n".join(public_api()) + "\n")
    print(f"wrote {SNAPSHOT} ({len(public_api())} lines)")
