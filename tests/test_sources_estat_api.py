"""e-Stat getStatsData answers -> canonical records (SYNTHETIC answers in the real JSON shape).

Numbers are checked by hand from :func:`fetch_server.estat_line`: month m of a line with base b
has Quantity1 = 10 m (unit NO), Quantity2 = b m (kg), Value = 7 b m thousand yen.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from fetch_server import estat_answer, estat_line

from tradeimpact.errors import SourceFormatError
from tradeimpact.sources import detect_reader
from tradeimpact.sources.estat_api import EstatApiReader, cat02_code, table_for_year
from tradeimpact.store import FlowStore

IMPORTS_2006_10 = "0003228184"
IMPORTS_2026 = "0004049326"
EXPORTS_2006_10 = "0003228117"


def write(path: Path, answer: dict) -> Path:  # type: ignore[type-arg]
    path.write_text(json.dumps(answer, ensure_ascii=False), encoding="utf-8")
    return path


def rows(path: Path, **kw) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    return EstatApiReader(**kw).read(path).collect()


def test_codes_of_events_md_5_2() -> None:
    assert [cat02_code("Quantity1", 1), cat02_code("Quantity2", 1), cat02_code("Value", 1)] == [
        "150", "160", "170"
    ]  # fmt: skip
    assert [cat02_code("Quantity1", 12), cat02_code("Value", 12)] == ["480", "500"]
    assert table_for_year(2010) == IMPORTS_2006_10 and table_for_year(2011) == "0003228185"
    assert table_for_year(2026) == IMPORTS_2026 and table_for_year(2030) == IMPORTS_2026
    assert table_for_year(2010, "X") == EXPORTS_2006_10
    with pytest.raises(ValueError, match="before 2001"):
        table_for_year(1999)


def test_one_line_to_twelve_canonical_rows_numbers_by_hand(tmp_path: Path) -> None:
    path = write(
        tmp_path / "a.json",
        estat_answer(IMPORTS_2006_10, estat_line("850511000", "50105", 2010, 100)),
    )
    assert EstatApiReader().sniff(path) and detect_reader(path).name == "estat_api"
    frame = rows(path)
    assert frame.height == 12 and frame["reject_reason"].null_count() == 12
    march = frame.filter(pl.col("period") == dt.date(2010, 3, 1)).row(0, named=True)
    assert march["value_native"] == 2_100_000.0  # 7 x 100 x 3 = 2,100 thousand yen
    assert march["net_weight_kg"] == 300.0 and march["quantity"] == 30.0
    assert march["quantity_unit"] == "NO" and march["currency"] == "JPY"
    assert (march["source"], march["reporter_iso3"], march["partner_iso3"]) == (
        "japan_customs",
        "JPN",
        "CHN",
    )
    assert (march["flow"], march["exporter_iso3"], march["importer_iso3"]) == ("M", "CHN", "JPN")
    assert (march["hs_code"], march["hs6"], march["hs_revision"]) == ("850511000", "850511", "H3")
    assert march["valuation"] == "CIF" and march["value_usd"] is None and march["freq"] == "M"
    assert march["flags"] is None and march["source_line"] == 1 and march["source_file"] == "a.json"
    assert frame["value_native"].sum() == 7 * 100 * 78 * 1000  # months 1..12 sum to 78


def test_export_table_is_fob_and_fx_as_the_customs_reader(tmp_path: Path) -> None:
    path = write(tmp_path / "x.json", estat_answer(EXPORTS_2006_10, estat_line("850511000", "50304", 2010, 2),
                                                   title="品別国別表 輸出"))  # fmt: skip
    fx = pl.DataFrame({"period": [dt.date(2010, 1, 1)], "jpy_per_usd": [91.0]})
    frame = rows(path, jpy_per_usd=fx)
    jan = frame.filter(pl.col("period") == dt.date(2010, 1, 1)).row(0, named=True)
    assert (jan["flow"], jan["valuation"], jan["exporter_iso3"], jan["importer_iso3"]) == (
        "X",
        "FOB",
        "JPN",
        "USA",
    )
    assert jan["value_usd"] == pytest.approx(14_000 / 91.0)  # 7 x 2 x 1 thousand yen
    feb = frame.filter(pl.col("period") == dt.date(2010, 2, 1)).row(0, named=True)
    assert feb["value_usd"] is None and feb["flags"] == "no_fx_rate"


def test_provisional_months_from_the_annotation(tmp_path: Path) -> None:
    values = estat_line("850511000", "50105", 2026, 40, months=4)
    for v in values:  # March and April carry the annotation "p" = 速報値 (provisional)
        if v["@cat02"] in {"210", "220", "230", "240", "250", "260"}:
            v["@annotation"] = "p"
    answer = estat_answer(IMPORTS_2026, values, annotations=[{"@annotation": "p", "$": "速報値"}])
    frame = rows(write(tmp_path / "p.json", answer)).sort("period")
    assert frame["flags"].to_list() == [None, None, "provisional", "provisional"]
    assert frame["reject_reason"].null_count() == 4  # a year of 4 months: no year-total check


@pytest.mark.parametrize(
    "title",
    [
        "品別国別表 輸入 2026年 Detailed Jan-Feb, Provisional Mar+",
        "品別国別表 輸入 (確報: 1月～2月, 速報: 3月～)",
    ],
)
def test_provisional_months_from_the_title(tmp_path: Path, title: str) -> None:
    values = estat_line("850511000", "50105", 2026, 40, months=5)
    frame = rows(write(tmp_path / "t.json", estat_answer(IMPORTS_2026, values, title=title)))
    flagged = frame.filter(pl.col("flags") == "provisional")["period"].dt.month().sort().to_list()
    assert flagged == [3, 4, 5]
    also = rows(tmp_path / "t.json", provisional_from=dt.date(2026, 2, 1))
    assert also.filter(pl.col("flags") == "provisional").height == 4


def test_bad_records_are_quarantined_with_the_reason(tmp_path: Path) -> None:
    good = estat_line("850511000", "50105", 2010, 100)
    unknown = estat_line("850511000", "50999", 2010, 5, months=2)
    noted = estat_line("280530000", "50105", 2010, 3, months=2)
    noted[-1]["$"] = "-"  # Value-Feb is a note symbol
    odd = [dict(good[-1], **{"@cat02": "999"})]  # no such measure x month code
    answer = estat_answer(IMPORTS_2006_10, good + unknown + noted + odd,
                          notes=[{"@char": "-", "$": "該当数値なし"}])  # fmt: skip
    path = write(tmp_path / "bad.json", answer)
    store = FlowStore(tmp_path / "store")
    report = store.ingest([path])
    assert (report.rows_read, report.rows_stored, report.rows_quarantined) == (
        12 + 2 + 2 + 1,
        13,
        4,
    )
    q = store.quarantine().collect().sort("source_line")
    reasons = q["reason"].to_list()
    assert reasons.count("unknown Japan Customs country code '999' (area '50999')") == 2
    assert "Value-Feb is '-' (該当数値なし)" in reasons
    assert any("cat02 code '999' is not a measure-by-month code" in r for r in reasons)
    stored = store.scan().collect()
    assert stored.filter(pl.col("hs_code") == "280530000")["value_native"].to_list() == [21_000.0]


def test_year_total_that_differs_from_the_months_quarantines_the_line(tmp_path: Path) -> None:
    values = estat_line("850511000", "50105", 2010, 100)
    values[4]["$"] = "1"  # Value-Year
    frame = rows(write(tmp_path / "y.json", estat_answer(IMPORTS_2006_10, values)))
    assert frame["reject_field"].to_list() == ["Value-Year"] * 12
    assert (
        frame["reject_reason"][0]
        == "Value-Year 1 differs from the sum of the twelve Value months 54600.0"
    )


def test_pages_are_read_together_each_line_stored_once(tmp_path: Path) -> None:
    values = estat_line("850511000", "50105", 2010, 100) + estat_line("850511000", "50103", 2010, 7)
    pages = [values[:50], values[50:]]  # the Korea line starts on page 1 and ends on page 2
    write(tmp_path / "s_p001.json", estat_answer(IMPORTS_2006_10, pages[0], total=82, next_key=51))
    write(tmp_path / "s_p002.json", estat_answer(IMPORTS_2006_10, pages[1], total=82, start=51))
    store = FlowStore(tmp_path / "store")
    report = store.ingest(sorted(tmp_path.glob("s_p*.json")))
    assert [f.rows_stored for f in report.files] == [24, 0] and report.rows_quarantined == 0
    korea_dec = (
        store.scan()
        .filter((pl.col("partner_iso3") == "KOR") & (pl.col("period") == dt.date(2010, 12, 1)))
        .collect()
        .row(0, named=True)
    )
    assert korea_dec["value_native"] == 588_000.0 and korea_dec["net_weight_kg"] == 84.0


def test_a_missing_page_is_a_clear_error(tmp_path: Path) -> None:
    values = estat_line("850511000", "50105", 2010, 100)
    path = write(
        tmp_path / "s_p001.json", estat_answer(IMPORTS_2006_10, values[:30], total=41, next_key=31)
    )
    with pytest.raises(
        SourceFormatError, match=r"records 31-41 are missing; fetch the answer again"
    ):
        rows(path)
    alone = write(
        tmp_path / "renamed.json", estat_answer(IMPORTS_2006_10, values[:30], total=41, next_key=31)
    )
    with pytest.raises(SourceFormatError, match=r"a page \(records 1-30 of 41\)"):
        rows(alone)


def test_error_answers_and_unknown_tables(tmp_path: Path) -> None:
    err = estat_answer(IMPORTS_2006_10, [], status=100, message="認証に失敗しました。")
    with pytest.raises(SourceFormatError, match="STATUS 100"):
        rows(write(tmp_path / "e.json", err))
    other = estat_answer(
        "0000000001", estat_line("850511000", "50105", 2010, 1), title="品別国別表"
    )
    with pytest.raises(SourceFormatError, match="pass flow='M' or 'X'"):
        rows(write(tmp_path / "o.json", other))
    assert rows(tmp_path / "o.json", flow="M").height == 12
