"""Tables: ``etable`` (fixest-like regression tables) and the case-study results tables.

Every table is a :class:`Table` (header rows, body rows grouped into panels, footer rows, notes)
with four renderers: :meth:`Table.to_latex` (booktabs in a ``threeparttable``),
:meth:`Table.to_typst` (a booktabs-like typst ``table`` with its notes set to the table's width),
:meth:`Table.to_markdown` (GitHub pipe table) and :meth:`Table.to_html` (a ``<table>`` with
``thead``/``tbody``/``tfoot``). Numbers are formatted once, when the table is built, so every
format shows the same digits, and the same table gives the same bytes.

:func:`etable` lays out several models as fixest's ``etable`` (Berge 2018) and pyfixest's
``etable`` do, with their argument names (``type``, ``signif_code``, ``coef_fmt``, ``keep``,
``drop``, ``exact_match``, ``labels``, ``felabels``, ``fe_present``/``fe_absent``,
``model_heads``, ``head_order``, ``notes``, ``custom_model_stats``, maketables' ``model_stats``).
It reads tradeimpact results and also statsmodels (OLS/WLS/GLM/discrete) and linearmodels
(PanelOLS, PooledOLS, AbsorbingLS, IV2SLS...) results through their own attributes
(:func:`model_info`), so they mix in one table.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import polars as pl

from tradeimpact.schema import RESULT_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

#: fixest's default significance codes: ``***`` p < 0.01, ``**`` p < 0.05, ``*`` p < 0.1.
SIGNIF: tuple[tuple[float, str], ...] = ((0.01, "***"), (0.05, "**"), (0.10, "*"))


def _spans(row: Sequence[str]) -> list[tuple[str, int, int]]:
    """``(text, first, last)`` column spans of a header row (0-based, inclusive).

    The stub (column 0) is its own span; after it, adjacent equal non-empty cells merge into one
    spanning cell (fixest's dependent-variable row over the models that share it).
    """
    out: list[tuple[str, int, int]] = [(row[0], 0, 0)] if row else []
    for j in range(1, len(row)):
        text, first, last = out[-1]
        if row[j] and row[j] == text and last == j - 1 and first > 0:
            out[-1] = (text, first, j)
        else:
            out.append((row[j], j, j))
    return out


#: a data cell that is a number (optionally in parentheses or brackets) with significance stars
_STARRED = re.compile(r"^(.*?\d)(\*{1,3})$")
#: a minus sign: a hyphen before a digit or Inf that does not follow a word character
_MINUS = re.compile(r"(?<![\w.])-(?=\d|Inf)")


@dataclass
class Table:
    """A renderer-agnostic table of strings.

    Attributes
    ----------
    columns : list of str
        Column headers (the first is the stub header, often empty): the last header row.
    panels : list of (str, list of rows)
        Body rows in groups; a non-empty group title is printed as a spanning row, groups are
        separated by a rule.
    footer : list of rows
        Rows below the body (observations, R2, standard errors...).
    notes : list of str
        Lines printed under the table (LaTeX: ``tablenotes`` of a ``threeparttable``).
    caption : str
        Caption (LaTeX: used only by ``to_latex(float=True)``, which also places ``label``).
    heads : list of rows
        Header rows above ``columns`` (e.g. the dependent variable); adjacent equal non-empty
        cells span their columns, with a ``\\cmidrule`` (LaTeX) or a short rule under them.
    label : str
        Cross-reference key (LaTeX ``\\label``, HTML ``id``).
    kind : str
        ``"etable"`` for a regression table (the report sets it with :meth:`to_typst`).
    """

    columns: list[str]
    panels: list[tuple[str, list[list[str]]]]
    footer: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    caption: str = ""
    heads: list[list[str]] = field(default_factory=list)
    label: str = ""
    kind: str = ""

    def __post_init__(self) -> None:
        k = len(self.columns)
        for row in self.heads:
            if len(row) != k:
                raise ValueError(f"header row {row!r} has {len(row)} cells, the header {k}")
        for _title, rows in self.panels:
            for row in rows:
                if len(row) != k:
                    raise ValueError(f"row {row!r} has {len(row)} cells, the header {k}")
        for row in self.footer:
            if len(row) != k:
                raise ValueError(f"footer row {row!r} has {len(row)} cells, the header {k}")

    # -- LaTeX -------------------------------------------------------------------------------------
    def to_latex(self, float: bool = False, placement: str = "htbp") -> str:
        """A booktabs ``tabular`` inside a ``threeparttable`` whose ``tablenotes`` hold the notes.

        Needs ``\\usepackage{booktabs,threeparttable}`` (and ``amssymb`` for a check mark). Data
        cells set minus signs as ``$-$`` and significance stars as superscripts (fixest's
        style). ``float=True`` wraps it in a ``table`` environment with ``\\caption`` and
        ``\\label``; otherwise the caller places it (``\\caption`` is only allowed in a float).
        """
        k = len(self.columns)

        def cell(s: str, data: bool) -> str:
            if not data:
                return latex_escape(s)
            m = _STARRED.match(s)
            body, st = (m.group(1), m.group(2)) if m else (s, "")
            out = _MINUS.sub("$-$", latex_escape(body))
            return out + (f"$^{{{st}}}$" if st else "")

        def row(cells: Sequence[str]) -> str:
            return " & ".join(cell(c, j > 0) for j, c in enumerate(cells)) + " \\\\"

        out: list[str] = []
        if float:
            out += [f"\\begin{{table}}[{placement}]", "\\centering"]
            if self.caption:
                out.append(f"\\caption{{{latex_escape(self.caption)}}}")
            if self.label:
                out.append(f"\\label{{{self.label}}}")
        out += ["\\begin{threeparttable}", f"\\begin{{tabular}}{{l{'c' * (k - 1)}}}", "\\toprule"]
        for head in self.heads:
            cells, rules = [], []
            for text, a, b in _spans(head):
                n = b - a + 1
                t = latex_escape(text)
                cells.append(f"\\multicolumn{{{n}}}{{c}}{{{t}}}" if n > 1 else t)
                if a > 0 and text:
                    rules.append(f"\\cmidrule(lr){{{a + 1}-{b + 1}}}")
            out.append(" & ".join(cells) + " \\\\")
            if rules:
                out.append(" ".join(rules))
        out.append(" & ".join(latex_escape(c) for c in self.columns) + " \\\\")
        for title, rows in self.panels:
            out.append("\\midrule")
            if title:
                out.append(f"\\multicolumn{{{k}}}{{l}}{{\\emph{{{latex_escape(title)}}}}} \\\\")
            out.extend(row(r) for r in rows)
        if self.footer:
            out.append("\\midrule")
            out.extend(row(r) for r in self.footer)
        out += ["\\bottomrule", "\\end{tabular}"]
        if self.notes:
            out += ["\\begin{tablenotes}[flushleft]", "\\footnotesize"]
            out.extend(f"\\item {latex_escape(n)}" for n in self.notes)
            out.append("\\end{tablenotes}")
        out.append("\\end{threeparttable}")
        if float:
            out.append("\\end{table}")
        return "\n".join(out) + "\n"

    # -- Typst -------------------------------------------------------------------------------------
    def to_typst(self, size: str = "8pt", note_size: str = "7pt") -> str:
        """A booktabs-like typst ``table`` (code mode: ``#{ ... }``) with its notes below it.

        Rules above and below the header, under spanning header cells, between panels and at
        the end; the stub left-aligned, the models centred; minus signs as U+2212 and stars as
        superscripts in data cells. The notes are set to the measured width of the table (what
        LaTeX's ``threeparttable`` does) and kept on the table's page. Compiles with typst >= 0.11 (``layout``, ``measure``).
        """
        k = len(self.columns)

        def cell(s: str, data: bool, **kw: str) -> str:
            m = _STARRED.match(s) if data else None
            body, st = (m.group(1), m.group(2)) if m else (s, "")
            if data:
                body = _MINUS.sub("\u2212", body)
            inner = (typst_string(body) if body else "") + (
                # zero-width: the stars hang into the gutter, the number stays centred
                f"#box(width: 0pt, align(left, super({typst_string(st)[1:]})))" if st else ""
            )
            if not kw:
                return f"[{inner}]"
            args = ", ".join(f"{a}: {v}" for a, v in kw.items())
            return f"table.cell({args})[{inner}]"

        align = "(left, " + ", ".join(["center"] * (k - 1)) + ")" if k > 1 else "(left,)"
        lines = [
            "#{",
            f"  set text(size: {size})",
            "  set par(justify: false)",
            "  let tab = table(",
            f"    columns: {k},",
            f"    align: {align},",
            "    stroke: none,",
            "    inset: (x: 4pt, y: 2.5pt),",
            "    table.hline(stroke: 0.8pt),",
        ]
        for head in self.heads:
            cells, rules = [], []
            for text, a, b in _spans(head):
                n = b - a + 1
                cells.append(cell(text, False, colspan=str(n)) if n > 1 else cell(text, False))
                if a > 0 and text:
                    rules.append(f"    table.hline(start: {a}, end: {b + 1}, stroke: 0.4pt),")
            lines.append("    " + ", ".join(cells) + ",")
            lines.extend(rules)
        lines.append("    " + ", ".join(cell(c, False) for c in self.columns) + ",")
        lines.append("    table.hline(stroke: 0.5pt),")
        for i, (title, rows) in enumerate(self.panels):
            if i:
                lines.append("    table.hline(stroke: 0.3pt),")
            if title:
                lines.append(
                    f"    table.cell(colspan: {k}, align: left)[#emph({typst_string(title)[1:]})],"
                )
            for r in rows:
                lines.append("    " + ", ".join(cell(c, j > 0) for j, c in enumerate(r)) + ",")
        if self.footer:
            lines.append("    table.hline(stroke: 0.3pt),")
            for r in self.footer:
                lines.append("    " + ", ".join(cell(c, j > 0) for j, c in enumerate(r)) + ",")
        lines += ["    table.hline(stroke: 0.8pt),", "  )"]
        if self.notes:
            notes = " #linebreak() ".join(typst_string(n) for n in self.notes)
            lines += [
                "  layout(size => {",
                "    let w = measure(tab, width: size.width).width",
                "    block(width: w, breakable: false, {",
                "      tab",
                "      v(-2pt)",
                f"      align(left, par(justify: false, text(size: {note_size}, [{notes}])))",
                "    })",
                "  })",
            ]
        else:
            lines.append("  tab")
        lines.append("}")
        return "\n".join(lines) + "\n"

    # -- Markdown ----------------------------------------------------------------------------------
    def to_markdown(self) -> str:
        """A GitHub pipe table; header rows joined into each column's header (``y (1)``);
        panel titles as bold rows; notes as lines below."""
        k = len(self.columns)

        def line(cells: Sequence[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

        header = [
            " ".join([h[j] for h in self.heads if h[j]] + ([c] if c else []))
            for j, c in enumerate(self.columns)
        ]
        out = [line(header), "|" + "|".join([":---"] + ["---:"] * (k - 1)) + "|"]
        for title, rows in self.panels:
            if title:
                out.append(line([f"**{title}**"] + [""] * (k - 1)))
            out.extend(line(r) for r in rows)
        out.extend(line(r) for r in self.footer)
        text = "\n".join(out) + "\n"
        if self.notes:
            text += "\n" + "\n".join(self.notes) + "\n"
        return text

    # -- HTML --------------------------------------------------------------------------------------
    def to_html(self) -> str:
        """A ``<table class="etable">`` with ``thead`` (spanning header cells get
        ``class="span"``), one ``tbody`` per panel and ``tfoot``; significance stars in
        ``<sup>``; notes as paragraphs below."""
        k = len(self.columns)
        esc = html.escape
        ident = f' id="{esc(self.label)}"' if self.label else ""
        out = [f'<table class="etable"{ident}>']
        if self.caption:
            out.append(f"<caption>{esc(self.caption)}</caption>")
        out.append("<thead>")
        for head in self.heads:
            cells = []
            for text, a, b in _spans(head):
                n = b - a + 1
                cls = ' class="span"' if a > 0 and text else ""
                span = f' colspan="{n}"' if n > 1 else ""
                cells.append(f"<th{span}{cls}>{esc(text)}</th>")
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("<tr>" + "".join(f"<th>{esc(c)}</th>" for c in self.columns) + "</tr>")
        out.append("</thead>")

        def data(c: str) -> str:
            m = _STARRED.match(c)
            return f"{esc(m.group(1))}<sup>{m.group(2)}</sup>" if m else esc(c)

        def row(r: Sequence[str]) -> str:
            return (
                "<tr><th>"
                + esc(r[0])
                + "</th>"
                + "".join(f"<td>{data(c)}</td>" for c in r[1:])
                + "</tr>"
            )

        for title, rows in self.panels:
            out.append("<tbody>")
            if title:
                out.append(f'<tr class="panel"><th colspan="{k}">{esc(title)}</th></tr>')
            out.extend(row(r) for r in rows)
            out.append("</tbody>")
        if self.footer:
            out.append("<tfoot>")
            out.extend(row(r) for r in self.footer)
            out.append("</tfoot>")
        out.append("</table>")
        out.extend(f'<p class="table-note">{esc(n)}</p>' for n in self.notes)
        return "\n".join(out) + "\n"

    #: names of the formats (pyfixest's ``type`` values as aliases)
    FORMATS: ClassVar[dict[str, str]] = {
        "latex": "latex",
        "tex": "latex",
        "markdown": "markdown",
        "md": "markdown",
        "html": "html",
        "typst": "typst",
    }

    def render(self, fmt: str) -> str:
        """``fmt`` in ``{"latex", "tex", "typst", "markdown", "md", "html"}``."""
        name = self.FORMATS.get(fmt)
        if name is None:
            raise ValueError(f"unknown table format {fmt!r}; use one of {sorted(self.FORMATS)}")
        renderers = {"latex": self.to_latex, "markdown": self.to_markdown,
                     "html": self.to_html, "typst": self.to_typst}  # fmt: skip
        return renderers[name]()

    def to_frame(self) -> pd.DataFrame:
        """The cells as a pandas DataFrame (pyfixest's ``etable(type="df")``): one column per
        model, labelled by the header rows (a MultiIndex when there are several); the stub as a
        column ``""``; panel titles as rows; no notes."""
        import pandas as pd

        rows = [
            r for title, rs in self.panels for r in ([[title] + [""] * (len(self.columns) - 1)]
                                                      if title else []) + rs
        ] + self.footer  # fmt: skip
        levels = [*self.heads, self.columns]
        if len(levels) == 1:
            cols: Any = list(self.columns)
        else:
            cols = pd.MultiIndex.from_arrays([list(h) for h in levels])
        return pd.DataFrame(rows, columns=cols)


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "²": r"$^2$",
    "✓": r"$\checkmark$",
    "×": r"$\times$",
    "\u2212": r"$-$",
    "<": r"$<$",
    ">": r"$>$",
}
_LATEX_RE = re.compile("|".join(re.escape(k) for k in _LATEX_SPECIAL))


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters (``& % $ # _ { } ~ ^ \\``); ``²``, ``✓``, ``×``,
    U+2212, ``<`` and ``>`` become math (``$^2$``, ``$\\checkmark$`` from amssymb,
    ``$\\times$``, ``$-$``, ``$<$``, ``$>$``: OT1 text fonts have no ``<``)."""
    return _LATEX_RE.sub(lambda m: _LATEX_SPECIAL[m.group(0)], text)


def typst_string(s: str) -> str:
    """Plain text as a typst string expression (``#"..."``): no markup is interpreted."""
    return '#"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def fmt_num(x: float | None, digits: int = 3) -> str:
    """Fixed-point with ``digits`` decimals; ``Inf``/``-Inf`` for infinite, empty for missing."""
    if x is None:
        return ""
    x = float(x)
    if math.isnan(x):
        return ""
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    s = f"{x:.{digits}f}"
    return "0." + "0" * digits if s == "-0." + "0" * digits else s


def fmt_p(p: float | None, digits: int = 3) -> str:
    """A p-value: ``<0.001`` below what ``digits`` decimals show, else :func:`fmt_num`."""
    if p is not None and not math.isnan(p) and p < 0.5 * 10.0**-digits:
        return f"<{10.0**-digits:.{digits}f}"
    return fmt_num(p, digits)


def fmt_int(n: int | float | None) -> str:
    """Integer with thousands separators (``12,345``); empty for missing."""
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return ""
    return f"{int(n):,}"


def stars(p: float | None, signif_code: Sequence[float] | None = None) -> str:
    """Significance stars of a p-value: ``***``/``**``/``*`` below the three ascending cut-offs
    of ``signif_code`` (default fixest's 0.01, 0.05, 0.10: :data:`SIGNIF`)."""
    if p is None or math.isnan(p):
        return ""
    cuts = (
        SIGNIF if signif_code is None else tuple(zip(signif_code, ("***", "**", "*"), strict=True))
    )
    for cut, code in cuts:
        if p < cut:
            return code
    return ""


# -- reading result objects ------------------------------------------------------------------------
def _as_mapping(obj: Any, names: Sequence[str] | None) -> dict[str, float]:
    """Labelled values from a pandas Series, polars Series/DataFrame, mapping or array."""
    if obj is None:
        return {}
    if callable(obj):
        obj = obj()
    if isinstance(obj, Mapping):
        return {str(k): float(v) for k, v in obj.items()}
    if hasattr(obj, "index") and hasattr(obj, "to_numpy") and not isinstance(obj, pl.Series):
        return {str(k): float(v) for k, v in zip(obj.index, obj.to_numpy(), strict=True)}
    arr = np.asarray(obj.to_numpy() if hasattr(obj, "to_numpy") else obj, dtype=float).ravel()
    if names is None or len(names) != arr.size:
        if arr.size == 1:
            label = getattr(obj, "name", None) or "estimate"
            return {str(label): float(arr[0])}
        raise ValueError("unlabelled coefficients: pass a result whose params carry names")
    return {str(k): float(v) for k, v in zip(names, arr, strict=True)}


def coefficients(result: Any) -> pl.DataFrame:
    """``term, estimate, std_error, p_value`` of one result object, as :func:`etable` reads it.

    ``p_value`` is the one the stars follow: the term's headline p-value where the result has
    a headline test (``headline_of(term)``), else its ``pvalues``.
    """
    info = model_info(result)
    return pl.DataFrame(
        {
            "term": info.terms,
            "estimate": [info.estimate[t] for t in info.terms],
            "std_error": [info.std_error.get(t, float("nan")) for t in info.terms],
            "p_value": [info.pvalue.get(t, float("nan")) for t in info.terms],
        },
        schema={
            "term": pl.String,
            "estimate": pl.Float64,
            "std_error": pl.Float64,
            "p_value": pl.Float64,
        },
    )


@dataclass
class ModelInfo:
    """What :func:`etable` shows of one model, read through the model's own attributes.

    ``pvalue`` holds the p-value the stars follow; ``test`` the short name of the test behind
    it per term (``"RI-t"``; ``"analytic"`` for the model's own t/z test of the standard errors
    shown), ``test_long`` what the short names stand for. ``se_type`` is the short
    standard-error row (``"CR1 by unit (G=21)"``), ``se_long`` the model's full description.
    """

    terms: list[str]
    estimate: dict[str, float]
    std_error: dict[str, float]
    pvalue: dict[str, float]
    tstat: dict[str, float] = field(default_factory=dict)
    test: dict[str, str] = field(default_factory=dict)
    test_long: dict[str, str] = field(default_factory=dict)
    depvar: str = ""
    nobs: int | None = None
    fixed_effects: list[str] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)
    se_type: str = ""
    se_long: str = ""


#: Short names of the headline tests (by the registered method key), for the "Stars from" row.
TEST_SHORT = {
    "cr1": "analytic",
    "analytic": "analytic",
    "ri": "RI",
    "ri_t": "RI-t",
    "conley_taber": "Conley-Taber",
    "conley_taber_fp": "Ferman-Pinto",
    "wild": "wild bootstrap",
    "ppml_ri": "PPML RI-t",
    "ri_staggered": "staggered RI",
}

ANALYTIC_LONG = "the model's own t (or normal) test of the standard errors shown"


def _headline(result: Any, term: str) -> Any:
    """The headline test of ``term`` where the result has one (``headlines``/``attached``)."""
    if not hasattr(result, "headline_of"):
        return None
    if term in getattr(result, "headlines", {}) or term in getattr(result, "attached", {}):
        return result.headline_of(term)
    return None


#: Short names of headline tests known by their description (an attached test has no key).
TEST_PREFIX = (
    ("studentized randomization", "RI-t"),
    ("randomization inference for PPML", "PPML RI-t"),
    ("PPML studentized", "PPML RI-t"),
    ("wild cluster bootstrap", "wild bootstrap"),
    ("Conley-Taber", "Conley-Taber"),
    ("Ferman-Pinto", "Ferman-Pinto"),
    ("analytic", "analytic"),
    ("coefficient randomization", "RI"),
    ("randomization inference", "RI"),
)


def _short_test(key: str, method: str) -> str:
    """The short name of a headline test: by its registered key (:data:`TEST_SHORT`), else by
    the start of its description (:data:`TEST_PREFIX`), else the description's first clause
    (cut at a word boundary after at most 28 characters)."""
    if key in TEST_SHORT:
        return TEST_SHORT[key]
    for prefix, short in TEST_PREFIX:
        if method.startswith(prefix):
            return short
    head = re.split(r" \(|;|,", method, maxsplit=1)[0].strip()
    if len(head) > 28:
        head = head[:28].rsplit(" ", 1)[0]
    return head or key


def short_se_type(vcov_type: str, n_clusters: Mapping[str, int] | None = None) -> str:
    """A standard-error description short enough for a table row.

    ``"CR1 clustered by unit (G=21; (n-1)/(n-k) x G/(G-1))"`` -> ``"CR1 by unit (G=21)"``;
    two-way -> ``"CR1 by a & b (G=21, 8)"``; ``"heteroskedasticity-robust (HC1)"`` and
    ``"HC1 (...)"`` -> ``"HC1"``; ``"iid (...)"`` -> ``"iid"``; Driscoll-Kraay keeps ``T``;
    anything else keeps the text before its first parenthesis.
    """
    s = str(vcov_type).strip()
    m = re.match(r"^CR(\d\w*) clustered by (.+?) \(", s)
    if m:
        names = list(n_clusters) if n_clusters else m.group(2).split(" and ")
        gs = list(n_clusters.values()) if n_clusters else re.findall(r"G=(\d+)", s)
        g = f" (G={', '.join(str(x) for x in gs)})" if gs else ""
        return f"CR{m.group(1)} by {' & '.join(names)}{g}"
    if "(HC1)" in s or s.startswith("HC1"):
        return "HC1"
    if s.startswith("iid"):
        return "iid"
    if s.startswith("Driscoll-Kraay"):
        t = re.search(r"T=(\d+)", s)
        return "Driscoll-Kraay" + (f" (T={t.group(1)})" if t else "")
    return s.split(" (", 1)[0].strip()


def _unique_groups(groups: Any) -> int | None:
    try:
        arr = np.asarray(groups)
        if arr.ndim == 1:
            return int(np.unique(arr).size)
        return None
    except (TypeError, ValueError):
        return None


def _float_or_none(v: Any) -> float | None:
    if v is None:
        return None
    try:
        x = float(v() if callable(v) else v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def _read_statsmodels(res: Any) -> ModelInfo:
    """statsmodels: ``params``, ``bse``, ``pvalues``, ``tvalues``, ``nobs``, ``rsquared``
    (OLS/WLS), McFadden's ``pseudo_rsquared(kind="mcf")`` = 1 - llf/llnull (GLM, as pyfixest's
    Fepois pseudo R2) or ``prsquared`` (discrete models), ``cov_type``."""
    params = _as_mapping(res.params, None)
    terms = list(params)
    info = ModelInfo(
        terms=terms,
        estimate=params,
        std_error=_as_mapping(res.bse, terms),
        pvalue=_as_mapping(res.pvalues, terms),
        tstat=_as_mapping(res.tvalues, terms),
        test=dict.fromkeys(terms, "analytic"),
        test_long={"analytic": ANALYTIC_LONG},
        depvar=str(getattr(res.model, "endog_names", "") or ""),
        nobs=int(res.nobs),
    )
    if hasattr(res, "rsquared"):
        info.stats["r2"] = float(res.rsquared)
    elif hasattr(res, "pseudo_rsquared"):
        info.stats["pseudo_r2"] = float(res.pseudo_rsquared(kind="mcf"))
    elif hasattr(res, "prsquared"):
        info.stats["pseudo_r2"] = float(res.prsquared)
    cov = str(getattr(res, "cov_type", "") or "")
    short = {"nonrobust": "iid", "cluster": "Clustered", "HAC": "HAC"}.get(cov, cov)
    if cov == "cluster":
        g = _unique_groups((getattr(res, "cov_kwds", None) or {}).get("groups"))
        short += f" (G={g})" if g else ""
    info.se_type = short
    info.se_long = ""  # cov_type says no more than the short row
    return info


def _read_linearmodels(res: Any) -> ModelInfo:
    """linearmodels: ``params``, ``std_errors``, ``pvalues``, ``tstats``, ``nobs``; R2 as fixest
    defines it: PanelOLS ``rsquared_inclusive`` (with the effects) and ``rsquared`` (within,
    net of the effects), AbsorbingLS ``rsquared`` and ``absorbed_rsquared`` (within), others
    ``rsquared``; fixed effects from PanelOLS' entity/time effects (the index names) or
    AbsorbingLS' absorbed columns; ``cov_type`` (with G where the clusters are kept)."""
    params = _as_mapping(res.params, None)
    terms = list(params)
    model = getattr(res, "model", None)
    dep = getattr(model, "dependent", None)
    depvar = ""
    for cand in (getattr(dep, "cols", None), getattr(dep, "vars", None)):
        if isinstance(cand, list) and cand:
            depvar = str(cand[0])
            break
    info = ModelInfo(
        terms=terms,
        estimate=params,
        std_error=_as_mapping(res.std_errors, terms),
        pvalue=_as_mapping(res.pvalues, terms),
        tstat=_as_mapping(res.tstats, terms),
        test=dict.fromkeys(terms, "analytic"),
        test_long={"analytic": ANALYTIC_LONG},
        depvar=depvar,
        nobs=int(res.nobs),
    )
    fes: list[str] = []
    if model is not None and type(model).__name__ == "AbsorbingLS":
        absorb = getattr(model, "_absorb", None)
        if absorb is not None and hasattr(absorb, "columns"):
            fes = [str(c) for c in absorb.columns]
        info.stats["r2"] = float(res.rsquared)
        if fes:
            info.stats["r2_within"] = float(res.absorbed_rsquared)
    elif hasattr(res, "rsquared_inclusive"):
        index = getattr(getattr(dep, "dataframe", None), "index", None)
        names = [*list(getattr(index, "names", None) or []), None, None]
        if getattr(model, "entity_effects", False):
            fes.append(str(names[0] or "entity"))
        if getattr(model, "time_effects", False):
            fes.append(str(names[1] or "time"))
        other = getattr(model, "other_effects", False)
        if other is not False and other is not None:
            fes.append("other effects")
        info.stats["r2"] = float(res.rsquared_inclusive)
        if fes:
            info.stats["r2_within"] = float(res.rsquared)
    elif hasattr(res, "rsquared"):
        info.stats["r2"] = float(res.rsquared)
    info.fixed_effects = fes
    cov = str(getattr(res, "cov_type", None) or getattr(res, "_cov_type", "") or "")
    low = cov.lower()
    short = {"unadjusted": "iid", "homoskedastic": "iid", "robust": "Robust",
             "heteroskedastic": "Robust", "clustered": "Clustered",
             "kernel": "HAC"}.get(low, cov)  # fmt: skip
    if low == "clustered":
        clusters = (getattr(res, "cov_config", None) or {}).get("clusters")
        g = _unique_groups(clusters) if clusters is not None else None
        short += f" (G={g})" if g else ""
    info.se_type = short
    info.se_long = ""  # cov_type says no more than the short row
    return info


def _read_tradeimpact(res: Any) -> ModelInfo:
    """A tradeimpact result (``params``, ``std_errors``, ``pvalues``, ``nobs``, ``vcov_type``,
    ``n_clusters``, ``fixed_effects``, ``extra["r2"]``/``["r2_within"]``/``["pseudo_r2"]``,
    ``headline_of``) or any object with ``params`` [``std_errors``, ``pvalues``] or ``tidy()``.
    The p-value of a term with a headline test is the headline's."""
    names = getattr(res, "names", None)
    names = list(names) if isinstance(names, Sequence) and not isinstance(names, str) else None
    if hasattr(res, "params"):
        params = _as_mapping(res.params, names)
        terms = list(params)
        se = _as_mapping(getattr(res, "std_errors", None), terms)
        pv = _as_mapping(getattr(res, "pvalues", None), terms)
        tv = _as_mapping(getattr(res, "tstats", None), terms)
    elif hasattr(res, "tidy"):
        t = res.tidy()
        if not isinstance(t, pl.DataFrame):
            t = pl.from_pandas(t)
        terms = t["term"].cast(pl.String).to_list()
        params = dict(zip(terms, t["estimate"].to_list(), strict=True))
        col = {c: dict(zip(terms, t[c].to_list(), strict=True)) for c in t.columns}
        se, pv, tv = col.get("std_error", {}), col.get("p_value", {}), col.get("statistic", {})
    else:
        raise TypeError(
            f"{type(res).__name__} has neither params nor tidy(): etable reads tradeimpact, "
            "statsmodels and linearmodels results, or any object with params/std_errors"
        )
    info = ModelInfo(terms=terms, estimate=params, std_error=se, pvalue=pv, tstat=tv)
    for term in terms:
        h = _headline(res, term)
        if h is not None:
            info.pvalue[term] = float(h.pvalue)
            short = _short_test(str(h.method_key), str(h.method))
            long = ANALYTIC_LONG if short == "analytic" else str(h.method)
        else:
            attached = getattr(res, "attached", {}) or {}
            if term in attached:
                long = str(attached[term].method)
                short = _short_test(long, long)
            else:
                short, long = "analytic", ANALYTIC_LONG
        info.test[term] = short
        info.test_long.setdefault(short, long)
    dv = getattr(res, "depvar", None)
    info.depvar = str(dv) if isinstance(dv, str) else ""
    nobs = getattr(res, "nobs", None)
    info.nobs = int(nobs) if isinstance(nobs, int | float | np.integer) else None
    fe = getattr(res, "fixed_effects", None)
    if isinstance(fe, list | tuple) and all(isinstance(f, str) for f in fe):
        info.fixed_effects = list(fe)
    extra = getattr(res, "extra", None)
    if isinstance(extra, Mapping):
        for key in ("r2", "r2_within", "pseudo_r2"):
            v = _float_or_none(extra.get(key))
            if v is not None and (key != "r2_within" or info.fixed_effects):
                info.stats[key] = v
        if getattr(res, "model", "") == "PPML":
            info.stats.pop("r2", None)  # PPML has no R2: its pseudo R2 (as pyfixest's Fepois)
    vt = getattr(res, "vcov_type", None)
    if isinstance(vt, str) and vt:
        ncl = getattr(res, "n_clusters", None)
        info.se_type = short_se_type(vt, ncl if isinstance(ncl, Mapping) else None)
        info.se_long = vt
    return info


def model_info(result: Any) -> ModelInfo:
    """Read one model for :func:`etable`: statsmodels and linearmodels results through their own
    attributes (:func:`_read_statsmodels`, :func:`_read_linearmodels`), anything else as a
    tradeimpact result (:func:`_read_tradeimpact`)."""
    mod = type(result).__module__ or ""
    if mod.startswith("statsmodels."):
        return _read_statsmodels(result)
    if mod.startswith("linearmodels."):
        return _read_linearmodels(result)
    return _read_tradeimpact(result)


# -- etable ----------------------------------------------------------------------------------------
_TOKEN = re.compile(r"(?<![A-Za-z])(b|se|t|p)(?::([^*\s()\[\],]+))?(\*)?(?![A-Za-z])")

#: maketables' labels of the statistics rows (``model_stats`` keys)
STAT_LABELS = {
    "N": "Observations",
    "r2": "R²",
    "r2_within": "Within R²",
    "pseudo_r2": "Pseudo R²",
    "se_type": "S.E. type",
    "stars": "Stars from",
}
DEFAULT_MODEL_STATS = ("N", "r2", "r2_within", "pseudo_r2", "se_type", "stars")


def _format_value(x: float | None, spec: str | None, digits: int) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    if spec:
        try:
            return format(float(x), spec)
        except ValueError as err:
            raise ValueError(f"coef_fmt: bad format {spec!r} ({err})") from None
    return fmt_num(x, digits)


def _coef_lines(
    coef_fmt: str,
) -> list[list[tuple[str, str | None, bool] | str]]:
    """Parse ``coef_fmt`` (maketables/pyfixest syntax: tokens ``b``, ``se``, ``t``, ``p`` with an
    optional ``:format`` and ``*`` for stars; other characters literal; a newline or ``\\n``
    starts a new row) into rows of tokens and literals."""
    rows = []
    for raw in re.split(r"\n|\\n", coef_fmt):
        text = raw.strip()
        if not text:
            continue
        parts: list[tuple[str, str | None, bool] | str] = []
        pos = 0
        for m in _TOKEN.finditer(text):
            if m.start() > pos:
                parts.append(text[pos : m.start()])
            parts.append((m.group(1), m.group(2), bool(m.group(3))))
            pos = m.end()
        if pos < len(text):
            parts.append(text[pos:])
        if not any(isinstance(p, tuple) for p in parts):
            raise ValueError(f"coef_fmt row {text!r} has no token (b, se, t or p)")
        rows.append(parts)
    if not rows:
        raise ValueError(f"coef_fmt {coef_fmt!r} has no row")
    return rows


def _select(
    order: list[str],
    keep: str | Sequence[str] | None,
    drop: str | Sequence[str] | None,
    exact_match: bool,
) -> list[str]:
    """pyfixest's ``keep`` / ``drop``: regular expressions (``re.search``) unless
    ``exact_match``; the kept terms in the order of the ``keep`` patterns."""

    def as_list(x: str | Sequence[str] | None) -> list[str]:
        return [x] if isinstance(x, str) else list(x or [])

    def hit(pattern: str, name: str) -> bool:
        return name == pattern if exact_match else re.search(pattern, name) is not None

    keeps, drops = as_list(keep), as_list(drop)
    chosen = order if not keeps else [t for k in keeps for t in order if hit(k, t)]
    chosen = list(dict.fromkeys(t for t in chosen if not any(hit(d, t) for d in drops)))
    if not chosen:
        raise ValueError(
            f"etable: no coefficient matches keep={keeps} / drop={drops}; the coefficients are "
            f"{order}"
        )
    return chosen


def _column_groups(cells: Sequence[str]) -> list[tuple[str, list[int]]]:
    """Distinct non-empty values of a per-model row and the (1-based) models that have each."""
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(cells):
        if c:
            groups.setdefault(c, []).append(i + 1)
    return list(groups.items())


def _cols_text(idx: Sequence[int], n_models: int) -> str:
    if len(idx) == n_models:
        return ""
    runs: list[str] = []
    start = prev = idx[0]
    for i in [*idx[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        runs.append(f"({start})" if start == prev else f"({start})-({prev})")
        if i is not None:
            start = prev = i
    return ", ".join(runs) + ": "


def etable(
    models: Sequence[Any] | Mapping[str, Any] | Any,
    type: str | None = None,  # pyfixest's name (shadows the builtin here)
    *,
    signif_code: Sequence[float] | None = (0.01, 0.05, 0.10),
    coef_fmt: str = "b* \n (se)",
    keep: str | Sequence[str] | None = None,
    drop: str | Sequence[str] | None = None,
    exact_match: bool = False,
    labels: Mapping[str, str] | None = None,
    felabels: Mapping[str, str] | None = None,
    show_fe: bool = True,
    fe_present: str = "Yes",
    fe_absent: str = "No",
    model_stats: Sequence[str] | None = None,
    model_stats_labels: Mapping[str, str] | None = None,
    custom_model_stats: Mapping[str, Sequence[Any]] | None = None,
    model_heads: Sequence[str] | None = None,
    head_order: str = "dh",
    notes: str | Sequence[str] = (),
    se_note: bool = True,
    digits: int = 3,
    caption: str = "",
    label: str = "",
    fmt: str | None = None,
    signif: bool = True,
) -> Table | str | pd.DataFrame:
    """A regression table over several models, laid out as fixest's and pyfixest's ``etable``.

    One column per model, numbered ``(1)``, ``(2)``..., under the dependent variable (spanning
    the models that share it) and the ``model_heads``. Per coefficient the rows of ``coef_fmt``
    (default: the estimate with significance stars, the standard error in parentheses below).
    Then one row per fixed effect with ``fe_present`` where the model absorbs it (fixest's
    ``Yes``/``No``; pyfixest's ``"x"``/``"-"`` or ``"✓"`` work too), then the statistics rows:
    observations, R², within R² (models with fixed effects), pseudo R² (PPML, McFadden's
    1 - ll/ll0 as pyfixest's Fepois and fixest print it), the standard-error type in short
    (``CR1 by unit (G=21)``; the full description in the note) and, where a model has a
    headline test other than the analytic one, which test the stars follow.

    The stars follow each coefficient's **headline p-value** where the result has one
    (``result.headline_of(term)``: e.g. the studentized randomization test that ``did()`` and
    the case studies attach with one treated unit), else the model's own p-values; the note
    says which. A statistic a model lacks is left blank (fixest), a row no model has is left
    out.

    Parameters
    ----------
    models : result, sequence or mapping of results
        tradeimpact results, statsmodels results (OLS/WLS/GLM/discrete), linearmodels results
        (PanelOLS, PooledOLS, AbsorbingLS, IV2SLS...), or any object with ``params`` (and
        ``std_errors``, ``pvalues``) or ``tidy()``; see :func:`model_info`. A mapping's keys are
        the ``model_heads``.
    type : {"tex", "latex", "typst", "md", "markdown", "html", "df"}, optional
        Return the rendered string (pyfixest's ``type``; ``fmt`` is an alias), or with ``"df"``
        the cells as a pandas DataFrame (:meth:`Table.to_frame`). Default: the :class:`Table`,
        whose ``to_latex()``/``to_typst()``/``to_markdown()``/``to_html()`` render it.
    signif_code : three ascending floats, optional
        Cut-offs of ``***``, ``**``, ``*`` (fixest's default 0.01, 0.05, 0.10; pyfixest's is
        0.001, 0.01, 0.05). None (or ``signif=False``) prints no stars.
    coef_fmt : str
        Cell layout, maketables' syntax: tokens ``b`` (estimate), ``se``, ``t``, ``p`` (the
        p-value the stars follow), each with an optional format (``b:.4f``) and ``*`` for the
        stars; parentheses, brackets, commas and spaces literal; ``\\n`` starts a row. E.g.
        ``"b* \\n (se) \\n [p]"``.
    keep, drop : str or sequence of str, optional
        Regular expressions (exact names with ``exact_match``): the terms shown, in the order
        of the ``keep`` patterns, less those ``drop`` matches (pyfixest).
    labels : mapping, optional
        Display names of terms, dependent variables and fixed effects (fixest's ``dict``).
    felabels : mapping, optional
        Display names of fixed effects (over ``labels``).
    show_fe : bool
        Show the fixed-effect rows.
    fe_present, fe_absent : str
        The marks of the fixed-effect rows.
    model_stats : sequence of str, optional
        Statistics rows, in this order, among ``"N"``, ``"r2"``, ``"r2_within"``,
        ``"pseudo_r2"``, ``"se_type"``, ``"stars"`` (default all; each shown only where a model
        has it, ``"stars"`` only where a model has a non-analytic headline test).
    model_stats_labels : mapping, optional
        Labels of the statistics rows (over :data:`STAT_LABELS`).
    custom_model_stats : mapping, optional
        Extra rows ``{label: [value per model]}`` after the statistics (pyfixest).
    model_heads : sequence of str, optional
        A header per model (default: a mapping's keys).
    head_order : {"dh", "hd", "d", "h", ""}
        Header rows above the model numbers: ``d`` the dependent variable, ``h`` the
        ``model_heads`` (pyfixest). A row equal to another is shown once.
    notes : str or sequence of str
        Notes printed first under the table.
    se_note : bool
        Add a note with each model's full standard-error description where the short row
        leaves something out (small-sample factor, convention...).
    digits : int
        Decimals of the numbers whose ``coef_fmt`` token has no format, and of the R² rows.
    caption, label : str
        Caption and cross-reference key (LaTeX ``to_latex(float=True)``, HTML).
    fmt : str, optional
        Alias of ``type`` (earlier versions' name).
    signif : bool
        ``False`` drops the stars (as ``signif_code=None``).

    Returns
    -------
    Table, str or pandas.DataFrame

    Raises
    ------
    ValueError
        No models; ``keep``/``drop`` match nothing; a bad ``signif_code``, ``coef_fmt``,
        ``head_order``, ``model_stats`` key or format; ``model_heads`` or a
        ``custom_model_stats`` row of the wrong length.
    TypeError
        A model etable cannot read.

    References
    ----------
    Berge, L. (2018). Efficient estimation of maximum likelihood models with multiple
    fixed-effects: the R package FENmlm. CREA Discussion Papers 13 (fixest's ``etable``).
    pyfixest's ``etable`` and maketables' ``ETable`` (the argument names and cell syntax).
    """
    if type is not None and fmt is not None and Table.FORMATS.get(type) != Table.FORMATS.get(fmt):
        raise ValueError(f"etable: type={type!r} and fmt={fmt!r} disagree; give one")
    out_fmt = type if type is not None else fmt
    if out_fmt is not None and out_fmt not in Table.FORMATS and out_fmt != "df":
        raise ValueError(f"etable: unknown type {out_fmt!r}; use one of {sorted(Table.FORMATS)}")
    if isinstance(models, Mapping):
        heads = [str(k) for k in models]
        objs = list(models.values())
    elif isinstance(models, list | tuple):
        objs, heads = list(models), []
    else:
        objs, heads = [models], []
    if not objs:
        raise ValueError("etable needs at least one model")
    n = len(objs)
    if model_heads is not None:
        heads = [str(h) for h in model_heads]
    if heads and len(heads) != n:
        raise ValueError(f"etable: {len(heads)} model_heads for {n} models")
    if head_order not in ("dh", "hd", "d", "h", ""):
        raise ValueError(
            f"etable: head_order must be one of 'dh', 'hd', 'd', 'h', '', not {head_order!r}"
        )
    codes: Sequence[float] | None = signif_code if signif else None
    if codes is not None:
        codes = [float(c) for c in codes]
        if len(codes) != 3 or not all(0 < c < 1 for c in codes) or sorted(set(codes)) != codes:
            raise ValueError(
                f"etable: signif_code must be three ascending values in (0, 1), not {signif_code!r}"
            )
    stats_keys = list(DEFAULT_MODEL_STATS if model_stats is None else model_stats)
    bad = [k for k in stats_keys if k not in STAT_LABELS]
    if bad:
        raise ValueError(f"etable: unknown model_stats {bad}; use some of {list(STAT_LABELS)}")
    stat_labels = {**STAT_LABELS, **dict(model_stats_labels or {})}
    labels = dict(labels or {})
    felabels = {**labels, **dict(felabels or {})}
    lines = _coef_lines(coef_fmt)
    infos = [model_info(r) for r in objs]

    order: list[str] = []
    for info in infos:
        order.extend(t for t in info.terms if t not in order)
    order = _select(order, keep, drop, exact_match)

    # -- coefficients
    # terms with the same label share one row (fixest's dict): each model shows its first
    groups: dict[str, list[str]] = {}
    for term in order:
        groups.setdefault(labels.get(term, term), []).append(term)
    body: list[list[str]] = []
    for shown_label, group in groups.items():
        rows = [[shown_label if i == 0 else ""] for i in range(len(lines))]
        for info in infos:
            term = next((t for t in group if t in info.terms), "")
            shown = bool(term)
            values = {
                "b": info.estimate.get(term),
                "se": info.std_error.get(term),
                "t": info.tstat.get(term),
                "p": info.pvalue.get(term),
            }
            for i, parts in enumerate(lines):
                if not shown:
                    rows[i].append("")
                    continue
                txt, empty = [], True
                for part in parts:
                    if isinstance(part, str):
                        txt.append(part)
                        continue
                    tok, spec, star = part
                    v = values[tok]
                    s = _format_value(v, spec, digits)
                    if s and tok == "p" and not spec:
                        s = fmt_p(v, digits)
                    empty = empty and not s
                    txt.append(s + (stars(values["p"], codes) if star and codes and s else ""))
                rows[i].append("" if empty else "".join(txt).strip())
        body.extend(rows)
    panels: list[tuple[str, list[list[str]]]] = [("", body)]

    # -- fixed effects
    if show_fe:
        fes: list[str] = []
        for info in infos:
            fes.extend(f for f in info.fixed_effects if f not in fes)
        if fes:
            fe_rows = [
                [
                    felabels.get(f, f),
                    *(fe_present if f in i.fixed_effects else fe_absent for i in infos),
                ]
                for f in fes
            ]
            panels.append(("Fixed effects", fe_rows))

    # -- statistics
    tests_used = [[info.test.get(t, "") for t in order if t in info.terms] for info in infos]
    headline_tests = any(t != "analytic" for ts in tests_used for t in ts)
    foot: list[list[str]] = []
    for key in stats_keys:
        if key == "N":
            cells = [fmt_int(i.nobs) for i in infos]
        elif key in ("r2", "r2_within", "pseudo_r2"):
            cells = [fmt_num(i.stats.get(key), digits) for i in infos]
        elif key == "se_type":
            cells = [i.se_type for i in infos]
        else:  # stars
            if not (headline_tests and codes):
                continue
            cells = [", ".join(dict.fromkeys(t for t in ts if t)) for ts in tests_used]
        if any(cells):
            foot.append([stat_labels[key], *cells])
    for name, given in (custom_model_stats or {}).items():
        vals = list(given)
        if len(vals) != n:
            raise ValueError(
                f"etable: custom_model_stats[{name!r}] has {len(vals)} values for {n} models"
            )
        foot.append([str(name), *(_custom_cell(v, digits) for v in vals)])

    # -- header
    dep = [labels.get(i.depvar, i.depvar) for i in infos]
    head_rows: list[list[str]] = []
    for ch in head_order:
        row = dep if ch == "d" else heads
        if any(row) and ["", *row] not in head_rows:
            head_rows.append(["", *row])
    numbers = [f"({i + 1})" for i in range(n)]

    # -- notes
    all_notes = ([notes] if notes else []) if isinstance(notes, str) else list(notes)
    if se_note and any(info.terms for info in infos):
        longs = [i.se_long if i.se_long and i.se_long != i.se_type else "" for i in infos]
        where = _column_groups(longs)
        sentence = "Standard errors in parentheses"
        if "(se" not in coef_fmt.replace(" ", ""):
            sentence = "Standard errors as in the cells"
        if where:
            sentence += ", " + "; ".join(f"{_cols_text(idx, n)}{txt}" for txt, idx in where)
        all_notes.append(sentence + ".")
    if codes:
        code_text = ", ".join(
            f"{s} p<{c:g}" for s, c in zip(("***", "**", "*"), codes, strict=True)
        )
        if headline_tests:
            keys = list(dict.fromkeys(t for ts in tests_used for t in ts if t))
            spelled = "; ".join(
                f"{k} = {next(i.test_long[k] for i in infos if k in i.test_long)}" for k in keys
            )
            all_notes.append(
                f"Signif. codes: {code_text}, from each estimate's headline p-value, not from the "
                f"standard errors. Row '{stat_labels['stars']}': {spelled}."
            )
        else:
            all_notes.append(f"Signif. codes: {code_text} (each model's own p-values).")
    table = Table(["", *numbers], panels, foot, all_notes, caption, head_rows, label, "etable")
    if out_fmt == "df":
        return table.to_frame()
    return table.render(out_fmt) if out_fmt else table


def _custom_cell(v: Any, digits: int) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "Yes" if v else "No"
    if isinstance(v, int | np.integer):
        return fmt_int(int(v))
    if isinstance(v, float | np.floating):
        return fmt_num(float(v), digits)
    return str(v)


# -- the case-study tables -------------------------------------------------------------------------
#: the columns of ``CaseStudy.main`` these tables read
MAIN_COLUMNS = RESULT_COLUMNS


def _check_main(main: pl.DataFrame) -> None:
    missing = [c for c in MAIN_COLUMNS if c not in main.columns]
    if missing:
        raise ValueError(f"the results table lacks columns {missing} (has {main.columns})")


def results_table(
    main: pl.DataFrame,
    *,
    synthetic: bool,
    digits: int = 3,
    caption: str = "",
    notes: Sequence[str] = (),
    group_by: str = "design",
    show_variant: bool = False,
    method_keys: bool = True,
    secondary: bool = True,
) -> Table:
    """Rows: designs (panels) and outcomes; columns: estimate, headline interval and its method,
    p-value and its method, CR1 SE, N, and, on synthetic data, the true effect and whether the
    interval covers it (the recovery check).

    Parameters
    ----------
    main : polars.DataFrame
        F1's ``CaseStudy.main`` columns (:data:`MAIN_COLUMNS`), one row per design, outcome and
        variant. Rows keep the order of ``main`` within each panel; panels keep the order of
        first appearance.
    group_by : str
        Column whose values make the panels (``design``), or ``"design+outcome"`` for one
        panel per design and outcome (the outcome column is then left out).
    method_keys : bool
        Print each distinct interval / p-value method as a short key (``a``, ``b``...) spelled
        out in the notes, so that the table fits a page.
    secondary : bool
        Show the size check, the CR1 p-value and the coefficient randomization p-value beside
        the headline (when ``main`` has them); the robustness table leaves them out.
    """
    _check_main(main)
    keys: dict[str, str] = {}

    def key(method: str | None) -> str:
        m = str(method or "")
        if not method_keys or not m:
            return m
        if m not in keys:
            keys[m] = _letters(len(keys))
        return keys[m]

    by_outcome = group_by == "design+outcome"
    has = set(main.columns)
    show_size = secondary and "size_n" in has and main["size_n"].is_not_null().any()
    show_ri = secondary and "ri_p_value" in has and main["ri_p_value"].is_not_null().any()
    show_cr1_p = secondary
    cols = (
        ([] if by_outcome else ["Outcome"])
        + (["Variant"] if show_variant else [])
        + [
            "Estimate",
            "Headline interval",
            "Interval method",
            "Headline p",
            "p method",
        ]
        + (["Size check"] if show_size else [])
        + ["CR1 SE"]
        + (["CR1 p"] if show_cr1_p else [])
        + (["Coef. RI p"] if show_ri else [])
        + ["N"]
    )
    if synthetic:
        cols += ["True effect", "Covered"]
    panels: list[tuple[str, list[list[str]]]] = []
    keyed = main.with_columns(
        (pl.col("design") + ": " + pl.col("outcome")).alias("design+outcome")
        if by_outcome
        else pl.col(group_by).alias("_grp_")
    )
    gcol = "design+outcome" if by_outcome else "_grp_"
    for grp in keyed[gcol].unique(maintain_order=True).to_list():
        part = keyed.filter(pl.col(gcol) == grp)
        rows = []
        for r in part.iter_rows(named=True):
            lo, hi = r["ci_low"], r["ci_high"]
            row = (
                ([] if by_outcome else [str(r["outcome"])])
                + ([str(r["variant"])] if show_variant else [])
                + [
                    fmt_num(r["estimate"], digits),
                    ""
                    if fmt_num(lo, digits) == fmt_num(hi, digits) == ""
                    else f"[{fmt_num(lo, digits)}, {fmt_num(hi, digits)}]",
                    key(r["ci_method"]),
                    fmt_num(r["p_value"], digits),
                    key(r["p_method"]),
                ]
                + ([_size_cell(r)] if show_size else [])
                + [fmt_num(r["cr1_se"], digits)]
                + ([fmt_p(r.get("cr1_p_value"), digits)] if show_cr1_p else [])
                + ([fmt_num(r.get("ri_p_value"), digits)] if show_ri else [])
                + [fmt_int(r["nobs"])]
            )
            if synthetic:
                te = r["true_effect"]
                covered = ""
                if te is not None and not math.isnan(te) and lo is not None and hi is not None:
                    covered = "yes" if lo <= te <= hi else "NO"
                row += [fmt_num(te, digits), covered]
            rows.append(row)
        panels.append((str(grp), rows))
    all_notes = list(notes)
    present = (
        {str(h) for h in main["headline"].drop_nulls().to_list()} if "headline" in has else set()
    )
    heads = [h for h in HEADLINE_NOTES if h in present] + sorted(present - set(HEADLINE_NOTES))
    if heads:
        all_notes.append(
            "Headline p and interval: valid with one treated unit whatever its noise ("
            + "; ".join(HEADLINE_NOTES.get(h, h) for h in heads)
            + "). CR1 SE and CR1 p (clustered by the assignment unit) beside them, labelled: they "
            "over-reject with one treated unit."
            + (" Coef. RI p: coefficient randomization inference (placebo estimates ranked by "
               "size), valid only when the units are equally noisy." if show_ri else "")
        )  # fmt: skip
    if show_size:
        all_notes.append(
            "Size check k/n: in this panel the headline test rejected at 5% in k of n placebo "
            "runs (placebo event dates inside the pre-period and placebo units, each with no "
            "effect by construction; 'u' = placebo units only, 'd' = placebo dates only, where "
            "the design allows one kind: with importer x period effects a placebo date of the "
            "treated importer is absorbed, and a few comparison products leave no placebo set); "
            "main-specification rows only. A rate near 5% says the headline test holds its "
            "size on data like these; '!' marks a rate whose 95% Clopper-Pearson interval lies "
            "above 5%: there the headline p-value overstates the evidence."
        )
    if "same_test" in has:
        same = [str(x) for x in main["same_test"].drop_nulls().unique(maintain_order=True)]
        for why in same:
            n_same = main.filter(pl.col("same_test") == why).height
            all_notes.append(f"Same test, shown once: {why} ({n_same} of {main.height} rows).")
    all_notes.extend(f"[{k}] {m}" for m, k in keys.items())
    if synthetic:
        all_notes.insert(
            0,
            "SYNTHETIC DATA: estimates from the seeded demonstration panel; 'True effect' is the "
            "effect the generator put in, 'Covered' says whether the headline interval holds it.",
        )
    return Table(cols, panels, [], all_notes, caption)


#: How the table notes describe each headline method key (``CaseStudy.main["headline"]``).
HEADLINE_NOTES = {
    "ri_t": "regressions: studentized randomization inference, each placebo estimate over its "
    "units' pre-period residual s.d., MacKinnon & Webb 2020",
    "ppml_ri": "PPML: the same studentized test with every placebo assignment refitted by PPML",
    "ri": "coefficient randomization inference",
}


def _size_cell(r: Mapping[str, Any]) -> str:
    """``"k/n"``; ``u`` (placebo units only) or ``d`` (placebo dates only) after it when the
    design allows one kind of run; ``!`` when the rate is above what a 5% test explains."""
    k, n = r.get("size_k"), r.get("size_n")
    if k is None or n is None:
        return ""
    kinds = r.get("size_kinds")
    tag = {"date": "d", "unit": "u"}.get(str(kinds), "")
    # "!" where the rate's Clopper-Pearson 95% interval lies above 5% (over-rejection)
    flag = "!" if n and _cp_low(int(k), int(n)) > 0.05 else ""
    return f"{int(k)}/{int(n)}{tag}{flag}"


def _cp_low(k: int, n: int) -> float:
    from tradeimpact.inference.headline import clopper_pearson

    return clopper_pearson(k, n, 0.95)[0]


#: Names the main specification's ``variant`` may carry (the first one present is used).
MAIN_VARIANTS = ("main", "baseline")


def _letters(i: int) -> str:
    """0 -> a, 25 -> z, 26 -> aa, ..."""
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(97 + r) + out
    return out


def main_variant_of(main: pl.DataFrame) -> str:
    """The variant holding the main specification: ``main``/``baseline``, else the first row's."""
    present = main["variant"].unique(maintain_order=True).to_list()
    for name in MAIN_VARIANTS:
        if name in present:
            return name
    return str(present[0]) if present else "main"


def main_table(
    main: pl.DataFrame, *, synthetic: bool, main_variant: str | None = None, **kw: Any
) -> Table:
    """The main-results table: the rows of ``main`` whose ``variant`` is ``main_variant``
    (default: :func:`main_variant_of`)."""
    _check_main(main)
    mv = main_variant if main_variant is not None else main_variant_of(main)
    return results_table(main.filter(pl.col("variant") == mv), synthetic=synthetic, **kw)


def robustness_table(
    main: pl.DataFrame, *, synthetic: bool, main_variant: str | None = None, **kw: Any
) -> Table:
    """The robustness table: every variant (the main one first) of every design and outcome."""
    _check_main(main)
    main_variant = main_variant if main_variant is not None else main_variant_of(main)
    # designs and outcomes in order of first appearance; within each, the main variant first,
    # then the others in their order in ``main``
    ordered = (
        main.with_row_index("_row")
        .with_columns(
            pl.col("_row").min().over("design").alias("_d"),
            pl.col("_row").min().over("design", "outcome").alias("_o"),
            (pl.col("variant") != main_variant).alias("_alt"),
        )
        .sort("_d", "_o", "_alt", "_row")
        .drop("_row", "_d", "_o", "_alt")
    )
    kw.setdefault("group_by", "design+outcome")
    kw.setdefault("secondary", False)
    return results_table(ordered, synthetic=synthetic, show_variant=True, **kw)
