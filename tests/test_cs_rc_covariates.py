"""Repeated-cross-section 2x2 estimators with covariates (models/drdid.py ``att_2x2_rc``) and
att_gt with covariates on repeated cross sections (``panel=False``) and unbalanced panels
(``allow_unbalanced_panel=True``); issue 14, staggered adoption item 5.

References and tolerances:
- Sant'Anna & Zhao (2020, J. Econometrics 219), section 3.2: the outcome-regression estimator
  (eq. 3.3 with the comparison group's period regressions) and the locally efficient doubly
  robust estimator (eq. 3.4), written out below from statsmodels fits (``WLS`` per cell, ``GLM``
  Binomial for the propensity score): equal to ``att_2x2_rc`` to 1e-10.
- The influence functions (DRDID's ``att.inf.func``, from which att_gt's standard errors, the
  aggregations and the multiplier bootstrap are computed) are checked against the empirical
  influence function of the estimator itself: ``psi_i = n w_i dATT / dw_i``, the derivative in
  the sampling weight of row i by central finite differences (relative 1e-6). In att_gt the same
  check perturbs a unit's weight column in the data: ``influence[i, j] = n dATT_j / dw_i``.
- No published ``att_gt(..., panel = FALSE)`` output with covariates was found (did's manual
  and vignettes print only panel results). On mpdta with ``lpop`` (constant within county) read
  as repeated cross sections, each cell has the same counties in both periods with the same
  covariates; then the three repeated-cross-section estimators equal the panel ones exactly
  (the period regressions' difference is the regression of the change, and the local-efficiency
  terms vanish): checked to 1e-10, so ``panel=False`` reproduces did's published DR ATT(g, t)
  with lpop (did reference manual 2.1.2, att_gt Examples "Using covariates") to 4 decimals.
- Monte Carlo: the rejection rate of the true ATT by the 95% interval of the DR estimator on
  simulated repeated cross sections (fixed seed, 300 draws): within [0.025, 0.085].
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import statsmodels.api as sm
from conftest import shared_path

from tradeimpact.errors import ModelSpecError
from tradeimpact.models.callaway_santanna import att_gt
from tradeimpact.models.drdid import CollinearCovariatesError, att_2x2_rc

# did reference manual 2.1.2, att_gt Examples, "Using covariates" (xformla=~lpop, "dr")
DID_LPOP_DR = [-0.0145, -0.0764, -0.1404, -0.1069, -0.0005, -0.0062, 0.0010, -0.0413,
               0.0267, -0.0046, -0.0284, -0.0288]  # fmt: skip


@pytest.fixture(scope="module")
def mpdta() -> pl.DataFrame:
    return pl.read_csv(shared_path("validation", "mpdta", "mpdta.csv"))


def _rc_sample(rng: np.random.Generator, n: int, att: float = 1.0) -> dict[str, np.ndarray]:
    """SYNTHETIC repeated cross sections: covariates x1, x2 drive selection and the trend."""
    x1 = rng.normal(size=n)
    x2 = rng.uniform(-1, 1, size=n)
    d = (rng.uniform(size=n) < 1 / (1 + np.exp(-(0.3 + 0.6 * x1 - 0.5 * x2)))).astype(float)
    post = (rng.uniform(size=n) < 0.5).astype(float)
    y = 1 + x1 + 0.5 * x2 + d * (0.5 + 0.3 * x1) + post * (0.4 + 0.7 * x1) + att * d * post
    y = y + rng.normal(size=n)
    return {"y": y, "post": post, "d": d, "x": np.column_stack([np.ones(n), x1, x2]),
            "w": rng.uniform(0.5, 2.0, size=n)}  # fmt: skip


def _wls_fit(y: np.ndarray, x: np.ndarray, w: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """statsmodels WLS of y on x over the rows, predicted on all rows."""
    fit = sm.WLS(y[rows], x[rows], weights=w[rows]).fit()
    return np.asarray(fit.predict(x))


def _ref_rc(method: str, s: dict[str, np.ndarray]) -> float:
    """Sant'Anna & Zhao (2020) eq. 3.3 / 3.4 and Abadie's normalised IPW, from statsmodels."""
    y, post, d, x, w = s["y"], s["post"], s["d"], s["x"], s["w"]

    def m(v: np.ndarray, z: np.ndarray) -> float:
        return float(np.sum(v * z) / np.sum(v))

    mu01 = _wls_fit(y, x, w, (d == 0) & (post == 1))
    mu00 = _wls_fit(y, x, w, (d == 0) & (post == 0))
    if method == "reg":
        return (m(w * d * post, y) - m(w * d * (1 - post), y)) - m(w * d, mu01 - mu00)
    ps = np.asarray(
        sm.GLM(d, x, family=sm.families.Binomial(), freq_weights=w).fit(tol=1e-14).predict(x)
    )
    wc = w * (1 - d) * ps / (1 - ps)
    if method == "ipw":
        return (m(w * d * post, y) - m(w * d * (1 - post), y)) - (
            m(wc * post, y) - m(wc * (1 - post), y)
        )
    mu11 = _wls_fit(y, x, w, (d == 1) & (post == 1))
    mu10 = _wls_fit(y, x, w, (d == 1) & (post == 0))
    mu0 = post * mu01 + (1 - post) * mu00
    r = y - mu0
    wd, wt1, wt0 = w * d, w * d * post, w * d * (1 - post)
    return (
        (m(wt1, r) - m(wt0, r))
        - (m(wc * post, r) - m(wc * (1 - post), r))
        + (m(wd, mu11 - mu01) - m(wt1, mu11 - mu01))
        - (m(wd, mu10 - mu00) - m(wt0, mu10 - mu00))
    )


@pytest.mark.parametrize("method", ["reg", "ipw", "dr"])
def test_rc_estimators_equal_the_paper_formulas_from_statsmodels(method: str) -> None:
    s = _rc_sample(np.random.default_rng(11), 800)
    two = att_2x2_rc(method, s["y"], s["post"], s["d"], s["x"], s["w"])
    assert two.att == pytest.approx(_ref_rc(method, s), abs=1e-10)
    assert two.n == 800 and not two.panel
    assert abs(float(np.mean(two.influence))) < 1e-10  # an influence function has mean zero
    # DRDID's printed s.e.: sd/sqrt(n) for reg_did_rc and std_ipw_did_rc, sd*sqrt(n-1)/n
    # (= sqrt(sum psi^2)/n) for drdid_rc
    sd = float(np.std(two.influence, ddof=1))
    expect = sd * np.sqrt(799) / 800 if method == "dr" else sd / np.sqrt(800)
    assert two.se_drdid == pytest.approx(expect, rel=1e-12)
    assert two.se == pytest.approx(np.sqrt(np.sum(two.influence**2)) / 800, rel=1e-12)


@pytest.mark.parametrize("method", ["reg", "ipw", "dr"])
def test_rc_influence_function_is_the_derivative_in_each_weight(method: str) -> None:
    """psi_i = n w_i dATT/dw_i by central differences, on 10 rows of each of the four cells.

    This is what the standard errors rest on. (DRDID's ``drdid_rc`` adds the estimation effect of
    the comparison group's pre-period regression, ``inf.treat.or.pre`` and ``inf.cont.or.pre``,
    with the sign of the post-period one; its influence function then differs from this
    derivative by ``2 rep_00 (M1_pre - M3_pre)``, a term that vanishes asymptotically when the
    propensity score is correctly specified: 0.01% to 0.09% of the s.e. on mpdta with lpop.
    tradeimpact uses the exact derivative.)"""
    s = _rc_sample(np.random.default_rng(5), 300)
    base = att_2x2_rc(method, s["y"], s["post"], s["d"], s["x"], s["w"])
    n = 300
    rows = [int(i) for dv in (0, 1) for pv in (0, 1)
            for i in np.flatnonzero((s["d"] == dv) & (s["post"] == pv))[:10]]  # fmt: skip
    h = 1e-6
    for i in rows:
        wp, wm = s["w"].copy(), s["w"].copy()
        wp[i] += h
        wm[i] -= h
        up = att_2x2_rc(method, s["y"], s["post"], s["d"], s["x"], wp).att
        dn = att_2x2_rc(method, s["y"], s["post"], s["d"], s["x"], wm).att
        # psi_i = n w_i dATT/dw_i (the estimator is invariant to the scale of the weights, so
        # the derivative in the normalised weights gives the same)
        deriv = n * s["w"][i] * (up - dn) / (2 * h)
        assert base.influence[i] == pytest.approx(deriv, rel=1e-6, abs=1e-6), (method, i)


def test_rc_intercept_only_is_the_difference_of_four_cell_means() -> None:
    s = _rc_sample(np.random.default_rng(2), 400)
    y, p, d, w = s["y"], s["post"], s["d"], s["w"]

    def m(mask: np.ndarray) -> float:
        return float(np.sum(w * mask * y) / np.sum(w * mask))

    did = (m(d * p) - m(d * (1 - p))) - (m((1 - d) * p) - m((1 - d) * (1 - p)))
    for method in ("reg", "ipw", "dr"):
        assert att_2x2_rc(method, y, p, d, None, w).att == pytest.approx(did, abs=1e-12)


def test_dr_rc_confidence_interval_covers_by_monte_carlo() -> None:
    rng = np.random.default_rng(20260)
    reject = 0
    reps = 300
    for _ in range(reps):
        s = _rc_sample(rng, 400, att=1.0)
        two = att_2x2_rc("dr", s["y"], s["post"], s["d"], s["x"])
        reject += abs(two.att - 1.0) > 1.959964 * two.se
    assert 0.025 <= reject / reps <= 0.085, reject / reps


def test_rc_refuses_empty_cells_and_collinear_covariates() -> None:
    s = _rc_sample(np.random.default_rng(3), 200)
    post0 = np.where(s["d"] == 1, 0.0, s["post"])  # no treated rows in the post period
    with pytest.raises(ModelSpecError, match="treated, post cell has no rows"):
        att_2x2_rc("dr", s["y"], post0, s["d"], s["x"])
    x_dup = np.column_stack([s["x"], 2 * s["x"][:, 1]])
    with pytest.raises(CollinearCovariatesError, match="'dup'"):
        att_2x2_rc("reg", s["y"], s["post"], s["d"], x_dup, names=["c", "x1", "x2", "dup"])
    with pytest.raises(ModelSpecError, match="intercept"):
        att_2x2_rc("dr", s["y"], s["post"], s["d"], s["x"][:, 1:])


@pytest.mark.parametrize("method", ["dr", "reg", "ipw"])
def test_mpdta_as_repeated_cross_sections_equals_the_panel_estimates(
    mpdta: pl.DataFrame, method: str
) -> None:
    rc = att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", controls=["lpop"],
                est_method=method, panel=False)  # fmt: skip
    pn = att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", controls=["lpop"],
                est_method=method)  # fmt: skip
    np.testing.assert_allclose(rc.params.to_numpy(), pn.params.to_numpy(), atol=1e-10)
    assert rc.n_units == 2500 and "doubly robust" in rc.model if method == "dr" else True
    if method == "dr":
        np.testing.assert_allclose(rc.params.to_numpy(), DID_LPOP_DR, atol=5e-5)
    # cross sections ignore the within-county correlation of the two periods: larger s.e.
    assert (rc.std_errors.to_numpy() > pn.std_errors.to_numpy()).all()


@pytest.mark.parametrize("panel", [False, True])
def test_att_gt_rc_influence_is_the_derivative_in_a_units_weight(
    mpdta: pl.DataFrame, panel: bool
) -> None:
    """att_gt's influence function (from which its s.e., aggregations and bootstrap come) on
    repeated cross sections and on an unbalanced panel with covariates: column j at unit i is
    n dATT_j / dw_i, the weight of unit i changed in the data (all its rows)."""
    rng = np.random.default_rng(8)
    data = mpdta.with_row_index("r")
    if panel:
        data = data.filter(~pl.col("r").is_in(rng.choice(2500, 60, replace=False)))
    data = data.with_columns(pl.lit(1.0).alias("wt"))
    kw = dict(controls=["lpop"], weights="wt")
    kw.update({"allow_unbalanced_panel": True} if panel else {"panel": False})
    res = att_gt(data, "lemp", "countyreal", "year", "first.treat", **kw)  # type: ignore[arg-type]
    n = res.n_units
    key = "countyreal" if panel else "r"
    units = np.sort(data[key].unique().to_numpy())
    assert n == units.size
    h = 1e-6
    for i in (0, 7, 311, n - 3):
        out = []
        for step in (h, -h):
            d2 = data.with_columns(
                pl.when(pl.col(key) == units[i]).then(1.0 + step).otherwise(1.0).alias("wt")
            )
            out.append(att_gt(d2, "lemp", "countyreal", "year", "first.treat", **kw).beta)  # type: ignore[arg-type]
        deriv = n * (out[0] - out[1]) / (2 * h)
        np.testing.assert_allclose(res.influence[i], deriv, rtol=1e-5, atol=1e-6)
    se = np.sqrt(np.sum(res.influence**2, axis=0)) / n
    np.testing.assert_allclose(res.std_errors.to_numpy(), se, rtol=1e-12)


def test_rc_covariates_bootstrap_and_aggregation(mpdta: pl.DataFrame) -> None:
    res = att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", controls=["lpop"],
                 panel=False, bootstrap=True, cband=True, biters=2000, seed=3)  # fmt: skip
    ratio = res.att_gt["se_boot"].to_numpy() / res.att_gt["se"].to_numpy()
    assert np.all(np.abs(ratio - 1) < 0.1), ratio
    assert res.bootstrap is not None and res.bootstrap.crit_val > 1.96
    agg = res.aggregate("dynamic")
    assert np.isfinite(agg.std_errors.to_numpy()).all()


# ----------------------------------------------------------------------------------------------
# weights that vary within a unit (issue 14 item 5): did's repeated-cross-section path weighs
# each row by its own weight; its panel path reads one row's weight per unit
# ----------------------------------------------------------------------------------------------
def _varying_weights(mpdta: pl.DataFrame) -> pl.DataFrame:
    """SYNTHETIC weights on mpdta's rows that change from year to year within each county."""
    rng = np.random.default_rng(13)
    return mpdta.with_columns(pl.Series("wt", rng.uniform(0.5, 2.0, mpdta.height)))


