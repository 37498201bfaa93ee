"""Build every figure, table and the PDF/HTML report: ``python -m tradeimpact.report.build``.

``python -m tradeimpact.report.build --data data_raw --out reports`` (what ``nox -s report``
runs) ingests ``data_raw/`` into a Parquet store under ``reports/_build/store`` (or uses
``--store DIR``), runs the case study of every event file in ``analysis/events/``
(:func:`tradeimpact.casestudy.run_case_study`), and writes

* ``reports/figures/<stem>.{pdf,svg,png}``: raw series, event study, synthetic-control gap,
  diversion, mirror gap, HonestDiD sensitivity, one set per event;
* ``reports/tables/<stem>.{tex,md,html}``: main results and robustness, per event;
* ``reports/report.{typ,pdf,html}``: the report (typst source, PDF, self-contained HTML).

Every file built from synthetic data has ``SYNTHETIC_`` in front of its name, ``SYNTHETIC`` on
every figure and on every page. Outputs are byte-identical on rebuild from the same inputs.

The rendering half (:func:`render`) takes :class:`ReportCase` objects (tidy frames only), so it
is usable, and tested, without the estimation half.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl

from tradeimpact.report import figures, style, typst_report
from tradeimpact.report import html as html_render
from tradeimpact.report.document import (
    Bullets,
    Code,
    Document,
    FigureRef,
    Paragraph,
    Section,
    TableRef,
)
from tradeimpact.report.tables import Table, etable, main_table, robustness_table

#: Packages whose versions the reproducibility appendix lists (sorted there).
VERSIONED = (
    "linearmodels",
    "matplotlib",
    "numpy",
    "pandas",
    "polars",
    "pyarrow",
    "scipy",
    "seaborn",
    "statsmodels",
    "typst",
)

BANNER = (
    "SYNTHETIC DATA: built from the seeded demonstration panel in data_raw/, not from real "
    "trade flows. The numbers show what the methods recover, not what happened."
)


@dataclass
class HonestDiDData:
    """A HonestDiD sensitivity table (``param``, ``lb``, ``ub``) and the original interval."""

    table: pl.DataFrame
    original: tuple[float, float]
    restriction: str


@dataclass
class ReportCase:
    """Everything the report shows about one event, as tidy frames (see :mod:`.figures`).

    Attributes
    ----------
    name : str
        Short id used in file names (``rare_earth_2010``).
    title : str
        Human title of the event.
    synthetic : bool
        Built from synthetic data (labels every output SYNTHETIC).
    main : polars.DataFrame
        The results table (:data:`tradeimpact.report.tables.MAIN_COLUMNS`).
    treated, source_country : str
        ISO3 of the treated importer and of the restricting exporter.
    events : list of (date, label)
        Dates marked on the time-series figures (event, confounders).
    raw, raw_base : frame, (date, date)
        Treated importer and controls' imports from the source (``period, unit, value`` in kg)
        and the index base window.
    event_study : frame, optional
        ``rel_time, estimate, ci_low, ci_high[, ri_low, ri_high]``.
    synth_gap, synth_placebos : frame, optional
        ``period, gap`` and ``period, unit, gap``.
    diversion : frame, optional
        ``period, supplier, value`` (kg).
    mirror : frame, optional
        ``period, exporter_reported, importer_reported`` (kg).
    honestdid : HonestDiDData, optional
    published : frame, optional
        Published (press) figures: ``series, period, value, unit, source``.
    notes : list of str
        Event-specific caveats.
    regressions : dict
        Column label -> result object (params, std_errors, ...), tabulated with :func:`etable`.
    outcome : str
        Outcome of the event study / synthetic control (for axis labels).
    freq : {"M", "A"}
        Periods of the data: months or years (axis labels, captions).
    raw_side : {"importer", "exporter"}
        Whose reports the raw series are (each importer's imports, or the source's exports).
    raw_measure : str
        What the raw series measure (``"net weight"``, ``"value (USD)"``).
    design : str
        The design of the regressions table and the event study (``importer``, ``exporter``).
    """

    name: str
    title: str
    synthetic: bool
    main: pl.DataFrame
    treated: str
    source_country: str
    events: list[tuple[date, str]]
    raw: pl.DataFrame
    raw_base: tuple[date, date]
    event_study: pl.DataFrame | None = None
    synth_gap: pl.DataFrame | None = None
    synth_placebos: pl.DataFrame | None = None
    diversion: pl.DataFrame | None = None
    mirror: pl.DataFrame | None = None
    honestdid: HonestDiDData | None = None
    published: pl.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    outcome: str = "log quantity"
    source_note: str = "UN Comtrade (monthly, net weight)"
    regressions: dict[str, Any] = field(default_factory=dict)
    freq: str = "M"
    raw_side: str = "importer"
    raw_measure: str = "net weight"
    design: str = "importer"


@dataclass
class BuildInfo:
    """Reproducibility facts printed in the appendix."""

    inputs: list[tuple[str, str]]  # (file name relative to data dir, sha256)
    versions: list[tuple[str, str]]
    commit: str
    command: str = "python -m tradeimpact.report.build --data data_raw --out reports"


def git_commit(repo: Path) -> str:
    """``git rev-parse HEAD`` in ``repo``, or ``"unknown"`` (no git, not a repository).

    Marked "with uncommitted changes" when ``tradeimpact/`` or ``analysis/`` differ from it.
    """
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", "tradeimpact", "analysis"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    commit = out.stdout.strip() or "unknown"
    if commit != "unknown" and status.stdout.strip():
        # the code that ran is not exactly the commit: say so rather than claim it
        commit += " (with uncommitted changes in tradeimpact/ or analysis/)"
    return commit


def package_versions(names: Sequence[str] = VERSIONED) -> list[tuple[str, str]]:
    """Installed versions of ``names`` (``"not installed"`` where absent), sorted by name."""
    rows = []
    for n in sorted(names):
        try:
            rows.append((n, metadata.version(n)))
        except metadata.PackageNotFoundError:
            rows.append((n, "not installed"))
    return rows


# -- rendering -------------------------------------------------------------------------------------
def _write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; outputs are for everyone to read
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_table(table: Table, outdir: Path, stem: str) -> list[Path]:
    """``stem.tex`` (booktabs), ``stem.md`` and ``stem.html``."""
    return [
        _write_text(outdir / f"{stem}.tex", table.to_latex()),
        _write_text(outdir / f"{stem}.md", table.to_markdown()),
        _write_text(outdir / f"{stem}.html", table.to_html()),
    ]


def _period_words(case: ReportCase) -> tuple[str, str, str]:
    """(``"month"``/``"year"``, ``"months"``/``"years"``, ``"monthly"``/``"annual"``)."""
    if case.freq == "A":
        return "year", "years", "annual"
    return "month", "months", "monthly"


def _base_text(case: ReportCase) -> str:
    lo, hi = case.raw_base
    return f"{lo:%Y}-{hi:%Y}" if case.freq == "A" else f"{lo:%b %Y}-{hi:%b %Y}"


def _stl_caption(case: ReportCase) -> str:
    """The caption's sentence on the raw-series figure's STL panel (monthly data only)."""
    if case.freq == "A":
        return ""
    return (
        " Lower panel (where the series span two years): the same index of the treated "
        "importer and of the control mean seasonally adjusted by STL (statsmodels; period 12, "
        "robust), the index minus its seasonal component; the estimates use the unadjusted "
        "series."
    )


def _t(title: str, titles: bool) -> str | None:
    return title if titles else None


def _with_reference(es: pl.DataFrame) -> pl.DataFrame:
    """The event-study frame with its reference period as a row (estimate 0, no interval), for
    the figure's hollow marker: the one event time inside the window without a coefficient (a
    TWFE event study estimates every other one). Unchanged when there is not exactly one."""
    ks = set(es["rel_time"].to_list())
    if not ks or len(missing := set(range(min(ks), max(ks) + 1)) - ks) != 1:
        return es
    row = {c: None for c in es.columns} | {"rel_time": missing.pop(), "estimate": 0.0,
                                            "ci_low": float("nan"), "ci_high": float("nan")}  # fmt: skip
    return pl.concat([es, pl.DataFrame([row], schema=es.schema)]).sort("rel_time")


def _case_figures(
    case: ReportCase, out: Path, *, titles: bool = True
) -> tuple[list[FigureRef], list[Path]]:
    """The case's figures; ``titles=False`` leaves their titles off (the captions carry them,
    as journals want)."""
    figdir = out / "figures"
    syn = case.synthetic
    src = case.source_note
    refs: list[FigureRef] = []
    written: list[Path] = []
    year = case.title
    per, pers, freq_word = _period_words(case)

    def save(fig: object, key: str, caption: str) -> None:
        stem = style.figure_stem(f"{key}_{case.name}", syn)
        paths = style.save_figure(fig, figdir, stem)  # type: ignore[arg-type]
        written.extend(paths[k] for k in sorted(paths))
        refs.append(FigureRef(f"figures/{stem}", caption))

    if case.raw_side == "exporter":
        raw_title = f"{case.source_country}'s exports: to {case.treated} vs to controls"
        raw_caption = (
            f"{year}: {case.source_country}'s exports to each importer ({case.raw_measure}, "
            f"{freq_word}, index, mean {_base_text(case)} = 100); {case.treated} in red, every "
            "control importer in grey, their mean in blue." + _stl_caption(case)
        )
    else:
        raw_title = f"Imports from {case.source_country}: {case.treated} vs controls"
        raw_caption = (
            f"{year}: each importer's reported imports from {case.source_country} "
            f"({case.raw_measure}, index, mean {_base_text(case)} = 100); "
            f"{case.treated} in red, every control in grey, their mean in blue."
            + _stl_caption(case)
        )
    save(
        figures.raw_series(
            case.raw,
            treated=case.treated,
            base=case.raw_base,
            events=case.events,
            title=_t(raw_title, titles),
            source=src,
            synthetic=syn,
            quantity=case.raw_measure,
            period=per,
        ),
        "raw_series",
        raw_caption,
    )
    if case.event_study is not None:
        save(
            figures.event_study(
                _with_reference(case.event_study),
                title=_t(f"Event study: {case.treated} vs controls", titles),
                source=src,
                synthetic=syn,
                outcome=case.outcome,
                unit=pers,
            ),
            "event_study",
            f"{year}: {freq_word} event-study coefficients ({case.outcome}) with pointwise 95% "
            "cluster-robust intervals (thick bars)"
            + (
                " and the 95% sup-t joint band (thin capped bars: covers all event-time "
                "coefficients at once; Montiel Olea & Plagborg-Moller 2019)"
                if "joint_low" in case.event_study.columns
                and case.event_study["joint_low"].fill_nan(None).drop_nulls().len() > 0
                else ""
            )
            + "; the shaded band is the range of the same coefficient over the placebo "
            "countries (each control given the treatment in turn: the randomization band).",
        )
    if case.synth_gap is not None:
        save(
            figures.synth_gap(
                case.synth_gap,
                case.synth_placebos,
                treated=case.treated,
                events=case.events,
                title=_t("Synthetic control: treated minus synthetic", titles),
                source=src,
                synthetic=syn,
                outcome=case.outcome,
                period=per,
            ),
            "synth_gap",
            f"{year}: gap between {case.treated} and its synthetic control ({case.outcome}, "
            f"{freq_word}); grey lines: the same gap with each donor treated as if it were the "
            "treated unit.",
        )
    if case.diversion is not None:
        save(
            figures.diversion(
                case.diversion,
                events=case.events,
                title=_t(f"{case.treated}'s imports by supplier", titles),
                source=src,
                synthetic=syn,
            ),
            "diversion",
            f"{year}: {case.treated}'s reported imports of the basket by supplier (tonnes per "
            "month): does supply from elsewhere replace the restricted source?",
        )
    if case.mirror is not None:
        save(
            figures.mirror_gap(
                case.mirror,
                published=_published_mirror(case),
                exporter=case.source_country,
                importer=case.treated,
                events=case.events,
                title=_t("Mirror statistics", titles),
                source=src,
                synthetic=syn,
            ),
            "mirror_gap",
            f"{year}: the same flow as {case.source_country} reports its exports and as "
            f"{case.treated} reports its imports (tonnes per month); black diamonds: the published "
            "(real) monthly figures for Japan's imports from China where they exist.",
        )
    if case.honestdid is not None:
        h = case.honestdid
        save(
            figures.honestdid(
                h.table,
                h.original,
                restriction=h.restriction,
                title=_t("HonestDiD sensitivity", titles),
                source=src,
                synthetic=syn,
                outcome=case.outcome,
            ),
            "honestdid",
            f"{year}: robust 95% confidence sets for the average post-treatment effect when "
            "parallel trends may fail by up to the parameter (Rambachan & Roth 2023); black: "
            "the conventional interval.",
        )
    return refs, written


#: Published series compared on one figure: every series with this prefix, in tonnes per month,
#: the highlighted one in red (China's magnet exports to Japan vs to other destinations).
PUBLISHED_COMPARISON_PREFIX = "china_magnet_exports_"
PUBLISHED_COMPARISON_HIGHLIGHT = "china_magnet_exports_to_japan"


def _published_label(series: str) -> str:
    rest = series[len(PUBLISHED_COMPARISON_PREFIX) :]
    names = {"usa": "USA", "total": "China's total"}
    if rest.startswith("to_"):
        rest = rest[3:]
    extra = ""
    if rest.endswith("_incl_powder_alloys"):
        rest, extra = rest[: -len("_incl_powder_alloys")], " incl. powder, alloys"
    return names.get(rest, rest.replace("_", " ").title()) + extra


def published_figures(
    published: pl.DataFrame | None, cases: Sequence[ReportCase], out: Path
) -> tuple[list[FigureRef], list[Path]]:
    """The comparison figure of the published magnet figures (real, never SYNTHETIC-labelled).

    Every published series starting with :data:`PUBLISHED_COMPARISON_PREFIX` in plain tonnes per
    month (two-month and quarterly totals stay in the table), drawn when there are at least two
    such series; the event dates of the cases whose window holds them are marked.
    """
    if published is None or published.height == 0:
        return [], []
    pub = published.filter(
        pl.col("series").str.starts_with(PUBLISHED_COMPARISON_PREFIX) & (pl.col("unit") == "t")
    )
    series = sorted(pub["series"].unique().to_list())
    if len(series) < 2 or PUBLISHED_COMPARISON_HIGHLIGHT not in series:
        return [], []
    lo, hi = pub["period"].min(), pub["period"].max()
    marks = sorted(
        {m for c in cases for m in c.events if lo <= m[0] <= hi}  # type: ignore[operator]
    )
    labels = {PUBLISHED_COMPARISON_HIGHLIGHT: "Japan"}
    labels.update({s: _published_label(s) for s in series if s != PUBLISHED_COMPARISON_HIGHLIGHT})
    fig = figures.published_comparison(
        pub, highlight=PUBLISHED_COMPARISON_HIGHLIGHT, labels=labels, events=marks,
        title="China's magnet exports by destination (published)",
        source="China GAC monthly figures as quoted by the press (data_raw/published/*.csv, URLs)",
    )  # fmt: skip
    stem = "published_china_magnet_exports_by_destination"
    paths = style.save_figure(fig, out / "figures", stem)
    jp = pub.filter(pl.col("series") == PUBLISHED_COMPARISON_HIGHLIGHT)["period"]
    # the other destinations (not a wider Japan basket, not China's total)
    other = pub.filter(
        ~pl.col("series").str.starts_with(PUBLISHED_COMPARISON_HIGHLIGHT)
        & pl.col("series").str.contains("_to_")
    )["period"]
    both = sorted(set(jp.to_list()) & set(other.to_list()))
    last_jp = jp.max()
    assert isinstance(lo, date) and isinstance(hi, date) and isinstance(last_jp, date)
    caption = (
        "REAL published figures: China's exports of rare-earth magnets (tonnes per month, log "
        "scale) to Japan (red diamonds) and to the other destinations the press quoted, "
        f"{lo:%b %Y}-{hi:%b %Y}. Japan can be set beside the others only in the months where "
        f"both were published ({', '.join(f'{d:%b %Y}' for d in both) or 'none'}); the last "
        f"published monthly figure for Japan is {last_jp:%b %Y}. Figures as quoted, not "
        "generated."
    )
    return [FigureRef(f"figures/{stem}", caption)], [paths[k] for k in sorted(paths)]


def _recovery_sentence(case: ReportCase) -> str:
    m = case.main.filter(pl.col("true_effect").is_not_null() & pl.col("true_effect").is_not_nan())
    if m.height == 0:
        return f"{case.title}: no true effects recorded."
    covered = m.filter(
        (pl.col("ci_low") <= pl.col("true_effect")) & (pl.col("true_effect") <= pl.col("ci_high"))
    ).height
    return (
        f"{case.title}: {covered} of {m.height} headline intervals contain the effect the "
        "generator put in."
    )


def regression_table(case: ReportCase) -> Table:
    """:func:`etable` of the case's regressions (its main design, one column per outcome)."""
    notes = [
        "The standard errors are for reference only: with one treated unit they over-reject. "
        "In brackets: the p-value of each estimate's headline test (row 'Stars from')."
    ]
    if case.synthetic:
        notes.insert(0, "SYNTHETIC DATA: seeded demonstration panel, not real trade flows.")
    # stars follow each estimate's headline p-value (the studentized randomization test the
    # case study attaches), not the CR1 standard errors, which over-reject with one treated unit
    tab = etable(
        case.regressions,
        coef_fmt="b* \n (se) \n [p]",
        head_order="h",  # the outcome of each column (the keys); the results' depvar is "y"
        notes=notes,
        caption=f"{case.title}: {case.design}-side design",
        label=f"tab:etable-{case.name}",
    )
    assert isinstance(tab, Table)
    return tab


