"""Griffe extension: the reStructuredText in the numpydoc docstrings, rendered as Markdown.

The docstrings follow numpydoc, which mkdocstrings parses, but their prose uses a few
reStructuredText constructs that Markdown does not know. Before a docstring is parsed this
extension rewrites

* ``:math:`...``` to ``$...$`` and a ``.. math::`` directive (with its indented continuation) to a
  ``$$ ... $$`` block, both rendered by ``pymdownx.arithmatex``;
* ``:func:`~pkg.name```, ``:class:``, ``:meth:``, ``:mod:``, ``:data:``, ``:attr:`` and ``:exc:``
  roles to optional cross-references: a link where the target is documented, code otherwise;
* simple tables (``====  ====`` borders) to Markdown tables.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(func|class|meth|mod|data|attr|exc|obj):`(~?)([^`]+)`")
_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_MATH_DIRECTIVE = re.compile(r"^(\s*)\.\. math::\s*(.*)$")
_BORDER = re.compile(r"^\s*=+(\s+=+)+\s*$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _math_blocks(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _MATH_DIRECTIVE.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        pad, first = match.group(1), match.group(2)
        body = [first] if first.strip() else []
        i += 1
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > len(pad)):
            body.append(lines[i].strip())
            i += 1
        while body and not body[-1]:
            body.pop()
        out += [f"{pad}$$", *(f"{pad}{b}" for b in body if b), f"{pad}$$"]
        if i < len(lines) and lines[i].strip():
            out.append("")
    return out


def _columns(border: str) -> list[int]:
    return [m.start() for m in re.finditer(r"=+", border)]


def _cells(line: str, starts: list[int]) -> list[str]:
    """Slice a table row at the column starts; a word that runs over a column edge stays whole."""
    edges = []
    for start in starts[1:]:
        edge = start
        while 0 < edge < len(line) and not line[edge - 1].isspace() and not line[edge].isspace():
            edge += 1
        edges.append(edge)
    bounds = [starts[0], *edges, len(line) + 1]
    return [line[a:b].strip() for a, b in itertools.pairwise(bounds)]


def _table_end(lines: list[str], i: int) -> tuple[int, int | None]:
    """Index after the table starting at border ``lines[i]``, and the index of its header rule (or None).

    A simple table ends at a border followed by a blank line or the end of the text; a border followed
    by more rows separates the header from the body.
    """
    header_rule = None
    j = i + 1
    while j < len(lines):
        if _BORDER.match(lines[j]):
            if j + 1 >= len(lines) or not lines[j + 1].strip() or header_rule is not None:
                return j + 1, header_rule
            header_rule = j
        j += 1
    return i + 1, None  # no closing border: not a table


def _rows(lines: list[str], starts: list[int]) -> list[list[str]]:
    rows: list[list[str]] = []
    for line in lines:
        if not line.strip():
            continue
        cells = _cells(line, starts)
        if rows and not cells[0]:  # continuation of the previous row
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)]
        else:
            rows.append(cells)
    return rows


def _tables(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not _BORDER.match(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        end, rule = _table_end(lines, i)
        if end == i + 1:
            out.append(lines[i])
            i += 1
            continue
        pad = " " * (len(lines[i]) - len(lines[i].lstrip()))
        starts = _columns(lines[i])
        if rule is None:  # no header: a list of "first cell: the rest"
            body = _rows(lines[i + 1 : end - 1], starts)
            out += [f"{pad}- {row[0]}: " + " ".join(c for c in row[1:] if c) for row in body]
        else:
            head = _rows(lines[i + 1 : rule], starts)
            body = _rows(lines[rule + 1 : end - 1], starts)
            out.append(f"{pad}| " + " | ".join(" ".join(c) for c in zip(*head, strict=True)) + " |")
            out.append(f"{pad}|" + "---|" * len(starts))
            out += [f"{pad}| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
        if end < len(lines) and lines[end].strip():
            out.append("")
        i = end
    return out


def _role(match: re.Match[str], scope: griffe.Object | None) -> str:
    short, target = match.group(2) == "~", match.group(3).strip()
    title = target.rsplit(".", 1)[-1] if short else target
    head, _, rest = target.partition(".")
    identifier = target  # fully qualified, or another library's name: kept as written
    if not target.startswith("ambientloss"):
        try:  # a name in the scope of the docstring (defined or imported there)
            identifier = scope.resolve(head) + (f".{rest}" if rest else "") if scope is not None else target
        except (griffe.NameResolutionError, ValueError, AttributeError, KeyError):
            identifier = f"ambientloss.{target}" if not rest or head[:1].isupper() else target
    return f'<autoref identifier="{identifier}" optional><code>{title}</code></autoref>'


def rst_to_markdown(text: str, scope: griffe.Object | None = None) -> str:
    """Rewrite the reStructuredText constructs of a docstring as Markdown (see the module docstring)."""
    lines = _tables(_math_blocks(text.splitlines()))
    text = "\n".join(lines)
    text = _MATH_ROLE.sub(lambda m: f"${m.group(1)}$", text)
    return _ROLE.sub(lambda m: _role(m, scope), text)


class RstToMarkdown(griffe.Extension):
    """Apply :func:`rst_to_markdown` to every docstring when griffe loads the object."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            scope = obj if obj.is_module else obj.parent
            obj.docstring.value = rst_to_markdown(obj.docstring.value, scope)
