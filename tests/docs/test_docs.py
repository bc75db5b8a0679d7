"""The documentation site: strict build, complete API reference, runnable code, nav and snippets.

The build tests need ``mkdocs-material`` and ``mkdocstrings[python]`` (the ``docs`` extra) and are
skipped without them; CI installs them. The code blocks of the pages run without them.
"""

from __future__ import annotations

import html
import importlib
import importlib.util
import os
import pkgutil
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

import ambientloss

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

#: pages whose ```python blocks run here, in order, sharing one namespace per page
RUNNABLE_PAGES = [
    "quickstart.md",
    "concepts/schedules.md",
    "math/index.md",
    "math/structure.md",
    "math/talk-correction.md",
    "math/weighting.md",
    "math/soft-ambient.md",
    "sigma-levels.md",
    "verifying.md",
    "reproducing.md",
    "choosing-sigma-min.md",
    "concepts/admissible-sets.md",
    "concepts/sampling-regimes.md",
    "concepts/levels.md",
]

_FENCE = re.compile(r"^( *)```python[^\n]*\n(.*?)^\1```", flags=re.S | re.M)
_SNIPPET = re.compile(r'--8<-- "([^":]+)(?::([\w-]+))?"')


def _python_blocks(text: str) -> list[str]:
    """The ```python fences of a page (also indented ones, inside tabs), dedented; ```py ones are fragments."""
    blocks = []
    for indent, body in _FENCE.findall(text):
        lines = [line[len(indent) :] if line.startswith(indent) else line for line in body.splitlines()]
        if not any("--8<--" in line for line in lines):  # an included script is run by test_recipes
            blocks.append("\n".join(lines))
    return blocks


