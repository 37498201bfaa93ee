"""Synthetic DiD, SC and DiD against R synthdid's California Proposition 99 estimates."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from conftest import shared_path

from tradeimpact.errors import ModelSpecError
from tradeimpact.models.synthdid import _fw_step, _sc_weight_fw, synthdid

OUTCOME, UNIT, TIME, D = "PacksPerCapita", "State", "Year", "treated"


@pytest.fixture(scope="module")
def prop99() -> pl.DataFrame:
    path = shared_path("validation", "california_prop99", "california_prop99.csv")
    return pl.read_csv(path, separator=";")


@pytest.mark.parametrize(
    ("method", "reference"), [("sdid", -15.60383), ("sc", -19.61966), ("did", -27.34911)]
)
def test_prop99_point_estimates(prop99: pl.DataFrame, method: str, reference: float) -> None:
    """R synthdid (synthdid_estimate / sc_estimate / did_estimate) on california_prop99."""
    res = synthdid(prop99, OUTCOME, UNIT, TIME, D, method=method, vcov=None)  # type: ignore[arg-type]
    assert res.att == pytest.approx(reference, abs=1e-3)
    assert res.omega["weight"].sum() == pytest.approx(1.0)
    assert (res.omega["weight"] >= 0).all()
    assert res.n_control == 38 and res.n_pre == 19
    assert np.isnan(res.std_errors["att"])


@pytest.mark.parametrize(
    ("options", "reference"),
    [
        ({"uniform_unit_weights": True}, -19.77199),  # time-weighted DID
        ({"omega_intercept": False}, -18.75256),  # SDID without intercept
        ({"method": "difp"}, -11.10464),  # Doudchenko-Imbens
        ({"method": "sc", "eta_omega": 12**0.25}, -21.71706),  # SC, regularised
        ({"method": "difp", "eta_omega": 12**0.25}, -16.12120),  # DIFP, regularised
    ],
)
def test_prop99_variants(prop99: pl.DataFrame, options: dict, reference: float) -> None:
    """The other estimators of the R synthdid paper-results table on california_prop99."""
    res = synthdid(prop99, OUTCOME, UNIT, TIME, D, vcov=None, **options)
    assert res.att == pytest.approx(reference, abs=1e-3)


def test_did_special_case_equals_twfe(prop99: pl.DataFrame) -> None:
    """DID with uniform weights is the two-way fixed-effects coefficient (linearmodels PanelOLS)."""
    lm = pytest.importorskip("linearmodels")
    pdf = prop99.to_pandas().set_index([UNIT, TIME])
    ref = lm.PanelOLS(pdf[OUTCOME], pdf[[D]], entity_effects=True, time_effects=True).fit()
    res = synthdid(prop99, OUTCOME, UNIT, TIME, D, method="did", vcov=None)
    assert res.att == pytest.approx(float(ref.params[D]), abs=1e-8)


def test_sdid_placebo_se(prop99: pl.DataFrame) -> None:
    """Placebo SE: seeded, reproducible, and of the size the paper reports (8.4; R/Stata 9.9-10.8)."""
    a = synthdid(prop99, OUTCOME, UNIT, TIME, D, replications=100, seed=1)
    b = synthdid(prop99, OUTCOME, UNIT, TIME, D, replications=100, seed=1)
    assert a.std_errors["att"] == b.std_errors["att"]
    assert 6.0 < a.std_errors["att"] < 14.0
    assert a.placebo_estimates.shape == (100,)
    # the standard error is sqrt((B-1)/B) * sd of the placebo estimates
    assert a.std_errors["att"] == pytest.approx(np.std(a.placebo_estimates, ddof=0))
    lo, hi = a.conf_int().loc["att"]
    assert lo < a.att < hi
    assert a.tidy()["term"].to_list() == ["att"]


def test_placebo_refused_without_enough_controls() -> None:
    """More treated than controls: a ModelSpecError, not a number; the point estimate still works."""
    rng = np.random.default_rng(3)
    units, times = 6, 10
    rows = [
        {"u": u, "t": t, "y": float(rng.normal() + u + 0.3 * t), "d": int(u >= 3 and t >= 7)}
        for u in range(units)
        for t in range(times)
    ]
    df = pl.DataFrame(rows)  # SYNTHETIC: 3 controls, 3 treated
    with pytest.raises(ModelSpecError, match="more control units than treated"):
        synthdid(df, "y", "u", "t", "d")
    assert np.isfinite(synthdid(df, "y", "u", "t", "d", vcov=None).att)


def test_staggered_refused() -> None:
    df = pl.DataFrame(
        {
            "u": [0] * 4 + [1] * 4 + [2] * 4,
            "t": [0, 1, 2, 3] * 3,
            "y": np.arange(12.0),
            "d": [0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0],
        }
    )
    with pytest.raises(ModelSpecError, match="block design"):
        synthdid(df, "y", "u", "t", "d", vcov=None)


def test_batched_solver_equals_r_steps() -> None:
    """The Gram/batched Frank-Wolfe solver gives the iterates of R's fw.step loop."""
    rng = np.random.default_rng(0)
    y = rng.normal(size=(3, 25, 9))
    zeta, md, iters = 0.7, 1e-6, 400
    start = np.full((3, 8), 1 / 8)
    ours = _sc_weight_fw(y, zeta, intercept=True, start=start, min_decrease=md, max_iter=iters)
    for b in range(3):
        yb = y[b] - y[b].mean(axis=0)
        a, target = yb[:, :8], yb[:, 8]
        x = start[b].copy()
        vals: list[float] = []
        for t in range(iters):
            if t >= 2 and vals[-2] - vals[-1] <= md**2:
                break
            x = _fw_step(a, x, target, 25 * zeta**2)
            err = a @ x - target
            vals.append(zeta**2 * float(x @ x) + float(err @ err) / 25)
        np.testing.assert_allclose(ours[b], x, atol=1e-10)


def test_plot_and_trajectories(prop99: pl.DataFrame) -> None:
    import matplotlib

    matplotlib.use("Agg")
    res = synthdid(prop99, OUTCOME, UNIT, TIME, D, method="sc", vcov=None)
    tr = res.trajectories()
    post = tr.filter(pl.col("time") >= 1989)
    # SC: lambda = 0, so the estimate is the mean post-period gap
    assert post["gap"].mean() == pytest.approx(res.att, abs=1e-9)
    ax = res.plot()
    assert ax.get_title().startswith("SC")
