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


def _case_figures(case: ReportCase, out: Path) -> tuple[list[FigureRef], list[Path]]:
    figdir = out / "figures"
    syn = case.synthetic
    src = case.source_note
    refs: list[FigureRef] = []
    written: list[Path] = []
    year = case.title

    def save(fig: object, key: str, caption: str) -> None:
        stem = style.figure_stem(f"{key}_{case.name}", syn)
        paths = style.save_figure(fig, figdir, stem)  # type: ignore[arg-type]
        written.extend(paths[k] for k in sorted(paths))
        refs.append(FigureRef(f"figures/{stem}", caption))

    save(
        figures.raw_series(
            case.raw,
            treated=case.treated,
            base=case.raw_base,
            events=case.events,
            title=f"Imports from {case.source_country}: {case.treated} vs controls",
            source=src,
            synthetic=syn,
            quantity="net weight",
        ),
        "raw_series",
        f"{year}: each importer's reported imports from {case.source_country} (net weight, "
        f"index, mean {case.raw_base[0]:%b %Y}-{case.raw_base[1]:%b %Y} = 100); "
        f"{case.treated} in red, every control in grey, their mean in blue.",
    )
    if case.event_study is not None:
        save(
            figures.event_study(
                case.event_study,
                title=f"Event study: {case.treated} vs controls",
                source=src,
                synthetic=syn,
                outcome=case.outcome,
            ),
            "event_study",
            f"{year}: monthly event-study coefficients ({case.outcome}) with pointwise 95% "
            "cluster-robust intervals; the shaded band is the range of the same coefficient "
            "over the placebo countries (each control given the treatment in turn: the "
            "randomization band).",
        )
    if case.synth_gap is not None:
        save(
            figures.synth_gap(
                case.synth_gap,
                case.synth_placebos,
                treated=case.treated,
                events=case.events,
                title="Synthetic control: treated minus synthetic",
                source=src,
                synthetic=syn,
                outcome=case.outcome,
            ),
            "synth_gap",
            f"{year}: gap between {case.treated} and its synthetic control ({case.outcome}); "
            "grey lines: the same gap with each donor treated as if it were the treated unit.",
        )
    if case.diversion is not None:
        save(
            figures.diversion(
                case.diversion,
                events=case.events,
                title=f"{case.treated}'s imports by supplier",
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
                title="Mirror statistics",
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
                title="HonestDiD sensitivity",
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
    """:func:`etable` of the case's regressions (the importer-side design, one column per outcome)."""
    vcovs = sorted({str(getattr(r, "vcov_type", "")) for r in case.regressions.values()} - {""})
    notes = [
        "Standard errors in parentheses: " + ("; ".join(vcovs) or "as reported by each model") + "."
    ]
    if case.synthetic:
        notes.insert(0, "SYNTHETIC DATA: seeded demonstration panel, not real trade flows.")
    tab = etable(
        case.regressions,
        notes=notes,
        caption=f"{case.title}: importer-side design",
        footer=("nobs", "fixed_effects"),
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


def build_document(
    cases: Sequence[ReportCase], fig_refs: dict[str, list[FigureRef]], info: BuildInfo
) -> Document:
    """The report's text, tables and figure references."""
    synthetic = any(c.synthetic for c in cases)
    sec: list[Section] = []
    q = Section("Question")
    if synthetic:
        q.blocks.append(Paragraph(BANNER, emphasis=True))
    q.blocks.append(
        Paragraph(
            "What did China's 2010 rare-earth restriction (Japan-bound shipments held at "
            "customs, about 21 Sep to 20 Nov 2010) and its 6 January 2026 ban on dual-use exports "
            "to Japan do to Japan's rare-earth imports (HS 280530, 284610, 284690; magnets "
            "850511 as an extended basket)?"
        )
    )
    sec.append(q)
    d = Section("Data")
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
    for c in cases:
        pub = _published_in_range(c)
        if pub is not None:
            tab = Table(
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
                            for r in pub.sort("series", "period").iter_rows(named=True)
                        ],
                    )
                ],
                notes=[
                    "REAL published figures as quoted by the press (sources, with URLs: "
                    "data_raw/published/*.csv), not generated."
                ],
            )
            d.blocks.append(TableRef(tab, f"{c.title}: published figures (real)"))
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
                    "over-reject, so the headline p-values and intervals come from "
                    "randomization inference over placebo countries (p = share of placebo "
                    "estimates at least as large, an exact fraction) and Conley-Taber; CR1 "
                    "standard errors are shown beside them, labelled. HonestDiD bounds the 2026 "
                    "estimate when the pre-period is contaminated by front-loading."
                ),
            ],
        )
    )
    res = Section("Results")
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
        s.blocks.append(
            TableRef(main_table(c.main, synthetic=c.synthetic), f"{c.title}: main results")
        )
        if c.regressions:
            s.blocks.append(
                TableRef(regression_table(c), f"{c.title}: importer-side regressions (etable)")
            )
        s.blocks.extend(fig_refs.get(c.name, []))
        sec.append(s)
    rob = Section("Robustness")
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
    sec.append(Section("Caveats", [Bullets(tuple(cav))]))
    app = Section("Reproducibility")
    app.blocks.append(Paragraph(f"Built by: {info.command}"))
    app.blocks.append(Paragraph(f"Git commit: {info.commit}"))
    app.blocks.append(Code("\n".join(f"{n:<12} {v}" for n, v in info.versions) or "(none)"))
    app.blocks.append(Paragraph("Input files (SHA-256):"))
    app.blocks.append(Code("\n".join(f"{h}  {n}" for n, h in info.inputs) or "(none)"))
    sec.append(app)
    title = "What China's export restrictions did to Japan's rare-earth imports"
    subtitle = (
        "SYNTHETIC demonstration build: methods check, not evidence"
        if synthetic
        else "Built from the data in data_raw/"
    )
    return Document(title, subtitle, sec, banner=BANNER if synthetic else "")