def test_weights_varying_within_a_unit_are_refused_by_the_panel_estimator(
    mpdta: pl.DataFrame,
) -> None:
    data = _varying_weights(mpdta)
    with pytest.raises(ModelSpecError, match=r"'wt' varies within unit .*allow_unbalanced_panel"):
        att_gt(data, "lemp", "countyreal", "year", "first.treat", weights="wt")


@pytest.mark.parametrize("panel", [True, False])
def test_weights_varying_within_a_unit_weigh_each_row(mpdta: pl.DataFrame, panel: bool) -> None:
    """With allow_unbalanced_panel=True (or panel=False) each row carries its own weight: every
    ATT(g, t) is the WLS interaction coefficient of lemp ~ D * post on the cell's rows with those
    weights (statsmodels), its s.e. the cluster-robust one by county without small-sample factor
    (panel; HC0 for cross sections), 1e-9."""
    import statsmodels.formula.api as smf

    data = _varying_weights(mpdta)
    kw = {"allow_unbalanced_panel": True} if panel else {"panel": False}
    res = att_gt(data, "lemp", "countyreal", "year", "first.treat", weights="wt", **kw)  # type: ignore[arg-type]
    pdf = data.to_pandas()
    for g, t, base, att, se in res.att_gt.select("group", "time", "base", "att", "se").iter_rows():
        rows = pdf[pdf["first.treat"].isin([g, 0]) & pdf["year"].isin([t, base])].copy()
        rows["D"] = (rows["first.treat"] == g).astype(float)
        rows["post"] = (rows["year"] == t).astype(float)
        model = smf.wls("lemp ~ D * post", data=rows, weights=rows["wt"])
        if panel:
            fit = model.fit(cov_type="cluster", cov_kwds={"groups": rows["countyreal"].to_numpy(),
                                                          "use_correction": False})  # fmt: skip
        else:
            fit = model.fit(cov_type="HC0")
        assert att == pytest.approx(float(fit.params["D:post"]), abs=1e-12), (g, t)
        assert se == pytest.approx(float(fit.bse["D:post"]), rel=1e-9), (g, t)
    # the same weights constant within county (each county's 2003 weight): the panel fit
    first = data.sort("year").group_by("countyreal").agg(pl.col("wt").first().alias("w0"))
    const = data.join(first, on="countyreal")
    a = att_gt(const, "lemp", "countyreal", "year", "first.treat", weights="w0")
    b = att_gt(const, "lemp", "countyreal", "year", "first.treat", weights="w0",
               allow_unbalanced_panel=True)  # fmt: skip
    np.testing.assert_array_equal(a.params.to_numpy(), b.params.to_numpy())
