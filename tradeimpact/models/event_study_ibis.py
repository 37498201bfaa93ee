"""The TWFE event study on an Ibis table, computed by its engine.

The model of :func:`tradeimpact.models.event_study` with ``estimator="twfe"``::

    g(y_it) = sum_{e in [a, b], e != ref} beta_e 1[t - E_i = e] + X_it' gamma + alpha_i + lambda_t + e_it

with the same rules (:mod:`tradeimpact.models.event_time`, :mod:`tradeimpact.core.cohort`):
the period index of the time column (numbers as they are; dates as months, quarters or years),
each unit's cohort ``E_i`` with never-treated units coded 0, inf or null (0 refused when the
time column has periods before 0; a cohort after the last period is never treated within the
sample), the cohort constant within a unit, endpoints binned (Schmidheiny & Siegloch 2023, J.
Applied Econometrics 38(5)) or dropped, the reference period left out, a treated unit without a
pre-event row refused. The relative time, the window and the indicator columns are Ibis
expressions; the fit is :func:`tradeimpact.models.engines.feols_ibis` (only ``k x k`` matrices
and per-cluster aggregates reach Python), so the result equals the in-memory one.

What needs the rows in Python is refused with the option named: ``estimator="sunab"``/``"cs"``,
``event_time=``, the placebo and bootstrap inference (``inference="wild"``, ``"ri"``,
``"ri_t"``, ``"ri_staggered"``), ``outcome="ppml"``.

References
----------
Freyaldenhoven, Hansen, Perez & Shapiro (2021), "Visualization, identification, and estimation
in the linear panel event-study design", NBER WP 29170; Schmidheiny & Siegloch (2023).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import polars as pl

from tradeimpact.core.cohort import NEVER_TREATED_RULE, period_index
from tradeimpact.core.collinearity import CollinearityWarning
from tradeimpact.core.covariance import parse_vcov
from tradeimpact.core.ibis_engine import _numeric, check_ibis_columns
from tradeimpact.errors import ModelSpecError
from tradeimpact.models.engines import ENGINE_HEADLINE_NOTE, feols_ibis
from tradeimpact.models.event_time import twfe_event_result
from tradeimpact.models.results import EventStudyResult, Headline

__all__ = ["event_study_ibis"]

_COLLECT = "collect the table first (table.to_polars()) and call event_study on the frame"


def _refuse(option: str, why: str) -> ModelSpecError:
    return ModelSpecError(
        f"event_study() on an Ibis table does not offer {option}: {why}; {_COLLECT}"
    )


def _period(table: Any, col: Any, freq: str | None, name: str) -> Any:
    """The period index of a time or cohort column as a float64 expression (``period_index``)."""
    dt = col.type()
    if dt.is_date() or dt.is_timestamp():
        f = (freq or "M").upper()
        yr = col.year().cast("float64")
        mo = col.month().cast("float64")
        if f == "M":
            return yr * 12 + mo - 1
        if f == "Q":
            return yr * 4 + ((mo - 1) / 3).floor()
        if f in ("A", "Y"):
            return yr
        raise ModelSpecError(f"freq must be 'M', 'Q' or 'A', not {freq!r}")
    if dt.is_numeric() or dt.is_boolean():
        return col.cast("float64")
    raise ModelSpecError(f"{name} column must be a date or a number, not {dt}")


def _one(expr: Any) -> dict[str, Any]:
    return dict(expr.to_pyarrow().to_pylist()[0])


def _col_name(e: int) -> str:
    return f"_es_m{-e}" if e < 0 else f"_es_p{e}"


def event_study_ibis(
    table: Any,
    y: str,
    unit: str,
    time: str,
    *,
    cohort: str | None,
    event_time: str | None,
    treated: str | None,
    event_date: Any,
    window: tuple[int, int] | None,
    ref: int,
    endpoints: str,
    fe: Sequence[str | Sequence[str]] | None,
    controls: Sequence[str],
    weights: str | None,
    estimator: str,
    freq: str | None,
    vcov: Any,
    inference: str | None,
    outcome: str,
) -> EventStudyResult:
    """:func:`tradeimpact.models.event_study` (TWFE) on an Ibis table, computed by its engine.

    Same arguments, rules and result as the in-memory ``event_study`` (module docstring for the
    formula); ``vcov`` as already merged with ``cluster=`` (default CR1 by ``unit``).

    Parameters
    ----------
    table : ibis.expr.types.Table
        The panel (DuckDB, PySpark, ... through Ibis).
    y, unit, time, cohort, event_time, treated, event_date, window, ref, endpoints, fe, \
