"""Sandwich covariances and the FE-OLS core against statsmodels, linearmodels and pyfixest."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from tradeimpact.core.covariance import (
    fe_dof,
    is_nested,
    vcov_cluster,
    vcov_driscoll_kraay,
    vcov_hetero,
    vcov_iid,
)
from tradeimpact.errors import ModelSpecError
from tradeimpact.models.linear import CollinearityWarning, feols

TOL = 1e-8


def panel(seed: int = 1, n_units: int = 40, n_periods: int = 12, frac: float = 1.0) -> pd.DataFrame:
    """SYNTHETIC panel with unit, time and product effects, weights and two regressors."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n_units), n_periods),
            "time": np.tile(np.arange(n_periods), n_units),
        }
    )
    n = len(df)
    df["prod"] = rng.integers(0, 5, n)
    df["x1"] = rng.normal(size=n)
    df["x2"] = rng.normal(size=n) + 0.1 * df["unit"]
    df["w"] = rng.uniform(0.5, 2.0, n)
    df["y"] = (
        df["x1"]
        - 0.5 * df["x2"]
        + 0.3 * df["unit"]
        + np.sin(df["time"])
        + rng.normal(size=n) * (1 + 0.1 * df["time"])
    )
    if frac < 1:
        df = df.sample(frac=frac, random_state=seed).reset_index(drop=True)
    return df


@pytest.fixture(scope="module")
def ols_case() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    n = 300
    x = sm.add_constant(rng.normal(size=(n, 2)))
    g = rng.integers(0, 15, n)
    h = rng.integers(0, 7, n)
    y = x @ [1.0, 2.0, 3.0] + rng.normal(size=n) + 0.5 * rng.normal(size=15)[g]
    return x, y, g, h, np.linalg.inv(x.T @ x)


def test_no_fe_matches_statsmodels(ols_case: tuple) -> None:
    """Plain OLS: iid, HC1 and CR1 equal statsmodels (same formulas, no fixed effects)."""
    x, y, g, _, bread = ols_case
    m = sm.OLS(y, x).fit()
    s = x * m.resid[:, None]
    n, k = x.shape
    assert np.allclose(vcov_iid(bread, m.resid, n=n, k=k), m.cov_params(), rtol=TOL, atol=0)
    hc1 = m.get_robustcov_results("HC1").cov_params()
    assert np.allclose(vcov_hetero(bread, s, n=n, k=k), hc1, rtol=TOL, atol=0)
    cr1 = m.get_robustcov_results("cluster", groups=g).cov_params()
    assert np.allclose(vcov_cluster(bread, s, [g], n=n, k=k), cr1, rtol=TOL, atol=0)


def test_twoway_formula_by_hand(ols_case: tuple) -> None:
    """Two-way CR1 = V_g + V_h - V_gh with each term's factor (Cameron, Gelbach & Miller 2011)."""
    x, y, g, h, bread = ols_case
    e = y - x @ (bread @ x.T @ y)
    s = x * e[:, None]
    n, k = x.shape

    def one(labels: np.ndarray, gg: int) -> np.ndarray:
        u = np.array([s[labels == c].sum(0) for c in np.unique(labels)])
        return gg / (gg - 1) * (n - 1) / (n - k) * bread @ u.T @ u @ bread

    gh = g * 100 + h
    ng, nh, ngh = (np.unique(a).size for a in (g, h, gh))
    conv = one(g, ng) + one(h, nh) - one(gh, ngh)
    mn = min(ng, nh)
    minv = one(g, mn) + one(h, mn) - one(gh, mn)
    got_conv = vcov_cluster(bread, s, [g, h], n=n, k=k, G_df="conventional")
    got_min = vcov_cluster(bread, s, [g, h], n=n, k=k, G_df="min")
    assert np.allclose(got_conv, conv, rtol=1e-12)
    assert np.allclose(got_min, minv, rtol=1e-12)
    # statsmodels' two-way cluster = conventional G_j/(G_j-1) and (n-1)/(n-k) on each term
    m = sm.OLS(y, x).fit(cov_type="cluster", cov_kwds={"groups": np.column_stack([g, h])})
    assert np.allclose(got_conv, m.cov_params(), rtol=TOL)


def test_driscoll_kraay_by_hand(ols_case: tuple) -> None:
    x, y, _, h, bread = ols_case
    e = y - x @ (bread @ x.T @ y)
    s = x * e[:, None]
    sums = np.array([s[h == t].sum(0) for t in np.unique(h)])
    meat = sums.T @ sums
    for j in (1, 2):
        gam = sums[j:].T @ sums[:-j]
        meat += (1 - j / 3) * (gam + gam.T)
    got = vcov_driscoll_kraay(bread, s, h, n=len(y), k=3, bandwidth=2)
    assert np.allclose(got, bread @ meat @ bread, rtol=1e-12)
    with pytest.raises(ValueError, match="bandwidth"):
        vcov_driscoll_kraay(bread, s, h, n=len(y), k=3, bandwidth=7)


