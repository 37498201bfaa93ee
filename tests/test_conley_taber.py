"""Conley-Taber (2011) intervals against a brute-force re-estimation with explicit dummies."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tradeimpact.core.fixed_effects import FixedEffects
from tradeimpact.errors import ModelSpecError
from tradeimpact.inference.conley_taber import conley_taber, conley_taber_panel


def _panel(n_units: int = 25, n_time: int = 8, seed: int = 0, effect: float = 0.0) -> pd.DataFrame:
    """SYNTHETIC balanced panel with unit and time effects; units 0 (and 1) treated from t=5."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n_units), n_time)
    time = np.tile(np.arange(n_time), n_units)
    post = (time >= 5).astype(float)
    x1 = rng.normal(size=unit.size)
    y = rng.normal(size=n_units)[unit] + rng.normal(size=n_time)[time] + 0.3 * x1
    y = y + rng.normal(size=unit.size) + effect * (unit == 0) * post
    return pd.DataFrame({"unit": unit, "time": time, "post": post, "x1": x1, "y": y})


def _brute_force(
    df: pd.DataFrame, d: np.ndarray, a0: float, controls: bool, kind: str, level: float
) -> bool:
    """Accept a0? Residuals of y - a0 d on explicit unit and time dummies (+ x1), placebo W_l."""
    ud = pd.get_dummies(df.unit, dtype=float).to_numpy()
    td = pd.get_dummies(df.time, dtype=float).to_numpy()[:, 1:]
    cols = [ud, td] + ([df[["x1"]].to_numpy()] if controls else [])
    z = np.column_stack(cols)
    y = df.y.to_numpy()
    # alpha_hat from the full regression with d
    full = np.linalg.lstsq(np.column_stack([d, z]), y, rcond=None)[0]
    alpha_hat = full[0]
    e = (y - a0 * d) - z @ np.linalg.lstsq(z, y - a0 * d, rcond=None)[0]
    d_t = d - z @ np.linalg.lstsq(z, d, rcond=None)[0]
    treated = np.unique(df.unit[d != 0])
    controls_u = np.setdiff1d(np.unique(df.unit), treated)
    assert treated.size == 1
    rows = (df.unit == treated[0]).to_numpy()
    wd = d_t[rows]
    times = df.time[rows].to_numpy()
    w_l = []
    for u in controls_u:
        r = (df.unit == u).to_numpy()
        e_u = pd.Series(e[r], index=df.time[r]).loc[times].to_numpy()
        w_l.append(e_u @ wd / (wd @ wd))
    w_l = np.array(w_l)
    stat = alpha_hat - a0
    alpha = 1 - level
    if kind == "symmetric":
        return bool((1 + (np.abs(w_l) >= abs(stat) - 1e-12).sum()) / (1 + w_l.size) > alpha)
    srt = np.sort(w_l)
    lo = srt[max(1, math.ceil(w_l.size * alpha / 2)) - 1]
    hi = srt[max(1, math.ceil(w_l.size * (1 - alpha / 2))) - 1]
    return bool(lo <= stat <= hi)


@pytest.mark.parametrize("kind", ["symmetric", "equal_tailed"])
@pytest.mark.parametrize("controls", [False, True])
def test_interval_matches_brute_force_inversion(kind: str, controls: bool) -> None:
    df = _panel(seed=1, effect=1.0)
    d = ((df.unit == 0) * df.post).to_numpy()
    fe = FixedEffects.from_columns([df.unit.to_numpy(), df.time.to_numpy()])
    res = conley_taber(
        df.y.to_numpy(),
        d,
        df.unit.to_numpy(),
        df.time.to_numpy(),
        fe,
        df[["x1"]].to_numpy() if controls else None,
        level=0.9,
        kind=kind,  # type: ignore[arg-type]
    )
    # estimate = the TWFE coefficient (explicit dummies)
    z = np.column_stack(
        [d, pd.get_dummies(df.unit, dtype=float), pd.get_dummies(df.time, dtype=float).iloc[:, 1:]]
        + ([df[["x1"]].to_numpy()] if controls else [])
    )
    assert res.estimate == pytest.approx(np.linalg.lstsq(z, df.y, rcond=None)[0][0], abs=1e-9)
    lo, hi = res.conf_int(0.9)
    assert lo < res.estimate < hi
    eps = 1e-7
    for a0, want in [(lo + eps, True), (hi - eps, True), (lo - eps, False), (hi + eps, False)]:
        assert _brute_force(df, d, a0, controls, kind, 0.9) is want, (a0, want)
    assert res.n_control == 24 and res.n_treated == 1 and res.exact
    assert "Conley-Taber" in res.method and "Conley-Taber" in res.summary()