def _published_in_range(case: ReportCase) -> pl.DataFrame | None:
    """The published figures dated within the case's raw series (None when there are none)."""
    if case.published is None or case.published.height == 0 or case.raw.height == 0:
        return None
    lo, hi = case.raw["period"].min(), case.raw["period"].max()
    pub = case.published.filter(pl.col("period").is_between(lo, hi))
    return pub if pub.height else None


#: The published series drawn on the mirror figure: Japan's imports from China (tonnes).
PUBLISHED_ON_MIRROR = "japan_re_imports_from_china"


def _published_mirror(case: ReportCase) -> pl.DataFrame | None:
    pub = _published_in_range(case)
    if pub is None:
        return None
    pub = pub.filter(
        (pl.col("series") == PUBLISHED_ON_MIRROR) & pl.col("unit").str.starts_with("t")
    )
    return pub.select("period", (pl.col("value") * 1000.0).alias("value")) if pub.height else None


#: The page header of the REAL part of a report that also holds the SYNTHETIC demonstration.
REAL_BANNER = (
    "REAL DATA: CEPII BACI extract (data_raw/real/) and published press figures "
    "(data_raw/published/)"
)


def _published_table(pub: pl.DataFrame, caption_note: str) -> Table:
    return Table(
        ["Series", "Month", "Value", "Unit", "Reported by"],
        [
            (
                "",
                [
                    [
                        str(r["series"]),
                        f"{r['period']:%b %Y}",
                        f"{r['value']:,.0f}",
                        str(r["unit"]),
                        str(r.get("reported_by") or ""),
                    ]
                    for r in pub.sort("series", "period", "unit", "value").iter_rows(named=True)
                ],
            )
        ],
        notes=[caption_note],
    )


