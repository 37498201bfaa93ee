"""att_gt follows R did's data rules (issue 14, items 1-4).

* No never-treated group (did's ``pre_process_did2``): the periods from the last cohort's
  treatment on are dropped; with "notyet" that cohort is only a comparison, with "never" it is
  coded never treated (with a warning). Checked against the 2x2 differences by hand.
* Weights: negative, all-zero and non-finite weights are refused (did/DRDID), naming the column
  and a row; weights varying within a unit are refused naming the unit.
* A missing cohort beside another never-treated code is a missing value: did drops those rows;
  10 mpdta counties set to NA leave 490 units and the same ATT(g,t) as dropping them by hand.
* Internal column names cannot collide with the user's.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from conftest import shared_path

from tradeimpact.errors import ModelSpecError, TradeImpactWarning
from tradeimpact.models.callaway_santanna import (
    MissingCohortWarning,
    NoNeverTreatedWarning,
    att_gt,
)


@pytest.fixture(scope="module")
def mpdta() -> pl.DataFrame:
    return pl.read_csv(shared_path("validation", "mpdta", "mpdta.csv"))


def _panel(cohorts: dict[int, int], n_periods: int = 6, seed: int = 0) -> pd.DataFrame:
    """SYNTHETIC panel: ``cohorts`` maps first treated period -> units; periods 1..n_periods;
    unit effects, period effects, noise, and an effect of 1 from treatment on."""
    rng = np.random.default_rng(seed)
    g = np.concatenate([np.full(k, c) for c, k in cohorts.items()])
    n = g.size
    unit = np.repeat(np.arange(n), n_periods)
    t = np.tile(np.arange(1, n_periods + 1), n)
    gi = np.repeat(g, n_periods)
    y = (
        rng.normal(size=n)[unit]
        + 0.3 * t
        + rng.normal(size=unit.size)
        + np.where((gi > 0) & (t >= gi), 1.0, 0.0)
    )
    return pd.DataFrame({"id": unit, "t": t, "g": gi, "y": y})


def _dy(df: pd.DataFrame, t: int, b: int) -> pd.Series:
    wide = df.pivot(index="id", columns="t", values="y")
    return wide[t] - wide[b]


def test_no_never_treated_notyet_the_issue_repro() -> None:
    """200 units x 6 periods, cohorts 3 and 5 only (issue 14 item 1): did drops t >= 5 and
    compares cohort 3 with cohort 5; each ATT(3,t) = the 2x2 difference of means by hand."""
    df = _panel({3: 100, 5: 100})
    with warnings.catch_warnings():
        warnings.simplefilter("error", TradeImpactWarning)  # notyet: expected, no warning (did)
        res = att_gt(df, "y", "id", "t", "g", control_group="notyet")
    tab = res.att_gt
    assert tab["group"].unique().to_list() == [3.0]
    assert tab["time"].to_list() == [2.0, 3.0, 4.0]
    g_of = df.groupby("id")["g"].first()
    for t, b in ((2, 1), (3, 2), (4, 2)):  # varying base: pre 2 vs 1; post vs g - 1 = 2
        dy = _dy(df, t, b)
        by_hand = dy[g_of == 3].mean() - dy[g_of == 5].mean()
        assert res.params[f"ATT(3,{t})"] == pytest.approx(by_hand, abs=1e-12)
    assert res.dropped["periods_after_last_cohort"] == 200 * 2
    assert res.att_gt["n_control"].to_list() == [100, 100, 100]
    # the effect is 1 from t = 3 on
    assert res.params["ATT(3,3)"] == pytest.approx(1.0, abs=0.4)


def test_no_never_treated_never_codes_the_last_cohort_as_never() -> None:
    """Cohorts 3, 4 and 6 over 6 periods: "never" warns, drops t >= 6 and uses cohort 6 as the
    never treated; "notyet" also uses cohort 4 before it is treated (they differ for ATT(3,3))."""
    df = _panel({3: 60, 4: 60, 6: 60}, seed=1)
    g_of = df.groupby("id")["g"].first()
    with pytest.warns(NoNeverTreatedWarning, match=r"last cohort \(6\)"):
        never = att_gt(df, "y", "id", "t", "g")
    notyet = att_gt(df, "y", "id", "t", "g", control_group="notyet")
    assert never.att_gt["time"].max() == 5 and notyet.att_gt["time"].max() == 5
    assert sorted(never.att_gt["group"].unique()) == [3.0, 4.0]
    dy = _dy(df, 3, 2)
    assert never.params["ATT(3,3)"] == pytest.approx(
        dy[g_of == 3].mean() - dy[g_of == 6].mean(), abs=1e-12
    )
    assert notyet.params["ATT(3,3)"] == pytest.approx(
        dy[g_of == 3].mean() - dy[g_of.isin([4, 6])].mean(), abs=1e-12
    )
    # ATT(3,4): not-yet-treated at 4 is only cohort 6 (4 is treated): both agree
    assert never.params["ATT(3,4)"] == pytest.approx(notyet.params["ATT(3,4)"], abs=1e-12)


def test_too_small_never_group_still_advises_notyet() -> None:
    """did's other rule is unchanged: a never-treated group of fewer than 5 units with "never"
    is an error advising "notyet" (that advice is right there)."""
    df = _panel({3: 50, 0: 2})
    with pytest.raises(ModelSpecError, match="never treated group is too small"):
        att_gt(df, "y", "id", "t", "g")


# -- weights --------------------------------------------------------------------------------------


def _weighted(mpdta: pl.DataFrame, expr: pl.Expr) -> pl.DataFrame:
    return mpdta.with_columns(expr.alias("w"))


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        (pl.when(pl.col("countyreal") % 5 == 0).then(-1.0).otherwise(1.0),
         r"'w' has \d+ negative value\(s\), first at row \d+"),
        (pl.lit(0.0), r"'w' is zero in every row \(first at row 0\)"),
        (pl.when(pl.col("countyreal") == 8001).then(np.inf).otherwise(1.0),
         r"'w' has 5 non-finite value\(s\), first at row \d+"),
        (pl.when(pl.col("countyreal") % 2 == 0).then(-1.0).otherwise(1.0), "negative"),
    ],
    ids=["negative", "all_zero", "infinite", "mean_zero"],
)  # fmt: skip
def test_bad_weights_are_refused(mpdta: pl.DataFrame, expr: pl.Expr, message: str) -> None:
    with pytest.raises(ModelSpecError, match=message):
        att_gt(_weighted(mpdta, expr), "lemp", "countyreal", "year", "first.treat", weights="w")


def test_weights_varying_within_a_unit_and_a_zero_weight_group(mpdta: pl.DataFrame) -> None:
    varying = _weighted(
        mpdta, pl.when((pl.col("countyreal") == 8001) & (pl.col("year") == 2005)).then(2.0)
        .otherwise(1.0)
    )  # fmt: skip
    with pytest.raises(ModelSpecError, match="varies within unit 8001"):
        att_gt(varying, "lemp", "countyreal", "year", "first.treat", weights="w")
    zero_group = _weighted(mpdta, pl.when(pl.col("first.treat") == 2004).then(0.0).otherwise(1.0))
    with pytest.raises(ModelSpecError, match="of group 2004 sum to zero"):
        att_gt(zero_group, "lemp", "countyreal", "year", "first.treat", weights="w")
    # valid weights: the weighted 2x2 by hand for ATT(2004,2004)
    ok = _weighted(mpdta, (pl.col("countyreal") % 3 + 1).cast(pl.Float64))
    res = att_gt(ok, "lemp", "countyreal", "year", "first.treat", weights="w")
    pdf = ok.to_pandas()
    wide = pdf.pivot(index="countyreal", columns="year", values="lemp")
    meta = pdf.groupby("countyreal")[["first.treat", "w"]].first()
    dy = wide[2004] - wide[2003]
    tr, co = meta["first.treat"] == 2004, meta["first.treat"] == 0
    by_hand = np.average(dy[tr], weights=meta["w"][tr]) - np.average(dy[co], weights=meta["w"][co])
    assert res.params["ATT(2004,2004)"] == pytest.approx(by_hand, abs=1e-12)


# -- missing cohorts ------------------------------------------------------------------------------


def test_missing_cohorts_are_dropped_with_a_warning(mpdta: pl.DataFrame) -> None:
    """10 mpdta counties (treated and never treated) with first.treat = NA: did drops their rows
    (complete.cases), leaving 490 units; the same ATT(g,t) as dropping them by hand (1e-12)."""
    ids = mpdta["countyreal"].unique().sort().to_list()[::50][:10]
    na = mpdta.with_columns(
        pl.when(pl.col("countyreal").is_in(ids)).then(None).otherwise(pl.col("first.treat"))
        .alias("first.treat")
    )  # fmt: skip
    with pytest.warns(MissingCohortWarning, match=r"dropped 10 unit\(s\) \(50 rows\)"):
        res = att_gt(na, "lemp", "countyreal", "year", "first.treat")
    assert res.n_units == 490
    assert res.dropped == {"missing_cohort": 50}
    assert res.dropped_units.filter(pl.col("reason") == "cohort missing").height == 10
    ref = att_gt(mpdta.filter(~pl.col("countyreal").is_in(ids)), "lemp", "countyreal", "year",
                 "first.treat")  # fmt: skip
    np.testing.assert_allclose(res.params.to_numpy(), ref.params.to_numpy(), atol=1e-12)
    np.testing.assert_allclose(res.std_errors.to_numpy(), ref.std_errors.to_numpy(), atol=1e-12)


# -- internal column names ------------------------------------------------------------------------


def test_user_columns_named_like_the_internal_ones(mpdta: pl.DataFrame) -> None:
    """A frame whose columns are called __t, __g, __y, __w, _y (and u, t, g, y, w): the same
    numbers as with ordinary names (1e-12)."""
    ref = att_gt(mpdta.with_columns(pl.lit(2.0).alias("wt")), "lemp", "countyreal", "year",
                 "first.treat", weights="wt", cluster="countyreal")  # fmt: skip
    odd = mpdta.select(
        pl.col("lemp").alias("__w"),
        pl.col("countyreal").alias("__g"),
        pl.col("year").alias("__y"),
        pl.col("first.treat").alias("__t"),
        pl.lit(2.0).alias("_y"),
        pl.col("countyreal").alias("u"),
        pl.lit(-1.0).alias("y"),
        pl.lit(99).alias("t"),
        pl.lit(5.0).alias("g"),
        pl.lit(0.0).alias("w"),
    )
    res = att_gt(odd, "__w", "__g", "__y", "__t", weights="_y", cluster="u")
    assert res.names == ref.names
    np.testing.assert_allclose(res.params.to_numpy(), ref.params.to_numpy(), atol=1e-12)
    np.testing.assert_allclose(res.std_errors.to_numpy(), ref.std_errors.to_numpy(), atol=1e-12)
    assert res.aggregate("dynamic").overall_att == pytest.approx(-0.0772, abs=1e-4)
