"""tradeimpact.core.sample: one estimation sample for feols and ppml, checked against pyfixest.

Every count is checked two ways: the accounting identity ``rows in = nobs + sum(dropped)``, and
pyfixest's sample on the same data (``_N``, and the singletons it reports dropping).
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import polars as pl
import pyfixest as pf
import pytest

from tradeimpact.core.fixed_effects import FixedEffects
from tradeimpact.core.sample import estimation_sample
from tradeimpact.errors import ModelSpecError
from tradeimpact.models.linear import feols
from tradeimpact.models.ppml import SeparationWarning, ppml


def _panel(seed: int = 3) -> pd.DataFrame:
    """SYNTHETIC unit x year panel with missing values, null labels and singletons."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(40), 6)
    year = np.tile(np.arange(6), 40)
    x = rng.normal(size=unit.size)
    y = 1.0 + 0.5 * x + rng.normal(size=40)[unit] + 0.2 * year + rng.normal(size=unit.size)
    df = pd.DataFrame(
        {"y": y, "x": x, "unit": [f"u{u}" for u in unit], "year": year, "w": rng.uniform(1, 2, 240)}
    )
    df.loc[[3, 17, 50], "y"] = np.nan  # missing outcome
    df.loc[[8, 90], "x"] = np.nan  # missing regressor
    df.loc[[8, 120], "unit"] = None  # a null fixed-effect label (row 8 also misses x)
    # unit u39 keeps one row only: a singleton after the others are removed
    df = df.drop(index=list(range(235, 240))).reset_index(drop=True)
    # a year observed once: another singleton
    return pd.concat(
        [df, pd.DataFrame({"y": [1.0], "x": [0.3], "unit": ["u0"], "year": [99], "w": [1.0]})],
        ignore_index=True,
    )


def _pyfixest_singletons(fit_warnings: list[warnings.WarningMessage]) -> int:
    for w in fit_warnings:
        m = re.search(r"(\d+) singleton fixed effect", str(w.message))
        if m:
            return int(m.group(1))
    return 0


