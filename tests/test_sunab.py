"""Sun & Abraham (2021) against fixest's published base_stagg numbers (README in the folder)."""

from __future__ import annotations

import datetime as dt
import re
import warnings

import numpy as np
import polars as pl
import pytest
from conftest import shared_path

from tradeimpact.errors import ModelSpecError
from tradeimpact.models.event_study import event_study
from tradeimpact.models.sunab import sunab


@pytest.fixture(scope="module")
def base_stagg() -> pl.DataFrame:
    return pl.read_csv(shared_path("validation", "base_stagg", "base_stagg.csv"))


def test_sunab_att_with_x1(base_stagg: pl.DataFrame) -> None:
    """feols(y ~ x1 + sunab(year_treated, year) | id + year); summary(agg = "att"), CR1 by id."""
    res = sunab(base_stagg, "y", "year_treated", "year", "id", controls=["x1"])
    assert res.aggregates is not None
    assert res.aggregates["ATT"] == pytest.approx(-1.133749, abs=1e-6)
    assert res.aggregates["ATT_se"] == pytest.approx(0.205070, abs=1e-5)
    assert res.params["x1"] == pytest.approx(0.994678, abs=1e-6)
    assert res.std_errors["x1"] == pytest.approx(0.018378, abs=1e-5)
    assert res.n_clusters == {"id": 95}
    # the raw cohort x period interactions are kept: the first one of fixest's etable
    raw = res.extra["interactions"]
    assert raw.params["rel::-9:cohort::10"] == pytest.approx(0.3518, abs=5e-5)
    assert raw.std_errors["rel::-9:cohort::10"] == pytest.approx(0.3591, abs=5e-5)


def test_sunab_event_time_coefficients(base_stagg: pl.DataFrame) -> None:
    """y ~ sunab(year_treated, year) | id + year: event-time coefficients (fixest issue #287)."""
    ref = {
        -9: (2.343297, 1.122482),
        -8: (-0.866391, 1.186767),
        -7: (-0.345837, 0.713641),
        -6: (-0.471113, 0.731894),
        -5: (-0.796544, 0.527162),
        -4: (-0.280033, 0.429222),
        -3: (-0.315766, 0.528401),
        -2: (0.241325, 0.457825),
    }
    res = sunab(base_stagg, "y", "year_treated", "year", "id")
    assert res.event_times == [*range(-9, -1), *range(0, 9)]
    for e, (b, se) in ref.items():
        term = res.event_terms[e]
        assert res.params[term] == pytest.approx(b, abs=1e-6)
        assert res.std_errors[term] == pytest.approx(se, abs=1e-5)
    assert res.pretrend is not None and res.pretrend.df == 8
    # the Wald statistic by hand from the reported covariance
    times, beta, sigma = res.event_study_inputs()
    pre = res.pre_index
    assert list(times[pre]) == list(range(-9, -1))
    w = beta[pre] @ np.linalg.solve(sigma[np.ix_(pre, pre)], beta[pre])
    assert res.pretrend.statistic == pytest.approx(w / 8, rel=1e-10)


