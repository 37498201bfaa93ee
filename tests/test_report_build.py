"""The report build: byte-identical rebuilds and SYNTHETIC labels on every output.

The cases are built here from a seeded generated panel with the package's own estimators
(randomization inference for the headline p-value, HonestDiD for the sensitivity), so these tests
do not depend on the case-study pipeline; ``test_report_pipeline.py`` runs the real one.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import date
from fractions import Fraction
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tradeimpact.inference.randomization import randomization_inference
from tradeimpact.models.results import RegressionResult
from tradeimpact.report.build import BuildInfo, HonestDiDData, ReportCase, render
from tradeimpact.sensitivity.honestdid import sensitivity_relative_magnitudes

UNITS = ["JPN", "USA", "KOR", "DEU", "FRA", "NLD", "ITA", "GBR"]


def make_case(name: str, synthetic: bool, seed: int = 3) -> ReportCase:
    rng = np.random.default_rng(seed)
    periods = pl.date_range(date(2008, 1, 1), date(2012, 12, 1), "1mo", eager=True)
    t = np.arange(periods.len())
    event = 32  # Sep 2010
    true_effect = -0.7
    rows = []
    for u in UNITS:
        level = rng.uniform(5e5, 2e6)
        logq = np.log(level) + 0.2 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.15, t.size)
        if u == "JPN":
            logq[(t >= event) & (t < event + 3)] += true_effect
        rows.append(pl.DataFrame({"period": periods, "unit": [u] * t.size, "logq": logq}))
    panel = pl.concat(rows).with_columns(
        pl.col("logq").exp().alias("value"),
        ((pl.col("period") >= date(2010, 9, 1)) & (pl.col("period") < date(2010, 12, 1)))
        .cast(pl.Float64)
        .alias("post"),
    )
    ri = randomization_inference(
        panel, "logq", "unit", "period", "JPN", "post", fe=["unit", "period"]
    )
    lo, hi = ri.conf_int()
    main = pl.DataFrame(
        {
            "design": ["importer DiD", "importer DiD"],
            "outcome": ["log quantity", "log quantity"],
            "variant": ["main", "drop earthquake months"],
            "estimate": [ri.estimate, ri.estimate],
            "ci_low": [lo, lo],
            "ci_high": [hi, hi],
            "ci_method": ["RI test inversion"] * 2,
            "p_value": [ri.pvalue] * 2,
            "p_method": [f"RI {ri.p_numerator}/{ri.p_denominator}"] * 2,
            "cr1_se": [0.1, 0.1],
            "nobs": [panel.height] * 2,
            "true_effect": [true_effect if synthetic else None] * 2,
        }
    )
    # event study: the treated unit's deviation from the control mean, relative to k = -1
    wide = panel.pivot(on="unit", index="period", values="logq").sort("period")
    diff = wide["JPN"].to_numpy() - wide.select(UNITS[1:]).to_numpy().mean(axis=1)
    k = np.arange(-12, 13)
    est = diff[event + k] - diff[event - 1]
    ci = 0.3
    es = pl.DataFrame(
        {
            "rel_time": k,
            "estimate": est,
            "ci_low": np.where(k == -1, np.nan, est - ci),
            "ci_high": np.where(k == -1, np.nan, est + ci),
            "ri_low": np.full(k.size, -0.45),
            "ri_high": np.full(k.size, 0.45),
        }
    )
    pre, post = est[k < -1][-4:], est[k >= 0][:3]
    hd = sensitivity_relative_magnitudes(
        np.concatenate([pre, post]),
        np.eye(7) * 0.01,
        4,
        3,
        mbarvec=[0.0, 0.5, 1.0],
        breakdown=False,
    )
    gap = pl.DataFrame({"period": periods, "gap": diff - diff[:event].mean()})
    plac = panel.filter(pl.col("unit") != "JPN").select(
        "period", "unit", (pl.col("logq") - pl.col("logq").mean().over("unit")).alias("gap")
    )
    div = panel.select("period", pl.col("unit").replace({"JPN": "CHN"}).alias("supplier"), "value")
    mirror = pl.DataFrame(
        {
            "period": periods,
            "importer_reported": wide["JPN"].exp(),
            "exporter_reported": wide["JPN"].exp() * rng.uniform(0.7, 1.1, periods.len()),
        }
    )
    published = pl.DataFrame(
        {
            "series": ["Japan imports from China"],
            "period": [date(2010, 9, 1)],
            "value": [2246.0],
            "unit": ["t"],
            "source": ["Japan MoF via press (events.md 4.1)"],
        }
    )
    return ReportCase(
        name=name,
        title=f"Test event {name}",
        synthetic=synthetic,
        main=main,
        treated="JPN",
        source_country="CHN",
        events=[(date(2010, 9, 1), "hold"), (date(2011, 3, 1), "earthquake")],
        raw=panel.select("period", "unit", "value"),
        raw_base=(date(2009, 1, 1), date(2009, 12, 1)),
        event_study=es,
        synth_gap=gap,
        synth_placebos=plac,
        diversion=div,
        mirror=mirror,
        honestdid=HonestDiDData(hd.table, hd.original, hd.restriction),
        published=published,
        regressions={
            "log quantity": RegressionResult(
                names=["treat_post"],
                beta=np.array([ri.estimate]),
                cov_matrix=np.array([[0.01]]),
                nobs=panel.height,
                vcov_type="CR1 by unit",
                df_inference=7,
                depvar="log quantity",
            )
        },
    )


INFO = BuildInfo(
    inputs=[("comtrade/SYNTHETIC_a.json.gz", "0" * 64)],
    versions=[("numpy", "x")],
    commit="unknown",
)


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[Path]]:
    a = tmp_path_factory.mktemp("a")
    b = tmp_path_factory.mktemp("b")
    cases = [make_case("ev2010", True), make_case("ev2026", True, seed=4)]
    wa = render(cases, a, INFO)
    wb = render(list(reversed(cases)), b, INFO)
    assert [p.relative_to(a) for p in wa] == [p.relative_to(b) for p in wb]
    return a, b, wa


def test_rebuild_is_byte_identical(two_builds):
    a, b, written = two_builds
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    kinds = {p.suffix for p in files_a}
    assert {".pdf", ".png", ".svg", ".tex", ".md", ".html", ".typ"} <= kinds
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert len(written) == len(files_a)


def test_every_synthetic_output_is_labelled(two_builds):
    a, _, _ = two_builds
    files = [p for p in a.rglob("*") if p.is_file()]
    assert all(p.name.startswith("SYNTHETIC_") for p in files), [p.name for p in files]
    figs = sorted((a / "figures").glob("*.png"))
    # six figures per event
    assert len(figs) == 12
    for svg in (a / "figures").glob("*.svg"):
        # text is drawn as paths; the title's glyph ids name the letters S-Y-N-T-H-E-T-I-C
        assert "DejaVuSans-53" in svg.read_text()
    html = (a / "SYNTHETIC_report.html").read_text()
    assert html.count("SYNTHETIC DATA") >= 2
    assert '<div class="banner">SYNTHETIC DATA' in html.split("<h1>")[0]
    typ = (a / "SYNTHETIC_report.typ").read_text()
    assert "header: align(center" in typ and "SYNTHETIC DATA" in typ.split("numbering")[0]
    tabs = sorted(p.name for p in (a / "tables").glob("*.md"))
    assert "SYNTHETIC_etable_ev2010.md" in tabs
    for tab in (a / "tables").glob("*.md"):
        assert "SYNTHETIC DATA" in tab.read_text()
    if shutil.which("pdftotext"):
        pages = subprocess.run(
            ["pdftotext", str(a / "SYNTHETIC_report.pdf"), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\f")
        pages = [p for p in pages if p.strip()]
        assert len(pages) >= 3
        assert all("SYNTHETIC DATA" in p for p in pages)


def test_recovery_check_and_exact_ri_fraction(two_builds):
    a, _, _ = two_builds
    case = make_case("ev2010", True)
    row = case.main.row(0, named=True)
    # one treated unit among 8: the p-value is k/8
    assert Fraction(row["p_value"]).limit_denominator(100).denominator in (1, 2, 4, 8)
    md = (a / "tables" / "SYNTHETIC_main_ev2010.md").read_text()
    assert f"| {row['estimate']:.3f} |" in md
    covered = row["ci_low"] <= -0.7 <= row["ci_high"]
    assert ("| yes |" if covered else "| NO |") in md
    html = (a / "SYNTHETIC_report.html").read_text()
    assert "headline intervals contain the effect the generator put in" in html


def test_real_build_has_no_synthetic_label(tmp_path):
    case = make_case("ev2010", False)
    info = BuildInfo(inputs=[("comtrade/real.json", "1" * 64)], versions=[], commit="abc")
    written = render([case], tmp_path, info)
    assert all("SYNTHETIC" not in p.name for p in written)
    assert (tmp_path / "report.pdf").exists()
    html = (tmp_path / "report.html").read_text()
    assert "SYNTHETIC" not in html


def test_reproducibility_facts(tmp_path):
    from importlib import metadata

    from tradeimpact.report.build import git_commit, package_versions

    assert git_commit(tmp_path) == "unknown"  # not a repository
    versions = dict(package_versions(("polars", "numpy", "no-such-package-xyz")))
    assert versions["polars"] == metadata.version("polars")
    assert versions["no-such-package-xyz"] == "not installed"


def test_mixed_build_labels_each_part(tmp_path):
    """A real case beside the synthetic demo: the report is real (report.*), its REAL pages carry
    the REAL header and its SYNTHETIC pages the SYNTHETIC one; each case's files follow its data."""
    from tradeimpact.report.build import BANNER, REAL_BANNER

    written = render([make_case("a_real", False), make_case("b_demo", True)], tmp_path, INFO)
    names = [p.name for p in written]
    assert "report.typ" in names and not any(n.startswith("SYNTHETIC_report") for n in names)
    for n in names:
        if "a_real" in n:
            assert "SYNTHETIC" not in n, n
        if "b_demo" in n:
            assert n.startswith("SYNTHETIC_"), n
    typ = (tmp_path / "report.typ").read_text(encoding="utf-8")
    real_at, demo_at = typ.index(REAL_BANNER), typ.index("#set page(header: align(center")
    assert real_at < demo_at  # the REAL header first (the preamble), then the SYNTHETIC one
    assert BANNER in typ[demo_at:] and typ.index("Real data:") < demo_at
    # the closing note and the appendix: a neutral header again
    assert "#set page(header: none)" in typ[demo_at:]
    real_svg = (tmp_path / "figures" / "raw_series_a_real.svg").read_text(encoding="utf-8")
    assert "SYNTHETIC" not in real_svg
