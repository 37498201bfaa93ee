"""tradeimpact.core.collinearity: the one rule, in feols and ppml, against pyfixest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyfixest as pf
import pytest

from tradeimpact.core.collinearity import COLLIN_TOL, CollinearityWarning, collinear_columns
from tradeimpact.models.linear import feols
from tradeimpact.models.ppml import SeparationWarning, ppml


def _panel(seed: int = 11) -> pd.DataFrame:
    """SYNTHETIC panel: x3 = x1 + 2 x2 (collinear), trait constant within unit (absorbed)."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(30), 5)
    year = np.tile(np.arange(5), 30)
    x1, x2 = rng.normal(size=(2, unit.size))
    y = 1 + 0.5 * x1 - 0.2 * x2 + rng.normal(size=30)[unit] + rng.normal(size=unit.size)
    return pd.DataFrame(
        {
            "y": y,
            "count": rng.poisson(np.exp(0.3 * x1)).astype(float),
            "x1": x1,
            "x2": x2,
            "x3": x1 + 2 * x2,
            "trait": (unit % 4).astype(float),
            "unit": unit,
            "year": year,
        }
    )


def test_same_columns_dropped_as_pyfixest() -> None:
    df = _panel()
    with pytest.warns(CollinearityWarning, match="trait, x3"):
        ours = feols(df, "y", ["x1", "trait", "x2", "x3"], fe=["unit", "year"])
    with pytest.warns(UserWarning, match="multicollinearity"):
        ref = pf.feols("y ~ x1 + trait + x2 + x3 | unit + year", df, vcov="hetero")
    assert ours.dropped_regressors == ["trait", "x3"]
    assert list(ref.coef().index) == list(ours.params.index) == ["x1", "x2"]
    np.testing.assert_allclose(ours.params.to_numpy(), ref.coef().to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(ours.std_errors.to_numpy(), ref.se().to_numpy(), rtol=1e-6)
    # the panel has units whose counts are all zero: separated by the fixed effects (pyfixest
    # drops them too), the separation warning expected beside the collinearity one
    with (
        pytest.warns(CollinearityWarning, match="trait, x3"),
        pytest.warns(SeparationWarning, match="separated by the fixed effects"),
    ):
        pois = ppml(df, "count", ["x1", "trait", "x2", "x3"], ["unit", "year"])
    ref_p = pf.fepois("count ~ x1 + x2 | unit + year", df, vcov="hetero")
    assert pois.dropped_regressors == ["trait", "x3"]
    np.testing.assert_allclose(pois.params.to_numpy(), ref_p.coef().to_numpy(), rtol=1e-6)


def test_rule_is_unit_free() -> None:
    """A regressor in tiny units is kept (pyfixest's absolute rule drops it) with beta scaled."""
    df = _panel()
    df["x1_small"] = df["x1"] * 1e-6  # e.g. a share recorded per million
    ours = feols(df, "y", ["x1_small", "x2"], fe=["unit", "year"])
    ref = pf.feols("y ~ x1 + x2 | unit + year", df, vcov="hetero")
    assert ours.params["x1_small"] == pytest.approx(float(ref.coef()["x1"]) * 1e6, rel=1e-7)
    assert ours.std_errors["x1_small"] == pytest.approx(float(ref.se()["x1"]) * 1e6, rel=1e-6)
    with pytest.warns(UserWarning, match="multicollinearity"):
        small = pf.feols("y ~ x1_small + x2 | unit + year", df, vcov="hetero")
    assert "x1_small" not in small.coef().index  # the absolute rule's verdict depends on units


def test_threshold_is_relative_residual_sum_of_squares() -> None:
    """Column b is dropped exactly when rss(b on a) / sum(b^2) <= tol."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=500)
    noise = rng.normal(size=500)
    for eps in (1e-3, 1e-4, 1e-5, 1e-6):
        b = a + eps * noise
        x = np.column_stack([a, b])
        rss = float(b @ b - (a @ b) ** 2 / (a @ a))
        ratio = rss / float(b @ b)  # about eps^2: 1e-6 ... 1e-12
        expected = [1] if ratio <= COLLIN_TOL else []
        assert collinear_columns(x, x) == expected, eps
        assert collinear_columns(x, x, tol=ratio * 0.5) == []
        assert collinear_columns(x, x, tol=ratio * 2) == [1]
    assert COLLIN_TOL == 1e-9
    zero = np.zeros(500)
    assert collinear_columns(np.column_stack([zero, a]), np.column_stack([zero, a])) == [0]
    # weights enter both sides: a column zero where the weight is positive is dropped
    w = (np.arange(500) % 2).astype(float)
    c = np.where(w > 0, 0.0, 1.0)
    assert collinear_columns(np.column_stack([a, c]), np.column_stack([a, c]), w) == [1]


def test_gram_from_the_caller_gives_the_same_drops() -> None:
    """A caller's X'X (fit_feols passes the fit's own) gives the drops of the one computed inside,
    with and without weights, on designs with exact and near collinearity."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(500, 6))
    x[:, 3] = x[:, 0] - 2.0 * x[:, 1]  # exactly collinear
    x[:, 5] = x[:, 2] + 1e-12 * rng.normal(size=500)  # collinear within the tolerance
    w = rng.uniform(0.5, 2.0, size=500)
    scale = np.einsum("ij,ij->j", x, x)
    for weights, gram in ((None, x.T @ x), (w, (x * w[:, None]).T @ x)):
        inside = collinear_columns(x, x, weights)
        given = collinear_columns(x, None, weights, raw_scale=scale if weights is None else
                                  np.einsum("ij,ij,i->j", x, x, w), gram=gram)  # fmt: skip
        assert inside == given == [3, 5]
