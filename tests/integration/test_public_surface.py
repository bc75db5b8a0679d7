"""One home per public name, and ``dir()`` that lists the public API only.

The rule, over every public module (no leading underscore in its dotted path) and its ``__all__``:

* an object is exported by exactly one public module, its home; the one exception is the core, whose
  names are exported by their defining module in ``ambientloss.core`` and, when the top level
  re-exports them, by ``ambientloss`` (their documented path); the top level exports core names only;
* a subpackage's ``__init__`` exports only names defined in its private modules (``ambientloss.sampling``
  exports ``sample_truncated`` from ``sampling/_truncated.py``), so the package is then their home;
* one name means one thing: two public modules that export the same name export the same object,
  except for the adapters and the testing oracles, whose functions take the name of the library
  function they wrap (``ambientloss.adapters.torch.sample_truncated``) or re-derive
  (``ambientloss.testing.gaussian.target_variance``).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections import defaultdict
from typing import Any

import pytest

import ambientloss

SUBPACKAGES = ("adapters", "annotation", "sampling", "testing")
WRAPPERS = ("ambientloss.adapters.", "ambientloss.testing.")  # may reuse a library function's name
# LeRobot's loss accepts two of the core's reductions under the core's name; the LeRobot adapter's own
# reorganisation renames it (this entry then fails the test below and goes)
SHARED_NAMES: set[tuple[str, str]] = set()


def _public_modules() -> list[Any]:
    found = [ambientloss]
    for info in pkgutil.walk_packages(ambientloss.__path__, "ambientloss."):
        if any(part.startswith("_") for part in info.name.split(".")[1:]):
            continue
        try:
            found.append(importlib.import_module(info.name))
        except ImportError as err:  # an adapter whose framework is not installed here
            if not str(err).startswith("No module named"):
                raise
    return found


MODULES = _public_modules()


def _exports() -> list[tuple[str, str, Any]]:
    """``(module, name, object)`` for every non-module name in a public module's ``__all__``."""
    out = []
    for module in MODULES:
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if not inspect.ismodule(obj):
                out.append((module.__name__, name, obj))
    return out


EXPORTS = _exports()


def test_the_walk_sees_every_layer():
    homes = {module for module, _, _ in EXPORTS}
    for want in ("ambientloss", "ambientloss.annotation", "ambientloss.sampling", "ambientloss.testing.gaussian"):
        assert want in homes
    assert len(EXPORTS) > 150


def test_every_public_module_declares_its_exports():
    # the CLI is a program, not an API
    missing = [m.__name__ for m in MODULES if not hasattr(m, "__all__") and m.__name__ != "ambientloss.cli"]
    assert not missing, f"public modules without __all__: {missing}"


def test_each_object_has_one_home():
    paths: dict[int, list[str]] = defaultdict(list)
    for module, name, obj in EXPORTS:
        if obj is Any:  # a type alias (``Array``, ``Namespace``): a name for the reader, not an object
            continue
        paths[id(obj)].append(f"{module}.{name}")
    wrong = []
    for where in paths.values():
        if len(where) == 1:
            continue
        modules = {p.rsplit(".", 1)[0] for p in where}
        core = [m for m in modules if m.startswith("ambientloss.core.")]
        if len(where) == 2 and "ambientloss" in modules and len(core) == 1:
            continue  # a core name: its defining module and the top level
        wrong.append(" and ".join(sorted(where)))
    assert not wrong, "exported from more than one public path: " + "; ".join(wrong)


def test_the_top_level_exports_core_names_only():
    top = [(n, o) for m, n, o in EXPORTS if m == "ambientloss" and n != "__version__"]
    assert len(top) > 30
    foreign = [n for n, o in top if not getattr(o, "__module__", "ambientloss.core.").startswith("ambientloss.core.")]
    assert not foreign, f"the top level exports only core names, not {foreign}"
    # the feature subpackages are reachable from it as modules, and nothing else is
    assert [n for n in ambientloss.__all__ if inspect.ismodule(getattr(ambientloss, n))] == list(SUBPACKAGES)


