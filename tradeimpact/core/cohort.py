"""The cohort column: the first treated period of each unit, and the never-treated rule.

One rule for every staggered estimator (``did``, ``event_study``, ``sunab``, ``att_gt``): a
unit's ``cohort`` is the first period in which it is treated, in the units of the time column
(a number such as a year or a period counter, or a date), and a unit that is never treated may be
coded **0, infinity or null** (NaN too), as R's ``did`` (0), fixest's ``sunab`` (any value
outside the periods, often ``Inf`` or 10000) and pyfixest users do. A cohort of 0 is read as
never treated even when the time column contains 0: a unit treated from period 0 has no
pre-period and identifies nothing in these designs. The cohort must be constant within a unit.
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
import polars as pl

from tradeimpact.errors import ModelSpecError

#: How the rule is stated in error messages and docstrings.
NEVER_TREATED_RULE = "never-treated units may be coded 0, inf or null"


def never_treated(s: pl.Series) -> pl.Series:
    """Boolean series: True where ``s`` codes a never-treated unit (0, +-inf, NaN or null)."""
    if s.dtype.is_numeric():
        f = s.cast(pl.Float64)
        return (f.is_null() | f.is_nan() | f.is_infinite() | (f == 0)).fill_null(True)
    return s.is_null()


def cohort_values(frame: pl.DataFrame, cohort: str, time: str | None = None) -> pl.Series:
    """The cohort column as Float64 with every never-treated code turned into ``+inf``.

    Numeric cohorts are used as they are; date cohorts are turned into the same period index as
    ``time`` when ``time`` is a date column of the same type (months ``12*year + month - 1``),
    else their epoch days. Raises :class:`~tradeimpact.errors.ModelSpecError` naming the column
    when it is neither a number nor a date.
    """
    if cohort not in frame.columns:
        raise ModelSpecError(f"cohort column {cohort!r} not found in the data")
    s = frame[cohort]
    nt = never_treated(s)
    if s.dtype.is_numeric():
        vals = s.cast(pl.Float64)
    elif s.dtype == pl.Date or isinstance(s.dtype, pl.Datetime):
        d = s.cast(pl.Date)
        vals = (d.dt.year().cast(pl.Float64) * 12 + d.dt.month().cast(pl.Float64) - 1).alias(cohort)
    else:
        raise ModelSpecError(
            f"cohort column {cohort!r} must hold the first treated period (a number or a date; "
            f"{NEVER_TREATED_RULE}), not {s.dtype}"
        )
    return pl.Series(cohort, np.where(nt.to_numpy(), np.inf, vals.fill_null(np.inf).to_numpy()))


def check_constant_within(frame: pl.DataFrame, cohort: str, unit: str) -> None:
    """Raise :class:`~tradeimpact.errors.ModelSpecError` when a unit has two cohorts.

    The message names the first such unit and its values; the never-treated codes count as one
    value (a unit coded 0 in one row and null in another is consistent).
    """
    vals = cohort_values(frame, cohort)
    per = (
        pl.DataFrame({"_u": frame[unit], "_c": vals})
        .group_by("_u", maintain_order=True)
        .agg(pl.col("_c").unique().sort())
    )
    bad = per.filter(pl.col("_c").list.len() > 1)
    if bad.height:
        u: Hashable = bad["_u"][0]
        raise ModelSpecError(
            f"cohort column {cohort!r} must be constant within each {unit!r}: unit {u!r} has "
            f"{bad['_c'][0].to_list()} ({NEVER_TREATED_RULE}, here all read as inf)"
        )