def test_feols_sample_equals_pyfixest_and_adds_up() -> None:
    df = _panel()
    res = feols(df, "y", ["x"], fe=["unit", "year"], vcov={"CR1": "unit"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # record pyfixest's singleton message to compare counts
        ref = pf.feols("y ~ x | unit + year", df, vcov={"CRV1": "unit"})
    assert res.nobs == ref._N
    assert res.dropped["singletons"] == _pyfixest_singletons(caught) == 2
    # 3 missing y, 2 missing x (one of them also a null unit), 1 more null unit: 6 rows
    assert res.dropped["missing"] == 6
    assert len(df) == res.nobs + sum(res.dropped.values())
    assert res.params["x"] == pytest.approx(float(ref.coef()["x"]), rel=1e-8)
    assert res.std_errors["x"] == pytest.approx(float(ref.se()["x"]), rel=1e-6)


def test_weights_nonpositive_are_counted() -> None:
    df = _panel()
    df.loc[[0, 1, 2], "w"] = 0.0
    df.loc[[3], "w"] = 0.0  # row 3 already misses y: counted once, as missing
    res = feols(df, "y", ["x"], fe=["unit", "year"], weights="w")
    assert res.dropped["nonpositive_weights"] == 3
    assert res.dropped["missing"] == 6
    assert len(df) == res.nobs + sum(res.dropped.values())
    # pyfixest on the rows with positive weights gives the same sample and estimate
    ref = pf.feols("y ~ x | unit + year", df[df["w"] > 0], weights="w", vcov="hetero")
    assert res.nobs == ref._N
    assert res.params["x"] == pytest.approx(float(ref.coef()["x"]), rel=1e-8)


def test_ppml_sample_equals_pyfixest_fepois_and_adds_up() -> None:
    rng = np.random.default_rng(5)
    n_e, n_i, n_t = 12, 10, 4
    e, i, t = (
        a.ravel()
        for a in np.meshgrid(np.arange(n_e), np.arange(n_i), np.arange(n_t), indexing="ij")
    )
    x = rng.normal(size=e.size)
    y = rng.poisson(np.exp(0.4 * x + rng.normal(size=n_e)[e] * 0.5)).astype(float)
    y[i == 2] = 0.0  # importer 2 never imports: separated by its fixed effect (n_e * n_t rows)
    df = pd.DataFrame({"y": y, "x": x, "exp": e, "imp": i, "year": t})
    df.loc[[5, 6], "x"] = np.nan
    df = pd.concat(
        [df, pd.DataFrame({"y": [3.0], "x": [0.2], "exp": [50], "imp": [0], "year": [0]})],
        ignore_index=True,
    )  # exporter 50: a singleton
    with pytest.warns(SeparationWarning):
        res = ppml(df, "y", ["x"], ["exp", "imp", "year"], vcov="hetero")
    ref = pf.fepois("y ~ x | exp + imp + year", df, vcov="hetero")
    assert res.nobs == ref._N
    assert res.dropped["missing"] == 2
    assert res.dropped["singletons"] == 1
    assert res.dropped["separated_fe"] == n_e * n_t
    assert len(df) == res.nobs + sum(res.dropped.values())
    assert res.params["x"] == pytest.approx(float(ref.coef()["x"]), rel=1e-6)


def test_steps_in_order_and_upstream_counts() -> None:
    y = np.array([1.0, np.nan, 2.0, 0.0, 3.0, 4.0, 5.0, 6.0])
    w = np.array([1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    g = np.array([0, 0, 1, 1, 2, 2, 3, 4])  # group 3, 4: singletons; 1 loses its rows
    fe = FixedEffects.from_columns([g])
    s = estimation_sample(
        8,
        numeric=[y],
        positive={"zeros_in_log": y},
        weights=w,
        fe=fe,
        dropped={"outside_window": 4},
    )
    assert s.dropped == {
        "outside_window": 4,
        "missing": 1,
        "zeros_in_log": 1,
        "nonpositive_weights": 1,
        "singletons": 3,  # 6, 7, and 0 (alone in group 0 once row 1 is gone)
    }
    assert s.keep.tolist() == [False, False, False, False, True, True, False, False]
    assert s.n_input == 12 and s.n_used == 2
    s.check()
    with pytest.raises(ModelSpecError, match="no observations left"):
        estimation_sample(2, numeric=[np.array([np.nan, np.nan])])


def test_checks_iterate_with_singletons() -> None:
    """A check's drop can create a singleton, and a singleton's drop can trigger the check."""
    g = np.array([0, 0, 1, 1, 1, 2, 2])
    fe = FixedEffects.from_columns([g])
    calls: list[int] = []

    def drop_row_2_once(keep: np.ndarray) -> np.ndarray:
        calls.append(int(keep.sum()))
        out = np.zeros(7, dtype=bool)
        out[[0]] = keep[0]  # drops row 0: row 1 becomes a singleton of group 0
        return out

    s = estimation_sample(7, fe=fe, checks=[("custom", drop_row_2_once)])
    assert s.dropped == {"missing": 0, "singletons": 1, "custom": 1}
    assert s.keep.tolist() == [False, False, True, True, True, True, True]
    assert calls == [7, 5]


def test_polars_null_label_is_missing() -> None:
    df = pl.from_pandas(_panel())
    res = feols(df, "y", ["x"], fe=["unit", "year"])
    assert res.dropped["missing"] == 6


def test_formula_front_end_rows_add_up() -> None:
    """The formula drops rows formulaic cannot evaluate before the keyword fit: still counted."""
    import tradeimpact as ti

    df = _panel()
    df.loc[[30, 31], "y"] = -1.0  # log(y) is missing there, as pyfixest's log
    with pytest.warns(UserWarning, match="2 rows"):
        res = ti.feols("log(y + 5) ~ x | unit + year", df.assign(y=df["y"] - 5))
    ref = pf.feols("log(y + 5) ~ x | unit + year", df.assign(y=df["y"] - 5))
    assert res.nobs == ref._N
    assert len(df) == res.nobs + sum(res.dropped.values())
    fp = ti.fepois("x2 ~ x | unit + year", df.assign(x2=np.exp(df["x"].fillna(0))))
    assert len(df) == fp.nobs + sum(fp.dropped.values())
