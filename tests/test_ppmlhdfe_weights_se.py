"""PPML frequency weights, the fixest and ppmlhdfe SE conventions, exposure (issue 14, item 9).

References, computed in the tests on the same data: statsmodels GLM Poisson with the fixed effect
as dummies, with ``freq_weights`` (coefficients) and on the rows replicated ``w`` times (robust
SEs of the replicated data: what Stata's ``[fweight=]`` means); the SE conventions against
statsmodels' HC0 with the documented factors (fixest: ``N/(N-K)``; ppmlhdfe, Stata's ``_robust``
for ML: ``N/(N-1)``), so fixest's SEs exceed ppmlhdfe's by ``sqrt((N-1)/(N-K))``. (statsmodels'
GLM ``cov_type="HC1"`` equals its HC0 here, measured: it applies no ``N/(N-K)`` to a GLM, so the
factor is applied by hand, with ``K`` = statsmodels' number of parameters.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from tradeimpact.errors import ModelSpecError
from tradeimpact.models.ppml import ppml


def _panel(seed: int = 0, n: int = 74, levels: int = 19) -> pd.DataFrame:
    """SYNTHETIC: n rows (Stata's auto has 74), one fixed effect with ``levels`` groups, two
    regressors, positive outcome, integer frequencies 1..5."""
    rng = np.random.default_rng(seed)
    g = np.arange(n) % levels
    x1, x2 = rng.normal(size=(2, n))
    mu = np.exp(0.5 + 0.3 * x1 - 0.2 * x2 + rng.normal(scale=0.5, size=levels)[g])
    return pd.DataFrame(
        {
            "y": rng.poisson(mu) + 1.0,
            "x1": x1,
            "x2": x2,
            "g": g,
            "fw": rng.integers(1, 6, size=n).astype(float),
            "expo": rng.uniform(0.5, 3.0, size=n),
            "cl": np.arange(n) % 12,
        }
    )


def _design(d: pd.DataFrame) -> np.ndarray:
    return np.column_stack([d[["x1", "x2"]].to_numpy(), pd.get_dummies(d["g"], dtype=float)])


def test_frequency_weights_equal_glm() -> None:
    d = _panel()
    res = ppml(d, "y", ["x1", "x2"], ["g"], weights="fw", weights_type="fweights", tol=1e-12)
    # N counts the observations the rows stand for (ppmlhdfe's e(N)); rows in extra
    assert res.nobs == int(d["fw"].sum())
    assert res.extra["n_rows"] == 74
    glm = sm.GLM(
        d["y"], _design(d), family=sm.families.Poisson(), freq_weights=d["fw"].to_numpy()
    ).fit(tol=1e-13)
    np.testing.assert_allclose(res.beta, glm.params[:2], atol=1e-8)
    # the replicated data: every row w times
    rep = d.loc[d.index.repeat(d["fw"].astype(int))].reset_index(drop=True)
    glm_rep = sm.GLM(rep["y"], _design(rep), family=sm.families.Poisson())
    hc0 = glm_rep.fit(cov_type="HC0", tol=1e-13)
    np.testing.assert_allclose(res.beta, hc0.params[:2], atol=1e-8)
    # fixest convention N/(N-K), K the regressors and the dummies (statsmodels' parameters)
    n, k = int(hc0.nobs), len(hc0.params)
    assert res.extra["k_dof"] == 2 + 19 == k
    assert res.nobs == n
    np.testing.assert_allclose(
        res.std_errors.to_numpy(), hc0.bse[:2] * np.sqrt(n / (n - k)), rtol=1e-6
    )
    # ppmlhdfe convention N/(N-1)
    ppm = ppml(
        d,
        "y",
        ["x1", "x2"],
        ["g"],
        weights="fw",
        weights_type="fweights",
        se_convention="ppmlhdfe",
        tol=1e-12,
    )
    np.testing.assert_allclose(
        ppm.std_errors.to_numpy(), hc0.bse[:2] * np.sqrt(n / (n - 1)), rtol=1e-6
    )
    # and the same model with our own estimator on the replicated rows
    on_rep = ppml(rep, "y", ["x1", "x2"], ["g"], tol=1e-12)
    np.testing.assert_allclose(res.std_errors.to_numpy(), on_rep.std_errors.to_numpy(), rtol=1e-6)


def test_analytic_weights_are_not_frequencies() -> None:
    """The default (aweights) keeps N = rows: the issue's 74 versus 14,600 on auto."""
    d = _panel()
    aw = ppml(d, "y", ["x1", "x2"], ["g"], weights="fw")
    fw = ppml(d, "y", ["x1", "x2"], ["g"], weights="fw", weights_type="fweights")
    assert aw.nobs == 74
    np.testing.assert_allclose(aw.beta, fw.beta, atol=1e-9)
    assert not np.allclose(aw.std_errors, fw.std_errors, rtol=1e-3)


def test_se_conventions_ratio_and_statsmodels() -> None:
    """fixest / ppmlhdfe robust SEs = sqrt((N-1)/(N-K)); K = 2 + 19 levels, N = 74: 1.1736."""
    d = _panel()
    fx = ppml(d, "y", ["x1", "x2"], ["g"], tol=1e-12)
    pp = ppml(d, "y", ["x1", "x2"], ["g"], se_convention="ppmlhdfe", tol=1e-12)
    n, k = 74, 21
    ratio = np.sqrt((n - 1) / (n - k))
    assert ratio == pytest.approx(1.1736, abs=1e-4)
    np.testing.assert_allclose(fx.std_errors / pp.std_errors, ratio, rtol=1e-10)
    assert "fixest convention" in fx.vcov_type and "N/(N-K)" in fx.vcov_type
    assert "ppmlhdfe convention" in pp.vcov_type and "N/(N-1)" in pp.vcov_type
    glm = sm.GLM(d["y"], _design(d), family=sm.families.Poisson())
    hc0 = glm.fit(cov_type="HC0", tol=1e-13)
    np.testing.assert_allclose(
        fx.std_errors.to_numpy(), hc0.bse[:2] * np.sqrt(n / (n - k)), rtol=1e-6
    )
    np.testing.assert_allclose(
        pp.std_errors.to_numpy(), hc0.bse[:2] * np.sqrt(n / (n - 1)), rtol=1e-6
    )
    # clustered: fixest G/(G-1) (N-1)/(N-K), ppmlhdfe G/(G-1); the fixed effect is not nested
    # in the clusters, so K still counts its 19 levels
    fxc = ppml(d, "y", ["x1", "x2"], ["g"], cluster="cl", tol=1e-12)
    ppc = ppml(d, "y", ["x1", "x2"], ["g"], cluster="cl", se_convention="ppmlhdfe", tol=1e-12)
    np.testing.assert_allclose(fxc.std_errors / ppc.std_errors, ratio, rtol=1e-10)
    # statsmodels' cluster SE without its small-sample correction times sqrt(G/(G-1))
    cl = glm.fit(
        cov_type="cluster", cov_kwds={"groups": d["cl"], "use_correction": False}, tol=1e-13
    )
    np.testing.assert_allclose(ppc.std_errors.to_numpy(), cl.bse[:2] * np.sqrt(12 / 11), rtol=1e-6)


def test_exposure_is_log_offset() -> None:
    d = _panel().assign(log_expo=lambda f: np.log(f["expo"]))
    a = ppml(d, "y", ["x1", "x2"], ["g"], exposure="expo")
    b = ppml(d, "y", ["x1", "x2"], ["g"], offset="log_expo")
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(a.std_errors, b.std_errors, rtol=1e-12)


def test_bad_weight_and_exposure_arguments() -> None:
    d = _panel()
    with pytest.raises(ModelSpecError, match="weights_type"):
        ppml(d, "y", ["x1"], ["g"], weights="fw", weights_type="pweights")
    with pytest.raises(ModelSpecError, match="se_convention"):
        ppml(d, "y", ["x1"], ["g"], se_convention="stata")
    d.loc[3, "fw"] = 1.5
    with pytest.raises(ModelSpecError, match=r"whole numbers \(row 3"):
        ppml(d, "y", ["x1"], ["g"], weights="fw", weights_type="fweights")
    d.loc[4, "expo"] = 0.0
    with pytest.raises(ModelSpecError, match=r"exposure 'expo' must be positive \(row 4"):
        ppml(d, "y", ["x1"], ["g"], exposure="expo")
    with pytest.raises(ModelSpecError, match="not both"):
        ppml(d.assign(o=0.0), "y", ["x1"], ["g"], exposure="expo", offset="o")


def test_formula_front_end_passes_frequency_weights() -> None:
    """fepois(..., weights_type="fweights") (pyfixest's argument) reaches ppml."""
    from tradeimpact.models.formula import fepois

    d = _panel()
    kw = ppml(d, "y", ["x1", "x2"], ["g"], weights="fw", weights_type="fweights", vcov="iid")
    fm = fepois("y ~ x1 + x2 | g", d, weights="fw", weights_type="fweights")
    assert fm.nobs == kw.nobs == int(d["fw"].sum())
    np.testing.assert_allclose(fm.beta, kw.beta, rtol=1e-10)
    np.testing.assert_allclose(fm.std_errors, kw.std_errors, rtol=1e-10)
