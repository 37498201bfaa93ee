"""Events as data and the analysis panels, on the shipped SYNTHETIC demo data."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import REPO
from tradeimpact.casestudy import load_flows
from tradeimpact.errors import ModelSpecError
from tradeimpact.panel import Event, EventFileError, build_panel

EVENTS = REPO / "analysis" / "events"
#: the DiD sample of the 2010 event: window start to the restriction's last month
W = (date(2008, 1, 1), date(2010, 11, 30))


@pytest.fixture(scope="module")
def flows() -> pl.DataFrame:
    return load_flows(REPO / "data_raw").flows


@pytest.fixture(scope="module")
def ev2010() -> Event:
    return Event.from_toml(EVENTS / "rare_earth_2010.toml")


def test_event_files() -> None:
    e = Event.from_toml(EVENTS / "rare_earth_2010.toml")
    assert e.treated == "JPN" and e.source_country == "CHN"
    assert e.core == ("280530", "284610", "284690") and e.extended == ("850511",)
    assert e.effective == date(2010, 9, 21) and e.end == date(2010, 11, 20)
    assert e.event_month == date(2010, 9, 1) and e.alt_event_month == date(2010, 10, 1)
    assert set(e.controls) == set(e.control_reasons)  # every control has its reason
    assert e.confounder_months("earthquake") == (
        date(2011, 3, 1),
        date(2011, 4, 1),
        date(2011, 5, 1),
    )
    assert all(c.source.startswith("http") for c in e.confounders)
    f = Event.from_toml(EVENTS / "dual_use_2026.toml")
    assert f.effective == date(2026, 1, 6) and f.end is None
    assert f.anticipation_months == (date(2025, 11, 1), date(2025, 12, 1))
    assert f.reference_period == -3
    names = {c.name for c in f.confounders}
    assert {"april_2025_controls", "october_2025_controls", "anticipation"} <= names
    assert f.confounder("october_2025_controls").end == date(2025, 11, 7)


def test_bad_event_file_names_the_key(tmp_path: Path) -> None:
    text = (EVENTS / "rare_earth_2010.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('core = ["280530", "284610", "284690"]', "core = [280530]"))
    with pytest.raises(
        EventFileError, match=r"bad.toml: key 'products.core': codes must be quoted"
    ):
        Event.from_toml(bad)
    bad.write_text(text.replace('treated = "JPN"\n', ""))
    with pytest.raises(EventFileError, match=r"key 'event.treated': missing"):
        Event.from_toml(bad)


def _raw_count(reporters: set[str], partner: str, flow: str, products: set[str],
               start: str, end: str) -> int:  # fmt: skip
    """Records in the raw JSON files (independent of the reader and the store)."""
    n = 0
    for p in sorted((REPO / "data_raw" / "comtrade").glob("*.json.gz")):
        with gzip.open(p) as fh:
            for r in json.load(fh)["data"]:
                if (r["reporterISO"] in reporters and r["partnerISO"] == partner
                        and r["flowCode"] == flow and r["cmdCode"] in products
                        and start <= r["period"] <= end):  # fmt: skip
                    n += 1
    return n


def test_importer_panel_rows_and_zeros(flows: pl.DataFrame, ev2010: Event) -> None:
    p = build_panel(flows, ev2010, "importer", "log_quantity", window=W)
    months = 35  # Jan 2008 .. Nov 2010 (the window start to the restriction's last month)
    p_lvl = build_panel(flows, ev2010, "importer", "ppml_value", window=W)
    n_cells = 21 * 3
    assert p_lvl.data.height == n_cells * months  # balanced in levels, zeros kept
    reported = _raw_count({ev2010.treated, *ev2010.controls}, "CHN", "M", set(ev2010.core),
                          "200801", "201011")  # fmt: skip
    assert p_lvl.zero_filled == n_cells * months - reported
    assert (p_lvl.data["quantity_kg"] == 0).sum() == p_lvl.zero_filled
    # the log panel drops exactly those zeros, and says so
    assert p.dropped["zeros_in_log"] == p_lvl.zero_filled
    assert p.data.height == reported
    assert any("zero flows dropped" in n for n in p.notes)
    d = p.data
    assert d.filter(pl.col("unit") == "JPN")["treated"].unique().to_list() == [1]
    assert d.filter(pl.col("period") >= date(2010, 9, 1))["post"].unique().to_list() == [1]
    assert (d["treat"] == d["treated"] * d["post"]).all()
    jpn = d.filter((pl.col("unit") == "JPN") & (pl.col("product") == "284690")
                   & (pl.col("period") == date(2010, 9, 1)))  # fmt: skip
    assert jpn["rel_time"].item() == 0
    raw = flows.filter((pl.col("reporter_iso3") == "JPN") & (pl.col("partner_iso3") == "CHN")
                       & (pl.col("hs6") == "284690") & (pl.col("period") == date(2010, 9, 1))
                       & (pl.col("flow") == "M"))  # fmt: skip
    assert jpn["log_quantity"].item() == pytest.approx(float(raw["net_weight_kg"].log().item()))
    assert jpn["log_unit_value"].item() == pytest.approx(
        float((raw["value_usd"] / raw["net_weight_kg"]).log().item())
    )


def test_other_designs(flows: pl.DataFrame, ev2010: Event) -> None:
    ex = build_panel(flows, ev2010, "exporter", window=W)
    assert ex.data["unit"].n_unique() == 21
    tr = build_panel(flows, ev2010, "triple", window=W)
    assert set(tr.data["product"].unique()) == {*ev2010.core, *ev2010.comparison}
    assert (tr.data["treat"] == tr.data["treated"] * tr.data["restricted"] * tr.data["post"]).all()
    dv = build_panel(flows, ev2010, "diversion", window=W)
    assert set(dv.data["unit"].unique()) <= set(ev2010.suppliers)
    assert (dv.data["treat"] == dv.data["restricted"] * dv.data["post"]).all()
    sy = build_panel(flows, ev2010, "synth", window=W)
    wide = sy.wide()
    assert wide.columns[0] == "period" and "JPN" in wide.columns and wide.height == 35
    mi = build_panel(flows, ev2010, "mirror", window=W)
    row = mi.data.filter((pl.col("unit") == "JPN") & (pl.col("product") == "284690")
                         & (pl.col("period") == date(2010, 10, 1)))  # fmt: skip
    assert row["y"].item() == pytest.approx(
        float(np_log(row["quantity_kg_importer"].item() / row["quantity_kg_exporter"].item()))
    )


def np_log(x: float) -> float:
    import math

    return math.log(x)


def test_sum3_and_exclusions(flows: pl.DataFrame, ev2010: Event) -> None:
    p = build_panel(flows, ev2010, "importer", "ppml_quantity", sum3=True, window=W)
    # bins of 3 months aligned on Sep 2010: bin 0 = Sep-Nov 2010; incomplete edge bins dropped
    assert p.data["rel_time"].max() == 0
    assert p.data.filter(pl.col("rel_time") == 0)["period"].unique().to_list() == [date(2010, 9, 1)]
    monthly = build_panel(flows, ev2010, "importer", "ppml_quantity", window=W)
    jp = monthly.data.filter((pl.col("unit") == "JPN") & (pl.col("rel_time") >= 0))
    assert p.data.filter((pl.col("unit") == "JPN") & (pl.col("rel_time") == 0))[
        "quantity_kg"
    ].sum() == pytest.approx(jp["quantity_kg"].sum())
    ex = build_panel(flows, ev2010, "importer", exclude_periods=[date(2010, 1, 1)])
    assert ex.dropped["excluded_periods"] > 0
    assert date(2010, 1, 1) not in ex.data["period"].to_list()


def test_bad_requests(flows: pl.DataFrame, ev2010: Event) -> None:
    with pytest.raises(ModelSpecError, match="unknown design"):
        build_panel(flows, ev2010, "gravity")
    with pytest.raises(ModelSpecError, match="unknown outcome"):
        build_panel(flows, ev2010, "importer", "level")
    with pytest.raises(ModelSpecError, match="no flows for design"):
        build_panel(flows, ev2010, "importer", products=["999999"])
