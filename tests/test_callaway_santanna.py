"""Callaway & Sant'Anna (2021) ATT(g,t) against the did package's published output.

References (../shared/validation, README in each folder): mpdta (R ``did`` README: ATT(g,t),
group and dynamic aggregations, pre-test p-value) and the Medicaid panel (Mixtape Advanced-DID
solutions: ATT(2014, t) with not-yet-treated controls). The published standard errors come from
``did``'s multiplier bootstrap (random, IQR-based); ours are the analytical influence-function
standard errors, checked exactly against statsmodels' HC0 2x2 regressions and, for the
aggregations, against a unit bootstrap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
import statsmodels.api as sm
from conftest import shared_path

from tradeimpact.errors import ModelSpecError
from tradeimpact.models.callaway_santanna import NoNeverTreatedWarning, SmallGroupWarning, att_gt

# did README (mpdta, est_method="reg", never-treated controls): ATT(g, t)
MPDTA_ATT = {
    (2004, 2004): -0.0105,
    (2004, 2005): -0.0704,
    (2004, 2006): -0.1373,
    (2004, 2007): -0.1008,
    (2006, 2004): 0.0065,
    (2006, 2005): -0.0028,
    (2006, 2006): -0.0046,
    (2006, 2007): -0.0412,
    (2007, 2004): 0.0305,
    (2007, 2005): -0.0027,
    (2007, 2006): -0.0311,
    (2007, 2007): -0.0261,
}
MPDTA_DYNAMIC = {
    -3: 0.0305,
    -2: -0.0006,
    -1: -0.0245,
    0: -0.0199,
    1: -0.0510,
    2: -0.1373,
    3: -0.1008,
}
MPDTA_GROUP = {2004: -0.0797, 2006: -0.0229, 2007: -0.0261}


@pytest.fixture(scope="module")
def mpdta() -> pl.DataFrame:
    return pl.read_csv(shared_path("validation", "mpdta", "mpdta.csv"))


@pytest.fixture(scope="module")
def ehec() -> pl.DataFrame:
    return pl.read_csv(
        shared_path("validation", "ehec_medicaid", "ehec_data.csv"), null_values=["NA", ""]
    )


def test_mpdta_att_gt_all_twelve(mpdta: pl.DataFrame) -> None:
    res = att_gt(mpdta, "lemp", "countyreal", "year", "first.treat")
    got = {(int(g), int(t)): a for g, t, a in res.att_gt.select("group", "time", "att").iter_rows()}
    assert set(got) == set(MPDTA_ATT)
    for key, ref in MPDTA_ATT.items():
        assert got[key] == pytest.approx(ref, abs=1e-4), key


def test_att_gt_equals_2x2_regression_with_hc0(mpdta: pl.DataFrame) -> None:
    """Each ATT(g,t) and its analytical SE = OLS of the differenced outcome on the group dummy
    in the 2x2 sample (statsmodels, HC0)."""
    res = att_gt(mpdta, "lemp", "countyreal", "year", "first.treat")
    wide = mpdta.to_pandas().pivot(index="countyreal", columns="year", values="lemp")
    g_of = mpdta.to_pandas().groupby("countyreal")["first.treat"].first()
    for g, t, base, att, se in res.att_gt.select("group", "time", "base", "att", "se").iter_rows():
        keep = (g_of == g) | (g_of == 0)
        dy = (wide[int(t)] - wide[int(base)])[keep]
        x = sm.add_constant((g_of[keep] == g).astype(float))
        fit = sm.OLS(dy, x).fit(cov_type="HC0")
        assert att == pytest.approx(fit.params.iloc[1], abs=1e-12)
        assert se == pytest.approx(fit.bse.iloc[1], rel=1e-10)


def test_mpdta_aggregations_and_pretest(mpdta: pl.DataFrame) -> None:
    res = att_gt(mpdta.to_pandas(), "lemp", "countyreal", "year", "first.treat")
    group = res.aggregate("group")
    assert round(group.overall_att, 3) == -0.031
    comps = dict(zip(group.components["key"], group.components["att"], strict=True))
    for g, ref in MPDTA_GROUP.items():
        assert comps[g] == pytest.approx(ref, abs=1e-4)
    dyn = res.aggregate("dynamic")
    assert dyn.overall_att == pytest.approx(-0.0772, abs=1e-4)
    comps = dict(zip(dyn.components["key"], dyn.components["att"], strict=True))
    for e, ref in MPDTA_DYNAMIC.items():
        assert comps[e] == pytest.approx(ref, abs=1e-4)
    # published SEs are one multiplier-bootstrap run (0.0126, 0.0219); analytical IF SEs:
    # 0.01245 (-1.2%) and 0.01996 (-8.9%)
    assert group.overall_se == pytest.approx(0.0126, rel=0.05)
    assert dyn.overall_se == pytest.approx(0.0219, rel=0.10)
    # pre-test: did prints round(p, 5) = 0.16812 (analytical covariance); ours to 1e-5
    assert res.pretest_df == 5
    assert res.pretest_pvalue == pytest.approx(0.16812, abs=1e-5)
    # simple = pg-weighted mean of the post-treatment cells (by hand)
    tab = res.att_gt.filter(pl.col("post"))
    sizes = {2004.0: 20, 2006.0: 40, 2007.0: 131}
    wts = np.array([sizes[g] for g in tab["group"]], dtype=float)
    assert res.aggregate("simple").overall_att == pytest.approx(
        float(tab["att"].to_numpy() @ wts / wts.sum()), abs=1e-12
    )
    cal = res.aggregate("calendar")
    assert cal.components["key"].to_list() == [2004.0, 2005.0, 2006.0, 2007.0]
    assert cal.overall_att == pytest.approx(float(cal.components["att"].mean()), abs=1e-12)
    assert group.tidy().height == 4 and list(group.conf_int().columns) == ["lower", "upper"]
    assert group.params["group=2004"] == pytest.approx(-0.0797, abs=1e-4)
    assert res.params["ATT(2004,2006)"] == pytest.approx(-0.1373, abs=1e-4)
    assert res.std_errors["ATT(2004,2004)"] == pytest.approx(0.0233, abs=1e-4)  # did, analytic
    assert dyn.std_errors["overall"] == pytest.approx(dyn.overall_se, rel=1e-12)
    assert "pre-test" in res.summary() and "influence function" in res.inference


def test_aggregated_ses_match_a_unit_bootstrap(mpdta: pl.DataFrame) -> None:
    """Influence-function SEs (with the estimated-weights term) vs resampling counties."""
    res = att_gt(mpdta, "lemp", "countyreal", "year", "first.treat")
    kinds = ("simple", "group", "dynamic", "calendar")
    analytic = {k: res.aggregate(k).overall_se for k in kinds}
    panel = mpdta.sort("countyreal", "year")
    n_units, n_t = panel["countyreal"].n_unique(), panel["year"].n_unique()
    rng = np.random.default_rng(2021)
    draws: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(300):
        pick = rng.integers(0, n_units, n_units)
        rows = (pick[:, None] * n_t + np.arange(n_t)[None, :]).ravel()
        boot = panel[rows].with_columns(countyreal=pl.Series(np.repeat(np.arange(n_units), n_t)))
        r = att_gt(boot, "lemp", "countyreal", "year", "first.treat")
        for k in kinds:
            draws[k].append(r.aggregate(k).overall_att)
    for k in kinds:
        # 300 draws: the bootstrap SE itself is within ~ +-8% (2 s.d.) of the truth
        assert analytic[k] == pytest.approx(np.std(draws[k], ddof=1), rel=0.12), k


def test_ehec_not_yet_treated(ehec: pl.DataFrame) -> None:
    # did warns on this panel too: four adoption cohorts have fewer than 5 states
    small = r"Check groups: 2015 \(3 units\), 2016 \(2 units\), 2017 \(1 unit\), 2019 \(2 units\)"
    with pytest.warns(SmallGroupWarning, match=small):
        res = att_gt(ehec, "dins", "stfips", "year", "yexp2", control_group="notyet")
    assert res.small_groups == {"2015": 3, "2016": 2, "2017": 1, "2019": 2}
    assert "small groups" in res.summary()
    got = {
        int(t): a
        for g, t, a in res.att_gt.select("group", "time", "att").iter_rows()
        if g == 2014 and t >= 2014
    }
    ref = {2014: 0.0467, 2015: 0.0692, 2016: 0.0785, 2017: 0.0725, 2018: 0.0738, 2019: 0.0803}
    for t, r in ref.items():
        assert got[t] == pytest.approx(r, abs=1e-4), t
    # published SEs (did multiplier bootstrap) 0.0086 and 0.0099; analytic 0.00840, 0.01002
    se = dict(zip(res.names, res.std_errors, strict=True))
    assert se["ATT(2014,2014)"] == pytest.approx(0.0086, rel=0.05)
    assert se["ATT(2014,2015)"] == pytest.approx(0.0099, rel=0.05)
    # the 2x2 by hand: 2014 cohort vs states not treated by 2014 (never or later), 2013 -> 2014
    pdf = ehec.to_pandas()
    wide = pdf.pivot(index="stfips", columns="year", values="dins")
    g_of = pdf.groupby("stfips")["yexp2"].first()
    dy = wide[2014] - wide[2013]
    ctrl = g_of.isna() | (g_of > 2014)
    assert got[2014] == pytest.approx(dy[g_of == 2014].mean() - dy[ctrl].mean(), abs=1e-12)
    # never-treated controls differ (fewer comparison states)
    with pytest.warns(SmallGroupWarning):
        never = att_gt(ehec, "dins", "stfips", "year", "yexp2", control_group="nevertreated")
    n_ctrl = never.att_gt.filter(pl.col("group") == 2014)["n_control"].unique().to_list()
    assert n_ctrl == [int(g_of.isna().sum())]


def test_universal_base_period(mpdta: pl.DataFrame) -> None:
    res = att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", base_period="universal")
    tab = res.att_gt
    # post-treatment cells are the same as with the varying base
    post = tab.filter(pl.col("post")).sort("group", "time")["att"].to_numpy()
    var = att_gt(mpdta, "lemp", "countyreal", "year", "first.treat").att_gt
    np.testing.assert_allclose(post, var.filter(pl.col("post")).sort("group", "time")["att"])
    # the reference cell g-1 is reported as zero; pre cells are long differences to g-1
    ref = tab.filter(pl.col("time") == pl.col("group") - 1)
    assert (ref["att"] == 0).all()
    row = tab.filter((pl.col("group") == 2007) & (pl.col("time") == 2004))["att"][0]
    # long difference 2004 -> 2006 with the sign of "t minus base": minus the sum of the short ones
    assert row == pytest.approx(-(-0.002726 + -0.031087), abs=2e-6)


def _toy(balanced: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    units = np.repeat(np.arange(30), 6)
    year = np.tile(np.arange(2000, 2006), 30)
    g = np.select([units < 8, units < 16], [2002, 2004], 0)
    df = pd.DataFrame({"id": units, "year": year, "g": g, "y": rng.normal(size=units.size)})
    return df if balanced else df.drop(index=[3, 40])


def test_bad_inputs_and_documented_handling() -> None:
    with pytest.raises(ModelSpecError, match="unbalanced panel"):
        att_gt(_toy(False), "y", "id", "year", "g")
    res = att_gt(_toy(False), "y", "id", "year", "g", balance=True)
    assert res.dropped_units.height == 2 and res.n_units == 28
    assert res.dropped == {"unbalanced_units": 10}  # 2 units x 5 rows present
    varying = _toy()
    varying.loc[0, "g"] = 2004
    with pytest.raises(ModelSpecError, match="varies within unit 0"):
        att_gt(varying, "y", "id", "year", "g")
    early = _toy()
    early.loc[early.id == 20, "g"] = 2000
    res = att_gt(early, "y", "id", "year", "g")
    assert res.dropped_units["reason"].to_list() == ["treated in the first period (no pre-period)"]
    assert res.dropped == {"treated_in_first_period": 6}
    # no never-treated unit: did's rule (tests/test_cs_no_never_treated.py), no longer an error
    all_treated = _toy()
    all_treated.loc[all_treated.g == 0, "g"] = 2005
    with pytest.warns(NoNeverTreatedWarning, match="last cohort"):
        res = att_gt(all_treated, "y", "id", "year", "g")
    assert res.att_gt["time"].max() == 2004 and 2005 not in res.att_gt["group"].to_list()
    with pytest.raises(ModelSpecError, match="control_group"):
        att_gt(_toy(), "y", "id", "year", "g", control_group="sometimes")
    with pytest.raises(ModelSpecError, match="aggregation"):
        att_gt(_toy(), "y", "id", "year", "g").aggregate("weekly")  # type: ignore[arg-type]
    holes = _toy()
    holes.loc[5, "y"] = np.nan
    with pytest.raises(ModelSpecError, match="row 5"):
        att_gt(holes, "y", "id", "year", "g")


# -- very small groups (did's pre_process_did rules) ----------------------------------------------


def _two_period(n_treated: int, n_never: int, seed: int = 0) -> pd.DataFrame:
    """SYNTHETIC two-period panel: cohort 2 (``n_treated`` units) and never treated (g = 0)."""
    rng = np.random.default_rng(seed)
    n = n_treated + n_never
    unit = np.repeat(np.arange(n), 2)
    period = np.tile([1, 2], n)
    g = np.where(unit < n_treated, 2, 0)
    y = rng.normal(size=n)[unit] + rng.normal(size=2 * n)
    return pd.DataFrame({"id": unit, "t": period, "g": g, "y": y})


def test_one_never_treated_unit_is_refused() -> None:
    """The issue's repro (100 treated units, 1 never-treated unit, 2 periods: SE 0.16 with
    n_control 1): did stops ("never treated group is too small"); so do we, naming the
    one-treated-unit headline methods."""
    df = _two_period(100, 1)
    with pytest.raises(ModelSpecError, match="never treated group is too small") as err:
        att_gt(df, "y", "id", "t", "g")
    assert "control_group='notyet'" in str(err.value)
    assert "inference='ri_t'" in str(err.value)
    # with not-yet-treated controls did only warns; the estimate is the plain 2x2 (unchanged)
    with pytest.warns(SmallGroupWarning, match=r"never treated \(1 unit\)"):
        res = att_gt(df, "y", "id", "t", "g", control_group="notyet")
    dy = df[df.t == 2].set_index("id")["y"] - df[df.t == 1].set_index("id")["y"]
    assert res.params["ATT(2,2)"] == pytest.approx(dy[:100].mean() - dy[100], abs=1e-12)
    assert res.att_gt["n_control"].to_list() == [1]


def test_one_treated_unit_warns_and_the_warning_is_right() -> None:
    """One treated unit among 20 never treated: a SmallGroupWarning pointing to ri_t; the ATT is
    the 2x2 difference, unchanged. The warning's claim checked: across the 20 choices of the
    treated unit ATT(2,2) varies far more (here s.d. 1.87) than the largest
    analytic SE reported for one choice (0.39; the issue: 1.42 against 0.044)."""
    rng = np.random.default_rng(3)
    n = 21
    y1, y2 = rng.normal(size=n), rng.normal(size=n)
    atts, ses = [], []
    for treated in range(20):
        g = np.zeros(n, dtype=int)
        g[treated] = 2
        df = pd.DataFrame(
            {"id": np.repeat(np.arange(n), 2), "t": np.tile([1, 2], n),
             "g": np.repeat(g, 2), "y": np.column_stack([y1, y2]).ravel()}
        )  # fmt: skip
        with pytest.warns(SmallGroupWarning, match=r"Check groups: 2 \(1 unit\).*ri_t"):
            res = att_gt(df, "y", "id", "t", "g")
        dy = y2 - y1
        assert res.params["ATT(2,2)"] == pytest.approx(dy[treated] - dy[g == 0].mean(), abs=1e-12)
        atts.append(res.params["ATT(2,2)"])
        ses.append(res.std_errors["ATT(2,2)"])
    assert np.std(atts, ddof=1) > 3 * max(ses)


def test_mpdta_has_no_small_groups(mpdta: pl.DataFrame) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallGroupWarning)
        res = att_gt(mpdta, "lemp", "countyreal", "year", "first.treat")
    assert res.small_groups == {}


# -- one naming, one never-treated rule, misuse (issue 13) ----------------------------------------


@pytest.mark.parametrize("code", [np.inf, None, np.nan, 10_000.0])
def test_never_treated_codes_give_identical_estimates(mpdta: pl.DataFrame, code: object) -> None:
    """did's 0, inf, null, NaN and a period after the sample: the same ATT(g,t), to 1e-12, and
    did's published numbers."""
    ref = att_gt(mpdta, "lemp", "countyreal", "year", "first.treat")
    recoded = mpdta.with_columns(
        pl.when(pl.col("first.treat") == 0).then(pl.lit(code, dtype=pl.Float64))
        .otherwise(pl.col("first.treat").cast(pl.Float64)).alias("first.treat")
    )  # fmt: skip
    res = att_gt(recoded, "lemp", "countyreal", "year", "first.treat")
    np.testing.assert_allclose(res.params.to_numpy(), ref.params.to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.std_errors.to_numpy(), ref.std_errors.to_numpy(), atol=1e-12)
    for kind in ("simple", "group", "dynamic", "calendar"):
        a, b = res.aggregate(kind), ref.aggregate(kind)  # type: ignore[arg-type]
        np.testing.assert_allclose(a.params.to_numpy(), b.params.to_numpy(), atol=1e-12)
        np.testing.assert_allclose(a.std_errors.to_numpy(), b.std_errors.to_numpy(), atol=1e-12)
    got = {(int(g), int(t)): a for g, t, a in res.att_gt.select("group", "time", "att").iter_rows()}
    for key, published in MPDTA_ATT.items():
        assert got[key] == pytest.approx(published, abs=1e-4), key


