"""Exactly identified PPML (n = k): N, log-likelihood and deviance, NaN SEs (issue 14, item 8).

ppmlhdfe returns ``e(N)``, ``e(ll)`` and ``e(deviance)`` for a model with as many parameters as
observations and leaves the standard errors missing; tradeimpact raised ZeroDivisionError in
``vcov_hetero`` (``n / (n - k)``). The reference is by hand: the fit is saturated, ``mu = y``, so
``b`` solves ``X b = log y`` exactly, the deviance is 0 and
``ll = sum(y log y - y - log y!)``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tradeimpact.models.ppml import ExactlyIdentifiedWarning, ppml

DATA = pd.DataFrame({"y": [1.0, 2, 3], "x": [0.0, 1, 3], "x2": [1.0, 0, 2]})


@pytest.mark.parametrize("vcov", ["hetero", "iid", {"CRV1": "g"}])
def test_exactly_identified_returns_fit_statistics(vcov: object) -> None:
    d = DATA.assign(g=[1, 2, 3])
    with pytest.warns(ExactlyIdentifiedWarning, match="3 observations for 3 parameters"):
        res = ppml(d, "y", ["x", "x2"], [], vcov=vcov)
    assert res.nobs == 3
    assert res.converged
    design = np.column_stack([np.ones(3), DATA["x"], DATA["x2"]])
    b = np.linalg.solve(design, np.log(DATA["y"].to_numpy()))
    np.testing.assert_allclose(res.beta, b, atol=1e-9)
    ll = sum(y * math.log(y) - y - math.lgamma(y + 1) for y in (1.0, 2.0, 3.0))
    assert res.extra["loglik"] == pytest.approx(ll, abs=1e-9)  # -3.80278
    assert res.deviance == pytest.approx(0.0, abs=1e-9)
    assert np.isnan(res.std_errors).all()
    assert "exactly identified" in res.vcov_type
    assert "nan" in res.summary().lower()


def test_saturated_by_fixed_effects() -> None:
    """n = k through the fixed-effect levels: 2 groups x 2 periods (2 + 2 - 1 = 3 levels) and a
    slope not additive in them make 4 parameters for 4 rows: mu = y, SEs NaN."""
    d = pd.DataFrame(
        {"y": [1.0, 2.0, 4.0, 3.0], "x": [0.0, 1.0, 0.0, 2.0], "g": [1, 1, 2, 2], "t": [1, 2, 1, 2]}
    )
    with pytest.warns(ExactlyIdentifiedWarning, match="4 observations for 4 parameters"):
        res = ppml(d, "y", ["x"], ["g", "t"])
    np.testing.assert_allclose(res.fitted, d["y"], rtol=1e-8)
    assert np.isnan(res.std_errors["x"])
