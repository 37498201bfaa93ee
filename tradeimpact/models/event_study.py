"""Event studies: leads and lags around one event date or staggered dates.

TWFE event study (``estimator="twfe"``; e.g. Freyaldenhoven, Hansen, Perez & Shapiro 2021; Borusyak,
Jaravel & Spiess 2024 for the caveats)::

    g(y_it) = sum_{e in [a, b], e != ref} beta_e 1[t - E_i = e] + X_it' gamma + alpha_i + lambda_t + e_it

with ``E_i`` the event (first treated) period of unit ``i`` (never-treated units have every
dummy 0), event time measured in periods of ``freq`` (months, quarters or years), window
``[a, b]``, reference period ``ref`` (normalised to 0). Endpoints: ``"bin"`` pools event times
below ``a`` into ``a`` and above ``b`` into ``b`` (Schmidheiny & Siegloch 2023, J. Applied
Econometrics 38(5)); ``"drop"`` drops treated-unit rows outside the window (counted in
``dropped["outside_window"]``). With staggered dates ``estimator="sunab"`` gives the Sun & Abraham
(2021) interaction-weighted estimator (:mod:`tradeimpact.models.sunab`) and ``estimator="cs"``
Callaway & Sant'Anna (2021) dynamic ATT(e) (:mod:`tradeimpact.models.callaway_santanna`).

Every result carries the joint pre-trend Wald test that all pre-event coefficients (``e < 0``,
reference excluded) are zero: ``F = W/q`` with ``(q, G-1)`` df for clustered covariances (chi-square
with the normal reference for ``cs``), and the full covariance matrix of the event-time
coefficients (``event_study_inputs()`` for HonestDiD).

Sample rules: unbalanced panels are allowed; a treated unit without any pre-event row is an error
(its effect cannot be separated from its unit effect); a reference period outside the window is an
error; with a single event date at least one never-treated unit is required.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from tradeimpact.errors import ModelSpecError
from tradeimpact.models.did import Outcome, prepare_outcome
from tradeimpact.models.linear import (
    CollinearityWarning,
    VcovArg,
    build_fe,
    check_columns,
    fit_feols,
    resolve_vcov,
    to_polars,
)
from tradeimpact.models.results import EventStudyResult

FloatArray = npt.NDArray[np.float64]
Freq = Literal["M", "Q", "A", "Y"]


def to_period(s: pl.Series, freq: str | None) -> FloatArray:
    """Integer period index of a time column.

    Dates/datetimes: months ``12*year + month - 1`` (``"M"``, the default), quarters
    ``4*year + quarter - 1`` (``"Q"``) or years (``"A"``/``"Y"``). Numbers are used as they are
    (already consecutive periods, e.g. years or a month counter). Nulls give NaN.
    """
    if s.dtype in (pl.Date,) or isinstance(s.dtype, pl.Datetime):
        f = (freq or "M").upper()
        yr = s.dt.year().cast(pl.Float64)
        mo = s.dt.month().cast(pl.Float64)
        if f == "M":
            out = yr * 12 + mo - 1
        elif f == "Q":
            out = yr * 4 + ((mo - 1) / 3).floor()
        elif f in ("A", "Y"):
            out = yr
        else:
            raise ModelSpecError(f"freq must be 'M', 'Q' or 'A', not {freq!r}")
        return out.to_numpy().astype(np.float64)
    if s.dtype.is_numeric():
        return s.cast(pl.Float64).to_numpy().astype(np.float64)
    raise ModelSpecError(f"time column '{s.name}' must be a date or a number, not {s.dtype}")


def event_study(
    data: Any,
    y: str,
    unit: str,
    time: str,
    *,
    treat_date: str | None = None,
    event_time: str | None = None,
    treated: str | None = None,
    event_date: Any = None,
    window: tuple[int, int] | None = (-12, 12),
    ref: int = -1,
    endpoints: Literal["bin", "drop"] = "bin",
    fe: Sequence[str | Sequence[str]] | None = None,
    controls: Sequence[str] = (),
    weights: str | None = None,
    estimator: Literal["twfe", "sunab", "cs"] = "twfe",
    freq: Freq | None = None,
    vcov: VcovArg = "CR1",
    inference: Literal["cr1", "wild", "ri", "ri_t"] | None = None,
    outcome: Outcome = "log",
    cs: Mapping[str, Any] | None = None,
    wild: Mapping[str, Any] | None = None,
) -> EventStudyResult:
    """Event-study regression around one or several (staggered) event dates.

    Formula and references: see the module docstring (TWFE; Sun & Abraham 2021, J. Econometrics
    225(2); Callaway & Sant'Anna 2021, J. Econometrics 225(2)).

    Parameters
    ----------
    data : polars or pandas frame
    y, unit, time : str
        Outcome, unit and time columns (time: a date, or an integer period).
    treat_date : str, optional
        Column with each unit's event (first treated) date/period; null (or a date after the
        sample) for never-treated units.
    event_time : str, optional
        Alternatively, a column of event time already computed (null for never-treated units).
    treated, event_date : str and scalar, optional
        Alternatively, one event date for the units whose 0/1 column ``treated`` is 1.
    window : (a, b) or None
        Event-time window (``None``: every event time observed, no binning).
    ref : int
        Reference event time (default -1), normalised to zero; must lie in the window.
    endpoints : {"bin", "drop"}
        Bin event times outside the window into the endpoints, or drop those rows.
    fe : list, optional
        Fixed effects (default ``[unit, time]``); entries may be lists for interactions.
    controls, weights : optional
    estimator : {"twfe", "sunab", "cs"}
    freq : {"M", "Q", "A"}, optional
        Period of dates (default monthly for date columns).
    vcov : str or dict
        As in :func:`tradeimpact.models.did` (default CR1 clustered by ``unit``).
    inference : {None, "cr1", "wild", "ri", "ri_t"}
        Headline inference of each event-time coefficient (``result.headline``). ``None``
        (default): for one treated unit with one event date (TWFE), the studentized placebo
        test per event time (``"ri_t"``), CR1 kept in ``pvalues``/``conf_int()``; otherwise CR1
        with the reason. ``"wild"``: restricted wild cluster bootstrap (per coefficient);
        ``"ri"``: coefficient randomization inference as before (placebo band in
        ``extra["ri_band"]``); ``"ri_t"``: studentized RI; the requested methods also replace
        the analytic p-values and intervals of the event-time terms.
    outcome : {"log", "level"}
    cs : dict, optional
        Options for ``att_gt`` (``control_group="never"|"notyet"``).

    Returns
    -------
    EventStudyResult
    """
    frame = to_polars(data)
    fe_list: list[str | Sequence[str]] = [unit, time] if fe is None else list(fe)
    fe_cols = [c for spec in fe_list for c in ([spec] if isinstance(spec, str) else spec)]
    check_columns(
        frame, [y, unit, time, treat_date, event_time, treated, weights, *controls, *fe_cols]
    )
    if sum(a is not None for a in (treat_date, event_time, event_date)) != 1:
        raise ModelSpecError(
            "give exactly one of treat_date (column), event_time (column) or event_date "
            "(with treated)"
        )
    if outcome == "ppml":
        raise ModelSpecError("event_study supports outcome='log' or 'level'")
    if window is not None:
        lo, hi = int(window[0]), int(window[1])
        if lo > hi:
            raise ModelSpecError(f"window {window} is empty")
        if not lo <= ref <= hi:
            raise ModelSpecError(f"reference period {ref} is outside the window [{lo}, {hi}]")
    frame, depvar, drops = prepare_outcome(frame, y, outcome)
    period = to_period(frame[time], freq)
    if event_date is not None:
        if treated is None:
            raise ModelSpecError("event_date needs the 0/1 column 'treated'")
        ev = to_period(pl.Series([event_date]), freq)[0]
        tr = frame[treated].cast(pl.Float64).to_numpy()
        cohort = np.where(tr == 1, ev, np.inf)
    elif treat_date is not None:
        cohort = to_period(frame[treat_date], freq)
        cohort = np.where(np.isnan(cohort), np.inf, cohort)
    else:
        assert event_time is not None
        et = frame[event_time].cast(pl.Float64).to_numpy()
        cohort = np.where(np.isnan(et), np.inf, period - et)
    finite_p = period[np.isfinite(period)]
    if finite_p.size == 0:
        raise ModelSpecError(f"time column '{time}' has no values")
    cohort = np.where(cohort > finite_p.max(), np.inf, cohort)  # treated after the sample
    rel = np.where(np.isfinite(cohort), period - cohort, np.nan)

    sample = np.isfinite(frame["_y"].to_numpy().astype(float)) & np.isfinite(period)
    for c in [unit, weights, *fe_cols, *controls]:
        if c is not None:
            sample &= ~frame[c].is_null().to_numpy()
    drops["missing"] = int((~sample).sum()) - drops.get("zeros_in_log", 0)
    _check_units(frame, unit, cohort, rel, sample)

    if window is not None:
        lo, hi = int(window[0]), int(window[1])
        if endpoints == "bin":
            rel_b = np.clip(rel, lo, hi)
        elif endpoints == "drop":
            outside = np.isfinite(rel) & ((rel < lo) | (rel > hi))
            drops["outside_window"] = int((outside & sample).sum())
            sample &= ~outside
            rel_b = rel
        else:
            raise ModelSpecError(f"endpoints must be 'bin' or 'drop', not {endpoints!r}")
    else:
        rel_b = rel

    est = frame.filter(pl.Series(sample))
    cohort_s, rel_s = cohort[sample], rel_b[sample]
    yv = est["_y"].to_numpy().astype(np.float64)
    wv = None if weights is None else est[weights].cast(pl.Float64).to_numpy()
    xc = (
        np.column_stack([est[c].cast(pl.Float64).to_numpy() for c in controls])
        if controls
        else None
    )
    spec = resolve_vcov(vcov, est, unit=unit, time=time)
    fe_obj = build_fe(est, fe_list)
    f_label = (freq or ("M" if frame[time].dtype == pl.Date else "")).upper()

    if estimator == "cs":
        if controls or inference is not None:
            raise ModelSpecError(
                "estimator='cs' is the unconditional outcome-regression ATT(g,t): no controls; "
                "its inference is the influence-function covariance"
            )
        return _cs(
            est,
            unit,
            period[sample],
            cohort_s,
            weights,
            window,
            ref,
            depvar,
            drops,
            f_label,
            dict(cs or {}),
        )
    if fe_obj is None:
        raise ModelSpecError("event studies need fixed effects (default unit and time)")
    if estimator == "sunab":
        from tradeimpact.models.sunab import sunab_fit

        res = sunab_fit(
            yv,
            cohort_s,
            rel_s,
            controls=xc,
            control_names=list(controls),
            fe=fe_obj,
            weights=wv,
            vcov=spec,
            ref_p=(ref,),
            depvar=depvar,
            dropped=drops,
            freq=f_label,
        )
    elif estimator == "twfe":
        res = _twfe(
            yv, cohort_s, rel_s, xc, list(controls), fe_obj, wv, spec, ref, depvar, drops, f_label
        )
    else:
        raise ModelSpecError(f"estimator must be 'twfe', 'sunab' or 'cs', not {estimator!r}")
    res.extra["frame"] = est
    res.extra["rel"] = rel_s
    res.extra["cohort"] = cohort_s
    res.extra["period"] = period[sample]
    # the call, for the size check (tradeimpact.inference.headline.event_study_size_check)
    res.extra["es_args"] = {
        "y": y, "unit": unit, "time": time, "window": window, "ref": ref,
        "endpoints": endpoints, "fe": fe, "controls": list(controls), "weights": weights,
        "freq": freq, "vcov": vcov, "outcome": outcome,
    }  # fmt: skip
    if inference == "wild":
        _attach_wild(res, dict(wild or {}))
    elif inference == "ri":
        if estimator != "twfe":
            raise ModelSpecError("inference='ri' is implemented for estimator='twfe'")
        _attach_ri(res, est, unit, cohort_s, period[sample], xc, fe_obj, wv, window, endpoints)
    elif inference == "ri_t":
        if estimator != "twfe":
            raise ModelSpecError("inference='ri_t' is implemented for estimator='twfe'")
        _attach_ri(res, est, unit, cohort_s, period[sample], xc, fe_obj, wv, window, endpoints,
                   mode="ri_t")  # fmt: skip
    elif inference is None:
        _default_headline(res, est, unit, cohort_s, period[sample], xc, fe_obj, wv, window,
                          endpoints, estimator)  # fmt: skip
    elif inference != "cr1":
        raise ModelSpecError(
            f"inference must be None, 'cr1', 'wild', 'ri' or 'ri_t', not {inference!r}"
        )
    return res


#: Largest rows x units x event times for which the default headline runs the placebo blocks.
DEFAULT_PLACEBO_LIMIT = 200_000_000


def _default_headline(
    res: EventStudyResult,
    est: pl.DataFrame,
    unit: str,
    cohort: FloatArray,
    period: FloatArray,
    xc: FloatArray | None,
    fe_obj: Any,
    wv: FloatArray | None,
    window: tuple[int, int] | None,
    endpoints: str,
    estimator: str,
) -> None:
    """Studentized RI per event time as headline for one treated unit (CR1 kept in ``pvalues``).

    Two to five treated units or several event dates: the placebo assignment of an event-time
    block is not defined here, and the headline stays CR1 with that reason in ``note``.
    """
    from tradeimpact.models.results import Headline

    why = ""
    keep = res.extra["design"].keep
    n_treated = np.unique(est[unit].to_numpy()[keep][np.isfinite(cohort[keep])]).size
    if estimator != "twfe":
        why = f"estimator={estimator!r}: the placebo test is implemented for TWFE"
    elif n_treated != 1:
        why = (
            f"{n_treated} treated units: the per-event-time placebo test is implemented for one "
            "treated unit with one event date"
        )
    n_units = np.unique(est[unit].to_numpy()[keep]).size
    cost = int(keep.sum()) * n_units * max(1, len(res.event_times))
    if not why and cost > DEFAULT_PLACEBO_LIMIT:
        why = (
            f"{int(keep.sum())} rows x {n_units} units x {len(res.event_times)} event times: too "
            "large to run the placebo blocks unasked; pass inference='ri_t' to run it"
        )
    if not why:
        try:
            _attach_ri(res, est, unit, cohort, period, xc, fe_obj, wv, window, endpoints,
                       mode="ri_t", attach=False)  # fmt: skip
            return
        except ModelSpecError as exc:
            why = f"studentized randomization inference not available here ({exc})"
    for term in (res.event_terms[e] for e in res.event_times):
        res.headlines[term] = Headline.analytic(res, term, note=why)


def _check_units(
    frame: pl.DataFrame,
    unit: str,
    cohort: FloatArray,
    rel: FloatArray,
    sample: npt.NDArray[np.bool_],
) -> None:
    units = frame[unit].to_numpy()[sample]
    coh, rl = cohort[sample], rel[sample]
    treated_rows = np.isfinite(coh)
    if not treated_rows.any():
        raise ModelSpecError("no treated units: no unit has an event date within the sample")
    tab = pl.DataFrame({"u": units, "c": coh, "r": rl})
    per = tab.group_by("u").agg(
        pl.col("c").n_unique().alias("nc"), pl.col("c").first(), pl.col("r").min().alias("rmin")
    )
    varying = per.filter(pl.col("nc") > 1)
    if varying.height:
        raise ModelSpecError(
            f"the event date varies within unit(s) {varying['u'].head(5).to_list()}: it must be "
            "constant within a unit"
        )
    tr = per.filter(pl.col("c").is_finite())
    no_pre = tr.filter(pl.col("rmin") >= 0)["u"].to_list()
    if no_pre:
        raise ModelSpecError(
            f"treated unit(s) {sorted(no_pre, key=str)[:10]} have no pre-event period in the "
            "sample: drop them or extend the sample backwards"
        )
    if tr.height == per.height and tr["c"].n_unique() == 1:
        raise ModelSpecError(
            "no control units: every unit is treated at the same date, so the time effects absorb "
            "the event; add never-treated units"
        )


def _twfe(
    yv: FloatArray,
    cohort: FloatArray,
    rel: FloatArray,
    xc: FloatArray | None,
    control_names: list[str],
    fe_obj: Any,
    wv: FloatArray | None,
    spec: Any,
    ref: int,
    depvar: str,
    drops: dict[str, int],
    freq: str,
) -> EventStudyResult:
    treated = np.isfinite(cohort)
    times = sorted({int(r) for r in rel[treated]} - {ref})
    names = [f"e::{e}" for e in times]
    cols = np.column_stack([(treated & (rel == e)).astype(float) for e in times])
    x = cols if xc is None else np.column_stack([cols, xc])
    res = fit_feols(
        yv,
        x,
        [*names, *control_names],
        fe=fe_obj,
        weights=wv,
        vcov=spec,
        depvar=depvar,
        dropped=drops,
    )
    event_terms = {e: nm for e, nm in zip(times, names, strict=True) if nm in res.names}
    out = EventStudyResult(
        names=res.names,
        beta=res.beta,
        cov_matrix=res.cov_matrix,
        nobs=res.nobs,
        vcov_type=res.vcov_type,
        df_inference=res.df_inference,
        depvar=depvar,
        fixed_effects=res.fixed_effects,
        dropped=res.dropped,
        dropped_regressors=res.dropped_regressors,
        n_clusters=res.n_clusters,
        model=f"TWFE event study, {res.model}",
        extra=res.extra,
        event_terms=event_terms,
        ref=ref,
        freq=freq,
    )
    pre = [event_terms[e] for e in sorted(event_terms) if e < 0]
    out.pretrend = out.wald_test(pre) if pre else None
    post = [event_terms[e] for e in sorted(event_terms) if e >= 0]
    if post:
        wv_ = np.zeros(len(out.names))
        for p in post:
            wv_[out.names.index(p)] = 1 / len(post)
        out.aggregates = {
            "post_mean": float(wv_ @ out.beta),
            "post_mean_se": float(np.sqrt(wv_ @ out.cov_matrix @ wv_)),
        }
    return out


def _cs(
    est: pl.DataFrame,
    unit: str,
    period: FloatArray,
    cohort: FloatArray,
    weights: str | None,
    window: tuple[int, int] | None,
    ref: int,
    depvar: str,
    drops: dict[str, int],
    freq: str,
    options: dict[str, Any],
) -> EventStudyResult:
    """Callaway & Sant'Anna dynamic aggregation (delegated to ``callaway_santanna.att_gt``)."""
    from tradeimpact.models.callaway_santanna import att_gt

    frame = est.with_columns(
        pl.Series("_period", period),
        pl.Series("_cohort", np.where(np.isfinite(cohort), cohort, np.nan)),
    )
    options.setdefault("base_period", "universal")
    res = att_gt(frame, "_y", unit, "_period", "_cohort", weights=weights, **options)
    e, att, sigma = res.event_study_inputs()
    keep = np.ones(e.size, dtype=bool)
    if window is not None:
        keep &= (e >= window[0]) & (e <= window[1])
    keep &= e != ref
    e, att, sigma = e[keep], att[keep], sigma[np.ix_(keep, keep)]
    names = [f"e::{int(k)}" for k in e]
    simple = res.aggregate("simple")
    out = EventStudyResult(
        names=names,
        beta=att,
        cov_matrix=sigma,
        nobs=est.height,
        vcov_type="influence function, clustered by unit (did::aggte)",
        df_inference=None,
        depvar=depvar,
        fixed_effects=[],
        dropped=drops,
        model="Callaway & Sant'Anna (2021) dynamic ATT(e), outcome regression",
        extra={"cs": res},
        event_terms={int(k): nm for k, nm in zip(e, names, strict=True)},
        ref=ref,
        freq=freq,
        aggregates={
            "ATT": float(np.asarray(simple.params)[0]),
            "ATT_se": float(np.asarray(simple.std_errors)[0]),
        },
    )
    pre = [nm for k, nm in zip(e, names, strict=True) if k < 0]
    out.pretrend = out.wald_test(pre) if pre else None
    return out