def test_cohort_name_alias_and_aggregate_aliases(mpdta: pl.DataFrame) -> None:
    new = att_gt(mpdta, "lemp", "countyreal", "year", cohort="first.treat")
    old = att_gt(mpdta, "lemp", "countyreal", "year", group="first.treat")
    np.testing.assert_array_equal(new.params.to_numpy(), old.params.to_numpy())
    with pytest.raises(ModelSpecError, match="cohort column once"):
        att_gt(mpdta, "lemp", "countyreal", "year", cohort="first.treat", group="year")
    for alias, kind in (("att", "simple"), ("cohort", "group"), ("period", "dynamic")):
        a, b = new.aggregate(alias), new.aggregate(kind)  # type: ignore[arg-type]
        assert a.kind == kind and a.names == b.names
        np.testing.assert_array_equal(a.params.to_numpy(), b.params.to_numpy())
    assert new.aggregate("dynamic").params["overall"] == pytest.approx(-0.0772, abs=1e-4)


def test_outcome_log(mpdta: pl.DataFrame) -> None:
    """outcome="log" on employment in levels = the level fit on did's lemp (log employment)."""
    emp = mpdta.with_columns(pl.col("lemp").exp().alias("emp"))
    logged = att_gt(emp, "emp", "countyreal", "year", "first.treat", outcome="log")
    ref = att_gt(mpdta, "lemp", "countyreal", "year", "first.treat")
    np.testing.assert_allclose(logged.params.to_numpy(), ref.params.to_numpy(), atol=1e-12)
    assert logged.depvar == "log(emp)"
    zero = emp.with_columns(
        pl.when((pl.col("countyreal") == 8001) & (pl.col("year") == 2005)).then(0.0)
        .otherwise(pl.col("emp")).alias("emp")
    )  # fmt: skip
    with pytest.raises(ModelSpecError, match=r"unbalanced panel.*have no log"):
        att_gt(zero, "emp", "countyreal", "year", "first.treat", outcome="log")
    res = att_gt(zero, "emp", "countyreal", "year", "first.treat", outcome="log", balance=True)
    assert res.n_units == ref.n_units - 1 and res.dropped["zeros_in_log"] == 1


