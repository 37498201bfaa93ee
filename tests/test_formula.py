"""The formula front end (``ti.feols("y ~ x | fe", data)``, ``ti.fepois``) against pyfixest.

Every equality test fits the same formula on the same data with pyfixest (``pf.feols`` /
``pf.fepois``) and with tradeimpact and compares the coefficient names, the coefficients
(relative 1e-8), the standard errors (relative 1e-6) and the number of observations. Both sides
demean to 1e-12 (pyfixest's ``fixef_tol``; ours the same) so the comparison measures the
estimators, not the stopping rule of the alternating projections.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from conftest import shared_path

import tradeimpact as ti
from tradeimpact.core.covariance import vcov_cluster
from tradeimpact.errors import ModelSpecError
from tradeimpact.models.formula import LogDomainWarning, parse_formula

pf = pytest.importorskip("pyfixest")

COEF_RTOL = 1e-8
SE_RTOL = 1e-6


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    """100 units x 20 periods; 40 treated from period 10; two crossed factors f1 (30), f2 (8)."""
    rng = np.random.default_rng(20261201)
    n = 2000
    d = pd.DataFrame({"unit": np.repeat(np.arange(100), 20), "time": np.tile(np.arange(20), 100)})
    d["f1"] = rng.integers(0, 30, n)
    d["f2"] = rng.integers(0, 8, n)
    d["treat"] = (d["unit"] < 40).astype(int)
    d["rel"] = np.where(d["treat"] == 1, d["time"] - 10, -1)
    d["x1"] = rng.normal(size=n)
    d["x2"] = rng.normal(size=n) + 0.3 * d["f1"]
    d["y"] = (
        np.exp(0.5 * d["x1"] + 0.5 * rng.normal(size=n) + 0.01 * d["f1"])
        + 0.3 * (d["rel"] >= 0) * d["treat"]
    )
    d["cnt"] = rng.poisson(np.exp(0.3 * d["x1"] + 0.05 * d["f2"] + 0.02 * d["time"]))
    return d


def _fit_both(kind: str, fml: str, data: pd.DataFrame, vcov: Any) -> tuple[Any, Any]:
    with warnings.catch_warnings():
        # pyfixest warns about dropped singletons / collinear columns; the numbers are compared
        warnings.simplefilter("ignore")
        if kind == "feols":
            ref = pf.feols(fml, data=data, vcov=vcov, demeaner=pf.MapDemeaner(fixef_tol=1e-12))
            ours = ti.feols(fml, data, vcov=vcov, fixef_tol=1e-12)
        else:
            ref = pf.fepois(
                fml, data=data, vcov=vcov, demeaner=pf.MapDemeaner(fixef_tol=1e-12), iwls_tol=1e-12
            )
            ours = ti.fepois(fml, data, vcov=vcov, fixef_tol=1e-12, iwls_tol=1e-12)
    return ref, ours


def _assert_same(ref: Any, ours: Any, *, se: bool = True) -> None:
    assert list(ours.params.index) == list(ref.coef().index)
    np.testing.assert_allclose(ours.params.to_numpy(), ref.coef().to_numpy(), rtol=COEF_RTOL)
    # the covariance matrix itself (also where a two-way variance is negative)
    np.testing.assert_allclose(ours.cov_matrix, ref._vcov, rtol=SE_RTOL, atol=1e-14)
    if se:
        np.testing.assert_allclose(ours.std_errors.to_numpy(), ref.se().to_numpy(), rtol=SE_RTOL)
        np.testing.assert_allclose(ours.pvalues.to_numpy(), ref.pvalue().to_numpy(), atol=1e-8)
        np.testing.assert_allclose(
            ours.conf_int().to_numpy(), ref.confint().to_numpy(), rtol=SE_RTOL
        )
    assert ours.nobs == ref._N


FORMULAS = [
    "y ~ x1 | f1",
    "y ~ x1 + x2 | f1 + f2",
    "y ~ x1 | f1^f2",
    "log(y) ~ x1 | f1",
    "y ~ i(rel, ref=-1) | unit + time",
    "y ~ i(rel, treat, ref=-1) | unit + time",
    "y ~ x1:x2 + x1",
    "y ~ x1*x2 + C(f2)",
    "y ~ i(rel) | unit + time",
    "y ~ i(f2, x1) + x2 | f1",
    "np.log1p(y) ~ x1 + I(x2**2) | f1 + time",
]
VCOVS = ["iid", "hetero", {"CRV1": "f1"}, {"CRV1": "unit+time"}]


@pytest.mark.parametrize("vcov", VCOVS, ids=["iid", "hetero", "CRV1", "CRV1-twoway"])
@pytest.mark.parametrize("fml", FORMULAS)
def test_feols_equals_pyfixest(panel: pd.DataFrame, fml: str, vcov: Any) -> None:
    ref, ours = _fit_both("feols", fml, panel, vcov)
    # two-way clustering of the event-study dummies gives some negative variances: pyfixest's
    # standard error is NaN there and so is ours (assert_allclose compares NaN positions)
    if bool(np.any(np.diag(ref._vcov) < 0)):
        assert np.isnan(ours.std_errors.to_numpy()).sum() == int(np.sum(np.diag(ref._vcov) < 0))
    _assert_same(ref, ours)


def test_default_vcov_is_pyfixest_iid(panel: pd.DataFrame) -> None:
    ref, ours = _fit_both("feols", "y ~ x1 + x2 | f1 + f2", panel, None)
    assert ref._vcov_type == "iid"
    assert ours.vcov_type == "iid"
    _assert_same(ref, ours)


def test_coefficient_names_are_pyfixest(panel: pd.DataFrame) -> None:
    ours = ti.feols("y ~ i(rel, treat, ref=-1) | unit + time", panel)
    assert "rel::0:treat" in ours.params.index and "rel::-1:treat" not in ours.params.index
    ours = ti.feols("y ~ i(rel, ref=-1) | unit + time", panel)
    assert ours.params.index[0] == "rel::-10" and "rel::-1" not in ours.params.index
    assert list(ti.feols("y ~ x1:x2 + x1", panel).params.index) == ["Intercept", "x1", "x1:x2"]


def test_missing_values_and_log_domain_as_pyfixest(panel: pd.DataFrame) -> None:
    d = panel.copy()
    d.loc[[3, 50, 777], "x1"] = np.nan
    d.loc[[10, 11], "y"] = -1.0  # log undefined: dropped
    with pytest.warns(LogDomainWarning, match="2 rows"):
        ours = ti.feols("log(y) ~ x1 | f1", d, vcov={"CRV1": "f1"}, fixef_tol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyfixest's own note on the dropped rows
        ref = pf.feols(
            "log(y) ~ x1 | f1",
            data=d,
            vcov={"CRV1": "f1"},
            demeaner=pf.MapDemeaner(fixef_tol=1e-12),
        )
    _assert_same(ref, ours)
    assert ours.nobs == 2000 - 5
    assert ours.dropped["missing"] == 5


def test_base_stagg_event_study_equals_pyfixest() -> None:
    """fixest's staggered example: y ~ x1 + i(time_to_treatment, ref=-1) | id + year, CRV1 id."""
    b = pd.read_csv(shared_path("validation", "base_stagg", "base_stagg.csv"))
    for fml in (
        "y ~ x1 + i(time_to_treatment, ref=-1) | id + year",
        "y ~ i(time_to_treatment, treated, ref=-1) | id + year",
    ):
        ref, ours = _fit_both("feols", fml, b, {"CRV1": "id"})
        _assert_same(ref, ours)
        assert ours.n_clusters == {"id": 95}


