"""Render a :class:`~tradeimpact.report.document.Document` to one self-contained HTML file.

Figures are embedded as base64 ``data:`` URIs of the deterministic SVGs (no external files, no
scripts, no timestamps), so the file opens anywhere and the same inputs give the same bytes.
The SYNTHETIC banner (``doc.banner``) sits at the top of the page and stays visible on scroll.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from tradeimpact.report.document import (
    Bullets,
    Code,
    Document,
    FigureRef,
    Paragraph,
    Section,
    TableRef,
)

CSS = """
body { font-family: "DejaVu Sans", Verdana, sans-serif; max-width: 56rem; margin: 0 auto;
       padding: 0 1rem 3rem; line-height: 1.45; color: #111; }
.banner { position: sticky; top: 0; background: #D55E00; color: #fff; font-weight: bold;
          padding: .5rem 1rem; text-align: center; z-index: 10; }
.realbanner { position: sticky; top: 0; background: #0072B2; color: #fff; font-weight: bold;
              padding: .5rem 1rem; text-align: center; z-index: 10; }
.warning { background: #fde8dc; border: 2px solid #D55E00; padding: .6rem .8rem; }
figure { margin: 1.2rem 0; text-align: center; }
figure img { width: 100%; max-width: 36rem; }
figcaption, caption { font-size: .9rem; color: #333; text-align: left; caption-side: top; }
table.etable { border-collapse: collapse; font-size: .8rem; margin: .5rem 0; }
table.etable thead { border-top: 2px solid #000; border-bottom: 1px solid #000; }
table.etable tbody { border-bottom: 1px solid #999; }
table.etable tfoot { border-bottom: 2px solid #000; }
table.etable th, table.etable td { padding: .15rem .5rem; text-align: right; }
table.etable th:first-child { text-align: left; font-weight: normal; }
table.etable tr.panel th { font-style: italic; text-align: left; }
table.etable thead th { text-align: center; }
table.etable thead th:first-child { text-align: left; }
table.etable thead th.span { border-bottom: 1px solid #000; }
table.etable td sup { font-size: .7em; }
.table-note { font-size: .8rem; color: #333; margin: .2rem 0; }
pre { font-size: .75rem; background: #f4f4f4; padding: .5rem; overflow-x: auto; }
"""


def _svg_uri(path: Path) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _block(b: object, root: Path) -> str:
    esc = html.escape
    if isinstance(b, Paragraph):
        cls = ' class="warning"' if b.emphasis else ""
        return f"<p{cls}>{esc(b.text)}</p>"
    if isinstance(b, Bullets):
        return "<ul>\n" + "\n".join(f"<li>{esc(i)}</li>" for i in b.items) + "\n</ul>"
    if isinstance(b, FigureRef):
        return (
            f'<figure><img alt="{esc(b.caption)}" src="{_svg_uri(root / (b.stem + ".svg"))}">'
            f"<figcaption>{esc(b.caption)}</figcaption></figure>"
        )
    if isinstance(b, TableRef):
        return f'<div class="table"><p class="table-caption"><b>{esc(b.caption)}</b></p>\n{b.table.to_html()}</div>'
    if isinstance(b, Code):
        return f"<pre>{esc(b.text)}</pre>"
    raise TypeError(f"unknown block {type(b).__name__}")


def _section(s: Section, root: Path, show_banner: bool = True) -> str:
    tag = f"h{s.level + 1}"
    label = (
        f'<div class="{"banner" if "SYNTHETIC" in s.banner else "realbanner"}">'
        f"{html.escape(s.banner)}</div>"
        if s.banner and show_banner
        else ""
    )
    return "\n".join(
        [
            f"<section>\n{label}<{tag}>{html.escape(s.title)}</{tag}>",
            *(_block(b, root) for b in s.blocks),
            "</section>",
        ]
    )


def render(doc: Document, root: Path) -> str:
    """The HTML text of ``doc``; figure stems are resolved relative to ``root``."""
    esc = html.escape
    banner = f'<div class="banner">{esc(doc.banner)}</div>\n' if doc.banner else ""
    parts, current = [], doc.banner
    for s in doc.sections:  # a section banner is shown where the label changes
        show = s.banner is not None and s.banner != current and not doc.banner
        if show:
            current = s.banner or ""
        parts.append(_section(s, Path(root), show))
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{esc(doc.title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"{banner}<h1>{esc(doc.title)}</h1>\n<p>{esc(doc.subtitle)}</p>\n{body}\n"
        f"{banner}</body>\n</html>\n"
    )
