"""Power of pre-trend tests against a hypothesised violation of parallel trends (Roth 2022).

Reference: Roth, J. (2022), "Pretest with Caution: Event-Study Estimates after Testing for
Parallel Trends", American Economic Review: Insights 4(3), 305-322; R package ``pretrends``
(``rejectionProbability_NIS``, ``findSlopeForPower_NIS``/``slope_for_power``, ``pretrends``), whose
conventions are followed.

A linear trend of slope ``g`` shifts the event-study coefficients by ``delta_t = g (t - r)``
(``r`` the reference period). With ``beta_pre_hat ~ N(delta_pre, Sigma_pre)``:

* the package's pre-test ("no individually significant pre-period coefficient", NIS) rejects when
  some ``|beta_j / se_j| > c`` (``c = 1.96``); its power is
  ``1 - P(-c se <= beta_pre_hat <= c se)``, a multivariate normal rectangle probability (Genz's
  algorithm, scipy; seeded, error below ``1e-6``);
* the joint Wald pre-test (what our event studies report) rejects when
  ``beta_pre' Sigma_pre^{-1} beta_pre > chi2_{K, 1-alpha}``; its power is that of a noncentral
  chi-square with ``K`` degrees of freedom and noncentrality ``delta_pre' Sigma_pre^{-1} delta_pre``.

``slope_for_power`` solves ``power(g) = target`` for ``g >= 0`` (Brent's method on
``[0, 8 max se]``, the package's bracket). ``pretrend_power`` also reports, like ``pretrends()``,
the Bayes factor ``P(pass | delta) / P(pass | 0)``, the likelihood ratio of the estimated
pre-period coefficients under ``delta`` versus 0, and the expected post-period coefficients
conditional on passing the NIS pre-test,
``E[beta_post | pass] = delta_post + Sigma_21 Sigma_11^{-1} (E[beta_pre | pass] - delta_pre)``
(the truncated-normal mean by seeded Monte Carlo).

Written by hand because no Python package implements it; checked against closed forms (one
pre-period, independent pre-periods) and simulation in ``tests/test_pretrend_power.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import optimize, stats

from tradeimpact.errors import ModelSpecError

FloatArray = npt.NDArray[np.float64]
Test = Literal["nis", "wald"]


def _pre_sigma(sigma: npt.ArrayLike, pre_index: npt.ArrayLike) -> FloatArray:
    s = np.asarray(sigma, dtype=np.float64)
    idx = np.asarray(pre_index, dtype=np.int64)
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise ModelSpecError(f"sigma must be a square matrix, got shape {s.shape}")
    if idx.size == 0:
        raise ModelSpecError("no pre-period coefficients: the pre-test has nothing to test")
    return np.asarray(s[np.ix_(idx, idx)], dtype=np.float64)


def pretest_power(
    delta_pre: npt.ArrayLike,
    sigma_pre: npt.ArrayLike,
    *,
    test: Test = "nis",
    threshold: float = 1.96,
    alpha: float = 0.05,
    seed: int = 0,
) -> float:
    """Probability that the pre-test rejects when the pre-period coefficients have mean ``delta_pre``.

    Parameters
    ----------
    delta_pre : array (K,)
        Hypothesised pre-period violation of parallel trends.
    sigma_pre : array (K, K)
        Covariance of the pre-period coefficients.
    test : {"nis", "wald"}
        "nis": reject if some ``|t_j| > threshold`` (the ``pretrends`` package); "wald": the joint
        chi-square test at level ``alpha``.
    threshold, alpha, seed
        NIS critical t (1.96), Wald level, seed of the Genz integration.
    """
    d = np.asarray(delta_pre, dtype=np.float64).ravel()
    s = np.asarray(sigma_pre, dtype=np.float64).reshape(d.size, d.size)
    if test == "wald":
        lam = float(d @ np.linalg.solve(s, d))
        crit = stats.chi2.ppf(1 - alpha, d.size)
        return float(stats.ncx2.sf(crit, d.size, lam)) if lam > 0 else alpha
    if test != "nis":
        raise ModelSpecError(f"test must be 'nis' or 'wald', got {test!r}")
    ub = threshold * np.sqrt(np.diag(s))
    if d.size == 1:
        z = d[0] / np.sqrt(s[0, 0])
        return float(1 - (stats.norm.cdf(threshold - z) - stats.norm.cdf(-threshold - z)))
    inside = stats.multivariate_normal.cdf(
        ub,
        mean=d,
        cov=s,
        lower_limit=-ub,
        abseps=1e-7,
        releps=1e-7,
        maxpts=2_000_000,
        rng=np.random.default_rng(seed),
    )
    return float(1 - inside)


def slope_for_power(
    sigma: npt.ArrayLike,
    target_power: float = 0.5,
    *,
    t_vec: npt.ArrayLike,
    reference_period: float = -1,
    pre_index: npt.ArrayLike | None = None,
    test: Test = "nis",
    threshold: float = 1.96,
    alpha: float = 0.05,
    seed: int = 0,
) -> float:
    """Slope of a linear trend ``g (t - r)`` against which the pre-test has ``target_power``.

    ``t_vec`` gives the event time of each coefficient in ``sigma`` (reference excluded);
    ``pre_index`` the pre-period positions (default: ``t_vec < reference_period``).
    """
    t = np.asarray(t_vec, dtype=np.float64).ravel()
    pre = np.flatnonzero(t < reference_period) if pre_index is None else np.asarray(pre_index)
    s_pre = _pre_sigma(sigma, pre)
    rel = t[pre] - reference_period
    if not 0 < target_power < 1:
        raise ModelSpecError("target_power must be in (0, 1)")

    def gap(g: float) -> float:
        return (
            pretest_power(rel * g, s_pre, test=test, threshold=threshold, alpha=alpha, seed=seed)
            - target_power
        )

    hi = 8 * float(np.sqrt(np.diag(s_pre)).max())
    if gap(0.0) >= 0:
        return 0.0
    while gap(hi) < 0:
        hi *= 2
    return float(optimize.brentq(gap, 0.0, hi, xtol=1e-12))


@dataclass
class PretrendPowerResult:
    """Power of the pre-test against a hypothesised trend (``pretrends::pretrends``).

    Attributes
    ----------
    power : float
        Rejection probability of the pre-test under ``delta``.
    bayes_factor : float
        ``P(pass | delta) / P(pass | 0)``.
    likelihood_ratio : float
        Density of the estimated pre-period coefficients under ``delta`` over that under 0.
    table : polars.DataFrame
        ``t``, ``betahat``, ``delta``, ``se``, ``mean_after_pretest`` (reference row included).
    """

    power: float
    bayes_factor: float | None
    likelihood_ratio: float | None
    table: pl.DataFrame
    test: str
    slope: float | None = None

    def summary(self) -> str:
        head = f"pre-test ({self.test}) power against the hypothesised trend: {self.power:.4f}"
        if self.slope is not None:
            head += f" (slope {self.slope:.6g})"
        lines = [head, "Roth (2022), pretrends conventions"]
        if self.bayes_factor is not None:
            lines.append(f"Bayes factor {self.bayes_factor:.4f}")
        if self.likelihood_ratio is not None:
            lines.append(f"likelihood ratio {self.likelihood_ratio:.4f}")
        lines.append(str(self.table))
        return "\n".join(lines)


def pretrend_power(
    sigma: npt.ArrayLike,
    *,
    t_vec: npt.ArrayLike,
    reference_period: float = -1,
    slope: float | None = None,
    delta: npt.ArrayLike | None = None,
    betahat: npt.ArrayLike | None = None,
    test: Test = "nis",
    threshold: float = 1.96,
    alpha: float = 0.05,
    seed: int = 0,
    n_sims: int = 400_000,
) -> PretrendPowerResult:
    """Power of the pre-test against a linear trend of ``slope`` (or any ``delta``).

    Parameters
    ----------
    sigma : array (K, K)
        Covariance of the event-study coefficients (reference period excluded).
    t_vec : array (K,)
        Event time of each coefficient.
    reference_period : float
        The omitted period (normalised to zero).
    slope : float, optional
        Slope ``g`` of the hypothesised trend ``delta_t = g (t - r)``.
    delta : array (K,), optional
        Any hypothesised violation instead of a linear trend.
    betahat : array (K,), optional
        Estimated coefficients: adds the likelihood ratio and the ``betahat`` column.
    test, threshold, alpha, seed
        See :func:`pretest_power`.
    n_sims : int
        Draws for the mean after pre-testing (NIS only; seeded).
    """
    s = np.asarray(sigma, dtype=np.float64)
    t = np.asarray(t_vec, dtype=np.float64).ravel()
    if s.shape != (t.size, t.size):
        raise ModelSpecError(f"sigma must be {t.size} x {t.size} (one row per entry of t_vec)")
    if (slope is None) == (delta is None):
        raise ModelSpecError("give exactly one of slope or delta")
    dl = (t - reference_period) * slope if slope is not None else np.asarray(delta, float).ravel()
    if dl.size != t.size:
        raise ModelSpecError("delta must have one entry per coefficient")
    pre = np.flatnonzero(t < reference_period)
    post = np.flatnonzero(t > reference_period)
    s_pre = _pre_sigma(s, pre)
    power = pretest_power(dl[pre], s_pre, test=test, threshold=threshold, alpha=alpha, seed=seed)
    power0 = pretest_power(
        np.zeros(pre.size), s_pre, test=test, threshold=threshold, alpha=alpha, seed=seed
    )
    bayes = (1 - power) / (1 - power0)
    lr = None
    if betahat is not None:
        b = np.asarray(betahat, dtype=np.float64).ravel()
        dist1 = stats.multivariate_normal(mean=dl[pre], cov=s_pre)
        dist0 = stats.multivariate_normal(mean=np.zeros(pre.size), cov=s_pre)
        lr = float(np.exp(dist1.logpdf(b[pre]) - dist0.logpdf(b[pre])))
    se = np.sqrt(np.diag(s))
    mean_after = np.full(t.size, np.nan)
    if test == "nis":
        rng = np.random.default_rng(seed)
        draws = rng.multivariate_normal(dl[pre], s_pre, size=n_sims, method="cholesky")
        ok = (np.abs(draws) <= threshold * se[pre][None, :]).all(axis=1)
        if ok.any():
            m_pre = draws[ok].mean(axis=0)
            mean_after[pre] = m_pre
            s21 = s[np.ix_(post, pre)]
            mean_after[post] = dl[post] + s21 @ np.linalg.solve(s_pre, m_pre - dl[pre])
    rows = {
        "t": np.append(t, reference_period),
        "betahat": np.append(
            np.asarray(betahat, float).ravel() if betahat is not None else np.full(t.size, np.nan),
            0.0,
        ),
        "delta": np.append(dl, 0.0),
        "se": np.append(se, 0.0),
        "mean_after_pretest": np.append(mean_after, 0.0),
    }
    table = pl.DataFrame(rows).sort("t")
    return PretrendPowerResult(power, bayes, lr, table, test, slope)


def pretrend_power_event_study(
    result: object,
    *,
    slope: float | None = None,
    delta: npt.ArrayLike | None = None,
    test: Test = "nis",
    **kwargs: object,
) -> PretrendPowerResult:
    """:func:`pretrend_power` fed from an event-study result.

    ``result`` offers ``event_study_inputs() -> (event_times, betahat, sigma)`` and ``ref`` (as
    :class:`~tradeimpact.models.results.EventStudyResult` does).
    """
    if not hasattr(result, "event_study_inputs"):
        raise ModelSpecError("the result has no event_study_inputs()")
    times, b, s = result.event_study_inputs()
    ref = float(getattr(result, "ref", -1))
    return pretrend_power(
        s,
        t_vec=times,
        reference_period=ref,
        slope=slope,
        delta=delta,
        betahat=b,
        test=test,
        **kwargs,  # type: ignore[arg-type]
    )


__all__ = [
    "PretrendPowerResult",
    "pretest_power",
    "pretrend_power",
    "pretrend_power_event_study",
    "slope_for_power",
]