def test_subpackages_export_only_names_of_their_private_modules():
    wrong = []
    for pkg in SUBPACKAGES:
        module = importlib.import_module(f"ambientloss.{pkg}")
        for name in module.__all__:
            home = getattr(getattr(module, name), "__module__", None)
            if isinstance(home, str) and not any(p.startswith("_") for p in home.split(".")[2:]):
                wrong.append(f"ambientloss.{pkg}.{name} (defined in public {home})")
    assert not wrong, ", ".join(wrong)


def test_one_name_means_one_thing():
    by_name: dict[str, list[tuple[str, Any]]] = defaultdict(list)
    for module, name, obj in EXPORTS:
        by_name[name].append((module, obj))
    wrong = []
    for name, found in by_name.items():
        distinct = {id(o): (m, o) for m, o in found}
        if len(distinct) == 1:
            continue
        kept = [
            m
            for m, o in distinct.values()
            if not (m.startswith(WRAPPERS) and callable(o)) and (name, m) not in SHARED_NAMES
        ]
        if len(kept) > 1:
            wrong.append(f"{name} in {sorted(kept)}")
    assert not wrong, "one name, several meanings: " + "; ".join(wrong)
    walked = {module.__name__ for module in MODULES}
    stale = [f"{n} in {m}" for n, m in SHARED_NAMES if m in walked and all(mod != m for mod, _ in by_name.get(n, []))]
    assert not stale, f"exemptions that no longer apply: {stale}"


@pytest.mark.parametrize("name", ["", "core", *SUBPACKAGES])
def test_dir_lists_the_public_api_only(name):
    module = importlib.import_module(f"ambientloss.{name}" if name else "ambientloss")
    assert dir(module) == sorted(module.__all__)
    # the module's globals hold nothing public beyond its API and its own submodules (bound on import)
    submodules = {info.name for info in pkgutil.iter_modules(module.__path__)}
    extra = {k for k in vars(module) if not k.startswith("_")} - set(module.__all__) - submodules
    assert not extra, f"{module.__name__} leaks {sorted(extra)}"


def test_dir_of_the_top_level_names_no_helper():
    assert not {"Any", "TYPE_CHECKING", "annotations", "importlib", "core"} & set(dir(ambientloss))
    assert {"ambient_target", "sampling", "testing", "__version__"} <= set(dir(ambientloss))


# --- one calling convention for the truncated samplers ------------------------------------------


def _params(f: Any) -> list[str]:
    return list(inspect.signature(f).parameters)


@pytest.mark.parametrize("name", ["sample_truncated", "truncated_timesteps"])
@pytest.mark.parametrize(("adapter", "randomness"), [("numpy", "rng"), ("torch", "generator"), ("jax", "key")])
def test_adapter_samplers_take_the_core_arguments_and_their_own_randomness(adapter, randomness, name):
    """The core takes the uniforms first; an adapter draws them with its own randomness argument."""
    pytest.importorskip(adapter)
    from ambientloss import sampling

    wrapper = getattr(importlib.import_module(f"ambientloss.adapters.{adapter}"), name)
    core = [p for p in _params(getattr(sampling, name)) if p not in ("u", "xp")]
    params = _params(wrapper)
    assert [p for p in params if p in core] == core
    assert randomness in params
    kind = inspect.signature(wrapper).parameters[randomness].kind
    # JAX takes its key first, as every function of the JAX adapter; NumPy and PyTorch take a keyword
    assert kind == (inspect.Parameter.POSITIONAL_ONLY if adapter == "jax" else inspect.Parameter.KEYWORD_ONLY)
    if adapter == "jax":
        assert params[0] == "key"
    levels = [p for p, v in inspect.signature(wrapper).parameters.items() if p in ("sigma_min", "sigma_max")]
    assert all(inspect.signature(wrapper).parameters[p].kind == inspect.Parameter.POSITIONAL_ONLY for p in levels)
