"""Tables: ``etable`` (fixest-like regression tables) and the case-study results tables.

Every table is a :class:`Table` (header, body rows grouped into panels, footer rows, notes) with
three renderers: :meth:`Table.to_latex` (booktabs), :meth:`Table.to_markdown` (GitHub pipe
table) and :meth:`Table.to_html` (a plain ``<table>`` with ``thead``/``tbody``/``tfoot``).
Numbers are formatted once, when the table is built, so the three formats show the same digits.

:func:`etable` takes any set of result objects with ``params`` and ``std_errors`` (pandas or
polars Series, mappings or arrays; or a ``tidy()`` frame with ``term``, ``estimate``,
``std_error``), optionally ``pvalues``, ``nobs``, ``vcov_type``, ``fixed_effects``, ``inference``
and ``depvar``, as in linearmodels' ``compare`` and fixest's ``etable`` (Berge 2018).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from tradeimpact.schema import RESULT_COLUMNS

#: fixest's default significance codes: ``***`` p < 0.01, ``**`` p < 0.05, ``*`` p < 0.1.
SIGNIF: tuple[tuple[float, str], ...] = ((0.01, "***"), (0.05, "**"), (0.10, "*"))


@dataclass
class Table:
    """A rendered-agnostic table of strings.

    Attributes
    ----------
    columns : list of str
        Column headers (the first is the stub header, often empty).
    panels : list of (str, list of rows)
        Body rows in groups; a non-empty group title is printed as a spanning row, groups are
        separated by a rule.
    footer : list of rows
        Rows below the body (observations, fixed effects, standard errors...).
    notes : list of str
        Lines printed under the table.
    caption : str
        Caption (LaTeX ``\\caption``-free: the caller places the table).
    """

    columns: list[str]
    panels: list[tuple[str, list[list[str]]]]
    footer: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    caption: str = ""

    def __post_init__(self) -> None:
        k = len(self.columns)
        for _title, rows in self.panels:
            for row in rows:
                if len(row) != k:
                    raise ValueError(f"row {row!r} has {len(row)} cells, the header {k}")
        for row in self.footer:
            if len(row) != k:
                raise ValueError(f"footer row {row!r} has {len(row)} cells, the header {k}")

    # -- LaTeX -------------------------------------------------------------------------------------
    def to_latex(self) -> str:
        """A booktabs ``tabular`` (needs ``\\usepackage{booktabs}``), notes below it."""
        k = len(self.columns)
        out = [f"\\begin{{tabular}}{{l{'c' * (k - 1)}}}", "\\toprule"]
        out.append(" & ".join(latex_escape(c) for c in self.columns) + " \\\\")
        for title, rows in self.panels:
            out.append("\\midrule")
            if title:
                out.append(f"\\multicolumn{{{k}}}{{l}}{{\\emph{{{latex_escape(title)}}}}} \\\\")
            out.extend(" & ".join(latex_escape(c) for c in row) + " \\\\" for row in rows)
        if self.footer:
            out.append("\\midrule")
            out.extend(" & ".join(latex_escape(c) for c in row) + " \\\\" for row in self.footer)
        out.append("\\bottomrule")
        out.append("\\end{tabular}")
        out.extend(f"\\par\\footnotesize {latex_escape(n)}" for n in self.notes)
        return "\n".join(out) + "\n"

    # -- Markdown ----------------------------------------------------------------------------------
    def to_markdown(self) -> str:
        """A GitHub pipe table; panel titles as bold rows; notes as lines below."""
        k = len(self.columns)

        def line(cells: Sequence[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

        out = [line(self.columns), "|" + "|".join([":---"] + ["---:"] * (k - 1)) + "|"]
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
        """A ``<table class="etable">`` with ``thead``, one ``tbody`` per panel and ``tfoot``."""
        k = len(self.columns)
        esc = html.escape
        out = ['<table class="etable">']
        if self.caption:
            out.append(f"<caption>{esc(self.caption)}</caption>")
        out.append(
            "<thead><tr>" + "".join(f"<th>{esc(c)}</th>" for c in self.columns) + "</tr></thead>"
        )
        for title, rows in self.panels:
            out.append("<tbody>")
            if title:
                out.append(f'<tr class="panel"><th colspan="{k}">{esc(title)}</th></tr>')
            for r in rows:
                out.append(
                    "<tr><th>"
                    + esc(r[0])
                    + "</th>"
                    + "".join(f"<td>{esc(c)}</td>" for c in r[1:])
                    + "</tr>"
                )
            out.append("</tbody>")
        if self.footer:
            out.append("<tfoot>")
            for r in self.footer:
                out.append(
                    "<tr><th>"
                    + esc(r[0])
                    + "</th>"
                    + "".join(f"<td>{esc(c)}</td>" for c in r[1:])
                    + "</tr>"
                )
            out.append("</tfoot>")
        out.append("</table>")
        out.extend(f'<p class="table-note">{esc(n)}</p>' for n in self.notes)
        return "\n".join(out) + "\n"

    def render(self, fmt: str) -> str:
        """``fmt`` in ``{"latex", "markdown", "html"}``."""
        renderers = {"latex": self.to_latex, "markdown": self.to_markdown, "html": self.to_html}
        if fmt not in renderers:
            raise ValueError(f"unknown table format {fmt!r}; use one of {sorted(renderers)}")
        return renderers[fmt]()


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
}
_LATEX_RE = re.compile("|".join(re.escape(k) for k in _LATEX_SPECIAL))


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters (``& % $ # _ { } ~ ^ \\``)."""
    return _LATEX_RE.sub(lambda m: _LATEX_SPECIAL[m.group(0)], text)


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


