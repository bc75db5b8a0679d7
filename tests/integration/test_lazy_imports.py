"""``import ambientloss`` loads the core only; the feature subpackages load on first use, unchanged."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import ambientloss

LAZY = ("adapters", "annotation", "sampling", "testing")


def _loaded_after(code: str) -> list[str]:
    script = f"import sys\n{code}\nprint(' '.join(sorted(m for m in sys.modules if m.startswith('ambientloss'))))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_import_loads_the_core_only():
    loaded = _loaded_after("import ambientloss")
    assert not [m for m in loaded if m.split(".")[1:2] and m.split(".")[1] in LAZY], loaded
    assert "ambientloss.core.targets" in loaded


@pytest.mark.parametrize("name", LAZY)
def test_a_feature_loads_on_first_use_and_is_the_module_itself(name):
    loaded = _loaded_after(f"import ambientloss\nambientloss.{name}")
    assert f"ambientloss.{name}" in loaded
    assert getattr(ambientloss, name) is importlib.import_module(f"ambientloss.{name}")
    assert name in dir(ambientloss)


def test_unknown_attribute_names_the_module_and_the_name():
    with pytest.raises(AttributeError, match="module 'ambientloss' has no attribute 'sampler'"):
        _ = ambientloss.sampler
