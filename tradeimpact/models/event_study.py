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

from tradeimpact.core.collinearity import CollinearityWarning
from tradeimpact.core.frame import check_columns, numeric_column, to_polars
from tradeimpact.errors import ModelSpecError
from tradeimpact.models.did import Outcome, cluster_vcov, prepare_outcome
from tradeimpact.models.event_time import (
    apply_window,
    check_event_units,
    relative_time,
    row_cohorts,
    to_period,
    twfe_event_result,
)
from tradeimpact.models.linear import VcovArg, build_fe, fit_feols, resolve_vcov
from tradeimpact.models.results import EventStudyDesign, EventStudyResult

FloatArray = npt.NDArray[np.float64]
Freq = Literal["M", "Q", "A", "Y"]


def event_study(
    data: Any,
    y: str,
    unit: str,
    time: str,
    *,
    cohort: str | None = None,
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
    vcov: VcovArg | None = None,
    cluster: str | Sequence[str] | None = None,
    inference: Literal["cr1", "wild", "ri", "ri_t", "ri_staggered"] | None = None,
    outcome: Outcome = "level",
    cs: Mapping[str, Any] | None = None,
    wild: Mapping[str, Any] | None = None,
    ri: Mapping[str, Any] | None = None,
) -> EventStudyResult:
    """Event-study regression around one or several (staggered) event dates.

    Formula and references: see the module docstring (TWFE; Sun & Abraham 2021, J. Econometrics
    225(2); Callaway & Sant'Anna 2021, J. Econometrics 225(2)).

    Parameters
    ----------
    data : polars or pandas frame, or Ibis table
        An Ibis table (DuckDB, PySpark, ...) is computed by its engine
        (:func:`tradeimpact.models.event_study_ibis.event_study_ibis`: TWFE with ``cohort=`` or
        ``event_date=``, the analytic CR1 headline); the options that need the rows in memory
        (``estimator="sunab"``/``"cs"``, ``event_time=``, ``inference="wild"``/``"ri"``/...)
        raise :class:`~tradeimpact.errors.ModelSpecError` asking to collect the table first.
    y, unit, time : str
        Outcome, unit and time columns (time: a date, or an integer period; ``y`` numeric).
    cohort : str, optional
        Column with each unit's first treated period (the name fixest, pyfixest and R's did
        use), in the units of ``time`` (a date or a period number). Never-treated units may be
        coded **0, inf or null** (:mod:`tradeimpact.core.cohort`; a date after the sample also
        counts as never treated within it).
    treat_date : str, optional
        The former name of ``cohort``, accepted as an alias (no warning: the same column, the
        same rule); give one of the two.
    event_time : str, optional
        Alternatively, a column of event time already computed (null for never-treated units).
    treated, event_date : str and scalar, optional
        Alternatively, one event date for the units whose 0/1 column ``treated`` is 1.
    window : (a, b) or None
        Event-time window (``None``: every event time observed, no binning).
    ref : int
        Reference event time (default -1), normalised to zero; must lie in the window. (With
        ``estimator="cs"`` and ``cs={"base_period": "varying"}`` there is no reference period:
        ``e = ref`` is estimated too and the result's ``ref`` is None.)
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
    cluster : str or list of str, optional
        Shorthand for ``vcov={"CR1": cluster}``; not with ``vcov``.
    inference : {None, "cr1", "wild", "ri", "ri_t", "ri_staggered"}
        Headline inference of each event-time coefficient (``result.headline``). ``None``
        (default): for one treated unit with one event date (TWFE), the studentized placebo
        test per event time (``"ri_t"``), CR1 kept in ``pvalues``/``conf_int()``; otherwise CR1
        with the reason. ``"wild"``: restricted wild cluster bootstrap (per coefficient);
        ``"ri"``: coefficient randomization inference as before (placebo band in
        ``extra["ri_band"]``); ``"ri_t"``: studentized RI; the requested methods also replace
        the analytic p-values and intervals of the event-time terms. ``"ri_staggered"``: the
        randomization test of staggered designs (the cohorts' dates re-assigned across units,
        :func:`tradeimpact.inference.staggered_randomization_inference`), a test of the overall
        effect (Sun-Abraham's / Callaway-Sant'Anna's simple ATT, or the static TWFE
        coefficient), kept under that name (``result.headline_of("ATT")``) with the event-time
        coefficients left analytic. Each is the same as
        ``event_study(..., inference="cr1").with_inference(method, **options)``.
    outcome : {"level", "log"}
        ``"level"`` (default: the outcome as it is, as fixest and pyfixest) or ``"log"`` (OLS on
        ``log(y)``, zeros dropped and counted). Before issue 13 the default was ``"log"``.
    cs : dict, optional
        Options for ``att_gt`` (``control_group="never"|"notyet"``).
    wild, ri : dict, optional
        Options of the ``"wild"`` and of the ``"ri"``/``"ri_t"``/``"ri_staggered"`` methods
        (e.g. ``ri={"n_permutations": 999, "seed": 1}``), as ``did``'s.

    Returns
    -------
    EventStudyResult
    """
    from tradeimpact.core.ibis_engine import is_ibis_table

    if is_ibis_table(data):  # computed by the table's engine (tradeimpact.models.event_study_ibis)
        from tradeimpact.models.event_study_ibis import event_study_ibis

        if cohort is not None and treat_date is not None and cohort != treat_date:
            raise ModelSpecError(
                f"give cohort= (or its former name treat_date=), not both: cohort={cohort!r}, "
                f"treat_date={treat_date!r}"
            )
        if sum(a is not None for a in (cohort or treat_date, event_time, event_date)) != 1:
            raise ModelSpecError(
                "give exactly one of cohort (column of first treated periods; never-treated coded "
                "0, inf or null), event_time (column) or event_date (with treated)"
            )
        for opt, val in (("cs", cs), ("wild", wild), ("ri", ri)):
            if val:
                raise ModelSpecError(
                    f"{opt}= options are not offered on an Ibis table (they belong to methods "
                    "that need the rows in memory): collect the table first (table.to_polars())"
                )
        return event_study_ibis(
            data, y, unit, time, cohort=cohort if cohort is not None else treat_date,
            event_time=event_time, treated=treated, event_date=event_date, window=window,
            ref=ref, endpoints=endpoints, fe=fe, controls=controls, weights=weights,
            estimator=estimator, freq=freq, vcov=cluster_vcov(vcov, cluster) or "CR1",
            inference=inference, outcome=outcome,
        )  # fmt: skip
    frame = to_polars(data)
    if cohort is not None and treat_date is not None and cohort != treat_date:
        raise ModelSpecError(
            f"give cohort= (or its former name treat_date=), not both: cohort={cohort!r}, "
            f"treat_date={treat_date!r}"
        )
    cohort_col = cohort if cohort is not None else treat_date
    vcov = cluster_vcov(vcov, cluster)
    if vcov is None:
        vcov = "CR1"
    fe_list: list[str | Sequence[str]] = [unit, time] if fe is None else list(fe)
    fe_cols = [c for spec in fe_list for c in ([spec] if isinstance(spec, str) else spec)]
    check_columns(
        frame, [y, unit, time, cohort_col, event_time, treated, weights, *controls, *fe_cols]
    )
    if sum(a is not None for a in (cohort_col, event_time, event_date)) != 1:
        raise ModelSpecError(
            "give exactly one of cohort (column of first treated periods; never-treated coded "
            "0, inf or null), event_time (column) or event_date (with treated)"
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
        tr = numeric_column(frame, treated, "0/1 indicator")
        coh = np.where(tr == 1, ev, np.inf)
    elif cohort_col is not None:
        # the one never-treated rule (core.cohort): 0, +-inf, NaN or null; constant per unit
        coh = row_cohorts(frame, unit, time, cohort_col, freq)
    else:
        assert event_time is not None
        et = numeric_column(frame, event_time, "event time")
        coh = np.where(np.isnan(et), np.inf, period - et)
    finite_p = period[np.isfinite(period)]
    if finite_p.size == 0:
        raise ModelSpecError(f"time column '{time}' has no values")
    coh = np.where(coh > finite_p.max(), np.inf, coh)  # treated after the sample
    rel = relative_time(period, coh)

    sample = np.isfinite(frame["_y"].to_numpy().astype(float)) & np.isfinite(period)
    for c in [unit, weights, *fe_cols, *controls]:
        if c is not None:
            sample &= ~frame[c].is_null().to_numpy()
    drops["missing"] = int((~sample).sum()) - drops.get("zeros_in_log", 0)
    check_event_units(frame[unit].to_numpy(), coh, rel, sample)
    rel_b, sample = apply_window(rel, window, endpoints, sample, drops)

    # every row in the sample: the frame itself (a filter would copy every column)
    est = frame if bool(sample.all()) else frame.filter(pl.Series(sample))
    cohort_s, rel_s = coh[sample], rel_b[sample]
    yv = est["_y"].to_numpy().astype(np.float64)
    wv = None if weights is None else numeric_column(est, weights, "weights")
    xc = (
        np.column_stack([numeric_column(est, c, "control") for c in controls]) if controls else None
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
    res: EventStudyResult
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
            # each row's unit: the cohort sizes of aggregate("group")'s overall (as sunab())
            units=est[unit].to_numpy(),
        )
    elif estimator == "twfe":
        res = _twfe(
            yv, cohort_s, rel_s, xc, list(controls), fe_obj, wv, spec, ref, depvar, drops, f_label
        )
    else:
        raise ModelSpecError(f"estimator must be 'twfe', 'sunab' or 'cs', not {estimator!r}")
    # the design record: what the inference layer reruns (placebo blocks, bootstrap, size check)
    res.design_record = EventStudyDesign(
        frame=est, y=y, unit=unit, time=time, cohort=cohort_s, period=period[sample],
        rel=rel_s, window=window, ref=ref, endpoints=endpoints, fe=fe,
        controls=list(controls), weights=weights, freq=freq, vcov=vcov, outcome=outcome,
        estimator=estimator, fixed_effects=fe_obj, controls_x=xc, weights_x=wv,
    )  # fmt: skip
    res.extra["frame"] = est
    res.extra["rel"] = rel_s
    res.extra["cohort"] = cohort_s
    res.extra["period"] = period[sample]
    res.extra["es_args"] = res.design_record.args()
    if inference not in (None, "cr1", "wild", "ri", "ri_t", "ri_staggered"):
        raise ModelSpecError(
            f"inference must be None, 'cr1', 'wild', 'ri', 'ri_t' or 'ri_staggered', not "
            f"{inference!r}"
        )
    if inference != "cr1":
        # the inference layer runs the method, found by name (models import nothing from it)
        res._set_inference(inference, dict((wild if inference == "wild" else ri) or {}))
    return res


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
    times = [int(r) for r in np.unique(rel[treated]) if int(r) != ref]
    names = [f"e::{e}" for e in times]
    # built column by column in Fortran order and handed over to fit_feols, which demeans it in
    # place: the event-time dummies are the only dense copy of the design (issue 16)
    n_r, n_c = rel.size, len(times) + (0 if xc is None else xc.shape[1])
    x = np.zeros((n_r, n_c), order="F")
    if times:  # one 1 per treated row at its event time's column (one pass, not one per column)
        t_arr = np.asarray(times, dtype=np.float64)
        pos = np.minimum(np.searchsorted(t_arr, rel), len(times) - 1)
        rows = np.flatnonzero(treated & (t_arr[pos] == rel))
        x.reshape(-1, order="F")[pos[rows] * n_r + rows] = 1.0
    if xc is not None:
        x[:, len(times) :] = xc
    res = fit_feols(
        yv,
        x,
        [*names, *control_names],
        fe=fe_obj,
        weights=wv,
        vcov=spec,
        depvar=depvar,
        dropped=drops,
        overwrite_x=True,
    )
    out = twfe_event_result(res, times, names, depvar=depvar, ref=ref, freq=freq)
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
    """Callaway & Sant'Anna dynamic aggregation (delegated to ``callaway_santanna.att_gt``).

    The base period is universal by default (every ATT(e) against ``e = ref``, the event-study
    normalisation this function shares with TWFE and Sun-Abraham), where R did's ``att_gt``
    defaults to varying (each pre-period ATT against the period before it): the pre-period
    coefficients differ (mpdta, e = -3: did 0.0305 with varying). The model label of the result
    says which one was used; ``cs={"base_period": "varying"}`` gives did's: then every event time
    is a short difference against its own base period, ``e = -1`` has an estimate like the others
    (did's ``aggte(type = "dynamic")`` prints it) and the result has no reference period
    (``ref=None``: no normalised row in ``event_table()``, no reference marker in ``plot()``).
    """
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
    varying = options["base_period"] == "varying"
    if not varying:
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
        model=(
            "Callaway & Sant'Anna (2021) dynamic ATT(e), outcome regression, "
            + (
                f"universal base period (e = {ref}; R did's default is varying: "
                "cs={'base_period': 'varying'})"
                if options["base_period"] == "universal"
                else "varying base period (as R did: every event time against its own base "
                "period, e = -1 included; no reference period)"
            )
        ),
        extra={"cs": res},
        event_terms={int(k): nm for k, nm in zip(e, names, strict=True)},
        ref=None if varying else ref,
        freq=freq,
        aggregates={
            "ATT": float(np.asarray(simple.params)[0]),
            "ATT_se": float(np.asarray(simple.std_errors)[0]),
        },
    )
    pre = [nm for k, nm in zip(e, names, strict=True) if k < 0]
    out.pretrend = out.wald_test(pre) if pre else None
    return out


__all__ = ["CollinearityWarning", "event_study", "to_period"]