def test_cluster_sums_the_influence_functions(mpdta: pl.DataFrame) -> None:
    """cluster="state": each ATT(g,t)'s se = statsmodels' cluster-robust OLS of the 2x2 (no
    small-sample correction); clustering by the unit itself changes nothing."""
    data = mpdta.with_columns((pl.col("countyreal") // 1000).alias("state"))
    res = att_gt(data, "lemp", "countyreal", "year", "first.treat", cluster="state")
    by_unit = att_gt(data, "lemp", "countyreal", "year", "first.treat", cluster="countyreal")
    ref = att_gt(data, "lemp", "countyreal", "year", "first.treat")
    np.testing.assert_allclose(by_unit.std_errors.to_numpy(), ref.std_errors.to_numpy(), rtol=1e-12)
    np.testing.assert_array_equal(res.params.to_numpy(), ref.params.to_numpy())
    assert res.n_clusters == {"state": data["state"].n_unique()}
    pdf = data.to_pandas()
    wide = pdf.pivot(index="countyreal", columns="year", values="lemp")
    g_of = pdf.groupby("countyreal")["first.treat"].first()
    st = pdf.groupby("countyreal")["state"].first()
    for g, t, base, se in res.att_gt.select("group", "time", "base", "se").iter_rows():
        keep = (g_of == g) | (g_of == 0)
        dy = (wide[int(t)] - wide[int(base)])[keep]
        x = sm.add_constant((g_of[keep] == g).astype(float))
        fit = sm.OLS(dy, x).fit(
            cov_type="cluster", cov_kwds={"groups": st[keep].to_numpy(), "use_correction": False}
        )
        assert se == pytest.approx(fit.bse.iloc[1], rel=1e-10)
    assert res.aggregate("simple").overall_se != pytest.approx(
        ref.aggregate("simple").overall_se, rel=1e-3
    )
    varying = data.with_columns(
        pl.when((pl.col("countyreal") == 8001) & (pl.col("year") == 2005)).then(99)
        .otherwise(pl.col("state")).alias("state")
    )  # fmt: skip
    with pytest.raises(ModelSpecError, match="cluster column 'state' varies within unit 8001"):
        att_gt(varying, "lemp", "countyreal", "year", "first.treat", cluster="state")


def test_misuse_names_the_column(mpdta: pl.DataFrame) -> None:
    with pytest.raises(ModelSpecError, match=r"'yr'.*did you mean 'year'"):
        att_gt(mpdta, "lemp", "countyreal", "yr", "first.treat")
    text = mpdta.with_columns(pl.col("lemp").cast(pl.String))
    with pytest.raises(ModelSpecError, match="outcome column 'lemp' must be numeric"):
        att_gt(text, "lemp", "countyreal", "year", "first.treat")
    varying = mpdta.with_columns(
        pl.when((pl.col("countyreal") == 8001) & (pl.col("year") == 2005)).then(2006)
        .otherwise(pl.col("first.treat")).alias("first.treat")
    )  # fmt: skip
    with pytest.raises(ModelSpecError, match=r"'first\.treat' varies within unit 8001"):
        att_gt(varying, "lemp", "countyreal", "year", "first.treat")
    centred = mpdta.with_columns(
        (pl.col("year") - 2005).alias("t"),
        pl.when(pl.col("first.treat") == 0).then(0).otherwise(pl.col("first.treat") - 2005)
        .alias("g"),
    )  # fmt: skip
    with pytest.raises(ModelSpecError, match=r"periods before 0.*code them as inf or null"):
        att_gt(centred, "lemp", "countyreal", "t", "g")


def test_att_gt_is_exported() -> None:
    import tradeimpact as ti
    import tradeimpact.models as models

    assert ti.att_gt is models.att_gt is att_gt
    assert "att_gt" in models.__all__ and "att_gt" in ti.__all__


def test_date_columns(mpdta: pl.DataFrame) -> None:
    """Years as dates (freq="A"): the same ATT(g,t) under the same names."""
    dated = mpdta.with_columns(
        pl.date(pl.col("year"), 1, 1).alias("year"),
        pl.when(pl.col("first.treat") > 0)
        .then(pl.date(pl.col("first.treat"), 1, 1))
        .alias("first.treat"),
    )
    res = att_gt(dated, "lemp", "countyreal", "year", "first.treat", freq="A")
    ref = att_gt(mpdta, "lemp", "countyreal", "year", "first.treat")
    assert res.names == ref.names
    np.testing.assert_allclose(res.params.to_numpy(), ref.params.to_numpy(), atol=1e-12)
