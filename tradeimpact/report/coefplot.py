"""Coefficient plots of several models on one axis: ``coefplot`` (terms) and ``iplot`` (event time).

The plotting functions of pyfixest (``pf.coefplot``, ``pf.iplot``) with the same argument names
(``alpha``, ``joint``, ``keep``/``drop``/``exact_match``, ``coord_flip``, ``title``), drawn with
seaborn in the report's style (:func:`tradeimpact.report.style.publication_style`):

* several models on one axis, dodged (each model shifted by a fixed step, so intervals never
  overlap), one colour and marker per model, and the legend outside the data (above the
  axes, :func:`seaborn.move_legend`) with one entry per model;
* pointwise intervals (thick) and the sup-t joint band (thin, with caps) side by side with
  ``joint="both"`` (``joint=True``: the joint band only); the legend title says which is which;
* ``title=None`` (default) leaves the title off, as journals want (the caption carries it);
  ``synthetic=True`` labels the figure SYNTHETIC (corner label and watermark);
* the models may be tradeimpact results, statsmodels results (``params``, ``cov_params()``,
  ``conf_int(alpha)``, ``use_t``/``df_resid``) and linearmodels results (``params``, ``cov``,
  ``conf_int(level)``, t with ``df_resid`` when debiased): each one's own pointwise interval
  is drawn; the joint band is :func:`tradeimpact.models.results.sup_t_critical_value` of the
  model's covariance over the plotted coefficients, with the model's reference distribution.

Save with :func:`tradeimpact.report.style.save_figure` (vector PDF / SVG with fixed hash salt
and no date, 300-dpi PNG without software stamp: the same bytes on every run).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tradeimpact.errors import ModelSpecError
from tradeimpact.models.results import (
    SUPT_DRAWS,
    SUPT_SEED,
    RegressionResult,
    _select_names,
    sup_t_critical_value,
)
from tradeimpact.report import style

__all__ = ["coefplot", "iplot", "model_coefficients"]

Joint = bool | Literal["both"]


@dataclass(frozen=True)
class ModelCoefficients:
    """One model's plotted numbers: estimates and intervals by term (pandas, same index)."""

    label: str
    params: pd.Series
    lower: pd.Series
    upper: pd.Series
    joint_lower: pd.Series | None
    joint_upper: pd.Series | None
    event_times: dict[str, int]
    ref: int | None


def _is_statsmodels(res: Any) -> bool:
    return hasattr(res, "cov_params") and hasattr(res, "bse")


def _is_linearmodels(res: Any) -> bool:
    return hasattr(res, "std_errors") and isinstance(getattr(res, "cov", None), pd.DataFrame)


def _labelled(res: Any, values: Any, what: str) -> pd.Series:
    if isinstance(values, pd.Series):
        return values.astype(float)
    names = getattr(getattr(res, "model", None), "exog_names", None)
    arr = np.asarray(values, dtype=float).ravel()
    if names is None or len(names) != arr.size:
        raise ModelSpecError(f"the model's {what} carry no coefficient names (fit it on a frame)")
    return pd.Series(arr, index=list(names))


