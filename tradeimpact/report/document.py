"""The report as data: sections of paragraphs, bullet lists, figures and tables.

:mod:`tradeimpact.report.typst_report` renders a :class:`Document` to typst (then PDF) and
:mod:`tradeimpact.report.html` to one self-contained HTML file, so both reports say the same
thing. Text is plain (no markup): each renderer escapes it for its own format.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tradeimpact.report.tables import Table


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of plain text; ``emphasis`` renders it as a highlighted warning box."""

    text: str
    emphasis: bool = False


@dataclass(frozen=True)
class Bullets:
    """A bullet list of plain-text items."""

    items: tuple[str, ...]


@dataclass(frozen=True)
class FigureRef:
    """A figure written by :func:`tradeimpact.report.style.save_figure`.

    ``stem`` is the file stem relative to the report folder (e.g. ``figures/SYNTHETIC_es_2010``);
    the PDF uses ``<stem>.svg``, the HTML embeds ``<stem>.svg``.
    """

    stem: str
    caption: str


@dataclass(frozen=True)
class TableRef:
    """A table with its caption."""

    table: Table
    caption: str
    small: bool = True


@dataclass(frozen=True)
class Code:
    """Verbatim text (hashes, versions)."""

    text: str


Block = Paragraph | Bullets | FigureRef | TableRef | Code


@dataclass
class Section:
    """A titled section (``level`` 1) or subsection (``level`` 2).

    ``banner``: ``None`` keeps the page header of the section before; a text (``""`` for none)
    sets the page header from this section on (the PDF starts a new page where it changes), so
    that REAL and SYNTHETIC parts of one report carry their own label on every page.
    """

    title: str
    blocks: list[Block] = field(default_factory=list)
    level: int = 1
    banner: str | None = None


@dataclass
class Document:
    """The whole report.

    ``banner`` (non-empty for synthetic data) is printed at the top of every PDF page and at the
    top of the HTML page.
    """

    title: str
    subtitle: str
    sections: list[Section]
    banner: str = ""
