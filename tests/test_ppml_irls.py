"""PPML's IRLS: warm-started projections, adaptive inner tolerance and step-halving (issue 16).

The speed devices must not move the numbers: on a SYNTHETIC three-fixed-effect panel the
estimates equal statsmodels GLM Poisson with a full-rank set of dummy columns to 1e-10
relative, no step is halved in an ordinary fit, and a corrupted step (the projection of one
iteration made to blow the linear predictor up, as a failed demeaning does) is halved back and
the fit ends where the clean one does.
"""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
import statsmodels.api as sm

from tradeimpact.core.fixed_effects import FixedEffects
from tradeimpact.models.ppml import ppml

ppml_module = importlib.import_module("tradeimpact.models.ppml")


def _panel(seed: int = 3, n: int = 3000) -> pd.DataFrame:
    """SYNTHETIC exporter-year, importer-year and pair effects."""
    rng = np.random.default_rng(seed)
    e, i, t = rng.integers(0, 12, n), rng.integers(0, 12, n), rng.integers(0, 4, n)
    x = rng.normal(size=n)
    eta = 0.4 * x + 0.3 * rng.normal(size=12)[e] - 0.2 * rng.normal(size=12)[i] + 0.1 * t
    return pd.DataFrame(
        {
            "y": rng.poisson(np.exp(eta)).astype(float),
            "x": x,
            "x2": rng.normal(size=n),
            "et": e * 10 + t,
            "it": i * 10 + t,
            "pair": e * 12 + i,
        }
    )


def test_estimates_equal_glm_to_1e10() -> None:
    d = _panel()
    res = ppml(d, "y", ["x", "x2"], ["et", "it", "pair"], tol=1e-12, fixef_tol=1e-13)
    assert res.extra["halvings"] == 0
    sub = d[res.sample]
    dummies = [
        pd.get_dummies(sub[f].astype(str), dtype=float).to_numpy() for f in ("et", "it", "pair")
    ]
    design = np.column_stack([sub[["x", "x2"]].to_numpy(), *dummies])
    _, rr, piv = scipy.linalg.qr(design, pivoting=True, mode="economic")
    cols = np.sort(piv[: int(np.sum(np.abs(np.diag(rr)) > 1e-10 * abs(rr[0, 0])))])
    assert cols[0] == 0 and cols[1] == 1
    glm = sm.GLM(sub["y"].to_numpy(), design[:, cols], family=sm.families.Poisson()).fit(
        tol=1e-14, maxiter=200
    )
    np.testing.assert_allclose(res.beta, np.asarray(glm.params)[:2], rtol=1e-10)
    assert res.deviance == pytest.approx(glm.deviance, rel=1e-10)


def test_default_tolerances_give_the_tight_fit() -> None:
    """The adaptive inner tolerance (1e-5 first, tightened with the deviance) ends at the
    tight answer: the default fit equals one with every tolerance tightened to 1e-9."""
    d = _panel(4)
    a = ppml(d, "y", ["x", "x2"], ["et", "it", "pair"])
    b = ppml(d, "y", ["x", "x2"], ["et", "it", "pair"], tol=1e-13, fixef_tol=1e-13)
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-9)
    assert a.extra["halvings"] == b.extra["halvings"] == 0


def test_a_blown_up_step_is_halved_back(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    n = 2000
    a, b = rng.integers(0, 30, n), rng.integers(0, 20, n)
    x = rng.normal(size=(n, 2))
    y = rng.poisson(np.exp(0.4 * x[:, 0] - 0.3 * x[:, 1] + 0.5 * rng.normal(size=30)[a]))
    y = y.astype(float)
    fe = FixedEffects(np.column_stack([a, b]))
    kw = {"tol": 1e-10, "maxiter": 100, "fixef_tol": 1e-12, "collin_tol": 1e-9}
    clean = ppml_module._irls(y, x, fe, None, np.zeros(n), **kw)
    assert clean["halvings"] == 0
    real = ppml_module.demean
    calls = [0]

    def corrupted(
        arr: np.ndarray, fe: FixedEffects, w: np.ndarray, *, tol: float, in_place: bool = False
    ) -> np.ndarray:
        # IRLS demeans its [z, X] buffer in place: the corruption goes into that buffer
        out = real(arr, fe, w, tol=tol, in_place=in_place)
        calls[0] += 1
        if calls[0] == 3:  # the third iteration's working outcome: exp overflows
            out[:, 0] *= 1e4
        return out

    monkeypatch.setattr(ppml_module, "demean", corrupted)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        fit = ppml_module._irls(y, x, fe, None, np.zeros(n), **kw)
    assert fit["halvings"] > 0
    assert fit["converged"]
    np.testing.assert_allclose(fit["beta"], clean["beta"], rtol=1e-10)
    assert fit["deviance"] == pytest.approx(clean["deviance"], rel=1e-12)
