"""Wild cluster bootstrap against pyfixest's ``wildboottest`` (which calls the ``wildboottest`` package).

Draws: the same seed gives the same draws (both use ``numpy.random.default_rng(seed).choice``),
so the p-values agree exactly, not only within Monte Carlo error; with 8 clusters and Rademacher
weights all 2^8 sign vectors are enumerated by both (deterministic, exact test). The reference
p-value is ``mean(|t| < |t*|)`` with floating-point ties at ``|t*| = |t|`` (the draws ``v = +-1``);
ours reports both tie rules, ``pvalue_strict <= p_ref <= pvalue``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from tradeimpact.errors import ModelSpecError
from tradeimpact.inference.wild_bootstrap import (
    BootstrapDraws,
    draw_weights,
    wild_cluster_bootstrap,
)
from tradeimpact.models.linear import feols

pf = pytest.importorskip("pyfixest")
pytest.importorskip("wildboottest")


def small_panel(seed: int = 3, n_units: int = 8, n_periods: int = 10) -> pd.DataFrame:
    """SYNTHETIC panel: 8 clusters, unit-level shocks."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "unit": np.repeat(np.arange(n_units), n_periods),
            "time": np.tile(np.arange(n_periods), n_units),
        }
    )
    n = len(df)
    df["x1"] = rng.normal(size=n)
    df["x2"] = rng.normal(size=n)
    df["y"] = 0.2 * df["x1"] + df["x2"] + rng.normal(size=n) + rng.normal(size=n_units)[df["unit"]]
    return df


def ours(df: pd.DataFrame, fe: list[str], **kw: object):  # type: ignore[no-untyped-def]
    res = feols(df, "y", ["x1", "x2"], fe=fe, vcov={"CR1": "unit"})
    d = res.extra["design"]
    return wild_cluster_bootstrap(
        d.x_t,
        d.y_t,
        df["unit"].to_numpy()[d.keep],
        "x1",
        names=d.names,
        fe=d.fe,
        **kw,  # type: ignore[arg-type]
    )


def reference(df: pd.DataFrame, fe: list[str], y: str = "y", **kw: object) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = pf.feols(f"{y} ~ x1 + x2 | {' + '.join(fe)}", df, vcov={"CRV1": "unit"})
        out = m.wildboottest(param="x1", cluster="unit", **kw)
    return float(out["Pr(>|t|)"])


@pytest.mark.parametrize("fe", [["unit"], ["unit", "time"]])
def test_full_enumeration_exact(fe: list[str]) -> None:
    """G = 8, Rademacher, B >= 2^8: both enumerate all 256 draws: identical p-values."""
    wb = ours(small_panel(), fe, B=9999, weights_type="rademacher")
    assert wb.full_enumeration and wb.B == 256
    ref = reference(small_panel(), fe, reps=9999, weights_type="rademacher", seed=1)
    assert wb.pvalue_strict - 1e-12 <= ref <= wb.pvalue + 1e-12
    # the ties are the two draws v = +1 and v = -1 (|t*| = |t| exactly)
    assert wb.pvalue - wb.pvalue_strict == pytest.approx(2 / 256)


@pytest.mark.parametrize(("weights_type", "B"), [("rademacher", 199), ("webb", 999)])
@pytest.mark.parametrize("fe", [["unit"], ["unit", "time"]])
def test_random_draws_same_seed(fe: list[str], weights_type: str, B: int) -> None:
    """Same seed, same draws: the p-value equals pyfixest's exactly (up to ties)."""
    df = small_panel()
    wb = ours(df, fe, B=B, weights_type=weights_type, seed=42)
    assert not wb.full_enumeration and wb.B == B
    ref = reference(df, fe, reps=B, weights_type=weights_type, seed=42)
    assert wb.pvalue_strict - 1e-12 <= ref <= wb.pvalue + 1e-12


def test_ci_by_test_inversion_against_reference() -> None:
    """At each CI end, pyfixest's bootstrap test of H0: b = r (run on y - r*x1, H0: b = 0, with the
    same enumerated draws) rejects just outside and does not reject just inside."""
    df = small_panel()
    fe = ["unit", "time"]
    wb = ours(df, fe, B=9999, weights_type="rademacher")
    lo, hi = wb.conf_int(0.90)
    assert lo < wb.estimate < hi
    eps = 1e-4 * wb.std_error
    for r, inside in [(lo + eps, True), (lo - eps, False), (hi - eps, True), (hi + eps, False)]:
        shifted = df.assign(y_r=df["y"] - r * df["x1"])
        p_ref = reference(shifted, fe, y="y_r", reps=9999, weights_type="rademacher", seed=1)
        p_ours = wb.pvalue_at(r)
        assert abs(p_ours - p_ref) <= 2 / 256 + 1e-12
        assert (p_ours > 0.10) is inside
    # 95% interval is wider than the 90% one
    lo95, hi95 = wb.conf_int(0.95)
    assert lo95 <= lo and hi95 >= hi


