"""A griffe extension for the docs build: the reStructuredText bits of the docstrings.

The package's docstrings cross-reference with Sphinx roles (``:func:`tradeimpact.did```,
``:class:`~tradeimpact.store.FlowStore```) and lay out some lists as reST simple tables
(``=====  =====`` rules), which Markdown would print as they are. This extension rewrites each
role as inline code (``~`` keeps the last part of the path, as in Sphinx) and each simple
table as a Markdown table when mkdocstrings loads the package; the docstrings themselves are
unchanged.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(
    r":(?:py:)?(?:func|class|mod|meth|data|attr|exc|obj|const):`(~?)([^`<>]+?)`"
)


def _as_code(match: re.Match[str]) -> str:
    short, path = match.group(1), match.group(2).strip()
    name = path.split(".")[-1] if short else path
    return f"`{name}`"


RULE = re.compile(r"^( *)=+(?: +=+)+ *$")


def _columns(rule: str) -> list[int]:
    """Start offsets of the ``=`` runs of a simple table's rule line."""
    return [m.start() for m in re.finditer(r"=+", rule)]


def _cells(line: str, starts: list[int]) -> list[str]:
    ends = [*starts[1:], len(line) + 1]
    return [line[a:b].strip() for a, b in zip(starts, ends, strict=True)]


def rst_tables(text: str) -> str:
    """``text`` with every reST simple table (rule, header, rule, rows, rule) as Markdown."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = RULE.match(lines[i])
        rules = [
            j for j in range(i + 1, len(lines)) if lines[j].strip() == lines[i].strip()
        ]
        if not m or not rules:
            out.append(lines[i])
            i += 1
            continue
        starts, indent = _columns(lines[i]), m.group(1)
        if rules[0] == i + 2 and len(rules) >= 2:  # rule, header, rule, rows, rule
            header, body, end = (
                lines[i + 1 : rules[0]],
                lines[rules[0] + 1 : rules[1]],
                rules[1],
            )
        else:  # rule, rows, rule: no header row
            header, body, end = [" " * len(lines[i])], lines[i + 1 : rules[0]], rules[0]
        rows: list[list[str]] = []
        for line in body:
            if not line.strip():
                continue
            cells = _cells(line, starts)
            if (
                rows and not cells[0]
            ):  # a continuation line: more text for the row above
                rows[-1] = [
                    f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)
                ]
            else:
                rows.append(cells)
        head = [
            " ".join(c).strip()
            for c in zip(*(_cells(h, starts) for h in header), strict=True)
        ]
        out += [
            "",
            *(
                indent + "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |"
                for row in [head, ["---"] * len(starts), *rows]
            ),
            "",
        ]
        i = end + 1
    return "\n".join(out)


def unrole(text: str) -> str:
    """``text`` with every Sphinx cross-reference role written as inline code."""
    return ROLE.sub(_as_code, text)


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring (see the module docstring)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = unrole(
                rst_tables(obj.docstring.value)
            )  # tables first: offsets