def model_coefficients(
    res: Any,
    label: str,
    *,
    alpha: float = 0.05,
    joint: Joint = False,
    terms: Sequence[str] | None = None,
    draws: int = SUPT_DRAWS,
    seed: int = SUPT_SEED,
) -> ModelCoefficients:
    """Estimates, pointwise intervals at ``1 - alpha`` and (with ``joint``) the sup-t band.

    Parameters
    ----------
    res : tradeimpact, statsmodels or linearmodels result
        See the module docstring for what each must offer.
    label : str
        The model's legend entry.
    alpha : float
        One minus the coverage, in (0, 1).
    joint : bool or "both"
        Whether to compute the joint band (over ``terms``).
    terms : sequence of str, optional
        The coefficients (default: every coefficient; an event study's event-time ones).
    draws, seed : int
        Simulation of the joint critical value.

    Returns
    -------
    ModelCoefficients

    Raises
    ------
    ModelSpecError
        ``alpha`` outside (0, 1); a result of an unknown kind; a term it does not have.
    """
    if not 0.0 < alpha < 1.0:
        raise ModelSpecError(f"alpha must be in (0, 1), not {alpha!r}")
    level = 1.0 - alpha
    want_joint = joint is True or joint == "both"
    event_times: dict[str, int] = {}
    ref: int | None = None
    if isinstance(res, RegressionResult):
        names = list(terms) if terms is not None else res._joint_family()
        point = res.conf_int(level, terms=names)
        params = res.params.loc[names]
        band = (
            res.conf_int(level, joint=True, terms=names, draws=draws, seed=seed)
            if want_joint
            else None
        )
        ev = getattr(res, "event_terms", None)
        if isinstance(ev, Mapping):
            event_times = {str(n): int(e) for e, n in ev.items() if n in names}
            ref = int(getattr(res, "ref", -1))
        return ModelCoefficients(label, params, point["lower"], point["upper"],
                                 None if band is None else band["lower"],
                                 None if band is None else band["upper"], event_times, ref)  # fmt: skip
    if _is_statsmodels(res):
        all_params = _labelled(res, res.params, "params")
        cov = pd.DataFrame(np.asarray(res.cov_params(), dtype=float), index=all_params.index,
                           columns=all_params.index)  # fmt: skip
        ci = np.asarray(res.conf_int(alpha), dtype=float)
        lower = pd.Series(ci[:, 0], index=all_params.index)
        upper = pd.Series(ci[:, 1], index=all_params.index)
        df = int(res.df_resid) if getattr(res, "use_t", False) else None
    elif _is_linearmodels(res):
        all_params = res.params.astype(float)
        cov = res.cov.astype(float)
        ci = res.conf_int(level)
        lower, upper = ci.iloc[:, 0].astype(float), ci.iloc[:, 1].astype(float)
        df = int(res.df_resid) if getattr(res, "_debiased", False) else None
    else:
        raise ModelSpecError(
            f"cannot plot a {type(res).__name__}: give a tradeimpact, statsmodels or "
            "linearmodels result"
        )
    names = list(terms) if terms is not None else list(all_params.index)
    unknown = [t for t in names if t not in all_params.index]
    if unknown:
        raise ModelSpecError(
            f"{label}: no coefficients {unknown} (it has {list(all_params.index)})"
        )
    params = all_params.loc[names]
    jl = ju = None
    if want_joint:
        c = sup_t_critical_value(cov.loc[names, names].to_numpy(), level, df=df, draws=draws,
                                 seed=seed)  # fmt: skip
        se = np.sqrt(np.diag(cov.loc[names, names].to_numpy()))
        jl, ju = params - c * se, params + c * se
    return ModelCoefficients(label, params, lower.loc[names], upper.loc[names], jl, ju,
                             event_times, ref)  # fmt: skip


def _as_models(models: Any) -> list[tuple[str, Any]]:
    if isinstance(models, Mapping):
        items = [(str(k), v) for k, v in models.items()]
    elif isinstance(models, Sequence) and not isinstance(models, str):
        items = [(f"({i + 1})", m) for i, m in enumerate(models)]
    else:
        items = [("(1)", models)]
    if not items:
        raise ModelSpecError("no model to plot")
    return items


_EVENT_TIME = re.compile(r"(-?\d+)\]?\)?$")


def _event_time(name: str, known: Mapping[str, int]) -> int:
    if name in known:
        return known[name]
    m = _EVENT_TIME.search(name)
    if m is None:
        raise ModelSpecError(
            f"cannot read an event time from the coefficient name {name!r} (it must end in the "
            "integer event time, as 'e::-3', 'rel::2' or 'C(rel)[T.-3]'); select the event-time "
            "coefficients with keep="
        )
    return int(m.group(1))


def _band_title(alpha: float, joint: Joint) -> str:
    pct = f"{100 * (1 - alpha):g}%"
    if joint == "both":
        return f"{pct} intervals: thick pointwise, thin joint (sup-t)"
    if joint:
        return f"{pct} joint (sup-t) bands"
    return f"{pct} pointwise intervals"


