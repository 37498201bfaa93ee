"""tradeimpact.core.frame: the one frame converter and the column checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from tradeimpact.core.frame import check_columns, numeric_column, to_polars
from tradeimpact.errors import ModelSpecError


def _expected() -> pl.DataFrame:
    return pl.DataFrame({"y": [1.0, 2.5, None], "g": ["a", "b", "a"], "n": [1, 2, 3]})


def test_every_accepted_type_gives_the_same_frame() -> None:
    ref = _expected()
    pdf = ref.to_pandas()
    pdf.index = pd.Index([10, 20, 30], name="row")  # an index is dropped, never a column
    table = ref.to_arrow()
    for data in (ref, ref.lazy(), pdf, table, table.to_batches()[0]):
        out = to_polars(data)
        assert out.columns == ["y", "g", "n"], type(data)
        assert out["y"].to_list()[:2] == [1.0, 2.5]
        assert out["y"][2] is None or np.isnan(out["y"][2])
        assert out["g"].to_list() == ["a", "b", "a"]
        assert out["n"].to_list() == [1, 2, 3]
    assert to_polars(ref) is ref  # no copy for a polars frame


def test_other_types_are_refused_naming_the_type() -> None:
    with pytest.raises(ModelSpecError, match="not dict"):
        to_polars({"y": [1.0]})
    with pytest.raises(ModelSpecError, match="pandas Series"):
        to_polars(pd.Series([1.0, 2.0]))
    with pytest.raises(ModelSpecError, match="not ndarray"):
        to_polars(np.zeros((2, 2)))


def test_mixed_object_column_names_column_row_value() -> None:
    # converted as text (an unused column must not block a fit); reading it names the row
    pdf = pd.DataFrame({"y": [1.0, 2.0, 3.0], "x": pd.Series([0.5, "n/a", None], dtype=object)})
    frame = to_polars(pdf)
    assert frame["x"].to_list() == ["0.5", "n/a", None]
    assert frame["y"].to_list() == [1.0, 2.0, 3.0]
    with pytest.raises(ModelSpecError, match=r"column 'x' .*'n/a' \(first at row 1\)"):
        numeric_column(frame, "x")


def test_check_columns_suggests_the_close_name() -> None:
    with pytest.raises(ModelSpecError, match=r"'yr'.*did you mean 'year'"):
        check_columns(pl.DataFrame({"year": [1], "y": [2]}), ["y", "yr", None])
    check_columns(pl.DataFrame({"y": [1]}), ["y", None])  # no error


def test_numeric_column_refuses_text() -> None:
    df = pl.DataFrame({"s": ["1", "x", None], "t": ["1", "2", "3"], "b": [True, False, None]})
    with pytest.raises(ModelSpecError, match=r"outcome column 's' must be numeric.*'x'.*row 1"):
        numeric_column(df, "s", "outcome")
    with pytest.raises(ModelSpecError, match="numbers as text"):
        numeric_column(df, "t")
    out = numeric_column(df, "b")
    assert out[:2].tolist() == [1.0, 0.0] and np.isnan(out[2])
