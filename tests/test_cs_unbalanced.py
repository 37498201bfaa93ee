"""att_gt on unbalanced panels (did's ``allow_unbalanced_panel``) and repeated cross sections
(``panel=False``); issue 14 item 5.

did runs both through DRDID's repeated-cross-section 2x2 (``reg_did_rc``; without covariates the
difference of the four cell means over the rows observed in t and in the base period), scales
its influence function by n / n_rows and, for an unbalanced panel, sums it within each unit
(did's ``compute.att_gt``). Checked against statsmodels: the ATT is the interaction coefficient of
OLS ``y ~ D + post + D:post`` on the cell's rows, its standard error that regression's
cluster-robust s.e. by unit without small-sample factor (unbalanced panel) or HC0 (cross
sections); and on a balanced panel the unit-summed influence function is the panel one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
import statsmodels.formula.api as smf
from conftest import shared_path

from tradeimpact.errors import ModelSpecError
from tradeimpact.models.callaway_santanna import _rc_2x2, att_gt


@pytest.fixture(scope="module")
def mpdta() -> pl.DataFrame:
    return pl.read_csv(shared_path("validation", "mpdta", "mpdta.csv"))


def _ols_cells(pdf: pd.DataFrame, g: float, t: float, base: float, cov: str) -> tuple[float, float]:
    """OLS of lemp on D, post, D:post over the rows of cohort g and the never treated observed
    in t or base; (coefficient, s.e.) with the given covariance."""
    rows = pdf[pdf["first.treat"].isin([g, 0]) & pdf["year"].isin([t, base])].copy()
    rows["D"] = (rows["first.treat"] == g).astype(float)
    rows["post"] = (rows["year"] == t).astype(float)
    model = smf.ols("lemp ~ D * post", data=rows)
    if cov == "cluster":
        fit = model.fit(cov_type="cluster", cov_kwds={"groups": rows["countyreal"].to_numpy(),
                                                      "use_correction": False})  # fmt: skip
    else:
        fit = model.fit(cov_type="HC0")
    return float(fit.params["D:post"]), float(fit.bse["D:post"])


def test_unbalanced_panel_cells_are_the_rc_regressions(mpdta: pl.DataFrame) -> None:
    rng = np.random.default_rng(4)
    holes = mpdta.with_row_index("r").filter(~pl.col("r").is_in(rng.choice(2500, 40, False)))
    with pytest.raises(ModelSpecError, match="allow_unbalanced_panel=True"):
        att_gt(holes, "lemp", "countyreal", "year", "first.treat")
    res = att_gt(holes, "lemp", "countyreal", "year", "first.treat", allow_unbalanced_panel=True)
    assert res.n_units == 500 and res.nobs == 2460
    pdf = holes.to_pandas()
    for g, t, base, att, se in res.att_gt.select("group", "time", "base", "att", "se").iter_rows():
        coef, bse = _ols_cells(pdf, g, t, base, "cluster")
        assert att == pytest.approx(coef, abs=1e-12), (g, t)
        assert se == pytest.approx(bse, rel=1e-9), (g, t)
    # (not close to the balanced fit: the cell means of log employment move with the counties
    # missing in a period, 0.1 here, which is why did prefers a balanced panel by default)
    # a constant covariate is collinear with the intercept: refused naming it (the repeated
    # cross-section estimators with covariates are tests/test_cs_rc_covariates.py)
    with pytest.raises(ModelSpecError, match=r"ATT\(2004,2004\).*singular.*'x'"):
        att_gt(holes.with_columns(pl.lit(1.0).alias("x")), "lemp", "countyreal", "year",
               "first.treat", allow_unbalanced_panel=True, controls=["x"])  # fmt: skip


def test_balanced_panel_rc_influence_is_the_panel_influence(mpdta: pl.DataFrame) -> None:
    """On a balanced panel the unit-summed repeated-cross-section influence function equals the
    panel one (so did switching to the panel estimator changes nothing): every cell, 1e-12."""
    res = att_gt(mpdta, "lemp", "countyreal", "year", "first.treat")
    # a balanced panel with allow_unbalanced_panel=True is the panel fit (did's switch)
    same = att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", allow_unbalanced_panel=True)
    np.testing.assert_array_equal(same.std_errors.to_numpy(), res.std_errors.to_numpy())
    wide = mpdta.sort("countyreal").pivot(on="year", index="countyreal", values="lemp")
    g_of = mpdta.group_by("countyreal").agg(pl.col("first.treat").first()).sort("countyreal")
    G = np.where(g_of["first.treat"].to_numpy() == 0, np.inf, g_of["first.treat"].to_numpy())
    n = G.size
    for j, (g, t, base) in enumerate(res.att_gt.select("group", "time", "base").iter_rows()):
        yt = wide[str(int(t))].to_numpy().astype(float)
        yb = wide[str(int(base))].to_numpy().astype(float)
        att, inf, n1 = _rc_2x2(yt, yb, G == g, np.isinf(G), np.ones(n), g, t)
        assert att == pytest.approx(res.beta[j], abs=1e-12)
        np.testing.assert_allclose(inf * n / n1, res.influence[:, j], atol=1e-12)


def test_repeated_cross_sections(mpdta: pl.DataFrame) -> None:
    """panel=False: each row its own observation; on mpdta (a panel read as cross sections) the
    ATT(g,t) are the panel ones (the same cell means) and the s.e. the HC0 s.e. of the 2x2
    regression on the rows."""
    res = att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", panel=False)
    ref = att_gt(mpdta, "lemp", "countyreal", "year", "first.treat")
    np.testing.assert_allclose(res.params.to_numpy(), ref.params.to_numpy(), atol=1e-12)
    assert res.n_units == 2500
    pdf = mpdta.to_pandas()
    for g, t, base, se in res.att_gt.select("group", "time", "base", "se").iter_rows():
        assert se == pytest.approx(_ols_cells(pdf, g, t, base, "hc0")[1], rel=1e-9), (g, t)
    # independent cross sections lose the within-county correlation: larger s.e. here
    assert (res.std_errors.to_numpy() > ref.std_errors.to_numpy()).all()
    with pytest.raises(ModelSpecError, match="balance=True"):
        att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", panel=False, balance=True)
