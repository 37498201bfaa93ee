"""Misuse of the estimators raises the package's own error naming the column (issue 13).

One cluster (``G/(G-1)`` undefined: a ZeroDivisionError before), through every estimator that
clusters: ``did``, ``event_study``, ``ppml`` and the wild cluster bootstrap.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import tradeimpact as ti
from tradeimpact.errors import ModelSpecError


@pytest.fixture(scope="module")
def panel() -> pl.DataFrame:
    """30 units x 12 months, units 0-4 treated from month 6; one country for every row."""
    rng = np.random.default_rng(11)
    units, periods = 30, 12
    unit = np.repeat(np.arange(units), periods)
    time = np.tile(np.arange(periods), units)
    treat = (unit < 5).astype(int)
    post = (time >= 6).astype(int)
    y = np.exp(1 + 0.1 * rng.normal(size=unit.size) - 0.2 * treat * post)
    return pl.DataFrame(
        {
            "unit": unit,
            "time": time,
            "treat": treat,
            "post": post,
            "rel": time - 6,
            "treat_date": pl.Series(np.where(treat == 1, 6.0, np.nan)).fill_nan(None),
            "y": y,
            "cnt": rng.poisson(3, unit.size),
            "country": ["JPN"] * unit.size,
        }
    )


ONE_CLUSTER = r"'country' needs at least 2 clusters"


def test_did_one_cluster(panel: pl.DataFrame) -> None:
    with pytest.raises(ModelSpecError, match=ONE_CLUSTER):
        ti.did(
            panel, "y", "treat", "post", "unit", time="time", vcov={"CR1": "country"}, outcome="log"
        )


def test_event_study_one_cluster(panel: pl.DataFrame) -> None:
    with pytest.raises(ModelSpecError, match=ONE_CLUSTER):
        ti.event_study(
            panel,
            "y",
            "unit",
            "time",
            treat_date="treat_date",
            window=(-3, 3),
            vcov={"CR1": "country"},
            outcome="log",
        )


def test_ppml_keyword_one_cluster(panel: pl.DataFrame) -> None:
    # the shared covariance code (core.covariance.vcov_cluster) raises; ppml does not pass
    # the column names to it, hence the generic variable name
    with pytest.raises(ModelSpecError, match="needs at least 2 clusters"):
        ti.ppml(panel, "cnt", ["post"], ["unit"], vcov={"CR1": "country"})


def test_wild_bootstrap_one_cluster() -> None:
    from tradeimpact.inference.wild_bootstrap import wild_cluster_bootstrap

    rng = np.random.default_rng(2)
    x = rng.normal(size=(40, 1))
    with pytest.raises(ModelSpecError, match="at least two clusters"):
        wild_cluster_bootstrap(x, rng.normal(size=40), np.zeros(40), term=0)


def test_did_and_event_study_name_a_text_column(panel: pl.DataFrame) -> None:
    # a text outcome, indicator, control or weight is an error naming the column (not a cast)
    text = panel.with_columns(
        pl.col("y").cast(pl.String).alias("y_s"),
        pl.col("treat").cast(pl.String).alias("treat_s"),
        pl.when(pl.col("unit") == 3).then(pl.lit("n/a")).otherwise(pl.lit("1.5")).alias("x_s"),
    )
    with pytest.raises(ModelSpecError, match="'y_s'"):
        ti.did(text, "y_s", "treat", "post", "unit", time="time")
    with pytest.raises(ModelSpecError, match="'treat_s'"):
        ti.did(text, "y", "treat_s", "post", "unit", time="time")
    with pytest.raises(ModelSpecError, match=r"'x_s'.*n/a"):
        ti.did(text, "y", "treat", "post", "unit", time="time", controls=["x_s"])
    with pytest.raises(ModelSpecError, match="'x_s'"):
        ti.event_study(text, "y", "unit", "time", cohort="treat_date", weights="x_s")
