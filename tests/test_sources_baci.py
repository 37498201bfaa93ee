"""CEPII BACI reader and the BACI country-code table.

No raw BACI data file (``t,i,j,k,v,q``) exists in ../shared: the fixtures below are built from the
format's published description, the BACI readme (../shared/data/real/baci-metadata-V202201/
baci_readme.txt: "t: year, i: exporter, j: importer, k: product, v: value, q: quantity"; v in
thousand USD, q in metric tonnes, "NA" for unknown quantities, one file per year named
``BACI_HS17_Y2022_V202601.csv``). The code table is tested against the two real CEPII
``country_codes`` tables in ../shared.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from conftest import shared_path

from tradeimpact.errors import SourceFormatError
from tradeimpact.sources._codetables import code_table
from tradeimpact.sources.baci import BaciReader, parse_file_name, read_country_codes

NAME = "BACI_HS17_Y2022_V202601.csv"

# A fixture written from the published description (see module docstring), with BACI's padding
# of numbers by spaces and its "NA" quantities.
GOOD = (
    "t,i,j,k,v,q\n"
    "2022,156,392,850511,1234.567,2.5\n"  # China -> Japan magnets
    "2022,156,392,280530,  0.125,         NA\n"  # padded, NA quantity
    "2022,156,842,284690,23685.927,\n"  # blank quantity
    "2022,490,392,850511,1.005,0.001\n"  # Taiwan (Other Asia, nes) -> Japan
    "2022,842,156,10121,7,0.3\n"  # k written as a number: 010121 lost its zero
)


def write(tmp_path: Path, text: str, name: str = NAME, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def read(path: Path, **kwargs: object) -> pl.DataFrame:
    return BaciReader(**kwargs).read(path).collect()  # type: ignore[arg-type]


def test_file_name() -> None:
    assert parse_file_name(NAME) == ("HS17", 2022, "202601")
    assert parse_file_name("data/BACI_HS92_Y1995_V202201.csv") == ("HS92", 1995, "202201")
    assert parse_file_name("flows.csv") is None


def test_good_rows_units_and_mapping(tmp_path: Path) -> None:
    out = read(write(tmp_path, GOOD))
    assert out.height == 5
    assert out["reject_reason"].null_count() == 5
    first = out.row(0, named=True)
    # v = 1234.567 thousand USD -> 1,234,567 USD; q = 2.5 t -> 2,500 kg (by hand)
    assert first["value_usd"] == 1234567.0
    assert first["value_native"] == 1234567.0
    assert first["currency"] == "USD"
    assert first["net_weight_kg"] == 2500.0
    assert first["quantity"] is None and first["quantity_unit"] is None
    # reconciled flow stored once, from the importer's side, FOB
    assert (first["source"], first["reporter_iso3"], first["partner_iso3"], first["flow"]) == (
        "baci",
        "JPN",
        "CHN",
        "M",
    )
    assert (first["exporter_iso3"], first["importer_iso3"]) == ("CHN", "JPN")
    assert first["valuation"] == "FOB"
    assert (first["hs_code"], first["hs6"], first["hs_revision"]) == ("850511", "850511", "H5")
    assert (first["period"], first["freq"]) == (date(2022, 1, 1), "A")
    assert (first["source_file"], first["source_line"]) == (NAME, 2)
    # padded numbers, NA and blank quantities
    assert out["value_usd"].to_list() == [1234567.0, 125.0, 23685927.0, 1005.0, 7000.0]
    assert out["net_weight_kg"].to_list() == [2500.0, None, None, 1.0, 300.0]
    # 490 is Taiwan
    assert out.row(3, named=True)["partner_iso3"] == "TWN"
    # the numeric k: zero restored and said so
    last = out.row(4, named=True)
    assert last["hs_code"] == "010121"
    assert last["flags"] == "k_leading_zero_restored"
    assert out["flags"].null_count() == 4
    assert out["source_line"].to_list() == [2, 3, 4, 5, 6]


def test_output_schema(tmp_path: Path) -> None:
    from tradeimpact.schema import FLOW_SCHEMA

    schema = BaciReader().read(write(tmp_path, GOOD)).collect_schema()
    expected = {**FLOW_SCHEMA, "reject_field": pl.String(), "reject_reason": pl.String()}
    assert dict(schema) == expected


BAD_ROWS = [
    ("2022,999,392,850511,1,1", "i", "unknown BACI country code '999'"),
    ("2022,156,7,850511,1,1", "j", "unknown BACI country code '7'"),
    ("2022,156,392,850511,abc,1", "v", "non-numeric value 'abc'"),
    ("2022,156,392,850511,1.234.5,1", "v", "non-numeric value '1.234.5'"),
    ("2022,156,392,850511,,1", "v", "value missing"),
    ("2022,156,392,850511,-3,1", "v", "negative value '-3'"),
    ("2022,156,392,850511,1,x", "q", "non-numeric quantity 'x'"),
    ("2022,156,392,850511,1,-1", "q", "negative quantity '-1'"),
    ("2022,156,392,8505,1,1", "k", "product code '8505' is not a 6-digit HS code"),
    ("2022,156,392,85051100,1,1", "k", "product code '85051100' is not a 6-digit HS code"),
    ("2022,156,392,85O511,1,1", "k", "product code '85O511' is not a 6-digit HS code"),
    ("2021,156,392,850511,1,1", "t", "year '2021' is outside the file's declared year 2022"),
    ("20x2,156,392,850511,1,1", "t", "year '20x2' is not an integer"),
]


@pytest.mark.parametrize(("row", "field", "reason"), BAD_ROWS)
def test_bad_row_quarantined_with_reason(tmp_path: Path, row: str, field: str, reason: str) -> None:
    text = "t,i,j,k,v,q\n2022,156,392,850511,1,1\n" + row + "\n2022,156,392,850511,2,2\n"
    out = read(write(tmp_path, text))
    # rows in = rows out: the bad row is marked, never dropped
    assert out.height == 3
    bad = out.filter(pl.col("reject_reason").is_not_null())
    assert bad.height == 1
    assert bad["source_line"].item() == 3
    assert bad["source_file"].item() == NAME
    assert bad["reject_field"].item() == field
    assert bad["reject_reason"].item().startswith(reason)


def test_accounting_mixed_file(tmp_path: Path) -> None:
    rows = [r for r, _, _ in BAD_ROWS]
    text = GOOD + "\n".join(rows) + "\n"
    out = read(write(tmp_path, text))
    n_in = len(text.strip().splitlines()) - 1
    good = out.filter(pl.col("reject_reason").is_null()).height
    rejected = out.filter(pl.col("reject_reason").is_not_null()).height
    assert (n_in, good, rejected) == (18, 5, 13)
    assert good + rejected == n_in


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(SourceFormatError, match=rf"{NAME}, line 1: empty file"):
        read(write(tmp_path, ""))
    with pytest.raises(SourceFormatError, match="empty file"):
        read(write(tmp_path, "\n  \n"))


def test_missing_column(tmp_path: Path) -> None:
    with pytest.raises(SourceFormatError, match=r"line 1, field 'q': missing column\(s\) \['q'\]"):
        read(write(tmp_path, "t,i,j,k,v\n2022,156,392,850511,1\n"))


def test_wrong_delimiter(tmp_path: Path) -> None:
    with pytest.raises(SourceFormatError, match=rf"{NAME}, line 1: wrong delimiter: .*';'"):
        read(write(tmp_path, "t;i;j;k;v;q\n2022;156;392;850511;1;1\n"))


def test_hs_revision_needs_name_or_argument(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, name="flows.csv")
    with pytest.raises(SourceFormatError, match=r"flows\.csv: cannot tell the HS revision"):
        read(path)
    out = read(path, hs_revision="HS17")
    assert set(out["hs_revision"]) == {"H5"}
    # without a year in the name nothing is out of the declared year
    assert out["reject_reason"].null_count() == 5


def test_sniff(tmp_path: Path) -> None:
    reader = BaciReader()
    assert reader.sniff(write(tmp_path, GOOD))
    assert not reader.sniff(write(tmp_path, "i,j,cmd,value\nCHN,JPN,850511,1\n", name="x.csv"))


def test_streams_large_file(tmp_path: Path) -> None:
    """200,000 rows through the streaming engine: every row out, totals preserved exactly."""
    n = 200_000
    frame = pl.DataFrame(
        {
            "t": [2022] * n,
            "i": [156, 842, 276, 410] * (n // 4),
            "j": [392] * n,
            "k": [f"{850000 + (x % 999):06d}" for x in range(n)],
            "v": [f"{(x % 1000) + 0.125:.3f}" for x in range(n)],
            "q": ["NA" if x % 10 == 0 else "1.5" for x in range(n)],
        }
    )
    path = tmp_path / NAME
    frame.write_csv(path)
    out = BaciReader().read(path).collect(engine="streaming")
    assert out.height == n
    assert out["reject_reason"].null_count() == n
    # sum of v * 1000 computed independently, in integers (v has 3 decimals)
    expected = sum(((x % 1000) * 1000 + 125) for x in range(n))
    assert out["value_usd"].sum() == pytest.approx(expected, rel=1e-12)
    assert out["net_weight_kg"].null_count() == n // 10


# --- the country-code table -----------------------------------------------------------------


def test_shipped_table() -> None:
    table = code_table("baci")
    assert table.height == 239
    assert table["code"].n_unique() == 239
    iso = dict(zip(table["code"], table["iso3"], strict=True))
    assert (iso["156"], iso["392"], iso["410"], iso["842"], iso["490"]) == (
        "CHN",
        "JPN",
        "KOR",
        "USA",
        "TWN",
    )
    assert (iso["276"], iso["704"], iso["251"], iso["699"], iso["381"]) == (
        "DEU",
        "VNM",
        "FRA",
        "IND",
        "ITA",
    )


#: documented in tradeimpact/codes/baci.md: V202201 mapped SACU (...1999) to ZAF, V202601 to ZA1
KNOWN_DIFFERENCES = {("711", "ZAF")}


@pytest.mark.parametrize(
    ("parts", "n_rows", "n_iso3"),
    [
        (("baci-metadata-V202201", "country_codes.csv"), 238, 236),
        (("critmat-atlas-comtrade-baci", "country_codes_V202601.csv"), 238, 238),
    ],
)
def test_real_country_codes_both_headers(parts: tuple[str, str], n_rows: int, n_iso3: int) -> None:
    path = shared_path("data", "real", *parts)
    real = read_country_codes(path)
    assert real.columns == ["code", "iso3", "name", "iso2"]
    assert real.height == n_rows
    # V202201 has N/A for 697 Europe EFTA nes and 849 US Misc. Pacific Isds; 490 gets TWN
    assert real.filter(pl.col("iso3").is_not_null()).height == n_iso3
    iso = dict(zip(real["code"], real["iso3"], strict=True))
    assert (iso["392"], iso["156"], iso["490"], iso["842"]) == ("JPN", "CHN", "TWN", "USA")
    # the shipped table agrees with the real release on every code the release maps
    shipped = dict(zip(code_table("baci")["code"], code_table("baci")["iso3"], strict=True))
    for code, iso3 in iso.items():
        assert code in shipped, f"code {code} of {path.name} missing from codes/baci.csv"
        if iso3 is not None and (code, iso3) not in KNOWN_DIFFERENCES:
            assert shipped[code] == iso3, f"code {code}: {shipped[code]} != {iso3}"


def test_reader_with_release_table(tmp_path: Path) -> None:
    codes = shared_path("data", "real", "baci-metadata-V202201", "country_codes.csv")
    out = read(write(tmp_path, GOOD + "2022,381,392,850511,1,1\n"), country_codes=codes)
    assert out["reject_reason"].null_count() == 6
    assert out["partner_iso3"].to_list() == ["CHN", "CHN", "CHN", "TWN", "USA", "ITA"]


def test_country_codes_bad_table(tmp_path: Path) -> None:
    path = write(tmp_path, "code,label\n1,x\n", name="country_codes_V209901.csv")
    with pytest.raises(SourceFormatError, match="not a BACI country_codes table"):
        read_country_codes(path)


# --- round trip through the store -----------------------------------------------------------


def test_round_trip_through_flowstore(tmp_path: Path) -> None:
    """Ingest (format detected), scan: totals per key equal the raw file's, rows accounted."""
    import csv
    from decimal import Decimal

    from tradeimpact.store import FlowStore

    text = GOOD + "2022,999,392,850511,1,1\n2022,156,392,850511,abc,1\n"
    path = write(tmp_path, text)
    store = FlowStore(tmp_path / "store")
    report = store.ingest([path])
    assert [f.reader for f in report.files] == ["baci"]
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (7, 5, 2)

    # the raw file's totals, computed independently with the csv module and exact decimals
    expected: dict[tuple[str, str, str], Decimal] = {}
    codes = {"156": "CHN", "392": "JPN", "842": "USA", "490": "TWN"}
    with open(path, newline="") as handle:
        for rec in csv.DictReader(handle):
            if rec["i"] not in codes or rec["j"] not in codes or not rec["v"].strip():
                continue
            try:
                value = Decimal(rec["v"].strip()) * 1000
            except ArithmeticError:
                continue
            k = rec["k"].strip().zfill(6)
            key = (codes[rec["j"]], codes[rec["i"]], k)
            expected[key] = expected.get(key, Decimal(0)) + value
    stored = store.scan().collect()
    got = {
        (r["reporter_iso3"], r["partner_iso3"], r["hs_code"]): r["value_usd"]
        for r in stored.iter_rows(named=True)
    }
    assert got == {key: float(value) for key, value in expected.items()}
    assert set(stored["period"]) == {date(2022, 1, 1)}

    quarantined = store.quarantine().collect().sort("source_line")
    assert quarantined["source_line"].to_list() == [7, 8]
    assert quarantined["reason"].to_list() == [
        "unknown BACI country code '999'",
        "non-numeric value 'abc'",
    ]
    # idempotent: same file again changes nothing
    again = store.ingest([path])
    assert [f.status for f in again.files] == ["unchanged"]
    assert store.scan().collect().equals(stored)


