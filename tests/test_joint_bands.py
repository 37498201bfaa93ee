"""Sup-t joint bands (``conf_int(joint=True)``) and multiple-testing adjusted p-values.

References: Montiel Olea & Plagborg-Moller (2019) for the band; the Sidak value
``1 - (1 - a)^(1/k)`` for independent coefficients; statsmodels' ``multipletests`` (and
Bonferroni by hand) for the adjusted p-values; a fixed-seed Monte Carlo for coverage.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from tradeimpact.errors import ModelSpecError
from tradeimpact.models.event_study import event_study
from tradeimpact.models.results import (
    SUPT_DRAWS,
    SUPT_SEED,
    RegressionResult,
    sup_t_critical_value,
)


def es_panel(seed: int, n_units: int = 30, n_periods: int = 10) -> pl.DataFrame:
    """SYNTHETIC unit x period panel, half the units treated at period 5, no effect, iid noise."""
    rng = np.random.default_rng(seed)
    u = np.repeat(np.arange(n_units), n_periods)
    t = np.tile(np.arange(n_periods), n_units)
    y = rng.normal(size=n_units)[u] + 0.1 * t + rng.normal(size=u.size)
    return pl.DataFrame({"u": u, "t": t, "y": y, "tr": (u < n_units // 2).astype(int)})


def fit(seed: int, vcov: object = "iid") -> object:
    return event_study(es_panel(seed), "y", "u", "t", treated="tr", event_date=5,
                       window=(-3, 3), vcov=vcov, inference="cr1")  # fmt: skip


def test_one_coefficient_equals_pointwise():
    res = fit(0)
    for term in res.event_terms.values():
        joint = res.conf_int(0.9, joint=True, terms=[term])
        point = res.conf_int(0.9, terms=[term])
        np.testing.assert_allclose(joint.to_numpy(), point.to_numpy(), rtol=0, atol=1e-12)
        assert joint.attrs["critical_value"] == pytest.approx(stats.t.ppf(0.95, res.df_inference))
    assert sup_t_critical_value([[4.0]], 0.95) == pytest.approx(stats.norm.ppf(0.975), abs=1e-12)
    assert sup_t_critical_value([[4.0]], 0.95, df=7) == pytest.approx(stats.t.ppf(0.975, 7))


@pytest.mark.parametrize("k", [2, 5, 10])
@pytest.mark.parametrize("level", [0.9, 0.95])
def test_independent_coefficients_give_sidak(k, level):
    # max of k independent |N(0,1)|: P(max <= c) = (2 Phi(c) - 1)^k, so the per-coefficient
    # level of the sup-t band is Sidak's 1 - (1 - a)^(1/k) with a = 1 - level
    var = np.linspace(0.5, 3.0, k)  # scales do not matter, only the correlation (here 0)
    c = sup_t_critical_value(np.diag(var), level)
    alpha = 1 - level
    sidak = 1 - (1 - alpha) ** (1 / k)
    assert 2 * stats.norm.sf(c) == pytest.approx(sidak, abs=5e-4)  # 3 decimals
    exact = stats.norm.ppf(1 - sidak / 2)
    assert abs(c - exact) < 0.02  # Monte Carlo s.e. of c with 100,000 draws: <= 0.005
    # on a result: half-width = c * se, rows = the coefficients
    names = [f"b{j}" for j in range(k)]
    res = RegressionResult(names, np.arange(k, dtype=float), np.diag(var), 100, "iid", None)
    band = res.conf_int(level, joint=True)
    np.testing.assert_allclose((band["upper"] - band["lower"]) / 2, c * np.sqrt(var), rtol=1e-12)
    assert list(band.index) == names


def test_bounds_correlation_and_determinism():
    k = 6
    point = stats.norm.ppf(0.975)
    bonf = stats.norm.ppf(1 - 0.025 / k)
    rho = 0.6
    corr = np.full((k, k), rho) + (1 - rho) * np.eye(k)
    c = sup_t_critical_value(corr, 0.95)
    indep = sup_t_critical_value(np.eye(k), 0.95)
    assert point < c < indep < bonf  # correlation shrinks the band towards the pointwise one
    # perfectly correlated (rank one, the PSD clip path): max |Z_k| = |Z|, c = the pointwise one
    assert sup_t_critical_value(np.ones((k, k)), 0.95) == pytest.approx(point, abs=0.02)
    # fixed seed: the same number twice; another seed: the same to Monte Carlo error
    assert sup_t_critical_value(corr, 0.95) == c
    other = sup_t_critical_value(corr, 0.95, seed=SUPT_SEED + 1)
    assert other != c and abs(other - c) < 0.03
    assert SUPT_DRAWS == 100_000


def test_joint_band_bad_input():
    res = fit(0)
    with pytest.raises(ModelSpecError, match="not coefficients"):
        res.conf_int(joint=True, terms=["nope"])
    with pytest.raises(ModelSpecError, match="level"):
        res.conf_int(1.5, joint=True)
    with pytest.raises(ModelSpecError, match="positive, finite variance"):
        sup_t_critical_value(np.diag([1.0, 0.0]))


def test_event_table_columns_match_conf_int_and_multipletests():
    res = fit(3)
    band = res.conf_int(0.95, joint=True)
    assert list(band.index) == [res.event_terms[e] for e in res.event_times]
    tab = res.event_table(0.95, joint=True, adjust="holm").filter(pl.col("event_time") != res.ref)
    np.testing.assert_allclose(tab["joint_low"].to_numpy(), band["lower"].to_numpy())
    np.testing.assert_allclose(tab["joint_high"].to_numpy(), band["upper"].to_numpy())
    p = res.pvalues.loc[band.index].to_numpy()
    np.testing.assert_allclose(tab["p_value_holm"].to_numpy(), multipletests(p, method="holm")[1])
    ref_row = res.event_table(joint=True, adjust="holm").filter(pl.col("event_time") == res.ref)
    assert ref_row["joint_low"].item() == 0.0 and ref_row["p_value_holm"].item() is None
    # the joint band contains the pointwise one
    point = res.conf_int(0.95, terms=list(band.index))
    assert (band["lower"] < point["lower"]).all() and (band["upper"] > point["upper"]).all()


@pytest.mark.parametrize("method", ["holm", "fdr_bh", "sidak", "holm-sidak"])
def test_adjusted_pvalues_equal_multipletests(method):
    res = fit(4)
    terms = [res.event_terms[e] for e in res.event_times]
    got = res.adjusted_pvalues(method)
    want = multipletests(res.pvalues.loc[terms].to_numpy(), method=method)[1]
    np.testing.assert_allclose(got.to_numpy(), want, rtol=0, atol=1e-15)
    assert list(got.index) == terms and got.name == f"pvalue_{method}"


def test_bonferroni_by_hand_and_errors():
    res = fit(5)
    terms = [res.event_terms[e] for e in res.event_times]
    p = res.pvalues.loc[terms].to_numpy()
    np.testing.assert_allclose(
        res.adjusted_pvalues("bonferroni").to_numpy(), np.minimum(1.0, len(terms) * p)
    )
    two = terms[:2]
    np.testing.assert_allclose(
        res.adjusted_pvalues("bonferroni", terms=two).to_numpy(),
        np.minimum(1.0, 2 * res.pvalues.loc[two].to_numpy()),
    )
    with pytest.raises(ModelSpecError, match="multiple-testing method 'nope'"):
        res.adjusted_pvalues("nope")
    with pytest.raises(ModelSpecError, match="not coefficients"):
        res.adjusted_pvalues(terms=["x"])


def test_monte_carlo_joint_coverage():
    """2,000 SYNTHETIC event studies without an effect (6 event-time coefficients, iid normal
    errors, so the t reference is exact): the sup-t band covers all 6 at once in 95% of the
    replications (binomial tolerance 3 s.d. = 3 sqrt(.95 .05 / 2000) = 0.0146), the pointwise
    intervals all 6 at once far less often (below 0.90), each coefficient 95% of the time.

    The band's critical value is simulated with 10,000 draws here (Monte Carlo s.e. of c about
    0.015, about 0.1 percentage point of coverage) to keep the test short.
    """
    reps = 2000
    joint_cover = point_cover = 0
    each = np.zeros(6)
    for seed in range(reps):
        res = fit(10_000 + seed)
        band = res.conf_int(0.95, joint=True, draws=10_000)
        point = res.conf_int(0.95, terms=list(band.index))
        joint_cover += bool(((band["lower"] <= 0) & (band["upper"] >= 0)).all())
        inside = ((point["lower"] <= 0) & (point["upper"] >= 0)).to_numpy()
        point_cover += bool(inside.all())
        each += inside
    tol = 3 * np.sqrt(0.95 * 0.05 / reps)
    assert abs(joint_cover / reps - 0.95) < tol, joint_cover / reps
    assert point_cover / reps < 0.90, point_cover / reps
    np.testing.assert_allclose(each / reps, 0.95, atol=3 * np.sqrt(0.95 * 0.05 / reps) + 1e-9)


def test_result_plot_draws_the_joint_band():
    import matplotlib.pyplot as plt

    res = fit(6)
    ax = res.plot(joint=True)
    bars = {c.get_label(): c for c in ax.containers}
    seg = bars["95% joint band (sup-t)"].lines[2][0].get_segments()
    band = res.conf_int(0.95, joint=True)
    np.testing.assert_allclose([s[0][1] for s in seg], band["lower"], atol=1e-12)
    np.testing.assert_allclose([s[1][1] for s in seg], band["upper"], atol=1e-12)
    plt.close(ax.figure)
