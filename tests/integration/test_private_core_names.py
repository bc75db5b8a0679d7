"""Outside ``ambientloss/core`` no module imports a private core name or a private core module.

The import contract in pyproject (lint-imports) forbids the private core modules; this scan also
catches a private name (a leading underscore) taken from a public core module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ambientloss

PACKAGE = Path(ambientloss.__file__).parent


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def private_core_imports(root: Path = PACKAGE) -> list[str]:
    """``file:line target`` for every import of a private core module or name outside the core."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if (root / "core") in path.parents:
            continue
        module = _module_name(path, root)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                target = _resolve(node, module, path.name == "__init__.py")
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.Import):
                target, names = "", [alias.name for alias in node.names]
                names = [n for n in names if n.startswith("ambientloss.core")]
                if names:
                    target, names = names[0], []
            else:
                continue
            if not (target == "ambientloss.core" or target.startswith("ambientloss.core.")):
                continue
            private_module = any(part.startswith("_") for part in target.split(".")[2:])
            private_names = [n for n in names if n.startswith("_")]
            if private_module or private_names:
                what = target + (f" ({', '.join(private_names)})" if private_names else "")
                found.append(f"{path.relative_to(root.parent)}:{node.lineno} {what}")
    return found


def test_no_module_outside_the_core_imports_a_private_core_name():
    found = private_core_imports()
    assert not found, "private core names imported outside ambientloss/core:\n" + "\n".join(found)


def test_the_scan_finds_private_names_and_modules(tmp_path):
    package = tmp_path / "ambientloss"
    (package / "core").mkdir(parents=True)
    (package / "sampling").mkdir()
    (package / "core" / "levels.py").write_text("from ._domain import inside\n")  # inside the core: allowed
    (package / "sampling" / "a.py").write_text(
        "from ..core.buffer import Buffer, _private\nfrom ..core._domain import inside\n"
        "import ambientloss.core._domain\nfrom ambientloss.core.levels import Levels\n"
    )
    found = private_core_imports(package)
    assert found == [
        "ambientloss/sampling/a.py:1 ambientloss.core.buffer (_private)",
        "ambientloss/sampling/a.py:2 ambientloss.core._domain",
        "ambientloss/sampling/a.py:3 ambientloss.core._domain",
    ]
