"""The UN Comtrade v1 reader on the real files of ../shared/data/real/comtradr-vignette.

Reference numbers are read by hand from the files (the JSON's cifvalue for China's 2010 imports from
Germany) or recomputed here with Python's ``csv``/``json`` modules, independently of polars.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
from collections import defaultdict
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import shared_path
from tradeimpact.schema import FLOW_SCHEMA
from tradeimpact.sources import detect_reader, get_reader
from tradeimpact.sources.comtrade import ComtradeReader
from tradeimpact.store import FlowStore

VIGNETTE = ("data", "real", "comtradr-vignette")

#: rows of each vignette CSV (SOURCES.md states 1,586 for example_3 and 173,358 for eu_imports)
VIGNETTE_ROWS = {
    "vignette_data_1_example_1.csv": 20,
    "vignette_data_2_example_2.csv": 33,
    "vignette_data_3_example_3.csv": 1586,
    "vignette_data_4_data_eu_imports.csv.gz": 173358,
    "vignette_data_5_data_eu_imports_world.csv": 5004,
    "vignette_data_7_q.csv": 1,
    "vignette_data_8_hs0.csv": 2,
    "vignette_data_9_hs5.csv": 4,
}


def _csv_records(path: Path) -> list[dict[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_api_json_fixture_exact_values() -> None:
    path = shared_path(*VIGNETTE, "api_fixture", "HS-60a6ad.json")
    frame = ComtradeReader().read(path).collect()
    assert frame.height == 4 == len(json.loads(path.read_text())["data"])
    assert frame["reject_reason"].null_count() == 4
    deu = frame.filter((pl.col("partner_iso3") == "DEU") & (pl.col("flow") == "M")).row(
        0, named=True
    )
    assert deu["value_usd"] == 74251272075.0  # cifvalue = primaryValue of record 2
    assert deu["reporter_iso3"] == "CHN"
    assert deu["importer_iso3"] == "CHN" and deu["exporter_iso3"] == "DEU"
    assert deu["valuation"] == "CIF" and deu["currency"] == "USD"
    assert deu["hs_code"] == "TOTAL" and deu["hs6"] is None
    assert deu["hs_revision"] == "H3"
    assert deu["period"] == dt.date(2010, 1, 1) and deu["freq"] == "A"
    assert deu["source_line"] == 2
    assert deu["flags"] == "legacyEstimationFlag=0;isReported=true;isAggregate=false"
    exports = frame.filter(pl.col("flow") == "X")
    assert set(exports["valuation"]) == {"FOB"}
    assert set(exports["exporter_iso3"]) == {"CHN"}
    # independent: the JSON's own numbers
    data = json.loads(path.read_text())["data"]
    expected = {(r["partnerISO"], r["flowCode"]): r["primaryValue"] for r in data}
    got = {(r["partner_iso3"], r["flow"]): r["value_usd"] for r in frame.iter_rows(named=True)}
    assert got == expected


@pytest.mark.parametrize("name", sorted(VIGNETTE_ROWS))
def test_vignette_row_counts_and_accounting(name: str) -> None:
    path = shared_path(*VIGNETTE, name)
    frame = ComtradeReader().read(path).collect()
    assert frame.height == VIGNETTE_ROWS[name] == len(_csv_records(path))
    assert dict(frame.schema) == {
        **FLOW_SCHEMA,
        "reject_field": pl.String(),
        "reject_reason": pl.String(),
    }
    assert detect_reader(path).name == "comtrade"


def test_snake_case_codes_stay_text() -> None:
    path = shared_path(*VIGNETTE, "vignette_data_3_example_3.csv")
    frame = ComtradeReader().read(path).collect()
    assert sorted(frame["hs_code"].unique()) == ["030613", "030623", "160520", "160540"]
    assert sorted(frame["hs6"].unique()) == ["030613", "030623", "160520", "160540"]
    assert set(frame["reporter_iso3"]) == {"THA"}
    assert frame["reject_reason"].null_count() == frame.height
    # polars' own inference would have made cmd_code an integer: the reader must not
    inferred = pl.read_csv(path, infer_schema_length=10000)
    assert inferred.schema["cmd_code"] == pl.Int64
    first = frame.row(0, named=True)
    assert first["partner_iso3"] == "MOZ" and first["value_usd"] == 2482223.0
    assert first["net_weight_kg"] == 292990.0 and first["quantity"] == 292990.0
    assert first["quantity_unit"] == "kg" and first["source_line"] == 2


def test_round_trip_totals_example_3(tmp_path: Path) -> None:
    path = shared_path(*VIGNETTE, "vignette_data_3_example_3.csv")
    report = FlowStore(tmp_path / "store").ingest([path])
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (1586, 1586, 0)
    stored = FlowStore(tmp_path / "store").scan().collect()
    ours = {
        (r["reporter_iso3"], r["partner_iso3"], r["hs_code"], r["period"].year): r["v"]
        for r in stored.group_by("reporter_iso3", "partner_iso3", "hs_code", "period")
        .agg(pl.col("value_usd").sum().alias("v"))
        .iter_rows(named=True)
    }
    raw: dict[tuple[str, str, str, int], float] = defaultdict(float)
    for rec in _csv_records(path):
        raw[
            (rec["reporter_iso"], rec["partner_iso"].strip(), rec["cmd_code"], int(rec["period"]))
        ] += float(rec["primary_value"])
    # Taiwan is 490 "Other Asia, nes" (ISO S19 in Comtrade Plus) -> TWN in the store
    raw = {(r, "TWN" if p == "S19" else p, h, y): v for (r, p, h, y), v in raw.items()}
    assert ours.keys() == raw.keys()
    for key, value in raw.items():
        assert ours[key] == pytest.approx(value, rel=1e-12, abs=1e-6)


def test_round_trip_eu_imports_with_quarantine(tmp_path: Path) -> None:
    """The 9-column comtradr extract (ISO columns only): 173,358 rows in = stored + quarantined."""
    path = shared_path(*VIGNETTE, "vignette_data_4_data_eu_imports.csv.gz")
    store = FlowStore(tmp_path / "store")
    report = store.ingest([path])
    records = _csv_records(path)
    # Comtrade Plus pseudo-areas without ISO3: E19 (Europe nes), F19 (Africa nes), X1, XX...
    known = {"W00", "S19"} | set(
        pl.read_csv(Path("tradeimpact/codes/iso3.csv").resolve(), infer_schema=False)["code"]
    )
    unknown = [r for r in records if r["partner_iso"].strip() not in known]
    assert report.rows_read == 173358
    assert report.rows_quarantined == len(unknown) == 1161
    assert report.rows_stored == 173358 - 1161
    quarantine = store.quarantine().collect()
    assert quarantine.height == 1161
    assert quarantine["reason"].str.starts_with("unknown partner code '").all()
    assert set(quarantine["field"]) == {"partner_iso"}
    totals = store.scan().group_by("reporter_iso3").agg(pl.col("value_usd").sum()).collect()
    raw: dict[str, float] = defaultdict(float)
    for rec in records:
        if rec["partner_iso"].strip() in known:
            raw[rec["reporter_iso"]] += float(rec["primary_value"])
    got = dict(totals.iter_rows())
    assert got.keys() == raw.keys()
    for key, value in raw.items():
        assert got[key] == pytest.approx(value, rel=1e-12)


def test_monthly_csv_camel_case(tmp_path: Path) -> None:
    """A monthly portal CSV (camelCase); built from the API field list, no real monthly file here."""
    path = tmp_path / "monthly.csv"
    path.write_text(
        "freqCode,refYear,refMonth,period,reporterCode,flowCode,partnerCode,classificationCode,"
        "cmdCode,qtyUnitCode,qtyUnitAbbr,qty,netWgt,cifvalue,fobvalue,primaryValue\n"
        "M,2010,9,201009,392,M,156,H3,280530,8,kg,1200.5,1200.5,350000.25,,350000.25\n"
        "M,2010,10,201010,392,M,156,H3,280530,-1,N/A,0,800,,,210000\n"
        "M,2010,10,201010,156,X,392,H3,280530,8,kg,900,900,,205000,\n",
        encoding="utf-8",
    )
    frame = get_reader("comtrade").read(path).collect()
    assert frame["reject_reason"].to_list() == [None, None, None]
    october = dt.date(2010, 10, 1)
    assert frame["period"].to_list() == [dt.date(2010, 9, 1), october, october]
    assert frame["freq"].to_list() == ["M", "M", "M"]
    assert frame["value_usd"].to_list() == [350000.25, 210000.0, 205000.0]  # fobvalue fallback
    assert frame["quantity"].to_list() == [1200.5, None, 900.0]
    assert frame["quantity_unit"].to_list() == ["kg", None, "kg"]
    assert frame["hs6"].to_list() == ["280530"] * 3
    assert frame["importer_iso3"].to_list() == ["JPN", "JPN", "JPN"]
    assert frame["exporter_iso3"].to_list() == ["CHN", "CHN", "CHN"]


LEGACY_HEADER = (
    "Classification,Year,Period,Period Desc.,Aggregate Level,Is Leaf Code,Trade Flow Code,"
    "Trade Flow,Reporter Code,Reporter,Reporter ISO,Partner Code,Partner,Partner ISO,"
    "2nd Partner Code,2nd Partner,2nd Partner ISO,Customs Proc. Code,Customs,"
    "Mode of Transport Code,Mode of Transport,Commodity Code,Commodity,Qty Unit Code,Qty Unit,Qty,"
    "Alt Qty Unit Code,Alt Qty Unit,Alt Qty,Netweight (kg),Gross weight (kg),Trade Value (US$),"
    "CIF Trade Value (US$),FOB Trade Value (US$),Flag"
)


def test_legacy_csv(tmp_path: Path) -> None:
    """No real legacy file is in ../shared: the fixture follows the legacy API's published
    35-column layout (comtrade.un.org/data/doc/api, fmt=csv), values typed by hand."""
    path = tmp_path / "comtrade_legacy.csv"
    path.write_text(
        LEGACY_HEADER + "\n"
        "H3,2010,201009,September 2010,6,1,1,Import,392,Japan,JPN,156,China,CHN,,,,,,,,280530,"
        '"Earth-metals, rare",8,Weight in kilograms,120000,,,,120000,,3500000,,,0\n'
        "H3,2010,201009,September 2010,6,1,2,Export,156,China,CHN,392,Japan,JPN,,,,,,,,280530,"
        '"Earth-metals, rare",8,Weight in kilograms,118000,,,,118000,,3300000,,,0\n'
        "H3,2010,2010,2010,6,1,1,Import,392,Japan,JPN,156,China,CHN,,,,,,,,284690,"
        "Compounds of rare-earth metals,1,No Quantity,,,,,45000,,910000,,,4\n"
        "H3,2010,2010,2010,6,1,1,Import,392,Japan,JPN,156,China,CHN,,,,,,,,28469,"
        "Compounds of rare-earth metals,1,No Quantity,,,,,45000,,910000,,,4\n",
        encoding="utf-8",
    )
    reader = detect_reader(path)
    assert reader.name == "comtrade_legacy"
    frame = reader.read(path).collect()
    assert frame.height == 4
    assert frame["flow"].to_list() == ["M", "X", "M", "M"]
    assert frame["period"].to_list()[:3] == [
        dt.date(2010, 9, 1),
        dt.date(2010, 9, 1),
        dt.date(2010, 1, 1),
    ]
    assert frame["freq"].to_list()[:3] == ["M", "M", "A"]
    assert frame["value_usd"].to_list() == [3500000.0, 3300000.0, 910000.0, 910000.0]
    assert frame["valuation"].to_list()[:2] == ["CIF", "FOB"]
    assert frame["net_weight_kg"].to_list()[:3] == [120000.0, 118000.0, 45000.0]
    assert frame["quantity"].to_list()[:3] == [120000.0, 118000.0, None]
    assert frame["flags"].to_list()[2] == "legacyEstimationFlag=4"
    assert frame["reject_reason"].to_list()[:3] == [None, None, None]
    assert frame["reject_reason"][3].startswith("HS code '28469' has 5 digits")
    store = FlowStore(tmp_path / "store")
    report = store.ingest([path])
    assert (report.rows_stored, report.rows_quarantined) == (3, 1)
    assert set(store.scan().collect()["source"]) == {"comtrade"}


def test_portal_csv_pascal_case_with_bom(tmp_path: Path) -> None:
    """Comtrade Plus portal downloads: PascalCase header, UTF-8 BOM, CRLF line ends."""
    path = tmp_path / "portal.csv"
    path.write_bytes(
        b"\xef\xbb\xbfFreqCode,RefYear,Period,ReporterCode,FlowCode,PartnerCode,CmdCode,"
        b"NetWgt,PrimaryValue,IsReported\r\n"
        b"A,2010,2010,392,M,156,280530,1500.5,2500000.75,True\r\n"
    )
    assert detect_reader(path).name == "comtrade"
    store = FlowStore(tmp_path / "store")
    report = store.ingest(path)  # a single path is accepted too
    assert (report.rows_read, report.rows_stored) == (1, 1)
    row = store.scan().collect().row(0, named=True)
    assert (row["reporter_iso3"], row["partner_iso3"], row["hs_code"]) == ("JPN", "CHN", "280530")
    assert (row["value_usd"], row["net_weight_kg"], row["flags"]) == (
        2500000.75,
        1500.5,
        "isReported=true",
    )


def test_api_v1_fields_are_the_real_answers_fields_in_order() -> None:
    import json

    from tests.conftest import shared_path
    from tradeimpact.sources.comtrade import API_V1_FIELDS

    path = shared_path("data", "real", "comtradr-vignette", "api_fixture", "HS-60a6ad.json")
    records = json.loads(path.read_text(encoding="utf-8"))["data"]
    assert all(tuple(rec) == API_V1_FIELDS for rec in records)
    assert len(API_V1_FIELDS) == 47
