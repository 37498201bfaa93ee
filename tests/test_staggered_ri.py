"""Randomization inference for staggered designs (the cohorts' dates re-assigned across units).

References computed in the tests: pyfixest ``feols`` fits (the actual and placebo coefficients,
the CR1 t), the one-date ``randomization_inference`` (same fraction with one common cohort),
brute-force refits over every assignment, and Monte Carlo rejection rates with a fixed seed
against the binomial 99% band of the nominal level.
"""

from __future__ import annotations

import itertools
import math
import time as clock
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from scipy import stats

import tradeimpact.inference.staggered as st
from tradeimpact.core.registry import inference_method
from tradeimpact.errors import ModelSpecError
from tradeimpact.inference.randomization import randomization_inference
from tradeimpact.inference.staggered import (
    n_distinct_assignments,
    staggered_randomization_inference,
)

pf = pytest.importorskip("pyfixest")


def _panel(
    n_units: int = 30,
    n_time: int = 12,
    cohorts: tuple[int, ...] = (5, 8, 10),
    n_never: int = 12,
    seed: int = 0,
    effect: float = 0.0,
    never_code: float = 0.0,
    rho: float = 0.0,
    treated_scale: float | None = None,
) -> pl.DataFrame:
    """SYNTHETIC staggered panel: unit and time effects, AR(1) noise, dates assigned at random.

    ``n_units - n_never`` units split evenly across ``cohorts`` (first treated period), the
    others never treated (coded ``never_code``); the dates are a random permutation across units
    (the design the test assumes). Unit noise scales differ (0.5 to 2) independently of the dates,
    or, with ``treated_scale``, are ``treated_scale`` for the treated units and 1 for the others
    (the noise is then not exchangeable with the assignment).
    """
    rng = np.random.default_rng(seed)
    per = (n_units - n_never) // len(cohorts)
    dates = np.array([*np.repeat(cohorts, per), *[never_code] * (n_units - per * len(cohorts))])
    dates = dates[rng.permutation(n_units)]
    unit = np.repeat(np.arange(n_units), n_time)
    t = np.tile(np.arange(1, n_time + 1), n_units)
    c = np.repeat(dates, n_time)
    treated = np.isfinite(c) & (c > 0) & (t >= c)
    e = np.empty((n_units, n_time))
    e[:, 0] = rng.normal(size=n_units)
    for k in range(1, n_time):
        e[:, k] = rho * e[:, k - 1] + np.sqrt(1 - rho**2) * rng.normal(size=n_units)
    scale = rng.uniform(0.5, 2.0, n_units)
    if treated_scale is not None:
        scale = np.where(np.isfinite(dates) & (dates > 0), treated_scale, 1.0)
    y = (
        rng.normal(size=n_units)[unit]
        + rng.normal(size=n_time)[t - 1]
        + (scale[:, None] * e).ravel()
        + effect * treated
    )
    return pl.DataFrame(
        {
            "unit": [f"u{u:02d}" for u in unit],
            "time": t,
            "cohort": c,
            "D": treated.astype(float),
            "x1": rng.normal(size=unit.size),
            "w": rng.uniform(0.5, 2.0, unit.size),
            "y": y,
        }
    )


# ------------------------------------------------------------------------------------------
# (b) the numbers against pyfixest
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("never_code", [0.0, np.inf, np.nan])
def test_actual_estimate_equals_pyfixest(never_code: float) -> None:
    df = _panel(seed=1, never_code=never_code)
    res = staggered_randomization_inference(df, "y", "unit", "time", "cohort", n_permutations=99)
    ref = pf.feols("y ~ D | unit + time", df.to_pandas()).coef()["D"]
    assert abs(res.estimate - ref) < 1e-10
    assert res.placebo.filter(pl.col("is_actual"))["estimate"][0] == res.estimate
    assert res.n_assignments == 100 and not res.exact and res.p_fraction is None
    # Monte Carlo rule: (1 + #{b : |T_b| >= |T|}) / (1 + B), the actual assignment first
    b = res.placebo["estimate"].to_numpy()
    assert res.placebo["is_actual"][0] and b[0] == res.estimate
    assert res.p_numerator == 1 + int((np.abs(b[1:]) >= abs(b[0])).sum())
    assert res.pvalue == res.p_numerator / 100


