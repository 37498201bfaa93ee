"""Sant'Anna & Zhao (2020) 2x2 DiD estimators (models/drdid.py) against did/DRDID and by hand.

References:
- did's published ATT(g, t) on mpdta with ``xformla = ~lpop`` and ``est_method = "dr"`` (the
  default): the did reference manual, version 2.1.2 (CRAN, Date/Publication 2022-07-20; package
  URL https://bcallaway11.github.io/did/, https://github.com/bcallaway11/did/), ``att_gt``
  Examples, "Using covariates" (``out2 <- att_gt(yname="lemp", tname="year",
  idname="countyreal", gname="first.treat", xformla=~lpop, data=mpdta); summary(out2)``; the
  reference manual is served by CRAN as https://cran.r-project.org/web/packages/did/did.pdf for
  the current release, and the example is also on
  https://bcallaway11.github.io/did/reference/att_gt.html). All 12 ATT(g, t) and the pre-test
  p-value are printed there, to 4 and 5 decimals; the printed standard errors are
  multiplier-bootstrap draws (random), so the analytic SEs are checked against DRDID's formula
  written out below instead. No published "reg" or "ipw" figures with lpop were found; those two
  are checked against the independent implementation only.
- DRDID's ``drdid_panel``, ``std_ipw_did_panel``, ``reg_did_panel`` (github pedrohcgs/DRDID, R/):
  the formulas of the estimators and of their influence functions, re-implemented here
  independently with statsmodels (``Logit`` / ``GLM`` for the propensity score, ``WLS`` for the
  outcome regression) and compared to 1e-10.
- Without covariates ``"reg"`` is the unconditional DiD: the difference of the groups' mean
  changes, whose influence function is written out by hand, and today's ``att_gt`` numbers.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
import statsmodels.api as sm
from conftest import shared_path
from scipy import stats

from tradeimpact.errors import ModelSpecError
from tradeimpact.models.callaway_santanna import att_gt
from tradeimpact.models.drdid import (
    CollinearCovariatesError,
    OverlapError,
    TwoByTwo,
    att_2x2,
)

# did reference manual 2.1.2, att_gt Examples, "Using covariates" (xformla=~lpop, est_method "dr",
# never-treated comparison units): ATT(g, t) as printed
DID_LPOP_DR = {
    (2004, 2004): -0.0145,
    (2004, 2005): -0.0764,
    (2004, 2006): -0.1404,
    (2004, 2007): -0.1069,
    (2006, 2004): -0.0005,
    (2006, 2005): -0.0062,
    (2006, 2006): 0.0010,
    (2006, 2007): -0.0413,
    (2007, 2004): 0.0267,
    (2007, 2005): -0.0046,
    (2007, 2006): -0.0284,
    (2007, 2007): -0.0288,
}
#: same output: "P-value for pre-test of parallel trends assumption: 0.23267"
DID_LPOP_DR_PRETEST_P = 0.23267


# ----------------------------------------------------------------------------------------------
# independent implementation of DRDID's formulas (statsmodels fits, the influence functions
# written out as in DRDID's R code)
# ----------------------------------------------------------------------------------------------
def _ref_logit(d: np.ndarray, x: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    if w is None:
        fit = sm.Logit(d, x).fit(method="newton", tol=1e-14, maxiter=100, disp=0)
    else:
        # R's glm(weights = w): frequency-type prior weights
        fit = sm.GLM(d, x, family=sm.families.Binomial(), freq_weights=w).fit(tol=1e-14)
    return np.asarray(fit.predict(x))


def _ref_drdid(
    method: str,
    dy: np.ndarray,
    d: np.ndarray,
    x: np.ndarray,
    w: np.ndarray | None = None,
    trim: float = 0.995,
) -> tuple[float, np.ndarray]:
    n = dy.size
    i_w = np.ones(n) if w is None else w / w.mean()
    ctrl = d == 0
    # outcome regression: WLS of dy on x among the comparison units
    beta = sm.WLS(dy[ctrl], x[ctrl], weights=i_w[ctrl]).fit().params
    or_fit = x @ beta
    e_or = dy - or_fit
    # linear representation of beta: w(1-D) e x (X'W0X/n)^-1
    xwx = (x * (i_w * (1 - d))[:, None]).T @ x / n
    lin_or = (x * (i_w * (1 - d) * e_or)[:, None]) @ np.linalg.inv(xwx)
    if method == "reg":
        wt = i_w * d
        att_t = np.sum(wt * dy) / np.sum(wt)
        att_c = np.sum(wt * or_fit) / np.sum(wt)
        psi_t = wt * (dy - att_t) / wt.mean()
        psi_c = (wt * (or_fit - att_c) + lin_or @ (x * wt[:, None]).mean(0)) / wt.mean()
        return att_t - att_c, psi_t - psi_c
    ps = np.minimum(_ref_logit(d, x, w), 1 - 1e-6)
    keep = np.where(ctrl, ps < trim, True)
    hess = np.linalg.inv((x * (ps * (1 - ps) * i_w)[:, None]).T @ x) * n
    lin_ps = (x * (i_w * (d - ps))[:, None]) @ hess
    wt = keep * i_w * d
    wc = keep * i_w * ps * (1 - d) / (1 - ps)
    if method == "ipw":
        att_t = np.sum(wt * dy) / np.sum(wt)
        att_c = np.sum(wc * dy) / np.sum(wc)
        psi_t = wt * (dy - att_t) / wt.mean()
        m2 = (x * (wc * (dy - att_c))[:, None]).mean(0)
        psi_c = (wc * (dy - att_c) + lin_ps @ m2) / wc.mean()
        return att_t - att_c, psi_t - psi_c
    att_t = np.sum(wt * e_or) / np.sum(wt)
    att_c = np.sum(wc * e_or) / np.sum(wc)
    psi_t = (wt * (e_or - att_t) - lin_or @ (x * wt[:, None]).mean(0)) / wt.mean()
    m2 = (x * (wc * (e_or - att_c))[:, None]).mean(0)
    m3 = (x * wc[:, None]).mean(0)
    psi_c = (wc * (e_or - att_c) + lin_ps @ m2 - lin_or @ m3) / wc.mean()
    return att_t - att_c, psi_t - psi_c


def _drdid_se(psi: np.ndarray) -> float:
    """DRDID's printed analytic SE for drdid_panel / std_ipw_did_panel: sd(psi) sqrt(n-1) / n."""
    n = psi.size
    return float(np.std(psi, ddof=1) * np.sqrt(n - 1) / n)


