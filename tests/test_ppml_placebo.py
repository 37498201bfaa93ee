"""Randomization inference for PPML with one treated unit (``tradeimpact.inference.ppml_placebo``).

References: each placebo refit against pyfixest ``fepois`` on the same data; the own-unit
sandwich against its closed form (delta method of the log ratio); the p-value against its
definition over the placebo table; size by a fixed-seed Monte Carlo (SYNTHETIC Poisson-type
panels of :func:`benchmarks.size_ppml.simulate_panel`) with the tolerance of its binomial error.
"""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import polars as pl
import pytest

from benchmarks.size_ppml import one_replication, simulate_panel
from tradeimpact.errors import ModelSpecError
from tradeimpact.inference.ppml_placebo import ppml_randomization_inference


def test_refits_equal_pyfixest_and_own_se_closed_form() -> None:
    pf = pytest.importorskip("pyfixest")
    df = simulate_panel(np.random.default_rng(4), noise_ratio=2.0, effect=0.2)
    ri = ppml_randomization_inference(
        df, "y", "unit", "period", 0, "post", tol=1e-12, fixef_tol=1e-13
    )
    assert ri.exact and ri.p_denominator == 20
    assert ri.placebo["is_actual"].to_list()[0] is True
    pdf = df.to_pandas()
    for a in (0, 7, 13):
        pdf["D"] = ((pdf["unit"] == a) & (pdf["post"] == 1)).astype(float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = pf.fepois(
                "y ~ D | unit + period",
                pdf,
                iwls_tol=1e-12,
                demeaner=pf.MapDemeaner(fixef_tol=1e-13),
            )
        got = ri.placebo.filter(pl.col("assignment") == str(a))
        assert got["estimate"][0] == pytest.approx(float(ref.coef()["D"]), abs=1e-8)
        # own-unit sandwich = delta method of the pre/post log ratio from the unit's residuals
        mu = ref.predict(type="response")
        rows = (pdf["unit"] == a).to_numpy()
        post = pdf["post"].to_numpy() == 1
        e = pdf["y"].to_numpy() - mu
        v = sum(np.sum(e[rows & m] ** 2) / np.sum(mu[rows & m]) ** 2 for m in (post, ~post))
        n_a = int(rows.sum())
        assert got["std_error"][0] == pytest.approx(np.sqrt(v * n_a / (n_a - 2)), rel=1e-6)
        # log-scale residuals, demeaned before and after, over n_a - 2; times 1/5 + 1/5
        r = np.log((pdf["y"].to_numpy()[rows] + 0.5) / (mu[rows] + 0.5))
        p_a = post[rows]
        ss = np.sum((r[p_a] - r[p_a].mean()) ** 2) + np.sum((r[~p_a] - r[~p_a].mean()) ** 2)
        se_log = np.sqrt(ss / (n_a - 2) * (1 / 5 + 1 / 5))
        assert got["std_error_log"][0] == pytest.approx(se_log, rel=1e-6)
    # the CR1 figures are the PPML fit's (pyfixest's CRV1 with the normal reference)
    pdf["D"] = ((pdf["unit"] == 0) & (pdf["post"] == 1)).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pf.fepois(
            "y ~ D | unit + period",
            pdf,
            vcov={"CRV1": "unit"},
            iwls_tol=1e-12,
            demeaner=pf.MapDemeaner(fixef_tol=1e-13),
        )
    assert ri.cr1_std_error == pytest.approx(float(ref.se()["D"]), rel=1e-6)
    assert ri.cr1_pvalue == pytest.approx(float(ref.pvalue()["D"]), abs=1e-8)


def test_p_value_is_the_exact_fraction() -> None:
    df = simulate_panel(np.random.default_rng(5), noise_ratio=1.0)
    for statistic, col in (("t", "tstat"), ("t_log", "tstat_log"), ("coef", "estimate")):
        ri = ppml_randomization_inference(df, "y", "unit", "period", 0, "post", statistic=statistic)
        s = np.abs(ri.placebo[col].to_numpy())
        actual = s[ri.placebo["is_actual"].to_numpy()][0]
        assert ri.p_fraction == Fraction(int(np.sum(s >= actual * (1 - 1e-9))), 20)
        assert ri.pvalue == float(ri.p_fraction)
    tab = ri.tidy(0.95)
    assert tab["p_fraction"][0] == f"{ri.p_numerator}/20" and tab["n_assignments"][0] == 20


def test_size_studentized_monte_carlo() -> None:
    """Treated unit 3x noisier, 20 units, one treated: 300 fixed-seed replications. Both
    studentized tests reject at 5% within 3 binomial s.e. (0.038) of 5%; CR1 and the
    coefficient test over-reject (beyond 5% + 3 s.e.). reports/size_ppml.md has the full table
    (5,000 replications per row)."""
    rng = np.random.default_rng([20261201, 99])
    reps = 300
    hits = {"cr1": 0, "ri_coef": 0, "ri_t": 0, "ri_t_log": 0}
    for _ in range(reps):
        for key, rej in one_replication(rng, 3.0, 0.0).items():
            hits[key] += int(rej)
    rate = {k: v / reps for k, v in hits.items()}
    tol = 3 * np.sqrt(0.05 * 0.95 / reps)
    assert abs(rate["ri_t"] - 0.05) <= tol, rate
    assert abs(rate["ri_t_log"] - 0.05) <= tol, rate
    assert rate["cr1"] > 0.05 + tol, rate
    assert rate["ri_coef"] > 0.05 + tol, rate


def test_interval_by_test_inversion() -> None:
    df = simulate_panel(np.random.default_rng(6), noise_ratio=1.0, effect=0.5)
    ri = ppml_randomization_inference(df, "y", "unit", "period", 0, "post")
    lo, hi = ri.conf_int(0.90)  # type: ignore[misc]
    assert lo < ri.estimate < hi
    eps = 1e-3 * ri.std_error
    for b0, inside in [(lo + eps, True), (lo - eps, False), (hi - eps, True), (hi + eps, False)]:
        assert (ri.pvalue_at(b0) > 0.10) is inside, b0
    # the estimate itself is not rejected, and the actual statistic at b0 = estimate is 0
    assert ri.pvalue_at(ri.estimate) == 1.0
    # ten units: the smallest p-value is 1/10 > 0.05, so no 95% interval (and the reason)
    small = df.filter(pl.col("unit") < 10)
    r10 = ppml_randomization_inference(small, "y", "unit", "period", 0, "post")
    assert r10.conf_int(0.95) is None and "1/10 > 0.05" in r10.ci_note
    assert "1/10 > 0.05" in r10.summary()


def test_two_treated_units_all_combinations() -> None:
    df = simulate_panel(np.random.default_rng(7), n_units=8, effect=0.2)
    ri = ppml_randomization_inference(df, "y", "unit", "period", [0, 1], "post", statistic="t")
    assert ri.exact and ri.p_denominator == 28  # C(8, 2)
    assert ri.estimate == pytest.approx(float(ri.ppml_result.params["__D"]), abs=1e-7)
    assert (ri.placebo["std_error"].to_numpy() > 0).all()
    drawn = ppml_randomization_inference(
        df, "y", "unit", "period", [0, 1], "post", max_exact=10, n_permutations=15, seed=3
    )
    assert not drawn.exact and drawn.p_denominator == 16


def test_bad_input() -> None:
    df = simulate_panel(np.random.default_rng(8))
    with pytest.raises(ModelSpecError, match="statistic"):
        ppml_randomization_inference(df, "y", "unit", "period", 0, "post", statistic="z")  # type: ignore[arg-type]
    with pytest.raises(ModelSpecError, match="not in column"):
        ppml_randomization_inference(df, "y", "unit", "period", 99, "post")
    with pytest.raises(ModelSpecError, match="0/1"):
        ppml_randomization_inference(
            df.with_columns(pl.col("post") * 2), "y", "unit", "period", 0, "post"
        )
    with pytest.raises(ModelSpecError, match="not in the data"):
        ppml_randomization_inference(df, "nope", "unit", "period", 0, "post")


def test_separated_placebo_counts_as_extreme() -> None:
    """A control unit with no trade after the event: its placebo coefficient diverges; it counts
    as the most extreme statistic (never lowers the p-value)."""
    df = simulate_panel(np.random.default_rng(9), effect=0.0)
    df = df.with_columns(
        pl.when((pl.col("unit") == 5) & (pl.col("post") == 1)).then(0.0).otherwise("y").alias("y")
    )
    ri = ppml_randomization_inference(df, "y", "unit", "period", 0, "post", maxiter=30)
    row = ri.placebo.filter(pl.col("assignment") == "5")
    assert np.isinf(row["estimate"][0]) and row["estimate"][0] < 0
    assert np.isinf(row["tstat"][0])
    assert ri.p_numerator >= 2  # the actual assignment and the separated one
    with pytest.raises(ModelSpecError, match="fixed effects"):
        ppml_randomization_inference(df, "y", "unit", "period", 0, "post", fe=[])


def test_unit_without_post_rows_is_an_error() -> None:
    df = simulate_panel(np.random.default_rng(10))
    df = df.filter(~((pl.col("unit") == 3) & (pl.col("post") == 1)))
    with pytest.raises(ModelSpecError, match="before or after"):
        ppml_randomization_inference(df, "y", "unit", "period", 0, "post")


def test_product_panel_cell_and_product_period_effects() -> None:
    """The case studies' shape: importer x product x month, importer-product (nested in the
    importer) and product-month effects; the refits equal pyfixest fepois."""
    pf = pytest.importorskip("pyfixest")
    rng = np.random.default_rng(11)
    n_imp, n_prod, n_t = 8, 3, 8
    imp, prod, t = (
        a.ravel()
        for a in np.meshgrid(np.arange(n_imp), np.arange(n_prod), np.arange(n_t), indexing="ij")
    )
    post = (t >= 4).astype(int)
    mu = np.exp(3 + rng.normal(0, 0.5, n_imp * n_prod)[imp * n_prod + prod] + 0.1 * t)
    y = rng.poisson(mu * np.exp(0.2 * rng.normal(size=imp.size))).astype(float)
    df = pl.DataFrame({"imp": imp, "prod": prod, "t": t, "post": post, "y": y})
    fe = [("imp", "prod"), ("prod", "t")]
    ri = ppml_randomization_inference(
        df, "y", "imp", "t", 0, "post", fe=fe, tol=1e-12, fixef_tol=1e-13
    )
    assert ri.p_denominator == n_imp
    pdf = df.to_pandas()
    for a in (0, 5):
        pdf["D"] = ((pdf["imp"] == a) & (pdf["post"] == 1)).astype(float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = pf.fepois(
                "y ~ D | imp^prod + prod^t",
                pdf,
                iwls_tol=1e-12,
                demeaner=pf.MapDemeaner(fixef_tol=1e-13),
            )
        got = ri.placebo.filter(pl.col("assignment") == str(a))["estimate"][0]
        assert got == pytest.approx(float(ref.coef()["D"]), abs=1e-7)
    assert (ri.placebo["std_error"].to_numpy() > 0).all()