def test_i_with_several_reference_levels_equals_explicit_dummies() -> None:
    """fixest's ``i(time_to_treatment, ref = c(-1, -1000))`` (pyfixest 0.60 rejects a list):
    the same fit as pyfixest on explicit dummies of the other levels."""
    b = pd.read_csv(shared_path("validation", "base_stagg", "base_stagg.csv"))
    ours = ti.feols(
        "y ~ x1 + i(time_to_treatment, ref=[-1, -1000]) | id + year",
        b,
        vcov={"CRV1": "id"},
        fixef_tol=1e-12,
    )
    levels = sorted(set(b["time_to_treatment"]) - {-1.0, -1000.0})
    names = [f"d{i}" for i in range(len(levels))]
    for nm, lv in zip(names, levels, strict=True):
        b[nm] = (b["time_to_treatment"] == lv).astype(float)
    ref = pf.feols(
        f"y ~ x1 + {' + '.join(names)} | id + year",
        data=b,
        vcov={"CRV1": "id"},
        demeaner=pf.MapDemeaner(fixef_tol=1e-12),
    )
    assert list(ours.params.index) == ["x1", *(f"time_to_treatment::{lv}" for lv in levels)]
    np.testing.assert_allclose(ours.params.to_numpy(), ref.coef().to_numpy(), rtol=COEF_RTOL)
    np.testing.assert_allclose(ours.std_errors.to_numpy(), ref.se().to_numpy(), rtol=SE_RTOL)