# ----------------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mpdta_wide() -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    long = pl.read_csv(shared_path("validation", "mpdta", "mpdta.csv")).to_pandas()
    wide = long.pivot(index="countyreal", columns="year", values="lemp")
    g = long.groupby("countyreal")["first.treat"].first()
    lpop = long.groupby("countyreal")["lpop"].first()
    return wide, g, lpop


def _cell(
    data: tuple[pd.DataFrame, pd.Series, pd.Series], g: int, t: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """did's 2x2 sample for ATT(g, t), never-treated comparison, varying base period."""
    wide, grp, lpop = data
    base = g - 1 if t >= g else t - 1
    keep = ((grp == g) | (grp == 0)).to_numpy()
    dy = (wide[t] - wide[base]).to_numpy()[keep]
    d = (grp == g).to_numpy()[keep].astype(float)
    x = np.column_stack([np.ones(keep.sum()), lpop.to_numpy()[keep]])
    return dy, d, x, keep


def _panel(rng: np.random.Generator, n: int, *, or_nonlinear: bool, ps_nonlinear: bool):
    """Simulated 2x2 panel: covariates x1, x2; ATT = 1 (homogeneous).

    Comparison trend E[dY | X] = 1 + x1 - 0.5 x2 (+ 1.5 x1^2 if or_nonlinear); logit propensity
    score -0.5 + 0.8 x1 + 0.4 x2 (+ 0.8 x1^2 - 1 if ps_nonlinear). The estimators see
    X = [1, x1, x2]: the outcome model is misspecified when or_nonlinear, the propensity score when
    ps_nonlinear.
    """
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n)
    index = -0.5 + 0.8 * x1 + 0.4 * x2 + (0.8 * x1**2 - 1.0 if ps_nonlinear else 0.0)
    d = (rng.uniform(size=n) < 1 / (1 + np.exp(-index))).astype(float)
    trend = 1 + x1 - 0.5 * x2 + (1.5 * x1**2 if or_nonlinear else 0.0)
    dy = trend + 1.0 * d + rng.normal(size=n)
    x = np.column_stack([np.ones(n), x1, x2])
    return dy, d, x