def test_controls_weights_and_t_equal_pyfixest() -> None:
    df = _panel(seed=2)
    pdf = df.to_pandas()
    res = staggered_randomization_inference(
        df, "y", "unit", "time", "cohort", controls=["x1"], weights="w", n_permutations=49
    )
    ref = pf.feols("y ~ D + x1 | unit + time", pdf, weights="w")
    assert abs(res.estimate - ref.coef()["D"]) < 1e-10
    rt = staggered_randomization_inference(
        df, "y", "unit", "time", "cohort", controls=["x1"], weights="w", statistic="t",
        n_permutations=49,
    )  # fmt: skip
    ref_t = pf.feols("y ~ D + x1 | unit + time", pdf, weights="w", vcov={"CRV1": "unit"})
    assert abs(rt.estimate - ref_t.coef()["D"]) < 1e-9
    assert abs(rt.statistic - ref_t.tstat()["D"]) < 1e-8


def test_placebo_estimates_equal_pyfixest_refits() -> None:
    """Every placebo is the pyfixest coefficient on that assignment's indicator (closed form and
    projection path alike), and the cross coefficient is the fit of the actual D."""
    df = _panel(seed=3)
    design = st._prepare(df, "y", "unit", "time", "cohort", None, ["x1"], "w", None, None)
    assign, actual, exact, _ = st._assignments(design.unit_date, design.strata, 10, 40, 5)
    assert actual == 0 and not exact
    closed = st._twfe(design, assign, "coef", 10**8)
    assert st._CohortPlacebos.build(design) is not None
    # the projection path (statistic "t" demeans every placebo column explicitly)
    proj = st._twfe(design, assign, "t", 10**8)
    np.testing.assert_allclose(closed.beta, proj.beta, rtol=0, atol=1e-10)
    np.testing.assert_allclose(closed.cross, proj.cross, rtol=0, atol=1e-10)
    assert abs(closed.cross[0] - 1.0) < 1e-12
    pdf = df.to_pandas()
    for p in (1, 7, 23):
        pdf["Dp"] = design.indicator(assign[p])
        fit = pf.feols("y ~ Dp + x1 | unit + time", pdf, weights="w")
        assert abs(closed.beta[p] - fit.coef()["Dp"]) < 1e-10
        fit_d = pf.feols("D ~ Dp + x1 | unit + time", pdf, weights="w")
        assert abs(closed.cross[p] - fit_d.coef()["Dp"]) < 1e-10


def test_unbalanced_panel_extra_fe_and_projection_path_equal_pyfixest() -> None:
    """Unbalanced panel (15% of rows dropped) with a third fixed effect (region x time, given as
    one column): the closed form, the projection path and pyfixest agree, placebo by placebo;
    with fe = [region, time] (the unit not absorbed) the projection path equals pyfixest."""
    rng = np.random.default_rng(20)
    df = _panel(seed=16).with_columns(
        region=(pl.col("unit").str.slice(1).cast(pl.Int64) % 3).cast(pl.String)
    )
    df = df.with_columns(rt=pl.col("region") + "_" + pl.col("time").cast(pl.String))
    df = df.filter(pl.Series(rng.random(df.height) > 0.15))
    fe = ["unit", "time", "rt"]
    design = st._prepare(df, "y", "unit", "time", "cohort", fe, None, None, None, None)
    assign, _, _, _ = st._assignments(design.unit_date, design.strata, 10, 30, 2)
    assert st._CohortPlacebos.build(design) is not None
    closed = st._twfe(design, assign, "coef", 10**8)
    proj = st._twfe(design, assign, "t", 10**8)
    np.testing.assert_allclose(closed.beta, proj.beta, rtol=0, atol=1e-9)
    pdf = df.to_pandas()
    for p in (0, 4, 17):
        pdf["Dp"] = design.indicator(assign[p])
        ref = pf.feols("y ~ Dp | unit + time + rt", pdf, fixef_rm="none").coef()["Dp"]
        assert abs(closed.beta[p] - ref) < 1e-10
    res = staggered_randomization_inference(
        df, "y", "unit", "time", "cohort", fe=["region", "time"], n_permutations=29
    )
    d2 = st._prepare(df, "y", "unit", "time", "cohort", ["region", "time"], None, None, None, None)
    assert st._CohortPlacebos.build(d2) is None
    assign2, _, _, _ = st._assignments(d2.unit_date, d2.strata, 10, 29, 0)
    for p in (0, 5):
        pdf["Dp"] = d2.indicator(assign2[p])
        ref = pf.feols("y ~ Dp | region + time", pdf).coef()["Dp"]
        assert abs(res.placebo["estimate"][p] - ref) < 1e-9


