"""Pre-trend power (Roth 2022) against closed forms and simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tradeimpact.errors import ModelSpecError
from tradeimpact.sensitivity.pretrend_power import pretest_power, pretrend_power, slope_for_power


def _sigma(seed: int = 0, k: int = 6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(k, k))
    return a @ a.T / 20 + 0.01 * np.eye(k)


def _nis_power_closed_form(mu: np.ndarray, se: np.ndarray, c: float = 1.96) -> float:
    """Independent pre-periods: 1 - prod_j P(|N(mu_j, se_j)| <= c se_j)."""
    z = mu / se
    return float(1 - np.prod(stats.norm.cdf(c - z) - stats.norm.cdf(-c - z)))


def test_one_pre_period_closed_form_and_slope() -> None:
    s = np.array([[0.04, 0.01], [0.01, 0.09]])  # t = -2 (pre), 0 (post); reference -1
    t = np.array([-2.0, 0.0])
    for g in (0.0, 0.1, 0.3):
        got = pretrend_power(s, t_vec=t, slope=g).power
        assert got == pytest.approx(
            _nis_power_closed_form(np.array([-g]), np.array([0.2])), abs=1e-12
        )
    # 50% power: z = |mu| / se solves Phi(c - z) - Phi(-c - z) = 1/2, i.e.
    # z = c + Phi^-1(1/2 - Phi(-c - z)) = 1.95989 (fixed point, independent of the root finder)
    z = 1.96
    for _ in range(50):
        z = 1.96 + stats.norm.ppf(0.5 - stats.norm.cdf(-1.96 - z))
    assert slope_for_power(s, 0.5, t_vec=t) == pytest.approx(0.2 * z, rel=1e-8)
    assert slope_for_power(s, 0.8, t_vec=t) > slope_for_power(s, 0.5, t_vec=t)


def test_independent_pre_periods_product_formula() -> None:
    se = np.array([0.12, 0.10, 0.08])
    s = np.diag(np.r_[se, 0.07] ** 2)
    t = np.array([-4.0, -3.0, -2.0, 0.0])
    for g in (0.02, 0.05, 0.1):
        got = pretrend_power(s, t_vec=t, slope=g).power
        mu = g * (t[:3] + 1)
        assert got == pytest.approx(_nis_power_closed_form(mu, se), abs=1e-6)


def test_correlated_power_matches_simulation_and_wald_is_noncentral_chi2() -> None:
    s = _sigma()
    t = np.array([-4.0, -3.0, -2.0, 0.0, 1.0, 2.0])
    g = slope_for_power(s, 0.5, t_vec=t)
    res = pretrend_power(s, t_vec=t, slope=g)
    assert res.power == pytest.approx(0.5, abs=1e-6)
    rng = np.random.default_rng(11)
    mu = g * (t[:3] + 1)
    draws = rng.multivariate_normal(mu, s[:3, :3], size=1_000_000)
    se = np.sqrt(np.diag(s))[:3]
    sim = float((np.abs(draws) > 1.96 * se).any(axis=1).mean())
    assert res.power == pytest.approx(sim, abs=4 * np.sqrt(0.25 / 1e6))
    # Wald pre-test power by simulation, and size alpha under no trend
    wald = pretest_power(mu, s[:3, :3], test="wald")
    stat = np.einsum("ij,jk,ik->i", draws, np.linalg.inv(s[:3, :3]), draws)
    sim_w = float((stat > stats.chi2.ppf(0.95, 3)).mean())
    assert wald == pytest.approx(sim_w, abs=4 * np.sqrt(0.25 / 1e6))
    assert pretest_power(np.zeros(3), s[:3, :3], test="wald") == pytest.approx(0.05)
    # Bayes factor as defined
    p0 = pretest_power(np.zeros(3), s[:3, :3])
    assert res.bayes_factor == pytest.approx((1 - res.power) / (1 - p0), rel=1e-9)


def test_mean_after_pretest_one_pre_period() -> None:
    """E[beta_pre | |beta_pre| <= 1.96 se] is a truncated-normal mean; post by projection."""
    s = np.array([[0.04, 0.018], [0.018, 0.09]])
    t = np.array([-2.0, 0.0])
    g = 0.15
    res = pretrend_power(s, t_vec=t, slope=g, betahat=[0.05, 0.2])
    mu_pre, se_pre = -g, 0.2
    a, b = (-1.96 * se_pre - mu_pre) / se_pre, (1.96 * se_pre - mu_pre) / se_pre
    m_pre = stats.truncnorm.mean(a, b, loc=mu_pre, scale=se_pre)
    m_post = g + 0.018 / 0.04 * (m_pre - mu_pre)
    tab = res.table
    assert tab["t"].to_list() == [-2.0, -1.0, 0.0]
    assert tab["mean_after_pretest"][0] == pytest.approx(m_pre, abs=2e-3)
    assert tab["mean_after_pretest"][2] == pytest.approx(m_post, abs=2e-3)
    # likelihood ratio of betahat_pre under delta vs 0 (one dimension)
    lr = stats.norm.pdf(0.05, mu_pre, se_pre) / stats.norm.pdf(0.05, 0, se_pre)
    assert res.likelihood_ratio == pytest.approx(lr, rel=1e-10)
    assert "power" in res.summary()


def test_bad_inputs() -> None:
    s = _sigma(k=3)
    with pytest.raises(ModelSpecError, match="exactly one"):
        pretrend_power(s, t_vec=[-3, -2, 0])
    with pytest.raises(ModelSpecError, match="no pre-period"):
        pretrend_power(s, t_vec=[0, 1, 2], slope=0.1)
    with pytest.raises(ModelSpecError, match="2 x 2"):
        pretrend_power(s, t_vec=[-2, 0], slope=0.1)
    with pytest.raises(ModelSpecError, match="target_power"):
        slope_for_power(s, 1.5, t_vec=[-3, -2, 0])


def test_from_an_event_study_result() -> None:
    from tradeimpact.models.results import EventStudyResult
    from tradeimpact.sensitivity.pretrend_power import pretrend_power_event_study

    s = _sigma(k=5)
    times = [-4, -3, -2, 0, 1]
    names = [f"e{t}" for t in times]
    b = np.array([0.01, -0.02, 0.0, 0.1, 0.2])
    es = EventStudyResult(
        names=names,
        beta=b,
        cov_matrix=s,
        nobs=100,
        vcov_type="CR1",
        df_inference=19,
        event_terms=dict(zip(times, names, strict=True)),
        ref=-1,
    )
    got = pretrend_power_event_study(es, slope=0.05)
    want = pretrend_power(s, t_vec=np.array(times, float), slope=0.05, betahat=b)
    assert got.power == pytest.approx(want.power, abs=1e-12)
    assert got.likelihood_ratio == pytest.approx(want.likelihood_ratio, rel=1e-12)
