"""Japan Customs commodity-by-country CSV reader.

No real Japan Customs file exists in ../shared: every fixture here is built from the format's
published description -- the download layout of customs.go.jp / e-Stat ("Exp or Imp, Year, HS,
Country, Unit1, Unit2, Quantity1-Year, Quantity2-Year, Value-Year, Quantity1-Jan, Quantity2-Jan,
Value-Jan, ..., Value-Dec"; 1 = export, 2 = import; 9-digit HS after an apostrophe; 3-digit
country codes, 105 = China; values in thousand yen, CIF for imports and FOB for exports, per
customs.go.jp "About Trade Statistics of Japan"). A column of Japanese country names is added so
that the UTF-8 and Shift-JIS fixtures differ in their bytes.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from tradeimpact.errors import SourceFormatError
from tradeimpact.sources.japan_customs import MONTHS, JapanCustomsReader, detect_encoding

Month = tuple[int, int, int]  # Quantity1, Quantity2, Value (thousand JPY)


def header(april: str = "Apr", extra: str = "国名") -> str:
    months = [april if m == "Apr" else m for m in MONTHS]
    cols = ["Exp or Imp", "Year", "HS", "Country", "Unit1", "Unit2"]
    cols += ["Quantity1-Year", "Quantity2-Year", "Value-Year"]
    cols += [f"{q}-{m}" for m in months for q in ("Quantity1", "Quantity2", "Value")]
    return ",".join([*cols, extra]) if extra else ",".join(cols)


def line(
    flow: str,
    year: str,
    hs: str,
    country: str,
    unit1: str,
    unit2: str,
    months: list[Month],
    name: str,
    year_total: Month | None = None,
) -> str:
    total = year_total or tuple(sum(m[i] for m in months) for i in range(3))
    cells = [flow, year, hs, country, unit1, unit2, *map(str, total)]
    cells += [str(x) for m in months for x in m]
    return ",".join([*cells, name])


ZERO: list[Month] = [(0, 0, 0)] * 12


def month_list(**changes: Month) -> list[Month]:
    out = list(ZERO)
    for month, values in changes.items():
        out[MONTHS.index(month)] = values
    return out


# Japan's imports of rare-earth metals (2805.30) from China in 2010; exports of magnets to the USA;
# an MT commodity; a commodity with two non-weight units.
LINES = [
    line(
        "2",
        "2010",
        "'280530000",
        "105",
        "",
        "KG",
        month_list(Aug=(0, 250_000, 5_000), Sep=(0, 100_000, 12_345), Oct=(0, 7, 1)),
        "中華人民共和国",
    ),
    line(
        "1",
        "2010",
        "'850511000",
        "304",
        "NO",
        "KG",
        month_list(Jan=(10, 2_500, 3_000), Apr=(4, 1_000, 900)),
        "アメリカ合衆国",
    ),
    line(
        "2",
        "2010",
        "'284690000",
        "110",
        "",
        "MT",
        month_list(Feb=(0, 3, 40)),
        "ベトナム",
    ),
    line(
        "2",
        "2010",
        "'720221000",
        "113",
        "NO",
        "L",
        month_list(Dec=(5, 6, 7)),
        "マレーシア",
    ),
]
GOOD = header() + "\n" + "\n".join(LINES) + "\n"


def write(tmp_path: Path, text: str, name: str = "d02h10e001.csv", enc: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(enc))
    return path


def read(path: Path, **kwargs: object) -> pl.DataFrame:
    return JapanCustomsReader(**kwargs).read(path).collect()  # type: ignore[arg-type]


def test_wide_to_long_counts_and_units(tmp_path: Path) -> None:
    out = read(write(tmp_path, GOOD))
    assert out.height == 4 * 12  # one row per line and month, the Year column never a row
    assert out["reject_reason"].null_count() == 48
    assert out["period"].n_unique() == 12
    sep = out.filter((pl.col("hs_code") == "280530000") & (pl.col("period") == date(2010, 9, 1)))
    row = sep.row(0, named=True)
    # Value-Sep 12,345 thousand JPY -> 12,345,000 JPY (by hand); KG in Unit2 -> net weight
    assert row["value_native"] == 12_345_000.0
    assert row["currency"] == "JPY"
    assert row["value_usd"] is None
    assert row["net_weight_kg"] == 100_000.0
    assert row["quantity"] is None and row["quantity_unit"] is None
    assert (row["reporter_iso3"], row["partner_iso3"], row["flow"]) == ("JPN", "CHN", "M")
    assert (row["exporter_iso3"], row["importer_iso3"], row["valuation"]) == ("CHN", "JPN", "CIF")
    assert (row["hs6"], row["hs_revision"], row["freq"]) == ("280530", "H3", "M")
    assert (row["source_file"], row["source_line"]) == ("d02h10e001.csv", 2)
    # zero months are kept as zeros (a reported zero, not a gap)
    china = out.filter(pl.col("source_line") == 2)
    assert china["value_native"].to_list() == [0, 0, 0, 0, 0, 0, 0, 5e6, 12_345e3, 1e3, 0, 0]

    usa = out.filter(pl.col("source_line") == 3).row(0, named=True)
    assert (usa["flow"], usa["exporter_iso3"], usa["importer_iso3"]) == ("X", "JPN", "USA")
    assert usa["valuation"] == "FOB"
    assert (usa["quantity"], usa["quantity_unit"], usa["net_weight_kg"]) == (10.0, "NO", 2_500.0)
    assert usa["value_native"] == 3_000_000.0

    viet = out.filter((pl.col("source_line") == 4) & (pl.col("period") == date(2010, 2, 1)))
    assert viet["net_weight_kg"].item() == 3_000.0  # 3 MT -> 3,000 kg

    malay = out.filter((pl.col("source_line") == 5) & (pl.col("period") == date(2010, 12, 1)))
    assert malay.row(0, named=True)["quantity_unit"] == "NO"
    assert malay.row(0, named=True)["flags"] == "quantity2_not_stored:L"
    assert malay.row(0, named=True)["net_weight_kg"] is None


def test_totals_preserved(tmp_path: Path) -> None:
    out = read(write(tmp_path, GOOD))
    # sum of the Value-Year cells x 1000, by hand: 17,346 + 3,900 + 40 + 7 thousand JPY
    assert out["value_native"].sum() == 21_293_000.0


def test_encodings_give_the_same_rows(tmp_path: Path) -> None:
    utf8 = read(write(tmp_path, GOOD, name="u.csv", enc="utf-8"))
    bom = read(write(tmp_path, GOOD, name="b.csv", enc="utf-8-sig"))
    sjis_path = write(tmp_path, GOOD, name="s.csv", enc="cp932")
    sjis = read(sjis_path)
    assert detect_encoding(sjis_path.read_bytes())[0] == "cp932"
    assert "中華人民共和国" in detect_encoding(sjis_path.read_bytes())[1]
    assert detect_encoding(GOOD.encode("utf-8"))[0] == "utf-8"
    assert detect_encoding(GOOD.encode("utf-8-sig"))[0] == "utf-8-sig"
    drop = ["source_file"]
    assert utf8.drop(drop).equals(sjis.drop(drop))
    assert utf8.drop(drop).equals(bom.drop(drop))


def test_broken_encoding_names_offset_and_line(tmp_path: Path) -> None:
    data = GOOD.encode("cp932")
    lines = data.split(b"\n")
    lines[2] = lines[2] + b",\x82\xff"  # 0x82 0xFF: invalid in UTF-8 and in Shift-JIS
    path = tmp_path / "broken.csv"
    path.write_bytes(b"\n".join(lines))
    offset = len(b"\n".join(lines[:2])) + 1 + len(lines[2]) - 2
    with pytest.raises(SourceFormatError) as err:
        read(path)
    message = str(err.value)
    assert message.startswith("broken.csv".join([str(tmp_path) + "/", ""]))
    assert "neither UTF-8 nor Shift-JIS (cp932)" in message
    assert f"not cp932: byte b'\\x82\\xff' at byte offset {offset}, line 3" in message
    assert "not utf-8: byte" in message
    assert err.value.line == 3


def test_april_spelled_apl(tmp_path: Path) -> None:
    text = header(april="Apl") + "\n" + "\n".join(LINES) + "\n"
    out = read(write(tmp_path, text))
    april = out.filter((pl.col("source_line") == 3) & (pl.col("period") == date(2010, 4, 1)))
    assert april["value_native"].item() == 900_000.0


def test_fx_table(tmp_path: Path) -> None:
    fx = pl.DataFrame(
        {"period": [date(2010, m, 1) for m in range(1, 12)], "jpy_per_usd": [90.0] * 10 + [80.0]}
    )
    out = read(write(tmp_path, GOOD), jpy_per_usd=fx)
    sep = out.filter((pl.col("source_line") == 2) & (pl.col("period") == date(2010, 9, 1)))
    assert sep["value_usd"].item() == pytest.approx(12_345_000 / 90.0, rel=1e-15)
    dec = out.filter(pl.col("period") == date(2010, 12, 1))
    assert dec["value_usd"].null_count() == 4
    assert set(dec["flags"]) == {"no_fx_rate", "quantity2_not_stored:L;no_fx_rate"}
    assert out.height == 48


def test_year_total_mismatch_quarantines_the_line(tmp_path: Path) -> None:
    bad = line(
        "2",
        "2010",
        "'280530000",
        "106",
        "",
        "KG",
        month_list(Sep=(0, 10, 500)),
        "台湾",
        year_total=(0, 10, 501),
    )
    out = read(write(tmp_path, GOOD + bad + "\n"))
    assert out.height == 60  # rows in (5 lines x 12 months) = rows out
    rejected = out.filter(pl.col("reject_reason").is_not_null())
    assert rejected.height == 12
    assert set(rejected["source_line"]) == {6}
    assert set(rejected["reject_field"]) == {"Value-Year"}
    assert set(rejected["reject_reason"]) == {
        "Value-Year 501 differs from the sum of Value-Jan..Dec 500.0"
    }


BAD_LINES = [
    (("2", "2010", "'280530000", "999"), "Country", "unknown Japan Customs country code '999'"),
    (("3", "2010", "'280530000", "105"), "Exp or Imp", "'Exp or Imp' '3' is not 1/2"),
    (("2", "20l0", "'280530000", "105"), "Year", "year '20l0' is not an integer"),
    (
        ("2", "2010", "51199000", "105"),
        "HS",
        "HS code '51199000' has 8 digits: read as a number, its leading zero lost",
    ),
    (("2", "2010", "'2805300", "105"), "HS", "HS code ''2805300' is not 9 digits"),
]


@pytest.mark.parametrize(("cells", "field", "reason"), BAD_LINES)
def test_bad_line_quarantined(
    tmp_path: Path, cells: tuple[str, str, str, str], field: str, reason: str
) -> None:
    bad = line(*cells, "", "KG", month_list(Sep=(0, 1, 2)), "x")
    out = read(write(tmp_path, GOOD + bad + "\n"))
    assert out.height == 60
    rejected = out.filter(pl.col("reject_reason").is_not_null())
    assert rejected.height == 12
    assert set(rejected["source_line"]) == {6}
    assert set(rejected["reject_field"]) == {field}
    assert all(r.startswith(reason) for r in rejected["reject_reason"])


def test_direction_written_with_a_leading_zero(tmp_path: Path) -> None:
    ok = line("02", "2010", "'280530000", "105", "", "KG", month_list(Sep=(0, 1, 2)), "x")
    out = read(write(tmp_path, header() + "\n" + ok + "\n"))
    assert out["reject_reason"].null_count() == 12
    assert set(out["flow"]) == {"M"}


def test_hs_without_apostrophe_is_fine(tmp_path: Path) -> None:
    ok = line("2", "2010", "280530000", "105", "", "KG", month_list(Sep=(0, 1, 2)), "x")
    out = read(write(tmp_path, header() + "\n" + ok + "\n"))
    assert out["reject_reason"].null_count() == 12
    assert set(out["hs_code"]) == {"280530000"}


def test_non_numeric_value_names_the_month(tmp_path: Path) -> None:
    bad = line("2", "2010", "'280530000", "105", "", "KG", month_list(), "x")
    cells = bad.split(",")
    cells[9 + 3 * 8 + 2] = "12a45"  # Value-Sep
    out = read(write(tmp_path, GOOD + ",".join(cells) + "\n"))
    rejected = out.filter(pl.col("reject_reason").is_not_null())
    assert rejected.height == 12
    assert set(rejected["reject_field"]) == {"Value-Sep"}
    assert set(rejected["reject_reason"]) == {"non-numeric Value-Sep '12a45'"}


def test_accounting(tmp_path: Path) -> None:
    bads = [line(*c, "", "KG", month_list(), "x") for c, _, _ in BAD_LINES]
    text = GOOD + "\n".join(bads) + "\n"
    out = read(write(tmp_path, text))
    n_lines = len(text.strip().splitlines()) - 1
    good = out.filter(pl.col("reject_reason").is_null()).height
    rejected = out.filter(pl.col("reject_reason").is_not_null()).height
    assert (n_lines * 12, good, rejected) == (108, 48, 60)


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(SourceFormatError, match=r"e\.csv, line 1: empty file"):
        read(write(tmp_path, "", name="e.csv"))


def test_missing_column(tmp_path: Path) -> None:
    text = GOOD.replace("Country,", "Partner,", 1)
    with pytest.raises(SourceFormatError, match=r"line 1, field 'Country': missing column"):
        read(write(tmp_path, text))
    text = GOOD.replace("Value-Sep,", "Value-September,", 1)
    with pytest.raises(SourceFormatError, match=r"field 'Value-Sep': missing column"):
        read(write(tmp_path, text))


def test_wrong_delimiter(tmp_path: Path) -> None:
    text = GOOD.replace(",", "\t")
    with pytest.raises(SourceFormatError, match=r"line 1: wrong delimiter: .* by tab"):
        read(write(tmp_path, text))


def test_sniff(tmp_path: Path) -> None:
    reader = JapanCustomsReader()
    assert reader.sniff(write(tmp_path, GOOD))
    assert not reader.sniff(write(tmp_path, "t,i,j,k,v,q\n", name="b.csv"))


def test_country_table() -> None:
    from tradeimpact.sources._codetables import code_table, iso3_map

    codes = iso3_map("japan_customs")
    # the codes named in ../shared/data/real/SOURCES.md (kanzei.or.jp list)
    assert {
        c: codes[c] for c in ["103", "105", "106", "108", "110", "111", "113", "117", "304"]
    } == {
        "103": "KOR",
        "105": "CHN",
        "106": "TWN",
        "108": "HKG",
        "110": "VNM",
        "111": "THA",
        "113": "MYS",
        "117": "PHL",
        "304": "USA",
    }
    table = code_table("japan_customs")
    assert table["code"].is_unique().all()
    assert table["iso3"].is_unique().all()
    assert table["code"].str.contains(r"^[1-7]\d\d$").all()


def test_round_trip_through_flowstore(tmp_path: Path) -> None:
    """Ingest (format detected), scan: month totals equal the raw Year totals x 1000."""
    from tradeimpact.store import FlowStore

    bad = line("2", "2010", "'280530000", "999", "", "KG", month_list(Sep=(0, 1, 2)), "x")
    path = write(tmp_path, GOOD + bad + "\n", enc="cp932")
    store = FlowStore(tmp_path / "store")
    report = store.ingest([path])
    assert [f.reader for f in report.files] == ["japan_customs"]
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (60, 48, 12)
    stored = store.scan().collect()
    # Value-Year of each good line, from the fixture text (columns 8), x 1000
    expected = {}
    for text_line in LINES:
        cells = text_line.split(",")
        expected[cells[2].lstrip("'")] = int(cells[8]) * 1000.0
    totals = stored.group_by("hs_code").agg(pl.col("value_native").sum())
    assert dict(totals.iter_rows()) == expected
    assert stored.height == 48 and stored["period"].n_unique() == 12
    assert set(store.quarantine().collect()["reason"]) == {
        "unknown Japan Customs country code '999'"
    }
    assert [f.status for f in store.ingest([path]).files] == ["unchanged"]