def test_date_columns_equal_period_numbers() -> None:
    """Monthly dates in time and cohort give the same test as the month numbers."""
    df = _panel(n_units=12, n_time=12, cohorts=(5, 9), n_never=6, seed=17)
    dated = df.with_columns(
        month=pl.date(2020, pl.col("time"), 1),
        start=pl.when(pl.col("cohort") > 0)
        .then(pl.date(2020, pl.col("cohort").cast(pl.Int64), 1))
        .otherwise(None),
    )
    a = staggered_randomization_inference(df, "y", "unit", "time", "cohort", n_permutations=49)
    b = staggered_randomization_inference(dated, "y", "unit", "month", "start", n_permutations=49)
    assert a.estimate == pytest.approx(b.estimate, abs=1e-12)
    assert a.p_numerator == b.p_numerator


def test_exact_enumeration_equals_brute_force_pyfixest() -> None:
    """6 units, dates (3, 3, 5, never x 3): 6!/(2! 1! 3!) = 60 distinct assignments, each refitted
    with pyfixest; the p-value is the exact fraction of that brute-force distribution."""
    df = _panel(n_units=6, n_time=7, cohorts=(3, 5), n_never=2, seed=4, effect=0.8)
    # make the multiset (3, 3, 5, never, never, never): recode one 5 as never
    per_unit = df.group_by("unit", maintain_order=True).agg(pl.col("cohort").first())
    first5 = per_unit.filter(pl.col("cohort") == 5)["unit"][0]
    first3 = per_unit.filter(pl.col("cohort") == 3)["unit"][0]
    df = df.with_columns(
        cohort=pl.when(pl.col("unit") == first5)
        .then(3.0)
        .when(pl.col("unit") == first3)
        .then(5.0)
        .when(pl.col("cohort") == 5)
        .then(0.0)
        .otherwise(pl.col("cohort"))
    ).with_columns(D=((pl.col("cohort") > 0) & (pl.col("time") >= pl.col("cohort"))).cast(float))
    dates = df.group_by("unit").agg(pl.col("cohort").first())["cohort"].to_list()
    assert sorted(dates) == [0, 0, 0, 3, 3, 5]
    res = staggered_randomization_inference(df, "y", "unit", "time", "cohort")
    assert res.exact and res.n_assignments == 60 == res.n_distinct
    units = sorted(df["unit"].unique().to_list())
    pdf = df.to_pandas()
    t = pdf["time"].to_numpy()
    seen: set[tuple[float, ...]] = set()
    brute = []
    for perm in itertools.permutations(sorted(dates, key=float)):
        if perm in seen:
            continue
        seen.add(perm)
        cmap = dict(zip(units, perm, strict=True))
        c = pdf["unit"].map(cmap).to_numpy(dtype=float)
        pdf["Dp"] = ((c > 0) & (t >= c)).astype(float)
        brute.append(pf.feols("y ~ Dp | unit + time", pdf).coef()["Dp"])
    assert len(brute) == 60
    b0 = pf.feols("y ~ D | unit + time", pdf).coef()["D"]
    assert abs(res.estimate - b0) < 1e-10
    np.testing.assert_allclose(
        np.sort(res.placebo["estimate"].to_numpy()), np.sort(brute), rtol=0, atol=1e-10
    )
    expected = Fraction(int(sum(abs(b) >= abs(b0) - 1e-9 for b in brute)), 60)
    assert res.p_fraction == expected
    assert res.pvalue == float(expected)


