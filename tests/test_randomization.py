"""Randomization inference (placebo-in-space) against pyfixest fits, one placebo at a time."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd
import polars as pl
import pytest

import tradeimpact.inference.randomization as ri
from tradeimpact.core.fixed_effects import FixedEffects
from tradeimpact.errors import ModelSpecError
from tradeimpact.inference.randomization import placebo_in_space, randomization_inference

pf = pytest.importorskip("pyfixest")


def _panel(n_units: int = 12, n_time: int = 10, seed: int = 0, effect: float = 0.0) -> pd.DataFrame:
    """SYNTHETIC balanced panel: unit and time effects, one covariate, event at t=6."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n_units), n_time)
    time = np.tile(np.arange(n_time), n_units)
    post = (time >= 6).astype(float)
    x1 = rng.normal(size=unit.size)
    y = (
        rng.normal(size=n_units)[unit]
        + rng.normal(size=n_time)[time]
        + 0.5 * x1
        + rng.normal(size=unit.size)
    )
    y = y + effect * (unit == 0) * post
    return pd.DataFrame(
        {
            "unit": [f"u{u:02d}" for u in unit],
            "time": time,
            "post": post,
            "x1": x1,
            "w": rng.uniform(0.5, 2.0, unit.size),
            "y": y,
        }
    )


@pytest.mark.parametrize("weighted", [False, True])
def test_placebo_in_space_equals_pyfixest(weighted: bool) -> None:
    df = _panel(seed=1)
    codes = pd.factorize(df["unit"])[0]
    cols = np.column_stack([(codes == j) * df["post"].to_numpy() for j in range(6)])
    fe = FixedEffects.from_columns([df["unit"].to_numpy(), df["time"].to_numpy()])
    got = placebo_in_space(
        df["y"].to_numpy(),
        cols,
        df[["x1"]].to_numpy(),
        fe,
        df["w"].to_numpy() if weighted else None,
    )
    for j in range(6):
        d = df.assign(treat=cols[:, j])
        fit = pf.feols("y ~ treat + x1 | unit + time", data=d, weights="w" if weighted else None)
        assert got[j] == pytest.approx(fit.coef()["treat"], abs=1e-9)


def test_placebo_in_space_demeans_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """1,000 placebo columns: one demean call (not 1,000 fits)."""
    calls = []
    real = ri.demean

    def counting(x, fe, weights=None, **kw):  # type: ignore[no-untyped-def]
        calls.append(np.asarray(x).shape)
        return real(x, fe, weights, **kw)

    monkeypatch.setattr(ri, "demean", counting)
    rng = np.random.default_rng(3)
    n = 2000
    fe = FixedEffects.from_columns([rng.integers(0, 50, n), rng.integers(0, 20, n)])
    cols = rng.normal(size=(n, 1000))
    out = placebo_in_space(rng.normal(size=n), cols, rng.normal(size=(n, 2)), fe)
    assert out.shape == (1000,)
    assert len(calls) == 1 and calls[0] == (n, 1003)


def test_randomization_inference_single_treated_exact() -> None:
    df = _panel(n_units=12, seed=2, effect=3.0)
    res = randomization_inference(
        pl.from_pandas(df), "y", "unit", "time", "u00", "post", controls=["x1"]
    )
    # 12 assignments: the actual unit and each of the 11 controls in turn
    assert res.exact and res.p_denominator == 12
    assert res.placebo.height == 12 and res.placebo["is_actual"].sum() == 1
    # actual estimate and each placebo equal pyfixest's
    fit = pf.feols(
        "y ~ treat + x1 | unit + time", data=df.assign(treat=(df.unit == "u00") * df.post)
    )
    assert res.estimate == pytest.approx(fit.coef()["treat"], abs=1e-9)
    for name, est in zip(res.placebo["assignment"], res.placebo["estimate"], strict=True):
        d = df.assign(treat=(df.unit == name) * df.post)
        assert est == pytest.approx(
            pf.feols("y ~ treat + x1 | unit + time", data=d).coef()["treat"], abs=1e-9
        )
    # p-value = rank of |beta| among the 12, by hand
    b = res.placebo["estimate"].to_numpy()
    want = int((np.abs(b) >= abs(res.estimate) - 1e-12).sum())
    assert res.p_value == Fraction(want, 12)
    assert res.p_numerator == want  # a strong effect is the most extreme: 1/12
    assert res.p_value == Fraction(1, 12)
    assert "1/12" in res.summary()
    tidy = res.tidy()
    assert tidy["p_fraction"][0] == "1/12"
    fig = res.plot(synthetic=True)
    assert fig.axes[0].get_title() == "SYNTHETIC — Randomization inference: p = 1/12"
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_two_treated_all_combinations_and_random_draws() -> None:
    df = _panel(n_units=8, seed=4)
    res = randomization_inference(df, "y", "unit", "time", ["u00", "u03"], "post")
    assert res.exact and res.p_denominator == 28  # C(8, 2)
    d = df.assign(treat=df.unit.isin(["u00", "u03"]) * df.post)
    assert res.estimate == pytest.approx(
        pf.feols("y ~ treat | unit + time", data=d).coef()["treat"], abs=1e-9
    )
    drawn = randomization_inference(
        df, "y", "unit", "time", ["u00", "u03"], "post", max_exact=10, n_permutations=99, seed=5
    )
    assert not drawn.exact and drawn.p_denominator == 100
    assert drawn.estimate == pytest.approx(res.estimate, abs=1e-12)
    again = randomization_inference(
        df, "y", "unit", "time", ["u00", "u03"], "post", max_exact=10, n_permutations=99, seed=5
    )
    assert again.p_value == drawn.p_value  # seeded