def test_broken_encoding(tmp_path: Path) -> None:
    """Bad bytes fail in read() (head check, then the k pre-pass) with the line named."""
    from tradeimpact.store import FlowStore

    path = tmp_path / NAME
    path.write_bytes(GOOD.encode() + b"2022,156,392,850511,1\xff2,1\n")
    with pytest.raises(SourceFormatError, match=r"line 7: broken encoding: byte b'\\xff' at byte"):
        read(path)
    far = tmp_path / "far" / NAME
    far.parent.mkdir()
    filler = "".join(f"2022,156,392,{850000 + n:06d},1,1\n" for n in range(5000))
    far.write_bytes(GOOD.encode() + filler.encode() + b"2022,156,392,850511,1\xff2,1\n")
    with pytest.raises(SourceFormatError, match=r"line 5007: broken encoding"):
        read(far)
    with pytest.raises(SourceFormatError, match=r"line 5007: broken encoding"):
        FlowStore(tmp_path / "store").ingest([far])


def test_five_digit_k_in_a_text_k_file_is_rejected(tmp_path: Path) -> None:
    """Zeros are restored only when the k column was numeric (no 6-digit code starting with 0)."""
    text = GOOD + "2022,156,392,010121,1,1\n"  # this file's k keeps its zeros
    out = read(write(tmp_path, text))
    bad = out.filter(pl.col("reject_reason").is_not_null())
    assert bad["source_line"].to_list() == [6]
    assert bad["reject_field"].item() == "k"
    assert bad["reject_reason"].item() == (
        "product code '10121' has 5 digits in a file whose other codes keep their leading zero: "
        "not restored"
    )
    assert out.filter(pl.col("source_line") == 7)["hs_code"].item() == "010121"
    assert out["flags"].null_count() == 6