def test_strata_keep_dates_within_stratum() -> None:
    df = _panel(n_units=8, n_time=8, cohorts=(4, 6), n_never=4, seed=5)
    units = sorted(df["unit"].unique().to_list())
    df = df.with_columns(region=pl.col("unit").is_in(units[:4]).cast(pl.Int64))
    res = staggered_randomization_inference(
        df, "y", "unit", "time", "cohort", strata="region", max_exact=100_000
    )
    per = df.group_by("unit", maintain_order=True).agg(pl.col("cohort", "region").first())
    codes = st._prepare(df, "y", "unit", "time", "cohort", None, None, None, "region", None)
    expected = n_distinct_assignments(codes.unit_date, codes.strata)
    assert res.exact and res.n_assignments == expected
    # by hand: in each region, 4!/(counts!) arrangements of its dates
    total = 1
    for reg in (0, 1):
        vals = per.filter(pl.col("region") == reg)["cohort"].to_list()
        _, counts = np.unique(vals, return_counts=True)
        total *= math.factorial(4) // math.prod(math.factorial(int(k)) for k in counts)
    assert expected == total
    # every enumerated assignment keeps each region's multiset of dates
    assign, _, _, _ = st._assignments(codes.unit_date, codes.strata, 100_000, 0, 0)
    for s in (0, 1):
        g = codes.strata == s
        ref = np.sort(codes.unit_date[g])
        assert (np.sort(assign[:, g], axis=1) == ref).all()
    assert len({tuple(a) for a in assign}) == assign.shape[0]


# ------------------------------------------------------------------------------------------
# (a) one common cohort: the one-date test
# ------------------------------------------------------------------------------------------


def test_one_cohort_equals_randomization_inference() -> None:
    df = _panel(n_units=12, n_time=9, cohorts=(6,), n_never=9, seed=6, effect=0.7)
    res = staggered_randomization_inference(df, "y", "unit", "time", "cohort", controls=["x1"])
    treated = df.filter(pl.col("cohort") > 0)["unit"].unique().to_list()
    one = randomization_inference(
        df.with_columns(post=(pl.col("time") >= 6).cast(pl.Int64)),
        "y", "unit", "time", treated, "post", controls=["x1"],
    )  # fmt: skip
    assert res.exact and one.exact
    assert res.n_assignments == one.p_denominator == 220
    assert res.p_fraction == one.p_fraction
    assert abs(res.estimate - one.estimate) < 1e-12
    np.testing.assert_allclose(
        np.sort(res.placebo["estimate"].to_numpy()),
        np.sort(one.placebo["estimate"].to_numpy()),
        rtol=0,
        atol=1e-10,
    )
    np.testing.assert_allclose(res.conf_int(0.9), one.conf_int(0.9), rtol=1e-9)


# ------------------------------------------------------------------------------------------
# the interval and the result shape
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("statistic", ["coef", "t"])
def test_interval_is_the_inverted_test(statistic: str) -> None:
    """The ends are where p(tau) crosses 1 - level; p(tau) equals a refit on y - tau D."""
    df = _panel(seed=7, effect=1.0)
    res = staggered_randomization_inference(
        df,
        "y",
        "unit",
        "time",
        "cohort",
        statistic=statistic,
        n_permutations=199,  # type: ignore[arg-type]
    )
    low, high = res.conf_int(0.95)
    assert low < res.estimate < high
    eps = 1e-6 * max(1.0, abs(high - low))
    assert res.pvalue_at(low - eps) <= 0.05 and res.pvalue_at(low + eps) > 0.05
    assert res.pvalue_at(high + eps) <= 0.05 and res.pvalue_at(high - eps) > 0.05
    tau = 0.5 * (low + res.estimate)
    shifted = df.with_columns(y=pl.col("y") - tau * pl.col("D"))
    again = staggered_randomization_inference(
        shifted,
        "y",
        "unit",
        "time",
        "cohort",
        statistic=statistic,
        n_permutations=199,  # type: ignore[arg-type]
    )
    assert again.pvalue == pytest.approx(res.pvalue_at(tau), abs=1e-12)
    row = res.tidy()
    assert row.height == 1
    assert row["conf_low"][0] == low and row["n_assignments"][0] == 200
    assert row["p_fraction"][0] == f"{res.p_numerator}/{res.p_denominator}"
    assert "staggered randomization inference" in res.method
    assert res.pvalue == res.p_numerator / 200


# ------------------------------------------------------------------------------------------
# Sun-Abraham and Callaway-Sant'Anna statistics
# ------------------------------------------------------------------------------------------