def _attach_wild(res: EventStudyResult, options: dict[str, Any]) -> None:
    from tradeimpact.inference.wild_bootstrap import wild_cluster_bootstrap

    d = res.extra["design"]
    if not d.clusters:
        raise ModelSpecError("the wild cluster bootstrap needs a clustered vcov")
    if "interactions" in res.extra:
        raise ModelSpecError("inference='wild' is implemented for estimator='twfe'")
    for e in res.event_times:
        term = res.event_terms[e]
        wb = wild_cluster_bootstrap(
            d.x_t, d.y_t, d.clusters[0], term, names=d.names, fe=d.fe, weights=d.weights, **options
        )
        res.attach_inference(term, wb.method, wb)


class _PlaceboTerm:
    """Randomization p-value and placebo interval of one event-time coefficient."""

    def __init__(self, estimate: float, placebo: FloatArray, method: str) -> None:
        self.estimate = estimate
        self.placebo = placebo
        self.method = method

    @property
    def pvalue(self) -> float:
        """``#{p : |b_p| >= |b|} / P`` over all assignments (the actual one included)."""
        tie = 1e-9 * max(abs(self.estimate), 1e-300)
        return float(np.mean(np.abs(self.placebo) >= abs(self.estimate) - tie))

    def conf_int(self, level: float = 0.95) -> tuple[float, float]:
        """``b - [q_{(1+level)/2}, q_{(1-level)/2}]`` of the placebo estimates (Conley-Taber style
        inversion under a constant additive effect)."""
        q_lo, q_hi = np.quantile(self.placebo, [(1 - level) / 2, (1 + level) / 2])
        return float(self.estimate - q_hi), float(self.estimate - q_lo)


