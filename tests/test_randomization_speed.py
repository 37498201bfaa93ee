"""The closed-form placebo moments of randomization inference equal the projection path exactly.

``randomization_inference`` takes a closed form (no projection of the placebo columns) when the
unit is an absorbed fixed effect; here it is checked against the projection of every placebo
column (:func:`tradeimpact.core.fixed_effects.demean`, forced by disabling the closed form) on
SYNTHETIC unbalanced panels with controls, weights, a third fixed effect and two treated units.
"""

from __future__ import annotations

import functools
import time

import numpy as np
import polars as pl
import pytest

import tradeimpact.inference.randomization as ri
from tradeimpact.core.fixed_effects import demean
from tradeimpact.errors import ModelSpecError


def _unbalanced(n_units: int = 40, n_time: int = 24, seed: int = 0) -> pl.DataFrame:
    """SYNTHETIC unbalanced panel: a fifth of the rows missing, two controls, weights, regions."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n_units), n_time)
    t = np.tile(np.arange(n_time), n_units)
    keep = rng.random(unit.size) > 0.2
    unit, t = unit[keep], t[keep]
    x1 = rng.normal(size=unit.size) + 0.3 * unit / n_units
    x2 = rng.normal(size=unit.size) * 100.0  # a control on another scale
    y = (
        rng.normal(size=n_units)[unit]
        + rng.normal(size=n_time)[t]
        + 0.5 * x1
        + 0.01 * x2
        + rng.normal(size=unit.size)
    )
    return pl.DataFrame(
        {
            "unit": [f"u{u:03d}" for u in unit],
            "region": (unit % 4).astype(np.int64),
            "time": t,
            "region_time": (unit % 4) * 1000 + t,
            "post": (t >= n_time // 2).astype(np.int64),
            "x1": x1,
            "x2": x2,
            "w": rng.uniform(0.2, 3.0, unit.size),
            "y": y,
        }
    )


def _projection_path(monkeypatch: pytest.MonkeyPatch, **kw: object) -> ri.RandomizationResult:
    """The same call with the closed form disabled and a tighter demeaning tolerance."""
    with monkeypatch.context() as m:
        m.setattr(ri, "MAX_DENSE_REGRESSORS", -1)
        m.setattr(ri, "demean", functools.partial(demean, tol=1e-14))
        return ri.randomization_inference(**kw)  # type: ignore[arg-type]


CASES = [
    {"treated": "u000", "fe": None, "controls": None, "weights": None},
    {"treated": "u003", "fe": None, "controls": ["x1", "x2"], "weights": "w"},
    {"treated": ["u001", "u007"], "fe": None, "controls": ["x1"], "weights": "w"},
    {"treated": "u005", "fe": ["time", "unit", "region_time"], "controls": ["x2"], "weights": None},
    {"treated": "u002", "fe": ["unit", "region_time"], "controls": ["x1", "x2"], "weights": "w"},
]


@pytest.mark.parametrize("case", CASES)
def test_closed_form_equals_projection(monkeypatch: pytest.MonkeyPatch, case: dict) -> None:
    kw = dict(
        data=_unbalanced(seed=len(str(case))),
        y="y",
        unit="unit",
        time="time",
        post="post",
        max_exact=50,
        n_permutations=60,
        seed=3,
        **case,
    )
    fast = ri.randomization_inference(**kw)  # type: ignore[arg-type]
    slow = _projection_path(monkeypatch, **kw)
    scale = np.abs(slow.placebo_estimates).max()
    np.testing.assert_allclose(
        fast.placebo_estimates, slow.placebo_estimates, rtol=0, atol=1e-12 * scale
    )
    np.testing.assert_allclose(fast._cross, slow._cross, rtol=0, atol=1e-12)
    assert fast.placebo["assignment"].to_list() == slow.placebo["assignment"].to_list()
    assert (fast.p_numerator, fast.p_denominator) == (slow.p_numerator, slow.p_denominator)
    np.testing.assert_allclose(fast.conf_int(0.9), slow.conf_int(0.9), rtol=1e-9)


def test_closed_form_is_used_only_with_the_unit_absorbed(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, ...]] = []
    real = ri.demean

    def counting(x, fe, weights=None, **k):  # type: ignore[no-untyped-def]
        calls.append(np.asarray(x).shape)
        return real(x, fe, weights, **k)

    monkeypatch.setattr(ri, "demean", counting)
    frame = _unbalanced(seed=5)
    kw = dict(y="y", unit="unit", time="time", treated="u000", post="post", controls=["x1"])
    ri.randomization_inference(frame, **kw)  # type: ignore[arg-type]
    assert len(calls) == 0  # exact closed form: neither y nor any placebo column is demeaned
    calls.clear()
    # region + time fixed effects: the unit is not absorbed, the placebo columns are projected
    res = ri.randomization_inference(frame, fe=["region", "time"], **kw)  # type: ignore[arg-type]
    assert len(calls) == 2 and calls[1][1] == res.p_denominator  # y, D, controls; placebos


def test_closed_form_names_a_placebo_unit_without_variation() -> None:
    frame = _unbalanced(seed=6).filter(~((pl.col("unit") == "u009") & (pl.col("post") == 1)))
    with pytest.raises(ModelSpecError, match="u009"):
        ri.randomization_inference(frame, "y", "unit", "time", "u000", "post")


def test_999_placebos_cost_less_than_one_projection_per_placebo() -> None:
    """1e5 rows, 999 random placebos: far below the cost of projecting 1,000 columns."""
    rng = np.random.default_rng(7)
    n_units, n_time = 833, 120
    unit = np.repeat(np.arange(n_units), n_time)
    t = np.tile(np.arange(n_time), n_units)
    frame = pl.DataFrame(
        {"unit": unit, "time": t, "post": (t >= 60).astype(np.int64), "y": rng.normal(size=t.size)}
    )
    start = time.perf_counter()
    res = ri.randomization_inference(
        frame, "y", "unit", "time", 0, "post", max_exact=0, n_permutations=999, seed=1
    )
    elapsed = time.perf_counter() - start
    assert res.p_denominator == 1000
    # the projection path needs ~2 demeaning sweeps of 1,000 columns of 1e5 rows (seconds);
    # the closed form takes a few hundredths of a second (a generous bound for a loaded machine)
    assert elapsed < 2.0
