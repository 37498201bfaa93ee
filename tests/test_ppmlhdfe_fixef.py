"""PPML: saved fixed effects, the separation certificate and tolerance (issue 14, item 9).

``result.fixef()`` (pyfixest's name) returns the estimated fixed effects; checked by rebuilding the
linear predictor ``X b + sum_g alpha_g + offset = log(mu)`` (1e-8) and, with one fixed effect
(where the values are unique), against pyfixest's ``fepois(...).fixef()``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyfixest as pf
import pytest
from test_ppmlhdfe_separation import FE, _hard2

from tradeimpact.core.collinearity import CollinearityWarning
from tradeimpact.errors import ModelSpecError
from tradeimpact.models.ppml import SeparationWarning, _relu_separated, ppml

# ppmlhdfe guides/separation_benchmarks.md, "Lack of convergence": rows 1 and 5 (1-based) are
# separated by z = x2 - x1 (1 and 8 there, 0 elsewhere); ppmlhdfe's estimate b[x3] = 0.066
BENCH = pd.DataFrame(
    {
        "y": [0, 0, 0, 0, 0, 2, 3, 5, 7, 10.0],
        "x1": [0, 0, 0, 0, 1, 21, 0, 0, 0, -18.0],
        "x2": [1, 0, 0, 0, 9, 21, 0, 0, 0, -18.0],
        "x3": [0, 0, 0, 0, 0, 21, 0, 0, 0, 0.0],
    }
)


def _gravity(seed: int = 1) -> pd.DataFrame:
    """SYNTHETIC exporter x importer x year panel with an offset."""
    rng = np.random.default_rng(seed)
    e, i, t = (a.ravel() for a in np.meshgrid(range(8), range(7), range(4), indexing="ij"))
    x = rng.normal(size=e.size)
    off = rng.normal(scale=0.2, size=e.size)
    mu = np.exp(0.3 * x + rng.normal(size=8)[e] - rng.normal(size=7)[i] + 0.1 * t + off)
    return pd.DataFrame(
        {"y": rng.poisson(mu) + 0.5, "x": x, "exp": e, "imp": i, "year": t, "off": off}
    )


def _rebuild(res: object, d: pd.DataFrame, fe: list[str]) -> np.ndarray:
    values = res.fixef()  # type: ignore[attr-defined]
    sub = d[res.sample]  # type: ignore[attr-defined]
    eta = sub["x"].to_numpy() * res.params["x"] + sub["off"].to_numpy()  # type: ignore[attr-defined]
    for name in fe:
        eta = eta + sub[name].astype(str).map(values[name]).to_numpy()
    return eta


@pytest.mark.parametrize("fe", [["exp"], ["exp", "imp"], ["exp", "imp", "year"]])
def test_fixef_rebuilds_linear_predictor(fe: list[str]) -> None:
    d = _gravity()
    res = ppml(d, "y", ["x"], fe, offset="off", tol=1e-12)
    np.testing.assert_allclose(_rebuild(res, d, fe), np.log(res.fitted), atol=1e-8)
    assert set(res.fixef()) == set(fe)
    assert len(res.fixef()["exp"]) == 8


def test_fixef_one_fe_equals_pyfixest() -> None:
    d = _gravity()
    ours = ppml(d, "y", ["x"], ["exp"], tol=1e-12)
    theirs = pf.fepois("y ~ x | exp", d, iwls_tol=1e-12)
    ref = theirs.fixef()
    (key,) = ref  # pyfixest names it "C(exp)"
    for level, value in ours.fixef()["exp"].items():
        assert value == pytest.approx(float(ref[key][level]), abs=1e-6)


def test_fixef_without_fixed_effects_is_an_error() -> None:
    d = _gravity()
    with pytest.raises(ModelSpecError, match="no fixed effects"):
        ppml(d, "y", ["x"], []).fixef()


def test_separation_certificate_names_rows_and_method() -> None:
    """hard2.do (ppmlhdfe): the ReLU check drops input rows 10 and 12 (0-based); an importer
    whose flows are all zero is dropped by the fixed-effect check."""
    with pytest.warns(SeparationWarning):
        res = ppml(_hard2(), "y", [], FE, drop_singletons=False)
    assert res.separation == {"relu": [10, 12]}
    d = _gravity()
    d.loc[d["imp"] == 2, "y"] = 0.0
    with pytest.warns(SeparationWarning):
        res = ppml(d, "y", ["x"], ["exp", "imp"])
    assert res.separation == {"fe": [int(i) for i in np.flatnonzero(d["imp"] == 2)]}


def test_separation_benchmark_and_tolerance() -> None:
    """ppmlhdfe's benchmark: both rows dropped by ReLU, b[x3] = 0.066 as published. The first
    ReLU step's u_hat is proportional to the certificate z = x2 - x1: 0.1385 and 1.1077 (by
    hand: 1:8); a separation tolerance of 0.2 therefore flags only row 5 in that pass (row 1 is
    found on the next pass, once row 5 is gone), the default 1e-5 both."""
    x = BENCH[["x1", "x2", "x3"]].to_numpy()
    y = BENCH["y"].to_numpy()
    keep = np.ones(10, dtype=bool)
    assert np.flatnonzero(_relu_separated(y, x, None, keep)).tolist() == [0, 4]
    assert np.flatnonzero(_relu_separated(y, x, None, keep, tol=0.2)).tolist() == [4]
    # x1 and x2 are equal once the separated rows are gone: x2 dropped, as ppmlhdfe does
    with (
        pytest.warns(SeparationWarning, match="2 rows dropped"),
        pytest.warns(CollinearityWarning, match="x2"),
    ):
        res = ppml(BENCH, "y", ["x1", "x2", "x3"], [], separation_tol=0.2)
    assert res.separation == {"relu": [0, 4]}
    assert res.params["x3"] == pytest.approx(0.066, abs=5e-4)
    with pytest.raises(ModelSpecError, match="separation_tol"):
        ppml(_hard2(), "y", [], FE, separation_tol=0.0)