def test_sunab_and_cs_statistics_are_their_simple_att() -> None:
    """Actual statistic = the estimators' own simple ATT; in a balanced panel with never-treated
    controls and no covariates the SA and CS simple ATTs coincide; placebo = refit on the
    relabelled panel."""
    from tradeimpact.models.callaway_santanna import att_gt

    df = _panel(n_units=24, n_time=10, cohorts=(5, 7), n_never=10, seed=8, effect=0.5)
    sa = staggered_randomization_inference(
        df, "y", "unit", "time", "cohort", estimator="sunab", n_permutations=19
    )
    cs = staggered_randomization_inference(
        df, "y", "unit", "time", "cohort", estimator="cs", n_permutations=19
    )
    ref = att_gt(df, "y", "unit", "time", "cohort").aggregate("simple").overall_att
    assert abs(cs.estimate - ref) < 1e-12
    assert abs(sa.estimate - cs.estimate) < 1e-10
    np.testing.assert_allclose(sa.placebo["estimate"], cs.placebo["estimate"], atol=1e-10)
    assert abs(sa._cross[0] - 1.0) < 1e-10 and abs(cs._cross[0] - 1.0) < 1e-10
    # placebo 3 by hand: relabel the cohorts and refit Callaway-Sant'Anna
    design = st._prepare(df, "y", "unit", "time", "cohort", None, None, None, None, None)
    assign, _, _, _ = st._assignments(design.unit_date, design.strata, 10, 19, 0)
    c = design.date_ext[assign[3][design.ucode]]
    relabelled = df.with_columns(cohort=pl.Series(np.where(np.isfinite(c), c, 0.0)))
    by_hand = att_gt(relabelled, "y", "unit", "time", "cohort").aggregate("simple").overall_att
    assert abs(cs.placebo["estimate"][3] - by_hand) < 1e-12
    lo, hi = sa.conf_int()
    assert lo < sa.estimate < hi
    st_t = staggered_randomization_inference(
        df, "y", "unit", "time", "cohort", estimator="sunab", statistic="t", n_permutations=19
    )
    assert np.isnan(st_t.tidy()["conf_low"][0])
    with pytest.raises(ModelSpecError, match="statistic='coef'"):
        st_t.conf_int()


# ------------------------------------------------------------------------------------------
# (c) Monte Carlo: size and power
# ------------------------------------------------------------------------------------------


def _band(n: int, level: float = 0.05, conf: float = 0.99) -> tuple[float, float]:
    """Central binomial ``conf`` interval of the rejection rate of a level-``level`` test."""
    a = (1 - conf) / 2
    return float(stats.binom.ppf(a, n, level) / n), float(stats.binom.isf(a, n, level) / n)


def _rejections(effect: float, statistic: str, n_panels: int = 200, seed: int = 100) -> float:
    rej = 0
    for r in range(n_panels):
        df = _panel(n_units=30, n_time=10, cohorts=(4, 6, 8), n_never=12, seed=seed + r,
                    effect=effect, rho=0.5)  # fmt: skip
        res = staggered_randomization_inference(
            df, "y", "unit", "time", "cohort", statistic=statistic,  # type: ignore[arg-type]
            n_permutations=99, seed=r,
        )  # fmt: skip
        rej += res.pvalue <= 0.05
    return rej / n_panels


@pytest.mark.parametrize("statistic", ["coef", "t"])
def test_monte_carlo_size_and_power(statistic: str) -> None:
    """200 SYNTHETIC panels (30 units, 3 cohorts of 6 + 12 never treated, 10 periods, AR(1) 0.5,
    unit noise scales 0.5-2) with dates assigned at random: the rejection rate at 5% of a true
    null lies in the binomial 99% band of 0.05; with an effect of 1 the test rejects far more."""
    start = clock.perf_counter()
    size = _rejections(0.0, statistic)
    low, high = _band(200)
    assert low <= size <= high, (size, (low, high))
    power = _rejections(1.0, statistic, n_panels=100, seed=5_000)
    assert power >= 0.5, power
    assert clock.perf_counter() - start < 20


def test_monte_carlo_interval_coverage() -> None:
    """Constant effect 0.7: the 95% inverted interval covers it in the binomial 99% band of 95%."""
    n = 200
    cover = 0
    for r in range(n):
        df = _panel(n_units=30, n_time=10, cohorts=(4, 6, 8), n_never=12, seed=9_000 + r,
                    effect=0.7, rho=0.5)  # fmt: skip
        lo, hi = staggered_randomization_inference(
            df, "y", "unit", "time", "cohort", n_permutations=99, seed=r
        ).conf_int(0.95)
        cover += lo <= 0.7 <= hi
    low, high = _band(n, level=0.95)
    assert low <= cover / n <= 1.0, (cover / n, low, high)