controls, weights, estimator, freq, vcov, inference, outcome
        As :func:`tradeimpact.models.event_study`.

    Returns
    -------
    EventStudyResult
        ``extra["engine"]`` names the backend; no row-level design (``design_record`` is None).

    Raises
    ------
    ModelSpecError
        The errors of the in-memory ``event_study`` (columns absent, no treated units, a cohort
        varying within a unit, a treated unit without pre-event row, no control units, the
        window), and the options that need the rows in memory (named, with what to do).
    """
    import ibis

    if estimator != "twfe":
        if estimator in ("sunab", "cs"):
            raise _refuse(
                f"estimator={estimator!r}",
                "its cohort-by-period cells and aggregation are computed on the rows in memory",
            )
        raise ModelSpecError(f"estimator must be 'twfe', 'sunab' or 'cs', not {estimator!r}")
    if inference not in (None, "cr1"):
        if inference in ("wild", "ri", "ri_t", "ri_staggered"):
            raise _refuse(
                f"inference={inference!r}",
                "the bootstrap and placebo tests refit on the rows in memory (the analytic CR1 "
                "test, inference=None or 'cr1', is computed by the engine)",
            )
        raise ModelSpecError(
            f"inference must be None, 'cr1', 'wild', 'ri', 'ri_t' or 'ri_staggered', not "
            f"{inference!r}"
        )
    if event_time is not None:
        raise _refuse(
            "event_time=", "give the cohort (first treated period) column as cohort= instead"
        )
    if outcome not in ("level", "log"):
        if outcome == "ppml":
            raise ModelSpecError("event_study supports outcome='log' or 'level'")
        raise ModelSpecError(f"outcome must be 'level', 'log' or 'ppml', not {outcome!r}")
    if endpoints not in ("bin", "drop"):
        raise ModelSpecError(f"endpoints must be 'bin' or 'drop', not {endpoints!r}")
    fe_list: list[str | Sequence[str]] = [unit, time] if fe is None else list(fe)
    if not fe_list:
        raise ModelSpecError("event studies need fixed effects (default unit and time)")
    fe_cols = [c for spec in fe_list for c in ([spec] if isinstance(spec, str) else spec)]
    check_ibis_columns(table, [y, unit, time, cohort, treated, weights, *controls, *fe_cols])

    # the outcome (prepare_outcome): log turns zeros into missing values, counted
    yv = _numeric(table, y, "outcome")
    drops: dict[str, int] = {}
    depvar = y
    if outcome == "log":
        got = _one(
            table.aggregate(neg=(yv < 0).cast("int64").sum(), zero=(yv == 0).cast("int64").sum())
        )
        if got["neg"]:
            raise ModelSpecError(
                f"column '{y}' has {got['neg']} negative value(s): trade values cannot be "
                "negative; for an outcome in levels pass outcome='level'"
            )
        drops["zeros_in_log"] = int(got["zero"] or 0)
        y_expr = (yv > 0).ifelse(yv.ln(), ibis.null("float64"))
        depvar = f"log({y})"
    else:
        y_expr = yv
    table = table.mutate(
        _y=y_expr, _period=_period(table, table[time], freq, f"time column '{time}'")
    )
    stats = _one(table.aggregate(pmin=table._period.min(), pmax=table._period.max()))
    if stats["pmax"] is None:
        raise ModelSpecError(f"time column '{time}' has no values")
    pmin, pmax = float(stats["pmin"]), float(stats["pmax"])

    # each row's cohort in the period index; never treated: null (core.cohort's rule)
    if event_date is not None:
        if treated is None:
            raise ModelSpecError("event_date needs the 0/1 column 'treated'")
        ev = float(period_index(pl.Series([event_date]), freq)[0])
        tr = _numeric(table, treated, "0/1 indicator")
        coh = (tr == 1).ifelse(ibis.literal(ev), ibis.null("float64"))
    elif cohort is not None:
        raw = table[cohort]
        is_num = raw.type().is_numeric()
        if is_num != (table[time].type().is_numeric()):
            raise ModelSpecError(
                f"cohort column {cohort!r} ({raw.type()}) and time column {time!r} "
                f"({table[time].type()}) must both be dates or both numbers"
            )
        c = _period(table, raw, freq, f"cohort column {cohort!r}")
        never = c.isnull() | c.isnan() | c.isinf()
        if is_num:
            zero = raw.cast("float64") == 0
            if pmin < 0:
                n0 = _one(table.aggregate(n=zero.cast("int64").sum()))["n"]
                if n0:
                    raise ModelSpecError(
                        f"cohort column {cohort!r} holds 0 while the time column {time!r} has "
                        f"periods before 0 ({pmin:g}): 0 could be a real first treated period; "
                        "code never-treated units as inf or null"
                    )
            never = never | zero
        coh = never.ifelse(ibis.null("float64"), c)
    else:
        raise ModelSpecError(
            "give exactly one of cohort (column of first treated periods; never-treated coded "
            "0, inf or null), event_time (column) or event_date (with treated)"
        )
    # a cohort after the last period: never treated within the sample
    coh = (coh > pmax).ifelse(ibis.null("float64"), coh)
    table = table.mutate(_cohort=coh)
    table = table.mutate(_rel=table._period - table._cohort)

    # the sample: outcome finite, period present, labels/weights/controls present
    good = table._y.notnull() & ~table._y.isnan() & ~table._y.isinf() & table._period.notnull()
    for col in [unit, weights, *fe_cols, *controls]:
        if col is not None:
            good = good & table[col].notnull()
    n_all = int(table.count().to_pyarrow().as_py())
    est = table.filter(good)
    n_good = int(est.count().to_pyarrow().as_py())
    drops["missing"] = n_all - n_good - drops.get("zeros_in_log", 0)

    # check_event_units, as engine aggregates
    by = est.group_by(unit).aggregate(
        nc=est._cohort.nunique(),
        nnull=est._cohort.isnull().cast("int64").sum(),
        n=est.count(),
        c=est._cohort.max(),
        rmin=est._rel.min(),
    )
    varying = by.filter((by.nc > 1) | ((by.nc == 1) & (by.nnull > 0) & (by.nnull < by.n)))
    bad = varying.select(unit).order_by(unit).limit(5).to_pyarrow().column(0).to_pylist()
    if bad:
        raise ModelSpecError(
            f"the event date varies within unit(s) {bad}: it must be constant within a unit "
            f"({NEVER_TREATED_RULE}, all read as never treated)"
        )
    summ = _one(
        by.aggregate(n=by.count(), nt=by.c.notnull().cast("int64").sum(), nd=by.c.nunique())
    )
    if not summ["nt"]:
        raise ModelSpecError(
            f"no treated units: no unit has an event date within the sample ({NEVER_TREATED_RULE})"
        )
    no_pre = by.filter(by.c.notnull() & (by.rmin >= 0)).select(unit).to_pyarrow().column(0)
    no_pre_l = no_pre.to_pylist()
    if no_pre_l:
        raise ModelSpecError(
            f"treated unit(s) {sorted(no_pre_l, key=str)[:10]} have no pre-event period in the "
            "sample: drop them or extend the sample backwards (if they are never treated, code "
            f"them so: {NEVER_TREATED_RULE})"
        )
    if summ["nt"] == summ["n"] and summ["nd"] == 1:
        raise ModelSpecError(
            "no control units: every unit is treated at the same date, so the time effects absorb "
            "the event; add never-treated units"
        )

    # the window (apply_window): bin into the endpoints, or drop treated rows outside
    if window is not None:
        lo, hi = int(window[0]), int(window[1])
        if lo > hi:
            raise ModelSpecError(f"window {window} is empty")
        if not lo <= ref <= hi:
            raise ModelSpecError(f"reference period {ref} is outside the window [{lo}, {hi}]")
        if endpoints == "bin":
            est = est.mutate(_rel=est._rel.clip(lower=lo, upper=hi))
        else:
            outside = est._rel.notnull() & ((est._rel < lo) | (est._rel > hi))
            drops["outside_window"] = int(
                _one(est.aggregate(n=outside.cast("int64").sum()))["n"] or 0
            )
            est = est.filter(~outside.fill_null(False))
    rels = est.filter(est._rel.notnull()).select(r=est._rel).distinct().to_pyarrow()
    times = sorted({int(r) for r in rels.column("r").to_pylist()} - {ref})
    cols = [_col_name(e) for e in times]
    names = [f"e::{e}" for e in times]
    est = est.mutate(
        **{
            c: (est._rel == float(e)).fill_null(False).cast("float64")
            for c, e in zip(cols, times, strict=True)
        }
    )

    spec = parse_vcov(vcov, unit=unit, time=time, fe=[], small_sample="fixest")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CollinearityWarning)
        res = feols_ibis(
            est, "_y", [*cols, *controls], fe=fe_list, weights=weights, vcov=spec,
            dropped=drops, depvar=depvar,
        )  # fmt: skip
    rename = dict(zip(cols, names, strict=True))
    res.names = [rename.get(n, n) for n in res.names]
    res.dropped_regressors = [rename.get(n, n) for n in res.dropped_regressors]
    for w in caught:
        if issubclass(w.category, CollinearityWarning):
            msg = str(w.message)
            for c, nm in rename.items():
                msg = msg.replace(c, nm)
            warnings.warn(msg, CollinearityWarning, stacklevel=3)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    f_label = (freq or ("M" if table[time].type().is_date() else "")).upper()
    out = twfe_event_result(res, times, names, depvar=depvar, ref=ref, freq=f_label)
    event_terms = out.event_terms
    note = ENGINE_HEADLINE_NOTE if inference is None else "requested (inference='cr1')"
    for nm in event_terms.values():
        out.headlines[nm] = Headline.analytic(out, nm, note=note)
    return out