def stars(p: float | None) -> str:
    """fixest's significance codes for a p-value (:data:`SIGNIF`)."""
    if p is None or math.isnan(p):
        return ""
    for cut, code in SIGNIF:
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
    """``term, estimate, std_error, p_value`` of one result object (see module docstring)."""
    names = getattr(result, "names", None)
    names = list(names) if isinstance(names, Sequence) and not isinstance(names, str) else None
    if hasattr(result, "params"):
        params = _as_mapping(result.params, names)
        terms = list(params)
        se = _as_mapping(getattr(result, "std_errors", None), terms)
        pv = _as_mapping(getattr(result, "pvalues", None), terms)
        pv.update({t: _headline(result, t).pvalue for t in terms if _headline(result, t)})
    elif hasattr(result, "tidy"):
        t = result.tidy()
        terms = t["term"].cast(pl.String).to_list()
        params = dict(zip(terms, t["estimate"].to_list(), strict=True))
        se = (
            dict(zip(terms, t["std_error"].to_list(), strict=True))
            if "std_error" in t.columns
            else {}
        )
        pv = dict(zip(terms, t["p_value"].to_list(), strict=True)) if "p_value" in t.columns else {}
    else:
        raise TypeError(
            f"{type(result).__name__} has neither params nor tidy(): cannot tabulate it"
        )
    return pl.DataFrame(
        {
            "term": terms,
            "estimate": [params[t] for t in terms],
            "std_error": [se.get(t, float("nan")) for t in terms],
            "p_value": [pv.get(t, float("nan")) for t in terms],
        },
        schema={
            "term": pl.String,
            "estimate": pl.Float64,
            "std_error": pl.Float64,
            "p_value": pl.Float64,
        },
    )


def _headline(result: Any, term: str) -> Any:
    """The headline test of ``term`` where the result has one (``headlines``/``attached``)."""
    if not hasattr(result, "headline_of"):
        return None
    if term in getattr(result, "headlines", {}) or term in getattr(result, "attached", {}):
        return result.headline_of(term)
    return None


def _headline_text(result: Any, terms: Sequence[str]) -> str:
    """The headline method of the shown terms (the result's ``inference`` without a headline)."""
    methods = list(dict.fromkeys(h.method for t in terms if (h := _headline(result, t))))
    if methods:
        return "; ".join(methods)
    return _attr_text(result, "inference")


def _attr_text(result: Any, name: str) -> str:
    v = getattr(result, name, None)
    if v is None:
        return ""
    if callable(v):
        v = v()
    if isinstance(v, list | tuple):
        return ", ".join(map(str, v))
    return str(v)