# ------------------------------------------------------------------------------------------
# (d) bad input
# ------------------------------------------------------------------------------------------


def test_cohort_varying_within_unit_is_refused() -> None:
    df = _panel(seed=10)
    u0 = df["unit"][0]
    bad = df.with_columns(
        cohort=pl.when((pl.col("unit") == u0) & (pl.col("time") == 3)).then(7.0)
        .otherwise(pl.col("cohort"))
    )  # fmt: skip
    with pytest.raises(ModelSpecError, match=rf"'cohort'.*'{u0}'.*constant within"):
        staggered_randomization_inference(bad, "y", "unit", "time", "cohort")


def test_no_comparison_units_is_refused() -> None:
    df = _panel(n_units=10, n_time=8, cohorts=(5,), n_never=0, seed=11)
    assert (df["cohort"] == 5).all()
    with pytest.raises(
        ModelSpecError, match="no unit is never treated and none is not yet treated"
    ):
        staggered_randomization_inference(df, "y", "unit", "time", "cohort")
    # staggered dates with no never-treated unit are identified (not-yet-treated comparisons)
    ok = _panel(n_units=10, n_time=8, cohorts=(3, 6), n_never=0, seed=11)
    res = staggered_randomization_inference(ok, "y", "unit", "time", "cohort")
    ref = pf.feols("y ~ D | unit + time", ok.to_pandas()).coef()["D"]
    assert abs(res.estimate - ref) < 1e-10 and res.exact and res.n_assignments == 252


@pytest.mark.parametrize("arg", ["y", "unit", "time", "cohort", "controls", "weights", "strata"])
def test_unknown_column_is_named(arg: str) -> None:
    df = _panel(n_units=8, n_time=6, cohorts=(3, 5), n_never=2, seed=12)
    kwargs: dict[str, object] = {"y": "y", "unit": "unit", "time": "time", "cohort": "cohort"}
    kwargs[arg] = ["nope_col"] if arg == "controls" else "nope_col"
    with pytest.raises(ModelSpecError, match="nope_col"):
        staggered_randomization_inference(df, **kwargs)  # type: ignore[arg-type]


def test_other_bad_input() -> None:
    df = _panel(n_units=8, n_time=6, cohorts=(3, 5), n_never=2, seed=13)
    bad: dict[str, Any] = {"estimator": "ols"}
    with pytest.raises(ModelSpecError, match="estimator"):
        staggered_randomization_inference(df, "y", "unit", "time", "cohort", **bad)
    bad = {"statistic": "z"}
    with pytest.raises(ModelSpecError, match="statistic"):
        staggered_randomization_inference(df, "y", "unit", "time", "cohort", **bad)
    bad = {"statistic": "t_pre", "estimator": "cs"}
    with pytest.raises(ModelSpecError, match="t_pre"):
        staggered_randomization_inference(df, "y", "unit", "time", "cohort", **bad)
    with pytest.raises(ModelSpecError, match=r"'y' has 1 missing value\(s\), first at row 4"):
        staggered_randomization_inference(
            df.with_columns(y=pl.when(pl.int_range(pl.len()) == 4).then(None)
                            .otherwise(pl.col("y"))),
            "y", "unit", "time", "cohort",
        )  # fmt: skip
    with pytest.raises(ModelSpecError, match="no treated unit"):
        staggered_randomization_inference(
            df.with_columns(cohort=pl.lit(0.0)), "y", "unit", "time", "cohort"
        )
    with pytest.raises(ModelSpecError, match="'y'"):
        staggered_randomization_inference(
            df.with_columns(y=pl.col("y").cast(pl.String)), "y", "unit", "time", "cohort"
        )


def test_pandas_input_and_registry() -> None:
    df = _panel(n_units=10, n_time=6, cohorts=(3, 5), n_never=4, seed=14)
    a = staggered_randomization_inference(df, "y", "unit", "time", "cohort", n_permutations=49)
    b = staggered_randomization_inference(
        df.to_pandas(), "y", "unit", "time", "cohort", n_permutations=49
    )
    assert a.p_fraction == b.p_fraction and a.estimate == b.estimate
    assert isinstance(df.to_pandas(), pd.DataFrame)
    assert inference_method("ri_staggered") is st.ri_staggered_of_result


