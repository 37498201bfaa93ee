"""``result.headline`` on every result, and the PPML one-treated-unit headline of ``did()`` (issue 10).

References: the PPML headline of ``did(outcome="ppml")`` against
:func:`tradeimpact.inference.ppml_placebo.ppml_randomization_inference` called directly on the
same SYNTHETIC panel (same exact p fraction, same test-inversion interval); the CR1 figures that
stay in ``pvalues`` against pyfixest ``fepois`` (CRV1, normal reference, as fixest); the
analytic headline of one-term ``ti.feols`` / ``ti.fepois`` fits against pyfixest on the same
data. The size of the PPML test itself is checked by Monte Carlo in ``tests/test_ppml_placebo.py``
(``reports/size_ppml.md``); here only that ``did()`` runs that very test.
"""

from __future__ import annotations

import importlib
import math
import warnings
from fractions import Fraction

import numpy as np
import polars as pl
import pytest

import tradeimpact as ti
from tradeimpact.errors import ModelSpecError
from tradeimpact.inference.ppml_placebo import ppml_randomization_inference
from tradeimpact.models.did import did
from tradeimpact.models.results import DiDResult

# the module (tradeimpact.models re-exports the function did under the same name)
# the default-headline rule and its limits live in the inference layer (issue 13)
of_result = importlib.import_module("tradeimpact.inference.of_result")
TOL = 1e-10


