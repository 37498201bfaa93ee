"""Synthetic control when the pre-period fit is exact (more donors than pre-periods).

The pre-period RMSPE is then round-off (about 1e-16) and the RMSPE ratio of the permutation test
(Abadie, Diamond & Hainmueller 2010) a ratio of floating-point noise: the report's p-value for
the real annual magnets event moved from 0.103 to 0.138 between two machines with the same code.
With the exact-fit floor the units that fit exactly are ranked by their post-period RMSPE, so
the p-value is a property of the data, not of the arithmetic.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import polars as pl

from tradeimpact.models.synth import synth


def _panel(noise: float = 0.0, seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    units, periods, t0 = 30, 10, 4  # 29 donors, 4 pre-periods: every unit fits exactly
    y = rng.normal(size=(units, periods))
    y[0] = y[1:6].mean(axis=0)  # inside the donors' hull: the treated unit fits exactly
    y[0, t0:] += 0.8  # the treated unit's effect
    y = y + noise * rng.normal(size=y.shape)
    return pl.DataFrame(
        {
            "unit": np.repeat([f"u{i:02d}" for i in range(units)], periods),
            "time": np.tile(np.arange(periods), units),
            "y": y.ravel(),
        }
    )


def test_exact_fits_are_ranked_by_post_period_rmspe() -> None:
    res = synth(_panel(), "y", "unit", "time", "u00", 4)
    p = res.placebos
    exact = p.filter(pl.col("pre_rmspe") < 1e-12)  # round-off: an exact pre-period fit
    assert bool(exact.filter(pl.col("treated")).height)  # the treated unit is one of them
    assert 5 <= exact.height < p.height  # units outside the donors' hull do not fit exactly
    assert res.n_exact_fit == exact.height
    treated_post = float(p.filter(pl.col("treated"))["post_rmspe"].item())
    # by hand: the exact fits whose post-period RMSPE is at least the treated unit's (a unit
    # with a real pre-period error has a ratio far below any exact fit's)
    k = int(np.sum(exact["post_rmspe"].to_numpy() >= treated_post))
    assert res.pvalue_fraction == Fraction(k, p.height)
    assert "fit the pre-period exactly" in res.summary()


def test_p_value_does_not_follow_round_off() -> None:
    base = synth(_panel(), "y", "unit", "time", "u00", 4).pvalue_fraction
    for noise in (1e-13, 1e-12):  # perturbations far below any economic meaning
        assert synth(_panel(noise), "y", "unit", "time", "u00", 4).pvalue_fraction == base


def test_inexact_fits_keep_the_papers_ratio() -> None:
    rng = np.random.default_rng(0)
    units, periods, t0 = 8, 30, 20  # 7 donors, 20 pre-periods: no exact fit
    y = rng.normal(size=(units, periods))
    d = pl.DataFrame(
        {
            "unit": np.repeat([f"u{i}" for i in range(units)], periods),
            "time": np.tile(np.arange(periods), units),
            "y": y.ravel(),
        }
    )
    res = synth(d, "y", "unit", "time", "u0", t0)
    p = res.placebos
    assert res.n_exact_fit == 0
    ratio = (p["post_rmspe"] / p["pre_rmspe"]).to_numpy()
    np.testing.assert_allclose(p["ratio"].to_numpy(), ratio, rtol=0, atol=0)