def _draw(
    frame: pd.DataFrame,
    *,
    joint: Joint,
    alpha: float,
    vertical: bool,
    ax: Axes | None,
    figsize: tuple[float, float],
    title: str | None,
    synthetic: bool,
    xlabel: str,
    ylabel: str,
    ticks: tuple[list[float], list[str]] | None,
    zero_line: bool,
    event_line: float | None,
) -> Figure:
    """Points (seaborn, hue and marker per model) and intervals of a tidy frame, one axis."""
    import seaborn as sns

    labels = list(dict.fromkeys(frame["model"]))
    palette = dict(zip(labels, style.palette(len(labels)), strict=True))
    markers = dict(zip(labels, style.MARKERS * (len(labels) // len(style.MARKERS) + 1),
                       strict=False))  # fmt: skip
    with style.publication_style():
        if ax is None:
            fig, ax = style.new_figure(height=figsize[1], width=figsize[0])
        else:
            fig = ax.figure  # type: ignore[assignment]
        pos, val = ("pos", "estimate") if vertical else ("estimate", "pos")
        for lab in labels:
            part = frame[frame["model"] == lab]
            p = part["pos"].to_numpy()
            color = palette[lab]
            if joint:
                segs = [
                    [(x, lo), (x, hi)] if vertical else [(lo, x), (hi, x)]
                    for x, lo, hi in zip(p, part["joint_low"], part["joint_high"], strict=True)
                ]
                (ax.vlines if vertical else ax.hlines)(
                    p, part["joint_low"], part["joint_high"], color=color, lw=0.6,
                    label=f"_joint {lab}",
                )  # fmt: skip
                step = float(frame["step"].iloc[0])
                cap = 0.25 * step if step > 0 else 0.15  # half-width of the caps, data units
                for a, b in segs:
                    for end in (a, b):
                        if vertical:
                            ax.plot([end[0] - cap, end[0] + cap], [end[1]] * 2, color=color,
                                    lw=0.6, label="_cap")  # fmt: skip
                        else:
                            ax.plot([end[0]] * 2, [end[1] - cap, end[1] + cap], color=color,
                                    lw=0.6, label="_cap")  # fmt: skip
            if joint is not True:
                (ax.vlines if vertical else ax.hlines)(
                    p, part["ci_low"], part["ci_high"], color=color,
                    lw=1.8 if joint == "both" else 1.0, label=f"_pointwise {lab}",
                )  # fmt: skip
        sns.scatterplot(
            data=frame, x=pos, y=val, hue="model", style="model", hue_order=labels,
            style_order=labels, palette=palette, markers=markers, s=14, edgecolor="white",
            linewidth=0.3, zorder=3, ax=ax,
        )  # fmt: skip
        if zero_line:
            (ax.axhline if vertical else ax.axvline)(0, color="black", lw=0.5, zorder=1)
        if event_line is not None:
            ax.axvline(event_line, color="black", lw=0.6, ls=(0, (3, 2)), zorder=1)
        if ticks is not None:
            (ax.set_xticks if vertical else ax.set_yticks)(ticks[0], ticks[1])
        if not vertical and ticks is not None:
            ax.invert_yaxis()  # first term on top, as in a table
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        # as many columns as fit the figure's width (a legend wider than the figure would be
        # cut off, and tight_layout would shrink the axes to make room for it)
        width_in = fig.get_figwidth()
        per_col = 0.35 + 0.55 * style.RC["legend.fontsize"] / 72 * max(len(x) for x in labels)
        ncols = max(1, min(len(labels), 4, int((width_in - 0.5) // per_col)))
        sns.move_legend(
            ax, "lower left", bbox_to_anchor=(0.0, 1.01), ncols=ncols,
            title=_band_title(alpha, joint), frameon=False, borderaxespad=0.0,
            title_fontsize=style.RC["legend.fontsize"], alignment="left",
        )  # fmt: skip
        if title:
            ax.set_title(f"{style.SYNTHETIC_WORD}: {title}" if synthetic else title, loc="left",
                         pad=24)  # fmt: skip
        if synthetic:
            style.label_synthetic(fig)
        fig.tight_layout(pad=0.4, rect=(0, 0.04 if synthetic else 0, 1, 1))
    return fig


def _frame(coefs: list[ModelCoefficients], x: dict[str, list[float]], step: float) -> pd.DataFrame:
    rows = []
    m = len(coefs)
    for j, mc in enumerate(coefs):
        shift = (j - (m - 1) / 2) * step
        for term, base in zip(mc.params.index, x[mc.label], strict=True):
            rows.append({
                "model": mc.label, "term": term, "pos": base + shift, "step": step,
                "estimate": float(mc.params[term]),
                "ci_low": float(mc.lower[term]), "ci_high": float(mc.upper[term]),
                "joint_low": np.nan if mc.joint_lower is None else float(mc.joint_lower[term]),
                "joint_high": np.nan if mc.joint_upper is None else float(mc.joint_upper[term]),
            })  # fmt: skip
    return pd.DataFrame(rows)


def coefplot(
    models: Any,
    *,
    alpha: float = 0.05,
    joint: Joint = False,
    keep: str | Sequence[str] | None = None,
    drop: str | Sequence[str] | None = None,
    exact_match: bool = False,
    coord_flip: bool = True,
    title: str | None = None,
    synthetic: bool = False,
    figsize: tuple[float, float] | None = None,
    ax: Axes | None = None,
    draws: int = SUPT_DRAWS,
    seed: int = SUPT_SEED,
) -> Figure:
    """Coefficient plot of one or several models on one axis, dodged, legend outside the data.

    Parameters
    ----------
    models : result, list of results or dict label -> result
        tradeimpact, statsmodels or linearmodels results; a list is labelled ``(1)``, ``(2)``, ...
        (the columns of :func:`~tradeimpact.report.tables.etable`).
    alpha : float
        Intervals at level ``1 - alpha`` (pyfixest's argument).
    joint : bool or "both"
        ``False``: pointwise intervals; ``True``: the sup-t joint band over each model's plotted
        coefficients (Montiel Olea & Plagborg-Moller 2019); ``"both"``: both, side by side.
    keep, drop, exact_match
        Which coefficients (regular expressions, pyfixest's rule); the union over the models, in
        order of first appearance; a model without a term simply has no point there.
    coord_flip : bool
        ``True`` (default, as pyfixest): terms down the y axis, estimates along x. ``False``:
        terms along x, estimates up y.
    title : str or None
        None (default) leaves the title off (journals put it in the caption).
    synthetic : bool
        The models were fitted on synthetic data: label the figure SYNTHETIC.
    figsize : (width, height), optional
        Inches (default single-column width, height by the number of terms).
    ax : matplotlib Axes, optional
        Draw into it instead of a new figure.
    draws, seed : int
        Simulation of the joint critical value.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ModelSpecError
        No model; no coefficient selected; a result of an unknown kind.

    References
    ----------
    Montiel Olea, J. L. and Plagborg-Moller, M. (2019), *J. Applied Econometrics* 34(1), 1-17.
    """
    items = _as_models(models)
    coefs: list[ModelCoefficients] = []
    for label, res in items:
        full = model_coefficients(res, label, alpha=alpha, joint=False)
        names = _select_names(list(full.params.index), keep, drop, exact_match) \
            if (keep is not None or drop is not None) else list(full.params.index)  # fmt: skip
        coefs.append(model_coefficients(res, label, alpha=alpha, joint=joint, terms=names,
                                        draws=draws, seed=seed))  # fmt: skip
    terms = list(dict.fromkeys(t for mc in coefs for t in mc.params.index))
    where = {t: float(i) for i, t in enumerate(terms)}
    step = 0.6 / max(len(coefs), 1) if len(coefs) > 1 else 0.0
    frame = _frame(coefs, {mc.label: [where[t] for t in mc.params.index] for mc in coefs}, step)
    if figsize is None:
        figsize = (style.SINGLE_COLUMN, 1.2 + 0.28 * len(terms) * (1 + 0.25 * (len(coefs) - 1))) \
            if coord_flip else (style.SINGLE_COLUMN, 2.6)  # fmt: skip
    return _draw(frame, joint=joint, alpha=alpha, vertical=not coord_flip, ax=ax,
                 figsize=figsize, title=title, synthetic=synthetic,
                 xlabel="estimate" if coord_flip else "", ylabel="" if coord_flip else "estimate",
                 ticks=([where[t] for t in terms], terms), zero_line=True,
                 event_line=None)  # fmt: skip


def iplot(
    models: Any,
    *,
    alpha: float = 0.05,
    joint: Joint = "both",
    keep: str | Sequence[str] | None = None,
    drop: str | Sequence[str] | None = None,
    exact_match: bool = False,
    title: str | None = None,
    synthetic: bool = False,
    xlabel: str = "periods relative to the event",
    ylabel: str = "estimate",
    figsize: tuple[float, float] | None = None,
    ax: Axes | None = None,
    draws: int = SUPT_DRAWS,
    seed: int = SUPT_SEED,
) -> Figure:
    """Event-study plot of one or several models: coefficients against event time, dodged.

    The event-time coefficients of each model (a tradeimpact event study's ``event_terms``; for
    other results the coefficients selected by ``keep``/``drop`` whose names end in the event
    time, e.g. ``rel::-3`` or ``C(rel)[T.-3]``) at their event time, the models side by side;
    the reference period of a tradeimpact event study as a hollow point at 0, the event date as
    a dashed line between event times -1 and 0. ``joint="both"`` (default) draws the
    pointwise intervals (thick) and the sup-t joint band over each model's event-time
    coefficients (thin, capped): a pre-trend is rejected jointly at ``alpha`` when some
    pre-period band excludes 0 (Montiel Olea & Plagborg-Moller 2019, section 5).

    Parameters
    ----------
    models, alpha, joint, keep, drop, exact_match, title, synthetic, figsize, ax, draws, seed
        As in :func:`coefplot`.
    xlabel, ylabel : str
        Axis labels (the outcome and its unit belong in ``ylabel``).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ModelSpecError
        A selected coefficient without an event time in its name; see :func:`coefplot`.
    """
    items = _as_models(models)
    coefs: list[ModelCoefficients] = []
    for label, res in items:
        full = model_coefficients(res, label, alpha=alpha, joint=False)
        names = list(full.params.index)
        if keep is not None or drop is not None:
            names = _select_names(names, keep, drop, exact_match)
        coefs.append(model_coefficients(res, label, alpha=alpha, joint=joint, terms=names,
                                        draws=draws, seed=seed))  # fmt: skip
    x = {mc.label: [float(_event_time(t, mc.event_times)) for t in mc.params.index]
         for mc in coefs}  # fmt: skip
    step = 0.5 / len(coefs) if len(coefs) > 1 else 0.0
    frame = _frame(coefs, x, step)
    fig = _draw(frame, joint=joint, alpha=alpha, vertical=True, ax=ax,
                figsize=figsize or (style.SINGLE_COLUMN, 2.6), title=title, synthetic=synthetic,
                xlabel=xlabel, ylabel=ylabel, ticks=None, zero_line=True,
                event_line=-0.5)  # fmt: skip
    ax_ = fig.axes[0] if ax is None else ax
    m = len(coefs)
    for j, mc in enumerate(coefs):
        if mc.ref is not None:
            shift = (j - (m - 1) / 2) * step
            ax_.plot([mc.ref + shift], [0.0], "o", ms=3, mfc="white",
                     mec=style.palette(m)[j], mew=0.7, zorder=3, label="_reference")  # fmt: skip
    xs = sorted(
        {int(v) for vals in x.values() for v in vals}
        | {mc.ref for mc in coefs if mc.ref is not None}
    )
    if xs and len(xs) <= 30:
        ax_.set_xticks(xs)
    return fig
