"""PPML with high-dimensional fixed effects against published numbers and pyfixest ``fepois``."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from conftest import shared_path

from tradeimpact.errors import ModelSpecError
from tradeimpact.models.linear import CollinearityWarning
from tradeimpact.models.ppml import (
    PPMLConvergenceWarning,
    SeparationWarning,
    _simple_separated,
    ppml,
)

AGTPA_YEARS = [1986, 1990, 1994, 1998, 2002, 2006]


@pytest.fixture(scope="module")
def agtpa() -> pl.DataFrame:
    path = shared_path("validation", "agtpa_gravity", "agtpa_applications.csv")
    return pl.read_csv(path).filter(pl.col("year").cast(pl.Int64).is_in(AGTPA_YEARS))


@pytest.fixture(scope="module")
def trade() -> pl.DataFrame:
    path = shared_path("validation", "fixest_trade", "trade.csv")
    return pl.read_csv(path)


def _panel(seed: int, n_exp: int = 30, n_imp: int = 25, n_year: int = 6) -> pd.DataFrame:
    """SYNTHETIC gravity-like panel with zeros, an all-zero importer and one singleton row."""
    rng = np.random.default_rng(seed)
    e, i, t = (
        a.ravel()
        for a in np.meshgrid(np.arange(n_exp), np.arange(n_imp), np.arange(n_year), indexing="ij")
    )
    n = e.size
    x1 = rng.normal(size=n)
    x2 = rng.binomial(1, 0.3, n).astype(float)
    mu = np.exp(
        0.5 * x1 - 0.3 * x2 + rng.normal(size=n_exp)[e] + rng.normal(size=n_imp)[i] + 0.1 * t
    )
    y = rng.poisson(mu) * rng.exponential(1.0, n)
    y[i == 3] = 0.0  # importer 3 never imports: separated by its fixed effect
    y[rng.random(n) < 0.3] = 0.0
    frame = pd.DataFrame(
        {"y": y, "x1": x1, "x2": x2, "exp": e, "imp": i, "year": t, "cl": (e * 7 + i) % 40}
    )
    single = pd.DataFrame(
        {"y": [2.0], "x1": [0.1], "x2": [1.0], "exp": [99], "imp": [0], "year": [0], "cl": [1]}
    )
    return pd.concat([frame, single], ignore_index=True)


# -- published references ------------------------------------------------------------------------


def test_agtpa_pair_fixed_effects(agtpa: pl.DataFrame) -> None:
    """AGTPA Ch.1 Table 3, PPML + pair FE: RTA 0.5572 (0.1022), N 28,482."""
    with pytest.warns(SeparationWarning, match="84 rows"):
        res = ppml(
            agtpa,
            "trade",
            ["rta"],
            ["exporter^year", "importer^year", "pair_id"],
            vcov={"CR1": "pair_id"},
        )
    assert res.nobs == 28_482
    assert res.dropped["separated_fe"] == 84
    assert res.params["rta"] == pytest.approx(0.5572, abs=1e-4)
    # ours 0.10375 (fixest's small-sample factor (n-1)/(n-k) * G/(G-1)); replication 0.1022.
    assert res.std_errors["rta"] == pytest.approx(0.1022, rel=0.02)
    assert res.converged
    # the replication's 0.1022 is the same sandwich with G/(G-1) alone (no (n-1)/(n-k), k = 828)
    from tradeimpact.core.covariance import vcov_cluster

    clusters = agtpa.filter(pl.Series(res.sample))["pair_id"].to_numpy()
    assert res.extra["k_dof"] == 828
    v = vcov_cluster(
        res.extra["bread_inv"],
        res.extra["scores"],
        [clusters],
        n=res.nobs,
        k=res.extra["k_dof"],
        small_sample="none",
    )
    assert np.sqrt(v[0, 0]) == pytest.approx(0.1022, abs=5e-5)


@pytest.mark.parametrize(
    ("terms", "coefs", "ses", "total"),
    [
        (["rta", "rta_lead4"], [0.5200, 0.0774], [0.0859, 0.0921], (0.5975, 0.1380)),
        (
            ["rta", "rta_lag4", "rta_lag8", "rta_lag12"],
            [0.2914, 0.4135, 0.1687, 0.1189],
            [0.0892, 0.0672, 0.0431, 0.0301],
            (0.9926, 0.0943),
        ),
    ],
)
def test_agtpa_lead_and_phasing_in(
    agtpa: pl.DataFrame,
    terms: list[str],
    coefs: list[float],
    ses: list[float],
    total: tuple[float, float],
) -> None:
    """AGTPA Ch.1 Table 3, pair FE with rta_lead4, and the phasing-in specification."""
    with pytest.warns(SeparationWarning):
        res = ppml(
            agtpa,
            "trade",
            terms,
            ["exporter^year", "importer^year", "pair_id"],
            vcov={"CR1": "pair_id"},
        )
    np.testing.assert_allclose(res.params[terms].to_numpy(), coefs, atol=1e-4)
    np.testing.assert_allclose(res.std_errors[terms].to_numpy(), ses, rtol=0.02)
    ones = np.ones(len(terms))
    assert float(res.params[terms].sum()) == pytest.approx(total[0], abs=1e-4)
    se_sum = float(np.sqrt(ones @ res.cov.loc[terms, terms].to_numpy() @ ones))
    assert se_sum == pytest.approx(total[1], rel=0.02)


def test_agtpa_international(agtpa: pl.DataFrame) -> None:
    """AGTPA Ch.1 Table 3, PPML international only: rta 0.1907 (0.0658), ln dist -0.8216 (0.0310)."""
    intl = agtpa.filter(pl.col("exporter") != pl.col("importer"))
    res = ppml(
        intl,
        "trade",
        ["rta", pl.col("dist").log().alias("log_dist"), "cntg", "lang", "clny"],
        ["exporter^year", "importer^year"],
        vcov={"CR1": "pair_id"},
    )
    assert res.nobs == 28_152
    ref = {"rta": 0.1907, "log_dist": -0.8216, "cntg": 0.4155, "lang": 0.2499, "clny": -0.2054}
    for term, value in ref.items():
        assert res.params[term] == pytest.approx(value, abs=1e-4)
    assert res.std_errors["rta"] == pytest.approx(0.0658, rel=0.02)
    assert res.std_errors["log_dist"] == pytest.approx(0.0310, rel=0.02)


def test_fixest_trade(trade: pl.DataFrame) -> None:
    """fixest walkthrough: fepois(Euros ~ log(dist_km) | Origin + Destination + Product + Year)."""
    x = [pl.col("dist_km").log().alias("log(dist_km)")]
    fe = ["Origin", "Destination", "Product", "Year"]
    res = ppml(trade, "Euros", x, fe, vcov={"CR1": "Origin"})
    assert res.params["log(dist_km)"] == pytest.approx(-1.52787, abs=1e-5)
    assert res.std_errors["log(dist_km)"] == pytest.approx(0.115678, abs=1e-6)
    assert res.nobs == 38_325
    # fixest's fit statistics: log-likelihood -7.025e+11, squared correlation 0.612021, adjusted
    # pseudo R2 0.764032 (1 - (ll - K)/ll0 with K = 58 parameters: K/ll0 is below 1e-10 here)
    assert res.extra["loglik"] == pytest.approx(-7.025e11, rel=1e-3)
    assert res.extra["sq_cor"] == pytest.approx(0.612021, abs=1e-6)
    assert res.extra["pseudo_r2"] == pytest.approx(0.764032, abs=1e-6)
    two = ppml(trade, "Euros", x, fe, vcov="twoway")
    assert two.std_errors["log(dist_km)"] == pytest.approx(0.130734, abs=1e-6)
    # fixest reports z values for fepois: normal reference, whatever the clustering
    assert two.df_inference is None


# -- pyfixest ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("hetero", "hetero"),
        ({"CR1": "cl"}, {"CRV1": "cl"}),
        ({"CR1": ["cl", "exp"]}, {"CRV1": "cl+exp"}),
    ],
)
@pytest.mark.parametrize("seed", [1, 2])
def test_equals_pyfixest(seed: int, ours: object, theirs: object) -> None:
    pf = pytest.importorskip("pyfixest")
    d = _panel(seed)
    with pytest.warns(SeparationWarning):
        res = ppml(d, "y", ["x1", "x2"], ["exp", "imp", "year"], vcov=ours)  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pf.fepois(
            "y ~ x1 + x2 | exp + imp + year",
            data=d,
            vcov=theirs,
            demeaner=pf.MapDemeaner(fixef_tol=1e-10),
        )
    np.testing.assert_allclose(res.params.to_numpy(), ref.coef().to_numpy(), atol=1e-6, rtol=0)
    np.testing.assert_allclose(res.std_errors.to_numpy(), ref.se().to_numpy(), atol=1e-5, rtol=0)
    assert res.nobs == ref._N
    # the same rows: pyfixest keeps the index of the rows it estimates on
    kept = np.sort(ref._data.index.to_numpy())
    np.testing.assert_array_equal(np.flatnonzero(res.sample), kept)
    assert res.dropped["singletons"] == 1


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("hetero", "hetero"),
        ({"CR1": "cl"}, {"CRV1": "cl"}),
        ({"CR1": ["cl", "exp"]}, {"CRV1": "cl+exp"}),
    ],
)
def test_conf_int_and_pvalues_normal_as_pyfixest(ours: object, theirs: object) -> None:
    """Intervals and p-values use the standard normal, as pyfixest's fepois (``get_inference``:
    ``norm`` for ``_method == "fepois"``) and fixest: equal to pyfixest's to 1e-8 with both fits
    converged tightly (IRLS tolerance 1e-12, demeaning tolerance 1e-13)."""
    pf = pytest.importorskip("pyfixest")
    d = _panel(5)
    with pytest.warns(SeparationWarning):
        res = ppml(
            d, "y", ["x1", "x2"], ["exp", "imp", "year"], vcov=ours, tol=1e-12, fixef_tol=1e-13
        )  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pf.fepois(
            "y ~ x1 + x2 | exp + imp + year",
            data=d,
            vcov=theirs,
            iwls_tol=1e-12,
            demeaner=pf.MapDemeaner(fixef_tol=1e-13),
        )
    assert res.df_inference is None
    for level in (0.95, 0.90):
        ci = res.conf_int(level)
        ref_ci = ref.confint(alpha=1 - level)
        np.testing.assert_allclose(ci.to_numpy(), ref_ci.to_numpy(), atol=1e-8, rtol=0)
    np.testing.assert_allclose(res.pvalues.to_numpy(), ref.pvalue().to_numpy(), atol=1e-8, rtol=0)
    assert "standard normal" in res.summary()
    assert res.inference.endswith("normal")


def test_weights_offset_equal_pyfixest() -> None:
    pf = pytest.importorskip("pyfixest")
    d = _panel(3)
    rng = np.random.default_rng(9)
    d["w"] = rng.uniform(0.5, 2.0, len(d))
    d["off"] = rng.normal(0, 0.2, len(d))
    with pytest.warns(SeparationWarning):
        res = ppml(d, "y", ["x1", "x2"], ["exp", "imp"], weights="w", offset="off", vcov="hetero")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pf.fepois(
            "y ~ x1 + x2 | exp + imp",
            data=d,
            weights="w",
            offset="off",
            vcov="hetero",
            demeaner=pf.MapDemeaner(fixef_tol=1e-10),
        )
    np.testing.assert_allclose(res.params.to_numpy(), ref.coef().to_numpy(), atol=1e-6, rtol=0)
    np.testing.assert_allclose(res.std_errors.to_numpy(), ref.se().to_numpy(), atol=1e-5, rtol=0)


def test_no_fixed_effects_equals_statsmodels() -> None:
    sm = pytest.importorskip("statsmodels.api")
    d = _panel(4)
    d = d[d.imp != 3]
    res = ppml(d, "y", ["x1", "x2"], vcov="hetero")
    x = sm.add_constant(d[["x1", "x2"]].to_numpy())
    ref = sm.GLM(d["y"].to_numpy(), x, family=sm.families.Poisson()).fit(cov_type="HC1")
    np.testing.assert_allclose(res.params.to_numpy(), ref.params, atol=1e-7)
    # statsmodels' GLM "HC1" applies no n/(n-k) factor (it is HC0 for GLMs); ours is fixest's HC1
    n, k = len(d), 3
    np.testing.assert_allclose(res.std_errors.to_numpy(), ref.bse * np.sqrt(n / (n - k)), rtol=1e-5)


# -- checks --------------------------------------------------------------------------------------


def test_all_zero_importer_is_dropped_with_message() -> None:
    d = _panel(5)
    n_zero_imp = int((d.imp == 3).sum())
    with pytest.warns(SeparationWarning, match="separated by the fixed effects"):
        res = ppml(d, "y", ["x1", "x2"], ["exp", "imp", "year"])
    assert res.dropped["separated_fe"] >= n_zero_imp
    assert not res.sample[(d.imp == 3).to_numpy()].any()
    assert any("separated by the fixed effects" in m for m in res.messages)


@pytest.mark.parametrize("method", ["simple", "relu"])
def test_regressor_separation(method: str) -> None:
    """A regressor zero wherever y > 0 and positive on some zeros separates exactly those rows."""
    pf = pytest.importorskip("pyfixest")
    d = _panel(6)
    rng = np.random.default_rng(6)
    d["x3"] = np.where((d.y == 0) & (rng.random(len(d)) < 0.2), rng.uniform(0.5, 2, len(d)), 0.0)
    with (
        pytest.warns(SeparationWarning, match="separated by the regressors"),
        pytest.warns(CollinearityWarning, match="x3"),
    ):
        res = ppml(
            d,
            "y",
            ["x1", "x2", "x3"],
            ["exp", "imp", "year"],
            vcov={"CR1": "cl"},
            separation=("fe", method),
        )
    sep = (d.x3 != 0).to_numpy()
    assert not res.sample[sep].any()
    assert res.dropped["separated_regressor"] == int((sep & (d.imp != 3).to_numpy()).sum())
    assert res.dropped_regressors == ["x3"]
    # once separated rows are out, the estimates are pyfixest's on the remaining rows
    rest = d[~sep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pf.fepois(
            "y ~ x1 + x2 | exp + imp + year",
            data=rest,
            vcov={"CRV1": "cl"},
            demeaner=pf.MapDemeaner(fixef_tol=1e-10),
        )
    np.testing.assert_allclose(res.params.to_numpy(), ref.coef().to_numpy(), atol=1e-6, rtol=0)
    assert res.nobs == ref._N


def test_relu_finds_separation_by_combination() -> None:
    """x4 - x5 is zero where y > 0 and positive on some zeros: only ReLU sees it (no single column)."""
    d = _panel(7)
    d = d[d.imp != 3].reset_index(drop=True)
    rng = np.random.default_rng(7)
    z = np.where((d.y == 0) & (rng.random(len(d)) < 0.1), 1.0, 0.0)
    d["x4"] = rng.normal(size=len(d))
    d["x5"] = d["x4"] - z
    x = d[["x1", "x4", "x5"]].to_numpy()
    assert not _simple_separated(d["y"].to_numpy(), x, np.ones(len(d), dtype=bool)).any()
    with (
        pytest.warns(SeparationWarning, match="separated by the regressors"),
        pytest.warns(CollinearityWarning, match="x5"),
    ):
        res = ppml(d, "y", ["x1", "x4", "x5"], ["exp", "imp"], separation=("fe", "simple", "relu"))
    assert res.dropped["separated_regressor"] == int(z.sum())
    assert not res.sample[z > 0].any()


def test_collinear_regressor_dropped() -> None:
    d = _panel(8)
    d["x1b"] = 2.0 * d["x1"]
    d["imp_const"] = d["imp"] * 0.5  # constant within importer: absorbed by its fixed effect
    with pytest.warns(CollinearityWarning, match="collinear"), pytest.warns(SeparationWarning):
        res = ppml(d, "y", ["x1", "x1b", "imp_const", "x2"], ["exp", "imp", "year"])
    assert res.dropped_regressors == ["x1b", "imp_const"]
    assert res.names == ["x1", "x2"]


def test_not_converged_warns() -> None:
    d = _panel(9)
    with (
        pytest.warns(PPMLConvergenceWarning, match="did not converge"),
        pytest.warns(SeparationWarning),
    ):
        res = ppml(d, "y", ["x1", "x2"], ["exp", "imp", "year"], maxiter=2)
    assert not res.converged
    assert res.iterations == 2


def test_bad_input() -> None:
    d = _panel(10)
    d.loc[5, "y"] = -1.0
    with pytest.raises(ModelSpecError, match="negative"):
        ppml(d, "y", ["x1"], ["exp"])
    with pytest.raises(ModelSpecError, match="nope"):
        ppml(d, "y", ["nope"], ["exp"])
    with pytest.raises(ModelSpecError, match="vcov"):
        ppml(d, "y", ["x1"], ["exp"], vcov="HC3")


def test_missing_rows_counted() -> None:
    d = _panel(11)
    d.loc[[0, 1, 2], "x1"] = np.nan
    with pytest.warns(SeparationWarning):
        res = ppml(d, "y", ["x1", "x2"], ["exp", "imp", "year"])
    assert res.dropped["missing"] == 3
    assert not res.sample[:3].any()


def test_result_tables() -> None:
    d = _panel(12)
    with pytest.warns(SeparationWarning):
        res = ppml(pl.from_pandas(d).lazy(), "y", ["x1", "x2"], ["exp", "imp"], vcov={"CR1": "cl"})
    tidy = res.tidy()
    assert tidy["term"].to_list() == ["x1", "x2"]
    assert tidy["estimate"].to_list() == pytest.approx(res.params.to_list())
    assert "PPML" in res.summary()
    assert "IRLS iterations" in res.summary()
    assert res.deviance > 0
    assert res.fitted.shape == (res.nobs,)


def test_fast_fe_dof_equals_cluster_fe_dof() -> None:
    """The O(n) subset and fe_dof on coded fixed effects equal the label-based definitions."""
    from tradeimpact.core.fixed_effects import FixedEffects, fe_dof

    d = _panel(13)
    fe = FixedEffects.from_columns([d["exp"], d["imp"], d["year"], d["exp"] * 100 + d["imp"]])
    keep = np.random.default_rng(0).random(len(d)) < 0.8
    sub = fe.subset(keep)
    ref_sub = FixedEffects.from_columns([fe.codes[keep, g] for g in range(fe.n_groupings)])
    np.testing.assert_array_equal(sub.codes, ref_sub.codes)
    labels = [d[c].to_numpy()[keep] for c in ("exp", "imp", "year")] + [
        (d["exp"] * 100 + d["imp"]).to_numpy()[keep]
    ]
    for cl in (
        [],
        [d["exp"].to_numpy()[keep]],
        [d["cl"].to_numpy()[keep], d["exp"].to_numpy()[keep]],
    ):
        assert fe_dof(sub, cl) == fe_dof(labels, cl)
    # the count by hand: exp and exp x imp are nested in exp clusters -> one level each
    n_exp, n_imp, n_year = (np.unique(a).size for a in labels[:3])
    n_pair = np.unique(labels[3]).size
    assert fe_dof(sub, []) == n_exp + n_imp + n_year + n_pair - 3
    assert fe_dof(sub, [labels[0]]) == 1 + n_imp + n_year + 1 - 3


def test_log_of_gravity_table3() -> None:
    """Santos Silva & Tenreyro (2006) Table 3 PPML (replication table): full sample and trade > 0."""
    sm = pytest.importorskip("statsmodels.api")
    d = pd.read_stata(shared_path("validation", "log_of_gravity", "Log of Gravity.dta"))
    xs = (
        "lypex lypim lyex lyim ldist border comlang colony landl_ex landl_im lremot_ex "
        "lremot_im comfrt_wto open_wto"
    ).split()
    res = ppml(d, "trade", xs, vcov="hetero")
    ref = {
        "lypex": 0.732, "lypim": 0.741, "lyex": 0.157, "lyim": 0.135, "ldist": -0.784,
        "border": 0.193, "comlang": 0.746, "colony": 0.025, "landl_ex": -0.863,
        "landl_im": -0.696, "lremot_ex": 0.660, "lremot_im": 0.562, "comfrt_wto": 0.181,
        "open_wto": -0.107, "(Intercept)": -32.326,
    }  # fmt: skip
    assert res.nobs == 18_360
    for term, value in ref.items():
        assert res.params[term] == pytest.approx(value, abs=5e-4)
    # Eicker-White: statsmodels GLM HC0 times the HC1 factor n/(n-k)
    x = sm.add_constant(d[xs].to_numpy(dtype=float))
    glm = sm.GLM(d["trade"].to_numpy(dtype=float), x, family=sm.families.Poisson()).fit(
        cov_type="HC0"
    )
    np.testing.assert_allclose(res.params.to_numpy(), glm.params, rtol=1e-6)
    n, k = len(d), x.shape[1]
    np.testing.assert_allclose(res.std_errors.to_numpy(), glm.bse * np.sqrt(n / (n - k)), rtol=1e-4)
    pos = ppml(d[d.trade > 0], "trade", xs, vcov="hetero")
    assert pos.nobs == 9_613
    for term, value in {"ldist": -0.776, "border": 0.202, "comlang": 0.751}.items():
        assert pos.params[term] == pytest.approx(value, abs=5e-4)