def test_real_baci_values_in_the_raw_layout(tmp_path: Path) -> None:
    """23,167 real BACI HS17 V202601 flows of 2022 (critmat-atlas-comtrade-baci/baci_2022.csv:
    exporter and importer ISO3, HS6, value in USD, already aggregated by that repository), written
    back in BACI's raw layout with the real V202601 country codes and v = value / 1000, read back:
    every row stored, ISO3 and values as in the real file."""
    real = pl.read_csv(
        shared_path("data", "real", "critmat-atlas-comtrade-baci", "baci_2022.csv"),
        infer_schema=False,
    )
    codes = read_country_codes(
        shared_path("data", "real", "critmat-atlas-comtrade-baci", "country_codes_V202601.csv")
    )
    # ISO3 -> current code (DEU, BEL and SDN also have historical codes: take the current one;
    # the real file writes Taiwan as CEPII's S19, code 490, which the reader maps to TWN)
    current = {"DEU": "276", "BEL": "56", "SDN": "729", "S19": "490"}
    inverse = dict(zip(codes["iso3"], codes["code"], strict=True)) | current
    raw = real.select(
        pl.lit("2022").alias("t"),
        pl.col("i").replace_strict(inverse).alias("i"),
        pl.col("j").replace_strict(inverse).alias("j"),
        pl.col("cmd").alias("k"),
        (pl.col("value").cast(pl.Decimal(38, 6)) / 1000).cast(pl.String).alias("v"),
        pl.lit("NA").alias("q"),
    )
    path = tmp_path / NAME
    raw.write_csv(path)
    out = read(path)
    assert out.height == real.height == 23_167
    assert out["reject_reason"].null_count() == 23_167
    taiwan = {"S19": "TWN"}
    assert out["exporter_iso3"].to_list() == real["i"].replace(taiwan).to_list()
    assert out["importer_iso3"].to_list() == real["j"].replace(taiwan).to_list()
    assert (
        out.filter(pl.col("exporter_iso3") == "TWN").height
        == real.filter(pl.col("i") == "S19").height
        > 0
    )
    assert out["hs_code"].to_list() == real["cmd"].to_list()
    # the real file carries float noise (65034.00000000001): equal to 1e-12 relative
    expected = real["value"].cast(pl.Float64)
    assert ((out["value_usd"] - expected).abs() / expected).max() < 1e-12
    assert out["value_usd"].sum() == pytest.approx(expected.sum(), rel=1e-12)
    china_japan = out.filter(
        (pl.col("exporter_iso3") == "CHN")
        & (pl.col("importer_iso3") == "JPN")
        & (pl.col("hs_code") == "850511")
    )
    assert china_japan["value_usd"].item() == 229_683_019.0  # SOURCES.md: CHN,JPN,850511
