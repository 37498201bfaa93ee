"""The closed form of randomization inference with dense cross-tabulations (issue 16) gives the
same p-value, to the last digit, as the sparse-product form it replaces, for a fixed seed.

SYNTHETIC unbalanced panels; the sparse path is forced by setting ``DENSE_CROSSTAB_MAX`` to 0.
Both are checked against the projection of every placebo column by alternating projections
(``MAX_DENSE_REGRESSORS = -1``: the independent reference, as in test_randomization_speed.py).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import tradeimpact.inference.randomization as ri


def _panel(n_units: int = 60, n_time: int = 20, seed: int = 5) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n_units), n_time)
    t = np.tile(np.arange(n_time), n_units)
    keep = rng.random(unit.size) > 0.15
    unit, t = unit[keep], t[keep]
    y = rng.normal(size=n_units)[unit] + rng.normal(size=n_time)[t] + rng.normal(size=unit.size)
    y = y - 0.4 * ((unit == 3) & (t >= n_time // 2))
    return pl.DataFrame(
        {"unit": unit, "time": t, "region": unit % 3, "post": (t >= n_time // 2).astype(int),
         "w": rng.uniform(0.5, 2.0, unit.size), "y": y}
    )  # fmt: skip


@pytest.mark.parametrize(
    ("fe", "weights"),
    [(None, None), (None, "w"), (["unit", "time", "region"], None)],
)
def test_dense_crosstab_equals_sparse_products(
    monkeypatch: pytest.MonkeyPatch, fe: list[str] | None, weights: str | None
) -> None:
    frame = _panel()
    kw = {
        "data": frame, "y": "y", "unit": "unit", "time": "time", "treated": 3, "post": "post",
        "fe": fe, "weights": weights, "max_exact": 0, "n_permutations": 199, "seed": 7,
    }  # fmt: skip
    dense = ri.randomization_inference(**kw)  # type: ignore[arg-type]
    with monkeypatch.context() as m:
        m.setattr(ri, "DENSE_CROSSTAB_MAX", 0)
        sparse = ri.randomization_inference(**kw)  # type: ignore[arg-type]
    with monkeypatch.context() as m:
        m.setattr(ri, "MAX_DENSE_REGRESSORS", -1)
        projected = ri.randomization_inference(**kw)  # type: ignore[arg-type]
    assert (dense.p_numerator, dense.p_denominator) == (sparse.p_numerator, sparse.p_denominator)
    assert dense.pvalue == sparse.pvalue == projected.pvalue
    np.testing.assert_allclose(dense.placebo_estimates, sparse.placebo_estimates, rtol=1e-10)
    np.testing.assert_allclose(dense.placebo_estimates, projected.placebo_estimates, rtol=1e-7)
    assert dense.estimate == pytest.approx(sparse.estimate, rel=1e-10)
