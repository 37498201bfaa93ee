"""etable as a journal takes it: numbers equal each package's own attributes, stars follow the
headline p-value, fixed-effect rows, R2 / within R2 / pseudo R2 equal pyfixest's, and the LaTeX,
Typst, HTML and Markdown renderings are well formed, compile and are deterministic.

References: pyfixest (``feols``/``fepois`` ``_r2``, ``_r2_within``, ``_pseudo_r2``), statsmodels
(``params``, ``bse``, ``rsquared``, GLM ``pseudo_rsquared(kind="mcf")``) and linearmodels
(``params``, ``std_errors``, PanelOLS ``rsquared_inclusive``/``rsquared``, AbsorbingLS
``rsquared``/``absorbed_rsquared``) computed in the test on the same SYNTHETIC data. Printed
cells are compared as strings at the printed 3 decimals; R2 references at 1e-8 (OLS) and 1e-6
(PPML pseudo R2: IRLS tolerance).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from linearmodels import AbsorbingLS, PanelOLS
from linearmodels.iv import IV2SLS

import tradeimpact as ti
from tradeimpact.report.tables import Table, etable, model_info, short_se_type


def _panel(
    n_units: int = 21, n_periods: int = 24, effect: float = -1.5, seed: int = 5
) -> pd.DataFrame:
    """SYNTHETIC importer x period panel, importer 0 treated from period 12."""
    rng = np.random.default_rng(seed)
    d = pd.DataFrame(
        [(u, t) for u in range(n_units) for t in range(n_periods)], columns=["importer", "period"]
    )
    d["treat"] = (d.importer == 0).astype(int)
    d["post"] = (d.period >= n_periods // 2).astype(int)
    d["tp"] = d.treat * d.post
    d["x"] = rng.normal(size=len(d))
    d["y"] = (
        0.05 * d.importer + 0.02 * d.period + 0.3 * d.x + effect * d.tp
        + rng.normal(scale=0.5, size=len(d))
    )  # fmt: skip
    d["v"] = rng.poisson(np.exp(1.0 + 0.02 * d.importer + 0.2 * d.x - 0.4 * d.tp))
    return d


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return _panel()


def _cell(x: float) -> str:
    return f"{x:.3f}"


def _strip(s: str) -> str:
    return s.rstrip("*")


def _row(tab: Table, label: str) -> list[str]:
    rows = [r for _t, rs in tab.panels for r in rs] + tab.footer
    hits = [r for r in rows if r[0] == label]
    assert hits, f"no row {label!r} in {[r[0] for r in rows]}"
    return hits[0]


def _block(tab: Table, label: str) -> list[list[str]]:
    """The coefficient row of ``label`` and the rows under it (standard errors, p)."""
    body = tab.panels[0][1]
    i = next(i for i, r in enumerate(body) if r[0] == label)
    j = i + 1
    while j < len(body) and body[j][0] == "":
        j += 1
    return body[i:j]


# -- numbers of every package, read through its own attributes ---------------------------------------
def test_etable_reads_statsmodels_linearmodels_and_tradeimpact_in_one_table(panel):
    import pyfixest as pf

    d = panel
    with warnings.catch_warnings():
        # pyfixest's own deprecation/future notices on import and fit; not about our numbers
        warnings.simplefilter("ignore")
        pf_ols = pf.feols("y ~ tp + x | importer + period", d, vcov={"CRV1": "importer"})
        pf_pois = pf.fepois("v ~ tp + x | importer + period", d, vcov={"CRV1": "importer"})
        pf_pois_nofe = pf.fepois("v ~ tp + x", d, vcov="iid")
    fit = ti.feols("y ~ tp + x | importer + period", d, vcov={"CRV1": "importer"})
    ppml = ti.fepois("v ~ tp + x | importer + period", d, vcov={"CRV1": "importer"})
    ols = smf.ols("y ~ tp + x", d).fit(cov_type="cluster", cov_kwds={"groups": d.importer})
    glm = smf.glm("v ~ tp + x", d, family=sm.families.Poisson()).fit()
    pidx = d.set_index(["importer", "period"])
    po = PanelOLS(pidx.y, pidx[["tp", "x"]], entity_effects=True, time_effects=True).fit(
        cov_type="clustered", cluster_entity=True
    )
    ab = AbsorbingLS(d.y, d[["tp", "x"]], absorb=d[["importer", "period"]].astype("category")).fit(
        cov_type="clustered", clusters=d.importer
    )
    iv = IV2SLS(d.y, sm.add_constant(d[["tp", "x"]]), None, None).fit(cov_type="robust")
    models = [fit, ppml, ols, glm, po, ab, iv]
    tab = etable(models, keep=["^tp$", "^x$"])
    assert isinstance(tab, Table)
    assert tab.columns == ["", *(f"({i})" for i in range(1, 8))]
    # the dependent variables, spanning the models that share one
    assert tab.heads == [["", "y", "v", "y", "v", "y", "y", "y"]]

    own = {
        0: (fit.params, fit.std_errors),
        1: (ppml.params, ppml.std_errors),
        2: (ols.params, ols.bse),
        3: (glm.params, glm.bse),
        4: (po.params, po.std_errors),
        5: (ab.params, ab.std_errors),
        6: (iv.params, iv.std_errors),
    }
    for term in ("tp", "x"):
        est, se = _block(tab, term)
        for j, (params, bse) in own.items():
            assert _strip(est[j + 1]) == _cell(float(params[term])), (term, j)
            assert se[j + 1] == f"({_cell(float(bse[term]))})", (term, j)
    # tradeimpact equals pyfixest (an independent implementation) on the same data
    assert float(fit.params["tp"]) == pytest.approx(float(pf_ols.coef()["tp"]), rel=1e-8)
    assert float(fit.std_errors["tp"]) == pytest.approx(float(pf_ols.se()["tp"]), rel=1e-8)

    assert _row(tab, "Observations")[1:] == [f"{len(d):,}"] * 7
    # R2: tradeimpact's equals pyfixest's; linearmodels read as fixest defines R2 / within R2
    assert fit.extra["r2"] == pytest.approx(pf_ols._r2, rel=1e-8)
    assert fit.extra["r2_within"] == pytest.approx(pf_ols._r2_within, rel=1e-8)
    assert po.rsquared_inclusive == pytest.approx(pf_ols._r2, rel=1e-8)
    assert po.rsquared == pytest.approx(pf_ols._r2_within, rel=1e-8)
    assert ab.rsquared == pytest.approx(pf_ols._r2, rel=1e-8)
    assert ab.absorbed_rsquared == pytest.approx(pf_ols._r2_within, rel=1e-8)
    r2, r2w = _cell(pf_ols._r2), _cell(pf_ols._r2_within)
    assert _row(tab, "R²")[1:] == [r2, "", _cell(ols.rsquared), "", r2, r2, _cell(iv.rsquared)]
    assert _row(tab, "Within R²")[1:] == [r2w, "", "", "", r2w, r2w, ""]
    # pseudo R2 as pyfixest prints it for Fepois: 1 - ll/ll0 (McFadden); statsmodels' GLM
    # through its own pseudo_rsquared(kind="mcf"), equal to pyfixest's fepois without effects
    assert ppml.extra["pseudo_r2"] == pytest.approx(pf_pois._pseudo_r2, rel=1e-6)
    assert glm.pseudo_rsquared(kind="mcf") == pytest.approx(pf_pois_nofe._pseudo_r2, rel=1e-6)
    assert _row(tab, "Pseudo R²")[1:] == [
        "", _cell(pf_pois._pseudo_r2), "", _cell(glm.pseudo_rsquared(kind="mcf")), "", "", ""
    ]  # fmt: skip
    # one row per fixed effect; the linearmodels names are PanelOLS' index / AbsorbingLS' columns
    assert tab.panels[1][0] == "Fixed effects"
    assert _row(tab, "importer")[1:] == ["Yes", "Yes", "No", "No", "Yes", "Yes", "No"]
    assert _row(tab, "period")[1:] == ["Yes", "Yes", "No", "No", "Yes", "Yes", "No"]
    assert _row(tab, "S.E. type")[1:] == [
        "CR1 by importer (G=21)", "CR1 by importer (G=21)", "Clustered (G=21)", "iid",
        "Clustered", "Clustered (G=21)", "Robust",
    ]  # fmt: skip
    # the stars of the other packages follow their own p-values
    for j, pv in ((2, ols.pvalues), (4, po.pvalues), (6, iv.pvalues)):
        star = _block(tab, "x")[0][j + 1][len(_cell(float(own[j][0]["x"]))) :]
        p = float(pv["x"])
        assert star == ("***" if p < 0.01 else "**" if p < 0.05 else "*" if p < 0.1 else "")


def test_model_info_reads_the_packages_own_attributes(panel):
    d = panel
    ols = smf.ols("y ~ tp + x", d).fit()
    info = model_info(ols)
    assert info.terms == ["Intercept", "tp", "x"]
    assert info.std_error == {k: float(v) for k, v in ols.bse.items()}
    assert info.pvalue == {k: float(v) for k, v in ols.pvalues.items()}
    assert info.nobs == int(ols.nobs) and info.depvar == "y" and info.se_type == "iid"
    with pytest.raises(TypeError, match="neither params nor tidy"):
        etable([object()])


# -- stars follow the headline p-value ---------------------------------------------------------------
def test_stars_follow_the_headline_randomization_p_not_cr1():
    """One treated importer among 21 with a large effect: CR1 p is far below 0.01 (``***``),
    the headline studentized randomization test can give no less than 1/21 = 0.048 (``**``)."""
    d = _panel(effect=-3.0)
    res = ti.did(d, "y", "treat", "post", "importer", time="period", outcome="level")
    term = res.names[0]
    h = res.headline_of(term)
    assert h.method_key == "ri_t" and h.p_fraction_text == "1/21"
    assert h.pvalue == pytest.approx(1 / 21) and res.analytic_pvalues[term] < 1e-6
    tab = etable([res], coef_fmt="b* \n (se) \n [p]")
    est, _se, p = _block(tab, term)
    assert est[1] == f"{float(res.params[term]):.3f}**"  # 0.048: two stars, not three
    assert p[1] == "[0.048]"
    assert _row(tab, "Stars from")[1:] == ["RI-t"]
    assert _row(tab, "S.E. type")[1:] == ["CR1 by importer (G=21)"]
    note = tab.notes[-1]
    assert note.startswith("Signif. codes: *** p<0.01, ** p<0.05, * p<0.1, from each estimate's")
    assert (
        "not from the standard errors. Row 'Stars from': RI-t = studentized randomization" in note
    )
    # the same fit made analytic: the CR1 p, three stars, and no 'Stars from' row
    plain = res.with_inference("cr1")
    ptab = etable([plain])
    assert _block(ptab, term)[0][1].endswith("***")
    assert all(r[0] != "Stars from" for r in ptab.footer)
    # pyfixest's signif_code cut-offs: 0.048 is above 0.01 and below 0.05 -> one star
    assert _block(etable([res], signif_code=[0.001, 0.01, 0.05]), term)[0][1].endswith("*")
    assert not _block(etable([res], signif_code=[0.001, 0.01, 0.05]), term)[0][1].endswith("**")
    assert _block(etable([res], signif=False), term)[0][1] == f"{float(res.params[term]):.3f}"


# -- layout options -----------------------------------------------------------------------------------
def test_keep_drop_labels_felabels_marks_and_heads(panel):
    d = panel
    a = ti.feols("y ~ tp + x | importer + period", d, vcov={"CRV1": "importer"})
    b = ti.feols("y ~ tp | importer", d, vcov="hetero")
    tab = etable(
        {"full": a, "short": b},
        drop=["^x$"],
        labels={"tp": "Treated x post", "y": "log imports"},
        felabels={"importer": "Importer FE"},
        fe_present="✓",
        fe_absent="",
    )
    assert [r[0] for r in tab.panels[0][1]] == ["Treated x post", ""]
    assert _row(tab, "Importer FE")[1:] == ["✓", "✓"]
    assert _row(tab, "period")[1:] == ["✓", ""]
    assert _row(tab, "Within R²")[1:] == [_cell(a.extra["r2_within"]), _cell(b.extra["r2_within"])]
    assert _row(tab, "S.E. type")[1:] == ["CR1 by importer (G=21)", "HC1"]
    # dependent variable (spanning both), then the mapping's keys (model_heads), then numbers
    assert tab.heads == [["", "log imports", "log imports"], ["", "full", "short"]]
    latex = tab.to_latex()
    assert "\\multicolumn{2}{c}{log imports}" in latex and "\\cmidrule(lr){2-3}" in latex
    assert "$\\checkmark$" in latex
    assert etable({"y": a}, head_order="").heads == []
    # two terms with one label share a row (fixest's dict): each model shows its own
    c = ti.feols("y ~ treat:post | importer + period", d, vcov={"CRV1": "importer"})
    merged = etable(
        [a, c], keep=["tp", "treat:post"], labels={"tp": "T x P", "treat:post": "T x P"}
    )
    est = merged.panels[0][1][0]
    assert est[0] == "T x P"
    assert _strip(est[1]) == _cell(float(a.params["tp"]))
    assert _strip(est[2]) == _cell(float(c.params["treat:post"]))
    # coef_fmt tokens with formats
    t4 = etable([a], keep="^tp$", coef_fmt="b:.4f \n [t:.2f]")
    assert t4.panels[0][1][0][1] == f"{float(a.params['tp']):.4f}"
    assert t4.panels[0][1][1][1] == f"[{float(a.tstats['tp']):.2f}]"
    for bad, match in (
        ({"keep": "nothing_here"}, "no coefficient matches"),
        ({"signif_code": [0.1, 0.05, 0.01]}, "three ascending"),
        ({"coef_fmt": "( )"}, "no token"),
        ({"model_stats": ["aic"]}, "unknown model_stats"),
        ({"head_order": "x"}, "head_order"),
        ({"type": "docx"}, "unknown type"),
        ({"model_heads": ["one", "two"]}, "model_heads"),
        ({"custom_model_stats": {"Controls": ["Yes", "No"]}}, "custom_model_stats"),
    ):
        with pytest.raises(ValueError, match=match):
            etable([a], **bad)
    extra = etable([a, b], custom_model_stats={"Controls": [True, False]})
    assert extra.footer[-1] == ["Controls", "Yes", "No"]


def test_short_se_type():
    assert (
        short_se_type("CR1 clustered by unit (G=21; (n-1)/(n-k) x G/(G-1))") == "CR1 by unit (G=21)"
    )
    assert (
        short_se_type(
            "CR1 clustered by a and b (G=21, G=8; (n-1)/(n-k) x G/(G-1) with min G)",
            {"a": 21, "b": 8},
        )
        == "CR1 by a & b (G=21, 8)"
    )
    assert short_se_type("heteroskedasticity-robust (HC1)") == "HC1"
    assert short_se_type("HC1 (heteroskedasticity-robust; N/(N-K), fixest convention)") == "HC1"
    assert short_se_type("iid (Poisson variance; 1, ppmlhdfe convention, N=5, K=2)") == "iid"
    assert short_se_type("Driscoll-Kraay (Bartlett, bandwidth 3, T=60)") == "Driscoll-Kraay (T=60)"


# -- the formats --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def journal_table(panel) -> Table:
    d = panel
    res = ti.did(d, "y", "treat", "post", "importer", time="period", outcome="level")
    fit = ti.feols("y ~ tp + x | importer + period", d, vcov={"CRV1": "importer"})
    ols = smf.ols("y ~ tp + x", d).fit(cov_type="HC1")
    tab = etable(
        {"DiD": res, "TWFE": fit, "OLS": ols},
        labels={"treat:post": "Treated & post", "tp": "Treated & post", "x": "x_1"},
        keep=["treat", "tp", "^x$"],
        coef_fmt="b* \n (se) \n [p]",
        notes="SYNTHETIC data; 50% of flows & more.",
        caption="SYNTHETIC: an etable",
        label="tab:demo",
    )
    assert isinstance(tab, Table)
    return tab


def _latex_rows(latex: str) -> list[str]:
    return [ln for ln in latex.splitlines() if ln.endswith("\\\\")]


def test_latex_booktabs_threeparttable_structure_and_compile(journal_table, tmp_path):
    tab = journal_table
    k = len(tab.columns)
    latex = tab.to_latex(float=True)
    assert latex == tab.to_latex(float=True)  # deterministic
    lines = latex.splitlines()
    assert lines[:4] == ["\\begin{table}[htbp]", "\\centering",
                         "\\caption{SYNTHETIC: an etable}", "\\label{tab:demo}"]  # fmt: skip
    assert lines[4:7] == ["\\begin{threeparttable}", "\\begin{tabular}{lccc}", "\\toprule"]
    assert lines[-3:] == ["\\end{tablenotes}", "\\end{threeparttable}", "\\end{table}"]
    for env in ("table", "threeparttable", "tabular", "tablenotes"):
        assert latex.count(f"\\begin{{{env}}}") == latex.count(f"\\end{{{env}}}") == 1
    order = [
        latex.index(s) for s in ("\\toprule", "\\midrule", "\\bottomrule", "\\begin{tablenotes}")
    ]
    assert order == sorted(order)
    # every row has k cells (a \multicolumn counts its span); specials escaped, minus as math
    for row in _latex_rows(latex):
        cells = re.split(r"(?<!\\)&", row[:-2])
        spans = sum(int(m) - 1 for m in re.findall(r"\\multicolumn\{(\d+)\}", row))
        assert len(cells) + spans == k, row
    assert "Treated \\& post" in latex and "x\\_1" in latex and "50\\% of flows \\& more" in latex
    assert "\\item SYNTHETIC data; 50\\% of flows \\& more." in latex
    est = next(r for r in _latex_rows(latex) if r.startswith("Treated"))
    assert re.search(r"\$-\$\d\.\d{3}\$\^\{\*\*\}\$", est), est  # -1.234^{**}
    assert "R$^2$" in latex and "[$<$0.001]" in latex
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed: the structure is checked above, not the compile")
    doc = (
        "\\documentclass{article}\n\\usepackage{booktabs,threeparttable,amssymb}\n"
        "\\usepackage[margin=1.5cm]{geometry}\n\\begin{document}\n" + latex + "\\end{document}\n"
    )
    (tmp_path / "t.tex").write_text(doc)
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:]
    assert (tmp_path / "t.pdf").read_bytes()[:5] == b"%PDF-"
    assert "Overfull \\hbox" not in run.stdout


def test_typst_table_compiles_to_pdf_deterministically(journal_table, tmp_path):
    import typst

    from tradeimpact.report.typst_report import font_paths

    src = journal_table.to_typst()
    assert src == journal_table.to_typst()
    assert (
        '[#"\u2212' in src and "#box(width: 0pt, align(left, super(" in src
    )  # minus signs and superscript stars
    doc = (
        '#set page(width: 16cm, height: auto, margin: 1cm)\n#set text(font: "DejaVu Sans")\n' + src
    )
    (tmp_path / "t.typ").write_text(doc, encoding="utf-8")

    def compile_once() -> bytes:
        c = typst.Compiler(root=str(tmp_path), font_paths=font_paths(), ignore_system_fonts=True)
        out = c.compile(input=str(tmp_path / "t.typ"), format="pdf")
        assert isinstance(out, bytes)
        return out

    pdf = compile_once()
    assert pdf[:5] == b"%PDF-" and len(pdf) > 2000
    assert compile_once() == pdf  # same source, same bytes


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[tuple[str, int]]] = []
        self.sections: list[str] = []
        self._span = 1

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("thead", "tbody", "tfoot"):
            self.sections.append(tag)
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self._span = int(dict(attrs).get("colspan") or 1)
            self.rows[-1].append(("", self._span))

    def handle_data(self, data: str) -> None:
        if self.rows and self.rows[-1]:
            text, span = self.rows[-1][-1]
            self.rows[-1][-1] = (text + data, span)


def test_html_and_markdown(journal_table):
    tab = journal_table
    k = len(tab.columns)
    page = tab.to_html()
    assert page == tab.to_html()
    parser = _Cells()
    parser.feed(page)
    assert parser.sections == ["thead", "tbody", "tbody", "tfoot"]
    for row in parser.rows:
        assert sum(span for _t, span in row) == k
    assert "Treated &amp; post" in page and 'id="tab:demo"' in page
    assert re.search(r"<td>-\d\.\d{3}<sup>\*+</sup></td>", page)  # stars as superscripts
    md = tab.to_markdown()
    assert md == tab.to_markdown()
    lines = md.splitlines()
    assert lines[0] == "|  | y DiD (1) | y TWFE (2) | y OLS (3) |"
    assert lines[1] == "|:---|---:|---:|---:|"
    assert all(ln.count(" | ") == k - 1 for ln in lines if ln.startswith("| "))
    assert lines[-2].startswith("Standard errors in parentheses")
    assert tab.render("md") == md and tab.render("tex") == tab.to_latex()
    assert tab.render("typst") == tab.to_typst()


def test_type_df_is_the_cells_as_pandas(journal_table, panel):
    """pyfixest's ``etable(type="df")``: the same cells, header rows as a column MultiIndex."""
    tab = journal_table
    frame = tab.to_frame()
    assert list(frame.columns) == list(zip(*tab.heads, tab.columns, strict=True))
    cells = [r for title, rs in tab.panels for r in ([[title] + [""] * 3] if title else []) + rs]
    assert frame.to_numpy().tolist() == cells + tab.footer
    fit = ti.feols("y ~ tp | importer", panel, vcov={"CRV1": "importer"})
    df = etable([fit], type="df", head_order="")
    assert isinstance(df, pd.DataFrame) and list(df.columns) == ["", "(1)"]
    assert df.iloc[0].tolist() == ["tp", etable([fit]).panels[0][1][0][1]]


def test_short_test_names():
    from tradeimpact.report.tables import _short_test

    assert _short_test("ri_t", "anything") == "RI-t"
    assert _short_test("ppml_ri", "") == "PPML RI-t"
    # an attached test known only by its description
    desc = (
        "studentized randomization inference (RI-t, pre-period residual s.d.; MacKinnon-Webb 2020)"
    )
    assert _short_test(desc, desc) == "RI-t"
    assert _short_test("x", "Conley-Taber (2011), residual-based, test inversion (rule)") == (
        "Conley-Taber"
    )
    assert _short_test("x", "randomization inference (placebo-in-space)") == "RI"
    # an unknown description: its first clause, cut at a word boundary
    assert _short_test("x", "a very long description of some new test here (x)") == (
        "a very long description of"
    )