def etable(
    results: Sequence[Any] | Mapping[str, Any],
    *,
    keep: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    digits: int = 3,
    signif: bool = True,
    caption: str = "",
    notes: Sequence[str] = (),
    fmt: str | None = None,
    footer: Sequence[str] = ("depvar", "nobs", "fixed_effects", "vcov_type", "inference"),
) -> Table | str:
    """A regression table over several results, in the style of fixest's ``etable``.

    One column per result (``(1)``, ``(2)``... or the mapping's keys), one block per coefficient:
    the estimate (with significance stars when ``signif``: from the term's headline test,
    ``result.headline_of(term).pvalue``, where the result has one, e.g. the studentized
    randomization test the case studies attach, else from ``pvalues``) and the standard error
    in parentheses below it. Footer rows: dependent variable, observations, fixed effects,
    standard errors (``vcov_type``) and headline inference (the headline method of the shown
    terms, else ``inference``), each only when at least one result has it; the note says which
    p-values the stars follow.

    Parameters
    ----------
    results : sequence or mapping of result objects
        Anything :func:`coefficients` reads.
    keep : sequence of str, optional
        Regular expressions; only terms matching one of them are shown, in the order of
        ``keep`` (fixest's ``keep``). Default: every term, in order of first appearance.
    labels : mapping, optional
        Display names of terms (fixest's ``dict``).
    digits : int
        Decimals of estimates and standard errors.
    signif : bool
        Append ``*``/``**``/``***`` (p < 0.1/0.05/0.01) and a note saying so.
    caption, notes :
        Caption and notes of the table.
    fmt : {"latex", "markdown", "html"}, optional
        Return the rendered string instead of the :class:`Table`.
    footer : sequence of str
        Which footer rows to show, in this order: ``depvar``, ``nobs``, ``fixed_effects``,
        ``vcov_type``, ``inference`` (each only when at least one result has it).

    Returns
    -------
    Table or str
    """
    if isinstance(results, Mapping):
        heads = [str(k) for k in results]
        objs = list(results.values())
    else:
        objs = list(results)
        heads = [f"({i + 1})" for i in range(len(objs))]
    if not objs:
        raise ValueError("etable needs at least one result")
    labels = dict(labels or {})
    coefs = [coefficients(r) for r in objs]
    order: list[str] = []
    for c in coefs:
        order.extend(t for t in c["term"].to_list() if t not in order)
    if keep is not None:
        kept: list[str] = []
        for pat in keep:
            rx = re.compile(pat)
            kept.extend(t for t in order if rx.search(t) and t not in kept)
        order = kept
    body: list[list[str]] = []
    for term in order:
        est_row = [labels.get(term, term)]
        se_row = [""]
        for c in coefs:
            hit = c.filter(pl.col("term") == term)
            if hit.height == 0:
                est_row.append("")
                se_row.append("")
                continue
            e, s, p = hit.row(0)[1:]
            est_row.append(fmt_num(e, digits) + (stars(p) if signif else ""))
            se_row.append(f"({fmt_num(s, digits)})" if not math.isnan(s) else "")
        body.append(est_row)
        body.append(se_row)
    labels_of = {
        "depvar": "Dependent var.",
        "nobs": "Observations",
        "fixed_effects": "Fixed effects",
        "vcov_type": "Standard errors",
        "inference": "Headline inference",
    }
    foot: list[list[str]] = []
    for attr in footer:
        if attr not in labels_of:
            raise ValueError(f"unknown footer row {attr!r}; use some of {list(labels_of)}")
        if attr == "nobs":
            nobs = [getattr(r, "nobs", None) for r in objs]
            if any(n is not None for n in nobs):
                foot.append([labels_of[attr], *[fmt_int(n) for n in nobs]])
            continue
        if attr == "inference":
            cells = [_headline_text(r, order) for r in objs]
        else:
            cells = [_attr_text(r, attr) for r in objs]
        if any(cells):
            foot.append([labels_of[attr], *cells])
    all_notes = list(notes)
    if signif:
        with_head = any(_headline(r, t) for r in objs for t in order)
        all_notes.append(
            "Signif. codes: *** p<0.01, ** p<0.05, * p<0.1, from each estimate's headline "
            "p-value (the test in the 'Headline inference' row), not from the standard errors "
            "in parentheses."
            if with_head
            else "Signif. codes: *** p<0.01, ** p<0.05, * p<0.1 (each result's own p-values)."
        )
    table = Table(["", *heads], [("", body)], foot, all_notes, caption)
    return table.render(fmt) if fmt else table


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
