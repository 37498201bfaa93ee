"""tradeimpact.core.covariance: the one vcov parser, cluster=, and NaN for negative variances."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pyfixest as pf
import pytest

import tradeimpact as ti
from tradeimpact.core.covariance import NegativeVarianceWarning, VcovSpec, parse_vcov
from tradeimpact.errors import ModelSpecError
from tradeimpact.models.linear import feols
from tradeimpact.models.ppml import ppml


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    """SYNTHETIC unit x year panel with a count outcome and a region above the unit."""
    rng = np.random.default_rng(21)
    unit = np.repeat(np.arange(30), 6)
    year = np.tile(np.arange(6), 30)
    x1, x2 = rng.normal(size=(2, unit.size))
    a = rng.normal(size=30)[unit]
    y = 0.4 * x1 - 0.2 * x2 + a + 0.1 * year + rng.normal(size=unit.size) * (1 + (unit % 3))
    cnt = rng.poisson(np.exp(0.3 * x1 + 0.3 * a)).astype(float)
    return pd.DataFrame(
        {"y": y, "cnt": cnt, "x1": x1, "x2": x2, "unit": unit, "year": year, "region": unit % 7}
    )


@pytest.mark.parametrize(
    ("vcov", "cluster", "kind", "names"),
    [
        (None, None, "hetero", []),
        ("iid", None, "iid", []),
        ("HC1", None, "hetero", []),
        ("hetero", None, "hetero", []),
        ({"CRV1": "unit"}, None, "CR1", ["unit"]),
        ({"CR1": "unit"}, None, "CR1", ["unit"]),
        ({"CRV1": "unit + year"}, None, "CR1", ["unit", "year"]),
        ({"CR1": ["unit", "year"]}, None, "CR1", ["unit", "year"]),
        ({"CRV1": "unit^year"}, None, "CR1", ["unit^year"]),
        ("CR1", "unit", "CR1", ["unit"]),
        ("CRV1", "unit + year", "CR1", ["unit", "year"]),
        (None, "unit", "CR1", ["unit"]),
        (None, ["unit", "year"], "CR1", ["unit", "year"]),
        ({"CRV1": "unit"}, "unit", "CR1", ["unit"]),
        ("DK", None, "DK", []),
        ({"DK": 2}, None, "DK", []),
    ],
)
def test_parse_vcov_forms(vcov: object, cluster: object, kind: str, names: list[str]) -> None:
    spec = parse_vcov(vcov, cluster=cluster, time="year")  # type: ignore[arg-type]
    assert spec.kind == kind
    assert spec.cluster_names == names
    if kind == "DK":
        assert spec.time_name == "year"
        assert spec.bandwidth == (2.0 if isinstance(vcov, dict) else None)


def test_parse_vcov_defaults_and_errors() -> None:
    assert parse_vcov(None, default="iid").kind == "iid"
    assert parse_vcov("twoway", unit="u", time="t").cluster_names == ["u", "t"]
    assert parse_vcov("twoway", fe=["exp", "imp", "pair"]).cluster_names == ["exp", "imp"]
    spec = VcovSpec("iid")
    assert parse_vcov(spec) is spec
    for bad, match in (
        ("HC3", "HC3.*not offered"),
        ({"CRV3": "a"}, "CRV3"),
        ({"CRV1": "a + b + c"}, "one or two"),
        ("CR1", "needs the cluster column"),
        ("twoway", "twoway"),
        (3, "unknown"),
    ):
        with pytest.raises(ModelSpecError, match=match):
            parse_vcov(bad)
    with pytest.raises(ModelSpecError, match="disagree"):
        parse_vcov({"CRV1": "a"}, cluster="b")
    with pytest.raises(ModelSpecError, match="disagree"):
        parse_vcov("hetero", cluster="b")


def test_cluster_keyword_equals_pyfixest_crv1(panel: pd.DataFrame) -> None:
    ref = pf.feols("y ~ x1 + x2 | unit + year", panel, vcov={"CRV1": "unit"})
    ours = feols(panel, "y", ["x1", "x2"], fe=["unit", "year"], cluster="unit")
    same = feols(panel, "y", ["x1", "x2"], fe=["unit", "year"], vcov={"CRV1": "unit"})
    np.testing.assert_allclose(ours.params.to_numpy(), ref.coef().to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(ours.std_errors.to_numpy(), ref.se().to_numpy(), rtol=1e-6)
    np.testing.assert_array_equal(ours.std_errors.to_numpy(), same.std_errors.to_numpy())
    assert ours.n_clusters == {"unit": 30}
    # two-way through cluster=, and the formula front end with cluster=
    ref2 = pf.feols("y ~ x1 + x2 | unit + year", panel, vcov={"CRV1": "region + year"})
    two = feols(panel, "y", ["x1", "x2"], fe=["unit", "year"], cluster="region + year")
    np.testing.assert_allclose(two.std_errors.to_numpy(), ref2.se().to_numpy(), rtol=1e-6)
    fml = ti.feols("y ~ x1 + x2 | unit + year", panel, cluster="unit")
    np.testing.assert_allclose(fml.std_errors.to_numpy(), ref.se().to_numpy(), rtol=1e-6)


def test_cluster_keyword_in_ppml_equals_pyfixest(panel: pd.DataFrame) -> None:
    ref = pf.fepois("cnt ~ x1 + x2 | unit + year", panel, vcov={"CRV1": "region"})
    ours = ppml(pl.from_pandas(panel), "cnt", ["x1", "x2"], ["unit", "year"], cluster="region")
    np.testing.assert_allclose(ours.params.to_numpy(), ref.coef().to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours.std_errors.to_numpy(), ref.se().to_numpy(), rtol=1e-5)
    fml = ti.fepois("cnt ~ x1 + x2 | unit + year", panel, cluster="region")
    np.testing.assert_allclose(fml.std_errors.to_numpy(), ref.se().to_numpy(), rtol=1e-5)


def test_one_cluster_names_the_column(panel: pd.DataFrame) -> None:
    d = panel.assign(country="JPN")
    for call in (
        lambda: feols(d, "y", ["x1"], fe=["unit"], cluster="country"),
        lambda: ppml(d, "cnt", ["x1"], ["unit"], cluster="country"),
    ):
        with pytest.raises(ModelSpecError, match=r"'country' needs at least 2 clusters.*has 1"):
            call()


def _negative_variance_data() -> pd.DataFrame:
    """SYNTHETIC: 60 rows in 4 x 4 two-way clusters where V1 + V2 - V12 is not PSD."""
    rng = np.random.default_rng(0)  # seed found by search: pyfixest gives two NaN SEs on it
    n = 60
    a = rng.integers(0, 4, n)
    b = rng.integers(0, 4, n)
    x = rng.normal(size=(n, 2))
    y = x @ [1.0, -1.0] + rng.normal(size=n)
    return pd.DataFrame({"y": y, "x1": x[:, 0], "x2": x[:, 1], "a": a, "b": b})


def test_negative_two_way_variance_gives_nan_and_warns() -> None:
    df = _negative_variance_data()
    with warnings.catch_warnings():
        # pyfixest takes the sqrt of the negative diagonal (numpy's invalid-value warning)
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = pf.feols("y ~ x1 + x2", df, vcov={"CRV1": "a + b"})
    ref_se = ref.se()
    assert ref_se.isna().tolist() == [True, True, False]
    with pytest.warns(NegativeVarianceWarning, match="Intercept, x1"):
        ours = feols(df, "y", ["x1", "x2"], cluster=["a", "b"])
    assert np.isnan(ours.std_errors["Intercept"]) and np.isnan(ours.std_errors["x1"])
    assert ours.std_errors["x2"] == pytest.approx(float(ref_se["x2"]), rel=1e-8)
    np.testing.assert_allclose(ours.params.to_numpy(), ref.coef().to_numpy(), rtol=1e-10)
    assert np.isnan(ours.pvalues["x1"])