# ----------------------------------------------------------------------------------------------
# (a) intercept only: the unconditional DiD, and today's att_gt
# ----------------------------------------------------------------------------------------------
def test_reg_intercept_only_is_the_unconditional_did_with_its_influence_function() -> None:
    rng = np.random.default_rng(1)
    n = 300
    d = (rng.uniform(size=n) < 0.3).astype(float)
    dy = rng.normal(size=n) + 0.5 * d
    w = rng.uniform(0.5, 2.0, size=n)
    for weights in (None, w):
        ww = np.ones(n) if weights is None else w / w.mean()
        res = att_2x2("reg", dy, d, np.ones((n, 1)), weights)
        mu1 = np.sum(ww * d * dy) / np.sum(ww * d)
        mu0 = np.sum(ww * (1 - d) * dy) / np.sum(ww * (1 - d))
        assert res.att == pytest.approx(mu1 - mu0, abs=1e-12)
        # by hand: psi = w D (dY - mu1) / mean(w D) - w (1-D) (dY - mu0) / mean(w (1-D))
        psi = ww * d * (dy - mu1) / np.mean(ww * d) - ww * (1 - d) * (dy - mu0) / np.mean(
            ww * (1 - d)
        )
        np.testing.assert_allclose(res.influence, psi, rtol=0, atol=1e-12)
        assert res.se == pytest.approx(np.sqrt(np.sum(psi**2)) / n, rel=1e-12)
        # x=None is the intercept-only default
        assert att_2x2("reg", dy, d, None, weights).att == pytest.approx(res.att, abs=1e-14)
    # without weights the unconditional DiD's SE is the HC0 SE of OLS of dY on [1, D]
    fit = sm.OLS(dy, sm.add_constant(d)).fit(cov_type="HC0")
    res = att_2x2("reg", dy, d)
    assert res.att == pytest.approx(fit.params[1], abs=1e-12)
    assert res.se == pytest.approx(fit.bse[1], rel=1e-10)


