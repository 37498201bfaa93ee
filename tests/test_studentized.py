"""Studentized randomization inference and the Ferman-Pinto correction against brute force.

Brute force: every placebo regression refitted with explicit unit and period dummies (numpy
least squares), its CR1 t or its pre-period residual s.d. computed from the definition; the
interval ends checked by refitting just inside and outside them. SYNTHETIC panels.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from tradeimpact.errors import ModelSpecError
from tradeimpact.inference.conley_taber import conley_taber_panel
from tradeimpact.inference.headline import clopper_pearson, same_test
from tradeimpact.inference.randomization import randomization_inference
from tradeimpact.inference.studentized import studentized_randomization_inference as sri


def _panel(n_units: int = 12, n_time: int = 12, seed: int = 0, noisy: float = 3.0,
           drop: float = 0.0, controls: bool = False) -> pd.DataFrame:  # fmt: skip
    """SYNTHETIC panel, unit 0 treated from t=6, unit 0's errors ``noisy`` times larger."""
    rng = np.random.default_rng(seed)
    u = np.repeat(np.arange(n_units), n_time)
    t = np.tile(np.arange(n_time), n_units)
    sd = np.where(u == 0, noisy, 1.0)
    x1 = rng.normal(size=u.size)
    y = rng.normal(size=n_units)[u] + rng.normal(size=n_time)[t] + sd * rng.normal(size=u.size)
    y = y + (0.4 * x1 if controls else 0.0)
    df = pd.DataFrame({"u": u, "t": t, "post": (t >= 6).astype(float), "y": y, "x1": x1,
                       "w": rng.uniform(0.5, 2.0, size=u.size)})  # fmt: skip
    if drop:
        keep = (rng.random(len(df)) > drop) | (df.u == 0)
        df = df[keep].reset_index(drop=True)
    return df


def _design(df: pd.DataFrame, controls: bool) -> np.ndarray:
    ud = pd.get_dummies(df.u, dtype=float).to_numpy()
    td = pd.get_dummies(df.t, dtype=float).to_numpy()[:, 1:]
    return np.column_stack([ud, td, *([df[["x1"]].to_numpy()] if controls else [])])


