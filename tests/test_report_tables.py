"""etable and the case-study tables: exact strings from the results' own numbers."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import polars as pl
import pytest
from linearmodels.iv import IV2SLS

from tradeimpact.models.results import RegressionResult
from tradeimpact.report.tables import (
    etable,
    fmt_num,
    latex_escape,
    main_table,
    robustness_table,
    stars,
)


@pytest.fixture
def two_results() -> tuple[object, RegressionResult]:
    rng = np.random.default_rng(7)
    n = 200
    x = rng.normal(size=n)
    z = rng.normal(size=n)
    y = 1.0 + 0.5 * x - 0.2 * z + rng.normal(size=n)
    exog = pd.DataFrame({"const": 1.0, "treat_post": x})
    lm = IV2SLS(pd.Series(y, name="y"), exog, None, None).fit(cov_type="unadjusted")
    # the second: C's result class holding a statsmodels-free OLS fit with z added
    xmat = np.column_stack([np.ones(n), x, z])
    beta, *_ = np.linalg.lstsq(xmat, y, rcond=None)
    resid = y - xmat @ beta
    cov = resid @ resid / (n - 3) * np.linalg.inv(xmat.T @ xmat)
    rr = RegressionResult(
        names=["const", "treat_post", "z_var"],
        beta=beta,
        cov_matrix=cov,
        nobs=n,
        vcov_type="iid",
        df_inference=n - 3,
        depvar="y",
    )
    return lm, rr


def _cells(res: object, term: str) -> tuple[str, str]:
    b = float(res.params[term])  # type: ignore[attr-defined]
    s = float(res.std_errors[term])  # type: ignore[attr-defined]
    p = float(res.pvalues[term])  # type: ignore[attr-defined]
    return f"{b:.3f}{stars(p)}", f"({s:.3f})"


def test_etable_latex_and_markdown_equal_hand_written(two_results):
    lm, rr = two_results
    c1, s1 = _cells(lm, "const")
    t1, u1 = _cells(lm, "treat_post")
    c2, s2 = _cells(rr, "const")
    t2, u2 = _cells(rr, "treat_post")
    z2, w2 = _cells(rr, "z_var")
    latex = etable([lm, rr], keep=["treat", "z_var"], labels={"z_var": "z"}, fmt="latex")
    sup = lambda c: re.sub(r"(\*+)$", r"$^{\1}$", c.replace("-", "$-$"))  # noqa: E731
    expected = (
        "\\begin{threeparttable}\n"
        "\\begin{tabular}{lcc}\n"
        "\\toprule\n"
        " & \\multicolumn{2}{c}{y} \\\\\n"
        "\\cmidrule(lr){2-3}\n"
        " & (1) & (2) \\\\\n"
        "\\midrule\n"
        f"treat\\_post & {sup(t1)} & {sup(t2)} \\\\\n"
        f" & {u1} & {u2} \\\\\n"
        f"z &  & {sup(z2)} \\\\\n"
        f" &  & {w2} \\\\\n"
        "\\midrule\n"
        "Observations & 200 & 200 \\\\\n"
        f"R$^2$ & {lm.rsquared:.3f} &  \\\\\n"
        "S.E. type & iid & iid \\\\\n"
        "\\bottomrule\n"
        "\\end{tabular}\n"
        "\\begin{tablenotes}[flushleft]\n"
        "\\footnotesize\n"
        "\\item Standard errors in parentheses.\n"
        "\\item Signif. codes: *** p$<$0.01, ** p$<$0.05, * p$<$0.1 (each model's own p-values).\n"
        "\\end{tablenotes}\n"
        "\\end{threeparttable}\n"
    )
    assert latex == expected
    md = etable({"IV2SLS": lm, "OLS": rr}, fmt="markdown", signif=False)
    strip = lambda s: s.rstrip("*")  # noqa: E731
    expected_md = (
        "|  | y IV2SLS (1) | y OLS (2) |\n"
        "|:---|---:|---:|\n"
        f"| const | {strip(c1)} | {strip(c2)} |\n"
        f"|  | {s1} | {s2} |\n"
        f"| treat_post | {strip(t1)} | {strip(t2)} |\n"
        f"|  | {u1} | {u2} |\n"
        f"| z_var |  | {strip(z2)} |\n"
        f"|  |  | {w2} |\n"
        "| Observations | 200 | 200 |\n"
        f"| R² | {lm.rsquared:.3f} |  |\n"
        "| S.E. type | iid | iid |\n"
        "\n"
        "Standard errors in parentheses.\n"
    )
    assert md == expected_md
    # the numbers themselves: linearmodels' own estimate of the slope, 3 decimals
    assert t1.rstrip("*") == f"{lm.params['treat_post']:.3f}"
    html = etable([lm, rr], fmt="html")
    assert html.startswith('<table class="etable">')
    t2_html = re.sub(r"(\*+)$", r"<sup>\1</sup>", t2)
    assert f"<td>{t2_html}</td>" in html and "<tfoot>" in html


def test_etable_reads_randomization_result_and_polars_params():
    from tradeimpact.inference.randomization import RandomizationResult

    placebo = pl.DataFrame(
        {
            "assignment": ["A", "B", "C", "D"],
            "estimate": [-1.0, 0.2, -0.3, 0.5],
            "is_actual": [True, False, False, False],
        }
    )
    ri = RandomizationResult(
        estimate=-1.0,
        placebo=placebo,
        p_numerator=1,
        p_denominator=4,
        exact=True,
        rule="#|b_p|>=|b| / P",
        treated=["A"],
        nobs=40,
        _cross=np.array([1.0, 0.1, 0.0, -0.1]),
    )
    tab = etable([ri], signif=True)
    assert tab.panels[0][1][0] == ["estimate", "-1.000"]  # p = 0.25: no star
    assert tab.footer[0] == ["Observations", "40"]


def test_formatting_helpers():
    assert fmt_num(-0.0001) == "0.000"
    assert fmt_num(math.inf) == "Inf" and fmt_num(-math.inf) == "-Inf" and fmt_num(math.nan) == ""
    assert latex_escape("a_b & 5% #1") == "a\\_b \\& 5\\% \\#1"
    assert [stars(p) for p in (0.001, 0.03, 0.07, 0.2)] == ["***", "**", "*", ""]


def _main_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "design": ["importer DiD", "importer DiD", "importer DiD", "synthetic control"],
            "outcome": ["log quantity", "log quantity", "log value", "log quantity"],
            "variant": ["main", "event Oct 2010", "main", "main"],
            "estimate": [-0.81234, -0.7, 0.1, -0.9],
            "ci_low": [-1.2, -1.1, -0.3, -math.inf],
            "ci_high": [-0.4, -0.2, 0.5, -0.1],
            "ci_method": ["RI (test inversion)"] * 3 + ["placebo ratio"],
            "p_value": [1 / 16, 2 / 16, 9 / 16, 1 / 16],
            "p_method": ["RI 1/16", "RI 2/16", "RI 9/16", "RI 1/16"],
            "cr1_se": [0.1, 0.12, 0.2, None],
            "nobs": [3840, 3840, 3840, 16],
            "true_effect": [-0.8, -0.8, 0.3, -0.8],
        }
    )


def test_main_and_robustness_tables_with_recovery_check():
    main = _main_frame()
    tab = main_table(main, synthetic=True)
    assert [t for t, _ in tab.panels] == ["importer DiD", "synthetic control"]
    first = tab.panels[0][1][0]
    assert first == [
        "log quantity",
        "-0.812",
        "[-1.200, -0.400]",
        "a",
        "0.062",
        "b",
        "0.100",
        "",  # no CR1 p in this frame
        "3,840",
        "-0.800",
        "yes",
    ]
    assert tab.columns[:5] == ["Outcome", "Estimate", "Headline interval", "Interval method",
                               "Headline p"]  # fmt: skip
    # methods are short keys spelled out in the notes, in order of first use
    assert tab.notes[1:] == [
        "[a] RI (test inversion)",
        "[b] RI 1/16",
        "[c] RI 9/16",
        "[d] placebo ratio",
    ]
    full = main_table(main, synthetic=True, method_keys=False)
    assert full.panels[0][1][0][3] == "RI (test inversion)"
    assert tab.panels[1][1][0][2] == "[-Inf, -0.100]"
    assert tab.panels[1][1][0][6] == ""  # no CR1 SE for the synthetic control
    assert tab.notes[0].startswith("SYNTHETIC DATA")
    md = tab.to_markdown()
    assert "| **importer DiD** |" in md and "SYNTHETIC" in md
    real = main_table(main, synthetic=False)
    assert "True effect" not in real.columns and not any("SYNTHETIC" in n for n in real.notes)
    rob = robustness_table(main, synthetic=True)
    # one panel per design and outcome, the main variant first
    assert [t for t, _ in rob.panels] == [
        "importer DiD: log quantity",
        "importer DiD: log value",
        "synthetic control: log quantity",
    ]
    assert [r[0] for r in rob.panels[0][1]] == ["main", "event Oct 2010"]
    assert rob.columns[:2] == ["Variant", "Estimate"]
    with pytest.raises(ValueError, match="lacks columns"):
        main_table(main.drop("cr1_se"), synthetic=True)


def test_etable_stars_follow_the_headline_p_value():
    """A result whose headline test (here a studentized randomization test over five units, p >= 1/5) differs
    from its CR1 p (about 1e-10) gets the stars of the headline p; the footer names the SE type
    and the headline method, and the note says which p the stars follow."""
    from tradeimpact.inference.studentized import studentized_randomization_inference
    from tradeimpact.models.linear import feols
    from tradeimpact.models.results import Headline

    rng = np.random.default_rng(3)
    units, periods = 5, 8
    u = np.repeat(np.arange(units), periods)
    t = np.tile(np.arange(periods), units)
    post = (t >= 4).astype(float)
    y = 0.1 * u + 0.05 * t + rng.normal(scale=0.2, size=u.size) + 2.0 * (u == 0) * post
    df = pl.DataFrame({"y": y, "u": u, "t": t, "post": post,
                       "treat": ((u == 0) * post).astype(float)})  # fmt: skip
    res = feols(df, "y", ["treat"], fe=["u", "t"], vcov={"CR1": "u"})
    ri = studentized_randomization_inference(df, "y", "u", "t", 0, "post", ["u", "t"])
    assert ri.p_denominator == 5 and ri.pvalue >= 0.2  # five units: p is at least 1/5
    plain = etable([res])
    assert plain.panels[0][1][0][1].endswith("***")  # CR1 p < 0.01 without a headline
    res.headlines["treat"] = Headline.of(res, "treat", ri, method_key="ri_t")
    tab = etable([res], model_stats=("N", "se_type", "stars"))
    est = f"{float(res.params['treat']):.3f}"
    assert tab.panels[0][1][0] == ["treat", est]  # p >= 0.2: no star
    assert tab.footer[1] == ["S.E. type", "CR1 by u (G=5)"]
    assert tab.footer[2] == ["Stars from", "RI-t"]
    assert "from each estimate's headline p-value" in tab.notes[-1] and ri.method in tab.notes[-1]
    assert res.vcov_type in tab.notes[-2]  # the full description of the standard errors


def test_main_table_headline_size_check_and_same_test_columns():
    main = _main_frame().with_columns(
        pl.Series("headline", ["ri_t", "ri_t", "ri_t", None]),
        pl.Series("size_k", [1, None, 7, None], dtype=pl.Int64),
        pl.Series("size_n", [20, None, 20, None], dtype=pl.Int64),
        pl.Series("cr1_p_value", [1e-5, 1e-4, 0.3, None]),
        pl.Series("ri_p_value", [1 / 16, 2 / 16, 8 / 16, None]),
        pl.Series(
            "same_test", ["coefficient RI and Conley-Taber are the same test here (x)"] + [None] * 3
        ),
    )
    tab = main_table(main, synthetic=False)
    assert tab.columns == ["Outcome", "Estimate", "Headline interval", "Interval method",
                           "Headline p", "p method", "Size check", "CR1 SE", "CR1 p",
                           "Coef. RI p", "N"]  # fmt: skip
    assert tab.panels[0][1][0] == ["log quantity", "-0.812", "[-1.200, -0.400]", "a", "0.062",
                                   "b", "1/20", "0.100", "<0.001", "0.062", "3,840"]  # fmt: skip
    # 7 of 20: Clopper-Pearson 95% interval 15.4-59.2%, above 5%: flagged
    assert tab.panels[0][1][1][6] == "7/20!"
    assert tab.panels[1][1][0][6] == ""  # no size check for the synthetic control
    notes = " ".join(tab.notes)
    assert "Headline p and interval" in notes and "studentized randomization" in notes
    assert "in this panel the headline test rejected at 5% in k of n placebo runs" in notes
    assert (
        "Same test, shown once: coefficient RI and Conley-Taber are the same test here (x) "
        "(1 of 3 rows)." in tab.notes
    )


def test_case_study_tables_latex_and_typst_compile(tmp_path):
    """The results tables share etable's renderers: their LaTeX (booktabs + threeparttable)
    compiles where pdflatex is installed, their typst always (typst from PyPI)."""
    import shutil
    import subprocess

    import typst

    from tradeimpact.report.typst_report import font_paths, table_source

    tab = main_table(_main_frame(), synthetic=True)
    latex = tab.to_latex(float=True)
    assert latex.count("\\begin{tablenotes}") == 1 and "\\item SYNTHETIC DATA" in latex
    (tmp_path / "m.typ").write_text(
        '#set page(paper: "a4", flipped: true)\n' + table_source(tab) + "\n", encoding="utf-8"
    )
    compiler = typst.Compiler(root=str(tmp_path), font_paths=font_paths(), ignore_system_fonts=True)
    assert compiler.compile(input=str(tmp_path / "m.typ"), format="pdf")[:5] == b"%PDF-"
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed: the LaTeX compile is not checked")
    (tmp_path / "m.tex").write_text(
        "\\documentclass{article}\n\\usepackage{booktabs,threeparttable,amssymb}\n"
        "\\usepackage[landscape,margin=1cm]{geometry}\n\\begin{document}\n"
        + latex
        + "\\end{document}\n"
    )
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "m.tex"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:]