@pytest.mark.parametrize(
    "fml",
    [
        "Euros ~ log(dist_km) | Origin + Destination + Product",
        "Euros ~ log(dist_km) | Origin^Year + Destination^Year + Product",
    ],
)
def test_fepois_three_fixed_effects_crv1_equals_pyfixest(fml: str) -> None:
    """fixest's trade data (38,325 flows): PPML with three fixed effects, clustered by Origin."""
    trade = pd.read_csv(shared_path("validation", "fixest_trade", "trade.csv"))
    ref, ours = _fit_both("fepois", fml, trade, {"CRV1": "Origin"})
    assert list(ours.params.index) == ["log(dist_km)"]
    np.testing.assert_allclose(ours.params.to_numpy(), ref.coef().to_numpy(), rtol=COEF_RTOL)
    np.testing.assert_allclose(ours.std_errors.to_numpy(), ref.se().to_numpy(), rtol=SE_RTOL)
    assert ours.nobs == ref._N
    # ti.ppml is the same estimator under its own name
    same = ti.ppml(fml, trade, vcov={"CRV1": "Origin"}, fixef_tol=1e-12, iwls_tol=1e-12)
    assert same.params.iloc[0] == ours.params.iloc[0]


@pytest.mark.parametrize("vcov", ["iid", "hetero", {"CRV1": "f1+time"}])
def test_fepois_vcov_forms_equal_pyfixest(panel: pd.DataFrame, vcov: Any) -> None:
    ref, ours = _fit_both("fepois", "cnt ~ x1 + x2 | f1 + f2 + time", panel, vcov)
    np.testing.assert_allclose(ours.params.to_numpy(), ref.coef().to_numpy(), rtol=COEF_RTOL)
    np.testing.assert_allclose(ours.std_errors.to_numpy(), ref.se().to_numpy(), rtol=SE_RTOL)


