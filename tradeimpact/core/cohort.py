"""The cohort column: the first treated period of each unit, and the never-treated rule.

One rule for every staggered estimator (``did``, ``event_study``, ``sunab``, ``att_gt``): a
unit's ``cohort`` is the first period in which it is treated, in the units of the time column
(a number such as a year or a period counter, or a date), and a unit that is never treated may be
coded **0, infinity or null** (NaN too), as R's ``did`` (0), fixest's ``sunab`` (any value
outside the periods, often ``Inf`` or 10000) and pyfixest users do. The three codes give the same
estimates (``tests/test_naming.py``).

* **0** is read as never treated, as R's ``did`` reads it (``did`` does so even when 0 is a
  period of the data). When the time column has periods *before* 0 (a centred counter such as
  ``-5..5``), 0 could be a real first treated period and the code is refused with an error that
  asks for ``inf`` or null instead.
* A cohort **after the last observed period** is never treated within the sample (``did``'s
  ``gname > max(tname) -> 0``, fixest's "cohorts outside the periods"; 10000 in ``base_stagg``).
* The cohort must be **constant within a unit** (:func:`check_constant_within`); the
  never-treated codes count as one value.
* **Null as a missing value.** When the column codes never-treated units some other way too (0,
  inf, or a cohort after the last period), a null/NaN cohort is not a third never-treated code but
  a missing value: R's ``did`` drops those rows (``complete.cases``) and ``att_gt`` drops those
  units with a warning (:func:`missing_cohorts`). When null is the only never-treated code (the
  Medicaid panel's ``yexp2``), it means never treated.

Date cohorts are turned into the same period index as the time column (:func:`period_index`:
months ``12*year + month - 1``, quarters or years).
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
import numpy.typing as npt
import polars as pl

from tradeimpact.errors import ModelSpecError

FloatArray = npt.NDArray[np.float64]

#: How the rule is stated in error messages and docstrings.
NEVER_TREATED_RULE = "never-treated units may be coded 0, inf or null"

__all__ = [
    "NEVER_TREATED_RULE",
    "check_constant_within",
    "cohort_values",
    "missing_cohorts",
    "never_treated",
    "period_index",
]


def _is_date(s: pl.Series) -> bool:
    return s.dtype == pl.Date or isinstance(s.dtype, pl.Datetime)


def period_index(s: pl.Series, freq: str | None = None) -> FloatArray:
    """Integer period index of a time (or cohort) column, as float64.

    Dates/datetimes: months ``12*year + month - 1`` (``"M"``, the default), quarters
    ``4*year + quarter - 1`` (``"Q"``) or years (``"A"``/``"Y"``). Numbers are used as they are
    (already consecutive periods, e.g. years or a month counter). Nulls give NaN. Anything else
    raises :class:`~tradeimpact.errors.ModelSpecError` naming the column.
    """
    if _is_date(s):
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
        return np.asarray(out.to_numpy(), dtype=np.float64)
    if s.dtype.is_numeric():
        return np.asarray(s.cast(pl.Float64).to_numpy(), dtype=np.float64)
    raise ModelSpecError(f"time column '{s.name}' must be a date or a number, not {s.dtype}")


def never_treated(s: pl.Series) -> pl.Series:
    """Boolean series: True where ``s`` codes a never-treated unit (0, +-inf, NaN or null)."""
    if s.dtype.is_numeric():
        f = s.cast(pl.Float64)
        return (f.is_null() | f.is_nan() | f.is_infinite() | (f == 0)).fill_null(True)
    return s.is_null()


def cohort_values(
    frame: pl.DataFrame,
    cohort: str,
    time: str | None = None,
    *,
    freq: str | None = None,
) -> pl.Series:
    """The cohort column as Float64 with every never-treated code turned into ``+inf``.

    Parameters
    ----------
    frame : polars.DataFrame
    cohort : str
        The first-treated-period column (numbers or dates; never treated: 0, inf or null).
    time : str, optional
        The time column. When given, date cohorts use its period index (``freq``), a cohort
        after its last period becomes ``inf`` (never treated within the sample), and a cohort
        of 0 is refused when the time column has periods before 0 (module docstring).
    freq : {"M", "Q", "A"}, optional
        Period of date columns (default monthly), as in :func:`period_index`.

    Raises
    ------
    ModelSpecError
        Naming the column when it is neither a number nor a date, when a date cohort meets a
        numeric time column (or the reverse), or when 0 is ambiguous.
    """
    if cohort not in frame.columns:
        raise ModelSpecError(f"cohort column {cohort!r} not found in the data")
    s = frame[cohort]
    if not (s.dtype.is_numeric() or _is_date(s) or s.dtype == pl.Null):
        raise ModelSpecError(
            f"cohort column {cohort!r} must hold the first treated period (a number or a date; "
            f"{NEVER_TREATED_RULE}), not {s.dtype}"
        )
    nt = never_treated(s).to_numpy()
    if s.dtype == pl.Null:
        vals = np.full(len(s), np.nan)
    else:
        vals = period_index(s, freq)
    out = np.where(nt | np.isnan(vals), np.inf, vals)
    if time is not None:
        t = frame[time]
        if _is_date(t) != _is_date(s) and s.dtype != pl.Null and not nt.all():
            kind = "a date" if _is_date(t) else "a number"
            raise ModelSpecError(
                f"cohort column {cohort!r} ({s.dtype}) must be in the units of the time column "
                f"{time!r}, which holds {kind} ({t.dtype}): give each unit's first treated "
                f"period as {kind} ({NEVER_TREATED_RULE})"
            )
        periods = period_index(t, freq)
        finite = periods[np.isfinite(periods)]
        if finite.size:
            if s.dtype.is_numeric() and finite.min() < 0:
                zero = (s.cast(pl.Float64) == 0).fill_null(False).to_numpy()
                if zero.any():
                    row = int(np.flatnonzero(zero)[0])
                    raise ModelSpecError(
                        f"cohort column {cohort!r} holds 0 (first at row {row}) while the time "
                        f"column {time!r} has periods before 0 ({finite.min():g}): 0 could be a "
                        "first treated period there, so it cannot code never-treated units; "
                        "code them as inf or null"
                    )
            out = np.where(out > finite.max(), np.inf, out)  # treated after the sample
    return pl.Series(cohort, out, dtype=pl.Float64)


def check_constant_within(
    frame: pl.DataFrame,
    cohort: str,
    unit: str,
    *,
    values: pl.Series | None = None,
) -> None:
    """Raise :class:`~tradeimpact.errors.ModelSpecError` when a unit has two cohorts.

    The message names the first such unit and its values; the never-treated codes count as one
    value (a unit coded 0 in one row and null in another is consistent). ``values`` are the
    cohort values already computed by :func:`cohort_values` (else computed here).
    """
    vals = cohort_values(frame, cohort) if values is None else values
    per = (
        pl.DataFrame({"_u": frame[unit], "_c": vals})
        .group_by("_u", maintain_order=True)
        .agg(pl.col("_c").unique().sort())
    )
    bad = per.filter(pl.col("_c").list.len() > 1)
    if bad.height:
        u: Hashable = bad["_u"][0]
        raise ModelSpecError(
            f"cohort column {cohort!r} varies within unit {u!r} (values "
            f"{bad['_c'][0].to_list()}; {NEVER_TREATED_RULE}, all read as inf): the first "
            f"treated period must be constant within each {unit!r}"
        )


def missing_cohorts(
    frame: pl.DataFrame, cohort: str, time: str | None = None
) -> npt.NDArray[np.bool_]:
    """Rows whose cohort is a *missing value* rather than a never-treated code (module docstring).

    True where the cohort is null or NaN **and** the column also codes never-treated units as 0,
    +-inf or a cohort after the last period of ``time`` (numeric cohorts only): then null cannot
    be one more code for the same thing, and R's ``did`` drops such rows as missing data. All
    False when null is the only never-treated code, or for date cohorts (null is their only code).
    """
    s = frame[cohort]
    if not s.dtype.is_numeric():
        return np.zeros(len(s), dtype=bool)
    f = s.cast(pl.Float64)
    null = (f.is_null() | f.is_nan()).fill_null(True).to_numpy()
    if not null.any():
        return null
    vals = f.fill_null(np.nan).to_numpy()
    other = np.isinf(vals) | (vals == 0)
    if time is not None and frame[time].dtype.is_numeric():
        periods = period_index(frame[time])
        finite = periods[np.isfinite(periods)]
        if finite.size:
            with np.errstate(invalid="ignore"):
                other |= np.isfinite(vals) & (vals > finite.max())
    return null if bool(other.any()) else np.zeros(len(s), dtype=bool)
