"""att_gt with covariates (did's ``xformla`` / ``est_method``; issue 14 item 5).

References: did's ``compute.att_gt`` calls DRDID's 2x2 estimator for each ATT(g, t) on the
cell's units with the base period's covariates and spreads its influence function as
``n / n_cell`` on the cell; tradeimpact calls :func:`tradeimpact.models.drdid.att_2x2` (checked
against DRDID in tests/test_drdid.py). Here: (a) without covariates every est_method is the
unconditional DiD, today's numbers to 1e-12; (b) with ``controls=["lpop"]`` each ATT(g, t) and
standard error equals the 2x2 of its cell by hand, and the doubly robust table reproduces did's
published mpdta + lpop figures (did reference manual 2.1.2, att_gt "Using covariates": ATT(g,t)
to 4 decimals, pre-test p = 0.23267).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from conftest import shared_path

from tradeimpact.errors import ModelSpecError
from tradeimpact.models.callaway_santanna import att_gt
from tradeimpact.models.drdid import att_2x2

# did reference manual 2.1.2, att_gt Examples, "Using covariates" (xformla=~lpop, est_method "dr")
DID_LPOP_DR = {
    (2004, 2004): -0.0145, (2004, 2005): -0.0764, (2004, 2006): -0.1404, (2004, 2007): -0.1069,
    (2006, 2004): -0.0005, (2006, 2005): -0.0062, (2006, 2006): 0.0010, (2006, 2007): -0.0413,
    (2007, 2004): 0.0267, (2007, 2005): -0.0046, (2007, 2006): -0.0284, (2007, 2007): -0.0288,
}  # fmt: skip
DID_LPOP_DR_PRETEST_P = 0.23267


@pytest.fixture(scope="module")
def mpdta() -> pl.DataFrame:
    return pl.read_csv(shared_path("validation", "mpdta", "mpdta.csv"))


def _same(a, b, tol: float = 1e-12) -> None:  # type: ignore[no-untyped-def]
    np.testing.assert_allclose(a.params.to_numpy(), b.params.to_numpy(), rtol=0, atol=tol)
    np.testing.assert_allclose(a.std_errors.to_numpy(), b.std_errors.to_numpy(), rtol=0, atol=tol)


@pytest.mark.parametrize("method", ["reg", "ipw", "dr"])
@pytest.mark.parametrize("control_group", ["never", "notyet"])
def test_without_controls_every_method_is_todays_att_gt(
    mpdta: pl.DataFrame, method: str, control_group: str
) -> None:
    today = att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", control_group=control_group)
    res = att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", est_method=method,
                 control_group=control_group)  # fmt: skip
    _same(res, today)
    assert res.pretest_pvalue == pytest.approx(today.pretest_pvalue, abs=1e-12)
    for kind in ("simple", "group", "dynamic", "calendar"):
        _same(res.aggregate(kind), today.aggregate(kind))  # type: ignore[arg-type]
    if control_group == "never":
        assert today.pretest_pvalue == pytest.approx(0.16812, abs=1e-5)  # did's published p
    weighted = mpdta.with_columns((pl.col("countyreal") % 4 + 1).cast(pl.Float64).alias("w"))
    _same(
        att_gt(weighted, "lemp", "countyreal", "year", "first.treat", weights="w",
               est_method=method),
        att_gt(weighted, "lemp", "countyreal", "year", "first.treat", weights="w"),
    )  # fmt: skip


@pytest.fixture(scope="module")
def cells(mpdta: pl.DataFrame) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    pdf = mpdta.to_pandas()
    return (
        pdf.pivot(index="countyreal", columns="year", values="lemp"),
        pdf.groupby("countyreal")["first.treat"].first(),
        pdf.pivot(index="countyreal", columns="year", values="lpop"),
    )


@pytest.mark.parametrize("method", ["dr", "reg", "ipw"])
def test_lpop_each_cell_is_the_2x2_of_its_cell(mpdta: pl.DataFrame, cells, method: str) -> None:  # type: ignore[no-untyped-def]
    """controls=["lpop"]: each ATT(g,t) and s.e. = att_2x2 on the cell's counties (treated g and
    never treated) with lpop of the base period, its influence scaled by n / n_cell (1e-12)."""
    res = att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", controls=["lpop"],
                 est_method=method)  # fmt: skip
    wide, g_of, lpop = cells
    n = len(g_of)
    for g, t, base, att, se in res.att_gt.select("group", "time", "base", "att", "se").iter_rows():
        keep = ((g_of == g) | (g_of == 0)).to_numpy()
        dy = (wide[int(t)] - wide[int(base)]).to_numpy()[keep]
        x = np.column_stack([np.ones(keep.sum()), lpop[int(base)].to_numpy()[keep]])
        two = att_2x2(method, dy, (g_of == g).to_numpy()[keep].astype(float), x)
        assert att == pytest.approx(two.att, abs=1e-12), (g, t)
        inf = two.influence * n / keep.sum()
        assert se == pytest.approx(np.sqrt(np.sum(inf**2)) / n, rel=1e-10), (g, t)
    assert res.est_method == method and res.controls == ["lpop"]
    assert "lpop" in res.model and "lpop" in res.summary()


def test_lpop_dr_reproduces_dids_published_figures(mpdta: pl.DataFrame) -> None:
    res = att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", controls=["lpop"])
    assert res.est_method == "dr"  # did's default with covariates
    got = {(int(g), int(t)): a for g, t, a in res.att_gt.select("group", "time", "att").iter_rows()}
    for key, ref in DID_LPOP_DR.items():
        assert round(got[key], 4) == pytest.approx(ref, abs=1e-12), key
    assert round(res.pretest_pvalue, 5) == pytest.approx(DID_LPOP_DR_PRETEST_P, abs=1e-12)
    # the aggregations run on the DR influence functions (the dynamic overall is their mean)
    dyn = res.aggregate("dynamic")
    post = dyn.components.filter(pl.col("key") >= 0)["att"].to_numpy()
    assert dyn.overall_att == pytest.approx(post.mean(), abs=1e-14)


def test_controls_misuse(mpdta: pl.DataFrame) -> None:
    with pytest.raises(ModelSpecError, match="est_method must be one of"):
        att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", controls=["lpop"],
               est_method="ols")  # fmt: skip
    with pytest.raises(ModelSpecError, match=r"'lpp'.*did you mean 'lpop'"):
        att_gt(mpdta, "lemp", "countyreal", "year", "first.treat", controls=["lpp"])
    holes = mpdta.with_columns(
        pl.when(pl.col("countyreal") == 8001).then(None).otherwise(pl.col("lpop")).alias("lpop")
    )
    with pytest.raises(ModelSpecError, match=r"column 'lpop' has 5 missing value\(s\)"):
        att_gt(holes, "lemp", "countyreal", "year", "first.treat", controls=["lpop"])
