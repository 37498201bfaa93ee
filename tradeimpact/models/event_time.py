"""Event time: the period index, each row's cohort and relative period, the window, the checks.

What every event-study estimator (TWFE ``event_study``, Sun & Abraham ``sunab``) builds before
fitting, in one place below them (``event_study`` and ``sunab`` both import this module and not
each other):

* :func:`to_period` - the integer period index of a time column (months ``12*year + month - 1``,
  quarters, years; numbers as they are);
* :func:`row_cohorts` - each row's cohort (first treated period) in that index, with the one
  never-treated rule of :mod:`tradeimpact.core.cohort` (0, inf or null; a cohort after the last
  period is never treated within the sample) and the check that it is constant within a unit;
* :func:`relative_time` - ``r_it = t - C_i`` (NaN for never-treated units);
* :func:`apply_window` - binning (Schmidheiny & Siegloch 2023) or dropping event times outside a
  window ``[a, b]``;
* :func:`check_event_units` - a treated unit needs a pre-event row; there must be a comparison.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from tradeimpact.core.cohort import (
    NEVER_TREATED_RULE,
    check_constant_within,
    cohort_values,
    period_index,
)
from tradeimpact.errors import ModelSpecError
from tradeimpact.models.results import EventStudyResult, RegressionResult

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

__all__ = ["apply_window", "check_event_units", "relative_time", "row_cohorts", "to_period"]


def to_period(s: pl.Series, freq: str | None) -> FloatArray:
    """Integer period index of a time column (see :func:`tradeimpact.core.cohort.period_index`).

    Dates/datetimes: months ``12*year + month - 1`` (``"M"``, the default), quarters
    ``4*year + quarter - 1`` (``"Q"``) or years (``"A"``/``"Y"``). Numbers are used as they are
    (already consecutive periods, e.g. years or a month counter). Nulls give NaN.
    """
    return period_index(s, freq)


def row_cohorts(
    frame: pl.DataFrame, unit: str, time: str, cohort: str, freq: str | None = None
) -> FloatArray:
    """Each row's cohort (first treated period) in the period index of ``time``; ``inf`` = never.

    The never-treated codes 0, inf and null (and cohorts after the last period) all become
    ``inf`` (:func:`tradeimpact.core.cohort.cohort_values`); a cohort that varies within a unit
    raises :class:`~tradeimpact.errors.ModelSpecError` naming the unit.
    """
    values = cohort_values(frame, cohort, time, freq=freq)
    check_constant_within(frame, cohort, unit, values=values)
    return np.asarray(values.to_numpy(), dtype=np.float64)


def relative_time(period: FloatArray, cohort: FloatArray) -> FloatArray:
    """Relative period ``t - C_i`` of each row; NaN for never-treated rows (``C_i = inf``)."""
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(cohort), period - cohort, np.nan)


def apply_window(
    rel: FloatArray,
    window: tuple[int, int] | None,
    endpoints: Literal["bin", "drop"],
    sample: BoolArray,
    drops: dict[str, int],
) -> tuple[FloatArray, BoolArray]:
    """Event times outside ``window = (a, b)``: binned into the endpoints, or dropped.

    ``"bin"`` pools event times below ``a`` into ``a`` and above ``b`` into ``b`` (Schmidheiny &
    Siegloch 2023, J. Applied Econometrics 38(5)); ``"drop"`` removes those treated-unit rows
    from ``sample`` and counts them in ``drops["outside_window"]``. ``window=None`` keeps every
    event time. Returns the (binned) relative time and the sample.
    """
    if window is None:
        return rel, sample
    lo, hi = int(window[0]), int(window[1])
    if endpoints == "bin":
        return np.clip(rel, lo, hi), sample
    if endpoints == "drop":
        outside = np.isfinite(rel) & ((rel < lo) | (rel > hi))
        drops["outside_window"] = int((outside & sample).sum())
        return rel, sample & ~outside
    raise ModelSpecError(f"endpoints must be 'bin' or 'drop', not {endpoints!r}")


def check_event_units(
    units: npt.NDArray[np.generic],
    cohort: FloatArray,
    rel: FloatArray,
    sample: BoolArray,
) -> None:
    """The sample rules of an event study (``units``, ``cohort``, ``rel`` row-aligned).

    Raises :class:`~tradeimpact.errors.ModelSpecError` when no unit is treated within the
    sample, when the event date varies within a unit, when a treated unit has no pre-event row
    (its effect cannot be separated from its unit effect; the message recalls the never-treated
    coding, the usual cause), or when every unit is treated at the same date (no comparison).
    """
    coh, rl = cohort[sample], rel[sample]
    if not np.isfinite(coh).any():
        raise ModelSpecError(
            f"no treated units: no unit has an event date within the sample ({NEVER_TREATED_RULE})"
        )
    tab = pl.DataFrame({"u": units[sample], "c": coh, "r": rl})
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
            "sample: drop them or extend the sample backwards (if they are never treated, code "
            f"them so: {NEVER_TREATED_RULE})"
        )
    if tr.height == per.height and tr["c"].n_unique() == 1:
        raise ModelSpecError(
            "no control units: every unit is treated at the same date, so the time effects absorb "
            "the event; add never-treated units"
        )


def twfe_event_result(
    res: RegressionResult,
    times: list[int],
    names: list[str],
    *,
    depvar: str,
    ref: int,
    freq: str,
) -> EventStudyResult:
    """The TWFE event study's result from its regression ``res`` (in memory or on an engine):
    the event-time terms that survived, the pre-trend Wald test on the pre-event terms and the
    mean of the post-event terms (``aggregates["post_mean"]`` with its standard error)."""
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
        wv = np.zeros(len(out.names))
        for p in post:
            wv[out.names.index(p)] = 1 / len(post)
        out.aggregates = {
            "post_mean": float(wv @ out.beta),
            "post_mean_se": float(np.sqrt(wv @ out.cov_matrix @ wv)),
        }
    return out