def _wls(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sw = np.sqrt(w)
    b = np.linalg.lstsq(x * sw[:, None], y * sw, rcond=None)[0]
    return b, y - x @ b


def _brute_p(df: pd.DataFrame, tau: float, scale: str, controls: bool, weighted: bool) -> float:
    """p(tau) by refitting every assignment (CR1 t, or beta over the pre-period s.d.)."""
    w = df.w.to_numpy() if weighted else np.ones(len(df))
    z = _design(df, controls)
    d = ((df.u == 0) * df.post).to_numpy()
    y = df.y.to_numpy() - tau * d
    units = np.unique(df.u)
    pre = (df.post == 0).to_numpy()
    _, e_pre = _wls(_design(df[pre], controls), df.y.to_numpy()[pre], w[pre])
    stats_ = []
    for j in units:
        tj = ((df.u == j) * df.post).to_numpy()
        x = np.column_stack([tj, z])
        b, e = _wls(x, y, w)
        if scale == "cr1":
            xw = x * w[:, None]
            bread = np.linalg.pinv(x.T @ xw)
            meat = sum(
                np.outer(xw[df.u == g].T @ e[df.u == g], xw[df.u == g].T @ e[df.u == g])
                for g in units
            )
            se = np.sqrt((bread @ meat @ bread)[0, 0])  # common small-sample factor cancels
        else:
            r = (df.u[pre] == j).to_numpy()
            se = np.sqrt(np.sum(w[pre][r] * e_pre[r] ** 2) / np.sum(w[pre][r]))
        stats_.append(abs(b[0]) / se)
    s = np.array(stats_)
    return float((s >= s[0] - 1e-9 * max(1, s[0])).mean())


@pytest.mark.parametrize("scale", ["pre_sd", "cr1"])
@pytest.mark.parametrize("messy", [False, True])
def test_pvalue_and_interval_ends_equal_brute_force(scale: str, messy: bool) -> None:
    """Balanced; and unbalanced with a control and weights: p(tau) and the interval ends."""
    df = _panel(seed=1, drop=0.15 if messy else 0.0, controls=messy)
    kw = {"controls": ["x1"], "weights": "w"} if messy else {}
    res = sri(df, "y", "u", "t", 0, "post", scale=scale, **kw)  # type: ignore[arg-type]
    assert res.exact and res.p_denominator == 12
    assert res.pvalue == pytest.approx(_brute_p(df, 0.0, scale, messy, messy))
    assert res.pvalue_at(0.8) == pytest.approx(_brute_p(df, 0.8, scale, messy, messy))
    lo, hi = res.conf_int(0.9)
    assert np.isfinite(lo) and np.isfinite(hi) and lo < res.estimate < hi
    eps = 1e-6 * max(1.0, abs(lo), abs(hi))
    assert _brute_p(df, lo + eps, scale, messy, messy) > 0.1
    assert _brute_p(df, hi - eps, scale, messy, messy) > 0.1
    assert _brute_p(df, lo - eps, scale, messy, messy) <= 0.1
    assert _brute_p(df, hi + eps, scale, messy, messy) <= 0.1


def test_actual_cr1_t_equals_pyfixest_and_pre_scales_equal_a_pre_period_fit() -> None:
    pf = pytest.importorskip("pyfixest")
    df = _panel(seed=2)
    df["d"] = (df.u == 0) * df.post
    r_cr1 = sri(df, "y", "u", "t", 0, "post", scale="cr1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = pf.feols("y ~ d | u + t", df, vcov={"CRV1": "u"})
    pre = df[df.post == 0]
    assert r_cr1.statistic == pytest.approx(float(fit.tstat().iloc[0]), rel=1e-8)
    assert r_cr1.estimate == pytest.approx(float(fit.coef().iloc[0]), rel=1e-10)
    # pre-period scales: residuals of y on unit and period dummies, pre rows only (lstsq)
    _, e = _wls(_design(pre, False), pre.y.to_numpy(), np.ones(len(pre)))
    want = np.sqrt(pd.Series(e**2).groupby(pre.u.to_numpy()).mean().to_numpy())
    got = sri(df, "y", "u", "t", 0, "post").placebo["scale"].to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-8)


def test_two_treated_enumerated_and_drawn() -> None:
    df = _panel(seed=3, n_units=8)
    both = sri(df, "y", "u", "t", [0, 1], "post")
    assert (
        both.exact
        and both.p_denominator == 28
        and both.p_fraction.denominator in (1, 2, 4, 7, 14, 28)
    )
    drawn = sri(df, "y", "u", "t", [0, 1], "post", max_exact=10, n_permutations=99, seed=1)
    assert not drawn.exact and drawn.p_denominator == 100
    assert drawn.estimate == pytest.approx(both.estimate, rel=1e-12)


def test_same_test_in_a_balanced_one_treated_panel() -> None:
    """Coefficient RI = Conley-Taber = RI-t(CR1); RI-t(pre s.d.) = Ferman-Pinto (pre-period)."""
    df = _panel(seed=4)
    args = (df, "y", "u", "t", 0, "post")
    ri = randomization_inference(*args)
    ct = conley_taber_panel(*args)
    assert ct.pvalue == pytest.approx(ri.pvalue)
    np.testing.assert_allclose(ct.conf_int(0.9), ri.conf_int(0.9), rtol=1e-9)
    assert same_test(ri, ct) and ri.same_test_as and ct.same_test_as
    assert sri(*args, scale="cr1").pvalue == pytest.approx(ri.pvalue)
    t_pre = sri(*args)
    fp = conley_taber_panel(*args, correction="ferman_pinto", variance="pre_period")
    assert fp.pvalue == pytest.approx(t_pre.pvalue)
    np.testing.assert_allclose(fp.conf_int(0.9), t_pre.conf_int(0.9), rtol=1e-9)
    assert same_test(t_pre, fp) is not None
    assert same_test(ri, t_pre) is None or ri.pvalue == t_pre.pvalue
    # with a control the shortcut does not hold: no structural note
    assert randomization_inference(*args, controls=["x1"]).same_test_as is None


def test_ferman_pinto_group_sizes_by_brute_force() -> None:
    """var(eta) = 1/M: W_l from explicit-dummy residuals, A + B/M by OLS, rescaled, ranked."""
    rng = np.random.default_rng(5)
    n_u, n_t = 30, 10
    m = rng.integers(20, 2000, size=n_u).astype(float)
    m[0] = 25.0
    u = np.repeat(np.arange(n_u), n_t)
    t = np.tile(np.arange(n_t), n_u)
    y = (
        rng.normal(size=n_u)[u]
        + rng.normal(size=n_t)[t]
        + rng.normal(size=u.size) * np.sqrt(3.0 / m[u] + 0.002)
    )
    df = pd.DataFrame({"u": u, "t": t, "post": (t >= 5).astype(float), "y": y, "M": m[u]})
    res = conley_taber_panel(df, "y", "u", "t", 0, "post", correction="ferman_pinto",
                             group_sizes=df.M.to_numpy())  # fmt: skip
    z = _design(df, False)
    d = ((df.u == 0) * df.post).to_numpy()
    full = np.linalg.lstsq(np.column_stack([d, z]), df.y, rcond=None)[0]
    alpha = full[0]
    e = df.y.to_numpy() - np.column_stack([d, z]) @ full
    d_t = d - z @ np.linalg.lstsq(z, d, rcond=None)[0]
    wd = d_t[df.u == 0]
    w_l = np.array([e[df.u == j] @ wd / (wd @ wd) for j in range(1, n_u)])
    zz = np.column_stack([np.ones(n_u - 1), 1 / m[1:]])
    from scipy.optimize import nnls

    a_, b_ = nnls(zz, w_l**2)[0]  # A, B >= 0
    assert b_ > 0  # the variance falls with M here
    # the p-value of alpha = 0 ranks the placebo values under that null: residuals of y on the
    # dummies alone (CT's test inversion at a0 = 0), rescaled by the same factors
    e0 = df.y.to_numpy() - z @ np.linalg.lstsq(z, df.y, rcond=None)[0]
    w_0 = np.array([e0[df.u == j] @ wd / (wd @ wd) for j in range(1, n_u)])
    scaled = w_0 * np.sqrt((a_ + b_ / m[0]) / (a_ + b_ / m[1:]))
    p = (1 + (np.abs(scaled) >= abs(alpha) - 1e-12).sum()) / n_u
    assert res.estimate == pytest.approx(alpha, rel=1e-9)
    assert res.pvalue == pytest.approx(p)
    assert res.reduces_to is None and "Ferman-Pinto" in res.method
    # equal sizes: exactly Conley-Taber, and the result says so
    eq = conley_taber_panel(df, "y", "u", "t", 0, "post", correction="ferman_pinto",
                            group_sizes=np.full(len(df), 7.0))  # fmt: skip
    ct = conley_taber_panel(df, "y", "u", "t", 0, "post")
    assert eq.reduces_to and "Conley-Taber" in eq.reduces_to
    assert eq.pvalue == ct.pvalue and eq.conf_int() == ct.conf_int()


def test_clopper_pearson_equals_statsmodels() -> None:
    from statsmodels.stats.proportion import proportion_confint

    for k, n in [(0, 44), (3, 44), (44, 44), (7, 19)]:
        want = proportion_confint(k, n, alpha=0.05, method="beta")
        np.testing.assert_allclose(clopper_pearson(k, n), want, rtol=1e-9, atol=1e-12)


def test_bad_inputs() -> None:
    df = _panel(seed=6)
    with pytest.raises(ModelSpecError, match="scale"):
        sri(df, "y", "u", "t", 0, "post", scale="hc1")  # type: ignore[arg-type]
    late = df[~((df.u == 3) & (df.post == 0))]
    with pytest.raises(ModelSpecError, match="3"):
        sri(late, "y", "u", "t", 0, "post")
    with pytest.raises(ModelSpecError, match="group_sizes"):
        conley_taber_panel(df, "y", "u", "t", 0, "post", correction="ferman_pinto",
                           variance="group_size")  # fmt: skip