def test_keyword_api_unchanged_and_polars_input(panel: pd.DataFrame) -> None:
    kw = ti.feols(panel, "y", ["x1", "x2"], fe=["f1", ["f2", "time"]], vcov={"CR1": "f1"})
    fm = ti.feols("y ~ x1 + x2 | f1 + f2^time", pl.from_pandas(panel), vcov={"CRV1": "f1"})
    np.testing.assert_allclose(fm.params.to_numpy(), kw.params.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(fm.std_errors.to_numpy(), kw.std_errors.to_numpy(), rtol=1e-12)
    assert fm.extra["formula"] == "y ~ x1 + x2 | f1 + f2^time"
    kw_p = ti.ppml(panel, "cnt", ["x1"], ["f1", "time"], vcov={"CR1": "f1"})
    fm_p = ti.ppml("cnt ~ x1 | f1 + time", panel, vcov={"CRV1": "f1"})
    assert fm_p.params["x1"] == pytest.approx(kw_p.params["x1"], rel=1e-12)


def test_parse_formula_parts() -> None:
    p = parse_formula("log(y) ~ x1 + i(rel, ref=-1) | exp^year + imp^year + pair")
    assert p.lhs == "log(y)" and p.rhs == "x1 + i(rel, ref=-1)"
    assert p.fixed_effects == (("exp", "year"), ("imp", "year"), ("pair",))
    assert p.fe_names == ["exp^year", "imp^year", "pair"]
    assert parse_formula("y ~ x | 0").fixed_effects == ()


@pytest.mark.parametrize(
    ("fml", "match"),
    [
        ("y x1", "exactly one '~'"),
        ("y ~ x1 | f1 | z ~ w", "3 parts"),
        ("y ~ sw(x1, x2) | f1", r"term sw\(\.\.\.\)"),
        ("y ~ x1 | f1*f2", "fixed-effect term 'f1\\*f2'"),
        # f1[x2] is a varying slope (tests/test_slopes.py); a malformed one is named
        ("y ~ x1 | f1[]", "varying-slope term 'f1\\[\\]'"),
        ("y + y2 ~ x1", "one outcome per formula"),
        ("y ~ (x1 + x2", "unbalanced"),
        ("y ~ x1 + x2 ~~ 3", "exactly one '~'"),
    ],
)
def test_formula_parse_errors_name_the_term(panel: pd.DataFrame, fml: str, match: str) -> None:
    with pytest.raises(ModelSpecError, match=match):
        ti.feols(fml, panel)


def test_formula_bad_term_named(panel: pd.DataFrame) -> None:
    with pytest.raises(ModelSpecError, match=r"term 'x1 \+\+\* x2'|'\+\+\* x2'|x1 \+\+\* x2"):
        ti.feols("y ~ x2 + x1 ++* x2", panel)


@pytest.mark.parametrize(
    ("fml", "vcov", "match"),
    [
        ("y ~ xl | f1", None, r"'xl'.*did you mean .*'x1'"),
        ("yy ~ x1 | f1", None, r"'yy'.*did you mean 'y'"),
        ("y ~ x1 | f_1", None, r"'f_1'.*did you mean 'f1'"),
        ("y ~ x1 | f1", {"CRV1": "unti"}, r"'unti'.*did you mean 'unit'"),
        ("y ~ i(rell, ref=-1) | unit", None, r"'rell'.*did you mean 'rel'"),
    ],
)
def test_misspelled_column_did_you_mean(
    panel: pd.DataFrame, fml: str, vcov: Any, match: str
) -> None:
    with pytest.raises(ModelSpecError, match=match):
        ti.feols(fml, panel, vcov=vcov)


def test_keyword_api_misspelled_column(panel: pd.DataFrame) -> None:
    with pytest.raises(ModelSpecError, match=r"not in the data.*did you mean .*'x1'"):
        ti.feols(panel, "y", ["xl"], fe=["f1"])


def test_unknown_vcov_and_reference_level(panel: pd.DataFrame) -> None:
    with pytest.raises(ModelSpecError, match="HC3"):
        ti.feols("y ~ x1 | f1", panel, vcov="HC3")
    with pytest.raises(ModelSpecError, match="CRV3"):
        ti.feols("y ~ x1 | f1", panel, vcov={"CRV3": "f1"})
    with pytest.raises(ModelSpecError, match=r"reference level\(s\) \[99\]"):
        ti.feols("y ~ i(rel, ref=99) | unit", panel)


def test_one_cluster_raises_naming_the_column(panel: pd.DataFrame) -> None:
    d = panel.assign(country="JPN")
    for call in (
        lambda: ti.feols("y ~ x1 | f1", d, vcov={"CRV1": "country"}),
        lambda: ti.feols(d, "y", ["x1"], fe=["f1"], vcov={"CR1": "country"}),
        lambda: ti.feols("y ~ x1 | f1", d, vcov={"CRV1": "f1 + country"}),
        lambda: ti.fepois("cnt ~ x1 | f1", d, vcov={"CRV1": "country"}),
    ):
        with pytest.raises(ModelSpecError, match=r"'country' needs at least 2 clusters.*has 1"):
            call()
    # the shared covariance code checks too, for every estimator that calls it
    with pytest.raises(ModelSpecError, match="needs at least 2 clusters"):
        vcov_cluster(np.eye(1), np.ones((5, 1)), [np.zeros(5)], n=5, k=1)


def test_string_outcome_raises_with_dtype_and_hint(panel: pd.DataFrame) -> None:
    d = pl.from_pandas(panel).with_columns(pl.col("y").cast(pl.String))
    with pytest.raises(
        ModelSpecError, match=r"outcome column 'y' must be numeric, not String.*cast"
    ):
        ti.feols(d, "y", ["x1"], fe=["f1"])
    with pytest.raises(ModelSpecError, match=r"outcome column 'y' must be numeric, not String"):
        ti.feols("y ~ x1 | f1", d)
    d2 = d.with_columns(pl.when(pl.col("unit") == 3).then(pl.lit("n/a")).otherwise("y").alias("y"))
    with pytest.raises(ModelSpecError, match=r"'y'.*text such as 'n/a' \(first at row 60\)"):
        ti.feols(d2, "y", ["x1"], fe=["f1"])
    # a regressor holding numbers as text is not silently turned into 2000 dummies
    d3 = pl.from_pandas(panel).with_columns(pl.col("x1").cast(pl.String))
    with pytest.raises(ModelSpecError, match=r"regressor column 'x1' must be numeric"):
        ti.feols("y ~ x1 | f1", d3)


def test_object_column_with_na_text_names_column(panel: pd.DataFrame) -> None:
    d = panel.copy()
    d["y"] = d["y"].astype(object)
    d.loc[7, "y"] = "n/a"
    for call in (
        lambda: ti.feols(d, "y", ["x1"], fe=["f1"]),
        lambda: ti.feols("y ~ x1 | f1", d),
    ):
        with pytest.raises(
            ModelSpecError, match=r"column 'y' must be numeric.*'n/a' \(first at row 7\)"
        ):
            call()


def test_categorical_text_regressor_is_dummies_as_pyfixest(panel: pd.DataFrame) -> None:
    d = panel.assign(region=np.array(["north", "south", "east", "west"])[panel["f2"] % 4])
    ref, ours = _fit_both("feols", "y ~ x1 + region | f1", d, "hetero")
    _assert_same(ref, ours)


def test_import_is_lazy_and_exports() -> None:
    code = (
        "import sys, tradeimpact as ti\n"
        "assert 'tradeimpact.models' not in sys.modules, 'models imported eagerly'\n"
        "assert 'polars' not in sys.modules, 'polars imported eagerly'\n"
        "names = {'feols', 'ppml', 'fepois', 'did', 'event_study', 'att_gt', 'sunab', 'etable'}\n"
        "assert names <= set(ti.__all__) and names <= set(dir(ti))\n"
        "from tradeimpact.models.formula import feols\n"
        "assert ti.feols is feols\n"
        "from tradeimpact.models.callaway_santanna import att_gt\n"
        "assert ti.att_gt is att_gt\n"
        "import tradeimpact.models as m\n"
        "assert m.att_gt is att_gt and callable(m.ppml) and m.fepois is ti.fepois\n"
        "try:\n    ti.nope\nexcept AttributeError:\n    pass\nelse:\n    raise SystemExit(1)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_twoway_string_is_fixest_first_two_fixed_effects(panel: pd.DataFrame) -> None:
    ours = ti.feols("y ~ x1 | unit + time", panel, vcov="twoway")
    ref = pf.feols(
        "y ~ x1 | unit + time",
        data=panel,
        vcov={"CRV1": "unit+time"},
        demeaner=pf.MapDemeaner(fixef_tol=1e-12),
    )
    np.testing.assert_allclose(ours.std_errors.to_numpy(), ref.se().to_numpy(), rtol=SE_RTOL)
    assert ours.n_clusters == {"unit": 100, "time": 20}


def test_weights_equal_pyfixest(panel: pd.DataFrame) -> None:
    d = panel.assign(w=np.random.default_rng(5).uniform(0.5, 2.0, len(panel)))
    for vcov in ("hetero", {"CRV1": "f1"}):
        ref = pf.feols(
            "y ~ x1 + x2 | f1 + time",
            data=d,
            vcov=vcov,
            weights="w",
            demeaner=pf.MapDemeaner(fixef_tol=1e-12),
        )
        ours = ti.feols("y ~ x1 + x2 | f1 + time", d, vcov=vcov, weights="w", fixef_tol=1e-12)
        _assert_same(ref, ours)


@pytest.mark.parametrize(
    "fml",
    [
        "y ~ i(treat, region) | f1",
        "y ~ i(region, x1, ref='east') | f1s",
        "y ~ x1 | f1s + f2",
        "y ~ i(region) + x1",
        "y ~ i(f2, ref=3) | unit",
    ],
)
def test_text_levels_factor_interactions_and_missing_fe_as_pyfixest(
    panel: pd.DataFrame, fml: str
) -> None:
    """Text fixed effects and levels, i() of two factors, and a fixed effect with NaN labels
    (their rows dropped, as pyfixest's factorize does)."""
    d = panel.assign(
        region=np.array(["north", "south", "east", "west"])[panel["f2"] % 4],
        f1s="g" + panel["f1"].astype(str),
        f2=panel["f2"].astype(float),
    )
    d.loc[[5, 9], "f2"] = np.nan
    ref, ours = _fit_both("feols", fml, d, {"CRV1": "f1s"})
    _assert_same(ref, ours)


def test_cluster_by_a_regressor_column_as_pyfixest(panel: pd.DataFrame) -> None:
    d = panel.assign(grp=panel["f2"] % 3)
    ref, ours = _fit_both("feols", "y ~ x1 + grp | f1", d, {"CRV1": "grp"})
    _assert_same(ref, ours)