def test_weights_and_errors() -> None:
    v, full = draw_weights(3, 10, "rademacher", 0)
    assert full and v.shape == (3, 8)
    v, full = draw_weights(20, 50, "webb", 0)
    assert not full and v.shape == (20, 50)
    assert set(np.round(np.abs(v.ravel()) ** 2, 10)) <= {0.5, 1.0, 1.5}
    with pytest.raises(ModelSpecError):
        draw_weights(20, 50, "mammen", 0)  # type: ignore[arg-type]
    df = small_panel()
    with pytest.raises(ModelSpecError, match="two clusters"):
        wild_cluster_bootstrap(
            df[["x1", "x2"]].to_numpy(), df["y"].to_numpy(), np.zeros(len(df)), 0
        )


def test_weighted_fixed_effects_equal_explicit_dummies() -> None:
    """WLS with absorbed (non-nested) time effects = the same bootstrap with the time dummies as
    explicit regressors and no absorption: checks the weighted projection of the bootstrap
    residuals on the fixed effects."""
    df = small_panel()
    rng = np.random.default_rng(0)
    df["w"] = rng.uniform(0.5, 2.0, len(df))
    res = feols(df, "y", ["x1", "x2"], fe=["time"], vcov={"CR1": "unit"}, weights="w")
    d = res.extra["design"]
    absorbed = wild_cluster_bootstrap(
        d.x_t,
        d.y_t,
        df["unit"].to_numpy(),
        "x1",
        names=d.names,
        fe=d.fe,
        weights=d.weights,
        B=999,
        weights_type="webb",
        seed=7,
    )
    dummies = pd.get_dummies(df["time"], dtype=float).to_numpy()
    x_full = np.column_stack([df[["x1", "x2"]].to_numpy(), dummies])
    explicit = wild_cluster_bootstrap(
        x_full,
        df["y"].to_numpy(),
        df["unit"].to_numpy(),
        0,
        weights=df["w"].to_numpy(),
        B=999,
        weights_type="webb",
        seed=7,
    )
    assert absorbed.estimate == pytest.approx(explicit.estimate, rel=1e-9)
    assert absorbed.pvalue == pytest.approx(explicit.pvalue, abs=1e-12)
    assert absorbed.conf_int() == pytest.approx(explicit.conf_int(), rel=1e-6)
    _, tb_a = absorbed._engine.tstats(0.1)
    _, tb_e = explicit._engine.tstats(0.1)
    np.testing.assert_allclose(tb_a, tb_e, rtol=1e-6)


# -- the blocked, low-rank algebra ---------------------------------------------------------------


