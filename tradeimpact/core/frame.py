"""The one frame converter of the package, and the column checks every estimator runs.

Every estimator (``feols``, ``ppml``, ``synth``, ``synthdid``, the formula front end, ...) takes
"a data frame" and works on polars internally. :func:`to_polars` is the single place where what a
user hands in becomes a :class:`polars.DataFrame`:

* polars ``DataFrame`` (as is) and ``LazyFrame`` (collected);
* pandas ``DataFrame`` (the index is dropped, as ``pl.from_pandas`` and pyfixest do: an estimator
  reads columns, never the index); an object column that mixes numbers and text (``"n/a"`` among
  floats), which pyarrow cannot convert, raises :class:`~tradeimpact.errors.ModelSpecError`
  naming the column, the row and the value;
* pyarrow ``Table`` and ``RecordBatch`` (zero-copy through ``pl.from_arrow``).

Anything else raises :class:`~tradeimpact.errors.ModelSpecError` naming the type received.

:func:`check_columns` reports misspelled columns with the closest names (``difflib``), and
:func:`numeric_column` refuses text, categorical and other non-numeric columns (a string outcome
is never cast to float silently) with a hint naming the first offending values.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from tradeimpact.errors import ModelSpecError

__all__ = ["check_columns", "numeric_column", "to_polars"]

FloatArray = npt.NDArray[np.float64]

_ACCEPTED = "a polars DataFrame/LazyFrame, a pandas DataFrame or a pyarrow Table/RecordBatch"


def _mixed_object_column(pdf: Any) -> tuple[str, int, object] | None:
    """The first object column of a pandas frame that mixes numbers and text.

    Returns ``(column, row, value)`` of its first entry that is text while the column also holds
    numbers (``"n/a"`` in a numeric column), or None. ``row`` is the 0-based position.
    """
    import pandas as pd

    for col in pdf.columns:
        s = pdf[col]
        if s.dtype != object:
            continue
        vals = s.dropna()
        is_num = vals.map(
            lambda v: isinstance(v, int | float | np.number) and not isinstance(v, bool)
        )
        if is_num.any() and not is_num.all():
            pos = int(np.flatnonzero(~is_num.to_numpy())[0])
            return str(col), int(pd.Index(s.index).get_loc(vals.index[pos])), vals.iloc[pos]
    return None


def _from_pandas(data: Any) -> pl.DataFrame:
    """Convert a pandas frame; an object column mixing numbers and text becomes a text column.

    pyarrow cannot convert such a column (``"n/a"`` among floats). Refusing the whole frame
    would block a fit that does not use it (pyfixest fits), so the column is kept as text
    (nulls kept) and :func:`numeric_column` refuses it, naming the column, the row and the
    value, only when an estimator reads it.
    """
    pdf = data.reset_index(drop=True)
    try:
        return pl.from_pandas(pdf)
    except (ValueError, TypeError) as err:  # pyarrow's ArrowInvalid / ArrowTypeError
        pdf = pdf.copy()
        mixed = []
        while (bad := _mixed_object_column(pdf)) is not None:
            col = bad[0]
            pdf[col] = pdf[col].map(lambda v: None if _is_missing(v) else str(v)).astype(object)
            mixed.append(col)
        if not mixed:
            raise ModelSpecError(f"cannot convert the pandas frame: {err}") from err
        try:
            return pl.from_pandas(pdf)
        except (ValueError, TypeError) as err2:
            raise ModelSpecError(f"cannot convert the pandas frame: {err2}") from err2


def _is_missing(v: object) -> bool:
    return v is None or (isinstance(v, float | np.floating) and bool(np.isnan(v)))


def to_polars(data: Any) -> pl.DataFrame:
    """A polars DataFrame from any frame an estimator accepts.

    Parameters
    ----------
    data : polars DataFrame or LazyFrame, pandas DataFrame, pyarrow Table or RecordBatch
        A LazyFrame is collected; a pandas index is dropped (columns only).

    Returns
    -------
    polars.DataFrame
        ``data`` itself when it already is one (no copy).

    Raises
    ------
    ModelSpecError
        ``data`` is of another type. A pandas object column that mixes numbers and text
        (``"n/a"``) comes out as a text column, refused by :func:`numeric_column` (naming the
        column, the row and the value) only when an estimator uses it.
    """
    if isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, pl.LazyFrame):
        return data.collect()
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            return _from_pandas(data)
        if isinstance(data, pd.Series):
            raise ModelSpecError(
                "data must be a data frame, not a pandas Series: use series.to_frame()"
            )
    if module == "pyarrow":
        import pyarrow as pa

        if isinstance(data, pa.Table | pa.RecordBatch):
            out = pl.from_arrow(data)
            assert isinstance(out, pl.DataFrame)  # a Table or RecordBatch gives a frame
            return out
    raise ModelSpecError(f"data must be {_ACCEPTED}, not {type(data).__name__}")


def check_columns(frame: pl.DataFrame, columns: Sequence[str | None]) -> None:
    """Raise :class:`ModelSpecError` naming any column absent from ``frame``.

    ``None`` entries (an optional argument not given) are skipped. The message suggests the
    closest column names (``difflib``) for a misspelling and lists the columns present.
    """
    missing = [c for c in dict.fromkeys(columns) if c is not None and c not in frame.columns]
    if missing:
        hints = []
        for c in missing:
            close = difflib.get_close_matches(c, frame.columns, n=3, cutoff=0.5)
            if close:
                hints.append(f"{c!r}: did you mean {' or '.join(repr(m) for m in close)}?")
        raise ModelSpecError(
            f"column(s) {', '.join(repr(c) for c in missing)} not in the data"
            + (f" ({'; '.join(hints)})" if hints else "")
            + f" (columns: {', '.join(frame.columns)})"
        )


def numeric_column(frame: pl.DataFrame, column: str, role: str = "regressor") -> FloatArray:
    """Column ``column`` of ``frame`` as float64, or :class:`ModelSpecError` if it is not numeric.

    Numeric and Boolean columns are converted (nulls become NaN). A text, categorical or other
    column raises an error naming the column, its role (``"outcome"``, ``"regressor"``,
    ``"weights"``, ``"offset"``) and its dtype, with a hint: cast it when it holds numbers as
    text, or the first entries that are not numbers (such as ``"n/a"``), which should be nulls.
    """
    s = frame[column]
    if s.dtype.is_numeric() or s.dtype == pl.Boolean:
        return np.asarray(s.cast(pl.Float64).to_numpy(), dtype=np.float64)
    return _not_numeric(s, column, role)


def numeric_series(s: pl.Series, column: str, role: str = "regressor") -> FloatArray:
    """:func:`numeric_column` for a series already evaluated (e.g. a polars expression's output)."""
    if s.dtype.is_numeric() or s.dtype == pl.Boolean:
        return np.asarray(s.cast(pl.Float64).to_numpy(), dtype=np.float64)
    return _not_numeric(s, column, role)


def _not_numeric(s: pl.Series, column: str, role: str) -> FloatArray:
    hint = ""
    if s.dtype in (pl.String, pl.Categorical, pl.Enum):
        text = s.cast(pl.String)
        num = text.str.strip_chars().cast(pl.Float64, strict=False)
        bad_mask = text.is_not_null() & num.is_null()
        bad = text.filter(bad_mask).unique(maintain_order=True).head(3).to_list()
        if not bad:
            hint = (
                f": it holds numbers as text; cast it first, "
                f"e.g. pl.col({column!r}).cast(pl.Float64)"
            )
        else:
            row = int(np.flatnonzero(bad_mask.to_numpy())[0])
            hint = (
                f": it holds text such as {', '.join(repr(b) for b in bad)} (first at row {row}); "
                f"make missing values null (pandas: pd.to_numeric(df[{column!r}], errors='coerce'); "
                f"polars: pl.col({column!r}).cast(pl.Float64, strict=False)) or encode a "
                "categorical variable as dummies or fixed effects"
            )
    raise ModelSpecError(f"{role} column {column!r} must be numeric, not {s.dtype}{hint}")
