"""The column-mapping reader on the real magnets extract and on small hand-made files."""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import shared_path
from tradeimpact.sources.generic import GenericReader
from tradeimpact.store import FlowStore

MAGNETS = ("data", "real", "critmat-atlas-comtrade-baci", "magnets_850511_flows_2002_2026.csv")

#: China -> Japan, HS 850511, USD, as SOURCES.md states them (read from the file by hand)
CHN_JPN = {
    2008: 47417924.0,
    2009: 32502641.0,
    2010: 46151312.0,
    2011: 87016016.0,
    2012: 95200513.0,
    2022: 229683019.0,
    2024: 156879570.0,
    2025: 99971791.0,
    2026: 118092105.0,
}


def magnets_reader(reported_by: str = "importer") -> GenericReader:
    return GenericReader(
        mapping={
            "year": "year",
            "exporter": "exporter_iso2",
            "importer": "importer_iso2",
            "value_usd": "value_usd",
            "net_weight_kg": "qty_tonnes",
            "flags": "source_note",
        },
        code_system="iso2",
        freq="A",
        reported_by=reported_by,
        units={"net_weight_kg": 1000},
        constants={"hs_code": "850511"},
        valuation="FOB",
        source="critmat_magnets",
    )


def test_magnets_extract_round_trip(tmp_path: Path) -> None:
    path = shared_path(*MAGNETS)
    store = FlowStore(tmp_path / "store")
    report = store.ingest([path], magnets_reader())
    with open(path, encoding="utf-8", newline="") as handle:
        raw = list(csv.DictReader(handle))
    assert len(raw) == 32992
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (32992, 32992, 0)
    flows = store.scan().collect()
    assert set(flows["source"]) == {"critmat_magnets"}
    assert set(flows["flow"]) == {"M"} and set(flows["hs_code"]) == {"850511"}
    assert set(flows["valuation"]) == {"FOB"}
    assert (flows["reporter_iso3"] == flows["importer_iso3"]).all()
    chn_jpn = flows.filter((pl.col("exporter_iso3") == "CHN") & (pl.col("importer_iso3") == "JPN"))
    got = {r["period"].year: r["value_usd"] for r in chn_jpn.iter_rows(named=True)}
    for year, value in CHN_JPN.items():
        assert got[year] == value, year
    # round trip: totals per exporter and year equal the raw file's (csv module, not polars)
    totals: dict[tuple[str, int], float] = defaultdict(float)
    weights: dict[tuple[str, str, int], float] = {}
    for rec in raw:
        totals[(rec["exporter_iso2"], int(rec["year"]))] += float(rec["value_usd"])
        if rec["qty_tonnes"]:
            key = (rec["exporter_iso2"], rec["importer_iso2"], int(rec["year"]))
            weights[key] = float(rec["qty_tonnes"]) * 1000
    iso2 = pl.read_csv(Path("tradeimpact/codes/iso2.csv"), infer_schema=False)
    to3 = dict(zip(iso2["code"], iso2["iso3"], strict=True))
    ours = flows.group_by("exporter_iso3", pl.col("period").dt.year().alias("y")).agg(
        pl.col("value_usd").sum()
    )
    ours_map = {(e, y): v for e, y, v in ours.iter_rows()}
    assert len(ours_map) == len(totals)
    for (exporter, year), value in totals.items():
        assert ours_map[(to3[exporter], year)] == pytest.approx(value, rel=1e-12)
    # weights: tonnes -> kg, present only where the file has qty_tonnes (2024)
    assert flows["net_weight_kg"].drop_nulls().len() == len(weights)
    kg = chn_jpn.filter(pl.col("period") == dt.date(2024, 1, 1))["net_weight_kg"].item()
    assert kg == weights[("CN", "JP", 2024)]
    # 2026 rows are a modelled nowcast: the flag says so on every row
    nowcast = flows.filter(pl.col("period") == dt.date(2026, 1, 1))
    assert nowcast["flags"].str.starts_with("DIRECTIONAL 2026 NOWCAST").all()