_PUBLISHED_NOTE = (
    "REAL published figures as quoted by the press (sources, with URLs: "
    "data_raw/published/*.csv), not generated."
)


def _demo_sections(
    cases: Sequence[ReportCase],
    fig_refs: dict[str, list[FigureRef]],
    *,
    published_here: bool,
    pub_refs: Sequence[FigureRef] = (),
    mixed: bool = False,
) -> list[Section]:
    """Data, Designs, Results (one subsection per case), Robustness, Caveats of ``cases``."""
    synthetic = any(c.synthetic for c in cases)
    sec: list[Section] = []
    d = Section("Synthetic demonstration: data" if mixed else "Data",
                banner=BANNER if mixed else None)  # fmt: skip
    if mixed:
        d.blocks.append(Paragraph(BANNER, emphasis=True))
    if synthetic:
        d.blocks.append(
            Paragraph(
                "SYNTHETIC: the flows are generated by tradeimpact.demo (seeded) in the UN "
                "Comtrade v1 format and read by the same reader and store as real downloads. "
                "Japan-specific effects of known size are built in; the results section sets "
                "them beside the estimates.",
                emphasis=True,
            )
        )
    d.blocks.append(
        Paragraph(
            "Each importer's own reports of its imports from China, monthly, in net weight and "
            "value; China's reports of its exports by destination; the basket's other suppliers. "
            "The input files and their SHA-256 are listed in the appendix."
        )
    )
    if published_here:
        for c in cases:
            pub = _published_in_range(c)
            if pub is not None:
                d.blocks.append(TableRef(_published_table(pub, _PUBLISHED_NOTE),
                                         f"{c.title}: published figures (real)"))  # fmt: skip
        d.blocks.extend(pub_refs)
    sec.append(d)
    sec.append(
        Section(
            "Designs",
            [
                Bullets(
                    (
                        "Importer-side DiD and monthly event study: Japan's imports from China "
                        "vs other importers' imports from China (same products and months; each "
                        "importer's own reports), importer-product and month fixed effects.",
                        "Exporter-side: China's reported exports to Japan vs to other destinations.",
                        "Triple difference: restricted vs comparable non-restricted products.",
                        "Diversion: Japan's imports of the basket from non-China suppliers.",
                        "Synthetic control / synthetic DiD with the other importers as donors.",
                        "Mirror gap: China's reported exports to Japan vs Japan's reported imports.",
                    )
                ),
                Paragraph(
                    "Inference: with one treated country cluster-robust standard errors "
                    "over-reject, and so do coefficient randomization inference and Conley-Taber "
                    "when the treated country's noise differs from the controls'. The headline "
                    "p-values and intervals come from studentized randomization inference over "
                    "placebo countries (MacKinnon & Webb 2020): every assignment's estimate over "
                    "its own units' pre-period residual s.d., p = the share of assignments at "
                    "least as extreme (an exact fraction), the interval by test inversion; PPML "
                    "rows refit every assignment by PPML (statistic: the coefficient over the "
                    "assigned units' log-residual s.e.). Each headline carries a size check: the "
                    "same test rerun at placebo dates in the pre-period and at placebo units, "
                    "where the effect is zero ('in this panel the test rejected at 5% in k of n "
                    "placebo runs'). CR1 standard errors and p-values and the coefficient "
                    "randomization p are shown beside them, labelled; where two methods are the "
                    "same test on a panel (coefficient RI and Conley-Taber with one treated unit "
                    "in a balanced panel) the table notes say so and show one. HonestDiD bounds "
                    "the 2026 estimate when the pre-period is contaminated by front-loading."
                ),
            ],
        )
    )
    res = Section("Results (SYNTHETIC)" if mixed else "Results")
    if synthetic:
        res.blocks.append(
            Paragraph(
                "Recovery check (SYNTHETIC): " + " ".join(_recovery_sentence(c) for c in cases),
                emphasis=True,
            )
        )
    sec.append(res)
    for c in cases:
        s = Section(c.title, level=2)
        s.blocks.append(Paragraph("Headline numbers: " + " ".join(headline_sentences(c))))
        s.blocks.append(
            TableRef(main_table(c.main, synthetic=c.synthetic), f"{c.title}: main results")
        )
        if c.regressions:
            s.blocks.append(
                TableRef(regression_table(c), f"{c.title}: importer-side regressions (etable)")
            )
        s.blocks.extend(fig_refs.get(c.name, []))
        sec.append(s)
    rob = Section("Robustness (SYNTHETIC)" if mixed else "Robustness")
    for c in cases:
        rob.blocks.append(
            TableRef(
                robustness_table(c.main, synthetic=c.synthetic),
                f"{c.title}: every variant of every design",
            )
        )
    sec.append(rob)
    cav = [
        "Mirror gaps: China's reported exports and Japan's reported imports of the same flow "
        "disagree (Oct 2010: China's total 830 t, Japan's imports from China 1,278 t); the "
        "importer- and exporter-side designs are kept apart.",
        "Prices vs quantities: China's export unit value went from about 14,400 USD/t (Jul 2010) "
        "to over 100,000 USD/t (Feb 2011); log quantity, log value and log unit value tell "
        "different stories.",
        "The 11 March 2011 earthquake is a Japan-specific shock inside the 2010 post window "
        "(a robustness variant drops those months).",
        "Anticipation: Japanese buyers front-loaded purchases in Nov-Dec 2025 after the 7 Nov "
        "2025 Diet remarks; the 2026 pre-period is contaminated (reference month before it, "
        "HonestDiD bounds).",
        "The July 2010 quota cut and the April/October 2025 controls hit every importer: the "
        "controls absorb them; a Japan-only series cannot.",
    ]
    for c in cases:
        cav.extend(c.notes)
    sec.append(Section("Caveats (SYNTHETIC demonstration)" if mixed else "Caveats",
                       [Bullets(tuple(cav))]))  # fmt: skip
    return sec