def test_nesting_and_fe_dof() -> None:
    unit = np.repeat(np.arange(5), 4)
    time = np.tile(np.arange(4), 5)
    region = unit // 2
    assert is_nested(unit, region)
    assert not is_nested(time, region)
    # pyfixest k_fixef="nonnested": sum(levels) - (n_fe - 1), nested levels out, +1 per nested
    assert fe_dof([unit, time]) == 5 + 4 - 1
    assert fe_dof([unit, time], [unit]) == (5 + 4 - 1) - 5 + 1
    assert fe_dof([]) == 0


CASES = [
    (["unit", "time"], {"CR1": "unit"}, None),
    (["unit", "time"], {"CR1": ["unit", "time"]}, None),
    (["unit", "time"], {"CR1": ["unit", "time"]}, "w"),
    (["unit", "time", "prod"], {"CR1": "unit"}, "w"),
    (["unit", "time", "prod"], {"CR1": "unit"}, None),
    (["unit"], {"CR1": "time"}, "w"),
    (["unit", "time"], "hetero", None),
    (["unit", "time"], "iid", "w"),
]


@pytest.mark.parametrize(("fe", "vcov", "weights"), CASES)
def test_feols_matches_pyfixest(fe: list[str], vcov: object, weights: str | None) -> None:
    """Coefficients to 1e-10 and CR1/HC1/iid SEs to 1e-8 (relative) of pyfixest feols, unbalanced."""
    pf = pytest.importorskip("pyfixest")
    df = panel(frac=0.9)
    ours = feols(df, "y", ["x1", "x2"], fe=fe, vcov=vcov, weights=weights)  # type: ignore[arg-type]
    if isinstance(vcov, dict):
        cl = vcov["CR1"]
        pv: object = {"CRV1": "+".join(cl) if isinstance(cl, list) else cl}
    else:
        pv = vcov
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pf.feols(f"y ~ x1 + x2 | {' + '.join(fe)}", df, vcov=pv, weights=weights)
    np.testing.assert_allclose(ours.params.to_numpy(), ref.coef().to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(ours.std_errors.to_numpy(), ref.se().to_numpy(), rtol=TOL)
    np.testing.assert_allclose(
        ours.pvalues.to_numpy(), ref.pvalue().to_numpy(), rtol=1e-6, atol=1e-12
    )


@pytest.mark.parametrize("weighted", [False, True])
def test_feols_matches_linearmodels(weighted: bool) -> None:
    """PanelOLS with entity and time effects: coefficients and clustered/DK covariances to 1e-8.

    Mapping (stated in tradeimpact.core.covariance): PanelOLS(..., auto_df=False,
    count_effects=False) with debiased=True, group_debias=True is our CR1 with k = regressors
    (two-way: G_df="conventional"); cov_type="kernel" with debiased=False is our Driscoll-Kraay
    with small_sample="none", same Bartlett bandwidth.
    """
    from linearmodels import PanelOLS

    df = panel()
    pdf = df.set_index(["unit", "time"])
    ours = feols(df, "y", ["x1", "x2"], fe=["unit", "time"], weights="w" if weighted else None)
    d = ours.extra["design"]
    w = np.ones(len(d.y_t)) if d.weights is None else d.weights
    s = d.x_t * (w * d.resid)[:, None]
    n = len(d.y_t)
    u, t = df["unit"].to_numpy()[d.keep], df["time"].to_numpy()[d.keep]
    mod = PanelOLS(
        pdf["y"],
        pdf[["x1", "x2"]],
        entity_effects=True,
        time_effects=True,
        weights=pdf["w"] if weighted else None,
    )
    common = {"auto_df": False, "count_effects": False}
    one = mod.fit(
        cov_type="clustered", cluster_entity=True, debiased=True, group_debias=True, **common
    )
    np.testing.assert_allclose(ours.params.to_numpy(), one.params.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(vcov_cluster(d.bread, s, [u], n=n, k=2), one.cov, rtol=TOL)
    two = mod.fit(
        cov_type="clustered",
        cluster_entity=True,
        cluster_time=True,
        debiased=True,
        group_debias=True,
        **common,
    )
    np.testing.assert_allclose(
        vcov_cluster(d.bread, s, [u, t], n=n, k=2, G_df="conventional"), two.cov, rtol=TOL
    )
    for bw in (None, 3):
        dk = mod.fit(cov_type="kernel", debiased=False, bandwidth=bw, **common)
        np.testing.assert_allclose(
            vcov_driscoll_kraay(d.bread, s, t, n=n, k=2, bandwidth=bw), dk.cov, rtol=TOL
        )
    # the frame-level DK request gives the same matrix
    dk_frame = feols(
        df,
        "y",
        ["x1", "x2"],
        fe=["unit", "time"],
        weights="w" if weighted else None,
        vcov="DK",
        time="time",
    )
    dk = mod.fit(cov_type="kernel", debiased=False, **common)
    np.testing.assert_allclose(dk_frame.cov.to_numpy(), dk.cov, rtol=TOL)
    assert "bandwidth 2" in dk_frame.vcov_type  # floor(4 (12/100)^(2/9)) = 2


def test_collinear_regressor_dropped_with_warning() -> None:
    df = panel()
    df["unit_trait"] = df["unit"] % 3  # constant within unit: absorbed by the unit effects
    df["x3"] = 2 * df["x1"] - df["x2"]
    with pytest.warns(CollinearityWarning, match="unit_trait, x3"):
        res = feols(df, "y", ["x1", "unit_trait", "x2", "x3"], fe=["unit", "time"])
    assert res.names == ["x1", "x2"]
    assert res.dropped_regressors == ["unit_trait", "x3"]


def test_singletons_and_missing_counted() -> None:
    df = panel(n_units=10, n_periods=5)
    extra = pd.DataFrame(
        {"unit": [99], "time": [0], "prod": [0], "x1": [0.1], "x2": [0.2], "w": [1.0], "y": [1.0]}
    )
    df = pd.concat([df, extra], ignore_index=True)
    df.loc[3, "y"] = np.nan
    res = feols(df, "y", ["x1", "x2"], fe=["unit", "time"])
    assert res.dropped["singletons"] == 1
    assert res.dropped["missing"] == 1
    assert res.nobs == 50 - 1
    with pytest.raises(ModelSpecError, match="not in the data"):
        feols(df, "y", ["nope"], fe=["unit"])


def test_is_nested_equals_the_pairs_definition() -> None:
    """The O(n) nesting check against its definition: #distinct (inner, outer) == #inner groups."""
    rng = np.random.default_rng(3)
    for _ in range(200):
        n = int(rng.integers(1, 60))
        inner = rng.integers(0, int(rng.integers(1, 12)), n)
        outer = rng.integers(0, int(rng.integers(1, 6)), n)
        pairs = np.unique(np.column_stack([inner, outer]), axis=0).shape[0]
        assert is_nested(inner, outer) == (pairs == np.unique(inner).size)
        assert is_nested(inner, inner // 2)  # a coarsening always nests


def test_fewer_than_two_clusters_raise_naming_the_variable() -> None:
    """CR1's G/(G-1) is undefined with one cluster: the package's error, not ZeroDivisionError,
    from the shared covariance code (every estimator calling it) and from feols by column name."""
    rng = np.random.default_rng(3)
    s = rng.normal(size=(30, 2))
    b = np.eye(2)
    with pytest.raises(ModelSpecError, match=r"'country' needs at least 2 clusters.*has 1"):
        vcov_cluster(b, s, [np.zeros(30)], n=30, k=2, names=["country"])
    # two-way: the second dimension has one cluster
    with pytest.raises(ModelSpecError, match=r"'cluster variable 2' needs at least 2"):
        vcov_cluster(b, s, [np.arange(30) % 5, np.ones(30)], n=30, k=2)
    # two clusters are enough (and give G/(G-1) = 2 times the uncorrected sandwich)
    two = vcov_cluster(b, s, [np.arange(30) % 2], n=30, k=2, small_sample="none")
    u = np.array([s[::2].sum(axis=0), s[1::2].sum(axis=0)])
    np.testing.assert_allclose(two, 2 * u.T @ u, rtol=1e-12)
    df = panel().assign(country="JPN")
    with pytest.raises(ModelSpecError, match=r"'country' needs at least 2 clusters"):
        feols(df, "y", ["x1"], fe=["unit"], vcov={"CR1": "country"})
    # a cluster left with one group after rows with missing values are dropped
    df2 = panel().assign(country=lambda d: np.where(d["unit"] == 0, "CHN", "JPN"))
    df2.loc[df2["unit"] == 0, "x1"] = np.nan
    with pytest.raises(ModelSpecError, match=r"'country' needs at least 2 clusters"):
        feols(df2, "y", ["x1"], fe=["unit"], vcov={"CR1": "country"})
