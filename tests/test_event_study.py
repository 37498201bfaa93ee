"""event_study(): TWFE against pyfixest, dates and windows, staggered estimators, bad inputs, plot."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from scipy import stats

from tradeimpact.errors import ModelSpecError
from tradeimpact.models.event_study import CollinearityWarning, event_study, to_period


def monthly_panel(
    seed: int = 0, n_units: int = 15, start: int = 2009, n_months: int = 36, effect: float = -0.5
) -> pl.DataFrame:
    """SYNTHETIC importer x month panel; unit 0 hit by an event in 2010-09 (dynamic effect)."""
    rng = np.random.default_rng(seed)
    months = [dt.date(start + m // 12, m % 12 + 1, 1) for m in range(n_months)]
    u = np.repeat(np.arange(n_units), n_months)
    m = np.tile(np.arange(n_months), n_units)
    event = 20  # 2010-09 is month index 20 from 2009-01
    rel = m - event
    treated = (u == 0).astype(int)
    dyn = np.where((treated == 1) & (rel >= 0), effect * (1 - np.exp(-(rel + 1) / 3)), 0.0)
    log_v = rng.normal(size=n_units)[u] + 0.3 * np.sin(m / 4) + dyn + 0.1 * rng.normal(size=u.size)
    return pl.DataFrame(
        {
            "importer": u,
            "month": [months[i] for i in m],
            "value": np.exp(log_v + 3),
            "treated": treated,
            "ban_date": [dt.date(2010, 9, 1) if t else None for t in treated],
            "x": rng.normal(size=u.size),
        }
    )


def binned_dummies(pdf: pd.DataFrame, lo: int, hi: int, ref: int) -> list[str]:
    """Event-time dummies built by hand: unit 0, event month 20 (2010-09), binned at lo/hi."""
    m = (
        (pd.to_datetime(pdf["month"]).dt.year - 2009) * 12
        + pd.to_datetime(pdf["month"]).dt.month
        - 1
    )
    rel = np.clip(m - 20, lo, hi)
    names = []
    for e in range(lo, hi + 1):
        if e == ref:
            continue
        nm = f"d_m{-e}" if e < 0 else f"d_p{e}"
        pdf[nm] = ((pdf["treated"] == 1) & (rel == e)).astype(float)
        names.append(nm)
    return names


@pytest.mark.parametrize("weights", [None, "x_w"])
def test_twfe_matches_pyfixest(weights: str | None) -> None:
    """One event date, monthly dates, window (-6, 6) binned: coefficients, CR1 SEs and the
    pre-trend Wald test equal a pyfixest regression on hand-made dummies."""
    pf = pytest.importorskip("pyfixest")
    data = monthly_panel().with_columns((pl.col("x").abs() + 0.5).alias("x_w"))
    res = event_study(
        data,
        "value",
        "importer",
        "month",
        treat_date="ban_date",
        window=(-6, 6),
        controls=["x"],
        weights=weights,
        outcome="log",
    )
    pdf = data.to_pandas()
    pdf["ly"] = np.log(pdf["value"])
    names = binned_dummies(pdf, -6, 6, -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pf.feols(
            f"ly ~ {' + '.join(names)} + x | importer + month",
            pdf,
            vcov={"CRV1": "importer"},
            weights=weights,
            demeaner=pf.MapDemeaner(fixef_tol=1e-13),
        )
    assert res.event_times == [e for e in range(-6, 7) if e != -1]
    np.testing.assert_allclose(res.params.to_numpy(), ref.coef().to_numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res.std_errors.to_numpy(), ref.se().to_numpy(), rtol=1e-8)
    # pre-trend: F = b' V^-1 b / q with (q, G - 1) df, from pyfixest's covariance
    pre = names[:5]
    b = ref.coef()[pre].to_numpy()
    v = pd.DataFrame(ref._vcov, index=ref.coef().index, columns=ref.coef().index).loc[pre, pre]
    f = float(b @ np.linalg.solve(v.to_numpy(), b)) / 5
    assert res.pretrend is not None
    assert res.pretrend.statistic == pytest.approx(f, rel=1e-7)
    assert res.pretrend.df == 5 and res.pretrend.df_denom == 14
    assert res.pretrend.pvalue == pytest.approx(stats.f.sf(f, 5, 14), rel=1e-6)
    # HonestDiD inputs: the event-time block of the covariance, pre/post positions
    times, beta, sigma = res.event_study_inputs()
    assert list(times) == res.event_times
    np.testing.assert_allclose(beta, res.params.to_numpy()[:12])
    np.testing.assert_allclose(sigma, res.cov.iloc[:12, :12].to_numpy())
    assert list(res.pre_index) == [0, 1, 2, 3, 4] and list(res.post_index) == list(range(5, 12))


def test_endpoints_drop_and_window_none() -> None:
    pf = pytest.importorskip("pyfixest")
    data = monthly_panel()
    res = event_study(
        data,
        "value",
        "importer",
        "month",
        treat_date="ban_date",
        window=(-6, 6),
        endpoints="drop",
        outcome="log",
    )
    pdf = data.to_pandas()
    pdf["ly"] = np.log(pdf["value"])
    m = (
        (pd.to_datetime(pdf["month"]).dt.year - 2009) * 12
        + pd.to_datetime(pdf["month"]).dt.month
        - 1
    )
    outside = (pdf["treated"] == 1) & (((m - 20) < -6) | ((m - 20) > 6))
    assert res.dropped["outside_window"] == int(outside.sum()) == 36 - 13
    sub = pdf[~outside].copy()
    names = binned_dummies(sub, -6, 6, -1)
    ref = pf.feols(
        f"ly ~ {' + '.join(names)} | importer + month",
        sub,
        vcov={"CRV1": "importer"},
        demeaner=pf.MapDemeaner(fixef_tol=1e-13),
    )
    np.testing.assert_allclose(res.params.to_numpy(), ref.coef().to_numpy(), rtol=1e-9, atol=1e-12)
    full = event_study(
        data, "value", "importer", "month", treat_date="ban_date", window=None, outcome="log"
    )
    assert full.event_times == [e for e in range(-20, 16) if e != -1]


def test_time_conversion_and_event_specs() -> None:
    s = pl.Series("t", [dt.date(2010, 1, 15), dt.date(2010, 4, 1), dt.date(2011, 12, 31)])
    assert list(to_period(s, "M")) == [2010 * 12, 2010 * 12 + 3, 2011 * 12 + 11]
    assert list(to_period(s, "Q")) == [2010 * 4, 2010 * 4 + 1, 2011 * 4 + 3]
    assert list(to_period(s, "A")) == [2010, 2010, 2011]
    data = monthly_panel()
    a = event_study(
        data, "value", "importer", "month", treat_date="ban_date", window=(-4, 4), outcome="log"
    )
    b = event_study(
        data,
        "value",
        "importer",
        "month",
        treated="treated",
        event_date=dt.date(2010, 9, 1),
        window=(-4, 4),
        outcome="log",
    )
    m = data["month"].dt.year() * 12 + data["month"].dt.month() - 1
    c = event_study(
        data.with_columns(
            pl.when(pl.col("treated") == 1).then(m - (2010 * 12 + 8)).otherwise(None).alias("et")
        ),
        "value",
        "importer",
        "month",
        event_time="et",
        window=(-4, 4),
        outcome="log",
    )
    np.testing.assert_allclose(a.params.to_numpy(), b.params.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(a.params.to_numpy(), c.params.to_numpy(), rtol=1e-12)
    # quarterly aggregation of the same panel: event in 2010Q3
    q = (
        data.with_columns(pl.col("month").dt.truncate("1q").alias("quarter"))
        .group_by("importer", "quarter")
        .agg(pl.col("value").sum(), pl.col("ban_date").first())
    )
    rq = event_study(
        q,
        "value",
        "importer",
        "quarter",
        treat_date="ban_date",
        window=(-3, 3),
        freq="Q",
        outcome="log",
    )
    assert rq.event_times == [-3, -2, 0, 1, 2, 3] and rq.freq == "Q"


def test_bad_inputs() -> None:
    data = monthly_panel()
    with pytest.raises(ModelSpecError, match="reference period -8 is outside the window"):
        event_study(
            data,
            "value",
            "importer",
            "month",
            treat_date="ban_date",
            window=(-6, 6),
            ref=-8,
            outcome="log",
        )
    late = data.filter(~((pl.col("importer") == 0) & (pl.col("month") < dt.date(2010, 9, 1))))
    with pytest.raises(ModelSpecError, match=r"treated unit\(s\) \[0\] have no pre-event period"):
        event_study(late, "value", "importer", "month", treat_date="ban_date", outcome="log")
    all_treated = data.with_columns(pl.lit(dt.date(2010, 9, 1)).alias("ban_date"))
    with pytest.raises(ModelSpecError, match="no control units"):
        event_study(all_treated, "value", "importer", "month", treat_date="ban_date", outcome="log")
    with pytest.raises(ModelSpecError, match="exactly one of"):
        event_study(data, "value", "importer", "month", outcome="log")
    with pytest.raises(ModelSpecError, match="no treated units"):
        event_study(
            data.with_columns(pl.lit(None, dtype=pl.Date).alias("ban_date")),
            "value",
            "importer",
            "month",
            treat_date="ban_date",
            outcome="log",
        )


def test_unbalanced_panel_allowed() -> None:
    """Rows missing at random: estimated on the rows present, equal to pyfixest."""
    pf = pytest.importorskip("pyfixest")
    data = monthly_panel().sample(fraction=0.85, seed=2)
    # the sample lost the treated unit's rows that separate e=3 from the fixed effects: the fit
    # drops it and says so (pyfixest drops the same dummy, d_p3)
    with pytest.warns(CollinearityWarning, match="e::3"):
        res = event_study(
            data, "value", "importer", "month", treat_date="ban_date", window=(-3, 3),
            outcome="log",
        )  # fmt: skip
    pdf = data.to_pandas()
    pdf["ly"] = np.log(pdf["value"])
    names = binned_dummies(pdf, -3, 3, -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyfixest's own notice of the dropped d_p3; not ours
        ref = pf.feols(
            f"ly ~ {' + '.join(names)} | importer + month",
            pdf,
            vcov={"CRV1": "importer"},
            demeaner=pf.MapDemeaner(fixef_tol=1e-13),
        )
    np.testing.assert_allclose(res.params.to_numpy(), ref.coef().to_numpy(), rtol=1e-8, atol=1e-11)
    np.testing.assert_allclose(res.std_errors.to_numpy(), ref.se().to_numpy(), rtol=1e-7)


def test_staggered_estimators() -> None:
    """Staggered dates: sunab and cs run through event_study; cs equals D's att_gt dynamic output."""
    from tradeimpact.models.callaway_santanna import att_gt

    rng = np.random.default_rng(5)
    n_u, n_t = 30, 12
    u = np.repeat(np.arange(n_u), n_t)
    t = np.tile(np.arange(1, n_t + 1), n_u)
    g = np.where(np.arange(n_u) < 10, 0, np.where(np.arange(n_u) < 20, 5, 8))[u]
    yv = (
        rng.normal(size=n_u)[u]
        + 0.2 * t
        + np.where((g > 0) & (t >= g), -1.0, 0)
        + 0.3 * rng.normal(size=u.size)
    )
    data = pl.DataFrame({"u": u, "t": t, "g": [int(v) if v > 0 else None for v in g], "y": yv})
    sa = event_study(
        data, "y", "u", "t", treat_date="g", window=None, estimator="sunab", outcome="level"
    )
    assert sa.aggregates is not None and sa.aggregates["ATT"] == pytest.approx(-1.0, abs=0.2)
    cs = event_study(
        data, "y", "u", "t", treat_date="g", window=(-4, 4), estimator="cs", outcome="level"
    )
    ref = att_gt(
        data.with_columns(pl.col("g").fill_null(0)), "y", "u", "t", "g", base_period="universal"
    )
    e, att, sigma = ref.event_study_inputs()
    sel = (e >= -4) & (e <= 4) & (e != -1)
    np.testing.assert_allclose(cs.params.to_numpy(), att[sel], rtol=1e-12)
    np.testing.assert_allclose(cs.cov.to_numpy(), sigma[np.ix_(sel, sel)], rtol=1e-12)
    assert cs.pretrend is not None and cs.pretrend.df_denom is None
    # the base period is labelled on the result (did's default differs), and did's is offered
    assert "universal base period" in cs.model and "varying" in cs.model
    cs_v = event_study(
        data, "y", "u", "t", cohort="g", window=(-4, 4), estimator="cs", outcome="level",
        cs={"base_period": "varying"},
    )  # fmt: skip
    ref_v = att_gt(data.with_columns(pl.col("g").fill_null(0)), "y", "u", "t", "g")
    e_v, att_v, _ = ref_v.event_study_inputs()
    sel_v = (e_v >= -4) & (e_v <= 4)  # e = -1 estimated too: no reference period
    np.testing.assert_allclose(cs_v.params.to_numpy(), att_v[sel_v], rtol=1e-12)
    assert cs_v.ref is None and -1 in cs_v.event_times
    assert cs_v.model.startswith("Callaway") and "varying base period" in cs_v.model
    twfe = event_study(data, "y", "u", "t", treat_date="g", window=(-4, 4), outcome="level")
    assert twfe.pretrend is not None