def _row(main: pl.DataFrame, design: str, outcome: str | None = None) -> dict[str, Any] | None:
    m = main.filter((pl.col("design") == design) & (pl.col("variant") == "baseline"))
    if outcome is not None:
        m = m.filter(pl.col("outcome") == outcome)
    return m.row(0, named=True) if m.height else None


def _f(x: Any, d: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and x != x) else f"{float(x):.{d}f}"


#: What the report calls each headline method key (``CaseStudy.main["headline"]``).
HEADLINE_NAMES = {
    "ri_t": "studentized randomization inference (RI-t)",
    "ppml_ri": "PPML studentized randomization inference",
    "ri": "coefficient randomization inference",
}


def size_flag(r: dict[str, Any], level: float = 0.05) -> bool:
    """True when the row's size check rejects more often than a ``level`` test can explain:
    the Clopper-Pearson 95% interval of its rejection rate lies above ``level``."""
    from tradeimpact.inference.headline import clopper_pearson

    k, n = r.get("size_k"), r.get("size_n")
    if k is None or n is None or not n:
        return False
    return clopper_pearson(int(k), int(n), 0.95)[0] > level


def _headline_sentence(r: dict[str, Any], what: str) -> str:
    """One headline row: estimate, headline p and interval, its size check, CR1 beside it."""
    name = HEADLINE_NAMES.get(str(r.get("headline")), str(r.get("p_method")))
    ci = (
        f"95% interval [{_f(r['ci_low'])}, {_f(r['ci_high'])}]"
        if r.get("ci_low") is not None
        else "no interval"
    )
    text = (
        f"{what}: {_f(r['estimate'])} log points (N = {r['nobs']}); headline {name} p = "
        f"{r['p_fraction']} = {_f(r['p_value'])}, {ci}"
    )
    if r.get("size_check"):
        text += f"; {r['size_check']}"
        if size_flag(r):
            text += (
                ": more rejections than a 5% test allows (the lower end of that interval is "
                "above 5%), so this p-value overstates the evidence on data like these"
            )
    cr1_p = r["cr1_p_value"]
    cr1_txt = "p < 0.001" if cr1_p is not None and cr1_p < 0.0005 else f"p = {_f(cr1_p)}"
    text += (
        f"; beside it, labelled, CR1 standard error {_f(r['cr1_se'])} ({cr1_txt}; "
        "over-rejects with one treated unit)"
    )
    if r.get("ri_p_fraction"):
        text += f" and coefficient randomization p = {r['ri_p_fraction']}"
    return text + "."


