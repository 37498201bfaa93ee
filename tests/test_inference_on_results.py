"""Inference as functions of a fitted result, immutable results, one inference-result shape (issue 13).

References: the estimators' own ``inference=`` arguments on the same SYNTHETIC panels (the
result form must give the same numbers to 1e-12: the same test on the same design), the panel
(frame) form of each method called directly on the same data, and pyfixest's CR1 standard error
for the analytic figures that stay beside the headline. The methods' own validity (exact
p-values against pyfixest refits, Monte Carlo sizes) is checked in their own test files.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest

from tradeimpact.core.registry import available_methods, inference_method
from tradeimpact.errors import ModelSpecError
from tradeimpact.inference import (
    EventTimeInference,
    conley_taber,
    ppml_randomization_inference,
    randomization_inference,
    studentized_randomization_inference,
    wild_cluster_bootstrap,
)
from tradeimpact.models.did import did
from tradeimpact.models.event_study import event_study
from tradeimpact.models.results import DiDDesign, EventStudyDesign

EXACT = 1e-12


def _panel(
    n_units: int = 14, n_periods: int = 12, seed: int = 0, n_treated: int = 1, noisy: float = 2.0
) -> pl.DataFrame:
    """SYNTHETIC positive panel: unit/period effects, the first units treated (noisier) from
    the middle period, a control regressor; outcome in levels (``y``) for log and PPML fits."""
    rng = np.random.default_rng(seed)
    u = np.repeat(np.arange(n_units), n_periods)
    t = np.tile(np.arange(n_periods), n_units)
    treat = (u < n_treated).astype(float)
    post = (t >= n_periods // 2).astype(float)
    sd = np.where(treat == 1, 0.2 * noisy, 0.2)
    x = rng.normal(size=u.size)
    mu = np.exp(
        2.0 + rng.normal(0, 0.5, n_units)[u] + rng.normal(0, 0.2, n_periods)[t]
        + 0.1 * treat * post + 0.05 * x
    )  # fmt: skip
    y = mu * np.exp(sd * rng.normal(size=u.size))
    return pl.DataFrame({"unit": u, "time": t, "treat": treat, "post": post, "x": x, "y": y})


def _did(df: pl.DataFrame, **kw: Any) -> Any:
    kw.setdefault("outcome", "log")
    return did(df, "y", "treat", "post", "unit", time="time", **kw)


def _same(a: Any, b: Any, level: float = 0.9) -> None:
    """The same test: p-value, its fraction, interval and label."""
    assert a.pvalue == pytest.approx(b.pvalue, abs=EXACT)
    assert a.p_fraction == b.p_fraction
    for u, v in zip(a.conf_int(level), b.conf_int(level), strict=True):
        assert (math.isinf(u) and u == v) or u == pytest.approx(v, abs=EXACT, rel=EXACT)
    assert a.method == b.method


PANELS = [
    {"seed": 0},
    {"seed": 1, "n_treated": 2, "n_units": 12},
    {"seed": 2, "noisy": 0.5},
]


@pytest.mark.parametrize("spec", PANELS)
def test_result_form_equals_the_inference_argument(spec: dict[str, Any]) -> None:
    df = _panel(**spec)
    base = _did(df, inference="cr1", controls=["x"])
    cases: list[tuple[str, Any, dict[str, Any]]] = [
        ("ri", randomization_inference(base), {}),
        ("ri_t", studentized_randomization_inference(base), {}),
        ("ri_t", studentized_randomization_inference(base, scale="cr1"), {"ri": {"scale": "cr1"}}),
        ("conley_taber", conley_taber(base), {}),
        ("conley_taber_fp", conley_taber(base, correction="ferman_pinto"), {}),
        ("wild", wild_cluster_bootstrap(base, B=499, seed=3), {"wild": {"B": 499, "seed": 3}}),
    ]
    for method, got, kw in cases:
        ref = _did(df, inference=method, controls=["x"], **kw)
        _same(got, ref.headline)
        # and the new result of with_inference is that very fit
        opts: dict[str, Any] = next(iter(kw.values()), {})
        new = base.with_inference(method, **opts)
        _same(new.headline, ref.headline)
        assert new.pvalues["treat:post"] == pytest.approx(ref.pvalues["treat:post"], abs=EXACT)
        assert new.conf_int(0.9).equals(ref.conf_int(0.9))
    # the panel form on the same rows gives the same coefficient test
    frame_form = randomization_inference(df.with_columns(pl.col("y").log()), "y", "unit", "time",
                                         [0] if spec.get("n_treated", 1) == 1 else [0, 1],
                                         "post", controls=["x"])  # fmt: skip
    _same(frame_form, randomization_inference(base))


def test_result_form_on_ppml_equals_the_inference_argument() -> None:
    df = _panel(seed=4, n_units=10, n_periods=8)
    base = _did(df, outcome="ppml", inference="cr1")
    stat: Any
    for stat, method, ri in (("t_log", "ri_t", {}), ("t", "ri_t", {"statistic": "t"}),
                             ("coef", "ri", {})):  # fmt: skip
        ref = _did(df, outcome="ppml", inference=method, ri=ri)
        _same(ppml_randomization_inference(base, statistic=stat), ref.headline, level=0.8)
        new = base.with_inference(method, **ri)
        _same(new.headline, ref.headline, level=0.8)
    # studentized RI of a PPML fit is did's default statistic t_log; coefficient RI is 'coef'
    _same(studentized_randomization_inference(base), _did(df, outcome="ppml").headline, 0.8)
    _same(randomization_inference(base), _did(df, outcome="ppml", inference="ri").headline, 0.8)
    # and it equals the panel form on the same data
    frame = ppml_randomization_inference(df, "y", "unit", "time", 0, "post", statistic="t_log")
    _same(frame, studentized_randomization_inference(base), level=0.8)
    with pytest.raises(ModelSpecError, match="OLS outcomes"):
        base.with_inference("wild")


def test_event_study_result_form_equals_the_inference_argument() -> None:
    df = _panel(seed=5, n_units=10, n_periods=12).with_columns(
        pl.when(pl.col("treat") == 1).then(6).otherwise(None).alias("g")
    )
    kw: dict[str, Any] = {"cohort": "g", "window": (-3, 3), "outcome": "log"}
    base = event_study(df, "y", "unit", "time", inference="cr1", **kw)
    method: Any
    for method, fn in (
        ("ri", randomization_inference),
        ("ri_t", studentized_randomization_inference),
    ):
        ref = event_study(df, "y", "unit", "time", inference=method, **kw)
        got = fn(base)
        assert isinstance(got, EventTimeInference)
        for term, r in got.by_term.items():
            _same(r, ref.headline_of(term))
            assert ref.pvalues[term] == pytest.approx(r.pvalue, abs=EXACT)
        # one term with param=
        _same(fn(base, param="e::0") if method == "ri" else got["e::0"], ref.headline_of("e::0"))
        new = base.with_inference(method)
        assert new.pvalues.equals(ref.pvalues)
    ri = base.with_inference("ri")
    assert all(np.array_equal(a, b) for a, b in zip(ri.extra["ri_band"], event_study(
        df, "y", "unit", "time", inference="ri", **kw).extra["ri_band"], strict=True))  # fmt: skip
    wild = base.with_inference("wild", B=199, seed=1)
    ref = event_study(df, "y", "unit", "time", inference="wild", wild={"B": 199, "seed": 1}, **kw)
    assert wild.pvalues.equals(ref.pvalues)
    one = wild_cluster_bootstrap(base, param="e::1", B=199, seed=1)
    assert one.pvalue == ref.pvalues["e::1"]


def test_with_inference_returns_a_new_result_and_leaves_the_original() -> None:
    df = _panel(seed=6)
    res = _did(df)
    before = (res.headline.method, res.headline.pvalue, res.pvalues.copy(), dict(res.attached))
    assert res.headline.method_key == "ri_t"  # the default with one treated unit
    new = res.with_inference("wild", B=299, seed=2)
    assert new is not res and new.headline.method_key == "wild"
    assert "wild cluster bootstrap" in new.inference
    assert (res.headline.method, res.headline.pvalue) == before[:2]
    assert res.pvalues.equals(before[2]) and res.attached == before[3]
    assert "wild" not in res.inference
    # the estimates and the analytic figures are shared, unchanged
    assert new.params.equals(res.params) and new.std_errors.equals(res.std_errors)
    assert new.headline.cr1_pvalue == res.headline.cr1_pvalue
    # back to the default rule, and to the analytic test: the figures of the inference= calls
    again = new.with_inference(None)
    assert again.headline.pvalue == res.headline.pvalue and again.pvalues.equals(res.pvalues)
    cr1 = new.with_inference("cr1")
    assert cr1.pvalues.equals(_did(df, inference="cr1").pvalues)
    assert cr1.headline.method_key == "cr1" and "requested" in cr1.headline.note
    # a result computed elsewhere becomes the headline of a new result, pvalues untouched
    ct = conley_taber(res)
    shown = res.with_headline("treat:post", ct, method_key="conley_taber")
    assert shown.headline.pvalue == ct.pvalue and shown.pvalues.equals(res.pvalues)
    assert res.headline.method_key == "ri_t"
    assert not hasattr(res, "attach_inference")
    with pytest.raises(ModelSpecError, match="no inference method 'nope'"):
        res.with_inference("nope")
    with pytest.raises(ModelSpecError, match="test its effect"):
        res.with_inference("ri", param="x")


def test_design_record_is_typed() -> None:
    df = _panel(seed=7)
    res = _did(df, controls=["x"])
    rec = res.design_record
    assert isinstance(rec, DiDDesign)
    assert (rec.y, rec.treat, rec.post, rec.unit, rec.time) == (
        "y",
        "treat",
        "post",
        "unit",
        "time",
    )
    assert rec.outcome == "log" and rec.controls == ["x"] and rec.fe == ["unit", "time"]
    assert rec.frame.height == res.nobs and "_y" in rec.frame.columns
    assert res.extra["did_args"] == rec.args()
    es = event_study(df.with_columns(pl.when(pl.col("treat") == 1).then(6).alias("g")), "y",
                     "unit", "time", cohort="g", outcome="log")  # fmt: skip
    assert isinstance(es.design_record, EventStudyDesign)
    assert es.design_record.cohort.size == es.design_record.frame.height
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.outcome = "level"  # type: ignore[misc]


def _shape(r: Any, level: float = 0.9) -> None:
    """The one inference-result shape (core/registry.py's contract)."""
    assert isinstance(r.pvalue, float) and 0.0 <= r.pvalue <= 1.0
    frac = r.p_fraction
    assert frac is None or (isinstance(frac, Fraction) and float(frac) == pytest.approx(r.pvalue))
    ci = r.conf_int(level)
    assert ci is None or len(tuple(ci)) == 2  # PPML: None where no interval exists (ci_note)
    assert isinstance(r.method, str) and r.method
    tab = r.tidy()
    assert isinstance(tab, pl.DataFrame) and tab.height == 1
    assert {"estimate", "p_value", "conf_low", "conf_high", "method"} <= set(tab.columns)
    assert tab["p_value"][0] == pytest.approx(r.pvalue)


def test_every_method_has_the_one_result_shape() -> None:
    df = _panel(seed=8)
    res = _did(df, inference="cr1")
    results = {
        m: inference_method(m)(res) for m in ("ri", "ri_t", "conley_taber", "conley_taber_fp")
    }
    results["wild"] = inference_method("wild")(res, B=199)
    ppml = _did(df, outcome="ppml", inference="cr1")
    results["ppml_ri"] = inference_method("ppml_ri")(ppml)
    es = event_study(df.with_columns(pl.when(pl.col("treat") == 1).then(6).alias("g")), "y",
                     "unit", "time", cohort="g", window=(-2, 2), outcome="log")  # fmt: skip
    results["es_ri"] = inference_method("ri")(es, param="e::0")
    results["es_ri_t"] = inference_method("ri_t")(es, param="e::0")
    for r in results.values():
        _shape(r)
    # exact where exact: every assignment enumerated (14 units), a bootstrap never
    assert results["ri"].p_fraction.denominator in (1, 2, 7, 14)
    assert results["wild"].p_fraction is None
    drawn = randomization_inference(_did(_panel(seed=8, n_units=14, n_treated=2)),
                                    max_exact=10, n_permutations=99)  # fmt: skip
    assert drawn.p_fraction is None and drawn.pvalue == drawn.p_numerator / 100
    assert {"ri", "ri_t", "conley_taber", "conley_taber_fp", "wild", "ppml_ri"} <= set(
        available_methods()
    )


def test_tables_in_both_backends() -> None:
    df = _panel(seed=9)
    res = _did(df, controls=["x"])
    tp = res.tidy()
    tpd = res.tidy(backend="pandas")
    assert isinstance(tp, pl.DataFrame) and isinstance(tpd, pd.DataFrame)
    assert list(tpd.columns) == tp.columns and tpd["estimate"].tolist() == tp["estimate"].to_list()
    # labelled estimates are pandas (linearmodels), and the tidy table holds the same numbers
    assert isinstance(res.params, pd.Series) and isinstance(res.conf_int(), pd.DataFrame)
    assert tp["estimate"].to_list() == res.params.tolist()
    assert tp["conf_low"].to_list() == res.conf_int()["lower"].tolist()
    hp = res.headline.tidy(backend="pandas")
    assert isinstance(hp, pd.DataFrame) and hp["p_value"][0] == res.headline.pvalue
    es = event_study(df.with_columns(pl.when(pl.col("treat") == 1).then(6).alias("g")), "y",
                     "unit", "time", cohort="g", window=(-2, 2), outcome="log")  # fmt: skip
    et, etd = es.event_table(), es.event_table(backend="pandas")
    assert isinstance(et, pl.DataFrame) and isinstance(etd, pd.DataFrame)
    assert etd["event_time"].tolist() == et["event_time"].to_list()
    assert isinstance(es.headline.table(backend="pandas"), pd.DataFrame)
    with pytest.raises(ModelSpecError, match="backend"):
        res.tidy(backend="arrow")  # type: ignore[arg-type]