def test_exporter_side_reports(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(
        "year,exporter_iso2,importer_iso2,value_usd,qty_tonnes,source_note\n"
        "2010,CN,JP,100.5,1.005,a\n2010,CN,ZZ,3,,b\n2010,TW,JP,-4,,c\n2010,CN,KR,abc,,d\n",
        encoding="utf-8",
    )
    frame = magnets_reader("exporter").read(path).collect()
    first = frame.row(0, named=True)
    assert (first["reporter_iso3"], first["partner_iso3"], first["flow"]) == ("CHN", "JPN", "X")
    assert first["net_weight_kg"] == 1005.0  # exact decimal scaling of 1.005 t
    assert frame["reject_reason"].to_list() == [
        None,
        "unknown partner code 'ZZ' (not in the iso2 table)",
        None,  # the negative value is the ingest step's check
        "non-numeric value_usd 'abc'",
    ]
    store = FlowStore(tmp_path / "store")
    report = store.ingest([path], magnets_reader("exporter"))
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (4, 1, 3)
    q = store.quarantine().collect()
    assert q["source_line"].to_list() == [3, 4, 5]
    assert q["field"].to_list() == ["importer_iso2", "value_usd", "value_usd"]
    assert q["reason"][1] == "negative value_usd -4.0"


def test_directed_monthly_mapping_with_declared_range(tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text(
        "month;rep;par;dir;hs;val\n"
        "2010-09;392;156;1;280530;10\n2010-10;392;156;import;280530;20\n"
        "2010-11;156;392;2;280530;30\n2011-01;392;156;1;280530;40\n2010-12;392;156;9;280530;5\n",
        encoding="utf-8",
    )
    reader = GenericReader(
        {
            "period": "month",
            "reporter": "rep",
            "partner": "par",
            "flow": "dir",
            "hs_code": "hs",
            "value_usd": "val",
        },
        code_system="m49",
        freq="M",
        separator=";",
        source="mine",
        period_range=(dt.date(2010, 1, 1), dt.date(2010, 12, 1)),
    )
    store = FlowStore(tmp_path / "store")
    report = store.ingest([path], reader)
    assert (report.rows_stored, report.rows_quarantined) == (3, 2)
    flows = store.scan().sort("period").collect()
    assert flows["period"].to_list() == [
        dt.date(2010, 9, 1),
        dt.date(2010, 10, 1),
        dt.date(2010, 11, 1),
    ]
    assert flows["flow"].to_list() == ["M", "M", "X"]
    assert flows["exporter_iso3"].to_list() == ["CHN", "CHN", "CHN"]
    reasons = store.quarantine().collect()["reason"].to_list()
    assert reasons == [
        "period 2011-01-01 is outside the file's declared range 2010-01-01 to 2010-12-01",
        "unknown flow '9'",
    ]


def test_mapping_errors_are_explicit(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown mapping key"):
        GenericReader({"country": "c"})
    with pytest.raises(ValueError, match="reported_by"):
        GenericReader(
            {"exporter": "e", "importer": "i", "year": "y", "hs_code": "k", "value_usd": "v"}
        )
    path = tmp_path / "x.csv"
    path.write_text("year,exporter_iso2,importer_iso2\n2010,CN,JP\n", encoding="utf-8")
    from tradeimpact.errors import SourceFormatError

    with pytest.raises(SourceFormatError, match=r"missing column\(s\) \['value_usd'"):
        magnets_reader().read(path)


def test_raw_comtrade_pull_duplicates_are_quarantined_not_summed(tmp_path: Path) -> None:
    """The atlas' raw Comtrade pull lost motCode/customsCode/partner2Code, so one flow key can
    appear hundreds of times (SOURCES.md: "Do not sum these rows"). Every copy is quarantined."""
    from collections import Counter

    path = shared_path("data", "real", "critmat-atlas-comtrade-baci", "comtrade_2022.csv.gz")
    reader = GenericReader(
        {
            "year": "year",
            "reporter": "reporter",
            "partner": "partner",
            "flow": "flow",
            "hs_code": "cmd",
            "value_usd": "value",
            "net_weight_kg": "netwgt",
            "quantity": "qty",
        },
        code_system="m49",
        source="atlas_comtrade",
    )
    store = FlowStore(tmp_path / "store")
    report = store.ingest([path], reader)
    import gzip

    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        raw = list(csv.DictReader(handle))
    assert len(raw) == report.rows_read == 166616
    assert report.rows_stored + report.rows_quarantined == 166616
    m49 = pl.read_csv(Path("tradeimpact/codes/m49.csv"), infer_schema=False)
    to3 = dict(zip(m49["code"], m49["iso3"], strict=True))
    keys = Counter(
        (to3.get(r["reporter"]), to3.get(r["partner"]), r["flow"], r["cmd"]) for r in raw
    )
    unknown = sum(1 for r in raw if r["reporter"] not in to3 or r["partner"] not in to3)
    repeated = sum(n for k, n in keys.items() if n > 1 and None not in k)
    assert report.rows_quarantined == unknown + repeated
    assert report.rows_stored == sum(n for k, n in keys.items() if n == 1 and None not in k)
    q = store.quarantine().collect()
    deu_chn = q.filter(
        pl.col("reason").str.contains(r"= \(atlas_comtrade, DEU, CHN, M, 850511, 2022-01-01, A\)")
    )
    assert deu_chn.height == keys[("DEU", "CHN", "M", "850511")] > 100
    japan = (
        store.scan()
        .filter(
            (pl.col("reporter_iso3") == "JPN")
            & (pl.col("hs_code") == "850511")
            & (pl.col("partner_iso3") == "CHN")
            & (pl.col("flow") == "M")
        )
        .collect()
    )
    assert japan["value_usd"].to_list() == [231586361.537]
    assert japan["net_weight_kg"].to_list() == [3743830.0]
    # mirror view on the real reports (values typed from the file's four lines):
    # 2022,392,156,850511,M,231586361.537,3743830.0  (Japan's imports from China, CIF)
    # 2022,156,392,850511,X,220394908.0,6091681.0    (China's exports to Japan, FOB)
    from tradeimpact.store import mirror

    gaps = mirror(store.scan().filter(pl.col("hs_code") == "850511"))
    chn_jpn = gaps.filter(
        (pl.col("exporter_iso3") == "CHN") & (pl.col("importer_iso3") == "JPN")
    ).row(0, named=True)
    assert chn_jpn["value_import_cif"] == 231586361.537
    assert chn_jpn["value_export_fob"] == 220394908.0
    assert chn_jpn["value_gap"] == pytest.approx(11191453.537, abs=1e-6)
    assert chn_jpn["weight_gap_kg"] == 3743830.0 - 6091681.0
    jpn_chn = gaps.filter(
        (pl.col("exporter_iso3") == "JPN") & (pl.col("importer_iso3") == "CHN")
    ).row(0, named=True)
    assert (jpn_chn["value_import_cif"], jpn_chn["value_export_fob"]) == (76509277.0, 53269352.114)


def test_magnets_status_note_into_flags(tmp_path: Path) -> None:
    """The extract's own note says which years are provisional (2025, raw Comtrade
    "self-reconciled") and which are a modelled nowcast (2026): ``status`` carries that into
    ``flags``, the note kept verbatim, and the panel builder's rule (panel.not_data) sees it."""
    from collections import Counter

    import tradeimpact.panel as panel

    path = shared_path(*MAGNETS)
    with open(path, encoding="utf-8", newline="") as handle:
        raw = list(csv.DictReader(handle))
    by_year = Counter(row["year"] for row in raw if row["year"] in ("2025", "2026"))
    reader = GenericReader(
        mapping={
            "year": "year",
            "exporter": "exporter_iso2",
            "importer": "importer_iso2",
            "value_usd": "value_usd",
            "net_weight_kg": "qty_tonnes",
            "flags": "source_note",
        },
        code_system="iso2",
        freq="A",
        reported_by="importer",
        units={"net_weight_kg": 1000},
        constants={"hs_code": "850511"},
        status={
            "column": "source_note",
            "flag": {"NOWCAST": "modelled", "self-reconciled": "provisional"},
        },
        valuation="FOB",
        source="critmat_magnets",
    )
    store = FlowStore(tmp_path / "store")
    report = store.ingest([path], reader)
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (32992, 32992, 0)
    flows = store.scan().collect()
    status = flows.select(
        pl.col("period").dt.year().alias("year"),
        pl.col("flags").str.extract(r"^status=(\w+)").alias("status"),
    )
    counts = status.group_by("year", "status").len().sort("year")
    assert (
        counts.filter(pl.col("year") <= 2024)["status"].null_count()
        == counts.filter(pl.col("year") <= 2024).height
    )  # BACI years carry no status
    assert counts.filter(pl.col("year") == 2025).rows() == [(2025, "provisional", by_year["2025"])]
    assert counts.filter(pl.col("year") == 2026).rows() == [(2026, "modelled", by_year["2026"])]
    assert by_year == {"2025": 1293, "2026": 1293}
    # the note is kept verbatim after the status
    cj25 = flows.filter(
        (pl.col("exporter_iso3") == "CHN")
        & (pl.col("importer_iso3") == "JPN")
        & (pl.col("period").dt.year() == 2025)
    )
    assert cj25["value_usd"].item() == 99_971_791.0  # SOURCES.md: 2025 (provisional)
    assert cj25["flags"].item().startswith("status=provisional;UN Comtrade (raw) self-reconciled")
    flagged = pl.col("flags").fill_null("").str.contains(r"\bstatus=(provisional|modelled)\b")
    assert flows.filter(flagged).height == 1293 + 1293
    if hasattr(panel, "not_data"):  # the panel builder's rule, where it has one
        assert flows.filter(panel.not_data()).height == 1293 + 1293
        assert flows.filter(~panel.not_data())["period"].max().year == 2024