def headline_sentences(case: ReportCase) -> list[str]:
    """The main design's log and PPML headline rows, each with its size check."""
    out: list[str] = []
    _per, _pers, freq_word = _period_words(case)
    for o in ("log_quantity", "log_value", "ppml_value"):
        r = _row(case.main, case.design, o)
        if r is not None and r.get("p_fraction"):
            label = "PPML, value in levels" if o.startswith("ppml") else o.replace("_", " ")
            what = f"{case.design.capitalize()}-side DiD ({label}, {freq_word})"
            out.append(_headline_sentence(r, what))
    return out


def real_headline(case: ReportCase) -> list[str]:
    """Sentences with the headline numbers of a real case (DiD, CR1, RI, event study, synth)."""
    per, pers, freq_word = _period_words(case)
    out: list[str] = []
    did = next((r for o in ("log_value", "log_quantity")
                if (r := _row(case.main, case.design, o)) is not None), None)  # fmt: skip
    if did is not None:
        what = (
            f"{case.design.capitalize()}-side DiD ({did['outcome'].replace('_', ' ')}, {freq_word})"
        )
        out.append(_headline_sentence(did, what))
    pp = _row(case.main, case.design, "ppml_value")
    if pp is not None and pp.get("p_fraction"):
        out.append(_headline_sentence(pp, f"PPML on values ({freq_word})"))
    es = case.event_study
    if es is not None and es.height:
        post = es.filter(pl.col("rel_time") >= 0).sort("rel_time")
        parts = [
            f"{int(r['rel_time']):+d}: {_f(r['estimate'])} [{_f(r['ci_low'])}, {_f(r['ci_high'])}]"
            for r in post.iter_rows(named=True)
        ]
        first = es.sort("rel_time").row(0, named=True)
        out.append(
            f"Event study in {pers} (reference {per} -1): " + "; ".join(parts)
            + f" (CR1 95% intervals); the earliest pre-{per} coefficient ({int(first['rel_time'])}) "
            f"is {_f(first['estimate'])}: a pre-trend the pooled DiD absorbs into its estimate."
        )  # fmt: skip
    sc = _row(case.main, "synth")
    if sc is not None:
        txt = (
            f"Synthetic control (demeaned, {freq_word}): gap {_f(sc['estimate'])} log points in "
            f"the post {pers}; RMSPE-ratio rank {sc['p_fraction']}"
        )
        if sc.get("note") and "units that fit exactly" in str(sc["note"]):
            txt += (
                " (the treated unit's pre-period fit is exact, so the rank compares post-period "
                "RMSPE among the units that fit exactly: a weak test)"
            )
        out.append(txt + ".")
    sd = _row(case.main, "sdid")
    if sd is not None:
        out.append(
            f"Synthetic DiD: {_f(sd['estimate'])} [{_f(sd['ci_low'])}, {_f(sd['ci_high'])}] "
            "(placebo variance)."
        )
    return out


def _real_sections(
    cases: Sequence[ReportCase], fig_refs: dict[str, list[FigureRef]], *, banner: str
) -> list[Section]:
    """One REAL section per real case: data and caveats, headline, tables, figures, robustness."""
    out: list[Section] = []
    for i, c in enumerate(cases):
        per, _pers, freq_word = _period_words(c)
        s = Section(f"Real data: {c.title.removeprefix('REAL: ')}",
                    banner=banner if i == 0 else None)  # fmt: skip
        s.blocks.append(
            Paragraph(
                f"Data: {c.source_note}. China's exports of HS 850511 (permanent magnets: "
                f"NdFeB, SmCo and alnico together) by destination, {freq_word}, in value (USD). "
                f"Treated: {c.treated}; controls: every other importer with a flow in every "
                f"{per} of the window (see the event file analysis/events/{c.name}.toml)."
            )
        )
        s.blocks.append(
            Bullets(
                (
                    f"Annual data: the hold on Japan-bound rare-earth shipments lasted about two "
                    f"months (21 Sep - 20 Nov 2010); in {freq_word} data it is diluted into the "
                    "year 2010, which also holds China's global quota cut of July 2010 (the "
                    "controls absorb what hit every importer).",
                    "The extended basket only: HS 850511 magnets, not the rare-earth basket "
                    "(280530, 284610, 284690) that was held at customs; magnets of every metal "
                    "are in one code.",
                    "BACI reconciles both partners' reports into one value per pair: the series is "
                    "neither China's customs record nor Japan's, so importer- and exporter-side "
                    "designs coincide here and mirror gaps cannot be seen.",
                    "Truncated extract: each year keeps only each importer's top-6 suppliers and "
                    "each exporter's top-6 customers; a missing flow is unknown, not zero (hence "
                    "the control rule). 2025 (provisional) and 2026 (a modelled nowcast) are left "
                    "out.",
                    "Values, not quantities: tonnes are in the extract for 2024 only; magnet "
                    "prices rose with rare-earth prices in 2010-2011 for every importer.",
                )
            )
        )
        did = _row(c.main, c.design)
        n_units = did["n_placebos"] if did is not None and did["n_placebos"] else None
        units = f" ({n_units} importers)" if n_units else ""
        s.blocks.append(
            Paragraph(
                f"Designs on {per}s: {c.design}-side DiD, {c.source_country}'s exports to "
                f"{c.treated} vs to the other importers{units}, importer and {per} fixed effects, "
                f"post = the {per} of the hold; the event study in {per}s (reference: the {per} "
                f"before); synthetic control on the demeaned {freq_word} series with the controls "
                "as donors, and synthetic DiD. Headline p-value and interval: studentized "
                "randomization inference over the importers (each given the treatment in turn, "
                "exact; each placebo estimate over its importer's own pre-period residual s.d., "
                "so that a noisier treated country does not make it over-reject; PPML: the same "
                "test with every assignment refitted by PPML), each with its size check on this "
                "panel; the CR1 standard error and p and the coefficient randomization p beside "
                "them, labelled."
            )
        )
        s.blocks.append(Paragraph("Headline numbers: " + " ".join(real_headline(c))))
        s.blocks.append(TableRef(main_table(c.main, synthetic=False), f"{c.title}: main results"))
        if c.regressions:
            s.blocks.append(
                TableRef(regression_table(c), f"{c.title}: {c.design}-side regressions (etable)")
            )
        s.blocks.extend(fig_refs.get(c.name, []))
        s.blocks.append(
            TableRef(robustness_table(c.main, synthetic=False),
                     f"{c.title}: every variant (leave-one-out: one row per dropped control)")
        )  # fmt: skip
        out.append(s)
    return out