def _nav_pages() -> list[str]:
    pages = re.findall(r"^\s*-\s*(?:[^:\n]+:\s*)?([\w/.-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), flags=re.M)
    assert pages, "no pages found in the nav of mkdocs.yml"
    return pages


def _public_modules() -> list[types.ModuleType]:
    """Every importable module of the package without a leading underscore, that declares ``__all__``."""
    modules = [ambientloss]
    for info in pkgutil.walk_packages(ambientloss.__path__, "ambientloss."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        framework = {"torch", "jax", "ray"} & set(re.split(r"[._]", info.name))
        if any(importlib.util.find_spec(name) is None for name in framework):
            continue
        try:
            module = importlib.import_module(info.name)
        except ModuleNotFoundError as exc:  # an optional dependency (matplotlib, ...) is not installed
            if (exc.name or "").startswith("ambientloss"):
                raise
            continue
        if hasattr(module, "__all__"):
            modules.append(module)
    return modules


# ----------------------------------------------------------------------------------------------
# code on the pages


@pytest.mark.parametrize("page", RUNNABLE_PAGES)
def test_code_blocks_run(page):
    blocks = _python_blocks((DOCS / page).read_text())
    assert blocks, f"{page} has no runnable ```python block"
    code = "".join(blocks)
    for module, needed_by in (("hypothesis", "check_target_fn"), ("torch", "torch"), ("jax", "jax")):
        if needed_by in code:
            pytest.importorskip(module)
    namespace: dict[str, object] = {"__name__": f"docs.{page}"}
    for i, code in enumerate(blocks):
        exec(compile(code, f"{page} (block {i + 1})", "exec"), namespace)


def test_snippets_point_at_existing_sections():
    found = 0
    for page in DOCS.rglob("*.md"):
        for path, section in _SNIPPET.findall(page.read_text()):
            found += 1
            source = ROOT / path
            assert source.is_file(), f"{page.name} includes missing {path}"
            if section:
                text = source.read_text()
                assert f"[start:{section}]" in text, f"{path} lacks the start of {section}"
                assert f"[end:{section}]" in text, f"{path} lacks the end of {section}"
    assert found >= 12  # the two-line section and the whole script of each recipe


# ----------------------------------------------------------------------------------------------
# navigation


def test_nav_and_pages_agree():
    """Every page in the nav exists, and every page of the site is in the nav."""
    nav = set(_nav_pages())
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md") if p.relative_to(DOCS).parts[0] != "_ext"}
    assert not nav - pages, f"nav entries without a page: {sorted(nav - pages)}"
    assert not pages - nav, f"pages missing from the nav of mkdocs.yml: {sorted(pages - nav)}"


def test_sigma_min_answer_is_one_click_from_home():
    """From the README's docs link to the home page, one link reaches how to pick sigma_min."""
    home = (DOCS / "index.md").read_text()
    assert re.search(r"\[[^\]]*sigma_min[^\]]*\]\(sigma-levels\.md\)", home)
    assert "choosing" in (DOCS / "sigma-levels.md").read_text().lower()


def test_every_command_line_subcommand_is_documented():
    import argparse

    from ambientloss.cli import build_parser

    actions = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    commands = [name for action in actions for name in action.choices]
    assert "verify" in commands
    page = (DOCS / "api" / "cli.md").read_text()
    for name in commands:
        assert f"`ambientloss {name}" in page, f"ambientloss {name} is not on docs/api/cli.md"


# ----------------------------------------------------------------------------------------------
# the griffe extension that renders the docstrings' reStructuredText


def _rst():
    spec = importlib.util.spec_from_file_location("docs_griffe_rst", DOCS / "_ext" / "griffe_rst.py")
    module = importlib.util.module_from_spec(spec)
    pytest.importorskip("griffe")
    spec.loader.exec_module(module)
    return module.rst_to_markdown


def test_rst_math_and_roles_become_markdown():
    convert = _rst()
    text = (
        "Uses :math:`\\tilde\\sigma = b / a` and :func:`~ambientloss.convert_level`.\n\n"
        ".. math:: x = 1\n          + y\n\nAfter."
    )
    out = convert(text)
    assert "$\\tilde\\sigma = b / a$" in out
    assert '<autoref identifier="ambientloss.convert_level" optional><code>convert_level</code></autoref>' in out
    assert "$$\nx = 1\n+ y\n$$\n\nAfter." in out
    assert ":func:" not in out
    assert ".. math::" not in out


def test_rst_simple_table_becomes_markdown_with_continuation_rows():
    convert = _rst()
    table = (
        "Intro.\n\n"
        "=======  ==============\n"
        "name     meaning\n"
        "=======  ==============\n"
        "``a``    first line\n"
        "         and its end\n"
        "``b``    two\n"
        "=======  ==============\n"
        "After."
    )
    out = convert(table).splitlines()
    assert out[2:6] == ["| name | meaning |", "|---|---|", "| ``a`` | first line and its end |", "| ``b`` | two |"]
    assert out[6:] == ["", "After."]


def test_rst_headerless_table_becomes_a_list():
    """Two borders only: one item per row; a first cell running over its column edge stays whole."""
    convert = _rst()
    table = (
        "Returns a dict with\n\n"
        "======== ============\n"
        "``a``    the first\n"
        "         entry\n"
        "``long_key`` the second\n"
        "======== ============\n\n"
        "End."
    )
    out = convert(table).splitlines()
    assert out[2:4] == ["- ``a``: the first entry", "- ``long_key``: the second"]
    assert out[4:] == ["", "End."]


# ----------------------------------------------------------------------------------------------
# the built site


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings_handlers.python")
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    return out


def _resolve(path: str) -> object:
    """The object a dotted path names, importing the longest module prefix."""
    parts = path.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:k]))
        except ImportError:
            continue
        for attr in parts[k:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(path)


def test_api_reference_covers_every_public_name(site):
    ids = set()
    for page in (site / "api").rglob("*.html"):
        ids |= set(re.findall(r'id="(ambientloss[\w.]*)"', page.read_text()))
    rendered = set()
    for anchor in ids:
        try:
            rendered.add(id(_resolve(anchor)))
        except (ImportError, AttributeError):
            continue
    api_text = "".join(p.read_text() for p in (DOCS / "api").glob("*.md"))
    missing = []
    for module in _public_modules():
        for name in module.__all__:
            obj = getattr(module, name)
            if id(obj) in rendered:
                continue
            # another library's namespace re-exported (the adapters' ``xp``) is described in prose
            foreign = isinstance(obj, types.ModuleType) and not obj.__name__.startswith("ambientloss")
            if foreign and f"`{name}`" in api_text:
                continue
            missing.append(f"{module.__name__}.{name}")
    assert not missing, f"public names missing from the API reference: {missing}"


def test_math_is_rendered_and_needs_no_network_to_build(site):
    page = (site / "math" / "index.html").read_text()
    assert page.count('class="arithmatex"') > 20
    config = (ROOT / "mkdocs.yml").read_text()
    assert "javascripts/mathjax.js" in config
    assert (site / "javascripts" / "mathjax.js").is_file()


def test_recipe_pages_show_the_scripts(site):
    page = html.unescape((site / "recipes" / "lerobot" / "index.html").read_text())
    assert "def ambient_compute_loss" in re.sub(r"<[^>]+>", "", page)
    assert "--8<--" not in page
