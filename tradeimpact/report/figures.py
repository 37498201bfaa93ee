"""The report's figures, each from a small tidy polars frame (so any estimator's output can feed them).

Every function returns a :class:`matplotlib.figure.Figure` in the publication style of
:mod:`tradeimpact.report.style` (single-column width, Okabe-Ito palette, units on the axes,
event dates marked, source note, SYNTHETIC label and watermark when ``synthetic=True``); write it
with :func:`tradeimpact.report.style.save_figure`.

Inputs (one row per point; column names fixed so that they read as documentation):

=====================  ===========================================================================
figure                 frame columns
=====================  ===========================================================================
raw series             ``period`` (Date), ``unit`` (str), ``value`` (float, level)
event study            ``rel_time`` (int), ``estimate``, ``ci_low``, ``ci_high`` and, optionally,
                       ``ri_low``, ``ri_high`` (the randomization band)
synthetic-control gap  ``period``, ``gap`` (treated); placebos: ``period``, ``unit``, ``gap``
diversion              ``period``, ``supplier``, ``value``
mirror gap             ``period``, ``exporter_reported``, ``importer_reported``
HonestDiD              ``param``, ``lb``, ``ub`` and the original interval
published figures      ``series``, ``period``, ``value`` (press-quoted monthly figures, tonnes)
=====================  ===========================================================================
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from datetime import date

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from matplotlib.figure import Figure

from tradeimpact.report import style

EventMarks = Sequence[tuple[date, str]]


def _date_axis(ax: object) -> None:
    lo, hi = ax.get_xlim()  # type: ignore[attr-defined]
    years = (hi - lo) / 365.25
    locator: mdates.DateLocator
    if years > 6:
        locator = mdates.YearLocator(2)
    elif years > 2.5:
        locator = mdates.YearLocator(1)
    else:
        locator = mdates.MonthLocator(bymonth=[1, 4, 7, 10])
    ax.xaxis.set_major_locator(locator)  # type: ignore[attr-defined]
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[attr-defined]


def _within(events: EventMarks, periods: pl.Series) -> list[tuple[date, str]]:
    """The event marks inside the range of ``periods`` (so marks never stretch the x axis)."""
    if periods.len() == 0:
        return list(events)
    lo, hi = periods.min(), periods.max()
    return [e for e in events if lo <= e[0] <= hi]  # type: ignore[operator]


def index_series(frame: pl.DataFrame, base: tuple[date, date]) -> pl.DataFrame:
    """Index each unit's ``value`` to 100 = its mean over the base window ``[base[0], base[1]]``.

    Units with a zero or missing base mean get a null index (and are not drawn).
    """
    lo, hi = base
    in_base = (pl.col("period") >= lo) & (pl.col("period") <= hi)
    return (
        frame.lazy()
        .with_columns(pl.col("value").filter(in_base).mean().over("unit").alias("_base"))
        .with_columns(
            pl.when(pl.col("_base") > 0)
            .then(100.0 * pl.col("value") / pl.col("_base"))
            .otherwise(None)
            .alias("index")
        )
        .drop("_base")
        .sort("unit", "period")
        .collect()
    )


def stl_adjust(
    series: pl.DataFrame, *, period: int = 12, robust: bool = True
) -> pl.DataFrame | None:
    """STL decomposition of one monthly series (``period``, ``index``), or None if too short.

    :class:`statsmodels.tsa.seasonal.STL` (Cleveland et al. 1990), ``period=12``,
    multiplicative (on ``log(index)``; additive on the index when it has a zero month), with a
    stable seasonal pattern (``seasonal_deg=0`` and a seasonal window longer than the series:
    one seasonal factor per calendar month, a robust mean over the years) and ``robust=True``
    (the months after a ban are outliers, which the robust weights keep out of the seasonal
    factors). Why not STL's defaults: a short series (three years) gives three points per
    calendar month, which the default seasonal smoother follows point by point, so a ban's
    drop would be read as seasonality. Months missing inside the range are linearly
    interpolated for the fit only. A series with fewer than two full years is not decomposed
    (None).

    Returns
    -------
    polars.DataFrame or None
        ``period``, ``index``, ``trend``, ``seasonal``, ``adjusted`` at the observed months
        (multiplicative: ``trend`` and ``adjusted = index / seasonal`` on the index scale,
        ``seasonal`` the factor; additive: ``adjusted = index - seasonal``).

    References
    ----------
    Cleveland, R. B., Cleveland, W. S., McRae, J. E. and Terpenning, I. (1990), "STL: A
    seasonal-trend decomposition procedure based on loess", *Journal of Official Statistics*
    6(1), 3-73.
    """
    from statsmodels.tsa.seasonal import STL

    s = series.drop_nulls("index").sort("period")
    if s.height < 2 * period:
        return None
    per = s["period"].to_list()
    months = [(d.year * 12 + d.month) for d in per]
    grid = np.arange(months[0], months[-1] + 1)
    values = s["index"].to_numpy().astype(np.float64)
    log = bool(np.all(values > 0))
    y = np.interp(grid, months, np.log(values) if log else values)
    stable = 2 * (grid.size // 2) + 1 + 2 * period  # odd, longer than the series
    fit = STL(y, period=period, seasonal=stable, seasonal_deg=0, robust=robust).fit()
    at = np.asarray(months) - months[0]
    trend = np.asarray(fit.trend)[at]
    seasonal = np.asarray(fit.seasonal)[at]
    if log:
        trend, seasonal = np.exp(trend), np.exp(seasonal)
        adjusted = values / seasonal
    else:
        adjusted = values - seasonal
    return s.select("period", "index").with_columns(
        pl.Series("trend", trend), pl.Series("seasonal", seasonal),
        pl.Series("adjusted", adjusted),
    )  # fmt: skip


def raw_series(
    frame: pl.DataFrame,
    *,
    treated: str,
    base: tuple[date, date],
    events: EventMarks,
    title: str | None,
    source: str,
    synthetic: bool,
    quantity: str = "quantity",
    period: str = "month",
    stl: bool = True,
) -> Figure:
    """Treated unit vs each control and the control mean, indexed (base-window mean = 100).

    Drawn with :func:`seaborn.lineplot` (each control as a thin grey line, ``units="unit"``; the
    control mean with ``estimator="mean"``). For monthly data (``stl=True``) a second panel
    shows the seasonally adjusted index of the treated unit and of the control mean
    (:func:`stl_adjust`: STL, period 12, stable seasonal factors, robust), so that a drop is
    not read into a seasonal low; the first panel is unchanged.

    Parameters
    ----------
    frame : polars.DataFrame
        ``period``, ``unit``, ``value`` (levels, e.g. kg or USD).
    treated : str
        The treated unit's label (drawn in vermillion, on top).
    base : (date, date)
        Base window of the index.
    title : str or None
        None leaves the title off (the caption carries it).
    quantity : str
        What ``value`` measures (for the y label), e.g. ``"net weight"``.
    period : str
        The x label: ``"month"`` or ``"year"`` (the data's period).
    stl : bool
        Add the STL panel (monthly data only: ``period == "month"``; a series too short for
        STL is left out of the panel).
    """
    import seaborn as sns

    idx = index_series(frame, base)
    controls = idx.filter(pl.col("unit") != treated)
    mean = controls.group_by("period").agg(pl.col("index").mean()).sort("period")
    tr = idx.filter(pl.col("unit") == treated).sort("period")
    adjusted: dict[str, pl.DataFrame] = {}
    if stl and period == "month":
        for label, part in ((treated, tr), ("controls (mean)", mean)):
            dec = stl_adjust(part.select("period", "index"))
            if dec is not None:
                adjusted[label] = dec
    with style.publication_style():
        if adjusted:
            fig, axes = plt.subplots(
                2, 1, figsize=(style.SINGLE_COLUMN, 4.3), sharex=True,
                gridspec_kw={"height_ratios": [1.0, 0.75]},
            )  # fmt: skip
            ax = axes[0]
            sns.despine(fig)
        else:
            fig, ax = style.new_figure(2.6)
        ctl = controls.drop_nulls("index").to_pandas()
        if len(ctl):
            sns.lineplot(data=ctl, x="period", y="index", units="unit", estimator=None,
                         color=style.CONTROL, lw=0.4, alpha=0.45, ax=ax, legend=False)  # fmt: skip
            sns.lineplot(data=ctl, x="period", y="index", estimator="mean", errorbar=None,
                         color=style.ESTIMATE, lw=1.1, ax=ax, label="controls (mean)")  # fmt: skip
        ax.plot(tr["period"], tr["index"], color=style.TREATED, lw=1.2, label=treated)
        ax.plot([], [], color=style.CONTROL, lw=0.4, label="each control")
        style.mark_events(ax, _within(events, idx["period"]))
        ax.set_ylabel(f"{quantity}, index (base mean = 100)")
        ax.set_xlabel(period)
        style.legend_above(ax, ncols=3)
        top = float(np.nanquantile(idx["index"].drop_nulls().to_numpy(), 0.99)) if idx.height else 1
        ax.set_ylim(0, max(top * 1.15, 150))
        if adjusted:
            low = axes[1]
            colors = {treated: style.TREATED, "controls (mean)": style.ESTIMATE}
            for label, dec in adjusted.items():
                low.plot(dec["period"], dec["adjusted"], color=colors[label], lw=1.0,
                         label=label)  # fmt: skip
            style.mark_events(low, _within(events, idx["period"]), labels=False)
            low.set_ylabel("seasonally adjusted\nindex (STL)")
            low.set_xlabel(period)
            ax.set_xlabel("")
            hi = max(float(np.nanmax(d["adjusted"].to_numpy())) for d in adjusted.values())
            low.set_ylim(min(0.0, *(float(np.nanmin(d["adjusted"].to_numpy()))
                                    for d in adjusted.values())), max(hi * 1.1, 150))  # fmt: skip
            _date_axis(low)
        else:
            _date_axis(ax)
        style.finish(fig, title=title, source=source, synthetic=synthetic)
    return fig


def event_study(
    frame: pl.DataFrame,
    *,
    title: str | None,
    source: str,
    synthetic: bool,
    outcome: str = "log quantity",
    unit: str = "months",
    ci_label: str = "95% CI, pointwise (CR1)",
    band_label: str = "randomization band",
    joint_label: str = "95% joint band (sup-t)",
) -> Figure:
    """Event-study coefficients with pointwise intervals, the joint band and the randomization band.

    The band (``ri_low``, ``ri_high``) is drawn as a shaded area: the range the placebo
    (placebo-in-space) estimates cover at each relative period (or any band the caller gives,
    named by ``band_label``). With ``joint_low``/``joint_high`` (the sup-t simultaneous band,
    ``EventStudyResult.conf_int(0.95, joint=True)``) the joint band is drawn beside the
    pointwise intervals: thin capped bars around the thick pointwise ones. The reference
    period (estimate 0, no interval) is drawn as a hollow marker. ``title=None`` leaves the
    title off.
    """
    f = frame.sort("rel_time")
    x = f["rel_time"].to_numpy()
    est = f["estimate"].to_numpy()
    lo = f["ci_low"].to_numpy()
    hi = f["ci_high"].to_numpy()
    with style.publication_style():
        fig, ax = style.new_figure(2.6)
        if {"ri_low", "ri_high"} <= set(f.columns):
            ax.fill_between(
                x,
                f["ri_low"].to_numpy(),
                f["ri_high"].to_numpy(),
                color=style.BAND,
                alpha=0.35,
                lw=0,
                step="mid",
                label=band_label,
            )
        ref = np.isnan(lo) | np.isnan(hi)
        has_joint = {"joint_low", "joint_high"} <= set(f.columns)
        if has_joint:
            jl = f["joint_low"].cast(pl.Float64).fill_null(np.nan).to_numpy()
            jh = f["joint_high"].cast(pl.Float64).fill_null(np.nan).to_numpy()
            has_joint = bool(np.isfinite(jl[~ref]).any())  # no band computed: none drawn
        if has_joint:
            ax.errorbar(
                x[~ref],
                est[~ref],
                yerr=np.vstack([est[~ref] - jl[~ref], jh[~ref] - est[~ref]]),
                fmt="none",
                ecolor=style.ESTIMATE,
                elinewidth=0.5,
                capsize=1.6,
                capthick=0.5,
                label=joint_label,
            )
        ax.errorbar(
            x[~ref],
            est[~ref],
            yerr=np.vstack([est[~ref] - lo[~ref], hi[~ref] - est[~ref]]),
            fmt="o",
            ms=2.2,
            color=style.ESTIMATE,
            ecolor=style.ESTIMATE,
            elinewidth=1.6 if has_joint else 0.7,
            capsize=0,
            label=ci_label,
        )
        if ref.any():
            ax.plot(
                x[ref],
                est[ref],
                "o",
                ms=2.6,
                mfc="white",
                mec=style.ESTIMATE,
                mew=0.7,
                label="reference period",
            )
        ax.axhline(0, color="black", lw=0.5)
        ax.axvline(-0.5, color="black", lw=0.6, ls=(0, (3, 2)))
        ax.text(
            -0.4,
            0.98,
            " treatment",
            transform=ax.get_xaxis_transform(),
            fontsize=5.5,
            va="top",
            ha="left",
            color="#333333",
        )
        ax.set_xlabel(f"{unit} relative to the event")
        ax.set_ylabel(f"effect on {outcome} (log points)")
        # estimates and their intervals first, then the reference and the placebo band; two
        # columns so that the legend takes two rows above the axes, not half the figure
        handles, labels = ax.get_legend_handles_labels()
        order = [ci_label, joint_label, "reference period", band_label]
        pairs = sorted(zip(labels, handles, strict=True), key=lambda p: order.index(p[0])
                       if p[0] in order else len(order))  # fmt: skip
        style.legend_above(ax, ncols=2, handles=[h for _, h in pairs],
                           labels=[lab for lab, _ in pairs])  # fmt: skip
        style.finish(fig, title=title, source=source, synthetic=synthetic)
    return fig


def synth_gap(
    gap: pl.DataFrame,
    placebos: pl.DataFrame | None,
    *,
    treated: str,
    events: EventMarks,
    title: str | None,
    source: str,
    synthetic: bool,
    outcome: str = "log quantity",
    period: str = "month",
) -> Figure:
    """Treated minus synthetic control over time, with the in-space placebo gaps in grey.

    ``period`` is the x label (``"month"`` or ``"year"``).
    """
    import seaborn as sns

    with style.publication_style():
        fig, ax = style.new_figure(2.6)
        if placebos is not None and placebos.height:
            # one thin grey line per donor (seaborn: units, no estimator)
            sns.lineplot(data=placebos.sort("unit", "period").to_pandas(), x="period", y="gap",
                         units="unit", estimator=None, color=style.CONTROL, lw=0.4, alpha=0.5,
                         ax=ax, legend=False)  # fmt: skip
            ax.plot([], [], color=style.CONTROL, lw=0.4, label="placebo (each donor)")
        g = gap.sort("period")
        ax.plot(g["period"], g["gap"], color=style.TREATED, lw=1.2, label=f"{treated} − synthetic")
        ax.axhline(0, color="black", lw=0.5)
        style.mark_events(ax, _within(events, g["period"]))
        _date_axis(ax)
        ax.set_xlabel(period)
        ax.set_ylabel(f"gap in {outcome} (log points)")
        style.legend_above(ax, ncols=2)
        style.finish(fig, title=title, source=source, synthetic=synthetic)
    return fig


def diversion(
    frame: pl.DataFrame,
    *,
    events: EventMarks,
    title: str | None,
    source: str,
    synthetic: bool,
    unit_label: str = "tonnes",
    scale: float = 1e-3,
    top: int = 5,
) -> Figure:
    """Treated importer's imports by supplier (the ``top`` largest by total, the rest as "other").

    ``value`` is multiplied by ``scale`` (kg -> tonnes by default) and drawn as stacked areas.
    """
    totals = (
        frame.group_by("supplier")
        .agg(pl.col("value").sum())
        .sort(["value", "supplier"], descending=[True, False])
    )
    keep = totals["supplier"].head(top).to_list()
    f = (
        frame.lazy()
        .with_columns(
            pl.when(pl.col("supplier").is_in(keep))
            .then(pl.col("supplier"))
            .otherwise(pl.lit("other"))
            .alias("supplier")
        )
        .group_by("period", "supplier")
        .agg((pl.col("value").sum() * scale).alias("value"))
        .collect()
        .pivot(on="supplier", index="period", values="value")
        .sort("period")
        .fill_null(0.0)
    )
    order = [s for s in [*keep, "other"] if s in f.columns]
    with style.publication_style():
        fig, ax = style.new_figure(2.6)
        others = iter(c for c in style.PALETTE if c != style.TREATED)
        colors = [
            style.TREATED if s == "CHN" else style.CONTROL if s == "other" else next(others)
            for s in order
        ]
        ax.stackplot(
            f["period"].to_list(),
            *[f[s].to_numpy() for s in order],
            labels=order,
            colors=colors,
            lw=0,
            alpha=0.9,
        )
        style.mark_events(ax, _within(events, f["period"]))
        _date_axis(ax)
        ax.set_xlabel("month")
        ax.set_ylabel(f"imports ({unit_label} per month)")
        style.legend_above(ax, ncols=3)
        ax.set_ylim(0, float(ax.get_ylim()[1]) * 1.25)
        style.finish(fig, title=title, source=source, synthetic=synthetic)
    return fig


def mirror_gap(
    frame: pl.DataFrame,
    *,
    exporter: str,
    importer: str,
    events: EventMarks,
    title: str | None,
    source: str,
    synthetic: bool,
    unit_label: str = "tonnes",
    scale: float = 1e-3,
    published: pl.DataFrame | None = None,
) -> Figure:
    """The same flow as the exporter and as the importer reports it, and their difference.

    ``published`` (``period, value`` in the same unit as the flows) adds published figures as
    black diamonds (real numbers quoted by the press, drawn beside the design's data).
    """
    f = frame.sort("period")
    x = f["period"].to_list()
    ex = f["exporter_reported"].to_numpy() * scale
    im = f["importer_reported"].to_numpy() * scale
    with style.publication_style():
        fig, ax = style.new_figure(2.6)
        ax.plot(x, im, color=style.TREATED, lw=1.0, label=f"{importer}-reported imports")
        ax.plot(
            x,
            ex,
            color=style.ESTIMATE,
            lw=1.0,
            ls=(0, (4, 1.5)),
            label=f"{exporter}-reported exports",
        )
        ax.fill_between(
            x, ex, im, color=style.OKABE_ITO["orange"], alpha=0.25, lw=0, label="mirror gap"
        )
        style.mark_events(ax, _within(events, f["period"]))
        _date_axis(ax)
        ax.set_xlabel("month")
        ax.set_ylabel(f"flow {exporter}→{importer} ({unit_label} per month)")
        if published is not None and published.height:
            pub = published.sort("period")
            ax.plot(
                pub["period"].to_list(),
                pub["value"].to_numpy() * scale,
                "D",
                ms=2.6,
                color="black",
                label="published (real)",
                zorder=5,
            )
        style.legend_above(ax, ncols=2)
        ax.set_ylim(0, float(ax.get_ylim()[1]) * 1.2)
        style.finish(fig, title=title, source=source, synthetic=synthetic)
    return fig


def honestdid(
    table: pl.DataFrame,
    original: tuple[float, float],
    *,
    restriction: str,
    title: str | None,
    source: str,
    synthetic: bool,
    outcome: str = "log quantity",
) -> Figure:
    """Robust confidence sets (Rambachan & Roth 2023) against the restriction's parameter.

    The conventional interval (exact parallel trends) is drawn at the left in black; the
    parameter is ``Mbar`` for relative magnitudes and ``M`` for smoothness.
    """
    t = table.sort("param")
    p = t["param"].to_numpy()
    lb = t["lb"].to_numpy()
    ub = t["ub"].to_numpy()
    step = float(np.min(np.diff(p))) if p.size > 1 else 1.0
    x0 = float(p.min()) - step
    name = "M̄ (relative magnitudes)" if restriction == "relative_magnitudes" else "M (smoothness)"
    with style.publication_style():
        fig, ax = style.new_figure(2.5)
        ax.vlines([x0], [original[0]], [original[1]], color="black", lw=1.4, label="original CI")
        ax.vlines(p, lb, ub, color=style.ESTIMATE, lw=1.4, label="robust CI")
        ax.axhline(0, color="black", lw=0.5)
        ax.set_xticks([x0, *p.tolist()], ["orig.", *(f"{v:g}" for v in p)])
        ax.set_xlabel(name)
        ax.set_ylabel(f"effect on {outcome} (log points)")
        style.legend_above(ax, ncols=2)
        style.finish(fig, title=title, source=source, synthetic=synthetic)
    return fig


def published_comparison(
    frame: pl.DataFrame,
    *,
    highlight: str,
    labels: dict[str, str],
    events: EventMarks,
    title: str | None,
    source: str,
    unit_label: str = "tonnes per month",
) -> Figure:
    """Published monthly figures of several series on one log axis, one highlighted.

    Each series is drawn as points (joined where consecutive months are both published), so a
    reader sees where the figures fall and which months have a figure for ``highlight`` and for
    the others: the comparison holds only in months where both exist. Always real data (the
    published figures are never synthetic): no SYNTHETIC label.

    Parameters
    ----------
    frame : polars.DataFrame
        ``series``, ``period`` (Date), ``value``.
    highlight : str
        The series drawn in vermillion (e.g. China's magnet exports to Japan).
    labels : dict
        Series -> legend label, in legend order (series not in it are not drawn).
    """
    palette = [c for c in style.PALETTE if c != style.TREATED]
    with style.publication_style():
        fig, ax = style.new_figure(3.0)
        others = [s for s in labels if s != highlight]
        for i, name in enumerate([*others, highlight]):
            part = frame.filter(pl.col("series") == name).sort("period")
            if part.height == 0:
                continue
            is_hl = name == highlight
            # a variant of the highlighted series (e.g. a wider code basket): same colour, open
            variant = not is_hl and name.startswith(highlight)
            color = style.TREATED if is_hl or variant else palette[i % len(palette)]
            per = part["period"].to_list()
            val = part["value"].to_list()
            # join consecutive months only: a gap in the published record stays a gap
            run_x: list[date] = []
            run_y: list[float] = []
            for j, (x, y) in enumerate(zip(per, val, strict=True)):
                if j and (x.year * 12 + x.month) - (per[j - 1].year * 12 + per[j - 1].month) > 1:
                    if len(run_x) > 1:
                        ax.plot(run_x, run_y, color=color, lw=1.2 if is_hl else 0.8)  # type: ignore[arg-type]
                    run_x, run_y = [], []
                run_x.append(x)
                run_y.append(y)
            if len(run_x) > 1:
                ax.plot(run_x, run_y, color=color, lw=1.2 if is_hl else 0.8)  # type: ignore[arg-type]
            ax.plot(per, val, ls="none", marker="D" if is_hl or variant else "o",
                    ms=3.5 if is_hl or variant else 2.8, color=color, label=labels[name],
                    mfc="white" if variant else color, zorder=3 if is_hl else 2)  # fmt: skip
        ax.set_yscale("log")
        ax.set_ylabel(f"published figure ({unit_label}, log scale)")
        ax.set_xlabel("month")
        lo, hi = frame["period"].min(), frame["period"].max()
        if isinstance(lo, date) and isinstance(hi, date):
            pad = _dt.timedelta(days=20)
            ax.set_xlim(date(lo.year, lo.month, 1) - pad, date(hi.year, hi.month, 1) + pad)  # type: ignore[arg-type]
        style.mark_events(ax, _within(events, frame["period"]))
        locator = mdates.MonthLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        style.legend_above(ax, ncols=2)
        style.finish(fig, title=title, source=source, synthetic=False)
    return fig