def _published_section(
    cases: Sequence[ReportCase], pub_refs: Sequence[FigureRef]
) -> Section | None:
    pub = next((c.published for c in cases if c.published is not None), None)
    if pub is None or pub.height == 0:
        return None
    s = Section("Published monthly figures (real, press)")
    s.blocks.append(
        Paragraph(
            "Monthly figures quoted by the press, typed from the project's research notes with "
            "the URL of each row (data_raw/published/). They are another basket and another "
            "reporter than the annual BACI series above: Japan's Ministry of Finance figures for "
            "'rare earths' from China (basket not stated, tonnes) in 2010-2011, and China's "
            "customs figures for magnets by destination in 2025-2026. They are shown beside the "
            "estimates, not used in them."
        )
    )
    early = pub.filter(pl.col("period") < date(2015, 1, 1))
    late = pub.filter(pl.col("period") >= date(2015, 1, 1))
    if early.height:
        s.blocks.append(TableRef(_published_table(early, _PUBLISHED_NOTE),
                                 "Published figures, 2010-2011 (real)"))  # fmt: skip
    if late.height:
        s.blocks.append(TableRef(_published_table(late, _PUBLISHED_NOTE),
                                 "Published figures, 2025-2026 (real)"))  # fmt: skip
    s.blocks.extend(pub_refs)
    return s


def _conclusion(real: Sequence[ReportCase], synthetic: Sequence[ReportCase]) -> Section:
    s = Section("Closing note", banner="")
    for c in real:
        s.blocks.append(Paragraph(f"{c.title}: " + " ".join(real_headline(c))))
    for c in real:
        did = _row(c.main, c.design, "log_value") or _row(c.main, c.design, "log_quantity")
        if did is None or did["p_value"] is None:
            continue
        p = float(did["p_value"])
        verdict = (
            "no departure from the other importers that the studentized randomization test can "
            f"tell from chance (p = {did['p_fraction']})"
            if p >= 0.10
            else "a departure from the other importers (studentized randomization p = "
            f"{did['p_fraction']})"
        )
        s.blocks.append(
            Paragraph(
                f"Reading ({c.name}): in {_period_words(c)[2]} data, {c.source_country}'s flows "
                f"to {c.treated} in the event period show {verdict}. Annual data cannot resolve "
                "a two-month hold, and the basket held at customs (rare-earth compounds and "
                "metals) is not in the real extract."
            )
        )
    if not real:
        s.blocks.append(Paragraph("No real case study in this build."))
    if synthetic:
        s.blocks.append(
            Paragraph(
                "The SYNTHETIC sections show what the methods recover on a seeded panel with "
                "known effects; their numbers are not evidence about 2010 or 2026."
            )
        )
    return s


def _reproducibility(info: BuildInfo) -> Section:
    app = Section("Reproducibility")
    app.blocks.append(Paragraph(f"Built by: {info.command}"))
    app.blocks.append(Paragraph(f"Git commit: {info.commit}"))
    app.blocks.append(Code("\n".join(f"{n:<12} {v}" for n, v in info.versions) or "(none)"))
    app.blocks.append(Paragraph("Input files (SHA-256):"))
    app.blocks.append(Code("\n".join(f"{h}  {n}" for n, h in info.inputs) or "(none)"))
    return app


def build_document(
    cases: Sequence[ReportCase],
    fig_refs: dict[str, list[FigureRef]],
    info: BuildInfo,
    pub_refs: Sequence[FigureRef] = (),
) -> Document:
    """The report's text, tables and figure references.

    With only synthetic cases: the demonstration report, SYNTHETIC on every page. With real
    cases: a REAL part first (page header :data:`REAL_BANNER`: the real case studies and the
    published figures), then the SYNTHETIC demonstration (page header :data:`BANNER`), a closing
    note with the real headline numbers, and the appendix. Labels follow the data of each part.
    """
    real = [c for c in cases if not c.synthetic]
    demo = [c for c in cases if c.synthetic]
    title = "What China's export restrictions did to Japan's rare-earth imports"
    q = Section("Question")
    q.blocks.append(
        Paragraph(
            "What did China's 2010 rare-earth restriction (Japan-bound shipments held at "
            "customs, about 21 Sep to 20 Nov 2010) and its 6 January 2026 ban on dual-use exports "
            "to Japan do to Japan's rare-earth imports (HS 280530, 284610, 284690; magnets "
            "850511 as an extended basket)?"
        )
    )
    if not real:
        q.blocks.insert(0, Paragraph(BANNER, emphasis=True))
        sec = [q, *_demo_sections(demo, fig_refs, published_here=True, pub_refs=pub_refs),
               _reproducibility(info)]  # fmt: skip
        subtitle = "SYNTHETIC demonstration build: methods check, not evidence"
        return Document(title, subtitle, sec, banner=BANNER)
    q.banner = REAL_BANNER
    sec = [q, *_real_sections(real, fig_refs, banner=REAL_BANNER)]
    pub_sec = _published_section(cases, pub_refs)
    if pub_sec is not None:
        sec.append(pub_sec)
    if demo:
        sec.extend(_demo_sections(demo, fig_refs, published_here=False, mixed=True))
    sec += [_conclusion(real, demo), _reproducibility(info)]
    subtitle = (
        "REAL data (CEPII BACI, annual; published press figures) and the SYNTHETIC "
        "demonstration of the methods, each labelled on its pages"
        if demo
        else "Built from the real data in data_raw/"
    )
    return Document(title, subtitle, sec, banner="")