def wide_panel(seed: int = 5, n_units: int = 30, n_periods: int = 10) -> pd.DataFrame:
    """SYNTHETIC panel with more clusters than time effects (the low-rank path: m = k + T <= G),
    a grouping nested in the units (``half``) and weights."""
    df = small_panel(seed, n_units, n_periods)
    df["half"] = df["unit"] * 2 + (df["time"] >= n_periods // 2)
    df["region"] = df["unit"] % 3  # not nested in the unit clusters' complement: spans clusters
    df["w"] = np.random.default_rng(seed + 1).uniform(0.5, 2.0, len(df))
    return df


@pytest.mark.parametrize(("weights_type", "B"), [("rademacher", 199), ("webb", 999)])
def test_low_rank_with_time_effects_equals_pyfixest(weights_type: str, B: int) -> None:
    """G = 30 clusters, unit (nested) and time (not nested) effects: the low-rank algebra
    ``diag(p) - F A^+ H`` gives pyfixest's p-value (same seed, same draws) up to ties."""
    df = wide_panel()
    res = feols(df, "y", ["x1", "x2"], fe=["unit", "time"], vcov={"CR1": "unit"})
    wb = wild_cluster_bootstrap(res, param="x1", B=B, weights_type=weights_type, seed=11)
    assert wb.algebra == "low-rank" and wb.draw_order == "wildboottest"
    ref = reference(df, ["unit", "time"], reps=B, weights_type=weights_type, seed=11)
    assert wb.pvalue_strict - 1e-12 <= ref <= wb.pvalue + 1e-12
    assert wb.pvalue == pytest.approx(ref, abs=1e-12)  # no ties with random draws here
    # the result form is the array form on the fit's design
    d = res.extra["design"]
    arrays = wild_cluster_bootstrap(
        d.x_t, d.y_t, d.clusters[0], "x1", names=d.names, fe=d.fe, B=B,
        weights_type=weights_type, seed=11,
    )  # fmt: skip
    assert arrays.pvalue == wb.pvalue
    np.testing.assert_array_equal(arrays._engine.tstats(0.3)[1], wb._engine.tstats(0.3)[1])


@pytest.mark.parametrize(
    "fe",
    [[], ["unit"], ["time"], ["unit", "time"], ["half", "time"], ["unit", "half", "time"],
     ["time", "region"]],
)  # fmt: skip
@pytest.mark.parametrize("weighted", [False, True])
def test_low_rank_equals_cluster_algebra(fe: list[str], weighted: bool) -> None:
    """The three exact algebras (the rank-m correction per draw; the G x G matrix formed from it;
    the G x G matrix from the G cluster columns projected by alternating projections) give the
    same bootstrap t-statistics, with nested, non-nested and several groupings, WLS."""
    df = wide_panel(n_units=14, n_periods=8)
    res = feols(
        df, "y", ["x1", "x2"], fe=fe, vcov={"CR1": "unit"}, weights="w" if weighted else None
    )
    a, b, c = (
        wild_cluster_bootstrap(res, param="x1", B=499, weights_type="webb", seed=2, _algebra=alg)
        for alg in ("low-rank", "cluster", "projection")
    )
    for other in (b, c):
        for r in (0.0, 0.2, -1.0):
            np.testing.assert_allclose(
                a._engine.tstats(r)[1], other._engine.tstats(r)[1], rtol=1e-8
            )
        assert a.pvalue == other.pvalue
        assert a.conf_int(0.9) == pytest.approx(other.conf_int(0.9), rel=1e-8)


@pytest.mark.parametrize("mode", ["enumeration", "wildboottest", "chunked"])
def test_blocked_equals_unblocked(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any block size gives the same draws and identical statistics, in each draw order."""
    import tradeimpact.inference.wild_bootstrap as wbmod

    df = wide_panel(n_units=12 if mode == "enumeration" else 30)
    res = feols(df, "y", ["x1", "x2"], fe=["unit", "time"], vcov={"CR1": "unit"})
    if mode == "chunked":
        monkeypatch.setattr(wbmod, "WILDBOOTTEST_ORDER_MAX", 10)
    B = 9999 if mode == "enumeration" else 1000
    out = [
        wild_cluster_bootstrap(res, param="x1", B=B, seed=4, block_size=bs, _algebra="low-rank")
        for bs in (1, 7, 256, 10**6)
    ]
    assert {o.draw_order for o in out} == {mode}
    ref = out[-1]._engine
    for o in out[:-1]:
        for attr in ("n0", "n1", "d00", "d01", "d11"):
            want = getattr(ref, attr)
            np.testing.assert_allclose(
                getattr(o._engine, attr), want, rtol=1e-10, atol=1e-12 * np.abs(want).max()
            )
        assert o.pvalue == out[-1].pvalue
        assert o.conf_int() == pytest.approx(out[-1].conf_int(), rel=1e-12)
    # the blocks are the all-at-once draws of draw_weights (the wildboottest order)
    if mode != "chunked":
        v_all, _ = draw_weights(res.n_clusters["unit"], B, "rademacher", 4)
        got = np.concatenate(list(BootstrapDraws(v_all.shape[0], B, "rademacher", 4).blocks(13)), 1)
        np.testing.assert_array_equal(got, v_all)


def _peak_mib(res: object, B: int) -> float:
    import gc
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    wild_cluster_bootstrap(res, param="x1", B=B, seed=1, weights_type="webb")  # type: ignore[call-overload]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def test_memory_does_not_grow_with_B() -> None:
    """G = 2,000 clusters, n = 10,000: peak traced memory at B = 40,000 is that at B = 4,000
    plus the five numbers kept per draw (1.5 MiB), far below the G x B matrix (610 MiB) that
    drawing all weights at once would hold."""
    df = small_panel(8, n_units=2000, n_periods=5)
    res = feols(df, "y", ["x1", "x2"], fe=["unit", "time"], vcov={"CR1": "unit"})
    small, big = _peak_mib(res, 4000), _peak_mib(res, 40000)
    assert big < small + 4.0
    assert big < 0.25 * 2000 * 40000 * 8 / 2**20


def test_ten_thousand_clusters_against_direct_refits() -> None:
    """G = 10,000 clusters (unit and time effects, 50,000 rows): the bootstrap t-statistics of
    the first draws equal refits of the model on ``y* = fitted_r + e_r v*`` (CR1 t-statistic of
    each refit, up to the common small-sample factor)."""
    from tradeimpact.models.linear import VcovSpec, fit_feols

    df = small_panel(9, n_units=10_000, n_periods=5)
    res = feols(df, "y", ["x1", "x2"], fe=["unit", "time"], vcov={"CR1": "unit"})
    r = 0.15
    wb = wild_cluster_bootstrap(res, param="x1", B=999, seed=3, weights_type="webb", null=r)
    assert wb.n_clusters == 10_000 and wb.algebra == "low-rank" and wb.draw_order == "chunked"
    assert 0.0 <= wb.pvalue <= 1.0
    d = res.extra["design"]
    t_act, t_boot = wb._engine.tstats(r)
    scale = res.std_errors["x1"] / (wb.estimate - r) * t_act  # sqrt(ssc): se_fit / sqrt(var_j)
    # restricted fit in the demeaned space: y~ - r x1~ on x2~
    e_r = d.y_t - r * d.x_t[:, 0]
    e_r = e_r - d.x_t[:, 1] * (d.x_t[:, 1] @ e_r) / (d.x_t[:, 1] @ d.x_t[:, 1])
    fitted = d.y_t - e_r
    codes = np.unique(d.clusters[0], return_inverse=True)[1]
    v = next(BootstrapDraws(10_000, 999, "webb", 3).blocks(5))
    for b in range(5):
        ystar = fitted + e_r * v[codes, b]
        refit = fit_feols(
            ystar, d.x_t, d.names, fe=d.fe, vcov=VcovSpec("CR1", [d.clusters[0]], ["unit"])
        )
        t_ref = (refit.params["x1"] - r) / refit.std_errors["x1"]
        assert t_boot[b] == pytest.approx(t_ref * scale, rel=1e-7)


def test_from_result_errors() -> None:
    df = small_panel()
    res = feols(df, "y", ["x1", "x2"], fe=["unit"], vcov="hetero")
    with pytest.raises(ModelSpecError, match="not clustered"):
        wild_cluster_bootstrap(res, param="x1")
    wb = wild_cluster_bootstrap(res, param="x1", cluster=df["unit"].to_numpy(), B=99)
    clustered = feols(df, "y", ["x1", "x2"], fe=["unit"], vcov={"CR1": "unit"})
    assert wb.pvalue == wild_cluster_bootstrap(clustered, param="x1", B=99).pvalue
    with pytest.raises(ModelSpecError, match="give param"):
        wild_cluster_bootstrap(clustered)
    with pytest.raises(ModelSpecError, match="not a coefficient"):
        wild_cluster_bootstrap(clustered, param="nope")
    with pytest.raises(ModelSpecError, match="labels"):
        wild_cluster_bootstrap(res, param="x1", cluster=np.arange(5))
    from tradeimpact.models.ppml import ppml

    df["count"] = np.random.default_rng(0).poisson(2.0, len(df)).astype(float)
    pres = ppml(df, "count", ["x1"], ["unit"], vcov={"CR1": "unit"})
    with pytest.raises(ModelSpecError, match="ppml_randomization_inference"):
        wild_cluster_bootstrap(pres, param="x1")
    tab = wild_cluster_bootstrap(clustered, param="x1", B=99).tidy()
    assert tab["term"].to_list() == ["x1"] and tab["p_value"][0] == pytest.approx(wb.pvalue)


def test_result_form_on_did_equals_its_attached_wild_bootstrap() -> None:
    """``wild_cluster_bootstrap(did_result, param=...)`` reads the fit's design and clusters: the
    same p-value and interval as ``did(..., inference="wild")`` attaches."""
    from tradeimpact.models.did import did

    rng = np.random.default_rng(12)
    n_imp, n_t = 12, 8
    df = pd.DataFrame(
        {
            "importer": np.repeat(np.arange(n_imp), n_t),
            "month": np.tile(np.arange(n_t), n_imp),
        }
    )
    df["treated"] = (df["importer"] < 2).astype(int)
    df["post"] = (df["month"] >= 4).astype(int)
    df["value"] = np.exp(rng.normal(size=len(df)) + rng.normal(size=n_imp)[df["importer"]])
    opts = {"weights_type": "webb", "B": 999, "seed": 1}
    attached = did(
        df,
        "value",
        "treated",
        "post",
        "importer",
        time="month",
        inference="wild",
        wild=opts,
        outcome="log",
    )
    plain = did(df, "value", "treated", "post", "importer", time="month", outcome="log")
    wb = wild_cluster_bootstrap(plain, param="treated:post", **opts)  # type: ignore[arg-type]
    ref = attached.attached["treated:post"].result
    assert wb.pvalue == ref.pvalue
    assert wb.conf_int(0.9) == pytest.approx(ref.conf_int(0.9), rel=1e-12)
