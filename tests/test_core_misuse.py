"""Misuse of the estimators on the shared core: the package's own error, naming the column."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from tradeimpact.errors import ModelSpecError
from tradeimpact.models.linear import feols
from tradeimpact.models.ppml import ppml
from tradeimpact.models.synth import synth
from tradeimpact.models.synthdid import synthdid


@pytest.fixture(scope="module")
def panel() -> pl.DataFrame:
    """SYNTHETIC balanced panel: 6 units x 8 periods, unit 0 treated from period 5."""
    rng = np.random.default_rng(4)
    unit = np.repeat(np.arange(6), 8)
    time = np.tile(np.arange(8), 6)
    y = rng.poisson(5.0, unit.size).astype(float)
    return pl.DataFrame(
        {
            "y": y,
            "x": rng.normal(size=unit.size),
            "unit": unit,
            "time": time,
            "treated": ((unit == 0) & (time >= 5)).astype(float),
        }
    )


def test_text_outcome_is_refused_everywhere(panel: pl.DataFrame) -> None:
    d = panel.with_columns(pl.col("y").cast(pl.String))
    with pytest.raises(
        ModelSpecError, match=r"outcome column 'y' must be numeric.*numbers as text"
    ):
        ppml(d, "y", ["x"], ["unit"])
    with pytest.raises(ModelSpecError, match=r"outcome column 'y' must be numeric"):
        feols(d, "y", ["x"], fe=["unit"])
    with pytest.raises(ModelSpecError, match=r"outcome column 'y' must be numeric"):
        synth(d, "y", "unit", "time", 0, 5, placebos=False)
    with pytest.raises(ModelSpecError, match=r"outcome column 'y' must be numeric"):
        synthdid(d, "y", "unit", "time", "treated")
    na = panel.with_columns(pl.col("x").cast(pl.String).replace({panel["x"][3]: "n/a"}))
    with pytest.raises(ModelSpecError, match=r"regressor column 'x'.*'n/a' \(first at row 3\)"):
        ppml(na, "y", ["x"], ["unit"])


def test_pandas_object_column_with_text(panel: pl.DataFrame) -> None:
    pdf = panel.to_pandas()
    pdf["x"] = pdf["x"].astype(object)
    pdf.loc[7, "x"] = "n/a"
    for call in (
        lambda: ppml(pdf, "y", ["x"], ["unit"]),
        lambda: feols(pdf, "y", ["x"], fe=["unit"]),
        lambda: synthdid(
            pdf.drop(columns="y").rename(columns={"x": "y"}), "y", "unit", "time", "treated"
        ),
    ):
        with pytest.raises(
            ModelSpecError, match=r"column '[xy]' must be numeric.*'n/a' \(first at row 7\)"
        ):
            call()


def test_misspelled_column_suggests_the_name(panel: pl.DataFrame) -> None:
    with pytest.raises(ModelSpecError, match=r"'unt'.*did you mean 'unit'"):
        ppml(panel, "y", ["x"], ["unt"])
    with pytest.raises(ModelSpecError, match=r"'tme'.*did you mean 'time'"):
        synthdid(panel, "y", "unit", "tme", "treated")
    with pytest.raises(ModelSpecError, match=r"'yy'.*did you mean 'y'"):
        synth(panel, "yy", "unit", "time", 0, 5, placebos=False)
    with pytest.raises(ModelSpecError, match=r"'unti'.*did you mean 'unit'"):
        feols(panel, "y", ["x"], fe=["unit"], cluster="unti")


def test_one_cluster_and_missing_in_synthdid(panel: pl.DataFrame) -> None:
    d = panel.with_columns(pl.lit("JPN").alias("country"))
    for call in (
        lambda: feols(d, "y", ["x"], fe=["unit"], cluster="country"),
        lambda: ppml(d, "y", ["x"], ["unit"], vcov={"CRV1": "country"}),
    ):
        with pytest.raises(ModelSpecError, match=r"'country' needs at least 2 clusters.*has 1"):
            call()
    nan = panel.with_columns(
        pl.when(pl.col("y") == panel["y"][2]).then(np.nan).otherwise("y").alias("y")
    )
    with pytest.raises(ModelSpecError, match="missing values"):
        synthdid(nan, "y", "unit", "time", "treated")


def test_pyarrow_and_lazy_inputs_give_the_same_fit(panel: pl.DataFrame) -> None:
    ref = ppml(panel, "y", ["x"], ["unit", "time"])
    for data in (panel.lazy(), panel.to_arrow(), panel.to_pandas()):
        res = ppml(data, "y", ["x"], ["unit", "time"])
        np.testing.assert_array_equal(res.params.to_numpy(), ref.params.to_numpy())
    with pytest.raises(ModelSpecError, match="not list"):
        ppml([1, 2], "y", ["x"])