def render(
    cases: Sequence[ReportCase], out: Path, info: BuildInfo, *, figure_titles: bool = True
) -> list[Path]:
    """Write every figure, table and both reports for ``cases`` into ``out``.

    ``figure_titles=False`` leaves the case figures' titles off (the captions carry them).
    Returns the written paths, sorted.
    """
    out = Path(out)
    written: list[Path] = []
    refs: dict[str, list[FigureRef]] = {}
    for c in sorted(cases, key=lambda c: c.name):
        r, w = _case_figures(c, out, titles=figure_titles)
        refs[c.name] = r
        written += w
        pre = "SYNTHETIC_" if c.synthetic else ""
        written += write_table(
            main_table(c.main, synthetic=c.synthetic), out / "tables", f"{pre}main_{c.name}"
        )
        written += write_table(
            robustness_table(c.main, synthetic=c.synthetic),
            out / "tables",
            f"{pre}robustness_{c.name}",
        )
        if c.regressions:
            written += write_table(regression_table(c), out / "tables", f"{pre}etable_{c.name}")
    pub = next((c.published for c in cases if c.published is not None), None)
    pub_refs, pub_written = published_figures(pub, cases, out)
    written += pub_written
    doc = build_document(sorted(cases, key=lambda c: c.name), refs, info, pub_refs)
    stem = "SYNTHETIC_report" if doc.banner else "report"
    typ, pdf = typst_report.compile_pdf(doc, out, f"{stem}.typ", f"{stem}.pdf")
    html_path = _write_text(out / f"{stem}.html", html_render.render(doc, out))
    written += [typ, pdf, html_path]
    return sorted(written)


# -- the pipeline: data_raw -> store -> case studies -> ReportCase ---------------------------------
def _event_toml(path: Path) -> dict[str, object]:
    import tomllib

    with open(path, "rb") as fh:
        return tomllib.load(fh)


def _marks(ev: dict[str, object]) -> list[tuple[date, str]]:
    e = ev["event"]
    assert isinstance(e, dict)
    marks: list[tuple[date, str]] = []
    if e.get("anticipation_start"):
        marks.append((e["anticipation_start"], "anticipation"))
    marks.append((e["effective"], "restriction"))
    if e.get("end"):
        marks.append((e["end"], "end"))
    conf = ev.get("confounders", [])
    assert isinstance(conf, list)
    # global confounders hit every importer (the controls absorb them): only the treated-unit
    # specific ones are marked on the figures; all are discussed in the text
    for c in conf:
        if c.get("scope") == "treated":
            marks.append((c["date"], str(c["name"]).replace("_", " ")))
    w = ev.get("window", {})
    assert isinstance(w, dict)
    lo, hi = w.get("start"), w.get("end")
    seen: set[date] = set()
    out = []
    for m in marks:  # one mark per date: the first named (restriction, anticipation) wins
        if m[0] not in seen and (lo is None or m[0] >= lo) and (hi is None or m[0] <= hi):
            seen.add(m[0])
            out.append(m)
    return sorted(out)


def _period_marks(marks: list[tuple[date, str]], freq: str) -> list[tuple[date, str]]:
    """Annual data: each mark moved to the first day of its year (where the year's point is
    drawn), one mark per year (the first named wins)."""
    if freq != "A":
        return marks
    seen: set[date] = set()
    out = []
    for d, label in sorted(marks):
        y = date(d.year, 1, 1)
        if y not in seen:
            seen.add(y)
            out.append((y, label))
    return out


def _in_range(marks: list[tuple[date, str]], raw: pl.DataFrame) -> list[tuple[date, str]]:
    if raw.height == 0:
        return marks
    lo, hi = raw["period"].min(), raw["period"].max()
    return [m for m in marks if lo <= m[0] <= hi]  # type: ignore[operator]


def case_from_study(study: Any, ev_toml: dict[str, Any] | None = None) -> ReportCase:
    """Map a :class:`tradeimpact.casestudy.CaseStudy` to a :class:`ReportCase`.

    Reads the study's tidy frames (``raw``, ``event_study_frames["importer"]``, ``synth_gap``,
    ``synth_placebos``, ``diversion``, ``mirror``, ``published``), its ``honestdid`` result
    (``table``, ``original``, ``restriction``), ``main``, ``events`` and ``is_synthetic``.
    With the event file's TOML (``ev_toml``) the figures mark the restriction, its end,
    anticipation and the treated-specific confounders only (:func:`_marks`); otherwise the
    study's ``events``. Marks outside the raw series' months are left out.
    """
    ev = study.event
    hd = study.honestdid
    hdd = (
        HonestDiDData(hd.table, (float(hd.original[0]), float(hd.original[1])), str(hd.restriction))
        if hd is not None
        else None
    )
    es_frames = study.event_study_frames or {}
    es = (
        es_frames.get("importer")
        if "importer" in es_frames
        else next(iter(es_frames.values()), None)
    )
    if es is not None:
        es = es.select(
            "rel_time",
            "estimate",
            "ci_low",
            "ci_high",
            *[c for c in ("joint_low", "joint_high", "ri_low", "ri_high") if c in es.columns],
        ).with_columns(pl.col("ci_low", "ci_high").cast(pl.Float64).fill_null(float("nan")))

    def nonempty(f: pl.DataFrame | None) -> pl.DataFrame | None:
        return f if f is not None and f.height else None

    synthetic = bool(study.is_synthetic)
    results = getattr(study, "results", None) or {}
    spec = study.spec
    design = spec.variants_design
    regressions = {
        key.split("/")[1]: res
        for key, res in sorted(results.items())
        if key.startswith(f"{design}/") and key.endswith("/baseline") and hasattr(res, "params")
    }
    freq = str(getattr(ev, "freq", "M"))
    marks = _marks(ev_toml) if ev_toml else list(study.events)
    measure = spec.raw_measure
    es_outcome = spec.event_study.outcome
    names = " ".join(n for n, _h in getattr(study, "inputs", []))
    if synthetic:
        source_note = "tradeimpact.demo panel in UN Comtrade v1 format"
    elif "BACI" in names:
        source_note = (
            "CEPII BACI HS02/HS17 V202601 (Etalab Open Licence 2.0), via "
            "Varcolacus/critical-materials-atlas; annual values"
        )
    else:
        source_note = "UN Comtrade and national customs files in data_raw/"
    return ReportCase(
        name=str(ev.name),
        title=str(ev.title),
        synthetic=synthetic,
        main=study.main,
        treated=str(ev.treated),
        source_country=str(ev.source_country),
        events=_in_range(_period_marks(marks, freq), study.raw),
        raw=study.raw,
        raw_base=tuple(study.raw_base),  # type: ignore[arg-type]
        event_study=es,
        synth_gap=nonempty(study.synth_gap),
        synth_placebos=nonempty(study.synth_placebos),
        diversion=nonempty(study.diversion),
        mirror=nonempty(study.mirror),
        honestdid=hdd,
        published=nonempty(study.published),
        notes=[],
        regressions=regressions,
        source_note=source_note,
        outcome=es_outcome.replace("_", " "),
        freq=freq,
        raw_side=str(getattr(study, "raw_side", "importer")),
        raw_measure="value (USD)" if measure == "value_usd" else "net weight",
        design=design,
    )


