"""Sun & Abraham (2021) against fixest's published base_stagg numbers (README in the folder)."""

from __future__ import annotations

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