@pytest.mark.parametrize("estimator", ["twfe", "sunab"])
def test_registered_method_on_a_fitted_event_study(estimator: str) -> None:
    """``"ri_staggered"`` on a fitted event study reruns the test on its recorded design: the same
    numbers as the call on the panel; for Sun-Abraham the statistic is the fit's own ATT."""
    from tradeimpact.models import event_study

    df = _panel(seed=15, never_code=np.inf, effect=0.5)
    fit = event_study(
        df, "y", "unit", "time", treat_date="cohort", estimator=estimator,  # type: ignore[arg-type]
        outcome="level", window=None,
    )  # fmt: skip
    got = inference_method("ri_staggered")(fit, n_permutations=49, seed=3)
    ref = staggered_randomization_inference(
        df, "y", "unit", "time", "cohort", estimator=estimator,  # type: ignore[arg-type]
        n_permutations=49, seed=3,
    )  # fmt: skip
    assert got.estimate == pytest.approx(ref.estimate, abs=1e-12)
    assert got.p_numerator == ref.p_numerator and got.n_assignments == 50
    if estimator == "sunab":
        assert fit.aggregates is not None
        assert got.estimate == pytest.approx(fit.aggregates["ATT"], abs=1e-10)
    with pytest.raises(ModelSpecError, match="records its design"):
        inference_method("ri_staggered")(object())


# ------------------------------------------------------------------------------------------
# statistic="t_pre": the s.e. modelled from the units' pre-period variances
# ------------------------------------------------------------------------------------------


def test_t_pre_scale_equals_its_formula_from_pyfixest() -> None:
    """``V = sum_it h_it^2 s_i^2`` with ``h = M D / D'M D`` (pyfixest residuals of D on the fixed
    effects) and ``s_i^2`` the mean squared residual of unit i in pyfixest's pre-period fit."""
    df = _panel(seed=18, rho=0.5)
    res = staggered_randomization_inference(
        df, "y", "unit", "time", "cohort", statistic="t_pre", n_permutations=19
    )
    pdf = df.to_pandas()
    pre = pdf[pdf["time"] < 5].copy()
    pre["e"] = pf.feols("y ~ 1 | unit + time", pre).resid()
    s2 = (pre["e"] ** 2).groupby(pre["unit"]).mean()
    md = pf.feols("D ~ 1 | unit + time", pdf).resid()
    h = md / (md**2).sum()
    v = float((h**2 * pdf["unit"].map(s2).to_numpy()).sum())
    actual = res.placebo.filter(pl.col("is_actual"))
    assert actual["scale"][0] == pytest.approx(np.sqrt(v), rel=1e-9)
    assert res.statistic == pytest.approx(res.estimate / np.sqrt(v), rel=1e-9)
    lo, hi = res.conf_int()
    eps = 1e-6 * (hi - lo)
    assert res.pvalue_at(lo - eps) <= 0.05 < res.pvalue_at(lo + eps)


def test_monte_carlo_few_noisy_treated_units() -> None:
    """200 SYNTHETIC panels, 3 treated units (one per cohort) 3x noisier than the 27 controls:
    the coefficient test over-rejects a true null far outside the binomial 99% band of 5%;
    the pre-period-variance t stays inside it (benchmarks/size_staggered.py: 36.1% vs 3.9%)."""
    rej = {"coef": 0, "t_pre": 0}
    for r in range(200):
        df = _panel(n_units=30, n_time=10, cohorts=(4, 6, 8), n_never=27, seed=20_000 + r,
                    rho=0.5, treated_scale=3.0)  # fmt: skip
        for stat in rej:
            res = staggered_randomization_inference(
                df, "y", "unit", "time", "cohort", statistic=stat,  # type: ignore[arg-type]
                n_permutations=99, seed=r,
            )  # fmt: skip
            rej[stat] += res.pvalue <= 0.05
    low, high = _band(200)
    assert rej["coef"] / 200 > high, rej
    assert low <= rej["t_pre"] / 200 <= high, rej