def test_chunked_projection_matches_single_block() -> None:
    df = _panel(n_units=15, seed=6)
    whole = randomization_inference(df, "y", "unit", "time", "u02", "post")
    chunked = randomization_inference(df, "y", "unit", "time", "u02", "post", chunk_elements=300)
    np.testing.assert_allclose(whole.placebo_estimates, chunked.placebo_estimates, atol=1e-12)


def test_conf_int_by_test_inversion_matches_brute_force() -> None:
    df = _panel(n_units=40, seed=7, effect=1.5)
    res = randomization_inference(df, "y", "unit", "time", "u00", "post")
    low, high = res.conf_int(0.9)
    assert low < res.estimate < high
    # brute force: re-run the whole test on y - tau * D just inside and outside each end
    d_actual = ((df.unit == "u00") * df.post).to_numpy()

    def pval(tau: float) -> float:
        shifted = df.assign(y=df.y - tau * d_actual)
        return randomization_inference(shifted, "y", "unit", "time", "u00", "post").pvalue

    eps = 1e-6 * max(1.0, abs(high - low))
    assert pval(low + eps) > 0.1 and pval(high - eps) > 0.1
    assert pval(low - eps) <= 0.1 and pval(high + eps) <= 0.1
    # with 10 assignments a 95% interval cannot exclude anything: 1/10 > 0.05
    small = randomization_inference(_panel(n_units=10, seed=8), "y", "unit", "time", "u00", "post")
    assert small.conf_int(0.95) == (-np.inf, np.inf)


def test_bad_inputs() -> None:
    df = _panel(n_units=5, seed=9)
    with pytest.raises(ModelSpecError, match="not found"):
        randomization_inference(df, "y", "unit", "time", "zz", "post")
    with pytest.raises(ModelSpecError, match="no control units"):
        randomization_inference(df, "y", "unit", "time", list(df.unit.unique()), "post")
    late = df[~((df.unit == "u00") & (df.time < 6))]
    with pytest.raises(ModelSpecError, match="no pre-period"):
        randomization_inference(late, "y", "unit", "time", "u00", "post")
    holes = df.copy()
    holes.loc[7, "y"] = np.nan
    with pytest.raises(ModelSpecError, match="row 7"):
        randomization_inference(holes, "y", "unit", "time", "u00", "post")
    # a placebo unit never observed after the event cannot carry a placebo treatment
    early = df[~((df.unit == "u03") & (df.time >= 6))]
    with pytest.raises(ModelSpecError, match="u03"):
        randomization_inference(early, "y", "unit", "time", "u00", "post")


def test_blocks_of_event_time_terms_equal_pyfixest() -> None:
    """n_terms=K: each placebo unit's K event-time dummies estimated jointly (for RI bands)."""
    df = _panel(n_units=10, n_time=10, seed=11)
    codes = pd.factorize(df["unit"])[0]
    times = (7, 8, 9)
    cols = np.column_stack(
        [(codes == j) * (df["time"].to_numpy() == t) for j in range(10) for t in times]
    ).astype(float)
    fe = FixedEffects.from_columns([df["unit"].to_numpy(), df["time"].to_numpy()])
    got = placebo_in_space(df["y"].to_numpy(), cols, df[["x1"]].to_numpy(), fe, n_terms=3)
    assert got.shape == (10, 3)
    for j in (0, 4):
        d = df.assign(**{f"e{t}": cols[:, 3 * j + i] for i, t in enumerate(times)})
        fit = pf.feols("y ~ e7 + e8 + e9 + x1 | unit + time", data=d)
        np.testing.assert_allclose(got[j], fit.coef()[["e7", "e8", "e9"]].to_numpy(), atol=1e-9)
    with pytest.raises(ModelSpecError, match="blocks of 4"):
        placebo_in_space(df["y"].to_numpy(), cols, None, fe, n_terms=4)