def render(cases: Sequence[ReportCase], out: Path, info: BuildInfo) -> list[Path]:
    """Write every figure, table and both reports for ``cases`` into ``out``.

    Returns the written paths, sorted.
    """
    out = Path(out)
    written: list[Path] = []
    refs: dict[str, list[FigureRef]] = {}
    for c in sorted(cases, key=lambda c: c.name):
        r, w = _case_figures(c, out)
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
    doc = build_document(sorted(cases, key=lambda c: c.name), refs, info)
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
            *[c for c in ("ri_low", "ri_high") if c in es.columns],
        ).with_columns(pl.col("ci_low", "ci_high").cast(pl.Float64).fill_null(float("nan")))

    def nonempty(f: pl.DataFrame | None) -> pl.DataFrame | None:
        return f if f is not None and f.height else None

    synthetic = bool(study.is_synthetic)
    results = getattr(study, "results", None) or {}
    regressions = {
        key.split("/")[1]: res
        for key, res in sorted(results.items())
        if key.startswith("importer/") and key.endswith("/baseline") and hasattr(res, "params")
    }
    return ReportCase(
        name=str(ev.name),
        title=str(ev.title),
        synthetic=synthetic,
        main=study.main,
        treated=str(ev.treated),
        source_country=str(ev.source_country),
        events=_in_range(_marks(ev_toml) if ev_toml else list(study.events), study.raw),
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
        source_note=(
            "tradeimpact.demo panel in UN Comtrade v1 format"
            if synthetic
            else "UN Comtrade and national customs files in data_raw/"
        ),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tradeimpact.report.build --data data_raw --out reports [--store DIR]``."""
    from tradeimpact.casestudy import raw_flow_files, run_case_study
    from tradeimpact.store import FlowStore

    ap = argparse.ArgumentParser(
        prog="python -m tradeimpact.report.build", description=(__doc__ or "").split("\n")[0]
    )
    ap.add_argument("--data", default="data_raw", help="raw data folder (default data_raw)")
    ap.add_argument("--out", default="reports", help="output folder (default reports)")
    ap.add_argument(
        "--store", default=None, help="an existing FlowStore to use instead of ingesting --data"
    )
    ap.add_argument("--events", default="analysis/events", help="event definitions (*.toml)")
    ap.add_argument("--spec", default="analysis/specs/main.toml", help="specification file")
    ap.add_argument("--no-variants", action="store_true", help="baseline only (quick build)")
    args = ap.parse_args(list(argv) if argv is not None else None)
    data, out = Path(args.data), Path(args.out)
    # A data directory is ingested by the case study itself (into a temporary FlowStore), which
    # also finds SYNTHETIC_TRUE_EFFECTS.json there for the recovery check.
    source: Any = FlowStore(args.store) if args.store else data
    if not args.store and not raw_flow_files(data):
        print(f"no flow files under {data}/<source>/: nothing to build", file=sys.stderr)
        return 2
    studies = []
    for path in sorted(Path(args.events).glob("*.toml")):
        print(f"case study {path.name} ...", flush=True)
        studies.append(
            run_case_study(path, source, spec_path=args.spec, variants=not args.no_variants)
        )
    cases = [
        case_from_study(s, _event_toml(p))
        for s, p in zip(studies, sorted(Path(args.events).glob("*.toml")), strict=True)
    ]
    inputs = sorted({(n, h) for s in studies for n, h in s.inputs})
    info = BuildInfo(
        inputs=inputs,
        versions=[("python", platform.python_version()), *package_versions()],
        commit=git_commit(Path(__file__).resolve().parents[2]),
        command=f"python -m tradeimpact.report.build --data {args.data} --out {args.out}",
    )
    written = render(cases, out, info)
    print(f"wrote {len(written)} files under {out}/")
    for c in cases:
        print(f"\n{c.title}{' (SYNTHETIC)' if c.synthetic else ''}")
        print(main_table(c.main, synthetic=c.synthetic).to_markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
