"""The shipped REAL extract (data_raw/real/) is exactly what the project's script makes from ../shared."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

from tests.conftest import REPO, shared_path

SHIPPED = REPO / "data_raw" / "real" / "BACI_magnets_850511_CHN_exports_2002-2024.csv"


def _script():  # analysis/ is not a package: load the thin script by path
    spec = importlib.util.spec_from_file_location(
        "make_real_extract", REPO / "analysis" / "make_real_extract.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_extract_remade_from_shared_is_byte_identical(tmp_path: Path) -> None:
    source = shared_path(
        "data", "real", "critmat-atlas-comtrade-baci", "magnets_850511_flows_2002_2026.csv"
    )
    out = _script().make_extract(source, tmp_path)
    assert out.name == SHIPPED.name
    assert out.read_bytes() == SHIPPED.read_bytes()
    # independent count with the csv module: China's rows 2002-2024 of the source, no others
    with source.open(encoding="utf-8", newline="") as fh:
        want = [r for r in csv.DictReader(fh)
                if r["exporter_iso2"] == "CN" and 2002 <= int(r["year"]) <= 2024]  # fmt: skip
    with SHIPPED.open(encoding="utf-8", newline="") as fh:
        got = list(csv.DictReader(fh))
    assert got == want and len(got) == 3364


def test_shipped_extract_content() -> None:
    with SHIPPED.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    years = {int(r["year"]) for r in rows}
    assert years == set(range(2002, 2025))  # 2025 provisional and 2026 nowcast left out
    assert {r["exporter_iso2"] for r in rows} == {"CN"}
    assert not any("NOWCAST" in r["source_note"] or "raw" in r["source_note"] for r in rows)
    # China -> Japan, as the shared SOURCES.md quotes them (USD)
    cj = {int(r["year"]): float(r["value_usd"]) for r in rows if r["importer_iso2"] == "JP"}
    assert cj[2009] == 32_502_641 and cj[2010] == 46_151_312 and cj[2024] == 156_879_570
    notes = (REPO / "data_raw" / "real" / "SOURCES.md").read_text(encoding="utf-8")
    for must in ("CEPII BACI", "V202601", "Etalab", "17b328d2239864e993895582a29fdd3b5ceb479b",
                 "top-6", "make_real_extract.py", "nowcast", "provisional"):  # fmt: skip
        assert must in notes, must


def test_status_notes_keep_provisional_and_nowcast_rows_out_of_panels(tmp_path: Path) -> None:
    """The source's 2025 (provisional) and 2026 (nowcast) rows, read through the shipped mapping
    without its declared range, carry their status in ``flags``; build_panel leaves them out."""
    import dataclasses
    import json
    from datetime import date

    import polars as pl

    from tradeimpact.panel import Event, build_panel
    from tradeimpact.sources.generic import GenericReader
    from tradeimpact.store import FlowStore

    source = shared_path(
        "data", "real", "critmat-atlas-comtrade-baci", "magnets_850511_flows_2002_2026.csv"
    )
    mapping = REPO / "data_raw" / "real" / "BACI_magnets_850511_CHN_exports_2002-2024.mapping.json"
    config = json.loads(mapping.read_text(encoding="utf-8"))
    config.pop("period_range")
    store = FlowStore(tmp_path / "store")
    no_range = tmp_path / "mapping.json"
    no_range.write_text(json.dumps(config), encoding="utf-8")
    store.ingest([source], GenericReader.from_json(no_range))
    flows = store.scan().collect()
    late = flows.filter(pl.col("period") >= date(2025, 1, 1))
    assert late["flags"].str.contains("^status=(provisional|modelled)").all()
    assert late.filter(pl.col("exporter_iso3") == "CHN").height == 142  # 71 rows a year
    ev = Event.from_toml(REPO / "analysis" / "events" / "magnets_2010_real.toml")
    ev = dataclasses.replace(ev, window_end=date(2026, 12, 31))
    panel = build_panel(flows, ev, "exporter", "log_value")
    assert panel.dropped["not_data"] > 0
    assert panel.data.filter(pl.col("unit") == "JPN")["period"].max() == date(2024, 1, 1)