def _panel(
    n_units: int = 20, n_periods: int = 10, seed: int = 11, effect: float = 0.2
) -> pl.DataFrame:
    """SYNTHETIC Poisson panel: unit and period effects, multiplicative noise, unit 0 treated
    (3x noisier) from period n_periods // 2; a few zeros."""
    rng = np.random.default_rng(seed)
    u = np.repeat(np.arange(n_units), n_periods)
    t = np.tile(np.arange(n_periods), n_units)
    post = (t >= n_periods // 2).astype(float)
    treat = (u == 0).astype(float)
    sd = np.where(u == 0, 0.75, 0.25)
    mu = 20 * np.exp(
        rng.normal(0, 0.5, n_units)[u] + rng.normal(0, 0.2, n_periods)[t] + effect * treat * post
    )
    y = rng.poisson(mu * np.exp(sd * rng.normal(size=u.size))).astype(float)
    y[rng.choice(u.size, 3, replace=False)] = 0.0
    return pl.DataFrame({"unit": u, "time": t, "post": post, "treat": treat, "y": y})


def _fit(df: pl.DataFrame, **kw: object) -> DiDResult:
    return did(df, "y", "treat", "post", "unit", time="time", outcome="ppml", **kw)  # type: ignore[arg-type]


def _pyfixest_cr1(df: pl.DataFrame) -> tuple[float, float, float]:
    pf = pytest.importorskip("pyfixest")
    pdf = df.to_pandas()
    pdf["D"] = pdf["treat"] * pdf["post"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyfixest's own notices on the formula; not ours
        ref = pf.fepois("y ~ D | unit + time", pdf, vcov={"CRV1": "unit"})
    return float(ref.coef()["D"]), float(ref.se()["D"]), float(ref.pvalue()["D"])


def test_ppml_default_headline_is_ppml_randomization_inference() -> None:
    df = _panel()
    res = _fit(df)
    ref = ppml_randomization_inference(df, "y", "unit", "time", 0, "post", statistic="t_log")
    head = res.headline
    assert head.method_key == "ri_t" and head.method == ref.method
    assert "log residuals" in head.method and "'t_log'" in head.note
    assert head.estimate == pytest.approx(ref.estimate, abs=TOL)
    assert ref.exact and head.p_fraction == ref.p_fraction
    assert head.p_fraction_text == f"{ref.p_numerator}/{ref.p_denominator}"
    assert ref.p_denominator == 20
    assert head.pvalue == ref.pvalue
    ci, ci_ref = head.conf_int(0.95), ref.conf_int(0.95)
    assert ci_ref is not None
    assert ci == pytest.approx(ci_ref, abs=TOL)
    assert ci[0] < head.estimate < ci[1]
    # CR1 stays in params / std_errors / pvalues / conf_int, equal to pyfixest fepois
    b, se, p = _pyfixest_cr1(df)
    assert res.att == pytest.approx(b, rel=1e-6)
    assert res.att_se == pytest.approx(se, rel=1e-5)
    assert res.pvalues["treat:post"] == pytest.approx(p, rel=1e-4)
    assert head.cr1_pvalue == res.pvalues["treat:post"]
    cr1 = _fit(df, inference="cr1")
    assert res.pvalues.equals(cr1.pvalues) and res.conf_int().equals(cr1.conf_int())
    assert res.std_errors.equals(cr1.std_errors)
    assert cr1.headline.method_key == "cr1"
    # the size check reruns this PPML test (did(..., inference="ri_t") at placebo units)
    sc = res.size_check(dates=False, max_runs=3)
    assert sc.n == 3 and sc.method == ref.method


def test_ppml_inference_ri_is_coefficient_and_ri_t_takes_statistic() -> None:
    df = _panel(n_units=12, n_periods=8, seed=5)
    ri = _fit(df, inference="ri")
    ref = ppml_randomization_inference(df, "y", "unit", "time", 0, "post", statistic="coef")
    assert ri.headline.method_key == "ri" and ri.headline.method == ref.method
    assert ri.headline.p_fraction == ref.p_fraction == Fraction(ref.p_numerator, 12)
    # an explicitly requested method also goes into pvalues / conf_int, as for OLS outcomes
    assert ri.pvalues["treat:post"] == ref.pvalue
    ci_ref = ref.conf_int(0.9)
    assert ci_ref is not None
    assert ri.headline.conf_int(0.9) == pytest.approx(ci_ref, abs=TOL)
    low, high = ri.conf_int(0.9).loc["treat:post"]
    assert (low, high) == pytest.approx(ci_ref, abs=TOL)
    # 12 assignments: no 95% interval exists (1/12 > 0.05): the whole line, with the reason
    assert ri.headline.conf_int(0.95) == (-math.inf, math.inf)
    assert "1/12 > 0.05" in ri.headline.ci_note(0.95)
    assert ri.headline.ci_note(0.9) == ""
    rt = _fit(df, inference="ri_t", ri={"statistic": "t"})
    ref_t = ppml_randomization_inference(df, "y", "unit", "time", 0, "post", statistic="t")
    assert rt.headline.p_fraction == ref_t.p_fraction and rt.headline.method == ref_t.method
    with pytest.raises(ModelSpecError, match="inference='ri_t'"):
        _fit(df, inference="ri", ri={"statistic": "t"})
    with pytest.raises(ModelSpecError, match="do not apply to PPML"):
        _fit(df, inference="ri_t", ri={"scale": "pre_sd"})
    for method in ("wild", "conley_taber", "conley_taber_fp"):
        with pytest.raises(ModelSpecError, match=r"OLS outcomes.*'ri_t'"):
            _fit(df, inference=method)


def test_ppml_default_headline_bounded_on_large_panels(monkeypatch: pytest.MonkeyPatch) -> None:
    df = _panel(n_units=12, n_periods=8, seed=5)
    monkeypatch.setattr(of_result, "DEFAULT_PPML_FIT_LIMIT", 12 * 96 - 1)
    res = _fit(df)
    assert res.headline.method_key == "cr1"
    assert "row-fits" in res.headline.note and "inference='ri_t'" in res.headline.note
    assert res.headline.pvalue == res.pvalues["treat:post"]
    # asked for explicitly, it runs whatever the size
    asked = _fit(df, inference="ri_t")
    ref = ppml_randomization_inference(df, "y", "unit", "time", 0, "post", statistic="t_log")
    assert asked.headline.p_fraction_text == f"{ref.p_numerator}/12"


def _ols_panel() -> pl.DataFrame:
    rng = np.random.default_rng(2)
    df = _panel(n_units=15, n_periods=8, seed=2)
    return df.with_columns(
        (pl.col("treat") * pl.col("post")).alias("d"),
        pl.Series("x", rng.normal(size=df.height)),
        pl.Series("ly", rng.normal(size=df.height)),
    )


def test_one_term_fits_have_the_analytic_headline() -> None:
    pf = pytest.importorskip("pyfixest")
    df = _ols_panel()
    pdf = df.to_pandas()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyfixest's own notices; not ours
        ref_ols = pf.feols("ly ~ d | unit + time", pdf, vcov={"CRV1": "unit"})
        ref_pois = pf.fepois("y ~ d | unit + time", pdf, vcov={"CRV1": "unit"})
    ols = ti.feols("ly ~ d | unit + time", df, vcov={"CRV1": "unit"})
    pois = ti.fepois("y ~ d | unit + time", df, vcov={"CRV1": "unit"})
    for res, ref, pointer in (
        (ols, ref_ols, "studentized_randomization_inference"),
        (pois, ref_pois, "ppml_randomization_inference"),
    ):
        head = res.headline
        assert head.term == "d" and head.method_key == "cr1"
        assert head.method.startswith("analytic CR1")
        assert head.p_fraction is None
        assert "over-rejects" in head.note and "did()" in head.note and pointer in head.note
        assert head.pvalue == pytest.approx(float(ref.pvalue()["d"]), rel=1e-4)
        low, high = head.conf_int(0.95)
        ci_ref = ref.confint().loc["d"].to_numpy()
        assert (low, high) == pytest.approx(tuple(ci_ref), rel=1e-4)
        # the analytic figures themselves are untouched
        assert head.pvalue == res.pvalues["d"]
        assert (low, high) == tuple(res.conf_int(0.95).loc["d"])


def test_multi_term_result_has_no_single_headline() -> None:
    df = _ols_panel()
    res = ti.feols("ly ~ d + x | unit + time", df, vcov={"CRV1": "unit"})
    with pytest.raises(ModelSpecError, match=r"2 coefficients \('d', 'x'\).*headline_of"):
        _ = res.headline
    assert res.headline_of("x").pvalue == res.pvalues["x"]
    # a did() result with controls still headlines its effect
    fit = did(df, "ly", "treat", "post", "unit", time="time", controls=["x"], outcome="level")
    assert fit.headline.term == "treat:post" and fit.headline.method_key == "ri_t"
