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

from tradeimpact.inference.conley_taber import conley_taber
from tradeimpact.inference.randomization import placebo_in_space, randomization_inference
from tradeimpact.models.absorb import FixedEffects, demean

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
