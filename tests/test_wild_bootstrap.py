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
from tradeimpact.inference.wild_bootstrap import draw_weights, wild_cluster_bootstrap
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
