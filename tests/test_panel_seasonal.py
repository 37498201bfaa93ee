"""build_panel(seasonal_adjust=True): opt-in STL adjustment of the log outcome, per cell.

References: statsmodels' STL run directly on one cell's series; a SYNTHETIC series with a known
seasonal pattern; the default panel (unchanged: the option is off by default).
"""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import polars as pl
import pytest
from statsmodels.tsa.seasonal import STL

from tests.conftest import REPO
from tradeimpact.casestudy import load_flows
from tradeimpact.errors import ModelSpecError
from tradeimpact.panel import Event, build_panel, seasonally_adjust

W = (date(2008, 1, 1), date(2010, 11, 30))


@pytest.fixture(scope="module")
def flows() -> pl.DataFrame:
    return load_flows(REPO / "data_raw").flows


@pytest.fixture(scope="module")
def ev2010() -> Event:
    return Event.from_toml(REPO / "analysis" / "events" / "rare_earth_2010.toml")


def test_opt_in_and_equal_to_statsmodels(flows, ev2010):
    plain = build_panel(flows, ev2010, "importer", "log_quantity", window=W)
    adj = build_panel(flows, ev2010, "importer", "log_quantity", window=W, seasonal_adjust=True)
    assert "y_unadjusted" not in plain.data.columns  # off by default: the panel as before
    keys = ["cell", "period"]
    both = plain.data.select(*keys, "y").join(adj.data, on=keys, how="inner", validate="1:1")
    assert both.height == plain.data.height == adj.data.height
    np.testing.assert_array_equal(both["y"].to_numpy(), both["y_unadjusted"].to_numpy())
    np.testing.assert_allclose(both["y_right"] + both["seasonal"], both["y"], rtol=0, atol=1e-12)
    # one cell by hand: STL of its monthly series (complete here), stable seasonal, robust
    cell = adj.data["cell"].unique().sort()[0]
    part = plain.data.filter(pl.col("cell") == cell).sort("period")
    n = part.height
    ref = STL(part["y"].to_numpy(), period=12, seasonal=2 * (n // 2) + 1 + 24, seasonal_deg=0,
              robust=True).fit()  # fmt: skip
    got = adj.data.filter(pl.col("cell") == cell).sort("period")
    if n == (part["period"].max().year * 12 + part["period"].max().month  # type: ignore[union-attr]
             - part["period"].min().year * 12 - part["period"].min().month + 1):  # type: ignore[union-attr]  # fmt: skip
        np.testing.assert_allclose(got["seasonal"], ref.seasonal, rtol=0, atol=1e-12)
    assert any("seasonally adjusted" in note for note in adj.notes)


def test_recovers_a_known_seasonal_pattern():
    periods = pl.date_range(date(2008, 1, 1), date(2010, 12, 1), "1mo", eager=True)
    m = np.arange(periods.len())
    pattern = 0.3 * np.sin(2 * np.pi * m / 12)
    rng = np.random.default_rng(0)
    frame = pl.concat(
        pl.DataFrame({"period": periods, "cell": [c] * m.size,
                      "y": level + 0.01 * m + pattern + rng.normal(0, 0.02, m.size)})
        for c, level in (("a", 1.0), ("b", 3.0))
    )  # fmt: skip
    out = seasonally_adjust(frame)
    for c in ("a", "b"):
        s = out.filter(pl.col("cell") == c)["seasonal"].to_numpy()
        # noise s.d. 0.02 and 3 years: a calendar month's factor has s.e. 0.012; 4 s.e.
        np.testing.assert_allclose(s - s.mean(), pattern - pattern.mean(), atol=0.05)
    # a gap (a zero month dropped from a log outcome) is interpolated for the fit only
    gap = frame.filter(~((pl.col("cell") == "a") & (pl.col("period") == date(2009, 6, 1))))
    assert seasonally_adjust(gap).height == gap.height


def test_bad_requests(flows, ev2010):
    with pytest.raises(ModelSpecError, match="log outcome"):
        build_panel(flows, ev2010, "importer", "ppml_value", window=W, seasonal_adjust=True)
    with pytest.raises(ModelSpecError, match="monthly"):
        build_panel(flows, ev2010, "importer", freq="A", seasonal_adjust=True)
    with pytest.raises(ModelSpecError, match="sum3"):
        build_panel(flows, ev2010, "importer", window=W, sum3=True, seasonal_adjust=True)
    short = pl.DataFrame({"period": pl.date_range(date(2008, 1, 1), date(2009, 6, 1), "1mo",
                                                  eager=True), "cell": "JPN|x", "y": 1.0})  # fmt: skip
    with pytest.raises(ModelSpecError, match=re.escape("cell 'JPN|x' has 18 observed months")):
        seasonally_adjust(short)
