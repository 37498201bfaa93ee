"""Monte Carlo: one treated unit among 20, no true effect (SYNTHETIC data, seeded).

The CR1 cluster-robust t-test over-rejects badly with one treated cluster (MacKinnon & Webb 2017,
J. Applied Econometrics 32; Conley & Taber 2011), while randomization inference (placebo-in-space)
and the Conley-Taber interval keep their 5% size. The projection is shared: every draw's outcome is
one more column of a single ``demean`` call (``placebo_in_space`` with ``R`` outcome columns), and
the CR1 statistics are computed from the same demeaned columns. Run with ``pytest -s`` to see the
rates; they are also in the assertion messages.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tradeimpact.core.fixed_effects import FixedEffects, demean
from tradeimpact.inference.conley_taber import conley_taber
from tradeimpact.inference.randomization import placebo_in_space, randomization_inference

N_UNITS, N_TIME, EVENT, DRAWS, SEED = 20, 10, 5, 400, 20260106


def _design() -> tuple[np.ndarray, np.ndarray, np.ndarray, FixedEffects]:
    unit = np.repeat(np.arange(N_UNITS), N_TIME)
    time = np.tile(np.arange(N_TIME), N_UNITS)
    post = (time >= EVENT).astype(float)
    return unit, time, post, FixedEffects.from_columns([unit, time], ["unit", "time"])


def _draws() -> np.ndarray:
    """SYNTHETIC outcomes (n, DRAWS): unit and time effects plus AR(1) errors, no effect."""
    rng = np.random.default_rng(SEED)
    unit, time, _, _ = _design()
    eps = np.empty((N_UNITS, N_TIME, DRAWS))
    eps[:, 0] = rng.normal(size=(N_UNITS, DRAWS))
    for t in range(1, N_TIME):
        eps[:, t] = 0.5 * eps[:, t - 1] + rng.normal(size=(N_UNITS, DRAWS))
    a_i = rng.normal(size=(N_UNITS, DRAWS))[unit]
    g_t = rng.normal(size=(N_TIME, DRAWS))[time]
    return a_i + g_t + eps.reshape(N_UNITS * N_TIME, DRAWS)


def test_one_treated_unit_cr1_over_rejects_ri_and_ct_do_not() -> None:
    unit, time, post, fe = _design()
    y = _draws()
    n = y.shape[0]
    # every unit's post indicator: column 0 is the actual treatment, 1..19 the placebos
    t_cols = (unit[:, None] == np.arange(N_UNITS)[None, :]) * post[:, None]
    betas = placebo_in_space(y, t_cols, None, fe)  # (20, DRAWS), one projection for all
    b0 = betas[0]

    # randomization inference: p = #{|b_p| >= |b_0|} / 20 (actual included); reject if <= 5%
    p_ri = (np.abs(betas) >= np.abs(b0)[None, :] - 1e-12).sum(axis=0) / N_UNITS
    reject_ri = float((p_ri <= 0.05).mean())

    # CR1 clustered by unit as pyfixest: G/(G-1) (n-1)/(n-k), k = 1 + 10 time effects (unit FE nested)
    y_t = demean(y, fe)
    d_t = demean(t_cols[:, 0], fe)
    e = y_t - d_t[:, None] * b0[None, :]
    scores = np.zeros((N_UNITS, y.shape[1]))
    np.add.at(scores, unit, d_t[:, None] * e)
    k = 1 + N_TIME
    c = N_UNITS / (N_UNITS - 1) * (n - 1) / (n - k)
    se = np.sqrt(c * (scores**2).sum(axis=0)) / (d_t @ d_t)
    crit = stats.t.ppf(0.975, N_UNITS - 1)
    reject_cr1 = float((np.abs(b0 / se) > crit).mean())

    # Conley-Taber (symmetric rule): the public function draw by draw
    reject_ct = 0
    for r in range(y.shape[1]):
        res = conley_taber(y[:, r], t_cols[:, 0], unit, time, fe)
        lo, hi = res.conf_int(0.95)
        reject_ct += not (lo <= 0 <= hi)
        if r < 3:  # the p-value agrees with the interval
            assert (res.pvalue <= 0.05) == (not (lo <= 0 <= hi))
    rate_ct = reject_ct / y.shape[1]

    msg = (
        f"rejection rates at 5% over {DRAWS} SYNTHETIC draws (1 treated of {N_UNITS}, no effect): "
        f"CR1 {reject_cr1:.3f}, randomization inference {reject_ri:.3f}, "
        f"Conley-Taber {rate_ct:.3f}"
    )
    print("\n" + msg)
    sim_sd = np.sqrt(0.05 * 0.95 / DRAWS)
    assert reject_cr1 > 0.15, msg
    assert abs(reject_ri - 0.05) < 3 * sim_sd, msg
    assert abs(rate_ct - 0.05) < 3 * sim_sd, msg


def test_vectorised_statistics_equal_the_public_functions() -> None:
    """Draw 0: RI p-value = randomization_inference(); CR1 SE = pyfixest feols CRV1."""
    unit, time, post, fe = _design()
    y = _draws()[:, :2]
    t_cols = (unit[:, None] == np.arange(N_UNITS)[None, :]) * post[:, None]
    betas = placebo_in_space(y, t_cols, None, fe)
    df = pd.DataFrame({"unit": unit, "time": time, "post": post, "y": y[:, 0]})
    res = randomization_inference(df, "y", "unit", "time", 0, "post")
    np.testing.assert_allclose(np.sort(res.placebo_estimates), np.sort(betas[:, 0]), atol=1e-10)
    pf = pytest.importorskip("pyfixest")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = pf.feols(
            "y ~ treat | unit + time", data=df.assign(treat=t_cols[:, 0]), vcov={"CRV1": "unit"}
        )
    y_t = demean(y[:, 0], fe)
    d_t = demean(t_cols[:, 0], fe)
    e = y_t - d_t * betas[0, 0]
    s = np.bincount(unit, weights=d_t * e)
    n = y.shape[0]
    c = N_UNITS / (N_UNITS - 1) * (n - 1) / (n - 1 - N_TIME)
    assert np.sqrt(c * (s**2).sum()) / (d_t @ d_t) == pytest.approx(fit.se()["treat"], rel=1e-8)
    assert betas[0, 0] == pytest.approx(fit.coef()["treat"], abs=1e-10)


# --- issue 10: the size table's closed forms, and a small fixed-seed version of it -------------


def _frame(y_draw: np.ndarray) -> pd.DataFrame:
    from benchmarks.size import EVENT as EV
    from benchmarks.size import N_TIME as NT
    from benchmarks.size import N_UNITS as NU

    unit = np.repeat(np.arange(NU), NT)
    time = np.tile(np.arange(NT), NU)
    return pd.DataFrame(
        {"unit": unit, "time": time, "post": (time >= EV).astype(float),
         "treat": (unit == 0).astype(float), "y": y_draw.ravel()}
    )  # fmt: skip


@pytest.mark.parametrize("ratio", [3.0, 1.0 / 3.0])
def test_size_table_closed_forms_equal_the_public_functions(ratio: float) -> None:
    """benchmarks.size.statistics == did / randomization_inference / studentized RI / CT, draw by draw."""
    from benchmarks import size
    from tradeimpact.inference.conley_taber import conley_taber_panel
    from tradeimpact.inference.studentized import studentized_randomization_inference
    from tradeimpact.models.did import did

    rng = np.random.default_rng(11)
    y = size.simulate(3, ratio, 0.5, rng)
    pv = size.statistics(y, np.random.default_rng(0))
    for r in range(y.shape[0]):
        df = _frame(y[r])
        args = (df, "y", "unit", "time", 0, "post")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = did(df, "y", "treat", "post", "unit", time="time", outcome="level")
        assert res.analytic_pvalues["treat:post"] == pytest.approx(pv["cr1"][r], rel=1e-8)
        assert randomization_inference(*args).pvalue == pytest.approx(pv["ri_beta"][r])
        sri = studentized_randomization_inference
        assert sri(*args).pvalue == pytest.approx(pv["ri_t_pre_sd"][r])
        assert sri(*args, scale="cr1").pvalue == pytest.approx(pv["ri_t_cr1"][r])
        assert conley_taber_panel(*args).pvalue == pytest.approx(pv["conley_taber"][r])
        fp = conley_taber_panel(*args, correction="ferman_pinto", variance="pre_period")
        assert fp.pvalue == pytest.approx(pv["ct_fp_pre_period"][r])
        gs = conley_taber_panel(*args, correction="ferman_pinto", group_sizes=np.ones(len(df)))
        assert gs.pvalue == pytest.approx(pv["ct_fp_group_size"][r]) and gs.reduces_to


def test_small_size_table_headline_keeps_its_size() -> None:
    """200 replications per setting (fixed seed): the headline (studentized RI, pre-period s.d.)
    stays within 3 binomial s.d. of 5% whatever the treated unit's noise; CR1 and the
    coefficient RI do not when the treated unit is noisier."""
    from benchmarks import size

    reps = 200
    res = size.run(reps, seed=7)
    tol = 3 * np.sqrt(0.05 * 0.95 / reps)
    rates = {(r["setting"], r["effect_sd"]): r["rates"] for r in res["rows"]}
    msg = "\n" + size.to_markdown(res)
    for setting in size.SETTINGS:
        assert abs(rates[setting, 0.0]["ri_t_pre_sd"] - 0.05) < tol, msg
    assert rates["treated 3x noisier", 0.0]["cr1"] > 0.5, msg
    assert rates["treated 3x noisier", 0.0]["ri_beta"] > 0.3, msg
    assert rates["treated 3x noisier", 0.0]["conley_taber"] > 0.3, msg
    assert rates["equal noise", 3.0]["ri_t_pre_sd"] > 0.9, msg  # power where noise is equal
    for row in res["rows"]:
        assert all(row["same_decisions"].values()), (row, msg)


def test_size_table_wild_bootstrap_equals_the_library_within_bootstrap_error() -> None:
    """The closed-form restricted WCR (Rademacher, B=999) against did(inference="wild")."""
    from benchmarks import size
    from tradeimpact.models.did import did

    y = size.simulate(2, 1.0, 1.0, np.random.default_rng(21))
    pv = size.statistics(y, np.random.default_rng(1))["wild"]
    for r in range(y.shape[0]):
        df = _frame(y[r])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = did(
                df,
                "y",
                "treat",
                "post",
                "unit",
                time="time",
                outcome="level",
                inference="wild",
                wild={"B": 4999, "weights_type": "rademacher", "seed": r},
            )
        p = res.headline.pvalue
        sd = np.sqrt(max(p * (1 - p), 0.01) * (1 / 999 + 1 / 4999))
        assert 0.02 < p < 0.98  # an informative draw, not a trivial 0 or 1
        assert abs(pv[r] - p) < 4 * sd + 1e-9, (r, pv[r], p)