def test_reg_intercept_only_reproduces_att_gt_without_covariates(mpdta_wide) -> None:
    """att_2x2("reg", x = intercept) gives att_gt's ATT(g,t) and influence columns (did's n/n1
    scaling and zero fill), to 1e-12."""
    wide, grp, _ = mpdta_wide
    long = (
        wide.stack()
        .rename("lemp")
        .reset_index()
        .merge(grp.rename("first.treat").reset_index(), on="countyreal")
    )
    res = att_gt(long, "lemp", "countyreal", "year", "first.treat")
    n = len(grp)
    for j, (g, t) in enumerate(res.att_gt.select("group", "time").iter_rows()):
        dy, d, _, keep = _cell(mpdta_wide, int(g), int(t))
        two = att_2x2("reg", dy, d, np.ones((dy.size, 1)))
        assert two.att == pytest.approx(res.att_gt["att"][j], abs=1e-12)
        full = np.zeros(n)
        full[keep] = two.influence * (n / dy.size)
        np.testing.assert_allclose(full, res.influence[:, j], rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# (b) mpdta with lpop: did's published numbers and DRDID's analytic SE
# ----------------------------------------------------------------------------------------------
def test_mpdta_lpop_dr_reproduces_dids_published_att_gt(mpdta_wide) -> None:
    for (g, t), ref in DID_LPOP_DR.items():
        dy, d, x, _ = _cell(mpdta_wide, g, t)
        res = att_2x2("dr", dy, d, x, names=["(Intercept)", "lpop"])
        assert round(res.att, 4) == pytest.approx(ref, abs=1e-12), (g, t, res.att)


def test_mpdta_lpop_pretest_from_the_influence_functions(mpdta_wide) -> None:
    """did's Wald pre-test (W = n theta' V^-1 theta, V = Psi'Psi/n over the 500 counties, the
    2x2 influence functions scaled by n/n1 and zero outside the cell) with the DR influence
    functions: did prints p = 0.23267."""
    n = len(mpdta_wide[1])
    th, cols = [], []
    for g, t in DID_LPOP_DR:
        if t >= g:
            continue
        dy, d, x, keep = _cell(mpdta_wide, g, t)
        res = att_2x2("dr", dy, d, x)
        full = np.zeros(n)
        full[keep] = res.influence * n / dy.size
        th.append(res.att)
        cols.append(full)
    psi = np.column_stack(cols)
    theta = np.array(th)
    V = psi.T @ psi / n
    W = n * theta @ np.linalg.solve(V, theta)
    p = stats.chi2.sf(W, df=theta.size)
    assert theta.size == 5
    assert round(p, 5) == pytest.approx(DID_LPOP_DR_PRETEST_P, abs=1e-12)


@pytest.mark.parametrize("method", ["dr", "ipw", "reg"])
def test_mpdta_lpop_2004_2004_matches_an_independent_drdid(mpdta_wide, method: str) -> None:
    """ATT(2004, 2004), base 2003, X = [1, lpop]: ATT, influence function and analytic SE equal
    DRDID's formulas computed here with statsmodels (Logit, WLS), to 1e-10."""
    dy, d, x, _ = _cell(mpdta_wide, 2004, 2004)
    res = att_2x2(method, dy, d, x)
    att_ref, psi_ref = _ref_drdid(method, dy, d, x)
    assert res.att == pytest.approx(att_ref, abs=1e-10)
    np.testing.assert_allclose(res.influence, psi_ref, rtol=0, atol=1e-10)
    n = dy.size
    se_did = np.sqrt(np.sum(psi_ref**2)) / n  # did: sqrt(diag(Psi'Psi/n)/n)
    assert res.se == pytest.approx(se_did, abs=1e-10)
    if method == "reg":
        # DRDID's reg_did_panel prints sd(psi)/sqrt(n)
        assert res.se_drdid == pytest.approx(np.std(psi_ref, ddof=1) / np.sqrt(n), abs=1e-10)
    else:
        assert res.se_drdid == pytest.approx(_drdid_se(psi_ref), abs=1e-10)
    # rescaling a covariate (lpop in thousandths) changes nothing, however the fits converge
    scaled = att_2x2(method, dy, d, x * np.array([1.0, 1000.0]))
    assert scaled.att == pytest.approx(res.att, abs=1e-10)
    np.testing.assert_allclose(scaled.influence, res.influence, rtol=0, atol=1e-9)
    # did's printed ATT(2004,2004) for dr; the three estimators differ by < 5e-4 here
    assert abs(res.att - DID_LPOP_DR[(2004, 2004)]) < 5e-4
    assert res.n_treated == 20 and res.n_control == 309 and res.n_trimmed == 0
    # the analytic SE is close to did's printed (bootstrap) 0.0233
    assert res.se == pytest.approx(0.0233, rel=0.1)


# ----------------------------------------------------------------------------------------------
# (c) simulated panels: the DR formula by statsmodels, double robustness by Monte Carlo
# ----------------------------------------------------------------------------------------------
def test_dr_ipw_reg_equal_statsmodels_formulas_on_a_simulated_panel() -> None:
    rng = np.random.default_rng(7)
    dy, d, x = _panel(rng, 2000, or_nonlinear=True, ps_nonlinear=False)
    w = rng.uniform(0.2, 3.0, size=dy.size)
    for method in ("dr", "ipw", "reg"):
        for weights in (None, w):
            res = att_2x2(method, dy, d, x, weights)
            att_ref, psi_ref = _ref_drdid(method, dy, d, x, weights)
            assert res.att == pytest.approx(att_ref, abs=1e-10), (method, weights is None)
            np.testing.assert_allclose(res.influence, psi_ref, rtol=0, atol=1e-10)
            assert abs(res.influence.mean()) < 1e-10  # mean zero
    # weights are normalised: scaling them changes nothing
    a = att_2x2("dr", dy, d, x, w)
    b = att_2x2("dr", dy, d, x, 7.5 * w)
    assert a.att == pytest.approx(b.att, abs=1e-12)
    np.testing.assert_allclose(a.influence, b.influence, rtol=0, atol=1e-10)


def test_double_robustness_by_monte_carlo() -> None:
    """200 seeded panels of 1,000 units, true ATT = 1. Outcome model wrong, propensity score
    right: DR unbiased (mean within 3 MC s.e. of 1), "reg" biased; propensity score wrong,
    outcome model right: DR unbiased. Coverage of the DR 95% interval (analytic SE) in the first
    design: rejection rate within 3 binomial s.e. of 5%."""
    reps, n = 200, 1000
    rng = np.random.default_rng(20200601)
    out: dict[str, list[float]] = {k: [] for k in ("dr_A", "reg_A", "dr_B", "ipw_B")}
    reject = 0
    for _ in range(reps):
        dy, d, x = _panel(rng, n, or_nonlinear=True, ps_nonlinear=False)
        dr = att_2x2("dr", dy, d, x)
        out["dr_A"].append(dr.att)
        out["reg_A"].append(att_2x2("reg", dy, d, x).att)
        reject += abs(dr.att - 1.0) / dr.se > stats.norm.ppf(0.975)
        dy, d, x = _panel(rng, n, or_nonlinear=False, ps_nonlinear=True)
        out["dr_B"].append(att_2x2("dr", dy, d, x).att)
        out["ipw_B"].append(att_2x2("ipw", dy, d, x).att)
    est = {k: np.asarray(v) for k, v in out.items()}
    mcse = {k: v.std(ddof=1) / np.sqrt(reps) for k, v in est.items()}
    assert abs(est["dr_A"].mean() - 1) < 3 * mcse["dr_A"]
    assert abs(est["dr_B"].mean() - 1) < 3 * mcse["dr_B"]
    # the misspecified outcome regression alone is biased (by about 0.6 here)
    assert est["reg_A"].mean() - 1 > 10 * mcse["reg_A"]
    # the misspecified propensity score alone is biased too
    assert abs(est["ipw_B"].mean() - 1) > 5 * mcse["ipw_B"]
    rate = reject / reps
    assert abs(rate - 0.05) < 3 * np.sqrt(0.05 * 0.95 / reps)


# ----------------------------------------------------------------------------------------------
# errors and DRDID's trimming
# ----------------------------------------------------------------------------------------------
def test_collinear_covariates_are_refused_naming_the_column() -> None:
    rng = np.random.default_rng(3)
    dy, d, x = _panel(rng, 400, or_nonlinear=False, ps_nonlinear=False)
    xx = np.column_stack([x, 2 * x[:, 1]])
    names = ["(Intercept)", "x1", "x2", "x1_twice"]
    for method in ("reg", "ipw", "dr"):
        with pytest.raises(CollinearCovariatesError, match="x1_twice"):
            att_2x2(method, dy, d, xx, names=names)
    # a covariate constant among the comparison units: the outcome regression cannot be fitted
    z = np.where(d == 1, rng.normal(size=d.size), 0.0)
    with pytest.raises(CollinearCovariatesError, match=r"comparison units.*'z'"):
        att_2x2("reg", dy, d, np.column_stack([x, z]), names=[*names[:3], "z"])
    assert issubclass(CollinearCovariatesError, ModelSpecError)


def test_separation_and_overlap_failures_are_refused() -> None:
    rng = np.random.default_rng(4)
    n = 400
    x1 = rng.normal(size=n)
    d = (x1 > 0.5).astype(float)  # x1 separates the groups: propensity scores of 0 and 1
    dy = rng.normal(size=n) + d
    x = np.column_stack([np.ones(n), x1])
    for method in ("ipw", "dr"):
        with pytest.raises(OverlapError, match="overlap condition violated"):
            att_2x2(method, dy, d, x, names=["(Intercept)", "x1"])
    # the outcome regression needs no overlap in X
    assert np.isfinite(att_2x2("reg", dy, d, x).att)
    assert issubclass(OverlapError, ModelSpecError)


def test_drdid_trimming_of_comparison_units_with_high_propensity_scores() -> None:
    """overlap_check=False reproduces DRDID called directly: comparison units with p >= 0.995
    get weight zero (and p is capped at 1 - 1e-6); the ATT equals the formula with the same
    trimming written out."""
    rng = np.random.default_rng(5)
    n = 3000
    x1 = rng.normal(size=n)
    d = (rng.uniform(size=n) < 1 / (1 + np.exp(-(-1.0 + 2.5 * x1)))).astype(float)
    # a few comparison units far in the treated region (scores above 0.995)
    x1[:8] = np.linspace(2.4, 3.2, 8)
    d[:8] = 0.0
    dy = 1 + x1 + d + rng.normal(size=n)
    x = np.column_stack([np.ones(n), x1])
    with pytest.raises(OverlapError):
        att_2x2("dr", dy, d, x)  # did's check: scores of 0.999 and more
    for method in ("ipw", "dr"):
        res = att_2x2(method, dy, d, x, overlap_check=False)
        assert res.n_trimmed > 0
        assert res.pscore is not None
        assert res.n_trimmed == int(np.sum((d == 0) & (res.pscore >= 0.995)))
        att_ref, psi_ref = _ref_drdid(method, dy, d, x)
        assert res.att == pytest.approx(att_ref, abs=1e-10)
        np.testing.assert_allclose(res.influence, psi_ref, rtol=0, atol=1e-9)
        # no trimming (trim_level above every score) is a different number
        untrimmed = att_2x2(method, dy, d, x, overlap_check=False, trim_level=1.01)
        assert untrimmed.n_trimmed == 0 and untrimmed.att != pytest.approx(res.att, abs=1e-8)


def test_bad_input_gets_a_clear_error() -> None:
    rng = np.random.default_rng(6)
    dy, d, x = _panel(rng, 100, or_nonlinear=False, ps_nonlinear=False)
    with pytest.raises(ModelSpecError, match=r"treated group .* is empty"):
        att_2x2("dr", dy, np.zeros_like(d), x)
    with pytest.raises(ModelSpecError, match=r"comparison group .* is empty"):
        att_2x2("reg", dy, np.ones_like(d), x)
    with pytest.raises(ModelSpecError, match="est_method must be one of"):
        att_2x2("aipw", dy, d, x)
    with pytest.raises(ModelSpecError, match="'d' must be 0 or 1"):
        att_2x2("reg", dy, d * 2, x)
    w = np.ones_like(dy)
    w[3] = -1.0
    with pytest.raises(ModelSpecError, match=r"non-negative .*row 3"):
        att_2x2("reg", dy, d, x, w)
    with pytest.raises(ModelSpecError, match="weights sum to zero"):
        att_2x2("reg", dy, d, x, np.zeros_like(dy))
    bad = dy.copy()
    bad[5] = np.nan
    with pytest.raises(ModelSpecError, match=r"'dy' has 1 missing .*row 5"):
        att_2x2("reg", bad, d, x)
    with pytest.raises(ModelSpecError, match="intercept"):
        att_2x2("dr", dy, d, x[:, 1:])
    with pytest.raises(ModelSpecError, match="'d' has 99 rows"):
        att_2x2("reg", dy, d[:-1], x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean fit raises no warning
        assert isinstance(att_2x2("dr", dy, d, x), TwoByTwo)
