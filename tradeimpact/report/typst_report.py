"""Render a :class:`~tradeimpact.report.document.Document` to typst source and compile it to PDF.

Compiled with typst from PyPI (``typst.Compiler``; no LaTeX). Reproducible bytes: the document
date is fixed (``#set document(date: none)``), system fonts are ignored (only the fonts shipped
inside typst and matplotlib's DejaVu are used) and the figures are the deterministic SVGs of
:func:`tradeimpact.report.style.save_figure`. The ``banner`` (the SYNTHETIC warning) is the page
header, so it is on every page.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import matplotlib as mpl

from tradeimpact.report.document import (
    Bullets,
    Code,
    Document,
    FigureRef,
    Paragraph,
    Section,
    TableRef,
)
from tradeimpact.report.tables import Table

#: Cells that are numbers, intervals or standard errors (right-aligned).
_NUMERIC = re.compile(r"^[\[(]?[-+]?(\d|Inf)")


def text(s: str) -> str:
    """Plain text as a typst string expression (``#"..."``): no markup is interpreted."""
    return '#"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _cell(s: str, bold: bool = False) -> str:
    inner = f"[{text(s)}]" if s else "[]"
    return f'text(weight: "bold", {inner})' if bold else inner


def table_source(table: Table, small: bool = True) -> str:
    """A booktabs-like typst ``table`` (rules above and below the header and at the end).

    A regression table (``table.kind == "etable"``) is set by :meth:`Table.to_typst`: spanning
    header rows, superscript stars, notes at the table's width.
    """
    if table.kind == "etable":
        return table.to_typst(size="7.5pt" if small else "9pt")
    k = len(table.columns)
    body = [r for _t, rows in table.panels for r in rows]
    numeric = [
        all(_NUMERIC.match(r[j]) for r in body if r[j]) and any(r[j] for r in body)
        for j in range(k)
    ]
    align = "(" + " ".join("right," if numeric[j] and j else "left," for j in range(k)) + ")"
    # a wide table (the main results: headline, size check and the labelled tests beside it)
    # gets a smaller font and tighter gutters so that it fits the text width
    wide = k >= 11
    size = ("6.5pt" if wide else "7pt") if small else "9pt"
    lines = [
        "#{",
        f"  set text(size: {size})",
        "  set par(justify: false)",
        "  table(",
        f"    columns: {k},",
        f"    align: {align},",
        "    stroke: none,",
        f"    column-gutter: {'2pt' if wide else '4pt'},",
        f"    inset: (x: {'2pt' if wide else '3pt'}, y: 2pt),",
        "    table.hline(stroke: 0.8pt),",
        "    table.header(" + ", ".join(_cell(c, True) for c in table.columns) + "),",
        "    table.hline(stroke: 0.5pt),",
    ]
    for title, rows in table.panels:
        if title:
            lines.append(f"    table.cell(colspan: {k}, emph({_cell(title)})),")
        for r in rows:
            # no line breaks inside numbers and intervals: non-breaking spaces after the stub;
            # a wide table may break an interval after its comma (else columns overlap)
            cells = [r[0], *(c if wide else c.replace(" ", "\u00a0") for c in r[1:])]
            lines.append("    " + ", ".join(_cell(c) for c in cells) + ",")
        lines.append("    table.hline(stroke: 0.3pt),")
    for r in table.footer:
        lines.append("    " + ", ".join(_cell(c) for c in r) + ",")
    lines.append("    table.hline(stroke: 0.8pt),")
    lines.append("  )")
    lines.append("}")
    if table.notes:
        note_text = " #linebreak() ".join(text(n) for n in table.notes)
        lines.append(f"#align(left, block(text(size: 7pt, [{note_text}])))")
    return "\n".join(lines)


def _block(b: object) -> str:
    if isinstance(b, Paragraph):
        if b.emphasis:
            return (
                '#block(fill: rgb("#fde8dc"), stroke: 0.8pt + rgb("#D55E00"), inset: 6pt, '
                f"width: 100%, [{text(b.text)}])"
            )
        return text(b.text) + "\n"
    if isinstance(b, Bullets):
        return "\n".join(f"- {text(i)}" for i in b.items) + "\n"
    if isinstance(b, FigureRef):
        return f'#figure(image("{b.stem}.svg", width: 72%), caption: [{text(b.caption)}])'
    if isinstance(b, TableRef):
        fig = f"figure(kind: table, caption: [{text(b.caption)}], [\n{table_source(b.table, b.small)}\n])"
        if b.table.kind == "etable":  # a regression table fits a page: keep its caption with it
            return f"#block(breakable: false, {fig})"
        return "#" + fig
    if isinstance(b, Code):
        return "#block(text(size: 6.5pt, raw(" + text(b.text)[1:] + ", block: true)))"
    raise TypeError(f"unknown block {type(b).__name__}")


def _section(s: Section) -> str:
    head = "=" * s.level + " " + text(s.title)
    return "\n\n".join([head, *(_block(b) for b in s.blocks)])


#: Colour of a page header: vermillion for SYNTHETIC, blue for REAL data.
def _header_colour(banner: str) -> str:
    return "#D55E00" if "SYNTHETIC" in banner else "#0072B2"


def _header(banner: str) -> str:
    return (
        f'align(center, text(fill: rgb("{_header_colour(banner)}"), weight: "bold", size: 8pt, '
        f"[{text(banner)}]))"
    )


def source(doc: Document) -> str:
    """The typst source of ``doc``.

    The page header is ``doc.banner`` or, without one, the first section banner; a section whose
    ``banner`` differs from the current header sets a new one (typst starts a new page there).
    """
    first = doc.banner or next((s.banner for s in doc.sections if s.banner), "")
    header = f"  header: {_header(first)},\n" if first else ""
    preamble = (
        f'#set document(title: [{text(doc.title)}], author: "tradeimpact", date: none)\n'
        '#set page(paper: "a4", margin: (x: 2cm, y: 2.2cm),\n'
        f"{header}"
        '  numbering: "1")\n'
        '#set text(font: "DejaVu Sans", size: 9pt, lang: "en")\n'
        "#set par(justify: true)\n"
        '#set heading(numbering: "1.1")\n'
        "#show figure.caption: set text(size: 8pt)\n"
        "#show figure.where(kind: table): set figure.caption(position: top)\n"
        "#show figure.where(kind: table): set block(breakable: true)\n"
        f'#align(center, text(size: 16pt, weight: "bold", [{text(doc.title)}]))\n'
        f"#align(center, text(size: 10pt, [{text(doc.subtitle)}]))\n"
    )
    parts = []
    current = first
    for s in doc.sections:
        if s.banner is not None and s.banner != current and not doc.banner:
            head = _header(s.banner) if s.banner else "none"
            parts.append(f"#set page(header: {head})")
            current = s.banner
        parts.append(_section(s))
    return preamble + "\n" + "\n\n".join(parts) + "\n"


def font_paths() -> list[str]:
    """Matplotlib's bundled DejaVu fonts: the same glyphs on every machine."""
    return [str(Path(mpl.get_data_path()) / "fonts" / "ttf")]


def compile_pdf(doc: Document, root: Path, typ_name: str, pdf_name: str) -> tuple[Path, Path]:
    """Write ``root/typ_name`` (the source) and compile it to ``root/pdf_name`` atomically.

    ``root`` is the typst project root: figure paths in the document are relative to it.
    """
    import typst

    root = Path(root)
    typ = root / typ_name
    pdf = root / pdf_name
    src = source(doc)
    _write_atomic(typ, src.encode("utf-8"))
    compiler = typst.Compiler(root=str(root), font_paths=font_paths(), ignore_system_fonts=True)
    data = compiler.compile(input=str(typ), format="pdf")
    if not isinstance(data, bytes):
        raise RuntimeError("typst returned no single PDF document")
    _write_atomic(pdf, data)
    return typ, pdf


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; outputs are for everyone to read
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
