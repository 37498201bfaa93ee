"""Sun & Abraham: fixest's ``bin.rel`` forms (issue 14, Sun-Abraham item): a list of relative
periods pooled into one bin, a mapping new -> periods, and ``"bin::k"``.

fixest's semantics (its ``bin()`` help and ``bin_factor`` source, lrberge/fixest R/): a vector
is one bin named after the first value matched (the smallest); ``"bin::k"`` maps a value ``x``
to ``(x %/% k) * k`` (``floor(x / k) * k``), the references ``ref.p`` then name binned periods.
By-hand reference: the binned Sun-Abraham regression equals pyfixest's ``feols`` on explicitly
built cohort x binned-relative-period dummies with unit and year fixed effects (coefficients
1e-8, CR1 standard errors 1e-7), and each event-time coefficient is the row-count-weighted mean
of the cohorts' coefficients in its bin (1e-12). Data: fixest's base_stagg (shared validation).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from conftest import shared_path

from tradeimpact.errors import ModelSpecError
from tradeimpact.models.sunab import SunabResult, sunab


@pytest.fixture(scope="module")
def base_stagg() -> pl.DataFrame:
    return pl.read_csv(shared_path("validation", "base_stagg", "base_stagg.csv"))


def _pyfixest_dummies(pdf: pd.DataFrame, binned: pd.Series, names: list[str]) -> Any:
    pf = pytest.importorskip("pyfixest")
    pdf = pdf.copy()
    cols = []
    for nm in names:
        r, c = nm.removeprefix("rel::").split(":cohort::")
        cols.append(f"d_{len(cols)}")
        pdf[cols[-1]] = ((pdf["year_treated"] == float(c)) & (binned == float(r))).astype(float)
    return pf.feols(f"y ~ {' + '.join(cols)} | id + year", pdf, vcov={"CRV1": "id"},
                    demeaner=pf.MapDemeaner(fixef_tol=1e-13))  # fmt: skip


def _check(res: SunabResult, pdf: pd.DataFrame, binned: pd.Series) -> None:
    raw = res.extra["interactions"]
    m = _pyfixest_dummies(pdf, binned, list(raw.names))
    np.testing.assert_allclose(raw.params.to_numpy(), m.coef().to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(raw.std_errors.to_numpy(), m.se().to_numpy(), rtol=1e-7)
    for e, term in res.event_terms.items():
        cells = res.cells.filter(pl.col("rel") == e)
        by_hand = float(
            cells["n"].to_numpy()
            @ raw.params[cells["term"].to_list()].to_numpy()
            / cells["n"].sum()
        )
        assert res.params[term] == pytest.approx(by_hand, abs=1e-12), e


def test_bin_k_groups_relative_time_as_fixest(base_stagg: pl.DataFrame) -> None:
    res = sunab(base_stagg, "y", "id", "year", "year_treated", bin_rel="bin::2", ref=-2)
    # base_stagg's relative periods -9..8 -> -10, -8, ..., 8; the bin {-2, -1} is the reference
    assert res.event_times == [-10, -8, -6, -4, 0, 2, 4, 6, 8]
    pdf = base_stagg.to_pandas()
    rel = pdf["year"] - pdf["year_treated"]
    binned = np.floor(rel / 2) * 2  # fixest: (x %/% 2) * 2
    _check(res, pdf, binned)
    n_bin0 = res.cells.filter(pl.col("rel") == 0)["n"].sum()
    assert n_bin0 == int(((rel == 0) | (rel == 1))[pdf["year_treated"] < 1000].sum())
    # the reference names a binned period (fixest's ref.p after binning): -1 is in bin -2
    with pytest.raises(ModelSpecError, match=r"reference period -1 falls in bin -2.*ref=-2"):
        sunab(base_stagg, "y", "id", "year", "year_treated", bin_rel="bin::2")
    for bad in ("bin::0", "bin::x", "!bin::2", "cut::3"):
        with pytest.raises(ModelSpecError, match="bin::k"):
            sunab(base_stagg, "y", "id", "year", "year_treated", bin_rel=bad, ref=-2)


def test_bin_list_is_one_bin_named_after_its_smallest_period(base_stagg: pl.DataFrame) -> None:
    res = sunab(base_stagg, "y", "id", "year", "year_treated", bin_rel=[-7, -9, -8])
    same = sunab(base_stagg, "y", "id", "year", "year_treated", bin_rel={-9: [-9, -8, -7]})
    assert [k for k in res.event_terms if k < -6] == [-9]
    np.testing.assert_array_equal(res.params.to_numpy(), same.params.to_numpy())
    pdf = base_stagg.to_pandas()
    rel = pdf["year"] - pdf["year_treated"]
    _check(res, pdf, rel.where(~rel.between(-9, -7), -9))
    with pytest.raises(ModelSpecError, match="reference period"):
        sunab(base_stagg, "y", "id", "year", "year_treated", bin_rel=[-2, -1])
    with pytest.raises(ModelSpecError, match="bin_rel must be"):
        sunab(base_stagg, "y", "id", "year", "year_treated", bin_rel=["a", "b"])  # type: ignore[list-item]