def test_sunab_equals_interaction_regression_in_pyfixest(base_stagg: pl.DataFrame) -> None:
    """The saturated regression equals pyfixest feols with the same interaction dummies, and the
    aggregation is the count-weighted average of its coefficients."""
    pf = pytest.importorskip("pyfixest")
    res = sunab(base_stagg, "y", "year_treated", "year", "id")
    raw = res.extra["interactions"]
    pdf = base_stagg.to_pandas()
    cols = []
    for nm in raw.names:
        r, c = nm.removeprefix("rel::").split(":cohort::")
        col = f"d_{len(cols)}"
        pdf[col] = (
            (pdf["year_treated"] == float(c)) & (pdf["year"] - pdf["year_treated"] == float(r))
        ).astype(float)
        cols.append(col)
    m = pf.feols(
        f"y ~ {' + '.join(cols)} | id + year",
        pdf,
        vcov={"CRV1": "id"},
        demeaner=pf.MapDemeaner(fixef_tol=1e-13),
    )
    np.testing.assert_allclose(raw.params.to_numpy(), m.coef().to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(raw.std_errors.to_numpy(), m.se().to_numpy(), rtol=1e-7)


def test_sunab_needs_never_treated(base_stagg: pl.DataFrame) -> None:
    only_treated = base_stagg.filter(pl.col("year_treated") < 1000)
    with pytest.raises(ModelSpecError, match="never-treated"):
        event_study(
            only_treated,
            "y",
            "id",
            "year",
            treat_date="year_treated",
            window=None,
            estimator="sunab",
            outcome="level",
        )


# -- one naming, one never-treated rule, one aggregate API (issue 13) -----------------------------


def _recode_never(data: pl.DataFrame, code: float | None) -> pl.DataFrame:
    """base_stagg's never-treated units (year_treated = 10000) coded as ``code`` instead."""
    never = pl.col("year_treated") > 1000
    return data.with_columns(
        pl.when(never).then(pl.lit(code, dtype=pl.Float64)).otherwise(pl.col("year_treated"))
        .alias("year_treated")
    )  # fmt: skip


@pytest.mark.parametrize("code", [0.0, np.inf, None, np.nan])
def test_never_treated_codes_give_identical_estimates(
    base_stagg: pl.DataFrame, code: float | None
) -> None:
    """10000 (fixest's base_stagg), 0, inf, null and NaN: the same fit to 1e-12, fixest's ATT."""
    ref = sunab(base_stagg, "y", "id", "year", "year_treated", controls=["x1"])
    res = sunab(_recode_never(base_stagg, code), "y", "id", "year", "year_treated", controls=["x1"])
    assert res.names == ref.names and res.nobs == ref.nobs == 950
    np.testing.assert_allclose(res.params.to_numpy(), ref.params.to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.std_errors.to_numpy(), ref.std_errors.to_numpy(), atol=1e-12)
    att = res.aggregate("simple")
    assert att.params["overall"] == pytest.approx(-1.133749, abs=1e-6)  # fixest agg = "att"
    assert att.std_errors["overall"] == pytest.approx(0.205070, abs=1e-5)


def test_common_names_aliases_and_the_old_positional_order(base_stagg: pl.DataFrame) -> None:
    new = sunab(base_stagg, "y", "id", "year", "year_treated", controls=["x1"], ref=-1)
    old = sunab(base_stagg, "y", "year_treated", "year", "id", controls=["x1"])  # former order
    kw = sunab(
        base_stagg, "y", unit="id", period="year", cohort="year_treated", controls=["x1"], ref_p=-1
    )
    clustered = sunab(base_stagg, "y", "id", "year", "year_treated", controls=["x1"], cluster="id")
    for other in (old, kw, clustered):
        np.testing.assert_array_equal(other.params.to_numpy(), new.params.to_numpy())
        np.testing.assert_array_equal(other.std_errors.to_numpy(), new.std_errors.to_numpy())
    with pytest.raises(ModelSpecError, match="time column once"):
        sunab(base_stagg, "y", "id", "year", "year_treated", period="time_to_treatment")
    with pytest.raises(ModelSpecError, match="disagree"):
        sunab(base_stagg, "y", "id", "year", "year_treated", cluster="id", vcov="iid")
    with pytest.raises(ModelSpecError, match=r"'yaer'.*did you mean 'year'"):
        sunab(base_stagg, "y", "id", "yaer", "year_treated")
    text = base_stagg.with_columns(pl.col("y").cast(pl.String))
    with pytest.raises(ModelSpecError, match="outcome column 'y' must be numeric"):
        sunab(text, "y", "id", "year", "year_treated")
    varying = base_stagg.with_columns(
        pl.when((pl.col("id") == 90) & (pl.col("year") == 5)).then(3.0)
        .otherwise(pl.col("year_treated")).alias("year_treated")
    )  # fmt: skip
    with pytest.raises(ModelSpecError, match="varies within unit 90"):
        sunab(varying, "y", "id", "year", "year_treated")


def test_outcome_log_is_the_level_fit_of_the_log(base_stagg: pl.DataFrame) -> None:
    pos = base_stagg.with_columns((pl.col("y") - pl.col("y").min() + 1).alias("v"))
    logged = sunab(pos, "v", "id", "year", "year_treated", outcome="log")
    level = sunab(pos.with_columns(pl.col("v").log()), "v", "id", "year", "year_treated")
    np.testing.assert_allclose(logged.params.to_numpy(), level.params.to_numpy(), atol=1e-12)
    assert logged.depvar == "log(v)" and level.depvar == "v"


@pytest.fixture(scope="module")
def saturated_pyfixest(base_stagg: pl.DataFrame) -> tuple[object, object]:
    """pyfixest's saturated Sun & Abraham regression on base_stagg (never treated coded 0)."""
    pf = pytest.importorskip("pyfixest")
    pdf = base_stagg.to_pandas()
    pdf["g"] = np.where(pdf["year_treated"] > 1000, 0, pdf["year_treated"]).astype(int)
    with warnings.catch_warnings():
        # pyfixest's own notice that its saturated estimator is "currently in beta" (a third-party
        # notice about pyfixest, not a warning of this package): safe to ignore here
        warnings.filterwarnings("ignore", message=".*beta.*", category=UserWarning)
        fit = pf.event_study(pdf, yname="y", idname="id", tname="year", gname="g",
                             estimator="saturated")  # fmt: skip
    return pf, fit


def _cells(fit: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rel, cohort, rows) of each pyfixest coefficient, counted on pyfixest's data."""
    names = list(fit.coef().index)  # type: ignore[attr-defined]
    parsed = [re.match(r"rel_time::(.+):first_treated_period::(.+)$", nm) for nm in names]
    rel = np.array([float(m.group(1)) for m in parsed if m])
    coh = np.array([float(m.group(2)) for m in parsed if m])
    data = fit._data  # type: ignore[attr-defined]
    counts = data.groupby(["first_treated_period", "rel_time"]).size()
    n = np.array([counts[(c, r)] for c, r in zip(coh, rel, strict=True)], dtype=float)
    return rel, coh, n


def test_aggregates_against_pyfixest(
    base_stagg: pl.DataFrame, saturated_pyfixest: tuple[object, object]
) -> None:
    """Every aggregate kind: pyfixest's period aggregation (SaturatedEventStudy.aggregate) for
    the event-time terms, and for the others the weighted averages of pyfixest's cohort x period
    coefficients (weights counted here from its data) with the delta-method se sqrt(w'Vw)."""
    _, fit = saturated_pyfixest
    res = sunab(base_stagg, "y", "id", "year", "year_treated")
    beta = fit.coef().to_numpy()  # type: ignore[attr-defined]
    vcov = np.asarray(fit._vcov)  # type: ignore[attr-defined]
    rel, coh, n = _cells(fit)
    assert len(rel) == len(res.extra["interactions"].names) == 81

    def lin(w: np.ndarray) -> tuple[float, float]:
        return float(w @ beta), float(np.sqrt(w @ vcov @ w))

    def avg(mask: np.ndarray) -> np.ndarray:
        return np.where(mask, n, 0.0) / n[mask].sum()

    from pyfixest.did.saturated_twfe import SaturatedEventStudy

    pd_period = SaturatedEventStudy.aggregate(fit, agg="period")  # type: ignore[arg-type]
    dyn = res.aggregate("dynamic")
    for r, row in pd_period.iterrows():
        term = f"event_time={int(r)}"
        assert dyn.params[term] == pytest.approx(float(row["Estimate"]), rel=1e-8, abs=1e-10)
        assert dyn.std_errors[term] == pytest.approx(float(row["Std. Error"]), rel=1e-7)
    post_rows = [avg(rel == r) for r in sorted(set(rel[rel >= 0]))]
    b, se = lin(np.mean(post_rows, axis=0))
    assert dyn.overall_att == pytest.approx(b, rel=1e-8)
    assert dyn.overall_se == pytest.approx(se, rel=1e-7)
    # simple = fixest's ATT (the published number in test_sunab_att_with_x1 is with x1)
    b, se = lin(avg(rel >= 0))
    simple = res.aggregate("att")
    assert simple.names == ["overall"]
    assert simple.params["overall"] == pytest.approx(b, rel=1e-8)
    assert simple.std_errors["overall"] == pytest.approx(se, rel=1e-7)
    # group (fixest's "cohort"): post-period cells of each cohort; overall by cohort size
    grp = res.aggregate("cohort")
    sizes = (
        base_stagg.filter(pl.col("year_treated") < 1000)
        .group_by("year_treated")
        .agg(pl.col("id").n_unique())
    )
    size = dict(zip(sizes["year_treated"].to_list(), sizes["id"].to_list(), strict=True))
    rows = {}
    for c in sorted(set(coh)):
        rows[c] = avg((coh == c) & (rel >= 0))
        b, se = lin(rows[c])
        assert grp.params[f"group={int(c)}"] == pytest.approx(b, rel=1e-8)
        assert grp.std_errors[f"group={int(c)}"] == pytest.approx(se, rel=1e-7)
    tot = sum(size.values())
    b, se = lin(sum(size[c] / tot * w for c, w in rows.items()))
    assert grp.overall_att == pytest.approx(b, rel=1e-8)
    assert grp.overall_se == pytest.approx(se, rel=1e-7)
    # calendar: post-period cells of each calendar year; overall = mean over years
    cal = res.aggregate("calendar")
    years = sorted(set((coh + rel)[rel >= 0]))
    cal_rows = []
    for t in years:
        w = avg((rel >= 0) & (coh + rel == t))
        cal_rows.append(w)
        b, se = lin(w)
        assert cal.params[f"period={int(t)}"] == pytest.approx(b, rel=1e-8, abs=1e-12)
        assert cal.std_errors[f"period={int(t)}"] == pytest.approx(se, rel=1e-7)
    b, se = lin(np.mean(cal_rows, axis=0))
    assert cal.overall_att == pytest.approx(b, rel=1e-8)
    assert cal.overall_se == pytest.approx(se, rel=1e-7)


def test_weighted_aggregation_uses_the_weights(base_stagg: pl.DataFrame) -> None:
    """fixest's aggregate(use_weights = TRUE): with regression weights the cells are weighed by
    their weight sums; checked against pyfixest's weighted saturated regression."""
    pf = pytest.importorskip("pyfixest")
    rng = np.random.default_rng(7)
    w_unit = dict(enumerate(rng.uniform(0.5, 2.0, size=96)))
    data = base_stagg.with_columns(pl.col("id").replace_strict(w_unit).alias("w"))
    res = sunab(data, "y", "id", "year", "year_treated", weights="w")
    pdf = data.to_pandas()
    pdf["rel_time"] = np.where(pdf["year_treated"] > 1000, -1.0, pdf["year"] - pdf["year_treated"])
    pdf["coh"] = np.where(pdf["year_treated"] > 1000, 0, pdf["year_treated"]).astype(int)
    fit = pf.feols(
        "y ~ i(rel_time, coh, ref=-1.0, ref2=0) | id + year",
        pdf,
        weights="w",
        vcov={"CRV1": "id"},
        demeaner=pf.MapDemeaner(fixef_tol=1e-13),
    )
    names = list(fit.coef().index)
    parsed = [re.match(r"rel_time::(.+):coh::(.+)$", nm) for nm in names]
    rel = np.array([float(m.group(1)) for m in parsed if m])
    coh = np.array([float(m.group(2)) for m in parsed if m])
    wsum = pdf.groupby(["coh", "rel_time"])["w"].sum()
    n = np.array([wsum[(int(c), r)] for c, r in zip(coh, rel, strict=True)])
    w = np.where(rel >= 0, n, 0.0) / n[rel >= 0].sum()
    att = res.aggregate("simple")
    assert att.overall_att == pytest.approx(float(w @ fit.coef().to_numpy()), rel=1e-7)
    assert att.overall_se == pytest.approx(float(np.sqrt(w @ fit._vcov @ w)), rel=1e-6)
    assert res.aggregates is not None and res.aggregates["ATT"] == pytest.approx(att.overall_att)


def test_one_aggregate_type_for_sunab_and_callaway_santanna(base_stagg: pl.DataFrame) -> None:
    from tradeimpact.models.aggregate import AggregateResult
    from tradeimpact.models.callaway_santanna import att_gt
    from tradeimpact.models.sunab import SunabResult

    sa = sunab(base_stagg, "y", "id", "year", "year_treated")
    cs = att_gt(base_stagg, "y", "id", "year", "year_treated", control_group="notyet")
    assert isinstance(sa, SunabResult)
    for kind in ("simple", "dynamic", "group", "calendar", "att", "cohort", "period"):
        a, b = sa.aggregate(kind), cs.aggregate(kind)  # type: ignore[arg-type]
        assert type(a) is type(b) is AggregateResult
        assert a.kind == b.kind and a.names[0] == b.names[0] == "overall"
        assert a.tidy().columns == b.tidy().columns
        assert list(a.conf_int().columns) == ["lower", "upper"]
    with pytest.raises(ModelSpecError, match="unknown aggregation"):
        sa.aggregate("weekly")  # type: ignore[arg-type]
    # dynamic components are the event-time coefficients of the fit
    dyn = sa.aggregate("dynamic")
    for e, term in sa.event_terms.items():
        assert dyn.params[f"event_time={e}"] == pytest.approx(sa.params[term], abs=1e-12)


def test_event_time_helpers() -> None:
    """models.event_time (shared by event_study and sunab): the period index of dates, relative
    time, and the window rules (binning into the endpoints; dropping counted)."""
    from tradeimpact.models.event_study import to_period as es_to_period
    from tradeimpact.models.event_time import apply_window, relative_time, to_period

    dates = pl.Series("d", [dt.date(2010, 1, 1), dt.date(2010, 9, 1), dt.date(2011, 12, 1)])
    for freq, want in (("M", [24120, 24128, 24143]), ("Q", [8040, 8042, 8047]), ("A", [2010] * 2
                       + [2011])):  # fmt: skip
        np.testing.assert_array_equal(to_period(dates, freq), want)
        np.testing.assert_array_equal(es_to_period(dates, freq), want)
    rel = relative_time(np.array([1.0, 2, 3, 4, 5]), np.array([3.0, 3, 3, np.inf, 3]))
    np.testing.assert_array_equal(rel[[0, 1, 2, 4]], [-2, -1, 0, 2])
    assert np.isnan(rel[3])
    sample = np.ones(5, dtype=bool)
    binned, same = apply_window(rel, (-1, 1), "bin", sample, {})
    np.testing.assert_array_equal(binned[[0, 1, 2, 4]], [-1, -1, 0, 1])
    assert same.all()
    drops: dict[str, int] = {}
    kept_rel, kept = apply_window(rel, (-1, 1), "drop", sample, drops)
    np.testing.assert_array_equal(kept_rel, rel)  # dropping leaves event time as it is
    assert kept.tolist() == [False, True, True, True, False] and drops == {"outside_window": 2}
    with pytest.raises(ModelSpecError, match="endpoints"):
        apply_window(rel, (-1, 1), "trim", sample, {})  # type: ignore[arg-type]


def test_date_columns_and_several_reference_periods(base_stagg: pl.DataFrame) -> None:
    """Dates (yearly, freq="A") give the integer fit; ref=[-1, -5] (fixest's ref.p = c(-1, -5))
    leaves both relative periods out of the saturated regression, which equals pyfixest's."""
    pf = pytest.importorskip("pyfixest")
    dated = base_stagg.with_columns(
        pl.date(pl.col("year") + 2000, 1, 1).alias("year"),
        pl.when(pl.col("year_treated") < 1000)
        .then(pl.date(pl.col("year_treated").cast(pl.Int32) + 2000, 1, 1))
        .alias("year_treated"),
    )
    by_date = sunab(dated, "y", "id", "year", "year_treated", controls=["x1"], freq="A")
    by_int = sunab(base_stagg, "y", "id", "year", "year_treated", controls=["x1"])
    assert by_date.names == by_int.names
    np.testing.assert_allclose(by_date.params.to_numpy(), by_int.params.to_numpy(), atol=1e-12)
    with pytest.raises(ModelSpecError, match="in the units of the time column"):
        sunab(dated.with_columns(pl.lit(5.0).alias("c")), "y", "id", "year", "c", freq="A")
    two = sunab(base_stagg, "y", "id", "year", "year_treated", ref=[-1, -5])
    raw = two.extra["interactions"]
    assert -5 not in two.event_terms and -1 not in two.event_terms and two.ref == -1
    assert not [nm for nm in raw.names if nm.startswith(("rel::-5:", "rel::-1:"))]
    pdf = base_stagg.to_pandas()
    cols = []
    for nm in raw.names:
        r, c = nm.removeprefix("rel::").split(":cohort::")
        cols.append(f"d_{len(cols)}")
        pdf[cols[-1]] = (
            (pdf["year_treated"] == float(c)) & (pdf["year"] - pdf["year_treated"] == float(r))
        ).astype(float)
    m = pf.feols(
        f"y ~ {' + '.join(cols)} | id + year",
        pdf,
        vcov={"CRV1": "id"},
        demeaner=pf.MapDemeaner(fixef_tol=1e-13),
    )
    np.testing.assert_allclose(raw.params.to_numpy(), m.coef().to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(raw.std_errors.to_numpy(), m.se().to_numpy(), rtol=1e-7)


def test_design_record_reruns_staggered_randomization_inference(base_stagg: pl.DataFrame) -> None:
    """sunab() records its design: the registered "ri_staggered" on the fitted result equals
    staggered_randomization_inference on the panel, and its statistic is aggregate("simple")."""
    from tradeimpact.inference.staggered import staggered_randomization_inference

    res = sunab(base_stagg, "y", "id", "year", "year_treated")
    assert res.design_record is not None and res.design_record.estimator == "sunab"
    rerun = res.with_inference("ri_staggered", n_permutations=9, seed=1)
    (attached,) = rerun.attached.values()
    direct = staggered_randomization_inference(
        base_stagg, "y", "id", "year", "year_treated", estimator="sunab", n_permutations=9, seed=1
    )
    assert attached.result.pvalue == direct.pvalue
    assert attached.result.estimate == pytest.approx(direct.estimate, abs=1e-12)
    assert direct.estimate == pytest.approx(res.aggregate("simple").overall_att, abs=1e-12)
    assert not res.attached  # the fitted result is unchanged (with_inference returns a new one)


# -- fixest's always-treated rule and bin.rel (issue 14) ------------------------------------------


def test_always_treated_units_are_dropped_with_a_note(base_stagg: pl.DataFrame) -> None:
    """Units treated from the first period on (fixest's always treated) are dropped with an
    AlwaysTreatedWarning (fixest removes them) instead of refused: the fit equals the one on the
    panel without them (1e-12), and the rows are counted."""
    from tradeimpact.models.sunab import AlwaysTreatedWarning

    extra = (
        base_stagg.filter(pl.col("id") <= 5)
        .with_columns((pl.col("id") + 10_000).alias("id"), pl.lit(1.0).alias("year_treated"))
    )  # fmt: skip
    data = pl.concat([base_stagg.with_columns(pl.col("year_treated").cast(pl.Float64)), extra])
    with pytest.warns(
        AlwaysTreatedWarning, match=r"dropped 5 always-treated unit\(s\) \(50 rows\)"
    ):
        res = sunab(data, "y", "id", "year", "year_treated", controls=["x1"])
    ref = sunab(base_stagg, "y", "id", "year", "year_treated", controls=["x1"])
    assert res.names == ref.names and res.dropped["always_treated"] == 50
    np.testing.assert_allclose(res.params.to_numpy(), ref.params.to_numpy(), atol=1e-12)
    np.testing.assert_allclose(res.std_errors.to_numpy(), ref.std_errors.to_numpy(), atol=1e-12)


def test_bin_rel_pools_relative_periods_as_pyfixest_dummies(base_stagg: pl.DataFrame) -> None:
    """bin_rel={-6: range(-9, -5)} (fixest's bin.rel = list("-6" = -9:-6)): the saturated
    regression equals pyfixest's feols on the cohort x pooled-relative-period dummies, and e::-6
    is the row-count-weighted mean of the cohorts' pooled coefficients."""
    pf = pytest.importorskip("pyfixest")
    res = sunab(base_stagg, "y", "id", "year", "year_treated", bin_rel={-6: range(-9, -5)})
    assert [k for k in res.event_terms if k < -5] == [-6]
    raw = res.extra["interactions"]
    pdf = base_stagg.to_pandas()
    rel = pdf["year"] - pdf["year_treated"]
    pooled = rel.where(~rel.between(-9, -6), -6)
    cols = []
    for nm in raw.names:
        r, c = nm.removeprefix("rel::").split(":cohort::")
        cols.append(f"d_{len(cols)}")
        pdf[cols[-1]] = ((pdf["year_treated"] == float(c)) & (pooled == float(r))).astype(float)
    m = pf.feols(f"y ~ {' + '.join(cols)} | id + year", pdf, vcov={"CRV1": "id"},
                 demeaner=pf.MapDemeaner(fixef_tol=1e-13))  # fmt: skip
    np.testing.assert_allclose(raw.params.to_numpy(), m.coef().to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(raw.std_errors.to_numpy(), m.se().to_numpy(), rtol=1e-7)
    cells = res.cells.filter(pl.col("rel") == -6)
    by_hand = float(
        (cells["n"].to_numpy() @ raw.params[cells["term"].to_list()].to_numpy()) / cells["n"].sum()
    )
    assert res.params["e::-6"] == pytest.approx(by_hand, abs=1e-12)
    assert cells["n"].sum() == int((pooled[pdf["year_treated"] < 1000] == -6).sum())
    with pytest.raises(ModelSpecError, match="reference period"):
        sunab(base_stagg, "y", "id", "year", "year_treated", bin_rel={-2: [-2, -1]})
    with pytest.raises(ModelSpecError, match="in two bins"):
        sunab(base_stagg, "y", "id", "year", "year_treated", bin_rel={-8: [-9, -8], -7: [-8]})