def test_equal_tailed_is_ct_quantile_interval_when_residuals_do_not_move() -> None:
    """With B_l ~ 0 the inverted set is [alpha_hat - Q(1-a/2), alpha_hat - Q(a/2)]."""
    df = _panel(n_units=200, seed=2)
    res = conley_taber_panel(df, "y", "unit", "time", 0, "post", kind="equal_tailed", level=0.9)
    w = np.sort(res.placebo)
    n0 = w.size
    q_lo, q_hi = w[math.ceil(n0 * 0.05) - 1], w[math.ceil(n0 * 0.95) - 1]
    lo, hi = res.conf_int(0.9)
    assert lo == pytest.approx(res.estimate - q_hi, abs=0.02)
    assert hi == pytest.approx(res.estimate - q_lo, abs=0.02)


def test_two_treated_groups_enumerate_and_draw() -> None:
    df = _panel(n_units=12, seed=3)
    both = conley_taber_panel(df, "y", "unit", "time", [0, 1], "post")
    assert both.exact and both.placebo.size == 10**2 and both.n_treated == 2
    drawn = conley_taber_panel(df, "y", "unit", "time", [0, 1], "post", max_exact=50, n_draws=500)
    assert not drawn.exact and drawn.placebo.size == 500
    assert drawn.estimate == pytest.approx(both.estimate, abs=1e-12)


def test_bad_inputs() -> None:
    df = _panel(n_units=6, seed=4)
    fe = FixedEffects.from_columns([df.unit.to_numpy(), df.time.to_numpy()])
    with pytest.raises(ModelSpecError, match="no treated group"):
        conley_taber(df.y, np.zeros(len(df)), df.unit, df.time, fe)
    with pytest.raises(ModelSpecError, match="no control groups"):
        conley_taber(df.y, df.post, df.unit, df.time, fe)
    holes = df[~((df.unit == 3) & (df.time == 6))]
    with pytest.raises(ModelSpecError, match="lacks cells"):
        conley_taber_panel(holes, "y", "unit", "time", 0, "post")
    with pytest.raises(ModelSpecError, match="not found"):
        conley_taber_panel(df, "y", "unit", "time", 99, "post")


def test_equal_tailed_keeps_endpoints_on_rounding_ties() -> None:
    """Issue 10: the equal-tailed inversion lost endpoints that are exact ties (no tolerance).

    Seed 0, 20 units x 10 periods, post from t=5, y ~ N(0, 1), unit 0 treated: the interval was
    (-0.998, 1.246); CT's quantile interval by inversion is (-1.238, 1.246). Checked against the
    brute-force inversion (explicit dummies) just inside and outside each end.
    """
    rng = np.random.default_rng(0)
    unit = np.repeat(np.arange(20), 10)
    time = np.tile(np.arange(10), 20)
    df = pd.DataFrame({"unit": unit, "time": time, "post": (time >= 5).astype(float),
                       "y": rng.normal(size=200), "x1": 0.0})  # fmt: skip
    res = conley_taber_panel(df, "y", "unit", "time", 0, "post", kind="equal_tailed")
    lo, hi = res.conf_int(0.95)
    assert lo == pytest.approx(-1.2383, abs=5e-4) and hi == pytest.approx(1.2456, abs=5e-4)
    d = ((df.unit == 0) * df.post).to_numpy()
    eps = 1e-6
    for a0, want in [(lo + eps, True), (hi - eps, True), (lo - eps, False), (hi + eps, False)]:
        assert _brute_force(df, d, a0, False, "equal_tailed", 0.95) is want, (a0, want)


def test_equal_tailed_interval_not_too_narrow_in_random_panels() -> None:
    """Before the fix 102 of 200 random 20x10 panels lost an endpoint; now none does."""
    bad = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        unit = np.repeat(np.arange(20), 10)
        time = np.tile(np.arange(10), 20)
        df = pd.DataFrame({"unit": unit, "time": time, "post": (time >= 5).astype(float),
                           "y": rng.normal(size=200)})  # fmt: skip
        res = conley_taber_panel(df, "y", "unit", "time", 0, "post", kind="equal_tailed")
        lo, hi = res.conf_int(0.95)
        # the ends are breakpoints: just outside is rejected, just inside accepted
        assert res.pvalue_at(lo + 1e-7 * max(1, abs(lo))) > 0.05 - 1e-12
        bad += not (np.isfinite(lo) and np.isfinite(hi))
    assert bad == 0
