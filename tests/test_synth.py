"""Synthetic control (ADH 2010): exact simplex weights, placebos, permutation p-value."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import polars as pl
import pytest
from conftest import shared_path
from scipy import optimize

from tradeimpact.errors import ModelSpecError
from tradeimpact.models.synth import simplex_weights, synth
from tradeimpact.models.synthdid import synthdid

OUTCOME, UNIT, TIME = "PacksPerCapita", "State", "Year"


@pytest.fixture(scope="module")
def prop99() -> pl.DataFrame:
    path = shared_path("validation", "california_prop99", "california_prop99.csv")
    return pl.read_csv(path, separator=";")


def _slsqp(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """An independent solver (SciPy SLSQP) of the same simplex-constrained least squares."""
    j = a.shape[1]
    scale = float(np.abs(a).max())
    a, b = a / scale, b / scale
    res = optimize.minimize(
        lambda x: float(np.sum((a @ x - b) ** 2)),
        np.full(j, 1 / j),
        method="SLSQP",
        bounds=[(0, 1)] * j,
        constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1}],
        options={"ftol": 1e-14, "maxiter": 2000},
    )
    return np.asarray(res.x)


@pytest.mark.parametrize("seed", range(4))
def test_simplex_weights_equal_slsqp(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(19, 38)), rng.normal(size=19)
    ours, ref = simplex_weights(a, b), _slsqp(a, b)
    assert ours.sum() == pytest.approx(1.0) and (ours >= 0).all()
    assert np.sum((a @ ours - b) ** 2) <= np.sum((a @ ref - b) ** 2) * (1 + 1e-9)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_prop99_against_r_synthdid_sc(prop99: pl.DataFrame) -> None:
    """Outcomes-only SC solves the problem of R synthdid's sc_estimate (-19.61966) exactly.

    R's Frank-Wolfe stops early (objective decrease below (1e-5 sigma)^2), and its iterates move
    towards our exact solution (-19.5147 after 1e6 steps, -19.514 exact); so: our pre-period fit is
    at least as good as R's weights, and the estimates differ by less than 0.11.
    """
    ours = synth(prop99, OUTCOME, UNIT, TIME, "California", 1989, placebos=False)
    r_sc = synthdid(
        prop99.with_columns(
            ((pl.col(UNIT) == "California") & (pl.col(TIME) >= 1989)).cast(pl.Int8).alias("d")
        ),
        OUTCOME,
        UNIT,
        TIME,
        "d",
        method="sc",
        vcov=None,
    )
    assert r_sc.att == pytest.approx(-19.61966, abs=1e-3)
    assert ours.att == pytest.approx(-19.514, abs=1e-3)
    assert abs(ours.att - r_sc.att) < 0.11
    wide = prop99.pivot(on=UNIT, index=TIME, values=OUTCOME).sort(TIME)
    pre = wide.filter(pl.col(TIME) < 1989)
    donors = ours.weights["unit"].to_list()
    y0 = pre.select(donors).to_numpy()
    y1 = pre["California"].to_numpy()
    w_r = r_sc.omega.sort(pl.col("unit").cast(pl.Enum(donors)))["weight"].to_numpy()
    mspe_ours = np.mean((y1 - y0 @ ours.weights["weight"].to_numpy()) ** 2)
    assert mspe_ours <= np.mean((y1 - y0 @ w_r) ** 2)
    np.testing.assert_allclose(ours.weights["weight"].to_numpy(), _slsqp(y0, y1), atol=1e-4)
    assert ours.pre_rmspe == pytest.approx(np.sqrt(mspe_ours))


def test_prop99_placebos(prop99: pl.DataFrame) -> None:
    res = synth(prop99, OUTCOME, UNIT, TIME, "California", 1989)
    assert res.placebos.height == 39
    ratios = res.placebos["ratio"].to_numpy()
    rank = int(np.sum(ratios >= res.rmspe_ratio))
    assert res.pvalue_fraction == Fraction(rank, 39)
    assert res.pvalue == pytest.approx(rank / 39)
    # each placebo is a synthetic control of that state from the 37 other donors
    ut = synth(
        prop99.filter(pl.col(UNIT) != "California"),
        OUTCOME,
        UNIT,
        TIME,
        "Utah",
        1989,
        placebos=False,
    )
    row = res.placebos.filter(pl.col("unit") == "Utah")
    assert row["pre_rmspe"].item() == pytest.approx(ut.pre_rmspe, rel=1e-8)
    assert res.placebo_gaps.height == 38 * 31
    assert "Permutation p-value" in res.summary()
    assert res.tidy()["estimate"].item() == pytest.approx(res.att)


def _factor_panel(effect: float, seed: int = 0) -> pl.DataFrame:
    """SYNTHETIC: 12 donors from a two-factor model; unit 'T' = 0.6 * d0 + 0.4 * d1 (+ effect)."""
    rng = np.random.default_rng(seed)
    times = np.arange(2000, 2020)
    f = np.column_stack([np.linspace(0, 3, 20), np.sin(times / 2.0)])
    load = rng.uniform(0.5, 2.0, size=(12, 2))
    donors = load @ f.T + rng.normal(0, 0.05, size=(12, 20)) + 5
    treated = 0.6 * donors[0] + 0.4 * donors[1]
    treated[times >= 2015] += effect
    z = rng.normal(size=12)
    rows = [
        {"u": f"d{i}", "t": int(t), "y": float(donors[i, k]), "z": float(z[i])}
        for i in range(12)
        for k, t in enumerate(times)
    ] + [
        {"u": "T", "t": int(t), "y": float(treated[k]), "z": float(0.6 * z[0] + 0.4 * z[1])}
        for k, t in enumerate(times)
    ]
    return pl.DataFrame(rows)


def test_recovers_convex_combination_and_effect() -> None:
    df = _factor_panel(effect=-3.0)
    res = synth(df, "y", "u", "t", "T", 2015)
    w = dict(zip(res.weights["unit"].to_list(), res.weights["weight"].to_list(), strict=True))
    assert w["d0"] == pytest.approx(0.6, abs=1e-6) and w["d1"] == pytest.approx(0.4, abs=1e-6)
    assert res.att == pytest.approx(-3.0, abs=1e-6)
    # the treated unit has by far the largest post/pre RMSPE ratio: p = 1/13 exactly
    assert res.pvalue_fraction == Fraction(1, 13)


def test_predictors_choose_v() -> None:
    df = _factor_panel(effect=0.0, seed=1)
    res = synth(
        df,
        "y",
        "u",
        "t",
        "T",
        2015,
        predictors=["z", ("y", [2005]), ("y", [2010]), ("y", [2014])],
        placebos=False,
    )
    v = res.v_weights["v"].to_numpy()
    assert v.sum() == pytest.approx(1.0) and (v >= 0).all()
    assert res.v_weights["predictor"].to_list() == ["z", "y[2005]", "y[2010]", "y[2014]"]
    # V minimises the pre-period MSPE: no worse than equal V
    eq = synth(
        df,
        "y",
        "u",
        "t",
        "T",
        2015,
        predictors=["z", ("y", [2005]), ("y", [2010]), ("y", [2014])],
        placebos=False,
        n_starts=0,
    )
    assert res.pre_rmspe <= eq.pre_rmspe + 1e-9
    assert res.pre_rmspe < 0.05


def test_bad_input(prop99: pl.DataFrame) -> None:
    with pytest.raises(ModelSpecError, match="treatment_time"):
        synth(prop99, OUTCOME, UNIT, TIME, "California", 2050)
    with pytest.raises(ModelSpecError, match="treated_unit"):
        synth(prop99, OUTCOME, UNIT, TIME, "Atlantis", 1989)
    with pytest.raises(ModelSpecError, match="donors"):
        synth(prop99, OUTCOME, UNIT, TIME, "California", 1989, donors=["Utah", "Atlantis"])
    with pytest.raises(ModelSpecError, match="balanced"):
        synth(
            prop99.filter(~((pl.col(UNIT) == "Utah") & (pl.col(TIME) == 1975))),
            OUTCOME,
            UNIT,
            TIME,
            "California",
            1989,
        )


def test_plot(prop99: pl.DataFrame) -> None:
    import matplotlib

    matplotlib.use("Agg")
    res = synth(prop99, OUTCOME, UNIT, TIME, "California", 1989)
    ax = res.plot(mspe_cutoff=5.0)
    pre_mspe = res.pre_rmspe**2
    n_kept = int(
        res.placebos.filter(~pl.col("treated") & (pl.col("pre_rmspe") ** 2 <= 5 * pre_mspe)).height
    )
    assert len(ax.get_lines()) == n_kept + 1 + 2  # placebos, treated, two reference lines