def _shown(path: Path, default: Path | None) -> str | None:
    """How a path appears in the rebuild command: None when it is the project default, else
    relative to the project root when inside it, else absolute."""
    from tradeimpact.paths import ProjectPathError, project_root

    p = path.resolve()
    if default is not None and p == default.resolve():
        return None
    try:
        return p.relative_to(project_root()).as_posix()
    except (ValueError, ProjectPathError):
        return str(p)


#: The project's specification file, relative to the project root: what the report build hands
#: to every case study unless ``--spec`` names another (the case studies have no default).
PROJECT_SPEC = "analysis/specs/main.toml"


def project_spec() -> Path:
    """The project's specification file (:data:`PROJECT_SPEC` under the project root).

    Raises
    ------
    tradeimpact.paths.ProjectPathError
        When the package is not inside a checkout or the file is missing (the message names
        it and says to pass ``--spec``).
    """
    from tradeimpact.paths import ProjectPathError, project_root

    try:
        path = project_root() / PROJECT_SPEC
    except ProjectPathError as exc:
        raise ProjectPathError(f"no default specification file ({exc}); pass --spec PATH") from exc
    if not path.is_file():
        raise ProjectPathError(
            f"no default specification file: {path} does not exist; pass --spec PATH"
        )
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tradeimpact.report.build --data data_raw --out reports [--store DIR]``.

    From any folder: the defaults (``data_raw``, ``analysis/events``, ``analysis/specs/main.toml``
    and ``reports``) are the project's (:mod:`tradeimpact.paths`, :data:`PROJECT_SPEC`), not the
    current folder's; the specification is handed to every case study explicitly.
    Exits 2 with a message naming what is missing when there is no data folder, no flow file in
    it, no event file, or an event without flows.
    """
    from tradeimpact.casestudy import raw_flow_files, run_case_study
    from tradeimpact.errors import TradeImpactError
    from tradeimpact.paths import (
        ProjectPathError,
        default_data_dir,
        default_events_dir,
        project_root,
    )
    from tradeimpact.store import FlowStore

    ap = argparse.ArgumentParser(
        prog="python -m tradeimpact.report.build", description=(__doc__ or "").split("\n")[0]
    )
    ap.add_argument(
        "--data", default=None, help="raw data folder (default: the project's data_raw)"
    )
    ap.add_argument("--out", default=None, help="output folder (default: the project's reports)")
    ap.add_argument(
        "--store", default=None, help="an existing FlowStore to use instead of ingesting --data"
    )
    ap.add_argument(
        "--events",
        default=None,
        help="folder of event files (*.toml; default: the project's analysis/events)",
    )
    ap.add_argument(
        "--spec",
        default=None,
        help="specification file (default: the project's analysis/specs/main.toml)",
    )
    ap.add_argument("--no-variants", action="store_true", help="baseline only (quick build)")
    ap.add_argument(
        "--no-figure-titles",
        action="store_true",
        help="leave the figures' titles off (journals: the captions carry them)",
    )
    args = ap.parse_args(list(argv) if argv is not None else None)

    def fail(msg: str) -> int:
        print(f"tradeimpact.report.build: {msg}", file=sys.stderr)
        return 2

    try:
        data = Path(args.data) if args.data else default_data_dir()
        events_dir = Path(args.events) if args.events else default_events_dir()
        spec = Path(args.spec) if args.spec else project_spec()
        out = Path(args.out) if args.out else project_root() / "reports"
    except ProjectPathError as exc:
        return fail(str(exc))
    if not args.store:
        if not data.is_dir():
            return fail(f"no data folder {data.resolve()} (pass --data PATH)")
        if not raw_flow_files(data):
            return fail(
                f"no flow files under {data.resolve()}/<source>/ (e.g. comtrade/*.json.gz, "
                "real/*.csv with a .mapping.json): nothing to build"
            )
    if not events_dir.is_dir():
        return fail(f"no event folder {events_dir.resolve()} (pass --events PATH)")
    event_files = sorted(events_dir.glob("*.toml"))
    if not event_files:
        return fail(f"no event files (*.toml) in {events_dir.resolve()} (pass --events PATH)")
    if not spec.is_file():
        return fail(f"no specification file {spec.resolve()} (pass --spec PATH)")
    # A data directory is ingested by the case study itself (into a temporary FlowStore), which
    # also finds SYNTHETIC_TRUE_EFFECTS.json there for the recovery check.
    source: Any = FlowStore(args.store) if args.store else data
    studies = []
    for path in event_files:
        print(f"case study {path.name} ...", flush=True)
        try:
            studies.append(run_case_study(path, source, spec, variants=not args.no_variants))
        except TradeImpactError as exc:
            return fail(f"{path.name}: {exc}")
    cases = [case_from_study(s, _event_toml(p)) for s, p in zip(studies, event_files, strict=True)]
    inputs = sorted({(n, h) for s in studies for n, h in s.inputs})
    # the command that rebuilds this report, from any folder: non-default inputs named (relative
    # to the project root when inside it); --out is left out (it does not change the report)
    try:
        defaults = {"data": default_data_dir(), "events": default_events_dir(),
                    "spec": project_spec()}  # fmt: skip
    except ProjectPathError:
        defaults = {}
    cmd = ["python -m tradeimpact.report.build"]
    if args.store:
        cmd.append(f"--store {_shown(Path(args.store), None)}")
    else:
        cmd.append(f"--data {_shown(data, None)}")
    for flag, path in (("events", events_dir), ("spec", spec)):
        shown = _shown(path, defaults.get(flag))
        if shown is not None:
            cmd.append(f"--{flag} {shown}")
    if args.no_variants:
        cmd.append("--no-variants")
    info = BuildInfo(
        inputs=inputs,
        versions=[("python", platform.python_version()), *package_versions()],
        commit=git_commit(Path(__file__).resolve().parents[2]),
        command=" ".join(cmd) + " --out <folder> (from any folder; paths relative to the "
        "project root)",
    )
    written = render(cases, out, info, figure_titles=not args.no_figure_titles)
    print(f"wrote {len(written)} files under {out}/")
    for c in cases:
        print(f"\n{c.title}{' (SYNTHETIC)' if c.synthetic else ''}")
        print(main_table(c.main, synthetic=c.synthetic).to_markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
