"""event_study on an Ibis table (DuckDB): the engine route equals the in-memory event study.

SYNTHETIC panel (2,000 units x 50 periods = 1e5 rows, unit and time effects, never-treated
units coded 0, one cohort or two staggered cohorts, a dynamic effect). The reference is the
in-memory ``event_study`` on the same rows (itself checked against pyfixest in
tests/test_event_study.py): coefficients, CR1 standard errors, the event table, the pre-trend
test and the counts agree to 1e-8.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from tradeimpact.errors import ModelSpecError
from tradeimpact.models.event_study import event_study

ibis = pytest.importorskip("ibis")

N_UNITS, N_T = 2_000, 50
TOL = 1e-8


def _panel(staggered: bool, seed: int = 7) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    u = np.repeat(np.arange(N_UNITS), N_T)
    t = np.tile(np.arange(1, N_T + 1), N_UNITS)
    draw = rng.random(N_UNITS)
    cohort_u = np.where(draw < 0.4, 0, 20)  # 0: never treated (core.cohort)
    if staggered:
        cohort_u = np.where(draw > 0.7, 32, cohort_u)
    coh = cohort_u[u]
    rel = np.where(coh > 0, t - coh, -999)
    effect = np.where(rel >= 0, 0.5 + 0.05 * np.minimum(rel, 6), 0.0)
    y = (
        rng.normal(size=N_UNITS)[u]
        + rng.normal(size=N_T)[t - 1]
        + effect
        + rng.normal(size=u.size)
        + 5.0
    )
    x1 = rng.normal(size=u.size)
    y = y + 0.3 * x1
    if staggered:  # missing outcomes, counted (an unbalanced panel: more demeaning sweeps)
        y[rng.random(u.size) < 0.001] = np.nan
    return pl.DataFrame({"id": u, "t": t, "g": coh, "y": y, "x1": x1})


@pytest.fixture(scope="module")
def con():  # one DuckDB in-process database for the module
    return ibis.duckdb.connect()


@pytest.fixture(scope="module")
def one_cohort(con):
    d = _panel(False)
    return d, con.create_table("one_cohort", d)


@pytest.fixture(scope="module")
def staggered(con):
    d = _panel(True)
    return d, con.create_table("staggered", d)


def _same(res, ref) -> None:
    assert res.names == ref.names
    assert res.nobs == ref.nobs
    assert res.dropped == ref.dropped
    assert res.event_terms == ref.event_terms
    np.testing.assert_allclose(res.beta, ref.beta, rtol=0, atol=TOL)
    np.testing.assert_allclose(res.cov_matrix, ref.cov_matrix, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(np.sqrt(np.diag(res.cov_matrix)),
                               np.sqrt(np.diag(ref.cov_matrix)), rtol=0, atol=TOL)  # fmt: skip
    assert res.n_clusters == ref.n_clusters
    assert res.df_inference == ref.df_inference
    a, b = res.event_table(), ref.event_table()
    assert a.columns == b.columns and a.height == b.height
    for c in a.columns:
        if a[c].dtype.is_numeric():
            np.testing.assert_allclose(a[c].to_numpy().astype(float),
                                       b[c].to_numpy().astype(float), rtol=0, atol=TOL)  # fmt: skip
        else:
            assert a[c].to_list() == b[c].to_list()
    assert res.pretrend is not None and ref.pretrend is not None
    assert abs(res.pretrend.statistic - ref.pretrend.statistic) < 1e-6
    assert res.aggregates is not None and ref.aggregates is not None
    for k in ref.aggregates:
        assert abs(res.aggregates[k] - ref.aggregates[k]) < TOL


def test_one_cohort_binned_endpoints_equal_in_memory(one_cohort):
    d, t = one_cohort
    kw = dict(cohort="g", window=(-3, 3), ref=-1, controls=["x1"], inference="cr1")
    res = event_study(t, "y", "id", "t", **kw)
    ref = event_study(d, "y", "id", "t", **kw)
    _same(res, ref)
    assert res.extra["engine"] == "duckdb"
    assert res.vcov_type.startswith("CR1")
    # the effect is recovered (SYNTHETIC truth 0.5 at e = 0): a check the fit is not degenerate
    i = res.names.index("e::0")
    assert abs(res.beta[i] - 0.5) < 4 * np.sqrt(res.cov_matrix[i, i])


def test_staggered_drop_endpoints_and_ref_equal_in_memory(staggered):
    d, t = staggered
    kw = dict(cohort="g", window=(-3, 4), ref=-2, endpoints="drop", inference="cr1")
    res = event_study(t, "y", "id", "t", **kw)
    ref = event_study(d, "y", "id", "t", **kw)
    _same(res, ref)
    assert res.dropped["outside_window"] > 0 and res.dropped["missing"] > 0
    assert "e::-2" not in res.names and "e::-1" in res.names


def test_staggered_binned_default_headline(staggered):
    d, t = staggered
    res = event_study(t, "y", "id", "t", cohort="g", window=(-2, 2), cluster="id")
    ref = event_study(d, "y", "id", "t", cohort="g", window=(-2, 2), cluster="id", inference="cr1")
    _same(res, ref)
    # the engine's headline is the analytic test, with the reason
    h = res.headlines["e::0"]
    assert "engine" in h.note


def test_single_event_date_equal_in_memory(one_cohort):
    d, _ = one_cohort
    d2 = d.with_columns(tr=(pl.col("g") > 0).cast(pl.Int8)).drop("g")
    con = ibis.duckdb.connect()
    t2 = con.create_table("ev", d2)
    kw = dict(treated="tr", event_date=20, window=(-3, 3), inference="cr1", outcome="log")
    d2 = d2.with_columns(pl.col("y").abs() + 0.1)
    t2 = con.create_table("ev2", d2)
    _same(event_study(t2, "y", "id", "t", **kw), event_study(d2, "y", "id", "t", **kw))


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"estimator": "cs"}, "estimator='cs'.*collect the table"),
        ({"estimator": "sunab"}, "estimator='sunab'.*collect the table"),
        ({"inference": "wild"}, "inference='wild'.*collect the table"),
        ({"inference": "ri_t"}, "inference='ri_t'.*collect the table"),
        ({"ri": {"n_permutations": 9}}, "ri= options.*collect the table"),
        ({"outcome": "ppml"}, "outcome='log' or 'level'"),
        ({"window": (0, 3)}, "reference period -1 is outside the window"),
        ({"fe": []}, "need fixed effects"),
    ],
)
def test_refusals_name_the_option(one_cohort, kw, match):
    _, t = one_cohort
    with pytest.raises(ModelSpecError, match=match):
        event_study(t, "y", "id", "t", cohort="g", **kw)


def test_errors_of_the_in_memory_rules(con):
    d = _panel(False).filter(pl.col("id") < 50)
    # a cohort that varies within a unit
    bad = d.with_columns(g=pl.when((pl.col("id") == 3) & (pl.col("t") == 5)).then(25)
                         .otherwise(pl.col("g")))  # fmt: skip
    with pytest.raises(ModelSpecError, match="varies within unit"):
        event_study(con.create_table("bad1", bad), "y", "id", "t", cohort="g")
    # a treated unit without a pre-event row
    late = d.filter(~((pl.col("g") > 0) & (pl.col("id") == d.filter(pl.col("g") > 0)["id"][0])
                      & (pl.col("t") < 20)))  # fmt: skip
    with pytest.raises(ModelSpecError, match="no pre-event period"):
        event_study(con.create_table("bad2", late), "y", "id", "t", cohort="g")
    # no treated unit
    with pytest.raises(ModelSpecError, match="no treated units"):
        event_study(con.create_table("bad3", d.with_columns(g=pl.lit(0))), "y", "id", "t",
                    cohort="g")  # fmt: skip
    # a misspelt column
    with pytest.raises(ModelSpecError, match="did you mean 'g'"):
        event_study(con.create_table("ok", d), "y", "id", "t", cohort="gg")


def test_monthly_dates_and_date_cohorts_equal_in_memory(con):
    # SYNTHETIC monthly panel: time and cohort as dates, never treated coded null
    rng = np.random.default_rng(3)
    n_u, n_m = 300, 24
    u = np.repeat(np.arange(n_u), n_m)
    m = np.tile(np.arange(n_m), n_u)
    dates = pl.date_range(date(2020, 1, 1), date(2021, 12, 1), "1mo", eager=True)
    start = np.where(rng.random(n_u) < 0.5, -1, 12)[u]
    eff = np.where((start >= 0) & (m >= start), 1.0, 0.0)
    y = rng.normal(size=n_u)[u] + 0.1 * m + eff + rng.normal(size=u.size)
    d = pl.DataFrame({"id": u, "month": dates.gather(m), "y": y}).with_columns(
        g=pl.when(pl.Series(start) >= 0).then(pl.lit(date(2021, 1, 1))).otherwise(None)
    )
    kw = dict(cohort="g", window=(-4, 4), inference="cr1")
    res = event_study(con.create_table("monthly", d), "y", "id", "month", **kw)
    ref = event_study(d, "y", "id", "month", **kw)
    _same(res, ref)
    assert res.freq == ref.freq == "M"