def test_inference_on_event_study() -> None:
    data = monthly_panel(n_units=12)
    ri = event_study(
        data,
        "value",
        "importer",
        "month",
        treat_date="ban_date",
        window=(-3, 3),
        inference="ri",
        outcome="log",
    )
    assert "randomization" in ri.inference
    lo, hi = ri.extra["ri_band"]
    assert lo.shape == (6,) and (lo < hi).all()
    # one treated unit among 12: every p-value is a multiple of 1/12
    p = ri.pvalues.to_numpy()
    np.testing.assert_allclose(p * 12, np.round(p * 12), atol=1e-9)
    wild = event_study(
        data,
        "value",
        "importer",
        "month",
        treat_date="ban_date",
        window=(-3, 3),
        inference="wild",
        wild={"B": 999, "weights_type": "webb", "seed": 3},
        outcome="log",
    )
    assert all("wild cluster bootstrap" in s for s in wild.tidy()["inference"].to_list())


def test_plot(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    data = monthly_panel(n_units=12)
    res = event_study(
        data,
        "value",
        "importer",
        "month",
        treat_date="ban_date",
        window=(-3, 3),
        inference="ri",
        outcome="log",
    )
    ax = res.plot(band=res.extra["ri_band"], synthetic=True, title="SYNTHETIC event study")
    texts = [t.get_text() for t in ax.texts]
    assert "SYNTHETIC DATA" in texts
    assert any(t.startswith("pre-trend Wald p =") for t in texts)
    labels = ax.get_legend_handles_labels()[1]
    assert "reference period (-1)" in labels and "event date" in labels
    assert "randomization band" in labels
    assert ax.get_xlabel() == "months relative to the event"
    ax.figure.savefig(tmp_path / "event_study_SYNTHETIC.png")
    assert (tmp_path / "event_study_SYNTHETIC.png").stat().st_size > 1000
    tab = res.event_table()
    assert tab.filter(pl.col("event_time") == -1)["estimate"][0] == 0.0


def test_default_headline_per_event_time_is_studentized_ri() -> None:
    """Issue 10: one treated unit, one date, no inference= -> studentized RI per event time,
    checked by brute force (each unit's block of event-time dummies refitted with explicit
    dummies; its pre-event residual s.d.); CR1 stays in pvalues."""
    data = monthly_panel(n_units=10, seed=2)
    res = event_study(
        data, "value", "importer", "month", treat_date="ban_date", window=(-3, 3), outcome="log"
    )
    cr1 = event_study(data, "value", "importer", "month", treat_date="ban_date", window=(-3, 3),
                      inference="cr1", outcome="log")  # fmt: skip
    np.testing.assert_allclose(res.pvalues.to_numpy(), cr1.pvalues.to_numpy(), rtol=0, atol=0)
    head = res.headline
    assert "studentized" in head.method and set(head.pvalue.index) == set(res.event_terms.values())
    pdf = data.to_pandas()
    pdf["ly"] = np.log(pdf["value"])
    m = (
        (pd.to_datetime(pdf["month"]).dt.year - 2009) * 12
        + pd.to_datetime(pdf["month"]).dt.month
        - 1
    )
    rel = np.clip(m - 20, -3, 3).to_numpy()
    times = [e for e in range(-3, 4) if e != -1]
    ud = pd.get_dummies(pdf.importer, dtype=float).to_numpy()
    md = pd.get_dummies(m, dtype=float).to_numpy()[:, 1:]
    y = pdf["ly"].to_numpy()
    pre = (m - 20 < 0).to_numpy()
    z_pre = np.column_stack([ud[pre], pd.get_dummies(m[pre], dtype=float).to_numpy()[:, 1:]])
    e_pre = y[pre] - z_pre @ np.linalg.lstsq(z_pre, y[pre], rcond=None)[0]
    units = np.unique(pdf.importer)
    s_u = np.array(
        [np.sqrt(np.mean(e_pre[(pdf.importer[pre] == u).to_numpy()] ** 2)) for u in units]
    )
    coefs = []
    for u in units:
        block = np.column_stack(
            [((pdf.importer == u).to_numpy() & (rel == e)).astype(float) for e in times]
        )
        x = np.column_stack([block, ud, md])
        coefs.append(np.linalg.lstsq(x, y, rcond=None)[0][: len(times)])
    t_ue = np.array(coefs) / s_u[:, None]
    for k, e in enumerate(times):
        want = np.mean(np.abs(t_ue[:, k]) >= abs(t_ue[0, k]) - 1e-9)
        assert head[e].pvalue == pytest.approx(want), e
        assert head[e].p_fraction is not None and head[e].p_fraction.denominator in (1, 2, 5, 10)
    lo, hi = head[0].conf_int(0.8)
    assert lo < float(res.params["e::0"]) < hi
    tab = head.table()
    assert tab.height == len(times) and "cr1_p_value" in tab.columns
    explicit = event_study(data, "value", "importer", "month", treat_date="ban_date",
                           window=(-3, 3), inference="ri_t", outcome="log")  # fmt: skip
    np.testing.assert_allclose(explicit.pvalues.to_numpy(), head.pvalue.to_numpy())


def test_event_study_size_check() -> None:
    """Per-event-time headline rerun at placebo dates and units; one run checked by hand."""
    data = monthly_panel(n_units=21, seed=4, effect=0.0)
    res = event_study(
        data, "value", "importer", "month", treat_date="ban_date", window=(-3, 3), outcome="log"
    )
    sc = res.headline.size_check()
    post_terms = [e for e in res.event_times if e >= 0]
    assert sc.counts("unit")[1] == 20 * len(post_terms)
    assert sc.k == int((sc.runs["pvalue"] <= 0.05).sum()) and "placebo tests" in sc.sentence()
    first = sc.runs.filter(pl.col("kind") == "date").row(0, named=True)
    date_s, e_s = first["placebo"].split(" e=")
    pre = data.filter(pl.col("month") < dt.date(2010, 9, 1))
    by_hand = event_study(pre, "value", "importer", "month", treated="treated",
                          event_date=dt.date.fromisoformat(date_s), window=(-3, 3), outcome="log")  # fmt: skip
    assert by_hand.headline[int(e_s)].pvalue == pytest.approx(first["pvalue"])
    cr1 = event_study(data, "value", "importer", "month", treat_date="ban_date", window=(-3, 3),
                      inference="cr1", outcome="log").size_check()  # fmt: skip
    assert cr1.n == sc.n and cr1.rate >= sc.rate


def _year_panel(seed: int = 4) -> pl.DataFrame:
    """SYNTHETIC unit x year panel (years 2000-2011): units 0-2 first treated in 2006, units
    3-4 in 2008, the rest never; outcome in levels (may be negative), a text copy of it."""
    rng = np.random.default_rng(seed)
    n_u, years = 12, np.arange(2000, 2012)
    u = np.repeat(np.arange(n_u), years.size)
    t = np.tile(years, n_u)
    ids = np.arange(n_u)
    first = np.where(ids < 3, 2006.0, np.where(ids < 5, 2008.0, np.nan))[u]
    y = rng.normal(size=n_u)[u] + 0.1 * (t - 2000) + 0.5 * (t >= first) + rng.normal(size=u.size)
    return pl.DataFrame({"unit": u, "year": t, "g": first, "y": y}).with_columns(
        pl.col("g").fill_nan(None)
    )


def test_cohort_in_levels_matches_pyfixest_and_every_never_treated_code() -> None:
    """``cohort=`` (the one name; ``treat_date=`` its alias), the outcome in levels by default,
    never-treated units coded null, 0 or inf: the same TWFE event study, equal to pyfixest on
    hand-made dummies of the levels."""
    pf = pytest.importorskip("pyfixest")
    data = _year_panel()
    res = event_study(data, "y", "unit", "year", cohort="g", window=(-3, 3))
    assert res.depvar == "y"  # levels: not log(y) (the outcome has negative values)
    pdf = data.to_pandas()
    rel = np.clip(pdf["year"] - pdf["g"], -3, 3)
    names = []
    for e in [-3, -2, 0, 1, 2, 3]:
        nm = f"d_m{-e}" if e < 0 else f"d_p{e}"
        pdf[nm] = (rel == e).astype(float)
        names.append(nm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyfixest's own notices; not ours
        ref = pf.feols(f"y ~ {' + '.join(names)} | unit + year", pdf, vcov={"CRV1": "unit"})
    np.testing.assert_allclose(res.params.to_numpy(), ref.coef().to_numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res.std_errors.to_numpy(), ref.se().to_numpy(), rtol=1e-8)
    for code in (0.0, float("inf"), float("-inf")):
        coded = data.with_columns(pl.col("g").fill_null(code))
        other = event_study(coded, "y", "unit", "year", cohort="g", window=(-3, 3))
        np.testing.assert_array_equal(other.params.to_numpy(), res.params.to_numpy())
    alias = event_study(data, "y", "unit", "year", treat_date="g", window=(-3, 3))
    np.testing.assert_array_equal(alias.params.to_numpy(), res.params.to_numpy())
    by_cluster = event_study(data, "y", "unit", "year", cohort="g", window=(-3, 3), cluster="unit")
    np.testing.assert_array_equal(by_cluster.std_errors.to_numpy(), res.std_errors.to_numpy())
    with pytest.raises(ModelSpecError, match="not both"):
        event_study(data, "y", "unit", "year", cohort="g", treat_date="year")
    with pytest.raises(ModelSpecError, match="vcov= or cluster="):
        event_study(data, "y", "unit", "year", cohort="g", vcov="CR1", cluster="unit")
    with pytest.raises(ModelSpecError, match=r"trade values cannot be negative.*outcome='level'"):
        event_study(data, "y", "unit", "year", cohort="g", outcome="log")
    text = data.with_columns(pl.when(pl.col("unit") == 2).then(pl.lit("n/a"))
                             .otherwise(pl.col("y").cast(pl.String)).alias("y_text"))  # fmt: skip
    with pytest.raises(ModelSpecError, match=r"'y_text'.*n/a"):
        event_study(text, "y_text", "unit", "year", cohort="g")


def test_no_pre_period_error_names_the_never_treated_rule() -> None:
    # a unit coded with a cohort inside the sample but no pre-period: the hint says how
    # never-treated units are coded
    data = _year_panel().with_columns(
        pl.when(pl.col("unit") == 7).then(2000.0).otherwise(pl.col("g")).alias("g")
    )
    with pytest.raises(ModelSpecError, match=r"\[7\] have no pre-event period.*0, inf or null"):
        event_study(data, "y", "unit", "year", cohort="g")
