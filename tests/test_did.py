"""did(): Card & Krueger, generated panels against pyfixest/linearmodels/statsmodels, DDD, bad inputs."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest
import statsmodels.formula.api as smf
from conftest import shared_path
from scipy import stats

from tradeimpact.errors import ModelSpecError
from tradeimpact.models.did import did

TOL = 1e-8


@pytest.fixture(scope="module")
def card_krueger() -> pl.DataFrame:
    path = shared_path("validation", "card_krueger", "card-krueger.csv")
    return pl.read_csv(path, null_values="NA", infer_schema_length=None)


def test_card_krueger_cell_means_and_did(card_krueger: pl.DataFrame) -> None:
    """Published cell means 20.44/21.03/23.33/21.17 and DiD 2.76 (Card & Krueger 1994, Table 3)."""
    cells = (
        card_krueger.drop_nulls("fte")
        .group_by("nj", "d")
        .agg(pl.col("fte").mean().alias("m"))
        .sort("nj", "d")["m"]
        .to_list()
    )
    assert [round(c, 2) for c in cells] == [23.33, 21.17, 20.44, 21.03]
    res = did(card_krueger, "fte", "nj", "d", outcome="level")
    assert res.effect == "nj:d"
    did_of_means = (cells[3] - cells[2]) - (cells[1] - cells[0])
    assert res.att == pytest.approx(did_of_means, abs=1e-10)
    assert round(res.att, 2) == 2.75 and abs(res.att - 2.76) < 0.01  # paper rounds cells first
    assert res.nobs == 794 and res.dropped["missing"] == 26


def test_card_krueger_matches_statsmodels(card_krueger: pl.DataFrame) -> None:
    """The 2x2 regression equals statsmodels OLS fte ~ nj * d: coefficients and HC1 / CR1 SEs.

    The paper's SE 1.36 is sqrt(1.25^2 + 0.54^2) from the two cell-mean changes (unequal
    variances, stores as the unit), not a regression SE; printed beside ours for the record.
    """
    pdf = card_krueger.drop_nulls("fte").to_pandas()
    ref = smf.ols("fte ~ nj + d + nj:d", data=pdf).fit(cov_type="HC1")
    res = did(card_krueger, "fte", "nj", "d", outcome="level", vcov="hetero")
    np.testing.assert_allclose(res.params.to_numpy(), ref.params.to_numpy(), rtol=TOL)
    np.testing.assert_allclose(res.std_errors.to_numpy(), ref.bse.to_numpy(), rtol=TOL)
    ref_cl = smf.ols("fte ~ nj + d + nj:d", data=pdf).fit(
        cov_type="cluster", cov_kwds={"groups": pdf["id"]}
    )
    res_cl = did(card_krueger, "fte", "nj", "d", outcome="level", vcov={"CR1": "id"})
    np.testing.assert_allclose(res_cl.std_errors.to_numpy(), ref_cl.bse.to_numpy(), rtol=TOL)
    print(
        f"\nCard-Krueger DiD {res.att:.4f}: SE HC1 {res.att_se:.4f}, CR1 by store "
        f"{res_cl.att_se:.4f} (G={res_cl.n_clusters['id']}); paper 1.36"
    )


def trade_panel(
    seed: int = 0, n_imp: int = 20, n_prod: int = 4, n_t: int = 16, effect: float = -0.3
) -> pl.DataFrame:
    """SYNTHETIC importer x product x month panel, importer 0 treated from month 8 on products 0-1."""
    rng = np.random.default_rng(seed)
    imp, prod, t = np.meshgrid(np.arange(n_imp), np.arange(n_prod), np.arange(n_t), indexing="ij")
    imp, prod, t = imp.ravel(), prod.ravel(), t.ravel()
    treat = (imp == 0).astype(int)
    post = (t >= 8).astype(int)
    restricted = (prod < 2).astype(int)
    log_v = (
        rng.normal(size=n_imp)[imp]
        + rng.normal(size=n_prod)[prod]
        + 0.1 * np.sin(t)
        + 0.05 * rng.normal(size=(n_imp, n_t))[imp, t]
        + effect * treat * post * restricted
        + 0.2 * rng.normal(size=imp.size)
    )
    return pl.DataFrame(
        {
            "importer": imp,
            "product": prod,
            "month": t,
            "treated": treat,
            "post": post,
            "restricted": restricted,
            "value": np.exp(log_v + 5),
            "w": rng.uniform(0.5, 2, imp.size),
            "x": rng.normal(size=imp.size),
        }
    )


@pytest.mark.parametrize(
    ("fe", "vcov", "weights"),
    [
        (None, {"CR1": "importer"}, None),
        (None, "twoway", "w"),
        ([["importer", "product"], "month"], {"CR1": "importer"}, "w"),
        ([["importer", "product"], ["product", "month"], "importer"], {"CR1": "importer"}, None),
    ],
)
def test_twfe_did_matches_pyfixest(fe: list | None, vcov: object, weights: str | None) -> None:
    """TWFE DiD (2-3 FE, interactions, weights, one-/two-way CR1) equals pyfixest feols to 1e-8."""
    pf = pytest.importorskip("pyfixest")
    data = trade_panel().filter(pl.col("restricted") == 1)
    res = did(
        data,
        "value",
        "treated",
        "post",
        "importer",
        time="month",
        fe=fe,
        controls=["x"],
        weights=weights,
        vcov=vcov,
        outcome="log",
    )  # type: ignore[arg-type]
    pdf = data.to_pandas()
    pdf["ly"] = np.log(pdf["value"])
    pdf["tp"] = pdf["treated"] * pdf["post"]
    fe_txt = (
        "importer + month"
        if fe is None
        else " + ".join(f if isinstance(f, str) else "^".join(f) for f in fe)
    )
    pv = {"CRV1": "importer+month"} if vcov == "twoway" else {"CRV1": "importer"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pf.feols(f"ly ~ tp + x | {fe_txt}", pdf, vcov=pv, weights=weights)
    assert res.names == ["treated:post", "x"]
    np.testing.assert_allclose(res.params.to_numpy(), ref.coef().to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(res.std_errors.to_numpy(), ref.se().to_numpy(), rtol=TOL)
    np.testing.assert_allclose(res.pvalues.to_numpy(), ref.pvalue().to_numpy(), rtol=1e-6)


def test_twfe_did_matches_linearmodels() -> None:
    """Entity + time effects, clustered by entity: PanelOLS with auto_df=False, count_effects=False
    and small_sample='fixest' with k = regressors is what we compute with our fixest rule plus the
    time effects counted; compare the coefficient to 1e-10 and the covariance through the rule."""
    from linearmodels import PanelOLS

    data = trade_panel().filter(pl.col("restricted") == 1, pl.col("product") == 0)
    res = did(
        data,
        "value",
        "treated",
        "post",
        "importer",
        time="month",
        vcov={"CR1": "importer"},
        outcome="log",
    )
    pdf = data.to_pandas().set_index(["importer", "month"])
    pdf["tp"] = pdf["treated"] * pdf["post"]
    ref = PanelOLS(np.log(pdf["value"]), pdf[["tp"]], entity_effects=True, time_effects=True).fit(
        cov_type="clustered",
        cluster_entity=True,
        debiased=True,
        group_debias=True,
        auto_df=False,
        count_effects=False,
    )
    assert res.att == pytest.approx(float(ref.params["tp"]), rel=1e-10)
    n, k_ours = res.nobs, res.extra["df_k"]  # k = 1 regressor + 16 month effects (unit nested)
    assert k_ours == 1 + 16
    scale = (n - 1) / (n - k_ours) / ((n - 1) / (n - 1))
    assert res.att_se**2 == pytest.approx(float(ref.cov.iloc[0, 0]) * scale, rel=TOL)


def test_triple_difference_matches_pyfixest() -> None:
    """DDD: all lower-order terms built by did(); equals the hand-written pyfixest regression."""
    pf = pytest.importorskip("pyfixest")
    data = trade_panel()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # absorbed lower-order terms drop silently
        res = did(
            data,
            "value",
            "treated",
            "post",
            "importer",
            time="month",
            ddd="restricted",
            fe=[["importer", "product"], ["importer", "month"], ["product", "month"]],
            outcome="log",
        )
    assert res.effect == "treated:post:restricted"
    assert res.names == ["treated:post:restricted"]
    assert set(res.dropped_regressors) == {
        "treated",
        "post",
        "restricted",
        "treated:post",
        "treated:restricted",
        "post:restricted",
    }
    pdf = data.to_pandas()
    pdf["ly"] = np.log(pdf["value"])
    pdf["tpr"] = pdf["treated"] * pdf["post"] * pdf["restricted"]
    ref = pf.feols(
        "ly ~ tpr | importer^product + importer^month + product^month",
        pdf,
        vcov={"CRV1": "importer"},
    )
    assert res.att == pytest.approx(float(ref.coef().iloc[0]), rel=1e-9)
    assert res.att_se == pytest.approx(float(ref.se().iloc[0]), rel=TOL)
    assert res.att == pytest.approx(-0.3, abs=0.1)
    # with only importer and month effects the lower-order terms are estimated
    res2 = did(
        data, "value", "treated", "post", "importer", time="month", ddd="restricted", outcome="log"
    )
    assert "treated:restricted" in res2.names and "post:restricted" in res2.names
    ref2 = pf.feols(
        "ly ~ restricted + treated:post + treated:restricted + post:restricted + tpr"
        " | importer + month",
        pdf,
        vcov={"CRV1": "importer"},
    )
    assert res2.att == pytest.approx(float(ref2.coef()["tpr"]), rel=1e-9)
    assert res2.att_se == pytest.approx(float(ref2.se()["tpr"]), rel=TOL)


def test_ppml_outcome_matches_pyfixest_fepois() -> None:
    """outcome="ppml" keeps zeros and equals pyfixest fepois (coefficient and CR1 SE)."""
    pf = pytest.importorskip("pyfixest")
    data = trade_panel().filter(pl.col("restricted") == 1)
    data = data.with_columns(
        pl.when(pl.int_range(pl.len()) % 13 == 0)
        .then(0.0)
        .otherwise(pl.col("value"))
        .alias("value")
    )
    res = did(data, "value", "treated", "post", "importer", time="month", outcome="ppml")
    pdf = data.to_pandas()
    pdf["tp"] = pdf["treated"] * pdf["post"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pf.fepois("value ~ tp | importer + month", pdf, vcov={"CRV1": "importer"})
    assert res.names == ["treated:post"] and res.depvar == "value"
    assert res.nobs == data.height  # zeros kept
    assert res.att == pytest.approx(float(ref.coef().iloc[0]), rel=1e-6)
    assert res.att_se == pytest.approx(float(ref.se().iloc[0]), rel=1e-5)
    with pytest.raises(ModelSpecError, match="Driscoll-Kraay"):
        did(data, "value", "treated", "post", "importer", time="month", outcome="ppml", vcov="DK")


def test_driscoll_kraay_matches_linearmodels() -> None:
    """did(vcov="DK") equals PanelOLS cov_type="kernel" (Bartlett, same bandwidth, debiased=False,
    count_effects=False)."""
    from linearmodels import PanelOLS

    data = trade_panel().filter(pl.col("restricted") == 1, pl.col("product") == 0)
    res = did(data, "value", "treated", "post", "importer", time="month", vcov="DK", outcome="log")
    pdf = data.to_pandas().set_index(["importer", "month"])
    pdf["tp"] = pdf["treated"] * pdf["post"]
    ref = PanelOLS(np.log(pdf["value"]), pdf[["tp"]], entity_effects=True, time_effects=True).fit(
        cov_type="kernel", debiased=False, auto_df=False, count_effects=False
    )
    assert res.att == pytest.approx(float(ref.params["tp"]), rel=1e-10)
    assert res.att_se == pytest.approx(float(ref.std_errors["tp"]), rel=TOL)
    assert res.vcov_type.startswith("Driscoll-Kraay (Bartlett, bandwidth 2, T=16)")


def test_unbalanced_panel_allowed() -> None:
    """Unbalanced panels are estimated on the rows present (equal to pyfixest on the same rows)."""
    pf = pytest.importorskip("pyfixest")
    data = trade_panel().filter(pl.col("restricted") == 1, pl.col("product") == 0)
    data = data.sample(fraction=0.8, seed=3)
    res = did(data, "value", "treated", "post", "importer", time="month", outcome="log")
    pdf = data.to_pandas()
    pdf["ly"] = np.log(pdf["value"])
    pdf["tp"] = pdf["treated"] * pdf["post"]
    ref = pf.feols(
        "ly ~ tp | importer + month",
        pdf,
        vcov={"CRV1": "importer"},
        demeaner=pf.MapDemeaner(fixef_tol=1e-13),
    )
    assert res.att == pytest.approx(float(ref.coef().iloc[0]), rel=1e-9)
    assert res.att_se == pytest.approx(float(ref.se().iloc[0]), rel=TOL)


def test_log_outcome_zeros_and_negatives() -> None:
    data = trade_panel().filter(pl.col("restricted") == 1, pl.col("product") == 0)
    data = data.with_columns(
        pl.when(pl.int_range(pl.len()) % 17 == 0)
        .then(0.0)
        .otherwise(pl.col("value"))
        .alias("value")
    )
    res = did(data, "value", "treated", "post", "importer", time="month", outcome="log")
    n_zero = int((data["value"] == 0).sum())
    assert res.dropped["zeros_in_log"] == n_zero > 0
    assert res.nobs == data.height - n_zero - res.dropped.get("singletons", 0)
    assert "zeros_in_log" in res.summary()
    bad = data.with_columns(
        pl.when(pl.int_range(pl.len()) == 5).then(-1.0).otherwise(pl.col("value")).alias("value")
    )
    with pytest.raises(ModelSpecError, match=r"negative value.*row 5"):
        did(bad, "value", "treated", "post", "importer", time="month", outcome="log")


def test_bad_inputs() -> None:
    data = trade_panel().filter(pl.col("restricted") == 1, pl.col("product") == 0)
    with pytest.raises(ModelSpecError, match="no control units"):
        did(
            data.with_columns(pl.lit(1).alias("treated")),
            "value",
            "treated",
            "post",
            "importer",
            time="month",
            outcome="log",
        )
    with pytest.raises(ModelSpecError, match="no treated units"):
        did(
            data.with_columns(pl.lit(0).alias("treated")),
            "value",
            "treated",
            "post",
            "importer",
            time="month",
            outcome="log",
        )
    no_pre = data.filter(~((pl.col("importer") == 0) & (pl.col("post") == 0)))
    with pytest.raises(ModelSpecError, match=r"treated unit\(s\) \[0\] have no pre-period"):
        did(no_pre, "value", "treated", "post", "importer", time="month", outcome="log")
    with pytest.raises(ModelSpecError, match="collinear with the fixed effects"):
        did(
            data,
            "value",
            "treated",
            "post",
            "importer",
            time="month",
            fe=[["importer", "post"], "month"],
            outcome="log",
        )  # importer x post absorbs the effect
    with pytest.raises(ModelSpecError, match="must be 0/1"):
        did(
            data.with_columns(pl.col("post") * 2),
            "value",
            "treated",
            "post",
            "importer",
            time="month",
            outcome="log",
        )
    with pytest.raises(ModelSpecError, match="not in the data"):
        did(data, "value", "treated", "post", "nope", outcome="log")
    with pytest.raises(ModelSpecError, match="post"):
        did(data, "value", "treated", outcome="log")


def test_post_from_event_date_and_pandas_input() -> None:
    data = trade_panel().filter(pl.col("restricted") == 1)
    a = did(data, "value", "treated", "post", "importer", time="month", outcome="log")
    b = did(
        data.to_pandas(),
        "value",
        "treated",
        None,
        "importer",
        time="month",
        event_date=8,
        outcome="log",
    )
    assert a.att == pytest.approx(b.att, rel=1e-12)
    assert a.att_se == pytest.approx(b.att_se, rel=1e-12)


def test_headline_inference_attached() -> None:
    """Each inference method becomes the headline interval of the effect and says so."""
    data = trade_panel(n_imp=10).filter(pl.col("restricted") == 1, pl.col("product") == 0)
    base = did(data, "value", "treated", "post", "importer", time="month", outcome="log")
    assert base.inference.startswith("analytic CR1 clustered by importer")
    wild = did(
        data,
        "value",
        "treated",
        "post",
        "importer",
        time="month",
        inference="wild",
        wild={"weights_type": "webb", "B": 999, "seed": 1},
        outcome="log",
    )
    assert "wild cluster bootstrap" in wild.inference
    wb = wild.attached["treated:post"].result
    assert wild.att_pvalue == wb.pvalue
    assert wild.att_conf_int(0.9) == pytest.approx(wb.conf_int(0.9))
    tidy = wild.tidy()
    assert tidy.filter(pl.col("term") == "treated:post")["inference"][0] == wild.inference
    ri = did(
        data, "value", "treated", "post", "importer", time="month", inference="ri", outcome="log"
    )
    r = ri.attached["treated:post"].result
    assert r.estimate == pytest.approx(base.att, rel=1e-8)
    assert ri.att_pvalue == pytest.approx(r.pvalue)
    assert ri.att_pvalue >= 1 / 10  # one treated among 10 units: smallest attainable p
    assert "randomization" in ri.inference
    ct = did(
        data,
        "value",
        "treated",
        "post",
        "importer",
        time="month",
        inference="conley_taber",
        outcome="log",
    )
    assert "Conley" in ct.inference
    assert ct.att_conf_int() == pytest.approx(ct.attached["treated:post"].result.conf_int())
    # the analytic figures stay available
    assert ri.analytic_pvalues["treated:post"] == pytest.approx(base.att_pvalue)


def test_result_api() -> None:
    """linearmodels-style accessors, tidy schema, headline bookkeeping, Wald test, summary."""
    data = trade_panel().filter(pl.col("restricted") == 1)
    res = did(
        data, "value", "treated", "post", "importer", time="month", controls=["x"], outcome="log"
    )
    assert list(res.params.index) == ["treated:post", "x"]
    np.testing.assert_allclose(res.tstats, res.params / res.std_errors)
    ci90, ci95 = res.conf_int(0.90), res.conf_int(0.95)
    assert (ci95["lower"] < ci90["lower"]).all() and (ci95["upper"] > ci90["upper"]).all()
    crit = stats.t.ppf(0.975, res.df_inference)
    np.testing.assert_allclose(ci95["upper"] - res.params, crit * res.std_errors)
    tidy = res.tidy()
    assert tidy.columns == [
        "term",
        "estimate",
        "std_error",
        "statistic",
        "p_value",
        "conf_low",
        "conf_high",
        "inference",
    ]
    assert tidy.height == 2
    assert res.fixed_effects == ["importer", "month"]
    assert res.dropped["singletons"] == 0 and res.dropped["zeros_in_log"] == 0
    # a single-restriction Wald test is the squared t statistic
    w = res.wald_test(["treated:post"])
    assert w.statistic == pytest.approx(res.tstats["treated:post"] ** 2, rel=1e-10)
    assert w.pvalue == pytest.approx(res.pvalues["treated:post"], rel=1e-8)
    # results are immutable after fitting: no public attach; with_headline checks the term
    assert not hasattr(res, "attach_inference")
    with pytest.raises(ModelSpecError, match="not a coefficient"):
        res.with_headline("nope", object(), method_key="x")
    text = res.summary()
    assert "treated:post" in text and "CR1 clustered by importer (G=20" in text
    ax = res.plot()
    assert ax.get_yticklabels()[0].get_text() == "treated:post"


def test_triple_difference_placebo_inference() -> None:
    """DDD with unit x product, unit x month and product x month effects: the placebo routines
    reproduce the DDD estimate (placebo treatment = 1[unit] x post x restricted)."""
    data = trade_panel(n_imp=25)
    fe = [["importer", "product"], ["importer", "month"], ["product", "month"]]
    ri = did(
        data,
        "value",
        "treated",
        "post",
        "importer",
        time="month",
        ddd="restricted",
        fe=fe,
        inference="ri",
        outcome="log",
    )
    r = ri.attached[ri.effect].result
    assert r.estimate == pytest.approx(ri.att, rel=1e-8)
    assert r.p_denominator == 25 and ri.att_pvalue == pytest.approx(1 / 25)
    lo, hi = ri.att_conf_int()
    assert np.isfinite(lo) and np.isfinite(hi) and lo < ri.att < hi
    ct = did(
        data,
        "value",
        "treated",
        "post",
        "importer",
        time="month",
        ddd="restricted",
        fe=fe,
        inference="conley_taber",
        outcome="log",
    )
    assert "Conley-Taber" in ct.inference
    with pytest.raises(ModelSpecError, match="absorbed by the fixed effects"):
        did(
            data,
            "value",
            "treated",
            "post",
            "importer",
            time="month",
            ddd="restricted",
            inference="ri",
            outcome="log",
        )


def test_staggered_unit_specific_post_keeps_the_effect() -> None:
    """Issue 10: a post that is 0 for every control row is the treatment itself (fixest: y ~ post).

    Before the fix ``treat:post`` was dropped as collinear with ``post`` and a ModelSpecError
    raised; now ``post`` is left out (listed in ``dropped_regressors``) and the effect equals
    pyfixest ``feols("y ~ post | u + t")``.
    """
    pf = pytest.importorskip("pyfixest")
    rng = np.random.default_rng(1)
    u = np.repeat(np.arange(4), 4)
    t = np.tile(np.arange(4), 4)
    post = (((u == 0) & (t >= 2)) | ((u == 1) & (t >= 3))).astype(int)
    df = pl.DataFrame({"u": u, "t": t, "treat": (u < 2).astype(int), "post": post,
                       "y": rng.normal(size=16)})  # fmt: skip
    res = did(df, "y", "treat", "post", "u", time="t", outcome="level")
    ref = pf.feols("y ~ post | u + t", df.to_pandas(), vcov={"CRV1": "u"})
    assert res.att == pytest.approx(float(ref.coef().iloc[0]), rel=TOL)
    assert res.att_se == pytest.approx(float(ref.se().iloc[0]), rel=TOL)
    assert "post" in res.dropped_regressors and res.effect == "treat:post"


def test_castle_doctrine_staggered_matches_pyfixest() -> None:
    """Castle-doctrine panel (Cheng & Hoekstra 2013; staggered): 0.0694 as pyfixest feols."""
    pf = pytest.importorskip("pyfixest")
    path = shared_path("validation", "castle", "castle.csv")
    df = pl.read_csv(path).with_columns(pl.col("effyear").is_not_null().cast(pl.Int8).alias("tr"))
    res = did(df, "l_homicide", "tr", "post", "sid", time="year", outcome="level", inference=None)
    ref = pf.feols("l_homicide ~ post | sid + year", df.to_pandas(), vcov={"CRV1": "sid"})
    assert res.att == pytest.approx(float(ref.coef().iloc[0]), rel=TOL)
    assert res.att == pytest.approx(0.0694, abs=5e-5)
    assert res.att_se == pytest.approx(float(ref.se().iloc[0]), rel=TOL)


def test_ri_self_check_holds_on_a_large_unbalanced_panel() -> None:
    """Issue 10: from ~3e5 rows the RI re-estimate differed from the model in the 5th-7th digit.

    The closed-form placebo moments are now exact (no iterative demeaning of y), so
    randomization_inference and did(inference="ri") agree with the fit (and with an exact sparse
    normal-equations solve) to 1e-8 relative.
    """
    from scipy import sparse

    from tradeimpact.inference.randomization import randomization_inference

    rng = np.random.default_rng(0)
    nu, nt = 3_000, 120
    u = np.repeat(np.arange(nu), nt)
    t = np.tile(np.arange(nt), nu)
    keep = rng.random(u.size) < 0.85
    u, t = u[keep], t[keep]
    post = (t >= 60).astype(float)
    y = rng.normal(size=nu)[u] + rng.normal(size=nt)[t] + 0.01 * t * (u % 7)
    y = y + rng.normal(size=u.size)
    df = pl.DataFrame({"u": u, "t": t, "y": y, "treat": (u < 3).astype(float), "post": post})
    # exact: y on [D, period dummies] within units (sparse normal equations)
    n = u.size
    d = (u < 3) * post
    um = sparse.csr_matrix((np.ones(n), (np.arange(n), u)), shape=(n, nu))
    tm = sparse.csr_matrix((np.ones(n), (np.arange(n), t)), shape=(n, nt))[:, 1:]
    x = sparse.hstack([sparse.csr_matrix(d[:, None]), tm]).tocsr()
    size = np.bincount(u, minlength=nu).astype(float)
    ux = (um.T @ x).toarray()
    xx = (x.T @ x).toarray() - ux.T @ (ux / size[:, None])
    xy = x.T @ y - ux.T @ ((um.T @ y) / size)
    exact = float(np.linalg.solve(xx, xy)[0])
    direct = randomization_inference(df, "y", "u", "t", [0, 1, 2], "post", n_permutations=49)
    assert direct.estimate == pytest.approx(exact, rel=1e-10)
    res = did(df, "y", "treat", "post", "u", time="t", outcome="level", inference="ri",
              ri={"n_permutations": 49})  # fmt: skip
    assert res.att == pytest.approx(exact, rel=1e-8)
    assert res.attached["treat:post"].result.estimate == pytest.approx(res.att, rel=1e-8)


def _one_treated_panel(noisy: float = 3.0, seed: int = 3, n_treated: int = 1) -> pl.DataFrame:
    """SYNTHETIC 20 x 60 panel, the first ``n_treated`` units treated from t=30, no effect."""
    rng = np.random.default_rng(seed)
    n_u, n_t = 20, 60
    u = np.repeat(np.arange(n_u), n_t)
    t = np.tile(np.arange(n_t), n_u)
    e = rng.normal(size=(n_u, n_t))
    e[:n_treated] *= noisy
    y = rng.normal(size=n_u)[u] + rng.normal(size=n_t)[t] + e.ravel()
    return pl.DataFrame({"u": u, "t": t, "y": y, "post": (t >= 30).astype(float),
                         "treat": (u < n_treated).astype(float)})  # fmt: skip


def test_default_headline_is_studentized_ri_with_cr1_kept() -> None:
    """Issue 10: no inference= and <= 5 treated units -> studentized RI headline; CR1 stays in
    params/std_errors/pvalues/conf_int (unchanged numbers)."""
    from tradeimpact.inference.studentized import studentized_randomization_inference

    df = _one_treated_panel()
    res = did(df, "y", "treat", "post", "u", time="t", outcome="level")
    cr1 = did(df, "y", "treat", "post", "u", time="t", outcome="level", inference="cr1")
    ref = studentized_randomization_inference(df, "y", "u", "t", 0, "post")
    h = res.headline
    assert "studentized randomization inference" in h.method
    assert h.pvalue == ref.pvalue and h.p_fraction == ref.p_fraction
    assert h.conf_int(0.9) == ref.conf_int(0.9)
    assert res.att_pvalue == res.analytic_pvalues["treat:post"] == cr1.att_pvalue
    assert res.att_conf_int() == cr1.att_conf_int() and not res.attached
    assert h.cr1_pvalue == pytest.approx(res.att_pvalue) and "CR1" in h.describe()
    assert cr1.headline.method_key == "cr1" and "CR1" in cr1.headline.method
    row = h.tidy().row(0, named=True)
    assert row["p_fraction"] == f"{ref.p_numerator}/{ref.p_denominator}"
    # six treated units: CR1 headline, with the reason
    six = did(_one_treated_panel(n_treated=6), "y", "treat", "post", "u", time="t",
              outcome="level")  # fmt: skip
    assert six.headline.method_key == "cr1" and "6 treated units" in six.headline.note
    # explicit "ri" keeps replacing pvalues exactly as before, and is the headline
    ri = did(df, "y", "treat", "post", "u", time="t", outcome="level", inference="ri")
    assert ri.att_pvalue == ri.headline.pvalue and ri.headline.same_test_as


def test_explicit_new_methods_attach() -> None:
    df = _one_treated_panel(seed=4)
    for name, key in [("ri_t", "studentized"), ("conley_taber_fp", "Ferman-Pinto")]:
        res = did(df, "y", "treat", "post", "u", time="t", outcome="level", inference=name)
        assert key in res.inference and res.att_pvalue == res.headline.pvalue
    cr1t = did(df, "y", "treat", "post", "u", time="t", outcome="level", inference="ri_t",
               ri={"scale": "cr1"})  # fmt: skip
    ri = did(df, "y", "treat", "post", "u", time="t", outcome="level", inference="ri")
    assert cr1t.att_pvalue == ri.att_pvalue  # one treated unit, balanced: the same test


def test_size_check_on_the_users_panel() -> None:
    """Headline (studentized RI) vs CR1 on a panel whose treated unit is 3x noisier."""
    df = _one_treated_panel(seed=3)
    res = did(df, "y", "treat", "post", "u", time="t", outcome="level")
    sc = res.size_check()
    assert sc.n == 25 + 19 and sc.counts("unit")[1] == 19
    assert sc.k == int((sc.runs["pvalue"] <= 0.05).sum())
    assert sc.sentence().startswith(
        f"in this panel the test rejected at 5% in {sc.k} of 44 placebo runs"
    )
    # the first date run by hand: pre-period rows, pseudo event at t=3
    from tradeimpact.inference.studentized import studentized_randomization_inference

    pre = df.filter(pl.col("post") == 0).with_columns(
        (pl.col("t") >= 3).cast(pl.Float64).alias("p3")
    )
    by_hand = studentized_randomization_inference(pre, "y", "u", "t", 0, "p3").pvalue
    assert sc.runs.filter(pl.col("placebo") == "3")["pvalue"][0] == pytest.approx(by_hand)
    # the frame-level version (for tests called on a frame, as the case studies do) agrees
    from tradeimpact.inference.headline import size_check_panel

    sp = size_check_panel(df, "y", "u", "t", 0, "post")
    assert (sp.k, sp.n) == (sc.k, sc.n)
    np.testing.assert_allclose(sp.runs["pvalue"].to_numpy(), sc.runs["pvalue"].to_numpy())
    cr1 = did(df, "y", "treat", "post", "u", time="t", outcome="level", inference="cr1")
    sc_cr1 = cr1.size_check()
    assert sc_cr1.rate > 0.3 and sc.rate < sc_cr1.rate
    lo, hi = sc_cr1.conf_int
    assert lo < sc_cr1.rate < hi


def test_conley_taber_fp_group_sizes_from_a_column() -> None:
    """did(inference="conley_taber_fp", conley_taber={"group_sizes": col}) = conley_taber_panel."""
    from tradeimpact.inference.conley_taber import conley_taber_panel

    df = _one_treated_panel(seed=8)
    m = np.random.default_rng(1).integers(10, 500, size=20).astype(float)
    df = df.with_columns(pl.Series("M", m[df["u"].to_numpy()]))
    res = did(df, "y", "treat", "post", "u", time="t", outcome="level",
              inference="conley_taber_fp", conley_taber={"group_sizes": "M"})  # fmt: skip
    ref = conley_taber_panel(df, "y", "u", "t", 0, "post", correction="ferman_pinto",
                             group_sizes=df["M"].to_numpy())  # fmt: skip
    assert res.headline.pvalue == ref.pvalue and res.att_conf_int() == ref.conf_int()
    assert "A + B/M" in res.headline.method


def test_outcome_in_levels_by_default_and_cluster_shorthand() -> None:
    """did() fits the outcome as it is unless a log is asked for (issue 13): the default equals
    pyfixest ``feols("value ~ tp | importer + month")`` on the levels; ``cluster=`` is
    ``vcov={"CR1": ...}``; a text outcome is an error naming the column."""
    pf = pytest.importorskip("pyfixest")
    data = trade_panel(seed=3).filter(pl.col("restricted") == 1)
    res = did(data, "value", "treated", "post", "importer", time="month", inference="cr1")
    assert res.depvar == "value" and res.design_record is not None
    assert res.design_record.outcome == "level"
    pdf = data.to_pandas()
    pdf["tp"] = pdf["treated"] * pdf["post"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyfixest's own notices; not ours
        ref = pf.feols("value ~ tp | importer + month", pdf, vcov={"CRV1": "importer"})
    assert res.att == pytest.approx(float(ref.coef()["tp"]), rel=1e-10)
    assert res.att_se == pytest.approx(float(ref.se()["tp"]), rel=TOL)
    logged = did(data, "value", "treated", "post", "importer", time="month", outcome="log")
    assert logged.depvar == "log(value)" and logged.att != pytest.approx(res.att)
    by_cluster = did(data, "value", "treated", "post", "importer", time="month",
                     cluster="product", inference="cr1")  # fmt: skip
    by_vcov = did(data, "value", "treated", "post", "importer", time="month",
                  vcov={"CR1": "product"}, inference="cr1")  # fmt: skip
    assert by_cluster.att_se == by_vcov.att_se and by_cluster.vcov_type == by_vcov.vcov_type
    with pytest.raises(ModelSpecError, match="vcov= or cluster="):
        did(data, "value", "treated", "post", "importer", vcov="hetero", cluster="importer")
    text = data.with_columns(pl.col("value").cast(pl.String).alias("value_text"))
    with pytest.raises(ModelSpecError, match="'value_text'"):
        did(text, "value_text", "treated", "post", "importer", time="month")