def _attach_ri(
    res: EventStudyResult,
    est: pl.DataFrame,
    unit: str,
    cohort: FloatArray,
    period: FloatArray,
    xc: FloatArray | None,
    fe_obj: Any,
    wv: FloatArray | None,
    window: tuple[int, int] | None,
    endpoints: str,
    mode: Literal["ri", "ri_t"] = "ri",
    attach: bool = True,
) -> None:
    """Placebo-in-space for one treated unit: give its event date to each unit in turn.

    Every unit's block of event-time dummies (binned like the actual ones) is estimated jointly
    with the fixed effects and controls by :func:`placebo_in_space` (one projection for all
    placebos). ``mode="ri"`` (coefficient RI, as before): per event time ``e`` the p-value is
    ``#{u : |b_ue| >= |b_e|} / N`` (the actual unit included) and the interval inverts the
    placebo distribution under a constant effect; ``extra["ri_band"]`` is the 2.5%-97.5% band
    of the placebo (control-unit) estimates. ``mode="ri_t"`` (studentized, the default headline):
    ``t_ue = b_ue / s_u`` with ``s_u`` unit ``u``'s residual s.d. in the fit on the rows before
    the event date; p per event time ``#{u : |t_ue| >= |t_e|} / N`` and the interval by exact
    inversion (``b_ue(tau) = b_ue - tau c_ue``, ``c_ue`` the coefficient of the actual unit's
    dummy ``e`` on unit ``u``'s block; see :mod:`tradeimpact.inference.studentized`).
    ``attach=False`` stores the results as headlines only (CR1 stays in ``pvalues``).
    """
    from tradeimpact.inference.randomization import _FWL, placebo_in_space
    from tradeimpact.inference.studentized import StudentizedRandomizationResult
    from tradeimpact.models.absorb import demean
    from tradeimpact.models.results import Headline

    if window is not None and endpoints != "bin":
        raise ModelSpecError("event-study randomization inference needs endpoints='bin'")
    d = res.extra["design"]
    keep = d.keep
    units = est[unit].to_numpy()[keep]
    coh = cohort[keep]
    dates = np.unique(coh[np.isfinite(coh)])
    treated_units = np.unique(units[np.isfinite(coh)])
    if dates.size != 1 or treated_units.size != 1:
        raise ModelSpecError(
            "event-study randomization inference is for one treated unit with one event date"
        )
    times = res.event_times
    n_k = len(times)
    rel_any = period[keep] - dates[0]
    if window is not None:
        rel_any = np.clip(rel_any, window[0], window[1])
    all_units = np.unique(units)
    y_keep = est["_y"].to_numpy().astype(np.float64)[keep]
    actual_rows = (units == treated_units[0]) & np.isfinite(coh)
    actual_cols = [(actual_rows & (rel_any == e)).astype(float) for e in times]
    y_stack = np.column_stack([y_keep, *actual_cols]) if mode == "ri_t" else y_keep
    fe_keep = fe_obj.subset(keep)
    x_keep = None if xc is None else xc[keep]
    w_keep = None if wv is None else wv[keep]
    # placebo blocks in chunks of units so that the dense (n, units x K) matrix stays bounded
    per_chunk = max(1, int(2e7 // max(1, units.size * n_k)))
    parts = []
    for start in range(0, all_units.size, per_chunk):
        chunk = all_units[start : start + per_chunk]
        cols = np.column_stack([((units == u) & (rel_any == e)).astype(float)
                                for u in chunk for e in times])  # fmt: skip
        out = placebo_in_space(y_stack, cols, x_keep, fe_keep, w_keep, n_terms=n_k)
        parts.append(np.asarray(out).reshape(chunk.size, n_k, -1))
    allc = np.concatenate(parts, axis=0)  # (N, K, R)
    coefs = allc[:, :, 0]
    actual = int(np.flatnonzero(all_units == treated_units[0])[0])
    b = np.array([float(res.params[res.event_terms[e]]) for e in times])
    if not np.allclose(coefs[actual], b, rtol=1e-6, atol=1e-9):
        raise ModelSpecError(
            "the placebo design does not reproduce the event-study estimates (check controls)"
        )
    if mode == "ri":
        method = f"randomization inference (placebo-in-space over {all_units.size} units)"
        others = np.delete(coefs, actual, axis=0)
        for k, e in enumerate(times):
            term = _PlaceboTerm(b[k], coefs[:, k], method)
            if attach:
                res.attach_inference(res.event_terms[e], method, term)
        res.extra["ri_band"] = (
            np.quantile(others, 0.025, axis=0),
            np.quantile(others, 0.975, axis=0),
        )
        res.extra["ri_placebo"] = coefs
        return
    # studentized: pre-period-only fit (rows before the event date), residual s.d. per unit
    pre = (period[keep] - dates[0]) < 0
    cols = np.column_stack([y_keep[pre], *([x_keep[pre]] if x_keep is not None else [])])
    dm = demean(cols, fe_keep.subset(pre), None if w_keep is None else w_keep[pre])
    e_pre = _FWL(dm[:, 0], dm[:, 1:], None if w_keep is None else w_keep[pre]).y_tt[:, 0]
    wp = np.ones(int(pre.sum())) if w_keep is None else w_keep[pre]
    ucode = np.searchsorted(all_units, units)
    ss = np.bincount(ucode[pre], weights=wp * e_pre**2, minlength=all_units.size)
    ws = np.bincount(ucode[pre], weights=wp, minlength=all_units.size)
    if (ws <= 0).any() or (ss <= 0).any():
        bad = all_units[int(np.flatnonzero((ws <= 0) | (ss <= 0))[0])]
        raise ModelSpecError(
            f"unit {bad!r} has no pre-event row or no residual variation before the event: the "
            "studentized placebo test needs every unit's pre-period scale"
        )
    s_u = np.sqrt(ss / ws)
    method = (
        "studentized randomization inference (RI-t, pre-period residual s.d.; MacKinnon-Webb "
        f"2020), placebo-in-space over {all_units.size} units, per event time"
    )
    names = [str(u) for u in all_units]
    for k, e in enumerate(times):
        term_name = res.event_terms[e]
        t_stat = coefs[:, k] / s_u
        tol = 1e-9 * max(1.0, abs(t_stat[actual]))
        numer = int((np.abs(t_stat) >= abs(t_stat[actual]) - tol).sum())
        r = StudentizedRandomizationResult(
            estimate=float(b[k]),
            statistic=float(t_stat[actual]),
            scale="pre_sd",
            placebo=pl.DataFrame(
                {
                    "assignment": names,
                    "estimate": coefs[:, k],
                    "scale": s_u,
                    "statistic": t_stat,
                    "is_actual": np.arange(all_units.size) == actual,
                }
            ),
            p_numerator=numer,
            p_denominator=int(all_units.size),
            exact=True,
            rule="p = #{units u with |b_ue / s_u| >= |b_e / s|} / #{units}, actual included",
            treated=[treated_units[0]],
            nobs=int(units.size),
            method=method,
            _cross=np.asarray(allc[:, k, 1 + k], dtype=np.float64),
            _actual=actual,
        )
        if attach:
            res.attach_inference(term_name, method, r)
        res.headlines[term_name] = Headline.of(res, term_name, r, method_key="ri_t")
    res.extra["ri_t_placebo"] = coefs / s_u[:, None]


__all__ = ["CollinearityWarning", "event_study", "to_period"]
